/**
 * Drift detection for a model (issue 13, item 3): the captured inputs and outputs of a window
 * (`functions/core/capture.ts`) compared with the reference profile registered with the version
 * that served them (`profile.ts`), feature by feature and prediction column by prediction column
 * (`report.ts` holds the statistics and the decision rule). Run on a schedule (an EventBridge rule
 * on AWS, a timer in `npm start`) and on demand (`POST /v1/models/{model}/drift`); every run's
 * report is stored, the newest served by `GET /v1/models/{model}/drift`, and summarized as
 * metrics (`DriftedFeatures`, `DriftedPredictions`, `MaxPSI`) with an alarm per model on AWS.
 * Talks to ports only.
 */
import { AppError, ConflictError, NotFoundError, ValidationError, clip } from '../errors.js';
import { didYouMean } from '../messages.js';
import type { ModelVersion } from '../model.js';
import type { CaptureReader, DriftReportStore, ModelRegistry, ReferenceProfileStore } from '../ports.js';
import type { CaptureRecord } from '../capture.js';
import { classifierView } from '../codec/encode.js';
import { LABEL_COLUMN, MAX_PREDICTION_WIDTH, predictionColumns, probabilityColumn, type CapturedTensorLike } from './predictions.js';
import { driftReport, type DriftReport, type DriftThresholds } from './report.js';
import type { ReferenceProfile } from './profile.js';
import { parseReferenceProfile } from './profile-schema.js';

/** Default window a run compares: the last 24 hours. */
export const DEFAULT_DRIFT_WINDOW_MINUTES = 1_440;
/** Longest window: 30 days (the capture bucket keeps records 30 days by default). */
export const MAX_DRIFT_WINDOW_MINUTES = 43_200;
/** Default bound on the records one run reads (the newest are kept). */
export const DEFAULT_DRIFT_MAX_RECORDS = 10_000;

/** What started a run. */
export type DriftTrigger = 'schedule' | 'on-demand';

/** A run's report as stored and served. */
export interface StoredDriftReport extends DriftReport {
  readonly model: string;
  /** The version whose captured traffic and reference profile were compared. */
  readonly modelVersion: string;
  /** ISO-8601 UTC: when the run was made. */
  readonly createdAt: string;
  readonly trigger: DriftTrigger;
  /** The window of captured traffic: `from` included, `to` excluded, ISO-8601 UTC. */
  readonly window: { readonly from: string; readonly to: string; readonly minutes: number };
  /** Captured requests read, and whether more were left out past the bound (the newest were kept). */
  readonly records: number;
  readonly capped: boolean;
  /**
   * Features (and outputs) that capture dropped or hashed in any record of the window: left out
   * of the comparison (a dropped value would count as missing, a digest as a new category), so
   * redaction never reads as drift.
   */
  readonly redacted: { readonly dropped: readonly string[]; readonly hashed: readonly string[] };
  /**
   * Whether any column was judged (enough live rows, and reference values to compare with):
   * `false` (too few captured rows, none at all, every column redacted) means the report says
   * nothing either way, which `drifted: false` alone would hide.
   */
  readonly judged: boolean;
}

export interface DriftRunRequest {
  /** Minutes of traffic before now, 1 to {@link MAX_DRIFT_WINDOW_MINUTES}. @default 1440 */
  readonly minutes?: number;
  /** The version to judge. @default the production version */
  readonly version?: string;
  readonly trigger?: DriftTrigger;
}

export interface DriftServiceDeps {
  readonly registry: Pick<ModelRegistry, 'getModel' | 'getVersion'>;
  readonly profiles: ReferenceProfileStore;
  /** Captured traffic and where reports go (`CAPTURE_BUCKET`); without them runs answer 501 `CAPTURE_NOT_CONFIGURED`. */
  readonly capture?: CaptureReader;
  readonly reports?: DriftReportStore;
  /** Told about every stored report (the drift function emits its metrics). @default nothing */
  readonly onReport?: (report: StoredDriftReport) => void;
  readonly thresholds?: Partial<DriftThresholds>;
  /** @default {@link DEFAULT_DRIFT_MAX_RECORDS} */
  readonly maxRecords?: number;
  readonly now?: () => Date;
}

export class DriftService {
  private readonly now: () => Date;

