/**
 * Registering and publishing model versions: the control plane's core. Talks to ports only.
 * Registration uploads the artifact under a content-addressed key, records its S3 VersionId and
 * sha256, reads the signature from the runtime (never from the caller) and checks the declared
 * features and class labels against it. Gates and the full stage machine build on this.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { ConflictError, NotFoundError, ValidationError, clip, formatPath } from './errors.js';
import {
  MODEL_NAME_PATTERN,
  STAGE_TRANSITIONS,
  type CaptureSettings,
  type ModelMetadata,
  type ModelRecord,
  type ModelSignature,
  type ModelVersion,
  type Stage,
  type StageTransition,
} from './model.js';
import { CAPTURE_SETTINGS_HINT, CaptureSettingsSchema, checkRedaction } from './capture.js';
import type { ArtifactStore, FeatureTableInspector, ModelRegistry, ModelRuntime, PointerChange, VersionChange } from './ports.js';
import { parseWith } from './codec/request.js';
import { experimentState } from './experiments/experiment.js';
import { checkDeclarations, checkDeclaredNames } from './declarations.js';
import { MAX_FEATURE_GROUPS, OnlineFeatureGroupSchema, PredictionCacheSchema, checkFeatureTables } from './features/declaration.js';
import { replayGoldenInputs, runGates, type GoldenFailure, type MetricBaseline } from './gates.js';
import { served } from './predict.js';
import { rewriteZipMap, servedClassLabels } from './onnx/zipmap.js';

const name = z.string().min(1).max(128);

/** A model's data capture as the control plane shows it. */
export type CaptureStatus =
  | { readonly model: string; readonly enabled: false }
  | ({ readonly model: string; readonly enabled: true } & CaptureSettings);

/** A version is one DynamoDB item (400 KB at most); this leaves room for keys and history. */
export const MAX_DESCRIPTION_BYTES = 300_000;

/** What a caller may declare about a version; everything else is read from the file. */
export const ModelMetadataSchema = z.strictObject({
  framework: z.string().max(128).optional(),
  algorithm: z.string().max(256).optional(),
  trainedAt: z.iso
    .date()
    .or(z.iso.datetime({ offset: true }))
    .optional(),
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
  onlineFeatures: z.array(OnlineFeatureGroupSchema).min(1).max(MAX_FEATURE_GROUPS).optional(),
  predictionCache: PredictionCacheSchema.optional(),
  deterministic: z.boolean().optional(),
});

export interface RegisterInput {
  readonly model: string;
  readonly bytes: Uint8Array;
  /** Unvalidated metadata as the caller sent it. */
  readonly metadata: unknown;
  readonly actor: string;
  /**
   * The presigned upload the file came from: one version per upload (409
   * `UPLOAD_ALREADY_REGISTERED` when it made one already; see `UploadService.register`).
   */
  readonly uploadId?: string;
  /**
   * A further check of the version as it would be recorded (signature read, declarations
   * checked, not yet stored), run before the golden inputs; what it throws refuses the
   * registration. The control plane checks a reference profile sent with the file this way.
   */
  readonly check?: (candidate: ModelVersion) => void;
}

export interface RegistryDeps {
  readonly registry: ModelRegistry;
  readonly artifacts: ArtifactStore;
  readonly runtime: ModelRuntime;
  /** Largest artifact accepted, in bytes. */
  readonly maxArtifactBytes: number;
  /** Metrics a model's versions must declare to enter staging or production. @default none */
  readonly baselineFor?: (model: string) => MetricBaseline | undefined;
  /** Checks the tables a version's online features name exist and are keyed as read. @default none: not checked */
  readonly featureTables?: FeatureTableInspector;
  readonly now?: () => Date;
}

