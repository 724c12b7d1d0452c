/**
 * The experiments API (issue 14): start, read (with the analysis), list, stop, record outcomes,
 * and promote a winner. Talks to ports only: the registry (the model and its versions), the
 * experiment store, the prediction log's study index, the router (is a release in progress?) and
 * the release service (promoting a winner starts a release of it).
 */
import { onlinePlan } from '../features/online.js';
import { parseWith } from '../codec/request.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import type { ModelRecord, ModelVersion } from '../model.js';
import { studyKey, type ExperimentStore, type ModelRegistry, type StudyReader, type TrafficRouter } from '../ports.js';
import { inProgress, type PromoteRequest, type PromoteResult } from '../release.js';
import { newTimeSortedId } from '../names.js';
import { assignVariant, unitId } from './assignment.js';
import { analyzeExperiment, type ExperimentAnalysis } from './analysis.js';
import {
  checkNoStudy,
  experimentState,
  MAX_EXPERIMENT_DAYS,
  type Experiment,
  type ExperimentState,
  type RecordedOutcome,
} from './experiment.js';
import { EXPERIMENT_HINT, ExperimentRequestSchema, OUTCOME_HINT, OutcomeRequestSchema } from './schemas.js';

/** Most prediction-log records one analysis reads (the oldest are kept). */
export const MAX_ANALYZED_REQUESTS = 1_000_000;
/** Most outcomes one analysis reads. */
export const MAX_ANALYZED_OUTCOMES = 1_000_000;

export interface ExperimentDeps {
  readonly registry: Pick<ModelRegistry, 'getModel' | 'listVersions'>;
  readonly store: ExperimentStore;
  readonly studies: StudyReader;
  readonly router: Pick<TrafficRouter, 'getRouting'>;
  /** Starts the release of a winner (`ReleaseService.promote`). */
  readonly promote: (request: PromoteRequest) => Promise<PromoteResult>;
  /** Whether that release would pass its checks, changing nothing (`ReleaseService.check`). */
  readonly checkPromotion: (request: PromoteRequest) => Promise<void>;
  readonly now?: () => Date;
}

/** An experiment as the API answers it: as stored, with its state. */
export type ExperimentView = Experiment & { readonly state: ExperimentState };

/** The body of `POST .../stop` and `POST .../promote-winner`. */
export interface StopRequest {
  readonly reason?: string;
}

/** How `promoteWinner` releases the winner: the release API's own options. */
export interface WinnerRelease {
  readonly canaryPercent?: number;
  readonly managed?: PromoteRequest['managed'];
  readonly reason?: string;
}

export class ExperimentService {
  private readonly now: () => Date;

