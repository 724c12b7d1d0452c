/**
 * S3 implementation of the `ArtifactStore` port: model files in a (versioned) bucket. Reads pin
 * the S3 object version recorded at registration when there is one, so overwriting a key never
 * changes what a registered version serves.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { InternalError } from '../core/errors.js';
import type { ArtifactRef } from '../core/model.js';
import type { ArtifactStore } from '../core/ports.js';

export interface S3ArtifactStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
}

/** S3 error names that mean "no such object (version)". */
const NOT_FOUND = new Set(['NoSuchKey', 'NoSuchVersion', 'NotFound']);

/**
 * Model artifacts in S3.
 *
 * @example
 * const store = new S3ArtifactStore({ client: s3, bucket: 'onnx-artifacts' });
 * const { key, versionId } = await store.put('models/iris/1/ab12….onnx', bytes);
 * const same = await store.get({ key, versionId });
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly bucket: string;
  private readonly client: S3Client;

  constructor(options: S3ArtifactStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
  }

  /** Stores `bytes` under `key`; `versionId` is the new S3 object version (absent when the bucket is not versioned). */
  async put(key: string, bytes: Uint8Array): Promise<{ key: string; versionId?: string }> {
    try {
      const { VersionId } = await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentType: 'application/octet-stream' }),
      );
      return { key, ...(VersionId ? { versionId: VersionId } : {}) };
    } catch (error) {
      throw new InternalError('ARTIFACT_STORE_FAILED', `Could not store s3://${this.bucket}/${key}.`, { cause: error });
    }
  }

  /**
   * The file's bytes; the recorded object version when `versionId` is given. Only registered
   * versions' files are read here, so a missing one is our side's fault (the bucket lost what
   * registration wrote), never the caller's: both failures are 500s, their messages (which name
   * the bucket and key) for the log only.
   *
   * @throws InternalError `ARTIFACT_NOT_FOUND` when the object (or that version of it) does not exist.
   * @throws InternalError `ARTIFACT_STORE_FAILED` on any other failure, with the S3 error as `cause`.
   */
  async get(ref: Pick<ArtifactRef, 'key' | 'versionId'>): Promise<Uint8Array> {
    const location = `s3://${this.bucket}/${ref.key}${ref.versionId ? ` (version ${ref.versionId})` : ''}`;
    try {
      const { Body } = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: ref.key,
          ...(ref.versionId ? { VersionId: ref.versionId } : {}),
        }),
      );
      if (!Body) throw new Error('GetObject returned no body');
      return await Body.transformToByteArray();
    } catch (error) {
      if (NOT_FOUND.has(errorName(error))) {
        throw new InternalError('ARTIFACT_NOT_FOUND', `The model file ${location} does not exist.`, { cause: error });
      }
      throw new InternalError('ARTIFACT_STORE_FAILED', `Could not read ${location}.`, { cause: error });
    }
  }
}

function errorName(error: unknown): string {
  const name = typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? name : '';
}
