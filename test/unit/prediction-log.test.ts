/**
 * DynamoDbPredictionLog's queue, batching, retry policy, breaker and fallback, with DynamoDB
 * failures that a local server cannot produce on demand (throttling, unprocessed items,
 * validation), mocked with aws-sdk-client-mock. The real-server behaviour is in
 * test/integration/prediction-log.test.ts.
 */
import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import {
  DynamoDBClient,
  DynamoDBServiceException,
  ProvisionedThroughputExceededException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { createMetrics } from '../../functions/adapters/emf-metrics.js';
import {
  DynamoDbPredictionLog,
  FALLBACK_MESSAGE,
  fallbackToLog,
  type PredictionLogFallback,
} from '../../functions/adapters/dynamodb-prediction-log.js';
import type { PendingRecord, PredictionLogRecord } from '../../functions/core/ports.js';
import { captureOutput, jsonLines } from '../fixtures/output.js';

const documents = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
);
const TABLE = 'prediction-log';

function record(requestId: string, model = 'iris'): PredictionLogRecord {
  return {
    requestId,
    model,
    modelVersion: '2',
    functionVersion: '$LATEST',
    caller: 'user:alice',
    latencyMs: 3.5,
    rows: 1,
    inputSha256: 'ab'.repeat(32),
    outputs: '[{"label":"setosa"}]',
    truncated: false,
    timestamp: '2025-03-04T05:06:07.000Z',
    expiresAt: 1_748_995_567,
  };
}

/** A pending record that counts how often it was built. */
function pending(requestId: string, model = 'iris'): PendingRecord & { builds: number } {
  const item = {
    requestId,
    builds: 0,
    build: () => {
      item.builds++;
      return record(requestId, model);
    },
  };
  return item;
}

function throttled(): ThrottlingException {
  return new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
}

function invalid(): DynamoDBServiceException {
  return new DynamoDBServiceException({
    name: 'ValidationException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'One or more parameter values were invalid',
  });
}

/** The request ids of a BatchWriteItem call. */
function idsOf(call: { args: unknown[] }): string[] {
  const command = call.args[0] as BatchWriteCommand;
  return (command.input.RequestItems?.[TABLE] ?? []).map((r) => String(r.PutRequest?.Item?.['requestId']));
}

let fallback: jest.Mock<PredictionLogFallback>;
let delays: number[];
let clock: number;

function makeLog(options: Partial<ConstructorParameters<typeof DynamoDbPredictionLog>[0]> = {}): DynamoDbPredictionLog {
  return new DynamoDbPredictionLog({
    client,
    tableName: TABLE,
    fallback,
    sleep: async (ms) => {
      delays.push(ms);
    },
    now: () => clock,
    ...options,
  });
}

/** What the fallback received, as request ids per call. */
function fallen(): string[][] {
  return fallback.mock.calls.map(([records]) => records.map((r) => r.requestId));
}

beforeEach(() => {
  documents.reset();
  fallback = jest.fn<PredictionLogFallback>();
  delays = [];
  clock = 1_000_000;
});

