/**
 * Registration of large model files through a presigned upload: the caller asks for an upload
 * (a presigned PUT URL for `uploads/<model>/<uploadId>`), sends the file straight to object
 * storage, then registers the version by `uploadId`. The control plane reads the upload whole
 * into memory (sha256, ONNX Runtime's inspection), registers it exactly as an inline file, and
 * deletes the upload. Registration by `uploadId` is idempotent: one upload makes at most one
 * version, and a retry of the request gets that version. Talks to ports only.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import type { ModelVersion } from './model.js';
import type { PresignedRequest, UploadStore } from './ports.js';
import { checkModelName, parseMetadata, type RegisterInput, type RegistryService } from './registry.js';

/** How long a presigned upload URL is valid. */
export const UPLOAD_URL_EXPIRES_SECONDS = 15 * 60;
/**
 * How long an uploaded file waits for its registration. The bucket's lifecycle rule removes
 * `uploads/` objects after a day; this refuses them after the same day, where (locally) no
 * lifecycle runs or S3 has not got round to it yet.
 */
export const UPLOAD_RETENTION_MS = 24 * 60 * 60 * 1000;

export const UPLOAD_PREFIX = 'uploads/';

export function uploadKey(model: string, uploadId: string): string {
  return `${UPLOAD_PREFIX}${model}/${uploadId}`;
}

export interface UploadTicket extends PresignedRequest {
  readonly uploadId: string;
  /** ISO-8601 UTC; the URL is refused after it. */
  readonly expiresAt: string;
  /** The largest file registration will accept, in bytes. */
  readonly maxBytes: number;
}

export interface UploadDeps {
  readonly uploads: UploadStore;
  readonly service: RegistryService;
  /** Largest file accepted, in bytes (read whole into the control plane's memory). */
  readonly maxArtifactBytes: number;
  readonly now?: () => Date;
  readonly newId?: () => string;
}

export class UploadService {
  private readonly now: () => Date;
  private readonly newId: () => string;

  constructor(private readonly deps: UploadDeps) {
    this.now = deps.now ?? (() => new Date());
    this.newId = deps.newId ?? randomUUID;
  }

  /**
   * A presigned PUT for a new upload of `model`'s next file.
   *
   * @example
   * const ticket = await uploads.create('churn');
   * // PUT the file to ticket.url with ticket.headers, then register({ model: 'churn', uploadId: ticket.uploadId, ... })
   */
  async create(model: string): Promise<UploadTicket> {
    checkModelName(model);
    const uploadId = this.newId();
    const issuedAt = this.now();
    const request = await this.deps.uploads.presignPut(uploadKey(model, uploadId), UPLOAD_URL_EXPIRES_SECONDS);
    return {
      uploadId,
      ...request,
      expiresAt: new Date(issuedAt.getTime() + UPLOAD_URL_EXPIRES_SECONDS * 1000).toISOString(),
      maxBytes: this.deps.maxArtifactBytes,
    };
  }

