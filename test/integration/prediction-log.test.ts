/**
 * DynamoDbPredictionLog against a real DynamoDB-compatible server, then against servers that
 * fail for real: one answering 500, one that never answers, and the local servers stopped.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbPredictionLog } from '../../functions/adapters/dynamodb-prediction-log.js';
import { ensureTables } from '../../functions/adapters/tables.js';
import type { PredictionLogRecord } from '../../functions/core/ports.js';
import { createMetrics } from '../../functions/adapters/emf-metrics.js';
import { captureOutput } from '../fixtures/output.js';
import { localClients, startLocalAws, type LocalAws, type LocalClients } from '../../local/aws-servers.js';

const TABLE = 'prediction-log';

let aws: LocalAws;
let clients: LocalClients;

beforeAll(async () => {
  aws = await startLocalAws();
  clients = localClients(aws);
  await ensureTables(clients.dynamo, { registry: 'registry', predictionLog: TABLE });
});

afterAll(async () => {
  clients.destroy();
  await aws.stop();
});

function record(requestId: string): PredictionLogRecord {
  return {
    requestId,
    model: 'iris',
    modelVersion: '3',
    functionVersion: '17',
    caller: 'user:alice',
    latencyMs: 4.25,
    rows: 2,
    inputSha256: `${'c0ffee'.repeat(10)}beef`,
    outputs: JSON.stringify([{ label: 'setosa', probabilities: [0.97, 0.02, 0.01] }, { label: 'virginica' }]),
    truncated: false,
    timestamp: '2025-03-04T05:06:07.089Z',
    expiresAt: 1_748_995_567,
  };
}

interface Fallen {
  readonly record: PredictionLogRecord;
  readonly error: unknown;
}

/** A fallback that keeps what it is given, one entry per record. */
function keep(fallen: Fallen[]) {
  return (records: readonly PredictionLogRecord[], error: unknown) => {
    for (const r of records) fallen.push({ record: r, error });
  };
}

/** Queues `r` and waits until it is stored or in the fallback. */
async function writeAndFlush(log: DynamoDbPredictionLog, r: PredictionLogRecord): Promise<void> {
  log.write({ requestId: r.requestId, build: () => r });
  await log.flush();
}

