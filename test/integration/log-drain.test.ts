/**
 * The prediction-log drain as an internal Lambda extension, against a stand-in of the Extensions
 * API and the real local DynamoDB: the handler answers first; the extension asks Lambda for its
 * next event (letting the sandbox freeze) only once that invocation's record is in the table.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { DynamoDbPredictionLog } from '../../functions/adapters/dynamodb-prediction-log.js';
import { ensureTables } from '../../functions/adapters/tables.js';
import { PredictionService } from '../../functions/core/predict.js';
import { makeHandler } from '../../functions/predict/app.js';
import { InvocationDrain } from '../../functions/shared/log-drain.js';
import type { HttpHandler } from '../../functions/shared/http.js';
import { setSharedLogger, sharedLogger } from '../../functions/shared/logger.js';
import { localClients, startLocalAws, type LocalAws, type LocalClients } from '../../local/aws-servers.js';
import { InMemoryArtifactStore, InMemoryModelRegistry, publishModel } from '../fixtures/in-memory.js';
import { mlpModel } from '../fixtures/models.js';
import { startFakeExtensionsApi, type FakeExtensionsApi } from '../fixtures/runtime-api.js';
import { CapturedLog } from '../fixtures/stack-log.js';

const TABLE = 'prediction-log';
const FEATURES = ['a', 'b', 'c', 'd'];

let aws: LocalAws;
let clients: LocalClients;
let cacheDir: string;
/** The process's shared logger, where the drain and the handler (given no logger of its own) write. */
const log = new CapturedLog();
let sharedBefore: Logger;

beforeAll(async () => {
  sharedBefore = sharedLogger();
  setSharedLogger(log.logger());
  aws = await startLocalAws();
  clients = localClients(aws);
  await ensureTables(clients.dynamo, { registry: 'registry', predictionLog: TABLE });
  cacheDir = await mkdtemp(join(tmpdir(), 'log-drain-'));
});

afterAll(async () => {
  clients.destroy();
  await aws.stop();
  await rm(cacheDir, { recursive: true, force: true });
  setSharedLogger(sharedBefore);
  log.reportUntaken('the drain and the handler');
});

async function stored(requestId: string): Promise<boolean> {
  const { Item } = await clients.documents.send(new GetCommand({ TableName: TABLE, Key: { requestId }, ConsistentRead: true }));
  return Item !== undefined;
}

/** The drain the running test set up. */
let current: InvocationDrain | undefined;

/** A predict handler whose log writes only when drained (its own timer would take a minute). */
async function setUp(api: FakeExtensionsApi): Promise<{ handler: HttpHandler; drain: InvocationDrain }> {
  const registry = new InMemoryRegistryWithModel();
  await registry.ready;
  const log = new DynamoDbPredictionLog({ client: clients.documents, tableName: TABLE, flushDelayMs: 60_000 });
  const service = new PredictionService({
    registry: registry.registry,
    runtime: new OnnxRuntime(registry.store, { cacheDir, intraOpThreads: 1 }),
    log,
    config: { maxRows: 1000, functionVersion: '3', logTtlDays: 30, maxLoggedOutputBytes: 16_384, pointerCacheMs: 5_000 },
  });
  const drain = new InvocationDrain({ runtimeApi: api.address, drain: () => service.flush() });
  current = drain;
  const handler = makeHandler({
    service,
    limits: { maxBodyBytes: 6_000_000, maxJsonDepth: 32 },
    edge: { onAnswered: (id) => drain.answered(id) },
  });
  return { handler, drain };
}

class InMemoryRegistryWithModel {
  readonly registry = new InMemoryModelRegistry();
  readonly store = new InMemoryArtifactStore();
  readonly ready: Promise<unknown>;

  constructor() {
    const fixture = mlpModel({ features: 4 });
    this.ready = publishModel(this.registry, this.store, {
      model: 'iris',
      bytes: fixture.bytes,
      signature: { inputs: fixture.inputs, outputs: fixture.outputs },
      metadata: { features: FEATURES },
    });
  }
}

