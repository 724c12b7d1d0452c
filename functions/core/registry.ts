/**
 * Registering and publishing model versions: the control plane's core. Talks to ports only.
 * Registration uploads the artifact under a content-addressed key, records its S3 VersionId and
 * sha256, reads the signature from the runtime (never from the caller) and checks the declared
 * features and class labels against it. Gates and the full stage machine build on this.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import {
  MODEL_NAME_PATTERN, STAGE_TRANSITIONS,
  type ModelMetadata, type ModelRecord, type ModelVersion, type Stage, type StageTransition,
} from './model.js';
import type { ArtifactStore, ModelRegistry, ModelRuntime, PointerChange, VersionChange } from './ports.js';
import { parseWith } from './codec/request.js';
import { checkDeclarations } from './declarations.js';
import { runGates, type MetricBaseline } from './gates.js';

const name = z.string().min(1).max(128);

/** A version is one DynamoDB item (400 KB at most); this leaves room for keys and history. */
export const MAX_DESCRIPTION_BYTES = 300_000;

/** What a caller may declare about a version; everything else is read from the file. */
export const ModelMetadataSchema = z.strictObject({
  framework: z.string().max(128).optional(),
  algorithm: z.string().max(256).optional(),
  trainedAt: z.iso.date().or(z.iso.datetime({ offset: true })).optional(),
  features: z.array(name).min(1).max(10_000).optional(),
  target: name.optional(),
  classLabels: z.array(z.string().min(1).max(256)).min(2).max(10_000).optional(),
  metrics: z.record(name, z.number().refine(Number.isFinite, 'must be a finite number')).optional(),
  description: z.string().max(4_096).optional(),
  goldenInputs: z
    .array(
      z.strictObject({
        request: z.record(z.string(), z.unknown()),
        expected: z.array(z.unknown()).min(1),
        tolerance: z.number().nonnegative().max(1).optional(),
      }),
    )
    .max(50)
    .optional(),
});

export interface RegisterInput {
  readonly model: string;
  readonly bytes: Uint8Array;
  /** Unvalidated metadata as the caller sent it. */
  readonly metadata: unknown;
  readonly actor: string;
}

export interface RegistryDeps {
  readonly registry: ModelRegistry;
  readonly artifacts: ArtifactStore;
  readonly runtime: ModelRuntime;
  /** Largest artifact accepted, in bytes. */
  readonly maxArtifactBytes: number;
  /** Metrics a model's versions must declare to enter staging or production. @default none */
  readonly baselineFor?: (model: string) => MetricBaseline | undefined;
  readonly now?: () => Date;
}

export interface TransitionRequest {
  readonly model: string;
  readonly version: string;
  readonly to: Stage;
  readonly actor: string;
  readonly reason?: string;
  /** The model revision the caller read (If-Match); omitted: the pointer read must still hold. */
  readonly expectedRevision?: number;
}

export interface ModelSummary extends ModelRecord {
  readonly versions: readonly Pick<ModelVersion, 'version' | 'stage' | 'registeredAt'>[];
}

export class RegistryService {
  private readonly now: () => Date;

