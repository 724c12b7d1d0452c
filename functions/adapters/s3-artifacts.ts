/**
 * S3 implementation of the `ArtifactStore` port: model files in a (versioned) bucket. Reads pin
 * the S3 object version recorded at registration when there is one, so overwriting a key never
 * changes what a registered version serves.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { InternalError } from '../core/errors.js';
import type { ArtifactRef } from '../core/model.js';
import type { ArtifactStore } from '../core/ports.js';
import { errorName } from './aws-errors.js';

export interface S3ArtifactStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
}

/** User metadata (`x-amz-meta-sha256`) holding the hex sha256 of the bytes a PUT stored. */
export const SHA256_METADATA = 'sha256';

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

  /**
   * Stores `bytes` under `key` unless the object there holds these bytes already; `versionId` is
   * the S3 object version that holds them (absent when the bucket is not versioned).
   *
   * Never rewrites an object that holds the right bytes: keys are content-addressed, so every
   * version registered from the same file names the same object, and rewriting it would put
   * those versions at the mercy of the new write (locally, a kill during it left a prefix). A
   * HEAD first: an object whose length equals `bytes.byteLength` and whose recorded sha256
   * (`x-amz-meta-sha256`, or S3's own `ChecksumSHA256`) equals theirs is kept, and its version
   * returned; that also saves the upload. Anything else (no object, another length or digest, no
   * digest, a HEAD that fails) is written. Every PUT sends the digest as `ChecksumSHA256`: S3
   * refuses a body that does not match it (`BadDigest`), so the recorded digest is the stored
   * bytes'.
   *
   * @throws InternalError `ARTIFACT_STORE_FAILED` when the PUT fails, with the S3 error as `cause`.
   */
  async put(key: string, bytes: Uint8Array): Promise<{ key: string; versionId?: string }> {
    const digest = createHash('sha256').update(bytes).digest();
    const sha256 = digest.toString('hex');
    const existing = await this.storedVersion(key, bytes.byteLength, sha256, digest.toString('base64'));
    if (existing) return { key, ...(existing.versionId ? { versionId: existing.versionId } : {}) };
    try {
      const { VersionId } = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: bytes,
          ContentType: 'application/octet-stream',
          ChecksumSHA256: digest.toString('base64'),
          Metadata: { [SHA256_METADATA]: sha256 },
        }),
      );
      return { key, ...(VersionId ? { versionId: VersionId } : {}) };
    } catch (error) {
      throw new InternalError('ARTIFACT_STORE_FAILED', `Could not store s3://${this.bucket}/${key}.`, { cause: error });
    }
  }

  /** The object under `key` when it holds exactly these bytes (length and sha256), else undefined. */
  private async storedVersion(
    key: string,
    length: number,
    sha256: string,
    sha256Base64: string,
  ): Promise<{ versionId?: string } | undefined> {
    let head: HeadObjectCommandOutput;
    try {
      head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }));
    } catch {
      // Missing (the usual case), or unreadable: writing it is right either way.
      return undefined;
    }
    const recorded = head.Metadata?.[SHA256_METADATA];
    const sameDigest = head.ChecksumSHA256 === sha256Base64 || recorded === sha256;
    if (head.ContentLength !== length || !sameDigest) return undefined;
    return head.VersionId ? { versionId: head.VersionId } : {};
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
