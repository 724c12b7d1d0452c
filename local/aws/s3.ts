/**
 * The local S3: s3rver on loopback behind a front server, persisting under `<dataDir>/s3` or a
 * temporary folder. What s3rver does not do, and how this file makes up for it:
 * - s3rver has no bucket versioning: PutObject returns no VersionId and GetObject ignores one.
 * - s3rver writes an object in place (truncate, then the body as it arrives): a read meanwhile
 *   gets a prefix of it, and a kill leaves the prefix. Here its store writes aside and renames,
 *   under a per-key lock, so an object is replaced whole or not at all, even across a kill
 *   (`makeObjectWritesAtomic`).
 * - s3rver 3.7 does not check Signature Version 4 at all ("unimplemented" in its source): any
 *   presigned URL naming its access key, tampered or not, is accepted, and so is a request with
 *   no signature. The front server checks what S3 would before passing a request on: a
 *   presigned (query-string) SigV4 request must carry the right signature for the S3RVER key and
 *   not be past `X-Amz-Expires` (403 `SignatureDoesNotMatch`, `AccessDenied`), an unsigned
 *   request is refused (403 `AccessDenied`; the bucket is private), and a PUT needs a
 *   Content-Length (411 `MissingContentLength`: S3 takes no chunked uploads). Header-signed
 *   requests (the SDK clients' own) pass through unchecked, as s3rver takes them.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { close, hostForUrl, listen, type RunningServer, SharedExclusiveLock } from './loopback.js';

// s3rver ships no type declarations: load it through require and type what we use.
const require = createRequire(import.meta.url);
interface S3rverOptions {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
}
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  readonly httpServer?: http.Server;
  /** s3rver's `FilesystemStore`: `startS3` replaces its object writes (see `makeObjectWritesAtomic`). */
  readonly store: S3rverStore;
}
/** What `makeObjectWritesAtomic` uses of s3rver's `FilesystemStore` (lib/stores/filesystem.js). */
interface S3rverObject {
  readonly bucket: string;
  readonly key: string;
  readonly content: Buffer | NodeJS.ReadableStream;
  readonly metadata: Record<string, string>;
}
interface S3rverStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  deleteObject(bucket: string, key: string): Promise<void>;
  copyObject(srcBucket: string, srcKey: string, destBucket: string, destKey: string, replacementMetadata?: unknown): Promise<unknown>;
}
/** s3rver's `S3Object.ALLOWED_METADATA`: the headers it keeps with an object (with every `x-amz-meta-*`). */
const S3RVER_ALLOWED_METADATA = (require('s3rver/lib/models/object.js') as { ALLOWED_METADATA: readonly string[] }).ALLOWED_METADATA;
const S3rver = require('s3rver') as new (options: S3rverOptions) => S3rverInstance;

/** s3rver only accepts requests signed with this key pair. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/**
 * Starts s3rver on an ephemeral loopback port and the checking front server on `host:port`;
 * objects persist under `<dataDir>/s3`, or in a temporary folder removed by `stop`.
 */