  constructor(private readonly deps: DriftServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Compares the last `minutes` of the version's captured traffic with its reference profile,
   * stores the report and returns it. A window with too few captured rows gives a report whose
   * columns say `too-few-rows`, not an error.
   *
   * @throws NotFoundError 404 `MODEL_NOT_FOUND`, `VERSION_NOT_FOUND`, `NO_PRODUCTION_VERSION`;
   *   ConflictError 409 `NO_REFERENCE_PROFILE` (the version has no profile to compare with);
   *   ValidationError 400 `INVALID_WINDOW`
   */
  async run(model: string, request: DriftRunRequest = {}): Promise<StoredDriftReport> {
    const minutes = request.minutes ?? DEFAULT_DRIFT_WINDOW_MINUTES;
    if (!(Number.isInteger(minutes) && minutes >= 1 && minutes <= MAX_DRIFT_WINDOW_MINUTES)) {
      throw new ValidationError(
        'INVALID_WINDOW',
        `"minutes" must be a whole number of minutes from 1 to ${MAX_DRIFT_WINDOW_MINUTES} (30 days).`,
        ['minutes'],
      );
    }
    const { capture, reports } = this.stores();
    const version = await this.version(model, request.version);
    const profile = await this.deps.profiles.get(model, version.version);
    if (!profile) {
      throw new ConflictError(
        'NO_REFERENCE_PROFILE',
        `Model "${model}" version ${version.version} has no reference profile to compare its traffic with. Compute one from the training data (modelctl profile train.csv --model model.onnx) and upload it: PUT /v1/models/${model}/versions/${version.version}/profile, or modelctl profile ... --upload ${model}@${version.version}.`,
        ['version'],
      );
    }
    const now = this.now();
    const to = now.toISOString();
    const from = new Date(now.getTime() - minutes * 60_000).toISOString();
    const read = await capture.read({
      model,
      versions: [version.version],
      from,
      to,
      maxRecords: this.deps.maxRecords ?? DEFAULT_DRIFT_MAX_RECORDS,
    });
    const live = liveColumns(read.records, version);
    const compared = driftReport(profile, { features: live.features, predictions: live.predictions }, this.deps.thresholds);
    const report: StoredDriftReport = {
      model,
      modelVersion: version.version,
      createdAt: to,
      trigger: request.trigger ?? 'on-demand',
      window: { from, to, minutes },
      records: read.records.length,
      capped: read.capped,
      redacted: live.redacted,
      judged: compared.results.some((r) => r.status === 'compared' && r.psi !== null),
      ...compared,
    };
    await reports.put(report);
    this.deps.onReport?.(report);
    return report;
  }

  /**
   * The newest stored report of `version`; without it, of the production version (when it has
   * one), else of any version.
   *
   * @throws NotFoundError 404 `MODEL_NOT_FOUND`, `VERSION_NOT_FOUND`, `NO_DRIFT_REPORT`
   */
  async latest(model: string, version?: string): Promise<StoredDriftReport> {
    const { reports } = this.stores();
    const record = await this.deps.registry.getModel(model);
    if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}" is registered.`, ['model']);
    if (version !== undefined && !(await this.deps.registry.getVersion(model, version))) {
      throw new NotFoundError('VERSION_NOT_FOUND', `Model "${model}" has no version ${version}.`, ['query', 'version']);
    }
    const wanted = version ?? record.productionVersion;
    const report =
      (wanted === undefined ? undefined : await reports.latest(model, wanted)) ??
      (version === undefined ? await reports.latest(model) : undefined);
    if (!report) {
      const which = version === undefined ? `Model "${model}"` : `Model "${model}" version ${version}`;
      throw new NotFoundError(
        'NO_DRIFT_REPORT',
        `${which} has no drift report yet: turn capture on (PUT /v1/models/${model}/capture), register a reference profile, and run one (POST /v1/models/${model}/drift, or modelctl drift ${model} --run), or wait for the schedule.`,
        ['model'],
      );
    }
    return report;
  }

  /**
   * `PUT /v1/models/{model}/versions/{version}/profile`: stores the version's reference profile
   * (replacing one it had). Returns a summary.
   *
   * @throws ValidationError 400 `INVALID_PROFILE` (`parseReferenceProfile`), `UNKNOWN_FEATURE`
   *   (a profiled feature the version neither declares nor takes as an input; path
   *   `["features", name]`); NotFoundError 404 `MODEL_NOT_FOUND`, `VERSION_NOT_FOUND`
   */
  async putProfile(model: string, versionId: string, body: unknown): Promise<ProfileSummary> {
    const version = await this.version(model, versionId);
    const profile = parseReferenceProfile(body, []);
    checkProfiledNames(profile, version);
    return this.storeProfile(model, version.version, profile);
  }

