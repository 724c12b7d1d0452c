/**
 * S3 implementation of the `PayloadStore` port, on the payload bucket (`PAYLOAD_BUCKET`, keys in
 * `functions/core/payload-keys.ts`): inputs are uploaded by callers through presigned PUTs,
 * outputs are written by the endpoint function and read through presigned GETs. The bucket's lifecycle removes both after a day; the presigned URLs live
 * `expiresSeconds` (15 minutes by default), or less when the signer's temporary credentials end.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { randomUUID } from 'node:crypto';
import { InternalError, NotFoundError, PayloadTooLargeError, ValidationError, type FieldPath } from '../core/errors.js';
import type { PayloadStore, PayloadUpload } from '../core/ports.js';
import { payloadInputKey, payloadOutputKey } from '../core/payload-keys.js';
import { S3UploadStore } from './s3-uploads.js';

export interface S3PayloadStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Life of the presigned URLs, in seconds. @default 900 */
  readonly expiresSeconds?: number;
  /** The most bytes one input payload may have. */
  readonly maxPayloadBytes: number;
  /** Wall clock in epoch ms. @default Date.now */
  readonly now?: () => number;
}

const CONTENT_TYPE = 'application/octet-stream';

/** A payload id: a UUID, as `createUpload` makes them. */
const PAYLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class S3PayloadStore implements PayloadStore {
  private readonly uploads: S3UploadStore;
  private readonly expiresSeconds: number;
  private readonly now: () => number;

  constructor(private readonly options: S3PayloadStoreOptions) {
    this.uploads = new S3UploadStore({ client: options.client, bucket: options.bucket });
    this.expiresSeconds = options.expiresSeconds ?? 900;
    this.now = options.now ?? Date.now;
  }

  async createUpload(model: string, bytes?: number): Promise<PayloadUpload> {
    const payloadId = randomUUID();
    const key = payloadInputKey(model, payloadId);
    const { client, bucket } = this.options;
    let url: string;
    try {
      // With a declared size, Content-Length is signed: S3 refuses a PUT of any other size.
      url = await getSignedUrl(
        client,
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          ContentType: CONTENT_TYPE,
          ...(bytes === undefined ? {} : { ContentLength: bytes }),
        }),
        {
          expiresIn: this.expiresSeconds,
          ...(bytes === undefined ? {} : { signableHeaders: new Set(['content-length']) }),
        },
      );
    } catch (error) {
      throw new InternalError('PAYLOAD_STORE_FAILED', `Could not presign an upload to s3://${bucket}/${key}.`, { cause: error });
    }
    return {
      payloadId,
      url,
      method: 'PUT',
      headers: { 'content-type': CONTENT_TYPE, ...(bytes === undefined ? {} : { 'content-length': String(bytes) }) },
      expiresAt: new Date(this.now() + this.expiresSeconds * 1000).toISOString(),
      maxBytes: this.options.maxPayloadBytes,
    };
  }

  async readUpload(model: string, payloadId: string, maxBytes: number, path: FieldPath): Promise<Uint8Array> {
    // A UUID is read case-insensitively; anything longer than one is refused unread.
    if (payloadId.length === 36) payloadId = payloadId.toLowerCase();
    if (!PAYLOAD_ID.test(payloadId)) {
      throw new ValidationError(
        'INVALID_PAYLOAD_ID',
        `data_ref must be the payloadId of an upload (a UUID from POST /v1/models/${model}/payloads), not "${payloadId.slice(0, 40)}".`,
        path,
      );
    }
    const found = await this.uploads.read(payloadInputKey(model, payloadId), Math.min(maxBytes, this.options.maxPayloadBytes));
    if (!found)
      throw new NotFoundError(
        'PAYLOAD_NOT_FOUND',
        `No payload ${payloadId} was uploaded for model "${model}" (or it expired: payloads are kept for a day). Upload it first: POST /v1/models/${model}/payloads, then PUT the bytes to its URL.`,
        path,
      );
    if ('tooLarge' in found) {
      throw new PayloadTooLargeError(
        'PAYLOAD_TOO_LARGE',
        `Payload ${payloadId} is ${found.tooLarge} bytes; an input payload may have at most ${Math.min(maxBytes, this.options.maxPayloadBytes)}.`,
        path,
      );
    }
    return found.bytes;
  }

  async putOutput(model: string, requestId: string, output: string, bytes: Uint8Array): Promise<{ url: string; expiresAt: string }> {
    const key = payloadOutputKey(model, encodeURIComponent(requestId), output);
    const { client, bucket } = this.options;
    try {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentType: 'application/octet-stream' }));
      const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: this.expiresSeconds });
      return { url, expiresAt: new Date(this.now() + this.expiresSeconds * 1000).toISOString() };
    } catch (error) {
      throw new InternalError('PAYLOAD_STORE_FAILED', `Could not store an output of request ${requestId} in s3://${bucket}/${key}.`, {
        cause: error,
      });
    }
  }
}
