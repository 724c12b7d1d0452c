/**
 * S3DataObjects (the batch jobs' DataObjects port) against the local S3 (s3rver behind the
 * signature-checking front of local/aws/s3.ts): listing in key order across pages, HEAD,
 * ranged reads, streaming, whole and multipart writes, and presigned URLs used over real HTTP.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ListObjectsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { S3DataObjects } from '../../functions/adapters/s3-data.js';
import { type AppError, InternalError, NotFoundError } from '../../functions/core/errors.js';
import { ensureBucket, localClients, startLocalAws, type LocalAws, type LocalClients } from '../../local/aws-servers.js';
import { rejection } from '../fixtures/errors.js';

const BUCKET = 'batch-data';
const MiB = 1024 * 1024;

let aws: LocalAws;
let clients: LocalClients;
let objects: S3DataObjects;

beforeAll(async () => {
  aws = await startLocalAws();
  clients = localClients(aws, { requestTimeoutMs: 30_000 });
  await ensureBucket(clients.s3, BUCKET);
  objects = new S3DataObjects({ client: clients.s3 });
}, 30_000);

afterAll(async () => {
  clients?.destroy();
  await aws?.stop();
});

/** S3DataObjects over its own client whose commands are recorded (by name, in order). */
function observed(options: { partBytes?: number; queueSize?: number } = {}): {
  objects: S3DataObjects;
  commands: string[];
  destroy: () => void;
} {
  const own = localClients(aws, { requestTimeoutMs: 30_000 });
  const commands: string[] = [];
  own.s3.middlewareStack.add(
    (next, context) => (args) => {
      commands.push(context.commandName ?? '');
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  return { objects: new S3DataObjects({ client: own.s3, ...options }), commands, destroy: () => own.destroy() };
}

function pattern(length: number, seed = 7): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed + (i >> 8)) % 256);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<{ bytes: Buffer; count: number }> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return { bytes: Buffer.concat(parts), count: parts.length };
}

describe('put, head, text', () => {
  it('writes an object and reads back its size, ETag and text', async () => {
    // Prepare
    const ref = { bucket: BUCKET, key: 'roundtrip/notes.txt' };
    const text = 'premier,second\nçà et là 🌸\n';

    // Act
    await objects.put(ref, text, 'text/plain; charset=utf-8');
    const head = await objects.head(ref);
    const read = await objects.text(ref);

    // Assess
    expect(head).toStrictEqual({ size: Buffer.byteLength(text), etag: `"${createHash('md5').update(text).digest('hex')}"` });
    expect(read).toBe(text);
  });

  it('answers undefined for a missing object or bucket, and an empty list', async () => {
    // Act
    const results = await Promise.all([
      objects.head({ bucket: BUCKET, key: 'missing/none.csv' }),
      objects.text({ bucket: BUCKET, key: 'missing/none.csv' }),
      objects.head({ bucket: 'no-such-bucket', key: 'a.csv' }),
      objects.list('no-such-bucket', '', 10),
      objects.keys(BUCKET, 'missing/'),
    ]);

    // Assess
    expect(results).toStrictEqual([undefined, undefined, undefined, { files: [], more: false }, []]);
  });
});

