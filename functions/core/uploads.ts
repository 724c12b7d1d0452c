/**
 * Registration of large model files through a presigned upload: the caller asks for an upload
 * (a presigned PUT URL for `uploads/<model>/<uploadId>`), sends the file straight to object
 * storage, then registers the version by `uploadId`. The control plane reads the upload whole
 * into memory (sha256, ONNX Runtime's inspection), registers it exactly as an inline file, and
 * deletes the upload. Talks to ports only.
 */
import { randomUUID } from 'node:crypto';
import { NotFoundError, ValidationError } from './errors.js';
import type { ModelVersion } from './model.js';
import type { PresignedRequest, UploadStore } from './ports.js';
import { checkModelName, type RegistryService } from './registry.js';

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
   * @throws NotFoundError `UPLOAD_NOT_FOUND` (path `uploadId`) when nothing was uploaded under
   *   that id for this model, or the upload is older than a day.
   */
  async register(input: { model: string; uploadId: string; metadata: unknown; actor: string }): Promise<ModelVersion> {
    checkModelName(input.model);
    const key = uploadKey(input.model, input.uploadId);
    const found = await this.deps.uploads.read(key, this.deps.maxArtifactBytes);
    const notFound = () => new NotFoundError('UPLOAD_NOT_FOUND', `No upload "${input.uploadId}" for model "${input.model}": it was never completed, was registered already, or expired (uploads are kept for a day). Ask for a new upload and send the file again.`, ['uploadId']);
    if (!found) throw notFound();
    if ('tooLarge' in found) {
      await this.deps.uploads.delete(key, found.versionId);
      throw new ValidationError('ARTIFACT_TOO_LARGE', `The uploaded file is ${found.tooLarge} bytes; at most ${this.deps.maxArtifactBytes} are accepted here.`, ['uploadId']);
    }
    if (this.now().getTime() - found.uploadedAt.getTime() > UPLOAD_RETENTION_MS) {
      await this.deps.uploads.delete(key, found.versionId);
      throw notFound();
    }
    const version = await this.deps.service.register({ model: input.model, bytes: found.bytes, metadata: input.metadata, actor: input.actor });
    // The version exists now: a failed delete must not turn it into an error the caller retries
    // (registering a second version). The lifecycle rule removes what is left within a day, and
    // a later registration by the same id finds a version already made from it only if the
    // delete failed: the content-addressed artifact key makes that a duplicate, not a corruption.
    await this.deps.uploads.delete(key, found.versionId).catch(() => undefined);
    return version;
  }
}
