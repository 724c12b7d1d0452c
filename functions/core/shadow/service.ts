/**
 * The shadow-test API (issue 14, item 4): start one on a model (`POST /v1/models/{model}/shadow`),
 * read it with its report (`GET`), stop it (`DELETE`). Talks to ports only: the registry, the
 * experiment store (which keeps shadow tests too) and the prediction log's study index.
 */
import { parseWith } from '../codec/request.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { newTimeSortedId } from '../names.js';
import { studyKey, type ExperimentStore, type ModelRegistry, type StudyReader } from '../ports.js';
import { checkNoStudy } from '../experiments/experiment.js';
import { ShadowReportBuilder, type ShadowReport } from './report.js';
import { SHADOW_HINT, ShadowRequestSchema, type ShadowTest } from './shadow.js';

/** Most prediction-log records one report reads (the oldest are kept). */
export const MAX_SHADOW_RECORDS = 1_000_000;

export interface ShadowDeps {
  readonly registry: Pick<ModelRegistry, 'getModel' | 'getVersion'>;
  readonly store: ExperimentStore;
  readonly studies: StudyReader;
  readonly now?: () => Date;
}

/** A shadow test with its report. */
export interface ShadowStatus {
  readonly model: string;
  /** The test, as stored; `null` when the model never had one. */
  readonly shadow: (ShadowTest & { readonly state: 'running' | 'stopped' }) | null;
  readonly report: ShadowReport | null;
  /** Whether the records read were capped (the report covers the oldest). */
  readonly capped: boolean;
}

export class ShadowService {
  private readonly now: () => Date;

  constructor(private readonly deps: ShadowDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Starts a shadow test of `version` on `samplePercent` of the model's requests. One at a time
   * per model, and not while an experiment is set (its variants already run on live traffic).
   *
   * @throws ValidationError 400 (the body, `ShadowRequestSchema`); 404 `MODEL_NOT_FOUND`,
   *   `VERSION_NOT_FOUND` (path `version`); 409 `VERSION_ARCHIVED`, `CANDIDATE_IS_PRODUCTION`, `SHADOW_RUNNING`,
   *   `EXPERIMENT_RUNNING`, `STUDY_CONFLICT` (lost a race)
   */
  async start(model: string, body: unknown, actor: string): Promise<ShadowStatus> {
    const request = parseWith(ShadowRequestSchema, body, SHADOW_HINT);
    const record = await this.deps.registry.getModel(model);
    if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}".`, ['model']);
    const version = await this.deps.registry.getVersion(model, request.version);
    if (!version)
      throw new NotFoundError('VERSION_NOT_FOUND', `Model "${model}" has no version ${request.version}; register it first.`, ['version']);
    if (version.stage === 'archived')
      throw new ConflictError(
        'VERSION_ARCHIVED',
        `Version ${request.version} of "${model}" is archived: it is out of service and cannot be shadowed.`,
        ['version'],
      );
    if (record.productionVersion === request.version) {
      throw new ConflictError(
        'CANDIDATE_IS_PRODUCTION',
        `Version ${request.version} is the production version of "${model}": it would be compared with itself. Shadow another version.`,
        ['version'],
      );
    }
    const now = this.now();
    const ended = checkNoStudy(record, now.getTime());
    const shadow: ShadowTest = {
      id: newTimeSortedId('shadow', now),
      model,
      version: request.version,
      samplePercent: request.samplePercent,
      startedAt: now.toISOString(),
      startedBy: actor,
    };
    await this.deps.store.startShadow(model, shadow, ended);
    return { model, shadow: { ...shadow, state: 'running' }, report: null, capped: false };
  }

  /**
   * The running shadow test (or the newest stopped one) with its report; `id` names another of
   * the model's tests.
   *
   * @throws 404 `MODEL_NOT_FOUND`, `SHADOW_NOT_FOUND` (an `id` the model has no test with)
   */
  async status(model: string, id?: string): Promise<ShadowStatus> {
    const record = await this.deps.registry.getModel(model);
    if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}".`, ['model']);
    let shadow: ShadowTest | undefined;
    if (id !== undefined) {
      shadow = await this.deps.store.getShadow(model, id);
      if (!shadow) throw new NotFoundError('SHADOW_NOT_FOUND', `Model "${model}" has no shadow test "${id}".`, ['query', 'id']);
    } else {
      shadow = (await this.deps.store.listShadows(model))[0];
    }
    if (!shadow) return { model, shadow: null, report: null, capped: false };
    const { records, capped } = await this.deps.studies.read(studyKey('shadow', model, shadow.id), MAX_SHADOW_RECORDS);
    const builder = new ShadowReportBuilder();
    for (const r of records)
      if (r.shadow)
        builder.add({
          requestId: r.requestId,
          modelVersion: r.modelVersion,
          latencyMs: r.latencyMs,
          timestamp: r.timestamp,
          shadow: r.shadow,
        });
    return { model, shadow: { ...shadow, state: shadow.stoppedAt === undefined ? 'running' : 'stopped' }, report: builder.build(), capped };
  }

  /**
   * Stops the model's shadow test (within the endpoints' pointer cache time); its report stays.
   *
   * @throws 404 `MODEL_NOT_FOUND`, `NO_SHADOW_TEST` (none is running)
   */
  async stop(model: string, actor: string): Promise<ShadowStatus> {
    const stopped = await this.deps.store.stopShadow(model, { stoppedAt: this.now().toISOString(), stoppedBy: actor });
    if (!stopped) throw new NotFoundError('NO_SHADOW_TEST', `Model "${model}" has no shadow test running.`, ['model']);
    return this.status(model, stopped.id);
  }
}
