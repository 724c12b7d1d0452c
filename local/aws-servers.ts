/**
 * Embedded AWS look-alikes for the local stack and the integration tests: dynalite (DynamoDB) and
 * s3rver (S3), on loopback, persisting under a data folder or kept in memory / a temp folder.
 *
 * What they do not do, and how this file makes up for it:
 * - dynalite 4 has no transactions. The registry's promotions and version allocation are
 *   TransactWriteItems calls on AWS, so the DynamoDB endpoint returned here is a small front
 *   server: it passes every request through to dynalite, and runs TransactWriteItems and
 *   TransactGetItems itself as single-item calls to dynalite while holding an exclusive lock (all
 *   other requests hold a shared one), so no request sees half a transaction. Conditions are all
 *   checked before anything is written (on writes that change nothing), failures come back as
 *   AWS does (`TransactionCanceledException` with one `CancellationReasons` entry per item:
 *   `ConditionalCheckFailed`, or `ValidationError` for an update that cannot apply to the item),
 *   and a write that fails half-way is undone. With a data folder a transaction is also atomic
 *   across a kill of the process: the items' images from before it are journaled (fsynced)
 *   before its first write, and a start that finds a journal entry undoes that transaction
 *   before serving (`TransactionJournal`). ClientRequestToken idempotency is not emulated.
 * - dynalite has no UpdateTimeToLive: tables are created without TTL and items never expire.
 * - s3rver has no bucket versioning: PutObject returns no VersionId and GetObject ignores one.
 * - s3rver writes an object in place (truncate, then the body as it arrives): a read meanwhile
 *   gets a prefix of it, and a kill leaves the prefix. Here its store writes aside and renames,
 *   under a per-key lock, so an object is replaced whole or not at all, even across a kill
 *   (`makeObjectWritesAtomic`).
 * - s3rver 3.7 does not check Signature Version 4 at all ("unimplemented" in its source): any
 *   presigned URL naming its access key, tampered or not, is accepted, and so is a request with
 *   no signature. The S3 endpoint returned here is a front server that checks what S3 would
 *   before passing a request on: a presigned (query-string) SigV4 request must carry the right
 *   signature for the S3RVER key and not be past `X-Amz-Expires` (403 `SignatureDoesNotMatch`,
 *   `AccessDenied`), an unsigned request is refused (403 `AccessDenied`; the bucket is private),
 *   and a PUT needs a Content-Length (411 `MissingContentLength`: S3 takes no chunked uploads).
 *   Header-signed requests (the SDK clients' own) pass through unchecked, as s3rver takes them.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  CreateBucketCommand,
  GetBucketVersioningCommand,
  HeadBucketCommand,
  PutBucketVersioningCommand,
  S3Client,
} from '@aws-sdk/client-s3';

// Neither package ships type declarations: load them through require and type what we use.
const require = createRequire(import.meta.url);
interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
const dynalite = require('dynalite') as (options: DynaliteOptions) => http.Server;
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
const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
/** dynalite checks that requests are signed, not by whom. */
const DYNAMO_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const REGION = 'us-east-1';

export interface LocalAwsOptions {
  /** Folder for persistent state (`<dataDir>/dynamodb`, `<dataDir>/s3`). @default in memory and a temp folder */
  readonly dataDir?: string;
  /** @default 0 (an ephemeral port) */
  readonly dynamoPort?: number;
  /** @default 0 (an ephemeral port) */
  readonly s3Port?: number;
  /** Address to listen on. @default '127.0.0.1' */
  readonly host?: string;
}

export interface LocalAws {
  readonly dynamoEndpoint: string;
  readonly s3Endpoint: string;
  /**
   * Stops both servers, dropping open connections; removes the temp folder when there was no
   * dataDir. Calling it again returns the same promise.
   */
  stop(): Promise<void>;
}

/**
 * Starts dynalite and s3rver.
 *
 * @example
 * const aws = await startLocalAws({ dataDir: '.data' });
 * const clients = localClients(aws);
 * // ... later
 * clients.destroy();
 * await aws.stop();
 */
