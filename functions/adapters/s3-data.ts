/**
 * S3 implementation of the batch jobs' `DataObjects` port: the input files a job reads, the job
 * folder it writes (splits, parts, predictions, errors, manifest), and presigned links to them.
 *
 * Errors: a missing object or bucket is an answer where the port has one (`head` and `text` give
 * `undefined`, `list` and `keys` give `[]`) and a 404 `OBJECT_NOT_FOUND` (NotFoundError) where
 * it has none (`range`, `stream`). Anything else S3 refuses is a 500 with the S3 error as
 * `cause`: `OBJECT_ACCESS_DENIED` when the function's role may not do it (a location allowed
 * by the job configuration but not by IAM or the bucket policy: an operator's fix), and
 * `OBJECT_STORE_FAILED` otherwise. Their messages name the `s3://` location, for the log only.
 *
 * Presigned URLs are signed with the function's own (on Lambda, temporary) credentials and stop
 * working when those expire, even before `seconds`. The client must not add flexible checksums
 * (`requestChecksumCalculation: 'WHEN_REQUIRED'`, as `functions/shared/composition.ts` builds
 * it): with the SDK's default a presigned PUT carries the CRC32 of an empty body, and S3 refuses
 * every real upload to it.
 */
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  type ListObjectsCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { DataObjects, InputFile, ObjectRef } from '../core/batch-contract.js';
import { AppError, InternalError, NotFoundError } from '../core/errors.js';
import { errorName } from './aws-errors.js';

export interface S3DataObjectsOptions {
  readonly client: S3Client;
  /** Keys asked for per listing page (1 to 1,000). @default 1000 */
  readonly pageSize?: number;
  /** Bytes per part of a multipart upload (S3's minimum is 5 MiB). @default 8 MiB */
  readonly partBytes?: number;
  /** Parts of one upload sent at once; an upload holds about `partBytes × queueSize` in memory. @default 4 */
  readonly queueSize?: number;
}

/** S3 error names that mean "no such object" (HEAD answers a bare `NotFound`). */
const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket']);
const ACCESS_DENIED = new Set(['AccessDenied', 'Forbidden', 'AllAccessDisabled', 'InvalidAccessKeyId', 'SignatureDoesNotMatch']);
const MAX_PAGE = 1_000;
const MIN_PART_BYTES = 5 * 1024 * 1024;

/**
 * Batch data in S3.
 *
 * @example
 * const objects = new S3DataObjects({ client: s3 });
 * const files = await objects.list('ml-input', 'scores/2026-11/', 1000); // key order, ≤ 1001 entries
 * const head = await objects.range(files[0], 0, 65_536);
 * await objects.upload({ bucket: 'ml-output', key: 'jobs/j1/predictions.jsonl' }, lines(), 'application/x-ndjson');
 */
export class S3DataObjects implements DataObjects {
  private readonly client: S3Client;
  private readonly pageSize: number;
  private readonly partBytes: number;
  private readonly queueSize: number;