  /**
   * Stores a profile already checked against its version (`parseReferenceProfile`,
   * `checkProfiledNames`: a registration checks the one sent with the file before the version
   * exists). Returns a summary.
   */
  async storeProfile(model: string, version: string, profile: ReferenceProfile): Promise<ProfileSummary> {
    await this.deps.profiles.put(model, version, profile);
    return profileSummary(model, version, profile);
  }

  /**
   * `GET /v1/models/{model}/versions/{version}/profile`: the version's reference profile.
   *
   * @throws NotFoundError 404 `MODEL_NOT_FOUND`, `VERSION_NOT_FOUND`, `NO_REFERENCE_PROFILE`
   */
  async getProfile(model: string, versionId: string): Promise<ReferenceProfile> {
    const version = await this.version(model, versionId);
    const profile = await this.deps.profiles.get(model, version.version);
    if (!profile)
      throw new NotFoundError(
        'NO_REFERENCE_PROFILE',
        `Model "${model}" version ${version.version} has no reference profile; PUT one (modelctl profile train.csv --model model.onnx --upload ${model}@${version.version}).`,
        ['version'],
      );
    return profile;
  }

  private stores(): { capture: CaptureReader; reports: DriftReportStore } {
    const { capture, reports } = this.deps;
    if (!capture || !reports)
      throw new AppError(
        501,
        'CAPTURE_NOT_CONFIGURED',
        'Drift detection needs the capture bucket (CAPTURE_BUCKET), which this deployment does not configure.',
      );
    return { capture, reports };
  }

  private async version(model: string, requested: string | undefined): Promise<ModelVersion> {
    const record = await this.deps.registry.getModel(model);
    if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}" is registered.`, ['model']);
    const number = requested ?? record.productionVersion;
    if (number === undefined)
      throw new NotFoundError(
        'NO_PRODUCTION_VERSION',
        `Model "${model}" has no production version; name the version to judge ("version").`,
        ['version'],
      );
    const version = await this.deps.registry.getVersion(model, number);
    if (!version) throw new NotFoundError('VERSION_NOT_FOUND', `Model "${model}" has no version ${number}.`, ['version']);
    return version;
  }
}

/** What `putProfile` answers. */
export interface ProfileSummary {
  readonly model: string;
  readonly version: string;
  readonly rows: number;
  readonly features: readonly string[];
  readonly predictions: readonly string[];
}

function profileSummary(model: string, version: string, profile: ReferenceProfile): ProfileSummary {
  return {
    model,
    version,
    rows: profile.rows,
    features: Object.keys(profile.features),
    predictions: Object.keys(profile.predictions ?? {}),
  };
}

/**
 * Every profiled feature must be one the version declares or an input it takes.
 *
 * @throws ValidationError 400 `UNKNOWN_FEATURE`, path `[...at, "features", name]`
 */
export function checkProfiledNames(
  profile: ReferenceProfile,
  version: Pick<ModelVersion, 'metadata' | 'signature' | 'model' | 'version'>,
  at: readonly (string | number)[] = [],
): void {
  const known = new Set([...(version.metadata.features ?? []), ...version.signature.inputs.map((i) => i.name)]);
  const which = `model "${version.model}"${version.version === 'unregistered' ? '' : ` version ${version.version}`}`;
  for (const name of Object.keys(profile.features)) {
    if (!known.has(name)) {
      throw new ValidationError(
        'UNKNOWN_FEATURE',
        `The profile has feature ${JSON.stringify(clip(name, 60))}${didYouMean(name, known)}, which ${which} neither declares nor takes as an input: a profile of other data would report drift that is not there. Profile the columns the model reads (modelctl profile --features ...).`,
        [...at, 'features', clip(name, 60)],
      );
    }
  }
  const predicts = predictionColumnNames(version);
  for (const name of Object.keys(profile.predictions ?? {})) {
    if (!predicts(name)) {
      throw new ValidationError(
        'UNKNOWN_FEATURE',
        `The profile has prediction column ${JSON.stringify(clip(name, 60))}, which ${which} does not make from its outputs (a classifier's "label" and "probability[<class label>]", an output's name, or "<output>[j]"). Profile the predictions with modelctl profile --model on this model's file.`,
        [...at, 'predictions', clip(name, 60)],
      );
    }
  }
  if (profile.rows === 0) {
    throw new ValidationError(
      'INVALID_PROFILE',
      'The profile was made from no rows, so drift would compare live traffic with nothing; profile the training data.',
      [...at, 'rows'],
    );
  }
  if (Object.keys(profile.features).length + Object.keys(profile.predictions ?? {}).length === 0) {
    throw new ValidationError(
      'INVALID_PROFILE',
      'The profile has no feature and no prediction column, so drift could judge nothing against it.',
      [...at, 'features'],
    );
  }
}