describe('list and keys', () => {
  const prefix = 'listing/';
  // Key order is S3's (UTF-8 bytes): upper case before lower case, "-" and "." before digits.
  const files = ['listing/B.csv', 'listing/a-1.csv', 'listing/a.csv', 'listing/a0.csv', 'listing/empty.csv', 'listing/z.csv'];

  beforeAll(async () => {
    for (const key of [...files].reverse())
      await objects.put({ bucket: BUCKET, key }, key.endsWith('empty.csv') ? '' : `x,y\n1,${key.length}\n`, 'text/csv');
    // A console "folder": a zero-byte key ending in "/".
    await clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'listing/zz/', Body: new Uint8Array(0), ContentLength: 0 }));
  });

  it('lists files in key order with sizes and ETags, leaves folder keys out and keeps empty files', async () => {
    // Act
    const { files: listed, more } = await objects.list(BUCKET, prefix, 100);
    const keys = await objects.keys(BUCKET, prefix);

    // Assess
    expect(more).toBe(false);
    expect(listed.map((f) => f.key)).toStrictEqual(files);
    expect(listed.find((f) => f.key === 'listing/empty.csv')).toStrictEqual({
      bucket: BUCKET,
      key: 'listing/empty.csv',
      size: 0,
      etag: `"${createHash('md5').update('').digest('hex')}"`,
    });
    expect(listed.find((f) => f.key === 'listing/a.csv')).toMatchObject({
      size: 'x,y\n1,13\n'.length,
      etag: expect.stringMatching(/^"[0-9a-f]{32}"$/),
    });
    expect(keys).toStrictEqual([...files, 'listing/zz/']);
  });

  it('stops at the limit and says there are more', async () => {
    // Act
    const limited = await objects.list(BUCKET, prefix, 2);
    const exact = await objects.list(BUCKET, prefix, files.length);

    // Assess
    expect(limited.files.map((f) => f.key)).toStrictEqual(files.slice(0, 2));
    expect(limited.more).toBe(true);
    expect(exact.more).toBe(false);
  });

  it('pages through a listing by the last key seen (ListObjects markers)', async () => {
    // Prepare: S3's pages played back, so the requests' markers can be checked.
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
    const s3 = mockClient(client);
    const page = (keys: string[], truncated = false) => ({
      Contents: keys.map((Key) => ({ Key, Size: Key.length, ETag: `"${Key.length}"` })),
      IsTruncated: truncated,
    });
    s3.on(ListObjectsCommand, { Marker: undefined }).resolves(page(['p/a', 'p/b/'], true));
    s3.on(ListObjectsCommand, { Marker: 'p/b/' }).resolves(page(['p/c', 'p/d'], true));
    s3.on(ListObjectsCommand, { Marker: 'p/d' }).resolves(page(['p/e']));
    const paged = new S3DataObjects({ client, pageSize: 2 });

    // Act
    const all = await paged.list('b', 'p/', 100);
    const limited = await paged.list('b', 'p/', 1);
    const keys = await paged.keys('b', 'p/');

    // Assess
    expect(all.files.map((f) => f.key)).toStrictEqual(['p/a', 'p/c', 'p/d', 'p/e']);
    expect(all.more).toBe(false);
    expect(all.files[1]).toStrictEqual({ bucket: 'b', key: 'p/c', size: 3, etag: '"3"' });
    // One file, and the first page's truncation says there are more: no second page is read for it.
    expect(limited).toStrictEqual({ files: [{ bucket: 'b', key: 'p/a', size: 3, etag: '"3"' }], more: true });
    expect(keys).toStrictEqual(['p/a', 'p/b/', 'p/c', 'p/d', 'p/e']);
    expect(
      s3.commandCalls(ListObjectsCommand).every((call) => call.args[0].input.MaxKeys === 2 && call.args[0].input.Prefix === 'p/'),
    ).toBe(true);
    client.destroy();
  });
});

describe('range and stream', () => {
  const ref = { bucket: BUCKET, key: 'reads/data.bin' };
  const bytes = pattern(3 * MiB + 123);

  beforeAll(async () => {
    await objects.put(ref, bytes, 'application/octet-stream');
  });

  it('reads exactly the bytes [start, end) with one ranged GET', async () => {
    // Act
    const middle = await objects.range(ref, 1_000_003, 1_070_000);
    const first = await objects.range(ref, 0, 1);

    // Assess
    expect(middle.byteLength).toBe(69_997);
    expect(Buffer.from(middle).equals(Buffer.from(bytes.subarray(1_000_003, 1_070_000)))).toBe(true);
    expect([...first]).toStrictEqual([bytes[0]]);
  });

  it('returns fewer bytes when the object ends first, none past its end, and 404 for a missing object', async () => {
    // Act
    const tail = await objects.range(ref, bytes.length - 10, bytes.length + 100);
    const past = await objects.range(ref, bytes.length + 5, bytes.length + 100);
    const empty = await objects.range(ref, 10, 10);
    const missing = await rejection(objects.range({ bucket: BUCKET, key: 'reads/missing.bin' }, 0, 10));

    // Assess
    expect(Buffer.from(tail).equals(Buffer.from(bytes.subarray(bytes.length - 10)))).toBe(true);
    expect(past.byteLength).toBe(0);
    expect(empty.byteLength).toBe(0);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ status: 404, code: 'OBJECT_NOT_FOUND' });
  });

  it('streams the whole object in several chunks, and 404s a missing one when iterated', async () => {
    // Act
    const { bytes: streamed, count } = await collect(objects.stream(ref));
    const missing = await rejection(collect(objects.stream({ bucket: BUCKET, key: 'reads/missing.bin' })));

    // Assess
    expect(count).toBeGreaterThan(1);
    expect(sha256(streamed)).toBe(sha256(bytes));
    expect(missing).toMatchObject({ status: 404, code: 'OBJECT_NOT_FOUND' });
  });

  it('stops reading when the consumer stops early', async () => {
    // Act
    let seen = 0;
    for await (const chunk of objects.stream(ref)) {
      seen += chunk.byteLength;
      if (seen > 0) break;
    }
    const after = await objects.range(ref, 0, 4);

    // Assess: the early stop closed the connection without error, and the client still works.
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(bytes.length);
    expect([...after]).toStrictEqual([...bytes.subarray(0, 4)]);
  });
});