  constructor(options: S3DataObjectsOptions) {
    this.client = options.client;
    this.pageSize = options.pageSize ?? MAX_PAGE;
    this.partBytes = options.partBytes ?? 8 * 1024 * 1024;
    this.queueSize = options.queueSize ?? 4;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1 || this.pageSize > MAX_PAGE)
      throw new RangeError(`pageSize must be an integer from 1 to ${MAX_PAGE}.`);
    if (!Number.isInteger(this.partBytes) || this.partBytes < MIN_PART_BYTES)
      throw new RangeError(`partBytes must be at least ${MIN_PART_BYTES} (S3's smallest part).`);
    if (!Number.isInteger(this.queueSize) || this.queueSize < 1) throw new RangeError('queueSize must be a positive integer.');
  }

  /** `{ size (bytes), etag (quoted, as S3 gives it) }`, or `undefined` when the object or bucket does not exist. */
  async head(ref: ObjectRef): Promise<{ size: number; etag?: string } | undefined> {
    try {
      const { ContentLength, ETag } = await this.client.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
      return { size: ContentLength ?? 0, ...(ETag ? { etag: ETag } : {}) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw failure(error, 'read', ref);
    }
  }

  /**
   * The objects under `prefix`, in key order (S3's: by UTF-8 bytes), at most `limit` of them, and
   * whether there are more: a page that ends truncated once `limit` are listed says so without a
   * further request. Keys ending in `/` (the "folders" the console creates) are not files and are
   * left out; empty (zero-byte) objects are kept, an input file with no records. A missing bucket
   * lists nothing.
   */
  async list(bucket: string, prefix: string, limit: number): Promise<{ files: InputFile[]; more: boolean }> {
    const files: InputFile[] = [];
    let more = false;
    await this.pages(bucket, prefix, (page) => {
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined || item.Key.endsWith('/')) continue;
        if (files.length === limit) {
          more = true;
          return false;
        }
        files.push({ bucket, key: item.Key, size: item.Size ?? 0, ...(item.ETag ? { etag: item.ETag } : {}) });
      }
      if (files.length === limit && page.IsTruncated) {
        more = true;
        return false;
      }
      return true;
    });
    return { files, more };
  }

  /**
   * Bytes `[start, end)` of an object (one ranged GET). Fewer when the object ends before `end`;
   * none when it ends at or before `start`.
   *
   * @throws NotFoundError `OBJECT_NOT_FOUND` when there is no such object.
   */
  async range(ref: ObjectRef, start: number, end: number, etag?: string): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0);
    try {
      const { Body, ETag } = await this.client.send(
        new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, Range: `bytes=${start}-${end - 1}`, ...(etag ? { IfMatch: etag } : {}) }),
      );
      // S3 refuses another version (412); an S3-compatible server may ignore If-Match.
      if (etag !== undefined && ETag !== undefined && ETag !== etag) {
        (Body as { destroy?: () => void } | undefined)?.destroy?.();
        throw changedObject(ref);
      }
      if (!Body) return new Uint8Array(0);
      const bytes = await Body.transformToByteArray();
      // A server that ignores Range answers 200 with the whole object: keep the asked part.
      return bytes.byteLength > end - start ? bytes.subarray(start, end) : bytes;
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (errorName(error) === 'InvalidRange') return new Uint8Array(0);
      if (errorName(error) === 'PreconditionFailed') throw changedObject(ref);
      if (isNotFound(error)) throw notFound(ref);
      throw failure(error, 'read', ref);
    }
  }

  /**
   * The whole object as the chunks S3 sends (one GET, read as it is consumed; stopping early
   * closes the connection).
   *
   * @throws NotFoundError `OBJECT_NOT_FOUND` when there is no such object.
   */
  async *stream(ref: ObjectRef): AsyncIterable<Uint8Array> {
    let body: AsyncIterable<unknown>;
    try {
      const { Body } = await this.client.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
      if (!Body) return;
      body = Body as unknown as AsyncIterable<unknown>;
    } catch (error) {
      if (isNotFound(error)) throw notFound(ref);
      throw failure(error, 'read', ref);
    }
    try {
      for await (const chunk of body) {
        yield typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
      }
    } catch (error) {
      throw failure(error, 'read', ref);
    }
  }

  /** Writes a whole object in one PUT (text as UTF-8). */
  async put(ref: ObjectRef, body: string | Uint8Array, contentType: string): Promise<void> {
    try {
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      await this.client.send(
        new PutObjectCommand({ Bucket: ref.bucket, Key: ref.key, Body: bytes, ContentLength: bytes.byteLength, ContentType: contentType }),
      );
    } catch (error) {
      throw failure(error, 'write', ref);
    }
  }

  /**
   * Writes an object from a stream of chunks (strings are written as UTF-8): one PUT when it
   * fits in a part, else a multipart upload of `partBytes` parts, aborted (no parts left behind)
   * when anything fails. The object appears whole when the upload completes, never before.
   */
  async upload(ref: ObjectRef, body: AsyncIterable<string | Uint8Array>, contentType: string): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: ref.bucket, Key: ref.key, Body: Readable.from(asBuffers(body), { objectMode: false }), ContentType: contentType },
      partSize: this.partBytes,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      throw failure(error, 'write', ref);
    }
  }

  /** The object's text (UTF-8), or `undefined` when the object or bucket does not exist. */
  async text(ref: ObjectRef): Promise<string | undefined> {
    try {
      const { Body } = await this.client.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
      return Body ? await Body.transformToString('utf-8') : '';
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw failure(error, 'read', ref);
    }
  }

  /** Every key under `prefix` (folder markers included), in key order; none when the bucket does not exist. */
  async keys(bucket: string, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    await this.pages(bucket, prefix, (page) => {
      for (const item of page.Contents ?? []) if (item.Key !== undefined) keys.push(item.Key);
      return true;
    });
    return keys;
  }

  /** A URL that GETs the object until `seconds` from now (or until the signing credentials expire). */
  async presignGet(ref: ObjectRef, seconds: number): Promise<string> {
    try {
      return await getSignedUrl(this.client, new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }), { expiresIn: seconds });
    } catch (error) {
      throw failure(error, 'presign', ref);
    }
  }

  /**
   * A URL that PUTs the object until `seconds` from now. With `contentType`, the upload must send
   * that `Content-Type` header (it is signed).
   */
  async presignPut(ref: ObjectRef, seconds: number, contentType?: string): Promise<string> {
    try {
      const command = new PutObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...(contentType ? { ContentType: contentType } : {}) });
      // Signed, so an upload with another content type is refused rather than stored as sent.
      return await getSignedUrl(this.client, command, {
        expiresIn: seconds,
        ...(contentType ? { signableHeaders: new Set(['content-type']) } : {}),
      });
    } catch (error) {
      throw failure(error, 'presign', ref);
    }
  }

  /**
   * Pages of the listing, in key order, until `take` says stop. ListObjects (v1) pages by the
   * last key seen (`Marker`): S3 serves it as it serves v2, and an S3-compatible server whose v2
   * continuation tokens fail (s3rver's, under Node's OpenSSL 3) still pages.
   */
  private async pages(bucket: string, prefix: string, take: (page: ListObjectsCommandOutput) => boolean): Promise<void> {
    let marker: string | undefined;
    for (;;) {
      let page: ListObjectsCommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsCommand({ Bucket: bucket, Prefix: prefix, MaxKeys: this.pageSize, ...(marker ? { Marker: marker } : {}) }),
        );
      } catch (error) {
        if (isNotFound(error)) return;
        throw failure(error, 'list', { bucket, key: prefix });
      }
      if (!take(page)) return;
      const last = page.Contents?.at(-1)?.Key;
      if (!page.IsTruncated || last === undefined) return;
      marker = page.NextMarker ?? last;
    }
  }
}

