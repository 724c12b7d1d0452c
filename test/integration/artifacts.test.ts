/** S3ArtifactStore against a real S3-compatible server (s3rver). */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { S3ArtifactStore } from '../../functions/adapters/s3-artifacts.js';
import { artifactKey } from '../../functions/core/registry.js';
import { InternalError } from '../../functions/core/errors.js';
import { ensureBucket, localClients, startLocalAws, type LocalAws, type LocalClients } from '../../local/aws-servers.js';

const BUCKET = 'model-artifacts';

let aws: LocalAws;
let clients: LocalClients;
let versioning: boolean;
let store: S3ArtifactStore;

beforeAll(async () => {
  aws = await startLocalAws();
  clients = localClients(aws);
  ({ versioning } = await ensureBucket(clients.s3, BUCKET));
  store = new S3ArtifactStore({ client: clients.s3, bucket: BUCKET });
});

afterAll(async () => {
  clients.destroy();
  await aws.stop();
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('S3ArtifactStore', () => {
  it('stores and reads back every byte value unchanged', async () => {
    // Prepare
    const bytes = Uint8Array.from({ length: 3 * 256 + 7 }, (_, i) => (i * 37) % 256);
    const key = artifactKey('iris', 'f'.repeat(64));

    // Act
    const stored = await store.put(key, bytes);
    const read = await store.get(stored);

    // Assess
    expect(stored.key).toBe('models/iris/ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff.onnx');
    // s3rver has no versioning: no VersionId comes back (AWS returns one for a versioned bucket).
    expect(versioning).toBe(false);
    expect(stored).toStrictEqual({ key });
    expect(read).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(read).equals(Buffer.from(bytes))).toBe(true);
  });

  it('reports a missing key as ARTIFACT_NOT_FOUND, a 500: only registered files are read, so it is our fault', async () => {
    // Act
    const error = await rejection(store.get({ key: 'models/iris/404/missing.onnx' }));

    // Assess
    expect(error).toBeInstanceOf(InternalError);
    expect(error).toMatchObject({ code: 'ARTIFACT_NOT_FOUND', status: 500 });
  });

  it('reports other S3 failures as InternalError with the S3 error as cause', async () => {
    // Prepare
    const nowhere = new S3ArtifactStore({ client: clients.s3, bucket: 'no-such-bucket' });

    // Act
    const readError = await rejection(nowhere.get({ key: 'models/iris/1/a.onnx' }));
    const writeError = await rejection(nowhere.put('models/iris/1/a.onnx', new Uint8Array([1])));

    // Assess
    for (const error of [readError, writeError]) {
      expect(error).toBeInstanceOf(InternalError);
      expect(error).toMatchObject({ code: 'ARTIFACT_STORE_FAILED', status: 500 });
      expect((error as InternalError).cause).toMatchObject({ name: 'NoSuchBucket' });
    }
  });
});
