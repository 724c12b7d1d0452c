/**
 * Registering a model through a presigned upload, over real HTTP on the local stack: the stack's
 * MAX_BODY_BYTES is below the file's base64, so the inline JSON path is refused (413), while
 * `modelctl register --upload` sends the file straight to the (signature-checking) local S3 and
 * registers it by uploadId. Registration by uploadId is idempotent (a retry after a lost answer or
 * a kill gets the version the upload made; a different request with the same id is 409). Then the
 * errors: an unknown upload, both sources at once, a tampered or expired URL.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Progress } from '../../bin/modelctl.js';
import { DynamoDbRegistry } from '../../functions/adapters/dynamodb-registry.js';
import { uploadKey, UPLOAD_URL_EXPIRES_SECONDS } from '../../functions/core/uploads.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { rejection } from '../fixtures/errors.js';
import { runModelctl, type ModelctlRun } from '../fixtures/modelctl.js';

const MODEL_FILE = 'models/iris/model.onnx';
const METADATA_FILE = 'models/iris/metadata.json';
/** Above the uploadId body (the metadata, ~2 KB), below the inline body (base64 of the file plus the metadata). */
const MAX_BODY_BYTES = 3_000;

let stack: TestStack;
let dataDir: string;
let token: string;
let modelBase64: string;
let metadata: unknown;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'uploads-'));
  stack = await startTestStack({ seedSampleModel: false, dataDir, env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES) } });
  token = await stack.auth!.mint({ scopes: ['predict', 'models:read', 'models:write', 'models:promote'], subject: 'uploader' });
  modelBase64 = (await readFile(MODEL_FILE)).toString('base64');
  metadata = JSON.parse(await readFile(METADATA_FILE, 'utf8')) as unknown;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function call(method: string, route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${stack.url}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

function run(argv: string[], tty = false): Promise<ModelctlRun> {
  return runModelctl({ url: stack.url, token, errIsTTY: tty }, argv);
}

async function uploadExists(model: string, uploadId: string): Promise<boolean> {
  try {
    await stack.clients.s3.send(new GetObjectCommand({ Bucket: stack.config.ARTIFACT_BUCKET, Key: uploadKey(model, uploadId) }));
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return false;
    throw error;
  }
}

it('the inline JSON path is refused for this file (413), and modelctl register --upload registers it, makes it live and predicts', async () => {
  // Prepare: the inline body really is over the limit.
  const inline = await call('POST', '/v1/models/bigflowers/versions', { modelBase64, metadata });

  // Act
  const registered = await run([
    'register',
    'bigflowers',
    MODEL_FILE,
    '--metadata',
    METADATA_FILE,
    '--production',
    '--upload',
    '-o',
    'json',
  ]);
  const predicted = await run(['predict', 'bigflowers', '--instances', '[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]', '-o', 'json']);

  // Assess
  expect(inline.status).toBe(413);
  expect(inline.json['error']).toMatchObject({ code: 'BODY_TOO_LARGE' });
  expect(registered.code).toBe(0);
  expect(JSON.parse(registered.out)).toMatchObject({
    version: { model: 'bigflowers', version: '1', registeredBy: 'uploader' },
    model: { productionVersion: '1' },
  });
  const size = (await readFile(MODEL_FILE)).byteLength;
  expect(registered.err).toBe(`Uploading model.onnx: 100% (${size} of ${size} bytes)\n`);
  expect(predicted.code).toBe(0);
  expect((JSON.parse(predicted.out) as { predictions: { label: string }[] }).predictions.map((p) => p.label)).toEqual([
    'setosa',
    'virginica',
  ]);
});

it('the upload route hands out a 15-minute presigned PUT for uploads/<model>/<uuid>; registration reads it and deletes it', async () => {
  // Act
  const ticket = await call('POST', '/v1/models/petals/uploads', {});
  const uploadId = ticket.json['uploadId'] as string;
  const put = await fetch(ticket.json['url'] as string, {
    method: 'PUT',
    headers: ticket.json['headers'] as Record<string, string>,
    body: await readFile(MODEL_FILE),
  });
  const before = await uploadExists('petals', uploadId);
  const registered = await call('POST', '/v1/models/petals/versions', { uploadId, metadata });
  const again = await call('POST', '/v1/models/petals/versions', { uploadId, metadata });

  // Assess
  expect(ticket.status).toBe(201);
  expect(ticket.json).toEqual({
    uploadId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
    url: expect.stringContaining(`${stack.aws.s3Endpoint}/${stack.config.ARTIFACT_BUCKET}/uploads/petals/`),
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    expiresAt: expect.any(String),
    maxBytes: 250_000_000,
  });
  expect(ticket.json['url']).toContain(`X-Amz-Expires=${UPLOAD_URL_EXPIRES_SECONDS}`);
  const expiresIn = Date.parse(ticket.json['expiresAt'] as string) - Date.now();
  expect(expiresIn).toBeGreaterThan(14 * 60_000);
  expect(expiresIn).toBeLessThanOrEqual(15 * 60_000);
  expect(put.status).toBe(200);
  expect(before).toBe(true);
  expect(registered.status).toBe(201);
  expect(registered.json).toMatchObject({
    model: 'petals',
    version: '1',
    artifact: { key: expect.stringMatching(/^models\/petals\/[0-9a-f]{64}\.onnx$/) },
  });
  expect(await uploadExists('petals', uploadId)).toBe(false);
  // A retry (the answer was lost) gets the same version again; nothing new is registered.
  expect(again).toEqual(registered);
});

describe("registration by uploadId is idempotent: the uploadId is the request's idempotency key", () => {
  /** A fresh upload of `model` holding `bytes`, and the presigned PUT that sent it. */
  async function upload(
    model: string,
    bytes: Uint8Array,
  ): Promise<{ uploadId: string; put: (body: Uint8Array | string) => Promise<Response> }> {
    const ticket = await call('POST', `/v1/models/${model}/uploads`, {});
    const put = (body: Uint8Array | string) =>
      fetch(ticket.json['url'] as string, { method: 'PUT', headers: ticket.json['headers'] as Record<string, string>, body });
    expect((await put(bytes)).status).toBe(200);
    return { uploadId: ticket.json['uploadId'] as string, put };
  }

  async function versions(model: string): Promise<string[]> {
    const listed = await call('GET', `/v1/models/${model}/versions`);
    return (listed.json['versions'] as Array<{ version: string }>).map((v) => v.version);
  }

  it('a retry after a kill between recording the version and deleting the upload returns that version and deletes the upload', async () => {
    // Prepare: what such a kill leaves, for real: the version is recorded and the upload is
    // still there (the same file, PUT again to its URL).
    const file = await readFile(MODEL_FILE);
    const { uploadId, put } = await upload('retried', file);
    const first = await call('POST', '/v1/models/retried/versions', { uploadId, metadata });
    expect((await put(file)).status).toBe(200);
    const left = await uploadExists('retried', uploadId);

    // Act
    const retry = await call('POST', '/v1/models/retried/versions', { uploadId, metadata });

    // Assess
    expect(first.status).toBe(201);
    expect(left).toBe(true);
    expect(retry).toEqual(first);
    expect(await versions('retried')).toEqual(['1']);
    expect(await uploadExists('retried', uploadId)).toBe(false);
  });

  it('concurrent registrations of one upload make one version, and every one answers it', async () => {
    // Prepare
    const { uploadId } = await upload('raced-upload', await readFile(MODEL_FILE));

    // Act
    const replies = await Promise.all(
      Array.from({ length: 6 }, () => call('POST', '/v1/models/raced-upload/versions', { uploadId, metadata })),
    );

    // Assess
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 201));
    expect(new Set(replies.map((r) => r.json['version']))).toEqual(new Set(['1']));
    expect(await versions('raced-upload')).toEqual(['1']);
  });

  it.each<
    [
      string,
      string,
      (put: (body: Uint8Array | string) => Promise<Response>) => Promise<unknown>,
      Record<string, unknown> | undefined,
      string,
    ]
  >([
    ['other metadata', 'reused-meta', async () => undefined, { description: 'another model' }, 'with other metadata'],
    ['no metadata where the first had some', 'reused-none', async () => undefined, undefined, 'with other metadata'],
    [
      'another file PUT to its URL since',
      'reused-file',
      (put) => put('not the registered file'),
      {},
      'another file has been sent to its URL',
    ],
  ])(
    'a registration by an upload that made a version already, with %s, is 409 UPLOAD_ALREADY_REGISTERED naming the version',
    async (_kind, model, since, metadataChange, says) => {
      // Prepare
      const { uploadId, put } = await upload(model, await readFile(MODEL_FILE));
      const first = await call('POST', `/v1/models/${model}/versions`, { uploadId, metadata });
      await since(put);

      // Act
      const reply = await call('POST', `/v1/models/${model}/versions`, {
        uploadId,
        ...(metadataChange ? { metadata: { ...(metadata as object), ...metadataChange } } : {}),
      });

      // Assess
      expect(first.status).toBe(201);
      expect(reply.status).toBe(409);
      expect(reply.json['error']).toMatchObject({ code: 'UPLOAD_ALREADY_REGISTERED', path: 'uploadId' });
      const message = (reply.json['error'] as { message: string }).message;
      expect(message).toContain(`as version 1 of "${model}"`);
      expect(message).toContain(says);
      expect(await versions(model)).toEqual(['1']);
    },
  );

  it('the registry records the upload with the version, in one transaction: a second version from it is refused and nothing of it is written', async () => {
    // Prepare: the DynamoDB adapter itself, over the stack's table (real dynalite).
    const registry = new DynamoDbRegistry({ client: stack.clients.documents, tableName: stack.config.REGISTRY_TABLE });
    const first = await stack.registry.register({
      model: 'marked',
      bytes: await readFile(MODEL_FILE),
      metadata: {},
      actor: 'a',
      uploadId: '11111111-1111-4111-8111-111111111111',
    });
    const record = await registry.getModel('marked');
    const again = {
      model: 'marked',
      metadata: {},
      signature: first.signature,
      artifact: first.artifact,
      registeredBy: 'b',
      registeredAt: first.registeredAt,
    };

    // Act
    const refused = await rejection(registry.createVersion({ ...again, uploadId: '11111111-1111-4111-8111-111111111111' }));
    const found = await registry.getVersionByUpload('marked', '11111111-1111-4111-8111-111111111111');
    const unknown = await registry.getVersionByUpload('marked', '22222222-2222-4222-8222-222222222222');

    // Assess
    expect(refused).toMatchObject({ status: 409, code: 'UPLOAD_ALREADY_REGISTERED', path: ['uploadId'] });
    expect(await registry.getModel('marked')).toEqual(record);
    expect((await registry.listVersions('marked')).map((v) => v.version)).toEqual(['1']);
    expect(found).toEqual(first);
    expect(unknown).toBeUndefined();
  });
});