export async function startLocalAws(options: LocalAwsOptions = {}): Promise<LocalAws> {
  const host = options.host ?? '127.0.0.1';
  const dynamo = await startDynamo(host, options.dynamoPort ?? 0, options.dataDir);
  try {
    const s3 = await startS3(host, options.s3Port ?? 0, options.dataDir);
    let stopping: Promise<void> | undefined;
    return {
      dynamoEndpoint: dynamo.endpoint,
      s3Endpoint: s3.endpoint,
      stop() {
        stopping ??= Promise.all([dynamo.stop(), s3.stop()]).then(() => undefined);
        return stopping;
      },
    };
  } catch (error) {
    await dynamo.stop();
    throw error;
  }
}

/**
 * `startLocalAws` in a child process (`local/aws-process.ts`): the same servers, the same
 * endpoints, but their work (dynalite's storage engine above all) runs on another core than the
 * caller's. `npm start` uses it; tests that start servers in-process use `startLocalAws`.
 *
 * @example
 * const aws = await startLocalAwsProcess({ dataDir: '.data' });
 * await aws.stop(); // the child stops its servers and exits
 */
export async function startLocalAwsProcess(options: LocalAwsOptions = {}): Promise<LocalAwsProcess> {
  const { fork } = await import('node:child_process');
  const entry = fileURLToPath(new URL(`./aws-process${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));
  // From TypeScript sources (`npm start` runs through tsx) the child needs tsx's loader too.
  const needsTsx = entry.endsWith('.ts') && !process.execArgv.some((arg) => arg.includes('tsx'));
  const child = fork(entry, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: needsTsx ? [...process.execArgv, '--import', 'tsx'] : process.execArgv,
  });
  const ready = await new Promise<{ dynamoEndpoint: string; s3Endpoint: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the local AWS servers' process exited with code ${code} before it was ready`)));
    child.on('message', (message: { type: string; dynamoEndpoint?: string; s3Endpoint?: string; message?: string }) => {
      if (message.type === 'ready' && message.dynamoEndpoint && message.s3Endpoint)
        resolve({ dynamoEndpoint: message.dynamoEndpoint, s3Endpoint: message.s3Endpoint });
      if (message.type === 'failed') reject(new Error(`the local AWS servers did not start: ${message.message ?? ''}`));
    });
    child.send({ type: 'start', options });
  });
  child.removeAllListeners('exit');
  let stopping: Promise<void> | undefined;
  return {
    ...ready,
    pid: child.pid ?? 0,
    exited: new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    }),
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || !child.connected) {
          resolve();
          return;
        }
        child.once('exit', () => resolve());
        child.send({ type: 'stop' });
      });
      return stopping;
    },
  };
}

/** The servers of `startLocalAwsProcess`, and their process. */
export interface LocalAwsProcess extends LocalAws {
  /** The child process's id (what a test SIGKILLs to prove crash consistency). */
  readonly pid: number;
  /** Resolves when the child process has exited, however it ended. */
  readonly exited: Promise<void>;
}

export interface LocalEndpoints {
  readonly dynamoEndpoint: string;
  readonly s3Endpoint: string;
}

export interface LocalClientOptions {
  /** SDK attempts per call (the SDK's own retries). @default 3 */
  readonly maxAttempts?: number;
  /** @default 1000 */
  readonly connectionTimeoutMs?: number;
  /** @default 10000 */
  readonly requestTimeoutMs?: number;
}

export interface LocalClients {
  readonly dynamo: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly s3: S3Client;
  /** Closes the clients' sockets. */
  destroy(): void;
}