describe('DynamoDbPredictionLog queue', () => {
  it('returns from write at once: nothing is built or sent until the writer runs', async () => {
    // Prepare
    documents.on(BatchWriteCommand).resolves({});
    const log = makeLog({ flushDelayMs: 60_000 });
    const item = pending('req-1');

    // Act
    log.write(item);
    const pendingBefore = log.pending();
    const builtBefore = item.builds;
    const callsBefore = documents.commandCalls(BatchWriteCommand).length;
    await log.flush();

    // Assess
    expect([pendingBefore, builtBefore, callsBefore]).toEqual([1, 0, 0]);
    expect(item.builds).toBe(1);
    expect(log.pending()).toBe(0);
    expect(documents.commandCalls(BatchWriteCommand)[0]?.args[0].input).toEqual({
      RequestItems: { [TABLE]: [{ PutRequest: { Item: record('req-1') } }] },
    });
  });

  it('writes in BatchWriteItem batches of at most 25, every record once', async () => {
    // Prepare
    documents.on(BatchWriteCommand).resolves({});
    const log = makeLog({ flushDelayMs: 60_000 });
    const ids = Array.from({ length: 60 }, (_, i) => `req-${i}`);

    // Act
    for (const id of ids) log.write(pending(id));
    await log.flush();

    // Assess
    const calls = documents.commandCalls(BatchWriteCommand);
    expect(calls.map((c) => idsOf(c).length).sort((a, b) => b - a)).toEqual([25, 25, 10]);
    expect(calls.flatMap(idsOf).sort()).toEqual([...ids].sort());
    expect(fallback).not.toHaveBeenCalled();
  });

  it('writes on its own once a batch is full, and after flushDelayMs for a partial one', async () => {
    // Prepare
    documents.on(BatchWriteCommand).resolves({});
    const log = makeLog({ flushDelayMs: 20 });

    // Act
    for (let i = 0; i < 25; i++) log.write(pending(`full-${i}`));
    await new Promise((resolve) => setImmediate(resolve));
    const afterFull = documents.commandCalls(BatchWriteCommand).length;
    log.write(pending('alone'));
    await new Promise((resolve) => setTimeout(resolve, 100));

    // Assess
    expect(afterFull).toBe(1);
    expect(documents.commandCalls(BatchWriteCommand).flatMap(idsOf)).toContain('alone');
    expect(log.pending()).toBe(0);
  });

  it("writes full batches, up to `concurrency` at once, while records keep coming, and never on the request's own turn", async () => {
    // Prepare: DynamoDB answers each call after a while, counting the calls in flight
    let inFlight = 0;
    let most = 0;
    documents.on(BatchWriteCommand).callsFake(async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight--;
      return {};
    });
    const log = makeLog({ flushDelayMs: 60_000, concurrency: 3 });

    // Act: 160 records in 4 bursts, a turn of the event loop apart
    for (let burst = 0; burst < 4; burst++) {
      for (let i = 0; i < 40; i++) log.write(pending(`b${burst}-${i}`));
      if (burst === 0) expect(documents.commandCalls(BatchWriteCommand)).toHaveLength(0);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await log.flush();

    // Assess: 6 full batches and the remainder of 10, at most 3 at once, each record once
    const sizes = documents.commandCalls(BatchWriteCommand).map((c) => idsOf(c).length);
    expect(sizes.filter((n) => n === 25)).toHaveLength(6);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(160);
    expect(sizes).toHaveLength(7);
    expect(most).toBe(3);
  });

  it('sends records past maxQueued to the fallback at once instead of growing the queue', async () => {
    // Prepare
    documents.on(BatchWriteCommand).resolves({});
    const log = makeLog({ flushDelayMs: 60_000, maxQueued: 3, batchSize: 10 });

    // Act
    for (let i = 0; i < 5; i++) log.write(pending(`q-${i}`));
    const queued = log.pending();
    await log.flush();

    // Assess
    expect(queued).toBe(3);
    expect(fallen()).toEqual([['q-3'], ['q-4']]);
    expect(documents.commandCalls(BatchWriteCommand).flatMap(idsOf)).toEqual(['q-0', 'q-1', 'q-2']);
  });
});

describe('DynamoDbPredictionLog retries', () => {
  it('retries the items DynamoDB left unprocessed, and only those', async () => {
    // Prepare
    documents
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { [TABLE]: [{ PutRequest: { Item: record('b') } }] } })
      .resolves({});
    const log = makeLog({ flushDelayMs: 60_000 });

    // Act
    for (const id of ['a', 'b', 'c']) log.write(pending(id));
    await log.flush();

    // Assess
    const calls = documents.commandCalls(BatchWriteCommand);
    expect(calls.map(idsOf)).toEqual([['a', 'b', 'c'], ['b']]);
    expect(delays).toHaveLength(1);
    expect(fallback).not.toHaveBeenCalled();
  });

  it('retries throttling with growing backoff and succeeds on the third attempt', async () => {
    // Prepare
    documents.on(BatchWriteCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({});
    const log = makeLog();

    // Act
    log.write(pending('req-1'));
    await log.flush();

    // Assess
    expect(documents.commandCalls(BatchWriteCommand)).toHaveLength(3);
    expect(fallback).not.toHaveBeenCalled();
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeLessThan(20);
    expect(delays[1]).toBeLessThan(40);
  });

  it('gives up after maxAttempts, hands the batch to the fallback, and skips DynamoDB until the breaker cools down', async () => {
    // Prepare
    documents.on(BatchWriteCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    const log = makeLog({ maxAttempts: 4, breakerCooldownMs: 5_000, flushDelayMs: 60_000 });

    // Act
    log.write(pending('first'));
    await log.flush();
    const callsAfterFirst = documents.commandCalls(BatchWriteCommand).length;
    clock += 4_999;
    log.write(pending('during-cooldown'));
    await log.flush();
    const callsDuringCooldown = documents.commandCalls(BatchWriteCommand).length - callsAfterFirst;
    clock += 2;
    documents.on(BatchWriteCommand).resolves({});
    log.write(pending('after-cooldown'));
    await log.flush();

    // Assess
    expect(callsAfterFirst).toBe(4);
    expect(callsDuringCooldown).toBe(0);
    expect(fallen()).toEqual([['first'], ['during-cooldown']]);
    expect(fallback.mock.calls[0]?.[1]).toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    expect(documents.commandCalls(BatchWriteCommand).flatMap(idsOf)).toContain('after-cooldown');
  });

  it('writes a batch DynamoDB refused as invalid one item at a time, so only the bad item falls back', async () => {
    // Prepare: the batch is refused; item "bad" is refused alone too
    documents.on(BatchWriteCommand).rejects(invalid());
    documents.on(PutCommand).resolves({});
    documents.on(PutCommand, { Item: record('bad') }).rejects(invalid());
    const log = makeLog({ flushDelayMs: 60_000 });

    // Act
    for (const id of ['good-1', 'bad', 'good-2']) log.write(pending(id));
    await log.flush();

    // Assess
    expect(documents.commandCalls(BatchWriteCommand)).toHaveLength(1);
    expect(documents.commandCalls(PutCommand).map((c) => String(c.args[0].input.Item?.['requestId']))).toEqual(['good-1', 'bad', 'good-2']);
    expect(fallen()).toEqual([['bad']]);
    expect(fallback.mock.calls[0]?.[1]).toMatchObject({ name: 'ValidationException' });
  });

  it('retries a server error and a dropped connection', async () => {
    // Prepare
    const serverError = new DynamoDBServiceException({
      name: 'InternalServerError',
      $fault: 'server',
      $metadata: { httpStatusCode: 500 },
      message: 'Internal server error',
    });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    documents.on(BatchWriteCommand).rejectsOnce(serverError).rejectsOnce(reset).resolves({});
    const log = makeLog();

    // Act
    log.write(pending('req-1'));
    await log.flush();

    // Assess
    expect(documents.commandCalls(BatchWriteCommand)).toHaveLength(3);
    expect(fallback).not.toHaveBeenCalled();
  });

  it('bounds every attempt with an abort signal', async () => {
    // Prepare
    documents.on(BatchWriteCommand).resolves({});
    const log = makeLog();

    // Act
    log.write(pending('req-1'));
    await log.flush();

    // Assess
    const [, options] = documents.call(0).args as unknown as [unknown, { abortSignal?: AbortSignal } | undefined];
    expect(options?.abortSignal).toBeInstanceOf(AbortSignal);
    expect(options?.abortSignal?.aborted).toBe(false);
  });
});