async function* asBuffers(body: AsyncIterable<string | Uint8Array>): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    if (typeof chunk === 'string') {
      if (chunk.length > 0) yield Buffer.from(chunk, 'utf8');
    } else if (chunk.byteLength > 0) {
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
  }
}

function notFound(ref: ObjectRef): NotFoundError {
  return new NotFoundError('OBJECT_NOT_FOUND', `There is no object s3://${ref.bucket}/${ref.key}.`);
}

function failure(error: unknown, action: 'read' | 'write' | 'list' | 'presign', ref: ObjectRef): InternalError {
  const where = `s3://${ref.bucket}/${ref.key}`;
  if (ACCESS_DENIED.has(errorName(error)) || httpStatus(error) === 403) {
    return new InternalError(
      'OBJECT_ACCESS_DENIED',
      `S3 refused to let this function ${action} ${where} (${errorName(error) || '403'}): check its role and the bucket policy.`,
      { cause: error },
    );
  }
  return new InternalError('OBJECT_STORE_FAILED', `Could not ${action} ${where}.`, { cause: error });
}

function isNotFound(error: unknown): boolean {
  return NOT_FOUND.has(errorName(error)) || httpStatus(error) === 404;
}

function httpStatus(error: unknown): number | undefined {
  const metadata =
    typeof error === 'object' && error !== null ? (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata : undefined;
  return typeof metadata?.httpStatusCode === 'number' ? metadata.httpStatusCode : undefined;
}

/** 409 `OBJECT_CHANGED`: the object is no longer the version a reader asked for. */
function changedObject(ref: ObjectRef): AppError {
  return new AppError(409, 'OBJECT_CHANGED', `s3://${ref.bucket}/${ref.key} is no longer the version that was asked for.`);
}