/** SDK clients for the local servers: dummy credentials, short timeouts, path-style S3. */
export function localClients(endpoints: LocalEndpoints, options: LocalClientOptions = {}): LocalClients {
  const requestHandler = {
    connectionTimeout: options.connectionTimeoutMs ?? 1_000,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    // Without it the SDK only warns when the request timeout passes, and waits on.
    throwOnRequestTimeout: true,
  };
  const maxAttempts = options.maxAttempts ?? 3;
  const dynamo = new DynamoDBClient({
    region: REGION,
    endpoint: endpoints.dynamoEndpoint,
    credentials: DYNAMO_CREDENTIALS,
    maxAttempts,
    requestHandler,
  });
  const documents = DynamoDBDocumentClient.from(dynamo, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const s3 = new S3Client({
    region: REGION,
    endpoint: endpoints.s3Endpoint,
    credentials: S3RVER_CREDENTIALS,
    forcePathStyle: true,
    maxAttempts,
    requestHandler,
    // s3rver knows nothing of the flexible checksums the SDK adds by default.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    dynamo,
    documents,
    s3,
    destroy() {
      documents.destroy();
      dynamo.destroy();
      s3.destroy();
    },
  };
}

/**
 * Creates the bucket if it is missing and asks for versioning. Returns whether versioning is on
 * (it is on AWS; s3rver does not implement it, and that is not an error here).
 */
export async function ensureBucket(s3: S3Client, name: string): Promise<{ created: boolean; versioning: boolean }> {
  let created = false;
  if (!(await bucketExists(s3, name))) {
    try {
      await s3.send(new CreateBucketCommand({ Bucket: name }));
      created = true;
    } catch (error) {
      if (!(error instanceof Error && error.name === 'BucketAlreadyOwnedByYou')) throw error;
    }
  }
  try {
    await s3.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }));
  } catch {
    // s3rver routes `PUT ?versioning` to CreateBucket and answers BucketAlreadyExists (and
    // `GET ?versioning` to ListObjects, which reads back as no Status); on AWS a refusal such as
    // AccessDenied lands here too. Either way the status read below says what we got.
  }
  const { Status } = await s3.send(new GetBucketVersioningCommand({ Bucket: name }));
  return { created, versioning: Status === 'Enabled' };
}

async function bucketExists(s3: S3Client, name: string): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: name }));
    return true;
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) return false;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Servers

interface RunningServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

async function startS3(host: string, port: number, dataDir: string | undefined): Promise<RunningServer> {
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

async function startDynamo(host: string, port: number, dataDir: string | undefined): Promise<RunningServer> {
  const storePath = dataDir ? path.join(dataDir, 'dynamodb') : undefined;
  if (storePath) await mkdir(storePath, { recursive: true });
  const backend = dynalite({
    ...(storePath ? { path: storePath } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await listen(backend, '127.0.0.1', 0);
  const backendPort = (backend.address() as AddressInfo).port;
  const agent = new http.Agent({ keepAlive: true });
  const store = new Dynalite(backendPort, agent);
  const journal = new TransactionJournal(dataDir ? path.join(dataDir, TRANSACTION_JOURNAL_DIR) : undefined);
  const front = http.createServer(frontHandler(store, journal));
  try {
    // A transaction a kill cut short is undone before anything is served.
    await journal.recover(store);
    await listen(front, host, port);
  } catch (error) {
    agent.destroy();
    await close(backend);
    throw error;
  }
  return {
    endpoint: `http://${hostForUrl(host)}:${(front.address() as AddressInfo).port}`,
    async stop() {
      await close(front);
      agent.destroy();
      await close(backend);
    },
  };
}

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

// ---------------------------------------------------------------------------------------------
// Transactions in front of dynalite

type Json = Record<string, unknown>;

interface DynamoResponse {
  readonly status: number;
  readonly body: Json;
}

/**
 * A step of a transaction: its value, or the DynamoDB error response that ends the transaction.
 * (A tagged union: `Json` and `DynamoResponse` cannot be told apart by their properties.)
 */
type Step<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly response: DynamoResponse };

function ok<T>(value: T): Step<T> {
  return { ok: true, value };
}

function fail<T>(response: DynamoResponse): Step<T> {
  return { ok: false, response };
}

/** Minimal DynamoDB JSON client for dynalite on loopback (dynalite checks a signature is present, not its value). */
class Dynalite {
  constructor(
    readonly port: number,
    readonly agent: http.Agent,
  ) {}

  call(operation: string, input: Json): Promise<DynamoResponse> {
    const payload = JSON.stringify(input);
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          agent: this.agent,
          method: 'POST',
          path: '/',
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'content-length': Buffer.byteLength(payload),
            'x-amz-target': `DynamoDB_20120810.${operation}`,
            'x-amz-date': '20200101T000000Z',
            authorization: 'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
          },
        },
        (response) => {
          readBody(response)
            .then((text) => resolve({ status: response.statusCode ?? 500, body: text ? (JSON.parse(text) as Json) : {} }))
            .catch(reject);
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  }
}

function errorType(response: DynamoResponse): string {
  const type = response.body.__type;
  return typeof type === 'string' ? (type.split('#').pop() ?? type) : 'UnknownError';
}

/** FIFO lock: many shared holders at once, or one exclusive holder. */
class SharedExclusiveLock {
  private holders = 0; // > 0: shared holders; -1: one exclusive holder
  private readonly waiting: Array<{ exclusive: boolean; grant: () => void }> = [];

  acquire(exclusive: boolean): Promise<() => void> {
    return new Promise((resolve) => {
      this.waiting.push({
        exclusive,
        grant: () => {
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            this.holders = exclusive ? 0 : this.holders - 1;
            this.pump();
          });
        },
      });
      this.pump();
    });
  }

  private pump(): void {
    for (let next = this.waiting[0]; next; next = this.waiting[0]) {
      if (next.exclusive ? this.holders !== 0 : this.holders < 0) return;
      this.holders = next.exclusive ? -1 : this.holders + 1;
      this.waiting.shift();
      next.grant();
    }
  }
}