/**
 * Whether `name` is a prediction column the version can make (`predictions.ts`): the
 * classifier's `label` and `probability[<class label>]`, an output of shape `[N]` or `[N, 1]` by
 * its name, and `<output>[j]` for j below a static width of at most `MAX_PREDICTION_WIDTH` (any
 * j when the width is dynamic).
 */
function predictionColumnNames(version: Pick<ModelVersion, 'metadata' | 'signature'>): (name: string) => boolean {
  const names = new Set<string>();
  const classifier = classifierView(version.signature, version.metadata);
  if (classifier) {
    names.add(LABEL_COLUMN);
    for (const label of classifier.labels) names.add(probabilityColumn(label));
  }
  const dynamic = new Set<string>();
  for (const output of version.signature.outputs) {
    const width = output.shape[1];
    if (output.shape.length === 1 || (output.shape.length === 2 && width === 1)) names.add(output.name);
    else if (output.shape.length === 2 && typeof width === 'number')
      for (let j = 0; j < Math.min(width, MAX_PREDICTION_WIDTH); j++) names.add(`${output.name}[${j}]`);
    else if (output.shape.length === 2) {
      dynamic.add(output.name);
      names.add(output.name);
    }
  }
  return (name) => {
    if (names.has(name)) return true;
    const match = /^(.*)\[(\d{1,2})\]$/.exec(name);
    return match !== null && dynamic.has(match[1] as string) && Number(match[2]) < MAX_PREDICTION_WIDTH;
  };
}

/**
 * The captured records' values as columns: each feature's values in record order, and the
 * prediction columns (`predictions.ts`) of their outputs. Features the records hash are left
 * out (their values are digests, never the reference's), and so are outputs a record was too
 * large to keep.
 */
export function liveColumns(
  records: readonly CaptureRecord[],
  version: Pick<ModelVersion, 'signature' | 'metadata'>,
): {
  features: Record<string, unknown[]>;
  predictions: Record<string, unknown[]>;
  redacted: { dropped: string[]; hashed: string[] };
} {
  const classifier = classifierView(version.signature, version.metadata);
  const features: Record<string, unknown[]> = Object.create(null) as Record<string, unknown[]>;
  const predictions: Record<string, unknown[]> = Object.create(null) as Record<string, unknown[]>;
  // A name redacted in any record of the window is left out whole: records captured before a
  // redaction was added still hold it, and mixing them would read as missing values.
  const dropped = new Set<string>();
  const hashed = new Set<string>();
  for (const record of records) {
    for (const name of record.redaction?.dropped ?? []) dropped.add(name);
    for (const name of record.redaction?.hashed ?? []) hashed.add(name);
  }
  const redacted = (name: string) => dropped.has(name) || hashed.has(name);
  let rows = 0;
  for (const record of records) {
    const kept = record.capturedRows;
    for (const [name, values] of Object.entries(record.features ?? {})) {
      if (redacted(name)) continue;
      const column = (features[name] ??= new Array<unknown>(rows).fill(undefined));
      for (let r = 0; r < kept; r++) column.push(values[r]);
    }
    const outputs: Record<string, CapturedTensorLike> = {};
    for (const [name, tensor] of Object.entries(record.outputs))
      if (tensor.data && !redacted(name)) outputs[name] = { datatype: tensor.datatype, shape: tensor.shape, data: tensor.data };
    for (const [name, values] of Object.entries(predictionColumns(outputs, kept, classifier))) {
      const column = (predictions[name] ??= new Array<unknown>(rows).fill(undefined));
      column.push(...values);
    }
    rows += kept;
    // A column a record lacked is missing for its rows.
    for (const column of [...Object.values(features), ...Object.values(predictions)]) while (column.length < rows) column.push(undefined);
  }
  return { features, predictions, redacted: { dropped: [...dropped].sort(), hashed: [...hashed].sort() } };
}