/** A local HTTP server standing in for a broken DynamoDB endpoint; counts the requests it gets. */
async function brokenDynamo(answer: (response: http.ServerResponse) => void) {
  let requests = 0;
  const server = http.createServer((request, response) => {
    requests += 1;
    request.resume();
    answer(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const endpointClients = localClients({ dynamoEndpoint: endpoint, s3Endpoint: aws.s3Endpoint });
  return {
    documents: endpointClients.documents,
    requests: () => requests,
    async close() {
      endpointClients.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('DynamoDbPredictionLog with DynamoDB up', () => {
  it('writes the record as one item, every field intact', async () => {
    // Prepare
    const fallen: Fallen[] = [];
    const log = new DynamoDbPredictionLog({ client: clients.documents, tableName: TABLE, fallback: keep(fallen) });
    const written = record('req-landed');

    // Act
    await writeAndFlush(log, written);

    // Assess
    const { Item } = await clients.documents.send(
      new GetCommand({ TableName: TABLE, Key: { requestId: 'req-landed' }, ConsistentRead: true }),
    );
    expect(Item).toStrictEqual({ ...written });
    expect(fallen).toEqual([]);
  });

  it('stores 120 records queued at once, in batches, each one exactly as built', async () => {
    // Prepare
    const fallen: Fallen[] = [];
    const log = new DynamoDbPredictionLog({ client: clients.documents, tableName: TABLE, fallback: keep(fallen), flushDelayMs: 10 });
    const ids = Array.from({ length: 120 }, (_, i) => `req-many-${i}`);

    // Act
    for (const id of ids) log.write({ requestId: id, build: () => record(id) });
    await log.flush();

    // Assess
    const found = await Promise.all(
      ids.map(
        async (id) =>
          (await clients.documents.send(new GetCommand({ TableName: TABLE, Key: { requestId: id }, ConsistentRead: true }))).Item,
      ),
    );
    expect(found).toStrictEqual(ids.map((id) => ({ ...record(id) })));
    expect(fallen).toEqual([]);
  });
});

describe('DynamoDbPredictionLog with DynamoDB failing', () => {
  let broken: Awaited<ReturnType<typeof brokenDynamo>> | undefined;

  afterEach(async () => {
    await broken?.close();
    broken = undefined;
  });

  it('makes maxAttempts requests in all, not multiplied by the SDK client retries', async () => {
    // Prepare: the client is built with maxAttempts 3 (localClients' default).
    broken = await brokenDynamo((response) => {
      response.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'boom' }));
    });
    const fallen: Fallen[] = [];
    const log = new DynamoDbPredictionLog({ client: broken.documents, tableName: TABLE, maxAttempts: 3, fallback: keep(fallen) });

    // Act
    await writeAndFlush(log, record('req-500'));

    // Assess
    expect(broken.requests()).toBe(3);
    expect(fallen).toHaveLength(1);
    expect(fallen[0]?.record).toStrictEqual(record('req-500'));
    expect(fallen[0]?.error).toMatchObject({ name: 'InternalServerError' });
  });

  it('bounds each attempt when DynamoDB accepts the connection and never answers', async () => {
    // Prepare
    broken = await brokenDynamo(() => {
      // never respond
    });
    const fallen: Fallen[] = [];
    const sleeps: number[] = [];
    const log = new DynamoDbPredictionLog({
      client: broken.documents,
      tableName: TABLE,
      attemptTimeoutMs: 100,
      fallback: keep(fallen),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });

    // Act
    await writeAndFlush(log, record('req-hung'));

    // Assess: three attempts, each aborted by its own timeout rather than hanging
    expect(broken.requests()).toBe(3);
    expect(fallen[0]?.error).toMatchObject({ name: expect.stringMatching(/Abort|Timeout/) });
    expect(fallen).toHaveLength(1);
    expect(fallen[0]?.record).toStrictEqual(record('req-hung'));
  });
});

describe('DynamoDbPredictionLog after the local servers stopped', () => {
  beforeAll(async () => {
    await aws.stop();
  });

  it('resolves and hands the whole record to the fallback', async () => {
    // Prepare
    const fallen: Fallen[] = [];
    let retries = 0;
    const log = new DynamoDbPredictionLog({
      client: clients.documents,
      tableName: TABLE,
      fallback: keep(fallen),
      sleep: async () => {
        retries += 1;
      },
    });

    // Act
    await writeAndFlush(log, record('req-unreachable'));

    // Assess: a refused connection is worth retrying, so all 3 attempts were made.
    expect(retries).toBe(2);
    expect(fallen).toHaveLength(1);
    expect(fallen[0]?.record).toStrictEqual(record('req-unreachable'));
    expect(fallen[0]?.error).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('by default logs one JSON line with the whole record, and a PredictionLogFallback metric line', async () => {
    // Prepare
    const log = new DynamoDbPredictionLog({
      client: clients.documents,
      tableName: TABLE,
      baseDelayMs: 1,
      metrics: createMetrics('OnnxServing'),
    });

    // Act
    const printed = await captureOutput(() => writeAndFlush(log, record('req-default-fallback')));

    // Assess: whole lines of JSON
    expect(printed.endsWith('\n')).toBe(true);
    const lines = printed
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.find((l) => l['message'] === 'prediction log write failed')).toMatchObject({
      level: 'ERROR',
      requestId: 'req-default-fallback',
      record: record('req-default-fallback'),
      error: { name: expect.any(String), message: expect.any(String) },
    });
    expect(lines.find((l) => '_aws' in l)).toMatchObject({
      _aws: {
        Timestamp: expect.any(Number),
        CloudWatchMetrics: [
          { Namespace: 'OnnxServing', Dimensions: [['Model']], Metrics: [{ Name: 'PredictionLogFallback', Unit: 'Count' }] },
        ],
      },
      Model: 'iris',
      PredictionLogFallback: 1,
    });
  });
});