function frontHandler(dynalite: Dynalite, journal: TransactionJournal): http.RequestListener {
  const lock = new SharedExclusiveLock();
  const transactions = new TransactionRunner(dynalite, journal);
  return (request, response) => {
    const operation = String(request.headers['x-amz-target'] ?? '').split('.')[1];
    const handled =
      request.method === 'POST' && (operation === 'TransactWriteItems' || operation === 'TransactGetItems')
        ? runTransaction(operation, request, response, lock, transactions)
        : forward(request, response, dynalite, lock);
    handled.catch((error: unknown) => {
      if (!response.headersSent) {
        send(response, {
          status: 500,
          body: { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(error) },
        });
      } else {
        response.destroy();
      }
    });
  };
}

async function forward(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  dynalite: Dynalite,
  lock: SharedExclusiveLock,
): Promise<void> {
  // The client may hang up while we wait for the lock, and a 'close' listener added after the
  // event never runs: without this flag that request would hold the shared lock forever and every
  // later transaction (and, the lock being FIFO, every request behind it) would hang.
  let clientGone = false;
  const onEarlyClose = () => {
    clientGone = true;
  };
  response.once('close', onEarlyClose);
  const release = await lock.acquire(false);
  response.off('close', onEarlyClose);
  if (clientGone) {
    release();
    return;
  }
  response.once('close', release);
  const upstream = http.request(
    {
      host: '127.0.0.1',
      port: dynalite.port,
      agent: dynalite.agent,
      method: request.method,
      path: request.url,
      headers: request.headers,
    },
    (upstreamResponse) => {
      response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
      upstreamResponse.pipe(response);
    },
  );
  upstream.on('error', () => {
    release();
    response.destroy();
  });
  request.pipe(upstream);
}

async function runTransaction(
  operation: 'TransactWriteItems' | 'TransactGetItems',
  request: http.IncomingMessage,
  response: http.ServerResponse,
  lock: SharedExclusiveLock,
  transactions: TransactionRunner,
): Promise<void> {
  const text = await readBody(request);
  let input: Json;
  try {
    input = JSON.parse(text) as Json;
  } catch {
    send(response, { status: 400, body: { __type: 'com.amazon.coral.service#SerializationException' } });
    return;
  }
  const release = await lock.acquire(true);
  try {
    send(response, operation === 'TransactWriteItems' ? await transactions.write(input) : await transactions.get(input));
  } finally {
    release();
  }
}

