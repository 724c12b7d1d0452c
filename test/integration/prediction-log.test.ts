/**
 * DynamoDbPredictionLog against a real DynamoDB-compatible server, then against servers that
 * fail for real: one answering 500, one that never answers, and the local servers stopped.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbPredictionLog } from '../../functions/adapters/dynamodb-prediction-log.js';
import { ensureTables } from '../../functions/adapters/tables.js';
import type { PredictionLogRecord } from '../../functions/core/ports.js';
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
    inputSha256: 'c0ffee'.repeat(10) + 'beef',
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
    const log = new DynamoDbPredictionLog({
      client: clients.documents,
      tableName: TABLE,
      fallback: (r, error) => fallen.push({ record: r, error }),
    });
    const written = record('req-landed');

    // Act
    await log.write(written);

    // Assess
    const { Item } = await clients.documents.send(
      new GetCommand({ TableName: TABLE, Key: { requestId: 'req-landed' }, ConsistentRead: true }),
    );
    expect(Item).toStrictEqual({ ...written });
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
    const log = new DynamoDbPredictionLog({
      client: broken.documents,
      tableName: TABLE,
      maxAttempts: 3,
      fallback: (r, error) => fallen.push({ record: r, error }),
    });

    // Act
    await log.write(record('req-500'));

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
    const log = new DynamoDbPredictionLog({
      client: broken.documents,
      tableName: TABLE,
      attemptTimeoutMs: 100,
      fallback: (r, error) => fallen.push({ record: r, error }),
    });
    const started = Date.now();

    // Act
    await log.write(record('req-hung'));

    // Assess
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(broken.requests()).toBe(3);
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
      fallback: (r, error) => fallen.push({ record: r, error }),
      sleep: async () => {
        retries += 1;
      },
    });

    // Act
    const result = await log.write(record('req-unreachable'));

    // Assess: a refused connection is worth retrying, so all 3 attempts were made.
    expect(result).toBeUndefined();
    expect(retries).toBe(2);
    expect(fallen).toHaveLength(1);
    expect(fallen[0]?.record).toStrictEqual(record('req-unreachable'));
    expect(fallen[0]?.error).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('by default prints one JSON line with the record and a CloudWatch EMF metric', async () => {
    // Prepare
    const printed: string[] = [];
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    const log = new DynamoDbPredictionLog({ client: clients.documents, tableName: TABLE, baseDelayMs: 1 });

    // Act
    try {
      await log.write(record('req-default-fallback'));
    } finally {
      stdout.mockRestore();
    }

    // Assess
    expect(printed).toHaveLength(1);
    const [line] = printed;
    expect(line?.endsWith('\n')).toBe(true);
    expect(line?.trimEnd()).not.toContain('\n');
    const parsed = JSON.parse(line ?? '') as Record<string, unknown>;
    expect(parsed).toMatchObject({
      level: 'ERROR',
      message: 'prediction log write failed',
      record: record('req-default-fallback'),
      error: { name: expect.any(String), message: expect.any(String) },
      _aws: {
        Timestamp: expect.any(Number),
        CloudWatchMetrics: [
          {
            Namespace: 'OnnxServing',
            Dimensions: [['model']],
            Metrics: [{ Name: 'PredictionLogFallback', Unit: 'Count' }],
          },
        ],
      },
      model: 'iris',
      PredictionLogFallback: 1,
    });
  });
});