  constructor(private readonly deps: ExperimentDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * `POST /v1/models/{model}/experiments`: checks the variants' versions (registered, not
   * archived), that no release, experiment or shadow test is under way, and starts it.
   *
   * @throws ValidationError 400 (the body, `ExperimentRequestSchema`; `INVALID_TIME` for an end
   *   before the start or past a year); NotFoundError 404 `MODEL_NOT_FOUND`, `VERSION_NOT_FOUND`
   *   (path `variants[i].version`); ConflictError 409 `VERSION_ARCHIVED`, `NOT_IN_STAGING` (a
   *   development version), `VARIANTS_INCOMPATIBLE` (other inputs or features than the
   *   control's), `RELEASE_IN_PROGRESS`,
   *   `EXPERIMENT_RUNNING`, `SHADOW_RUNNING`, `STUDY_CONFLICT` (lost a race)
   */
  async start(model: string, body: unknown, actor: string): Promise<ExperimentView> {
    const request = parseWith(ExperimentRequestSchema, body, EXPERIMENT_HINT);
    const now = this.now();
    const startsAt = request.startsAt === undefined ? now : new Date(request.startsAt);
    if (request.startsAt !== undefined && startsAt.getTime() < now.getTime() - 60_000) {
      throw new ValidationError('INVALID_TIME', `"startsAt" (${request.startsAt}) is in the past; leave it out to start now.`, [
        'startsAt',
      ]);
    }
    const endsAt = request.endsAt === undefined ? undefined : new Date(request.endsAt);
    if (endsAt && endsAt.getTime() <= startsAt.getTime()) {
      throw new ValidationError('INVALID_TIME', `"endsAt" (${request.endsAt}) must be after the start (${startsAt.toISOString()}).`, [
        'endsAt',
      ]);
    }
    if (endsAt && endsAt.getTime() - startsAt.getTime() > MAX_EXPERIMENT_DAYS * 86_400_000) {
      throw new ValidationError('INVALID_TIME', `An experiment runs at most ${MAX_EXPERIMENT_DAYS} days; "endsAt" is later than that.`, [
        'endsAt',
      ]);
    }
    const record = await this.model(model);
    const versions = new Map((await this.deps.registry.listVersions(model)).map((v) => [v.version, v]));
    const served = request.variants.map((variant, i) => {
      const version = versions.get(variant.version);
      if (!version)
        throw new NotFoundError(
          'VERSION_NOT_FOUND',
          `Model "${model}" has no version ${variant.version}; register it first (variant "${variant.name}").`,
          ['variants', i, 'version'],
        );
      if (version.stage === 'archived')
        throw new ConflictError(
          'VERSION_ARCHIVED',
          `Version ${variant.version} of "${model}" is archived: it is out of service and cannot serve variant "${variant.name}".`,
          ['variants', i, 'version'],
        );
      // Live traffic goes only to versions that passed the gates, as a release's canary must.
      if (version.stage === 'development') {
        throw new ConflictError(
          'NOT_IN_STAGING',
          `Version ${variant.version} of "${model}" is in development: a variant serves live callers, so its version must pass the gates first. Move it to staging (POST /v1/models/${model}/versions/${variant.version}/stage {"to": "staging"}).`,
          ['variants', i, 'version'],
        );
      }
      return version;
    });
    // Every variant must answer the requests the control answers: the same inputs, and the same
    // declared features (a record naming a feature a version lacks is refused as UNKNOWN_FEATURE).
    const [control, ...treatments] = served;
    treatments.forEach((version, j) => {
      const mismatch = control ? requestMismatch(control, version) : undefined;
      if (mismatch) {
        throw new ConflictError(
          'VARIANTS_INCOMPATIBLE',
          `Version ${version.version} (variant "${request.variants[j + 1]?.name}") cannot answer the requests version ${control?.version} (the control) answers: ${mismatch}. Callers would get errors from one variant only; test such a version with a shadow test first.`,
          ['variants', j + 1, 'version'],
        );
      }
    });
    const replacing = checkNoStudy(record, now.getTime());
    const { routing, versions: functionVersions } = await this.deps.router.getRouting(model);
    if (routing.canary) throw inProgress(model, routing, functionVersions);
    const experiment: Experiment = {
      id: newTimeSortedId('exp', now),
      model,
      ...(request.name !== undefined ? { name: request.name } : {}),
      ...(request.description !== undefined ? { description: request.description } : {}),
      variants: request.variants,
      assignmentKey: request.assignmentKey,
      metric: request.metric,
      goal: request.goal,
      significanceLevel: request.significanceLevel,
      minimumSample: request.minimumSample,
      startsAt: startsAt.toISOString(),
      ...(endsAt ? { endsAt: endsAt.toISOString() } : {}),
      createdAt: now.toISOString(),
      createdBy: actor,
    };
    await this.deps.store.start(experiment, replacing);
    return this.view(experiment);
  }

  /** `GET /v1/models/{model}/experiments`: newest first. */
  async list(model: string): Promise<{ model: string; experiments: ExperimentView[] }> {
    await this.model(model);
    return { model, experiments: (await this.deps.store.list(model)).map((e) => this.view(e)) };
  }

  /**
   * `GET /v1/models/{model}/experiments/{experiment}`: the experiment with its analysis.
   *
   * @throws NotFoundError 404 `MODEL_NOT_FOUND`, `EXPERIMENT_NOT_FOUND`
   */
  async analysis(model: string, id: string): Promise<ExperimentAnalysis> {
    const experiment = await this.experiment(model, id);
    const [log, recorded] = await Promise.all([
      this.deps.studies.read(studyKey('experiment', model, id), MAX_ANALYZED_REQUESTS),
      this.deps.store.listOutcomes(model, id, MAX_ANALYZED_OUTCOMES),
    ]);
    const exposures = log.records.flatMap((r) => (r.experiment ? [{ variant: r.experiment.variant, unit: r.experiment.unit }] : []));
    return analyzeExperiment({
      experiment,
      state: experimentState(experiment, this.now().getTime()),
      exposures,
      outcomes: recorded.outcomes,
      capped: log.capped || recorded.capped,
      now: this.now(),
    });
  }

  /**
   * `POST /v1/models/{model}/experiments/{experiment}/stop`: requests are no longer assigned
   * (within the endpoints' pointer cache time); outcomes may still be recorded.
   *
   * @throws 404 `MODEL_NOT_FOUND`, `EXPERIMENT_NOT_FOUND`; 409 `EXPERIMENT_STOPPED`
   */
  async stop(model: string, id: string, body: unknown, actor: string): Promise<ExperimentView> {
    const reason = optionalReason(body);
    await this.experiment(model, id);
    const stopped = await this.deps.store.stop(model, id, {
      stoppedAt: this.now().toISOString(),
      stoppedBy: actor,
      ...(reason !== undefined ? { stopReason: reason } : {}),
    });
    return this.view(stopped);
  }

  /**
   * `POST /v1/models/{model}/experiments/{experiment}/outcomes`: records an outcome for a request
   * the experiment served (`requestId`) or for a unit (`key`, plus `outcomeId` for more than one
   * per unit). Idempotent: the same identity with the same value again answers the stored outcome
   * (`created: false`); with another value, 409.
   *
   * @throws ValidationError 400 (the body; `INVALID_OUTCOME` for a conversion other than 0 or 1);
   *   404 `MODEL_NOT_FOUND`, `EXPERIMENT_NOT_FOUND`, `REQUEST_NOT_FOUND` (path `requestId`: no
   *   such request in the prediction log, or not one of this experiment's); 409
   *   `EXPERIMENT_NOT_STARTED`, `OUTCOME_CONFLICT`
   */
  async recordOutcome(model: string, id: string, body: unknown, actor: string): Promise<{ created: boolean; outcome: RecordedOutcome }> {
    const request = parseWith(OutcomeRequestSchema, body, OUTCOME_HINT);
    const experiment = await this.experiment(model, id);
    if (experiment.metric === 'conversion' && request.value !== 0 && request.value !== 1) {
      throw new ValidationError('INVALID_OUTCOME', `Experiment "${id}" measures conversions: "value" is 0 or 1, not ${request.value}.`, [
        'value',
      ]);
    }
    if (experimentState(experiment, this.now().getTime()) === 'scheduled') {
      throw new ConflictError(
        'EXPERIMENT_NOT_STARTED',
        `Experiment "${id}" starts at ${experiment.startsAt}; it has served nothing to record an outcome for.`,
        ['experiment'],
      );
    }
    let outcome: RecordedOutcome;
    const recordedAt = this.now().toISOString();
    if (request.requestId !== undefined) {
      const served = await this.deps.studies.get(request.requestId);
      if (!served?.experiment || served.experiment.id !== id) {
        throw new NotFoundError(
          'REQUEST_NOT_FOUND',
          `Request "${clipId(request.requestId)}" was not served by experiment "${id}"${served ? '' : ' (no request with that id is in the prediction log; its record is written within a second of the answer, so retry shortly if it was just served)'}.`,
          ['requestId'],
        );
      }
      outcome = {
        identity: `request:${request.requestId}`,
        variant: served.experiment.variant,
        unit: served.experiment.unit,
        requestId: request.requestId,
        value: request.value,
        recordedAt,
        recordedBy: actor,
      };
    } else {
      const key = request.key ?? '';
      const unit = unitId(key);
      const variant = assignVariant(experiment.id, key, experiment.variants);
      outcome = {
        identity: `key:${unit}:${request.outcomeId ?? ''}`,
        variant: variant.name,
        unit,
        value: request.value,
        recordedAt,
        recordedBy: actor,
      };
    }
    const write = await this.deps.store.putOutcome(model, id, outcome);
    if (write.created) return { created: true, outcome };
    if (write.existing.value !== outcome.value) {
      throw new ConflictError(
        'OUTCOME_CONFLICT',
        `An outcome of ${write.existing.value} was recorded for this ${request.requestId !== undefined ? 'request' : 'key and outcomeId'} at ${write.existing.recordedAt}; an outcome is recorded once.${request.key !== undefined ? ' Give each further outcome of a unit its own "outcomeId".' : ''}`,
        [request.requestId !== undefined ? 'requestId' : 'key'],
      );
    }
    return { created: false, outcome: write.existing };
  }

  /**
   * `POST /v1/models/{model}/experiments/{experiment}/promote-winner`: stops the experiment (if it
   * still runs) and starts a release of the winner, as `release` asks (all the traffic by
   * default; a canary or a managed release like `POST .../release`). A winner that is the
   * production version already needs no release.
   *
   * @throws 409 `NO_WINNER` (with the analysis's decision), and the release's own errors
   *   (`NOT_IN_STAGING`, a gate's failure, `INVALID_WEIGHT`, ...), checked before the experiment
   *   stops, so a refused release leaves it running
   */
  async promoteWinner(
    model: string,
    id: string,
    release: WinnerRelease,
    actor: string,
  ): Promise<{ analysis: ExperimentAnalysis; stopped: boolean; release: PromoteResult['release'] | null }> {
    const analysis = await this.analysis(model, id);
    if (!analysis.winner)
      throw new ConflictError('NO_WINNER', `Experiment "${id}" has no winner to promote. ${analysis.decision}`, ['experiment']);
    const promotion: PromoteRequest = {
      model,
      version: analysis.winner.version,
      ...(release.canaryPercent !== undefined ? { canaryPercent: release.canaryPercent } : {}),
      ...(release.managed !== undefined ? { managed: release.managed } : {}),
      actor,
      reason: release.reason ?? `winner of experiment ${id}: ${analysis.decision}`,
    };
    const before = await this.model(model);
    // The release is checked before the experiment stops: a release that would be refused (the
    // winner not in staging, a gate, a bad weight) leaves the experiment running.
    if (before.productionVersion !== analysis.winner.version) await this.deps.checkPromotion(promotion);
    let stopped = false;
    if (analysis.experiment.state === 'running' || analysis.experiment.state === 'scheduled') {
      await this.deps.store.stop(model, id, {
        stoppedAt: this.now().toISOString(),
        stoppedBy: actor,
        stopReason: `winner ${analysis.winner.variant} (version ${analysis.winner.version}) promoted`,
      });
      stopped = true;
    } else if (analysis.experiment.state === 'ended') {
      // The end time passed: take it off the model's record so that a release may start.
      await this.deps.store
        .stop(model, id, { stoppedAt: this.now().toISOString(), stoppedBy: actor, stopReason: 'ended; winner promoted' })
        .catch((error: unknown) => {
          if (!(error instanceof ConflictError && error.code === 'EXPERIMENT_STOPPED')) throw error;
        });
    }
    const record = await this.model(model);
    if (record.productionVersion === analysis.winner.version) return { analysis, stopped, release: null };
    const result = await this.deps.promote(promotion);
    return { analysis, stopped, release: result.release };
  }

  /** The stored experiment, or 404. */
  async experiment(model: string, id: string): Promise<Experiment> {
    const experiment = await this.deps.store.get(model, id);
    if (experiment) return experiment;
    await this.model(model);
    throw new NotFoundError(
      'EXPERIMENT_NOT_FOUND',
      `Model "${model}" has no experiment "${id}"; GET /v1/models/${model}/experiments lists them.`,
      ['experiment'],
    );
  }

  private async model(model: string): Promise<ModelRecord> {
    const record = await this.deps.registry.getModel(model);
    if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}".`, ['model']);
    return record;
  }