it('an unknown uploadId is 404 UPLOAD_NOT_FOUND; an upload of another model is not found either', async () => {
  const ticket = await call('POST', '/v1/models/one/uploads', {});
  await fetch(ticket.json['url'] as string, { method: 'PUT', body: await readFile(MODEL_FILE) });

  const unknown = await call('POST', '/v1/models/petals/versions', { uploadId: '00000000-0000-4000-8000-000000000000' });
  const otherModel = await call('POST', '/v1/models/two/versions', { uploadId: ticket.json['uploadId'] });

  for (const reply of [unknown, otherModel]) {
    expect(reply.status).toBe(404);
    expect(reply.json['error']).toMatchObject({ code: 'UPLOAD_NOT_FOUND', path: 'uploadId' });
  }
});

it('both modelBase64 and uploadId is 400 CONFLICTING_FIELDS; neither is 400 MISSING_FIELD; a malformed id is 400', async () => {
  const both = await call('POST', '/v1/models/petals/versions', { modelBase64: 'AAAA', uploadId: '00000000-0000-4000-8000-000000000000' });
  const neither = await call('POST', '/v1/models/petals/versions', { metadata: {} });
  const malformed = await call('POST', '/v1/models/petals/versions', { uploadId: '../../models/iris/x' });

  expect(both.status).toBe(400);
  expect(both.json['error']).toMatchObject({ code: 'CONFLICTING_FIELDS', path: 'uploadId' });
  expect(neither.status).toBe(400);
  expect(neither.json['error']).toMatchObject({ code: 'MISSING_FIELD', path: 'modelBase64' });
  expect(malformed.status).toBe(400);
  expect((malformed.json['error'] as { path: string }).path).toBe('uploadId');
});