export async function startS3(host: string, port: number, dataDir: string | undefined): Promise<RunningServer> {
  const directory = dataDir ? path.join(dataDir, 's3') : await mkdtemp(path.join(os.tmpdir(), 'onnx-serving-s3-'));
  await mkdir(directory, { recursive: true });
  // Objects a kill cut short in the middle of their write, never renamed into place: garbage.
  await removePartialObjects(directory);
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true });
  makeObjectWritesAtomic(server.store);
  const address = await server.run();
  const agent = new http.Agent({ keepAlive: true });
  const front = http.createServer(s3FrontHandler(address.port, agent));
  const stopBackend = async () => {
    const closing = server.close();
    server.httpServer?.closeAllConnections();
    await closing;
  };
  try {
    await listen(front, host, port);
  } catch (error) {
    await stopBackend();
    throw error;
  }
  return {
    endpoint: `http://${hostForUrl(host)}:${(front.address() as AddressInfo).port}`,
    async stop() {
      await close(front);
      agent.destroy();
      await stopBackend();
      if (!dataDir) await rm(directory, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// S3 objects: whole or not at all

/** Suffix of an object being written (`<object file>.<random>.partial`); never an object file name. */
const PARTIAL_SUFFIX = '.partial';

/**
 * Makes s3rver's object writes behave as S3's: a reader sees an object's old bytes or its new
 * ones, whole, never a mixture or a prefix, and a process killed during a PUT leaves the old
 * object as it was. s3rver itself opens the object's file with truncation and writes the body
 * into it as it arrives (a GET meanwhile reads a prefix, or the empty file; a kill leaves the
 * prefix for good), then rewrites its `.md5` and `metadata.json` files in place.
 *
 * Here a PUT (and a multipart completion, which calls `putObject`) writes the body to a
 * temporary file next to the object's (`.partial`; `listObjects` does not see it), fsyncs it,
 * and only then, holding the key's exclusive lock, removes the old `.md5` and `metadata.json`,
 * renames the file into place and writes the new ones (each written aside and renamed). A kill
 * at any step leaves the old object or the new one: with its own metadata, or with none (and
 * s3rver recomputes a missing `.md5` from the file), never the other object's. A body that ends
 * early (the client hung up) leaves the object untouched. `getObject` (GET and HEAD) holds the
 * key's shared lock until its file is open, and an open file keeps reading the bytes it opened
 * after a rename: so what a read returns matches the length and ETag it announced. DELETE and
 * COPY take the exclusive lock. Different keys never wait for each other.
 */
function makeObjectWritesAtomic(store: S3rverStore): void {
  const locks = new KeyedLocks();
  const getObject = store.getObject.bind(store);
  const deleteObject = store.deleteObject.bind(store);
  const copyObject = store.copyObject.bind(store);
  store.getObject = (bucket, key, options) => locks.with(`${bucket}/${key}`, false, () => getObject(bucket, key, options));
  store.deleteObject = (bucket, key) => locks.with(`${bucket}/${key}`, true, () => deleteObject(bucket, key));
  store.copyObject = (srcBucket, srcKey, destBucket, destKey, replacement) =>
    locks.with(`${destBucket}/${destKey}`, true, () => copyObject(srcBucket, srcKey, destBucket, destKey, replacement));
  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    const md5Path = store.getResourcePath(object.bucket, object.key, 'object.md5');
    const metadataPath = store.getResourcePath(object.bucket, object.key, 'metadata.json');
    await mkdir(path.dirname(objectPath), { recursive: true });
    const temporary = `${objectPath}.${randomBytes(8).toString('hex')}${PARTIAL_SUFFIX}`;
    try {
      const md5 = createHash('md5');
      let size = 0;
      const file = await open(temporary, 'w');
      try {
        const chunks: AsyncIterable<Buffer> | Buffer[] = Buffer.isBuffer(object.content)
          ? [object.content]
          : (object.content as AsyncIterable<Buffer>);
        // A body that ends early rejects here (premature close): the object stays as it was.
        for await (const chunk of chunks) {
          md5.update(chunk);
          size += chunk.length;
          await file.write(chunk);
        }
        await file.sync();
      } finally {
        await file.close();
      }
      const digest = md5.digest('hex');
      const metadata = Object.fromEntries(
        Object.entries(object.metadata).filter(([name]) => S3RVER_ALLOWED_METADATA.includes(name) || name.startsWith('x-amz-meta-')),
      );
      await locks.with(`${object.bucket}/${object.key}`, true, async () => {
        await rm(md5Path, { force: true });
        await rm(metadataPath, { force: true });
        await rename(temporary, objectPath);
        await writeFileAtomically(md5Path, digest);
        await writeFileAtomically(metadataPath, JSON.stringify(metadata, null, 2));
      });
      return { size, md5: digest };
    } finally {
      await rm(temporary, { force: true });
    }
  };
}

async function writeFileAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.${randomBytes(8).toString('hex')}${PARTIAL_SUFFIX}`;
  try {
    await writeFile(temporary, text);
    await rename(temporary, file);
  } finally {
    await rm(temporary, { force: true });
  }
}

/** Removes every `.partial` file under `directory`: writes a kill cut short (see `makeObjectWritesAtomic`). */
async function removePartialObjects(directory: string): Promise<void> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (entry.isFile() && entry.name.endsWith(PARTIAL_SUFFIX)) await rm(path.join(entry.parentPath, entry.name), { force: true });
  }
}

/** One {@link SharedExclusiveLock} per key, dropped when nobody holds or waits for it. */
class KeyedLocks {
  private readonly locks = new Map<string, { lock: SharedExclusiveLock; users: number }>();

  async with<T>(key: string, exclusive: boolean, work: () => Promise<T>): Promise<T> {
    let entry = this.locks.get(key);
    if (!entry) {
      entry = { lock: new SharedExclusiveLock(), users: 0 };
      this.locks.set(key, entry);
    }
    entry.users += 1;
    const release = await entry.lock.acquire(exclusive);
    try {
      return await work();
    } finally {
      release();
      entry.users -= 1;
      if (entry.users === 0) this.locks.delete(key);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// S3 front: the signature checks s3rver leaves out

function s3FrontHandler(backendPort: number, agent: http.Agent): http.RequestListener {
  return (request, response) => {
    const refusal = checkS3Request(request, Date.now());
    if (refusal) {
      request.resume();
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refusal.code}</Code><Message>${refusal.message}</Message></Error>`;
      response.writeHead(refusal.status, {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(body),
        connection: 'close',
      });
      response.end(body);
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: backendPort, agent, method: request.method, path: request.url, headers: request.headers },
      (upstreamResponse) => {
        response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  };
}

