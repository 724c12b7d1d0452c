/**
 * Tracing with Powertools Tracer, end to end: the predict function's own entry point
 * (functions/predict/handler.ts) runs in a fresh Node process with the environment Lambda gives a
 * traced function (a sampled `_X_AMZN_TRACE_ID`, `LAMBDA_TASK_ROOT`), against the local DynamoDB
 * and S3 with the sample model registered. A UDP socket stands in for the X-Ray daemon (the SDK
 * sends it every closed subsegment, https://docs.aws.amazon.com/xray/latest/devguide/xray-daemon.html):
 * with TRACING on it receives the subsegments of registry lookup, artifact fetch, session create,
 * run and prediction-log write, in the invocation's trace; with TRACING off it receives nothing.
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureTables } from '../../functions/adapters/tables.js';
import { loadConfig } from '../../functions/shared/config.js';
import { buildRegistryService } from '../../functions/shared/composition.js';
import { ensureBucket, localClients, startLocalAws, type LocalAws } from '../../local/aws-servers.js';
import { seedSampleModel } from '../../local/stack.js';

const TABLES = { REGISTRY_TABLE: 'registry', PREDICTION_LOG_TABLE: 'prediction-log', ARTIFACT_BUCKET: 'artifacts' };
const TRACE_ID = '1-67891233-abcdef012345678912345678';

let aws: LocalAws;
let cacheDir: string;

beforeAll(async () => {
  aws = await startLocalAws();
  const clients = localClients(aws);
  cacheDir = await mkdtemp(path.join(os.tmpdir(), 'tracing-'));
  try {
    await ensureTables(clients.dynamo, { registry: TABLES.REGISTRY_TABLE, predictionLog: TABLES.PREDICTION_LOG_TABLE });
    await ensureBucket(clients.s3, TABLES.ARTIFACT_BUCKET);
    await seedSampleModel(buildRegistryService(loadConfig({ ...TABLES, MODEL_CACHE_DIR: cacheDir }), clients));
  } finally {
    clients.destroy();
  }
}, 60_000);

afterAll(async () => {
  await aws.stop();
  await rm(cacheDir, { recursive: true, force: true });
});

interface Segment {
  readonly name: string;
  readonly trace_id?: string;
  readonly parent_id?: string;
  readonly id: string;
  readonly type?: string;
  readonly subsegments?: Segment[];
}

/** Every (sub)segment the daemon stand-in received, flattened. */
function flatten(segments: readonly Segment[]): Segment[] {
  return segments.flatMap((s) => [s, ...flatten(s.subsegments ?? [])]);
}

async function daemon(): Promise<{ socket: Socket; address: string; received: Segment[] }> {
  const socket = createSocket('udp4');
  const received: Segment[] = [];
  socket.on('message', (message) => {
    // Each datagram is a header line and one segment document.
    const [, body] = message.toString('utf8').split('\n');
    if (body) received.push(JSON.parse(body) as Segment);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, address: `127.0.0.1:${socket.address().port}`, received };
}

/** Runs the predict function's entry point once on a predict event, in a fresh process. */
async function invokeOnce(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const script = [
    `const { handler } = await import(${JSON.stringify(path.resolve('functions/predict/handler.ts'))});`,
    `const body = JSON.stringify({ features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 } });`,
    `const event = { resource: '/v1/models/{model}/predict', path: '/v1/models/iris/predict', httpMethod: 'POST', headers: { 'content-type': 'application/json' }, pathParameters: { model: 'iris' }, requestContext: { requestId: 'traced-1' }, body, isBase64Encoded: false };`,
    `const result = await handler(event, { awsRequestId: 'aws-traced-1', functionVersion: '$LATEST', getRemainingTimeInMillis: () => 30000 });`,
    `process.stdout.write('STATUS ' + result.statusCode + '\\n');`,
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: {
      PATH: process.env['PATH'] ?? '',
      ...TABLES,
      MODEL_CACHE_DIR: cacheDir,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_DYNAMODB: aws.dynamoEndpoint,
      AWS_ENDPOINT_URL_S3: aws.s3Endpoint,
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      AWS_CONFIG_FILE: path.join(cacheDir, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(cacheDir, 'none'),
      // What Lambda sets for a function with active tracing.
      AWS_LAMBDA_FUNCTION_NAME: 'iris-predict',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      LAMBDA_TASK_ROOT: cacheDir,
      _X_AMZN_TRACE_ID: `Root=${TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

describe('tracing', () => {
  it("sends the subsegments of every traced step, in the invocation's trace, when TRACING is on", async () => {
    // Prepare
    const xray = await daemon();

    // Act
    let result;
    try {
      result = await invokeOnce({ TRACING: 'true', AWS_XRAY_DAEMON_ADDRESS: xray.address });
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      xray.socket.close();
    }

    // Assess
    expect(result.output).toContain('STATUS 200');
    expect(result.code).toBe(0);
    const all = flatten(xray.received);
    const names = all.map((s) => s.name);
    for (const step of ['registry lookup', 'artifact fetch', 'session create', 'run', 'prediction log write'])
      expect(names).toContain(step);
    for (const subsegment of xray.received) expect(subsegment.trace_id).toBe(TRACE_ID);
    // Every step hangs off the invocation's segment (the Parent of the trace header)...
    const steps = all.filter((s) => s.name !== 'DynamoDB' && s.name !== 'S3');
    for (const step of steps) expect(step.parent_id).toBe('53995c3f42cd8ad8');
    // ...and the AWS SDK calls are traced too, under the step that made them.
    const byId = new Map(all.map((s) => [s.id, s]));
    const sdkParents = all.filter((s) => s.name === 'DynamoDB').map((s) => byId.get(s.parent_id ?? '')?.name);
    expect(sdkParents).toEqual(expect.arrayContaining(['registry lookup', 'prediction log write']));
  }, 60_000);

  it('sends nothing, and loads no tracer, when TRACING is off', async () => {
    // Prepare
    const xray = await daemon();

    // Act
    let result;
    try {
      result = await invokeOnce({ AWS_XRAY_DAEMON_ADDRESS: xray.address });
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      xray.socket.close();
    }

    // Assess
    expect(result.output).toContain('STATUS 200');
    expect(xray.received).toEqual([]);
  }, 60_000);
});