export interface TransitionRequest {
  readonly model: string;
  readonly version: string;
  readonly to: Stage;
  readonly actor: string;
  readonly reason?: string;
  /**
   * The model revision the caller read (If-Match): the change applies only if the model is still
   * at it, checked in the conditional write itself. Omitted: the change applies to the state it
   * was planned from (see `RegistryService.transition`).
   */
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
   * Registers a new version in stage `development`: checks the file (size, ONNX Runtime can
   * serve it), the metadata against the file's signature, and replays the metadata's golden
   * inputs on the file as the golden-inputs gate does (`replayGoldenInputs`), all before
   * anything is stored; then stores the file and records the version. A scikit-learn ZipMap
   * output is rewritten first to return its probability tensor (`onnx/zipmap.ts`): the rewritten
   * file is the one checked, stored and served, the ZipMap's labels are the class labels, and
   * the version's `source` records the registered file's sha256 and size.
   *
   * @throws ConflictError (409) `UPLOAD_ALREADY_REGISTERED` when `uploadId` made a version already
   * @throws ValidationError (400) `INVALID_MODEL_NAME`, `EMPTY_ARTIFACT` and `ARTIFACT_TOO_LARGE`
   *   (path `model`, whether the file came inline or from an upload),
   *   `METADATA_TOO_LARGE`, the declaration and runtime codes (`FEATURES_MISMATCH`,
   *   `INVALID_MODEL`, ...), `INVALID_GOLDEN_INPUT` (a golden request the model cannot take,
   *   path `metadata.goldenInputs[i].request...`) and `GOLDEN_MISMATCH` (its predictions differ
   *   from `expected`, path `metadata.goldenInputs[i].expected...`), `ZIPMAP_NOT_REWRITABLE` (path
   *   `model`) and `ZIPMAP_LABELS_MISMATCH` (path `metadata.classLabels`); with `featureTables`,
   *   `FEATURE_TABLE_NOT_FOUND`, `FEATURE_TABLE_MISMATCH`, `FEATURE_TABLE_NOT_ALLOWED` (path
   *   `metadata.onlineFeatures[i].source.table`)
   *
   * @example
   * const version = await service.register({ model: 'iris', bytes, metadata: { features: [...] }, actor: 'alice' });
   * // version.version === '1', version.artifact.sha256 === '<hex>'
   */
  async register(input: RegisterInput): Promise<ModelVersion> {
    checkModelName(input.model);
    // One code and path whichever way the file came (inline or uploaded), as for `INVALID_MODEL`.
    if (input.bytes.byteLength === 0) {
      throw new ValidationError(
        'EMPTY_ARTIFACT',
        `The model file is empty (0 bytes). ${input.uploadId === undefined ? 'Send the .onnx file, base64-encoded, in "modelBase64".' : "PUT the .onnx file to the upload's URL, then register the upload."}`,
        ['model'],
      );
    }
    if (input.bytes.byteLength > this.deps.maxArtifactBytes) {
      throw new ValidationError(
        'ARTIFACT_TOO_LARGE',
        `The model file is ${input.bytes.byteLength} bytes; at most ${this.deps.maxArtifactBytes} are accepted here.`,
        ['model'],
      );
    }
    const declared = parseMetadata(input.metadata ?? {});
    // A scikit-learn ZipMap output is served as its probability tensor (onnx/zipmap.ts): the file
    // checked, stored and served is the rewrite; `source` names the caller's file.
    const zipMap = await rewriteZipMap(input.bytes);
    const bytes = zipMap.bytes;
    const metadata = zipMap.classLabels
      ? { ...declared, classLabels: servedClassLabels(declared.classLabels, zipMap.classLabels) }
      : declared;
    const source = zipMap.rewritten
      ? {
          rewrite: 'zipmap' as const,
          sha256: createHash('sha256').update(input.bytes).digest('hex'),
          sizeBytes: input.bytes.byteLength,
          note: zipMap.note,
        }
      : undefined;
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const key = artifactKey(input.model, sha256);
    const registeredAt = this.now().toISOString();
    const session = await this.deps.runtime.open(bytes);
    let signature: ModelSignature;
    try {
      signature = session.signature;
      checkDeclarations(signature, metadata);
      if (this.deps.featureTables) await checkFeatureTables(metadata, this.deps.featureTables);
      const described = Buffer.byteLength(JSON.stringify({ metadata, signature }), 'utf8');
      if (described > MAX_DESCRIPTION_BYTES) {
        throw new ValidationError(
          'METADATA_TOO_LARGE',
          `Metadata and signature take ${described} bytes; a version record holds at most ${MAX_DESCRIPTION_BYTES}. Shorten the feature names or the description.`,
          ['metadata'],
        );
      }
      // The version as it will be recorded (it has no number yet), served as a promotion would.
      const candidate: ModelVersion = {
        model: input.model,
        version: 'unregistered',
        stage: 'development',
        revision: 0,
        metadata,
        signature,
        artifact: { bucket: this.deps.artifacts.bucket, key, sha256, sizeBytes: bytes.byteLength },
        registeredBy: input.actor,
        registeredAt,
        ...(source ? { source } : {}),
      };
      input.check?.(candidate);
      const failure = await replayGoldenInputs(served(candidate, session), metadata.goldenInputs ?? []);
      if (failure) throw goldenRefusal(failure);
    } finally {
      session.release();
    }
    // The file first, then the version that names it, in one transaction with its number: a
    // registration cut short leaves at most a stored file no version names (content-addressed,
    // so registering it again reuses it), never a version without its file. An object holding
    // these bytes already is kept, never rewritten (`ArtifactStore.put`): other versions name it.
    const stored = await this.deps.artifacts.put(key, bytes);
    return this.deps.registry.createVersion({
      model: input.model,
      metadata,
      signature,
      artifact: {
        bucket: this.deps.artifacts.bucket,
        key: stored.key,
        ...(stored.versionId ? { versionId: stored.versionId } : {}),
        sha256,
        sizeBytes: bytes.byteLength,
      },
      registeredBy: input.actor,
      registeredAt,
      ...(input.uploadId === undefined ? {} : { uploadId: input.uploadId }),
      ...(source ? { source } : {}),
    });
  }

