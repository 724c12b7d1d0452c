/**
 * S3ArtifactStore against a real S3-compatible server (s3rver behind the local S3 front), and the
 * local S3's object writes: whole or not at all, across concurrent reads and a SIGKILL.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3ArtifactStore } from '../../functions/adapters/s3-artifacts.js';
import { artifactKey } from '../../functions/core/registry.js';
import { InternalError } from '../../functions/core/errors.js';
import {
  ensureBucket,
  localClients,
  startLocalAws,
  startLocalAwsProcess,
  type LocalAws,
  type LocalClients,
} from '../../local/aws-servers.js';

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

const MB = 1024 * 1024;

/** `size` bytes from a seed: different seeds give different bytes at every offset that matters. */
function patterned(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 97 + (i >> 10)) % 251;
  return bytes;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function readObject(s3: S3Client, key: string): Promise<Buffer> {
  const { Body } = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await Body!.transformToByteArray());
}

/**
 * Starts a PUT of `bytes` under `key` whose body stops after `sent` bytes, and resolves once
 * the server has written at least `sent` of them to some file under `dataDir` (the object's
 * own file when it writes in place, a temporary one when it writes aside). `finish` sends the rest.
 */
async function stalledPut(s3: S3Client, dataDir: string, key: string, bytes: Buffer, sent: number) {
  const body = new PassThrough();
  const done = s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentLength: bytes.length }));
  done.catch(() => undefined);
  body.write(bytes.subarray(0, sent));
  const prefix = bytes.subarray(0, 64 * 1024);
  for (let attempt = 0; ; attempt++) {
    if (await someFileStartsWith(path.join(dataDir, 's3'), prefix, sent)) break;
    if (attempt > 400) throw new Error('the server never wrote the start of the body');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { done, finish: () => body.end(bytes.subarray(sent)) };
}

async function someFileStartsWith(directory: string, prefix: Buffer, minSize: number): Promise<boolean> {
  for (const entry of await readdir(directory, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = await open(path.join(entry.parentPath, entry.name), 'r').catch(() => undefined);
    if (!file) continue;
    try {
      if ((await file.stat()).size < minSize) continue;
      const head = Buffer.alloc(prefix.length);
      await file.read(head, 0, prefix.length, 0);
      if (head.equals(prefix)) return true;
    } finally {
      await file.close();
    }
  }
  return false;
}

describe('S3ArtifactStore.put never rewrites an object that holds the bytes already (finding F1)', () => {
  it('a second put of the same file sends no PUT, and answers the same key', async () => {
    // Prepare
    const bytes = patterned(300_000, 1);
    const key = artifactKey('same', sha256(bytes));
    await store.put(key, bytes);
    const send = jest.spyOn(clients.s3, 'send');

    // Act
    const again = await store.put(key, bytes);

    // Assess
    const commands = send.mock.calls.map(([command]) => command.constructor.name);
    send.mockRestore();
    expect(commands).toStrictEqual(['HeadObjectCommand']);
    expect(again).toStrictEqual({ key });
    expect(sha256(await store.get(again))).toBe(sha256(bytes));
  });

  it.each([
    // An in-place write cut short kept the earlier write's metadata: the whole file's digest.
    [
      "a prefix of the file, with the file's sha256 recorded",
      (bytes: Buffer) => bytes.subarray(0, 100_000),
      (bytes: Buffer) => sha256(bytes),
    ],
    ['the whole file, stored without a recorded sha256', (bytes: Buffer) => bytes, () => undefined],
    [
      'other bytes of the same length, with their sha256 recorded',
      (bytes: Buffer) => patterned(bytes.length, 9),
      (bytes: Buffer) => sha256(patterned(bytes.length, 9)),
    ],
  ] as const)('rewrites an object holding %s', async (_, damaged, recorded) => {
    // Prepare
    const bytes = patterned(300_000, 2);
    const key = artifactKey('damaged', sha256(bytes));
    const digest = recorded(bytes);
    await clients.s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: key,
        Body: damaged(bytes),
        ...(digest ? { Metadata: { sha256: digest } } : {}),
      }),
    );

    // Act
    await store.put(key, bytes);

    // Assess
    expect(sha256(await store.get({ key }))).toBe(sha256(bytes));
    const head = await clients.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.Metadata).toMatchObject({ sha256: sha256(bytes) });
  });
});

describe('the local S3 replaces an object whole or not at all (finding F1)', () => {
  const folders: string[] = [];
  afterAll(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  async function dataFolder(): Promise<string> {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'onnx-s3-atomic-'));
    folders.push(folder);
    return folder;
  }

  it('a read during a PUT gets the old object whole; after it, the new one', async () => {
    // Prepare
    const dataDir = await dataFolder();
    const local = await startLocalAws({ dataDir });
    const own = localClients(local);
    try {
      await ensureBucket(own.s3, BUCKET);
      const key = 'models/atomic/object.onnx';
      const before = patterned(4 * MB, 3);
      const after = patterned(4 * MB, 4);
      await own.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: before }));

      // Act
      const put = await stalledPut(own.s3, dataDir, key, after, 2 * MB);
      const during = await readObject(own.s3, key);
      put.finish();
      await put.done;
      const afterwards = await readObject(own.s3, key);

      // Assess
      expect(during.length).toBe(before.length);
      expect(sha256(during)).toBe(sha256(before));
      expect(sha256(afterwards)).toBe(sha256(after));
    } finally {
      own.destroy();
      await local.stop();
    }
  });

  it('a SIGKILL during a PUT leaves the old object whole, and no partial file', async () => {
    // Prepare
    const dataDir = await dataFolder();
    const key = 'models/kill/object.onnx';
    const before = patterned(4 * MB, 5);
    const after = patterned(4 * MB, 6);
    const first = await startLocalAwsProcess({ dataDir });
    const firstClients = localClients(first, { maxAttempts: 1 });
    await ensureBucket(firstClients.s3, BUCKET);
    await firstClients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: before }));
    const put = await stalledPut(firstClients.s3, dataDir, key, after, 2 * MB);
    // The SDK warns on the console when a streamed body's request fails (it cannot be retried).
    const warned = jest.spyOn(console, 'warn').mockImplementation(() => undefined);

    // Act
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    firstClients.destroy();
    const second = await startLocalAwsProcess({ dataDir });
    const secondClients = localClients(second);
    try {
      const read = await readObject(secondClients.s3, key);
      const files = await readdir(path.join(dataDir, 's3'), { recursive: true });

      // Assess
      await expect(put.done).rejects.toThrow();
      expect(warned.mock.calls).toEqual([['An error was encountered in a non-retryable streaming request.']]);
      expect(read.length).toBe(before.length);
      expect(sha256(read)).toBe(sha256(before));
      expect(files.filter((name) => name.endsWith('.partial'))).toStrictEqual([]);
    } finally {
      warned.mockRestore();
      secondClients.destroy();
      await second.stop();
    }
  });
});