  constructor(private readonly deps: RegistryDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Registers a new version in stage `development`.
   *
   * @example
   * const version = await service.register({ model: 'iris', bytes, metadata: { features: [...] }, actor: 'alice' });
   * // version.version === '1', version.artifact.sha256 === '<hex>'
   */
  async register(input: RegisterInput): Promise<ModelVersion> {
    checkModelName(input.model);
    if (input.bytes.byteLength === 0) throw new ValidationError('EMPTY_ARTIFACT', 'The model file is empty.', ['model']);
    if (input.bytes.byteLength > this.deps.maxArtifactBytes) {
      throw new ValidationError('ARTIFACT_TOO_LARGE', `The model file is ${input.bytes.byteLength} bytes; at most ${this.deps.maxArtifactBytes} are accepted here.`, ['model']);
    }
    const metadata = parseMetadata(input.metadata ?? {});
    const signature = await this.deps.runtime.inspect(input.bytes);
    checkDeclarations(signature, metadata);
    const described = Buffer.byteLength(JSON.stringify({ metadata, signature }), 'utf8');
    if (described > MAX_DESCRIPTION_BYTES) {
      throw new ValidationError('METADATA_TOO_LARGE', `Metadata and signature take ${described} bytes; a version record holds at most ${MAX_DESCRIPTION_BYTES}. Shorten the feature names or the description.`, ['metadata']);
    }
    const sha256 = createHash('sha256').update(input.bytes).digest('hex');
    const key = artifactKey(input.model, sha256);
    const stored = await this.deps.artifacts.put(key, input.bytes);
    return this.deps.registry.createVersion({
      model: input.model,
      metadata,
      signature,
      artifact: {
        bucket: this.deps.artifacts.bucket,
        key: stored.key,
        ...(stored.versionId ? { versionId: stored.versionId } : {}),
        sha256,
        sizeBytes: input.bytes.byteLength,
      },
      registeredBy: input.actor,
      registeredAt: this.now().toISOString(),
    });
  }

  async listModels(): Promise<ModelRecord[]> {
    return this.deps.registry.listModels();
  }

  async describeModel(model: string): Promise<ModelSummary> {
    const record = await this.requireModel(model);
    const versions = await this.deps.registry.listVersions(model);
    return { ...record, versions: versions.map(({ version, stage, registeredAt }) => ({ version, stage, registeredAt })) };
  }

  async listVersions(model: string): Promise<ModelVersion[]> {
    await this.requireModel(model);
    return this.deps.registry.listVersions(model);
  }

  async getVersion(model: string, version: string): Promise<ModelVersion> {
    checkModelName(model);
    const found = await this.deps.registry.getVersion(model, version);
    if (!found) throw new NotFoundError('VERSION_NOT_FOUND', `Model "${model}" has no version ${version}.`, ['version']);
    return found;
  }

  /**
   * Moves a version to another stage, one step of the stage machine, after the promotion gates
   * (`gates.ts`) pass for staging and production. Promoting to production
   * archives the previous production version and moves the pointer in the same transaction;
   * archiving the production version clears the pointer. Moving a version to the stage it is in
   * changes nothing. With `expectedRevision` (the model revision the caller saw, as with
   * If-Match) the change applies only if nothing changed since; without it, only if the
   * production pointer is still what was read. Of concurrent promotions, one wins; the others
   * get `CONCURRENT_UPDATE` and nothing of theirs is written.
   *
   * @example
   * await service.transition({ model: 'iris', version: '3', to: 'staging', actor: 'alice', reason: 'offline eval passed' });
   */
  async transition(request: TransitionRequest): Promise<ModelRecord> {
    const { model, version, to, actor } = request;
    const record = await this.requireModel(model);
    const target = await this.getVersion(model, version);
    if (request.expectedRevision !== undefined && request.expectedRevision !== record.revision) {
      throw new ConflictError('STALE_REVISION', `Model "${model}" is at revision ${record.revision}, not ${request.expectedRevision}: it changed since you read it. Read it again and retry.`, ['expectedRevision']);
    }
    if (target.stage === to) return record;
    const allowed = STAGE_TRANSITIONS[target.stage];
    if (!allowed.includes(to)) {
      const options = allowed.length > 0 ? `it can go to ${allowed.join(' or ')}` : 'archived is final';
      throw new ConflictError('ILLEGAL_TRANSITION', `Version ${version} of "${model}" is in ${target.stage}; ${options}, not ${to}.`, ['to']);
    }
    if (to === 'staging' || to === 'production') {
      await runGates(target, { artifacts: this.deps.artifacts, runtime: this.deps.runtime, baselineFor: this.deps.baselineFor ?? (() => undefined) });
    }
    const changes: VersionChange[] = [{ version, from: target.stage, to, expectedRevision: target.revision }];
    let pointer: PointerChange | undefined;
    const expected = request.expectedRevision !== undefined
      ? { revision: request.expectedRevision }
      : { productionVersion: record.productionVersion ?? null };
    if (to === 'production') {
      const previous = record.productionVersion === undefined ? undefined : await this.deps.registry.getVersion(model, record.productionVersion);
      if (previous?.stage === 'production') changes.push({ version: previous.version, from: 'production', to: 'archived', expectedRevision: previous.revision });
      pointer = { productionVersion: version, expected };
    } else if (target.stage === 'production') {
      pointer = { productionVersion: null, expected };
    }
    await this.deps.registry.applyTransition({
      model,
      changes,
      ...(pointer ? { pointer } : {}),
      actor,
      at: this.now().toISOString(),
      ...(request.reason === undefined ? {} : { reason: request.reason }),
    });
    return this.requireModel(model);
  }

  /** Promotes a staging version to production (see `transition`). */
  async setProduction(model: string, version: string, actor: string, expectedRevision?: number): Promise<ModelRecord> {
    return this.transition({ model, version, to: 'production', actor, ...(expectedRevision === undefined ? {} : { expectedRevision }) });
  }

  /** The model's stage changes, oldest first. */
  async history(model: string): Promise<StageTransition[]> {
    await this.requireModel(model);
    return this.deps.registry.listHistory(model);
  }

  private async requireModel(model: string): Promise<ModelRecord> {
    checkModelName(model);
    const record = await this.deps.registry.getModel(model);
    if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}" is registered.`, ['model']);
    return record;
  }
}

function parseMetadata(value: unknown): ModelMetadata {
  try {
    return parseWith(ModelMetadataSchema, value, 'See the README for the metadata fields.');
  } catch (error) {
    if (error instanceof ValidationError) throw new ValidationError(error.code, error.message, ['metadata', ...error.path]);
    throw error;
  }
}

/** Artifacts are content-addressed: the same file registered twice is stored once. */
export function artifactKey(model: string, sha256: string): string {
  return `models/${model}/${sha256}.onnx`;
}

export function checkModelName(model: string): void {
  if (!MODEL_NAME_PATTERN.test(model)) {
    throw new ValidationError('INVALID_MODEL_NAME', `"${model.slice(0, 80)}" is not a valid model name: use 1-63 lower-case letters, digits, "-" or "_", starting with a letter or digit.`, ['model']);
  }
}