function send(response: http.ServerResponse, result: DynamoResponse): void {
  const body = JSON.stringify(result.body);
  response.writeHead(result.status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomBytes(26).toString('hex').toUpperCase(),
  });
  response.end(body);
}

function readBody(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

const ACTION_KINDS = ['ConditionCheck', 'Put', 'Delete', 'Update'] as const;
type ActionKind = (typeof ACTION_KINDS)[number];

interface WriteAction {
  readonly kind: ActionKind;
  readonly params: Json;
  readonly tableName: string;
  readonly key: Json;
}

function transactionCanceled(reasons: readonly Json[]): DynamoResponse {
  const codes = reasons.map((reason) => String(reason.Code)).join(', ');
  return {
    status: 400,
    body: {
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
      Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes}]`,
      CancellationReasons: reasons,
    },
  };
}

function validationError(message: string): DynamoResponse {
  return { status: 400, body: { __type: 'com.amazon.coral.validate#ValidationException', message } };
}

/**
 * Runs transactions as single-item dynalite calls; the caller holds the exclusive lock.
 *
 * A write transaction goes in three steps. 1. Read every item and check every condition without
 * changing anything (dynalite evaluates each condition on a write that leaves the item as it is).
 * 2. Journal the image every written item has before the transaction, durably, before the first
 * write. 3. Apply the writes; then remove the journal entry and answer. A write that fails
 * half-way is undone from the same images; a process killed half-way leaves the entry, and the
 * next start undoes it before serving (`TransactionJournal.recover`). So a transaction survives a
 * kill at any instant whole or not at all.
 */
class TransactionRunner {
  private readonly keyNames = new Map<string, string[]>();
  /** A failed write could not be undone: no transaction runs until a restart recovers it. */
  private stuck = false;

  constructor(
    private readonly dynalite: Dynalite,
    private readonly journal: TransactionJournal,
  ) {}

  async write(input: Json): Promise<DynamoResponse> {
    if (this.stuck) {
      return {
        status: 500,
        body: {
          __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
          message: 'A transaction could not be undone; restart the local servers (the start undoes it).',
        },
      };
    }
    const parsed = await this.parseWriteActions(input.TransactItems);
    if (!parsed.ok) return parsed.response;
    const actions = parsed.value;

    // 1. Every item as it is now, and every condition checked against it.
    const images: Array<Json | undefined> = [];
    const reasons: Json[] = [];
    for (const action of actions) {
      const current = await this.currentItem(action.tableName, action.key);
      if (!current.ok) return current.response;
      images.push(current.value);
      const checked = await this.checkCondition(action, current.value);
      if (!checked.ok) return checked.response;
      reasons.push(checked.value);
    }
    if (reasons.some((reason) => reason.Code !== 'None')) return transactionCanceled(reasons);

    // 2. The images to put back, durable before anything is written.
    const undo: UndoEntry[] = actions.flatMap((action, i) => {
      if (action.kind === 'ConditionCheck') return [];
      const before = images[i];
      return [{ tableName: action.tableName, key: action.key, ...(before ? { before } : {}) }];
    });
    const entry = await this.journal.begin(undo);

    // 3. The writes; the first that fails undoes them all.
    let failed: { index: number; response: DynamoResponse } | undefined;
    try {
      for (const [index, action] of actions.entries()) {
        if (action.kind === 'ConditionCheck') continue;
        const { ReturnValuesOnConditionCheckFailure: _ignored, ...params } = action.params;
        const applied = await this.dynalite.call(`${action.kind}Item`, params);
        if (applied.status !== 200) {
          failed = { index, response: applied };
          break;
        }
      }
    } catch (error) {
      await this.undo(undo, entry);
      throw error;
    }
    if (failed) {
      await this.undo(undo, entry);
      const { index, response } = failed;
      if (errorType(response) !== 'ValidationException') return response;
      // AWS reports an item's data error (e.g. `SET n = n + :one` on a missing `n`) as a
      // cancellation with a `ValidationError` reason for that item.
      const message = typeof response.body.message === 'string' ? response.body.message : 'Validation error';
      return transactionCanceled(actions.map((_, i) => (i === index ? { Code: 'ValidationError', Message: message } : { Code: 'None' })));
    }
    await this.journal.end(entry);
    return { status: 200, body: {} };
  }

  /** Undoes a transaction whose write failed; if that fails too, its entry stays for the next start. */
  private async undo(undo: readonly UndoEntry[], entry: string | undefined): Promise<void> {
    try {
      await undoWrites(this.dynalite, undo, { sweepIndexes: false });
    } catch (error) {
      // Nothing may build on a half-applied transaction until a restart undoes it.
      this.stuck = true;
      throw error;
    }
    await this.journal.end(entry);
  }

  async get(input: Json): Promise<DynamoResponse> {
    const items = input.TransactItems;
    if (!Array.isArray(items) || items.length < 1 || items.length > 100) {
      return validationError('TransactItems must contain between 1 and 100 items');
    }
    const responses: Json[] = [];
    for (const item of items as Json[]) {
      const get = item.Get as Json | undefined;
      if (!get) return validationError('Each TransactGetItem must contain Get');
      const result = await this.dynalite.call('GetItem', { ...get, ConsistentRead: true });
      if (result.status !== 200) return result;
      responses.push(result.body.Item ? { Item: result.body.Item } : {});
    }
    return { status: 200, body: { Responses: responses } };
  }

  private async parseWriteActions(items: unknown): Promise<Step<WriteAction[]>> {
    if (!Array.isArray(items) || items.length < 1 || items.length > 100) {
      return fail(validationError('TransactItems must contain between 1 and 100 items'));
    }
    const actions: WriteAction[] = [];
    const seen = new Set<string>();
    for (const item of items as Json[]) {
      const kinds = ACTION_KINDS.filter((kind) => item[kind] !== undefined);
      const kind = kinds[0];
      if (kinds.length !== 1 || !kind) {
        return fail(validationError('Each TransactWriteItem must contain exactly one of ConditionCheck, Put, Delete, Update'));
      }
      const params = item[kind] as Json;
      const tableName = String(params.TableName);
      let key: Json;
      if (kind === 'Put') {
        const names = await this.keyAttributeNames(tableName);
        if (!names.ok) return names;
        const putItem = (params.Item ?? {}) as Json;
        key = Object.fromEntries(names.value.map((name) => [name, putItem[name]]));
      } else {
        key = (params.Key ?? {}) as Json;
      }
      const identity = `${tableName}\u0000${canonicalJson(key)}`;
      if (seen.has(identity)) {
        return fail(validationError('Transaction request cannot include multiple operations on one item'));
      }
      seen.add(identity);
      actions.push({ kind, params, tableName, key });
    }
    return ok(actions);
  }

  private async keyAttributeNames(tableName: string): Promise<Step<string[]>> {
    const known = this.keyNames.get(tableName);
    if (known) return ok(known);
    const described = await this.dynalite.call('DescribeTable', { TableName: tableName });
    if (described.status !== 200) return fail(described);
    const schema = ((described.body.Table as Json | undefined)?.KeySchema ?? []) as Array<{ AttributeName: string }>;
    const names = schema.map((element) => element.AttributeName);
    this.keyNames.set(tableName, names);
    return ok(names);
  }

  private async currentItem(tableName: string, key: Json): Promise<Step<Json | undefined>> {
    const read = await this.dynalite.call('GetItem', { TableName: tableName, Key: key, ConsistentRead: true });
    if (read.status !== 200) return fail(read);
    return ok(read.body.Item as Json | undefined);
  }

  /**
   * A cancellation reason (`{ Code: 'None' }` when the condition holds), or an error to return as
   * is. dynalite evaluates the condition on a write that changes nothing, whatever its outcome:
   * the item put back exactly as it is, or the delete of an item that is not there.
   */
  private async checkCondition(action: WriteAction, current: Json | undefined): Promise<Step<Json>> {
    const condition = action.params.ConditionExpression;
    if (typeof condition !== 'string') return ok({ Code: 'None' });
    const names = usedPlaceholders(condition, action.params.ExpressionAttributeNames, /#[A-Za-z0-9_]+/g);
    const values = usedPlaceholders(condition, action.params.ExpressionAttributeValues, /:[A-Za-z0-9_]+/g);
    const expression = {
      TableName: action.tableName,
      ConditionExpression: condition,
      ...(names ? { ExpressionAttributeNames: names } : {}),
      ...(values ? { ExpressionAttributeValues: values } : {}),
    };
    const checked = current
      ? await this.dynalite.call('PutItem', { ...expression, Item: current })
      : await this.dynalite.call('DeleteItem', { ...expression, Key: action.key });
    if (checked.status === 200) return ok({ Code: 'None' });
    if (errorType(checked) !== 'ConditionalCheckFailedException') return fail(checked);
    const reason: Json = { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' };
    if (action.params.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && current) reason.Item = current;
    return ok(reason);
  }
}

// ---------------------------------------------------------------------------------------------
// Crash consistency: the transaction journal

/** Folder of `<dataDir>` that holds the journal of the transaction in flight. */
export const TRANSACTION_JOURNAL_DIR = 'dynamodb-transactions';

/** One item a transaction writes, as it was before: what undoing the transaction puts back. */
interface UndoEntry {
  readonly tableName: string;
  readonly key: Json;
  /** The item before the transaction; absent when there was none. */
  readonly before?: Json;
}

/**
 * The write-ahead journal of the local DynamoDB's transactions, one file per transaction in
 * flight under `<dataDir>/dynamodb-transactions/`: the images of the items it writes as they
 * were before it, written whole (a temporary file, fsynced, then renamed) before its first
 * write, removed after its last. A file found at startup is a transaction a kill cut short;
 * `recover` puts its items back as they were before it, index entries included. Without a data
 * folder (in memory) nothing survives a kill anyway, and nothing is journaled.
 *
 * It covers a kill of the process at any instant (SIGKILL, a crash): every write dynalite has
 * acknowledged is in the operating system's hands by then. Not a power cut: dynalite does not
 * fsync its own writes.
 */
class TransactionJournal {
  private sequence = 0;
  /** An entry `end` could not remove: no transaction runs until it is gone (see `begin`). */
  private unremoved: string | undefined;

  constructor(private readonly directory: string | undefined) {}

  /**
   * Records the images; resolves once they are on disk. Returns the entry to `end`. Refuses
   * (throws) while the entry of an earlier transaction cannot be removed: a start would undo that
   * one, and it must be the last applied for that to be right.
   */
  async begin(undo: readonly UndoEntry[]): Promise<string | undefined> {
    if (!this.directory || undo.length === 0) return undefined;
    if (this.unremoved) await this.end(this.unremoved);
    this.sequence += 1;
    const name = path.join(this.directory, `${String(this.sequence).padStart(12, '0')}.json`);
    const temporary = `${name}.tmp`;
    const file = await open(temporary, 'w');
    try {
      await file.writeFile(JSON.stringify(undo));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, name);
    return name;
  }

  /** The transaction is applied (or undone): its images are no longer needed. */
  async end(entry: string | undefined): Promise<void> {
    if (!entry) return;
    this.unremoved = entry;
    await rm(entry, { force: true });
    this.unremoved = undefined;
  }

  /**
   * Undoes every transaction a kill cut short, newest first, and removes its entry (a temporary
   * file is an entry that was never complete: its transaction wrote nothing). Idempotent: a
   * kill during recovery leaves the entries for the next start. Returns how many it undid.
   */
  async recover(dynalite: Dynalite): Promise<number> {
    if (!this.directory) return 0;
    await mkdir(this.directory, { recursive: true });
    const names = (await readdir(this.directory)).sort();
    for (const name of names.filter((n) => n.endsWith('.tmp'))) await rm(path.join(this.directory, name), { force: true });
    const entries = names.filter((n) => n.endsWith('.json')).reverse();
    for (const name of entries) {
      const file = path.join(this.directory, name);
      let undo: UndoEntry[];
      try {
        undo = JSON.parse(await readFile(file, 'utf8')) as UndoEntry[];
      } catch (error) {
        throw new Error(
          `the DynamoDB transaction journal ${file} cannot be read (${error instanceof Error ? error.message : String(error)}); something else changed the data folder`,
        );
      }
      await undoWrites(dynalite, undo, { sweepIndexes: true });
      await rm(file, { force: true });
    }
    return entries.length;
  }
}

/**
 * Puts every item of `undo` back as it was, last first. With `sweepIndexes`, first removes every
 * secondary-index entry of the item's key: dynalite writes an item's index entries and the item
 * in separate steps, so a kill between them can leave an index entry of an image the table
 * never got (a model the `models` index lists that does not exist).
 */
async function undoWrites(dynalite: Dynalite, undo: readonly UndoEntry[], options: { sweepIndexes: boolean }): Promise<void> {
  for (const entry of [...undo].reverse()) {
    if (options.sweepIndexes && !(await sweepIndexEntries(dynalite, entry.tableName, entry.key))) continue;
    const restored = entry.before
      ? await dynalite.call('PutItem', { TableName: entry.tableName, Item: entry.before })
      : await dynalite.call('DeleteItem', { TableName: entry.tableName, Key: entry.key });
    if (restored.status !== 200) {
      throw new Error(`could not undo a transaction's write to an item of ${entry.tableName}: ${errorType(restored)}`);
    }
  }
}

