/**
 * S3 implementation of the `UploadStore` port: presigned PUTs into the artifact bucket's
 * `uploads/` prefix, read back once by the control plane and deleted.
 *
 * The presigned URL is signed with the caller's (the control plane's) credentials, so the
 * function needs `s3:PutObject` on `uploads/*`; on Lambda those are temporary credentials, and
 * the URL stops working when they expire, even before `expiresSeconds`. The client must not add
 * flexible checksums (`requestChecksumCalculation: 'WHEN_REQUIRED'`): with the SDK's default the
 * URL carries `x-amz-checksum-crc32` of an empty body, and S3 refuses every real upload to it.
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { InternalError } from '../core/errors.js';
import type { PresignedRequest, UploadedObject, UploadStore } from '../core/ports.js';
import { errorName } from './aws-errors.js';

export interface S3UploadStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
}

const CONTENT_TYPE = 'application/octet-stream';
const NOT_FOUND = new Set(['NoSuchKey', 'NotFound']);

/**
 * @example
 * const uploads = new S3UploadStore({ client: s3, bucket: 'onnx-artifacts' });
 * const { url, headers } = await uploads.presignPut('uploads/iris/6f1c…', 900);
 */
export class S3UploadStore implements UploadStore {
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(options: S3UploadStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
  }

  async presignPut(key: string, expiresSeconds: number): Promise<PresignedRequest> {
    try {
      const url = await getSignedUrl(this.client, new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentType: CONTENT_TYPE }), {
        expiresIn: expiresSeconds,
      });
      return { url, method: 'PUT', headers: { 'content-type': CONTENT_TYPE } };
    } catch (error) {
      throw new InternalError('ARTIFACT_STORE_FAILED', `Could not presign an upload to s3://${this.bucket}/${key}.`, { cause: error });
    }
  }

  async read(key: string, maxBytes: number): Promise<UploadedObject | { tooLarge: number; versionId?: string } | undefined> {
    try {
      const { Body, ContentLength, LastModified, VersionId } = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      if (!Body) throw new Error('GetObject returned no body');
      const versionId = VersionId ? { versionId: VersionId } : {};
      if (ContentLength !== undefined && ContentLength > maxBytes) {
        // Not read: close the stream rather than pull the whole file through the function.
        (Body as { destroy?: () => void }).destroy?.();
        return { tooLarge: ContentLength, ...versionId };
      }
      const bytes = await Body.transformToByteArray();
      if (bytes.byteLength > maxBytes) return { tooLarge: bytes.byteLength, ...versionId };
      return { bytes, uploadedAt: LastModified ?? new Date(), ...versionId };
    } catch (error) {
      if (NOT_FOUND.has(errorName(error))) return undefined;
      throw new InternalError('ARTIFACT_STORE_FAILED', `Could not read the upload s3://${this.bucket}/${key}.`, { cause: error });
    }
  }

  async delete(key: string, versionId?: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }));
    } catch (error) {
      if (NOT_FOUND.has(errorName(error))) return;
      throw new InternalError('ARTIFACT_STORE_FAILED', `Could not delete the upload s3://${this.bucket}/${key}.`, { cause: error });
    }
  }
}