it('the local S3 checks presigned URLs as S3 does: a tampered, expired or unsigned PUT is refused', async () => {
  // Prepare
  const ticket = await call('POST', '/v1/models/petals/uploads', {});
  const url = ticket.json['url'] as string;
  const key = uploadKey('petals', ticket.json['uploadId'] as string);
  const tampered = url.replace(/X-Amz-Signature=([0-9a-f])/, (_, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`);
  const otherKey = url.replace('/uploads/petals/', '/models/petals/');
  const expired = await getSignedUrl(stack.clients.s3, new PutObjectCommand({ Bucket: stack.config.ARTIFACT_BUCKET, Key: key }), {
    expiresIn: 60,
    signingDate: new Date(Date.now() - 120_000),
  });

  // Act
  const replies = await Promise.all(
    [tampered, otherKey, expired, `${stack.aws.s3Endpoint}/${stack.config.ARTIFACT_BUCKET}/${key}`].map((u) =>
      fetch(u, { method: 'PUT', body: 'x' }),
    ),
  );

  // Assess
  expect(replies.map((r) => r.status)).toEqual([403, 403, 403, 403]);
  expect(await uploadExists('petals', ticket.json['uploadId'] as string)).toBe(false);
});

it('modelctl reports a refused upload and registers nothing', async () => {
  const stub: typeof fetch = async (input, init) => {
    const url = String(input);
    return url.includes('X-Amz-Signature')
      ? new Response('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>', { status: 403 })
      : fetch(input, init);
  };
  const { code, err } = await runModelctl({ url: stack.url, token, fetch: stub }, ['register', 'late', MODEL_FILE, '--upload']);

  expect(code).toBe(1);
  expect(err).toContain('The upload was refused: 403 AccessDenied: Request has expired');
  expect((await call('GET', '/v1/models/late')).status).toBe(404);
});

describe('progress', () => {
  it('without a terminal: one line per quarter', () => {
    const lines: string[] = [];
    const progress = new Progress({ err: (text) => lines.push(text), errIsTTY: false }, 'big.onnx', 4_000);
    for (let sent = 0; sent <= 4_000; sent += 500) progress.update(sent);
    expect(lines).toEqual([
      'Uploading big.onnx: 25% (1000 of 4000 bytes)\n',
      'Uploading big.onnx: 50% (2000 of 4000 bytes)\n',
      'Uploading big.onnx: 75% (3000 of 4000 bytes)\n',
      'Uploading big.onnx: 100% (4000 of 4000 bytes)\n',
    ]);
  });

  it('on a terminal: one bar redrawn in place with percentage and bytes, then a newline', () => {
    const writes: string[] = [];
    const progress = new Progress({ err: (text) => writes.push(text), errIsTTY: true }, 'big.onnx', 4 * 1024 * 1024);
    progress.update(0);
    progress.update(1024 * 1024);
    progress.update(1024 * 1024);
    progress.update(4 * 1024 * 1024);
    expect(writes).toEqual([
      `\rbig.onnx [${'.'.repeat(30)}]   0%  0 B / 4.0 MB`,
      `\rbig.onnx [${'#'.repeat(8)}${'.'.repeat(22)}]  25%  1.0 MB / 4.0 MB`,
      `\rbig.onnx [${'#'.repeat(30)}] 100%  4.0 MB / 4.0 MB`,
      '\n',
    ]);
  });

  it('modelctl draws the bar on a terminal during a real upload', async () => {
    const result = await run(['register', 'ttyflowers', MODEL_FILE, '--upload'], true);
    expect(result.code).toBe(0);
    expect(result.err).toMatch(/^\rmodel\.onnx \[\.{30}\] {3}0% {2}0 B \/ 1\.3 KB\rmodel\.onnx \[#{30}\] 100% {2}1\.3 KB \/ 1\.3 KB\n$/);
  });
});