/**
 * Removes the item with `key` and every index entry that names it: each entry found is put as
 * the item, so that dynalite's delete computes and removes its index keys. Returns false when
 * the table no longer exists (nothing to undo there).
 */
async function sweepIndexEntries(dynalite: Dynalite, tableName: string, key: Json): Promise<boolean> {
  const described = await dynalite.call('DescribeTable', { TableName: tableName });
  if (described.status !== 200) {
    if (errorType(described) === 'ResourceNotFoundException') return false;
    throw new Error(`could not describe ${tableName} to undo a transaction: ${errorType(described)}`);
  }
  const table = (described.body.Table ?? {}) as Json;
  const indexes = [table.GlobalSecondaryIndexes, table.LocalSecondaryIndexes]
    .flatMap((list) => (Array.isArray(list) ? (list as Json[]) : []))
    .map((index) => String(index.IndexName));
  const names = Object.keys(key);
  const filter = {
    FilterExpression: names.map((_, i) => `#k${i} = :k${i}`).join(' AND '),
    ExpressionAttributeNames: Object.fromEntries(names.map((name, i) => [`#k${i}`, name])),
    ExpressionAttributeValues: Object.fromEntries(names.map((name, i) => [`:k${i}`, key[name]])),
  };
  const found: Json[] = [];
  for (const indexName of indexes) {
    let start: unknown;
    do {
      const page = await dynalite.call('Scan', {
        TableName: tableName,
        IndexName: indexName,
        ...filter,
        ...(start ? { ExclusiveStartKey: start } : {}),
      });
      if (page.status !== 200) throw new Error(`could not scan ${tableName}/${indexName} to undo a transaction: ${errorType(page)}`);
      found.push(...((page.body.Items ?? []) as Json[]));
      start = page.body.LastEvaluatedKey;
    } while (start);
  }
  for (const item of found) {
    const put = await dynalite.call('PutItem', { TableName: tableName, Item: item });
    if (put.status !== 200) throw new Error(`could not sweep an index entry of ${tableName}: ${errorType(put)}`);
  }
  const removed = await dynalite.call('DeleteItem', { TableName: tableName, Key: key });
  if (removed.status !== 200) throw new Error(`could not sweep an item of ${tableName}: ${errorType(removed)}`);
  return true;
}

/** The entries of an ExpressionAttributeNames/Values map that `expression` uses (dynalite rejects unused ones). */
function usedPlaceholders(expression: string, map: unknown, pattern: RegExp): Json | undefined {
  if (!map || typeof map !== 'object') return undefined;
  const used = new Set(expression.match(pattern) ?? []);
  const entries = Object.entries(map as Json).filter(([placeholder]) => used.has(placeholder));
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
