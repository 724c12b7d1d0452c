/**
 * Batch jobs end to end on the local stack (real S3 and DynamoDB servers, real ONNX Runtime, the
 * emulated Distributed Map calling the same batch and steps handlers as on Lambda), over the job
 * API: submission checks, CSV / JSON Lines / Parquet jobs whose outputs equal the HTTP API's
 * answers in input order, error records and the tolerated failure percentage, client tokens,
 * cancellation, scopes, and one `session.run` per batch.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { BatchJob, JobManifest } from '../../functions/core/batch-contract.js';
import { LOCAL_BATCH_BUCKET, startLocalStack, type LocalStack } from '../../local/stack.js';
import { call, type JsonReply } from '../fixtures/http.js';
import { bearer } from '../fixtures/tokens.js';
import { irisRows, writeBatchData, type BatchDataFormat } from '../fixtures/batch-data.js';

let stack: LocalStack;
let token: string;

beforeAll(async () => {
  stack = await startLocalStack({ batch: { retry: { intervalMs: 5 } } });
  token = await stack.auth!.mint({ subject: 'batch-user', scopes: ['predict', 'models:read', 'batch:submit', 'batch:read'] });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

function api(method: string, path: string, body?: unknown, as = token): Promise<JsonReply> {
  return call(stack.url, method, path, body, bearer(as));
}

async function put(key: string, body: string | Uint8Array): Promise<string> {
  await stack.clients.s3.send(new PutObjectCommand({ Bucket: LOCAL_BATCH_BUCKET, Key: key, Body: body }));
  return `s3://${LOCAL_BATCH_BUCKET}/${key}`;
}

async function text(uri: string): Promise<string> {
  const match = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri) as RegExpExecArray;
  const { Body } = await stack.clients.s3.send(new GetObjectCommand({ Bucket: match[1], Key: match[2] }));
  return (await Body?.transformToString()) ?? '';
}

function lines(content: string): Record<string, unknown>[] {
  return content.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function submit(body: Record<string, unknown>, model = 'iris'): Promise<JsonReply> {
  return api('POST', `/v1/models/${model}/batch-jobs`, { output: { uri: `s3://${LOCAL_BATCH_BUCKET}/results/` }, ...body });
}

/** Polls the job until it has ended. */
async function ended(jobId: string, model = 'iris', timeoutMs = 240_000): Promise<{ job: BatchJob; links?: Record<string, string> }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await api('GET', `/v1/models/${model}/batch-jobs/${jobId}`);
    expect(reply.status).toBe(200);
    const body = reply.body as { job: BatchJob; links?: Record<string, string> };
    if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(body.job.state)) return body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${body.job.state}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function jobOf(reply: JsonReply): Promise<BatchJob> {
  expect(reply.status).toBe(202);
  return (reply.body as { job: BatchJob }).job;
}

/** The same records through the predict route, 1,000 per request: the API's own answers. */
async function viaApi(records: readonly Record<string, unknown>[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < records.length; i += 1000) {
    const reply = await api('POST', '/v1/models/iris/predict', { instances: records.slice(i, i + 1000) });
    expect(reply.status).toBe(200);
    out.push(...(reply.body as { predictions: unknown[] }).predictions);
  }
  return out;
}

describe('jobs over 100,000 rows', () => {
  const ROWS = 100_000;
  let expected: unknown[];

  beforeAll(async () => {
    expected = await viaApi(irisRows(ROWS));
  }, 120_000);

  it.each<BatchDataFormat>(['csv', 'jsonl', 'parquet'])('a %s job predicts every row as the HTTP API does, in input order', async (format) => {
    // Prepare
    const data = writeBatchData(format, ROWS);
    const uri = await put(`inputs/iris-100k.${format}`, await data);

    // Act
    const job = await jobOf(await submit({ input: { uri }, rowsPerBatch: 1000, maxConcurrency: 4 }));
    const done = await ended(job.jobId);

    // Assess
    expect(done.job).toMatchObject({ state: 'SUCCEEDED', rows: ROWS, progress: { rowsRead: ROWS, predicted: ROWS, failed: 0 }, modelVersion: '1' });
    expect(done.job.input.format).toBe(format);
    const predictions = lines(await text(done.job.output.predictions));
    expect(predictions.length).toBe(ROWS);
    predictions.forEach((line, i) => expect(line['row']).toBe(i));
    expect(predictions.map((line) => line['prediction'])).toEqual(expected);
    expect(await text(done.job.output.errors)).toBe('');
    const manifest = JSON.parse(await text(done.job.output.manifest)) as JobManifest;
    expect(manifest).toMatchObject({ jobId: job.jobId, model: 'iris', modelVersion: '1', state: 'SUCCEEDED', rows: ROWS, predicted: ROWS, failed: 0 });
    expect(done.links).toEqual({ predictions: expect.any(String), errors: expect.any(String), manifest: expect.any(String) });
  }, 300_000);
});