  /**
   * Registers the uploaded file as a new version (see `RegistryService.register`), then deletes
   * the upload. A refused file (bad metadata, a file the runtime cannot load) stays until the
   * lifecycle rule removes it, so the caller can retry with corrected metadata; a file too large
   * to ever be accepted is deleted at once.
   *
   * Idempotent, with the `uploadId` as the idempotency key: the version records the upload it
   * came from (in the transaction that creates it), so a retry of the same request (the answer
   * was lost, or the function died before it deleted the upload) registers nothing new and
   * returns that version, as the first attempt would have, and deletes the upload if it is still
   * there. The same request means the same metadata, and the same file if it is still uploaded.
   *
   * @throws NotFoundError `UPLOAD_NOT_FOUND` (path `uploadId`) when nothing was uploaded under
   *   that id for this model, or the upload is older than a day.
   * @throws ConflictError `UPLOAD_ALREADY_REGISTERED` (409, path `uploadId`, naming the version)
   *   when the upload made a version already and this request differs from the one that made it
   *   (other metadata, or another file PUT to the URL since).
   */
  async register(input: {
    model: string;
    uploadId: string;
    metadata: unknown;
    actor: string;
    check?: RegisterInput['check'];
  }): Promise<ModelVersion> {
    checkModelName(input.model);
    const key = uploadKey(input.model, input.uploadId);
    const earlier = await this.deps.service.getVersionByUpload(input.model, input.uploadId);
    if (earlier) return this.replay(earlier, input, key);
    const found = await this.deps.uploads.read(key, this.deps.maxArtifactBytes);
    const notFound = () =>
      new NotFoundError(
        'UPLOAD_NOT_FOUND',
        `No upload "${input.uploadId}" for model "${input.model}": it was never completed, or expired (uploads are kept for a day). Ask for a new upload and send the file again.`,
        ['uploadId'],
      );
    if (!found) throw notFound();
    if ('tooLarge' in found) {
      await this.deps.uploads.delete(key, found.versionId);
      throw new ValidationError(
        'ARTIFACT_TOO_LARGE',
        `The uploaded file is ${found.tooLarge} bytes; at most ${this.deps.maxArtifactBytes} are accepted here.`,
        ['uploadId'],
      );
    }
    if (this.now().getTime() - found.uploadedAt.getTime() > UPLOAD_RETENTION_MS) {
      await this.deps.uploads.delete(key, found.versionId);
      throw notFound();
    }
    let version: ModelVersion;
    try {
      version = await this.deps.service.register({
        model: input.model,
        bytes: found.bytes,
        metadata: input.metadata,
        actor: input.actor,
        uploadId: input.uploadId,
        ...(input.check ? { check: input.check } : {}),
      });
    } catch (error) {
      // A concurrent registration of the same upload made the version first.
      const winner =
        error instanceof ConflictError && error.code === 'UPLOAD_ALREADY_REGISTERED'
          ? await this.deps.service.getVersionByUpload(input.model, input.uploadId)
          : undefined;
      if (winner) return this.replay(winner, input, key);
      throw error;
    }
    // The version exists now: a failed delete must not turn it into an error. What is left is
    // deleted by a retry (see `replay`) or by the lifecycle rule within a day.
    await this.deps.uploads.delete(key, found.versionId).catch(() => undefined);
    return version;
  }

  /**
   * A registration by an upload that made `earlier` already: `earlier` when the request is the
   * one that made it (the upload deleted if it is still there), else 409.
   */
  private async replay(
    earlier: ModelVersion,
    input: { model: string; uploadId: string; metadata: unknown },
    key: string,
  ): Promise<ModelVersion> {
    const conflict = (what: string) =>
      new ConflictError(
        'UPLOAD_ALREADY_REGISTERED',
        `Upload "${input.uploadId}" was registered already, as version ${earlier.version} of "${input.model}" (${earlier.registeredAt}), ${what}. A retry must repeat the request that registered it; to register another version, ask for a new upload (POST /v1/models/${input.model}/uploads).`,
        ['uploadId'],
      );
    // A rewritten file (a ZipMap, see onnx/zipmap.ts) gave the version its class labels, and its
    // artifact is the rewrite: compare with what the caller sent, `source`.
    const declared = parseMetadata(input.metadata ?? {});
    const asRecorded =
      earlier.source && declared.classLabels === undefined && earlier.metadata.classLabels
        ? { ...declared, classLabels: earlier.metadata.classLabels }
        : declared;
    if (canonicalJson(asRecorded) !== canonicalJson(earlier.metadata)) throw conflict('with other metadata');
    const leftover = await this.deps.uploads.read(key, this.deps.maxArtifactBytes);
    if (leftover) {
      const sent = earlier.source?.sha256 ?? earlier.artifact.sha256;
      const same = !('tooLarge' in leftover) && createHash('sha256').update(leftover.bytes).digest('hex') === sent;
      if (!same) throw conflict('and another file has been sent to its URL since');
      await this.deps.uploads.delete(key, leftover.versionId).catch(() => undefined);
    }
    return earlier;
  }
}

/** JSON with every object's keys sorted: equal for equal values, whatever the key order (DynamoDB keeps none). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