function apiEvent(requestId: string) {
  return {
    resource: '/v1/models/{model}/predict',
    path: '/v1/models/iris/predict',
    httpMethod: 'POST',
    headers: { 'content-type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { model: 'iris' },
    stageVariables: null,
    requestContext: { requestId, authorizer: { principalId: 'alice' } },
    body: JSON.stringify({ features: { a: 1, b: 2, c: 3, d: 4 } }),
    isBase64Encoded: false,
  } as unknown as Parameters<HttpHandler>[0];
}

function lambdaContext(awsRequestId: string): Context {
  return { awsRequestId, functionVersion: '3', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
}

describe('InvocationDrain', () => {
  let api: FakeExtensionsApi | undefined;

  afterEach(async () => {
    await api?.close();
    api = undefined;
    // A registered drain waits on the Extensions API, gone now: it says it stopped (after its last drain).
    if (current?.registered) {
      let stopped = log.take({ level: 'WARN', message: 'prediction-log drain extension stopped' });
      while (stopped.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        stopped = log.take({ level: 'WARN', message: 'prediction-log drain extension stopped' });
      }
      expect(stopped).toEqual([expect.objectContaining({ error: expect.objectContaining({ message: expect.any(String) }) })]);
    }
    current = undefined;
  });

  it('registers for INVOKE events, waits for the answer, and asks for the next event only once the record is stored', async () => {
    // Prepare: at each `next`, note whether the first request's record is in the table already
    const storedAtNext: boolean[] = [];
    api = await startFakeExtensionsApi({ onNext: async () => void storedAtNext.push(await stored('api-req-1')) });
    const { handler, drain } = await setUp(api);

    // Act: init (register, first next), then one invocation delivered before the handler runs
    const registered = await drain.register();
    await api.nextCalled(1);
    api.deliver({ eventType: 'INVOKE', requestId: 'aws-req-1', deadlineMs: Date.now() + 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const nextCallsBeforeAnswer = api.calls.filter((c) => c.path.endsWith('/event/next')).length;
    const response = await handler(apiEvent('api-req-1'), lambdaContext('aws-req-1'));
    const storedWhenAnswered = await stored('api-req-1');
    await api.nextCalled(2);

    // Assess
    expect(registered).toBe(true);
    const register = api.calls[0];
    expect(register?.headers['lambda-extension-name']).toBe('prediction-log-drain');
    expect(JSON.parse(register?.body ?? '{}')).toEqual({ events: ['INVOKE'] });
    expect(
      api.calls.filter((c) => c.path.endsWith('/event/next')).every((c) => c.headers['lambda-extension-identifier'] === 'ext-0001'),
    ).toBe(true);
    expect(response.statusCode).toBe(200);
    expect(nextCallsBeforeAnswer).toBe(1);
    expect(storedWhenAnswered).toBe(false);
    expect(storedAtNext).toEqual([false, true]);
  }, 30_000);

  it('drains an invocation the handler answered before the extension heard of it', async () => {
    // Prepare
    const storedAtNext: boolean[] = [];
    api = await startFakeExtensionsApi({ onNext: async () => void storedAtNext.push(await stored('api-req-2')) });
    const { handler, drain } = await setUp(api);
    await drain.register();
    await api.nextCalled(1);

    // Act: the handler answers first, then Lambda's INVOKE event reaches the extension
    const response = await handler(apiEvent('api-req-2'), lambdaContext('aws-req-2'));
    api.deliver({ eventType: 'INVOKE', requestId: 'aws-req-2', deadlineMs: Date.now() + 30_000 });
    await api.nextCalled(2);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(storedAtNext).toEqual([false, true]);
  }, 30_000);

  it('does not wait past the invocation deadline for an answer that never comes', async () => {
    // Prepare
    api = await startFakeExtensionsApi();
    const { drain } = await setUp(api);
    await drain.register();
    await api.nextCalled(1);

    // Act: an INVOKE whose handler never answers, 300 ms from its deadline
    api.deliver({ eventType: 'INVOKE', requestId: 'aws-req-lost', deadlineMs: Date.now() + 300 });
    const next = await api.nextCalled(2);

    // Assess: the extension moved on by itself
    expect(next.path).toBe('/2020-01-01/extension/event/next');
  }, 30_000);

  it('stays off, and says why, when the Extensions API refuses the registration', async () => {
    // Prepare
    api = await startFakeExtensionsApi({ registerStatus: 403 });
    const { drain } = await setUp(api);

    // Act
    const registered = await drain.register();

    // Assess
    expect(registered).toBe(false);
    expect(drain.registered).toBe(false);
    expect(api.calls.filter((c) => c.path.endsWith('/event/next'))).toEqual([]);
    expect(log.take({ level: 'WARN' })).toEqual([
      expect.objectContaining({
        message: 'prediction-log drain extension not registered; records are written on a timer',
        error: expect.objectContaining({ message: expect.stringContaining('the Extensions API answered 403') }),
      }),
    ]);
  });

  it('registers nothing outside Lambda', async () => {
    // Act
    const drain = new InvocationDrain({ runtimeApi: undefined, drain: async () => undefined });

    // Assess
    expect(await drain.register()).toBe(false);
  });
});