  /** The version registered from upload `uploadId` of `model`, if any. */
  async getVersionByUpload(model: string, uploadId: string): Promise<ModelVersion | undefined> {
    checkModelName(model);
    return this.deps.registry.getVersionByUpload(model, uploadId);
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
    if (!found) throw versionNotFound(model, version);
    return found;
  }

  /**
   * Moves a version to another stage, one step of the stage machine, after the promotion gates
   * (`gates.ts`) pass for staging and production. Promoting to production archives the previous
   * production version and moves the pointer in the same transaction; archiving the version the
   * pointer names clears the pointer. Moving a version to the stage it is in changes nothing.
   *
   * Concurrency: every change is one conditional write on the state it was planned from (the
   * versions' stages and revisions, and the pointer when it moves), and raises the model's
   * revision. With `expectedRevision` (the model revision the caller saw, as with If-Match) the
   * model's revision is part of that condition: of N concurrent changes carrying the same
   * revision exactly one applies, the others get 409 `STALE_REVISION` and nothing of theirs is
   * written. Without it, a change whose planned-from state moved meanwhile gets 409
   * `CONCURRENT_UPDATE`, but two changes can both apply one after the other (the later one
   * planned from the state the first left: the last writer wins), each with its history item.
   *
   * @throws NotFoundError `MODEL_NOT_FOUND`, `VERSION_NOT_FOUND`
   * @throws ConflictError `STALE_REVISION`, `ILLEGAL_TRANSITION`, `CONCURRENT_UPDATE`
   * @throws GateError (422) when a gate refuses a move to staging or production
   *
   * @example
   * await service.transition({ model: 'iris', version: '3', to: 'staging', actor: 'alice', reason: 'offline eval passed', expectedRevision: 7 });
   */
  async transition(request: TransitionRequest): Promise<ModelRecord> {
    const { model, version, to, actor, expectedRevision } = request;
    checkModelName(model);
    // The version is read before the model: when the model's revision still matches after that,
    // the version was in this state already when the caller read that revision.
    const target = await this.deps.registry.getVersion(model, version);
    const record = await this.requireModel(model);
    if (!target) throw versionNotFound(model, version);
    if (expectedRevision !== undefined && expectedRevision !== record.revision)
      throw staleRevision(model, expectedRevision, record.revision);
    if (target.stage === to) return record;
    const allowed = STAGE_TRANSITIONS[target.stage];
    if (!allowed.includes(to)) {
      const options = allowed.length > 0 ? `it can go to ${allowed.join(' or ')}` : 'archived is final';
      throw new ConflictError('ILLEGAL_TRANSITION', `Version ${version} of "${model}" is in ${target.stage}; ${options}, not ${to}.`, [
        'to',
      ]);
    }
    if (to === 'staging' || to === 'production') {
      await runGates(target, {
        artifacts: this.deps.artifacts,
        runtime: this.deps.runtime,
        baselineFor: this.deps.baselineFor ?? (() => undefined),
      });
    }
    const changes: VersionChange[] = [{ version, from: target.stage, to, expectedRevision: target.revision }];
    let pointer: PointerChange | undefined;
    if (to === 'production') {
      const previous =
        record.productionVersion === undefined ? undefined : await this.deps.registry.getVersion(model, record.productionVersion);
      if (previous?.stage === 'production')
        changes.push({ version: previous.version, from: 'production', to: 'archived', expectedRevision: previous.revision });
      pointer = { productionVersion: version, expected: record.productionVersion ?? null };
    } else if (target.stage === 'production' && record.productionVersion === version) {
      // Only the version the pointer names takes the pointer with it: a version left in
      // production by anything else never clears the real production version's pointer.
      pointer = { productionVersion: null, expected: version };
    }
    for (const change of changes) if (change.to === 'archived') checkNotInStudy(record, change.version, this.now());
    await this.deps.registry.applyTransition({
      model,
      changes,
      ...(expectedRevision === undefined ? {} : { expectedRevision }),
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

  /** `GET /v1/models/{model}/capture`: the model's capture settings, `enabled: false` without them. */
  async getCapture(model: string): Promise<CaptureStatus> {
    const record = await this.requireModel(model);
    return record.capture ? { model, enabled: true, ...record.capture } : { model, enabled: false };
  }

  /**
   * `PUT /v1/models/{model}/capture`: turns data capture on, or changes it (see `capture.ts`).
   * Endpoints apply it within their pointer cache (`POINTER_CACHE_MS`) and one request.
   *
   * @throws ValidationError 400 (the body: `CaptureSettingsSchema`; `UNKNOWN_FEATURE` and
   *   `CONFLICTING_FIELDS` from `checkRedaction`); NotFoundError 404 `MODEL_NOT_FOUND`
   */
  async setCapture(model: string, body: unknown, actor: string): Promise<CaptureStatus> {
    await this.requireModel(model);
    const input = parseWith(CaptureSettingsSchema, body, CAPTURE_SETTINGS_HINT);
    checkRedaction(input, await this.deps.registry.listVersions(model));
    const settings: CaptureSettings = { ...input, updatedAt: this.now().toISOString(), updatedBy: actor };
    await this.deps.registry.setCapture(model, settings);
    return { model, enabled: true, ...settings };
  }

  /** `DELETE /v1/models/{model}/capture`: turns data capture off (records already delivered stay until their retention ends). */
  async disableCapture(model: string): Promise<CaptureStatus> {
    await this.requireModel(model);
    await this.deps.registry.setCapture(model, undefined);
    return { model, enabled: false };
  }

  private async requireModel(model: string): Promise<ModelRecord> {
    checkModelName(model);
    const record = await this.deps.registry.getModel(model);
    if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}" is registered.`, ['model']);
    return record;
  }
}

/**
 * The caller's metadata, checked against `ModelMetadataSchema`, and every name it declares
 * against the one rule for names (`checkDeclaredNames`: no `__proto__`, NUL or unpaired surrogate).
 *
 * @throws ValidationError (400) with a path under `metadata`
 */
export function parseMetadata(value: unknown): ModelMetadata {
  // zod copies a record key by key (`out[key] = …`), where an own `__proto__` key vanishes:
  // look for one before it does (the HTTP edge refuses the key in bodies; this covers any caller).
  const protoKey = protoKeyPath(value, []);
  if (protoKey) {
    throw new ValidationError(
      'FORBIDDEN_KEY',
      'The key "__proto__" is not allowed anywhere in metadata: it names nothing, and a stored map would lose it. Rename it.',
      ['metadata', ...protoKey],
    );
  }
  const metadata = parseWith(
    ModelMetadataSchema,
    value,
    'The metadata fields are in docs/registry.md (Register your own ONNX model) and the OpenAPI document (GET /openapi.json).',
    ['metadata'],
  );
  checkDeclaredNames(metadata);
  return metadata;
}

/** The path to the first own `__proto__` key in `value` (depth-first, at most 64 levels deep), if any. */
function protoKeyPath(value: unknown, path: Array<string | number>): Array<string | number> | undefined {
  if (value === null || typeof value !== 'object' || path.length > 64) return undefined;
  if (!Array.isArray(value) && Object.hasOwn(value, '__proto__')) return [...path, '__proto__'];
  for (const [key, child] of Object.entries(value)) {
    const found = protoKeyPath(child, [...path, Array.isArray(value) ? Number(key) : clip(key, 64)]);
    if (found) return found;
  }
  return undefined;
}

/** A golden input the file does not reproduce: the caller's metadata to correct (400). */
function goldenRefusal(failure: GoldenFailure): ValidationError {
  const path = ['metadata', 'goldenInputs', failure.index, failure.part, ...failure.path];
  if (failure.part === 'request') {
    return new ValidationError(
      'INVALID_GOLDEN_INPUT',
      `Golden input ${failure.index} cannot be served by this model${failure.code ? ` (${failure.code})` : ''}: ${sentence(failure.message)} Correct its "request" to fit the model's inputs.`,
      path,
    );
  }
  return new ValidationError(
    'GOLDEN_MISMATCH',
    `Golden input ${failure.index} does not reproduce its expected output: ${formatPath(['expected', ...failure.path])} ${failure.message}. "expected" must be the predictions the API answers for "request".`,
    path,
  );
}

/** `text` ending in a full stop (or the ? or ! it ends with), so that another sentence can follow. */
export function sentence(text: string): string {
  const trimmed = text.trimEnd();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function versionNotFound(model: string, version: string): NotFoundError {
  return new NotFoundError('VERSION_NOT_FOUND', `Model "${model}" has no version ${version}.`, ['version']);
}

function staleRevision(model: string, expected: number, current: number): ConflictError {
  return new ConflictError(
    'STALE_REVISION',
    `Model "${model}" is at revision ${current}, not ${expected}: it changed since you read it. Read it again and retry.`,
    ['expectedRevision'],
  );
}

/** Artifacts are content-addressed: the same file registered twice is stored once. */
export function artifactKey(model: string, sha256: string): string {
  return `models/${model}/${sha256}.onnx`;
}

export function checkModelName(model: string): void {
  if (!MODEL_NAME_PATTERN.test(model)) {
    throw new ValidationError(
      'INVALID_MODEL_NAME',
      `"${model.slice(0, 80)}" is not a valid model name: use 1-63 lower-case letters, digits, "-" or "_", starting with a letter or digit.`,
      ['model'],
    );
  }
}

/**
 * 409 `VERSION_IN_EXPERIMENT` when `version` serves a variant of the model's experiment (running
 * or scheduled) or is its shadow test's candidate: archiving takes a version out of service, which
 * would stop serving those units in the middle of the experiment.
 */
function checkNotInStudy(record: ModelRecord, version: string, now: Date): void {
  const experiment = record.experiment;
  const state = experiment ? experimentState(experiment, now.getTime()) : undefined;
  const variant =
    experiment && (state === 'running' || state === 'scheduled') ? experiment.variants.find((v) => v.version === version) : undefined;
  if (experiment && variant) {
    throw new ConflictError(
      'VERSION_IN_EXPERIMENT',
      `Version ${version} of "${record.model}" serves variant "${variant.name}" of experiment ${experiment.id}, which would be archived by this change; stop the experiment (or promote its winner) first.`,
      ['version'],
    );
  }
  if (record.shadow?.version === version) {
    throw new ConflictError(
      'VERSION_IN_EXPERIMENT',
      `Version ${version} of "${record.model}" is the candidate of shadow test ${record.shadow.id}, which would be archived by this change; stop the shadow test first (DELETE /v1/models/${record.model}/shadow).`,
      ['version'],
    );
  }
}