describe('upload', () => {
  it('writes a body above 5 MiB as a multipart upload of mixed string and byte chunks', async () => {
    // Prepare: 12 MiB and a bit, in uneven chunks; parts of 5 MiB make three parts.
    const chunks: Array<string | Uint8Array> = [];
    let total = 0;
    for (let i = 0; total < 12 * MiB + 777; i++) {
      const chunk = i % 3 === 0 ? `{"row":${i},"text":"${'é'.repeat(40_000)}"}\n` : pattern(200_000 + (i % 7) * 1_003, i);
      chunks.push(chunk);
      total += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    }
    const expected = Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
    async function* body(): AsyncGenerator<string | Uint8Array> {
      for (const chunk of chunks) yield chunk;
    }
    const ref = { bucket: BUCKET, key: 'uploads/big.jsonl' };
    const { objects: multipart, commands, destroy } = observed({ partBytes: 5 * MiB, queueSize: 2 });

    // Act
    await multipart.upload(ref, body(), 'application/x-ndjson');
    const head = await objects.head(ref);
    const { bytes: read } = await collect(objects.stream(ref));

    destroy();

    // Assess: three parts of at most 5 MiB (s3rver gives the object a plain MD5 ETag, S3 would say "-3").
    expect(commands).toStrictEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'CompleteMultipartUploadCommand',
    ]);
    expect(head?.size).toBe(expected.length);
    expect(sha256(read)).toBe(sha256(expected));
  }, 60_000);

  it('writes a small body, and an empty one, in one request each', async () => {
    // Prepare
    async function* lines(): AsyncGenerator<string> {
      yield '{"row":0}\n';
      yield '';
      yield '{"row":1}\n';
    }
    async function* nothing(): AsyncGenerator<string> {}
    const { objects: small, commands, destroy } = observed();

    // Act
    await small.upload({ bucket: BUCKET, key: 'uploads/small.jsonl' }, lines(), 'application/x-ndjson');
    await small.upload({ bucket: BUCKET, key: 'uploads/empty.jsonl' }, nothing(), 'application/x-ndjson');
    destroy();

    // Assess
    expect(commands).toStrictEqual(['PutObjectCommand', 'PutObjectCommand']);
    expect(await objects.text({ bucket: BUCKET, key: 'uploads/small.jsonl' })).toBe('{"row":0}\n{"row":1}\n');
    expect(await objects.head({ bucket: BUCKET, key: 'uploads/empty.jsonl' })).toMatchObject({ size: 0 });
  });

  it('reports a write S3 refuses as OBJECT_STORE_FAILED with the S3 error as cause', async () => {
    // Act
    const error = await rejection(objects.put({ bucket: 'no-such-bucket', key: 'a.txt' }, 'x', 'text/plain'));

    // Assess
    expect(error).toBeInstanceOf(InternalError);
    expect(error).toMatchObject({ status: 500, code: 'OBJECT_STORE_FAILED' });
    expect((error as AppError).cause).toMatchObject({ name: 'NoSuchBucket' });
  });
});

describe('presigned URLs', () => {
  it('a presigned GET serves the object over plain HTTP, and a tampered one is refused', async () => {
    // Prepare
    const ref = { bucket: BUCKET, key: 'links/predictions.jsonl' };
    await objects.put(ref, '{"row":0,"prediction":{"label":"setosa"}}\n', 'application/x-ndjson');

    // Act
    const url = await objects.presignGet(ref, 3600);
    const response = await fetch(url);
    const tampered = await fetch(url.replace('predictions', 'prediction5'));

    // Assess
    expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('3600');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('{"row":0,"prediction":{"label":"setosa"}}\n');
    expect(tampered.status).toBe(403);
  });

  it('a presigned PUT takes an upload with the signed content type', async () => {
    // Prepare
    const ref = { bucket: BUCKET, key: 'uploads/3b1c/data.csv' };
    const body = 'sepal_length_cm,sepal_width_cm\n5.1,3.5\n';

    // Act
    const url = await objects.presignPut(ref, 900, 'text/csv');
    const response = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/csv' }, body });

    // Assess
    expect(new URL(url).searchParams.get('X-Amz-SignedHeaders')).toContain('content-type');
    expect(new URL(url).searchParams.has('x-amz-checksum-crc32')).toBe(false);
    expect(response.status).toBe(200);
    expect(await objects.text(ref)).toBe(body);
  });

  it('a presigned PUT refuses an upload with another content type', async () => {
    // Prepare
    const ref = { bucket: BUCKET, key: 'uploads/9f2e/data.csv' };
    const url = await objects.presignPut(ref, 900, 'text/csv');

    // Act
    const response = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: 'a\n1\n' });

    // Assess
    expect(response.status).toBe(403);
    expect(await objects.head(ref)).toBeUndefined();
  });
});