/** The JSON lines written to stdout and stderr while `act` runs. */
async function captureStdout(act: () => Promise<void> | void): Promise<Record<string, unknown>[]> {
  return jsonLines(await captureOutput(act));
}

describe('the fallback', () => {
  it('still keeps every record, in the default lines, when a custom fallback throws', async () => {
    // Prepare
    documents.on(BatchWriteCommand).rejects(invalid());
    documents.on(PutCommand).rejects(invalid());
    fallback.mockImplementation(() => {
      throw new Error('fallback broken');
    });
    const log = makeLog({ flushDelayMs: 60_000 });

    // Act
    const lines = await captureStdout(async () => {
      log.write(pending('r-1'));
      log.write(pending('r-2'));
      await log.flush();
    });

    // Assess
    const kept = lines.filter((l) => l['message'] === FALLBACK_MESSAGE).map((l) => (l['record'] as PredictionLogRecord).requestId);
    expect(kept.sort()).toEqual(['r-1', 'r-2']);
  });

  it('writes one ERROR line per record with the whole record and the error name and message only, and one metric line per model', async () => {
    // Prepare
    const error = Object.assign(new Error('connect ECONNREFUSED'), { secret: 'do not log me' });
    const records = [record('a', 'iris'), record('b', 'iris'), record('c', 'wine')];

    // Act
    const lines = await captureStdout(() => fallbackToLog(records, error, createMetrics('OnnxServing')));

    // Assess
    const recordLines = lines.filter((l) => l['message'] === FALLBACK_MESSAGE);
    expect(recordLines).toHaveLength(3);
    expect(recordLines[0]).toMatchObject({
      level: 'ERROR',
      requestId: 'a',
      record: records[0],
      error: { name: 'Error', message: 'connect ECONNREFUSED' },
    });
    expect(JSON.stringify(recordLines)).not.toContain('do not log me');
    const metricLines = lines.filter((l) => '_aws' in l);
    expect(metricLines).toHaveLength(2);
    expect(metricLines.map((l) => [l['Model'], l['PredictionLogFallback']])).toEqual([
      ['iris', 2],
      ['wine', 1],
    ]);
    expect(metricLines[0]?.['_aws']).toMatchObject({
      CloudWatchMetrics: [
        { Namespace: 'OnnxServing', Dimensions: [['Model']], Metrics: [{ Name: 'PredictionLogFallback', Unit: 'Count' }] },
      ],
    });
  });

  it('reports a record that cannot even be built by its request id, and writes the others', async () => {
    // Prepare
    documents.on(BatchWriteCommand).resolves({});
    const log = makeLog({ flushDelayMs: 60_000 });
    const broken: PendingRecord = {
      requestId: 'req-broken',
      build: () => {
        throw new Error('cannot hash');
      },
    };

    // Act
    const lines = await captureStdout(async () => {
      log.write(broken);
      log.write(pending('req-fine'));
      await log.flush();
    });

    // Assess
    expect(lines.find((l) => l['requestId'] === 'req-broken')).toMatchObject({ level: 'ERROR', error: { message: 'cannot hash' } });
    expect(documents.commandCalls(BatchWriteCommand).flatMap(idsOf)).toEqual(['req-fine']);
  });
});