  private view(experiment: Experiment): ExperimentView {
    return { ...experiment, state: experimentState(experiment, this.now().getTime()) };
  }
}

/**
 * Why `other` cannot take the requests `control` takes, or `undefined` when it can: the same input
 * names and element types, and the same declared features (as a set; the order is each version's own).
 */
function requestMismatch(control: ModelVersion, other: ModelVersion): string | undefined {
  const inputs = (v: ModelVersion) =>
    v.signature.inputs
      .map((i) => `${i.name}:${i.type}`)
      .sort()
      .join(', ');
  if (inputs(control) !== inputs(other)) return `its inputs are [${clipId(inputs(other))}], the control's [${clipId(inputs(control))}]`;
  const features = (v: ModelVersion) => [...(v.metadata.features ?? [])].sort();
  const mine = new Set(features(other));
  const missing = features(control).filter((f) => !mine.has(f));
  const extra = features(other).filter((f) => !features(control).includes(f));
  if (missing.length > 0 || extra.length > 0) {
    return `its declared features differ (${[
      ...(missing.length > 0
        ? [
            `lacks ${missing
              .slice(0, 5)
              .map((f) => JSON.stringify(clipId(f)))
              .join(', ')}`,
          ]
        : []),
      ...(extra.length > 0
        ? [
            `adds ${extra
              .slice(0, 5)
              .map((f) => JSON.stringify(clipId(f)))
              .join(', ')}`,
          ]
        : []),
    ].join('; ')})`;
  }
  // Online features change what a request carries: entity keys and request-time features only.
  const carried = (v: ModelVersion) => {
    const plan = onlinePlan(v.signature, v.metadata);
    return plan ? `keys and features [${plan.request.inputs.map((i) => `${i.name}:${i.type}`).join(', ')}]` : 'every feature';
  };
  if (carried(control) !== carried(other)) {
    return `its requests carry ${clipId(carried(other))}, the control's ${clipId(carried(control))} (online features read by key differ)`;
  }
  return undefined;
}

/** `{"reason": "..."}` or nothing. */
function optionalReason(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body !== 'object' || Array.isArray(body))
    throw new ValidationError('INVALID_REQUEST', 'Send {"reason": "<why>"} or no body.', []);
  const entries = Object.entries(body as Record<string, unknown>);
  for (const [key, value] of entries) {
    if (key !== 'reason')
      throw new ValidationError('UNKNOWN_FIELD', `Unknown field "${clipId(key)}"; send {"reason": "<why>"} or no body.`, [key]);
    if (typeof value !== 'string' || value.length === 0 || value.length > 500)
      throw new ValidationError('INVALID_REQUEST', '"reason" must be text of 1 to 500 characters.', ['reason']);
  }
  return (body as { reason?: string }).reason;
}

function clipId(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}