interface S3Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** What S3 would refuse and s3rver does not; `undefined` when the request may go on. */
export function checkS3Request(request: Pick<http.IncomingMessage, 'method' | 'url' | 'headers'>, nowMs: number): S3Refusal | undefined {
  const url = request.url ?? '/';
  const queryAt = url.indexOf('?');
  const rawPath = queryAt < 0 ? url : url.slice(0, queryAt);
  const params = (queryAt < 0 ? '' : url.slice(queryAt + 1))
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf('=');
      const decode = (text: string) => decodeURIComponent(text.replace(/\+/g, ' '));
      return at < 0 ? [decode(pair), ''] : [decode(pair.slice(0, at)), decode(pair.slice(at + 1))];
    }) as [string, string][];
  const query = new Map(params);
  if (request.method === 'OPTIONS') return undefined;
  if (request.method === 'PUT' && request.headers['content-length'] === undefined) {
    return { status: 411, code: 'MissingContentLength', message: 'You must provide the Content-Length HTTP header.' };
  }
  if (request.headers.authorization !== undefined) return undefined;
  if (!query.has('X-Amz-Algorithm')) {
    return {
      status: 403,
      code: 'AccessDenied',
      message: 'Access Denied (the bucket is private; sign the request or use a presigned URL).',
    };
  }
  const denied = (message: string): S3Refusal => ({ status: 403, code: 'AccessDenied', message });
  const [accessKeyId, ...scopeParts] = (query.get('X-Amz-Credential') ?? '').split('/');
  const amzDate = query.get('X-Amz-Date') ?? '';
  const expires = Number(query.get('X-Amz-Expires'));
  const signedHeaders = query.get('X-Amz-SignedHeaders') ?? '';
  const signature = query.get('X-Amz-Signature') ?? '';
  const signedAt = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  if (
    query.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' ||
    scopeParts.length !== 4 ||
    !Number.isFinite(signedAt) ||
    !Number.isInteger(expires) ||
    !signature
  ) {
    return denied('Malformed presigned URL.');
  }
  if (accessKeyId !== S3RVER_CREDENTIALS.accessKeyId)
    return { status: 403, code: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.' };
  if (nowMs > signedAt + expires * 1000) return denied('Request has expired');
  const canonicalQuery = params
    .filter(([name]) => name !== 'X-Amz-Signature')
    .map(([name, value]) => [rfc3986(name), rfc3986(value)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const headerNames = signedHeaders.split(';');
  const canonicalHeaders = headerNames
    .map(
      (name) =>
        `${name}:${String(request.headers[name] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const canonicalRequest = [
    request.method,
    rawPath,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    query.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD',
  ].join('\n');
  const scope = scopeParts.join('/');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  let key: Buffer = Buffer.from(`AWS4${S3RVER_CREDENTIALS.secretAccessKey}`);
  for (const part of scopeParts) key = createHmac('sha256', key).update(part).digest();
  const expected = createHmac('sha256', key).update(stringToSign).digest();
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return {
      status: 403,
      code: 'SignatureDoesNotMatch',
      message: 'The request signature we calculated does not match the signature you provided.',
    };
  }
  return undefined;
}

/** Percent-encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ */
function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
