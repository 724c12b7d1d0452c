/**
 * Embedded AWS look-alikes for the local stack and the integration tests: dynalite (DynamoDB) and
 * s3rver (S3), on loopback, persisting under a data folder or kept in memory / a temp folder; and
 * SDK clients pointed at them.
 *
 * What they do not do is made up for in front servers, one module each:
 * - `aws/dynamo.ts`: the DynamoDB endpoint; transactions, which dynalite 4 lacks, atomic across a
 *   kill of the process (`aws/transactions.ts`); no TTL (items never expire).
 * - `aws/s3.ts`: the S3 endpoint; objects replaced whole or not at all, presigned URLs' SigV4
 *   signatures and expiry checked, unsigned requests refused; no bucket versioning.
 */
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
import { DYNAMO_CREDENTIALS, startDynamo } from './aws/dynamo.js';
import { S3RVER_CREDENTIALS, startS3 } from './aws/s3.js';

export { checkS3Request } from './aws/s3.js';
export { TRANSACTION_JOURNAL_DIR } from './aws/transactions.js';

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
