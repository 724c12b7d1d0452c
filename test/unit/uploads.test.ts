/**
 * Registration by upload over in-memory ports (real ONNX Runtime inspection): the ticket, the
 * registration and the deletion of the upload, and what is refused; plus the S3 adapter's
 * presigned URL built from the Lambda composition's client (no flexible-checksum parameters).
 */
import { jest } from '@jest/globals';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { S3UploadStore } from '../../functions/adapters/s3-uploads.js';
import { AppError } from '../../functions/core/errors.js';
import { RegistryService } from '../../functions/core/registry.js';
import { UploadService, uploadKey, UPLOAD_URL_EXPIRES_SECONDS } from '../../functions/core/uploads.js';
import { awsClients } from '../../functions/shared/composition.js';
import { loadConfig } from '../../functions/shared/config.js';
import { rejection } from '../fixtures/errors.js';
import { InMemoryArtifactStore, InMemoryModelRegistry, InMemoryUploadStore } from '../fixtures/in-memory.js';
import { linearClassifier, mlpModel } from '../fixtures/models.js';

const NOW = new Date('2026-02-03T04:05:06.000Z');
const ID = '6f1c2b9e-8d0a-4c3e-9b7f-0a1b2c3d4e5f';

function setup(maxArtifactBytes = 1_000_000) {
  const artifacts = new InMemoryArtifactStore();
  const service = new RegistryService({
    registry: new InMemoryModelRegistry(),
    artifacts,
    runtime: new OnnxRuntime(artifacts, { cacheDir: '/tmp/uploads-test', intraOpThreads: 1 }),
    maxArtifactBytes,
    now: () => NOW,
  });
  const store = new InMemoryUploadStore();
  const uploads = new UploadService({ uploads: store, service, maxArtifactBytes, now: () => NOW, newId: () => ID });
  return { store, uploads };
}

async function appError(promise: Promise<unknown>): Promise<AppError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

it('hands out a ticket for uploads/<model>/<id>, valid 15 minutes, with the size limit', async () => {
  const { uploads } = setup(5_000);
  await expect(uploads.create('churn')).resolves.toEqual({
    uploadId: ID,
    url: `https://uploads.test/uploads/churn/${ID}?expires=${UPLOAD_URL_EXPIRES_SECONDS}`,
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    expiresAt: '2026-02-03T04:20:06.000Z',
    maxBytes: 5_000,
  });
});

it('registers the uploaded file as version 1 and deletes the upload', async () => {
  const { store, uploads } = setup();
  store.complete(uploadKey('mlp', ID), mlpModel().bytes, NOW);

  const version = await uploads.register({ model: 'mlp', uploadId: ID, metadata: { description: 'by upload' }, actor: 'alice' });

  expect(version).toMatchObject({ model: 'mlp', version: '1', registeredBy: 'alice', metadata: { description: 'by upload' } });
  expect(store.deleted).toEqual([uploadKey('mlp', ID)]);
});

it('refuses an upload older than a day as not found, and deletes it', async () => {
  const { store, uploads } = setup();
  store.complete(uploadKey('mlp', ID), mlpModel().bytes, new Date(NOW.getTime() - 25 * 3_600_000));

  const error = await appError(uploads.register({ model: 'mlp', uploadId: ID, metadata: {}, actor: 'alice' }));

  expect(error).toMatchObject({ status: 404, code: 'UPLOAD_NOT_FOUND', path: ['uploadId'] });
  expect(store.deleted).toEqual([uploadKey('mlp', ID)]);
});

it('refuses a file over the limit without registering it, and deletes it', async () => {
  const { store, uploads } = setup(100);
  store.complete(uploadKey('mlp', ID), new Uint8Array(101));

  const error = await appError(uploads.register({ model: 'mlp', uploadId: ID, metadata: {}, actor: 'alice' }));

  expect(error).toMatchObject({ status: 400, code: 'ARTIFACT_TOO_LARGE', path: ['uploadId'] });
  expect(store.deleted).toEqual([uploadKey('mlp', ID)]);
});

it('keeps a refused file (bad metadata) so that the caller can retry with the same upload', async () => {
  const { store, uploads } = setup();
  store.complete(uploadKey('mlp', ID), mlpModel().bytes, NOW);

  const error = await appError(uploads.register({ model: 'mlp', uploadId: ID, metadata: { nope: 1 }, actor: 'alice' }));

  expect(error.status).toBe(400);
  expect(store.deleted).toEqual([]);
  await expect(uploads.register({ model: 'mlp', uploadId: ID, metadata: {}, actor: 'alice' })).resolves.toMatchObject({ version: '1' });
});

it('a failed delete after registration does not fail the registration', async () => {
  const { store, uploads } = setup();
  store.complete(uploadKey('mlp', ID), mlpModel().bytes, NOW);
  jest.spyOn(store, 'delete').mockRejectedValueOnce(new Error('S3 is down'));

  await expect(uploads.register({ model: 'mlp', uploadId: ID, metadata: {}, actor: 'alice' })).resolves.toMatchObject({ version: '1' });
});

it('a retry of a ZipMap model registered by upload gets its version back, though the stored file and the class labels came from the rewrite', async () => {
  // Prepare: the first registration's delete fails, so the upload is still there on the retry
  const { store, uploads } = setup();
  const fixture = linearClassifier({ classes: 3 });
  store.complete(uploadKey('sk', ID), fixture.bytes, NOW);
  jest.spyOn(store, 'delete').mockRejectedValueOnce(new Error('S3 is down'));
  const first = await uploads.register({ model: 'sk', uploadId: ID, metadata: { description: 'by upload' }, actor: 'alice' });

  // Act
  const retry = await uploads.register({ model: 'sk', uploadId: ID, metadata: { description: 'by upload' }, actor: 'alice' });

  // Assess
  expect(first.source?.rewrite).toBe('zipmap');
  expect(retry).toEqual(first);
  expect(store.deleted).toEqual([uploadKey('sk', ID)]);
});

it("the Lambda composition's S3 client presigns a PUT without flexible checksums (S3 would refuse the CRC32 of an empty body)", async () => {
  const config = loadConfig({ REGISTRY_TABLE: 'r', PREDICTION_LOG_TABLE: 'p', ARTIFACT_BUCKET: 'onnx-artifacts', AWS_REGION: 'eu-west-1' });
  const { s3 } = awsClients(config);
  s3.config.credentials = async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' });

  const { url, method } = await new S3UploadStore({ client: s3, bucket: 'onnx-artifacts' }).presignPut(`uploads/churn/${ID}`, 900);

  expect(method).toBe('PUT');
  expect(url).toMatch(new RegExp(`^https://onnx-artifacts\\.s3\\.eu-west-1\\.amazonaws\\.com/uploads/churn/${ID}\\?`));
  expect(url).toContain('X-Amz-Expires=900');
  expect(url).toContain('X-Amz-Security-Token=token');
  expect(url).not.toMatch(/x-amz-checksum|x-amz-sdk-checksum-algorithm/i);
  s3.destroy();
});
