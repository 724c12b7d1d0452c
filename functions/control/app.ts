/**
 * The control plane's routes: the model registry, releases on the alias, and what the endpoints
 * observed (stats with a health verdict, the prediction log) over HTTP. Thin: parse, call the
 * registry, release, stats or prediction-log service, map the result.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { parseWith } from '../core/codec/request.js';
import { codecLimits, type CodecLimits } from '../core/codec/limits.js';
import { AppError, NotFoundError, ValidationError } from '../core/errors.js';
import { VERSION_PATTERN } from '../core/names.js';
import type { RegistryService } from '../core/registry.js';
import { ReleasesNotConfiguredError, type ReleaseService } from '../core/release.js';
import { checkWindow, DEFAULT_WINDOW_MINUTES, type PredictionLogService, type StatsService } from '../core/stats.js';
import type { UploadService } from '../core/uploads.js';
import type { JOB_STATES } from '../core/batch-contract.js';
import type { BatchJobService } from '../core/batch-jobs.js';
import { checkProfiledNames, type DriftService } from '../core/drift/service.js';
import { parseReferenceProfile } from '../core/drift/profile-schema.js';
import type { ReferenceProfile } from '../core/drift/profile.js';
import type { ModelVersion } from '../core/model.js';
import type { ReplayService } from '../core/replay/service.js';
import type { ExperimentService } from '../core/experiments/service.js';
import type { ShadowService } from '../core/shadow/service.js';
import {
  callerOf,
  httpFunction,
  jsonResponse,
  pathParam,
  type BodyLimits,
  type EdgeOptions,
  type HttpEvent,
  type HttpHandler,
  type RouteAction,
} from '../shared/http.js';
import { apiDocument } from '../shared/openapi/api-document.js';
import { modelDocument } from '../shared/openapi/model-document.js';
import {
  CANCEL_HINT,
  CancelSchema,
  DRIFT_RUN_HINT,
  DriftRunSchema,
  INPUT_UPLOAD_HINT,
  InputUploadSchema,
  JobStateQuery,
  LimitQuery,
  MinutesQuery,
  PRODUCTION_HINT,
  PROMOTE_HINT,
  ProductionSchema,
  PromoteSchema,
  QUERY_PARAMETERS,
  REASON_HINT,
  REGISTER_HINT,
  REPLAY_HINT,
  ReasonSchema,
  RegisterSchema,
  ReplaySchema,
  SHIFT_HINT,
  STAGE_HINT,
  SUBMIT_HINT,
  ShadowIdQuery,
  ShiftSchema,
  StageSchema,
  SubmitJobSchema,
  UPLOAD_HINT,
  UploadSchema,
  VersionQuery,
} from './schemas.js';

export interface ControlHandlerDeps {
  readonly service: RegistryService;
  /** Presigned uploads of large model files. */
  readonly uploads: UploadService;
  /** Releases on the alias; without it the release routes answer 501 `RELEASES_NOT_CONFIGURED`. */
  readonly releases?: ReleaseService;
  /** Per-version stats and health; without it `GET .../stats` answers 501 `STATS_NOT_CONFIGURED`. */
  readonly stats?: StatsService;
  /** Reading the prediction log; without it `GET .../predictions` answers 501 `PREDICTION_LOG_NOT_CONFIGURED`. */
  readonly predictions?: PredictionLogService;
  /** Batch jobs; without it the batch-job routes answer 501 `BATCH_JOBS_NOT_CONFIGURED`. */
  readonly jobs?: BatchJobService;
  /** Reference profiles and drift reports; without it those routes answer 501 `DRIFT_NOT_CONFIGURED`. */
  readonly drift?: DriftService;
  /**
   * Replays of captured requests (batch jobs of format `capture`); without it (no capture bucket)
   * `POST .../replays` answers 501 `CAPTURE_NOT_CONFIGURED`, and job answers carry no report.
   */
  readonly replays?: ReplayService;
  /** A/B experiments; without it (no endpoints to serve them) those routes answer 501 `EXPERIMENTS_NOT_CONFIGURED`. */
  readonly experiments?: ExperimentService;
  /** Shadow tests; without it those routes answer 501 `EXPERIMENTS_NOT_CONFIGURED`. */
  readonly shadows?: ShadowService;
  readonly limits: BodyLimits;
  /**
   * The limits the model endpoints decode requests under (`MAX_ROWS`, `MAX_STRING_CHARS`), which
   * each model's OpenAPI document states. @default the endpoints' defaults (1,000 rows, 65,536 characters)
   */
  readonly codec?: Partial<CodecLimits>;
  /** The function's logger and version. @default the shared logger, `$LATEST` */
  readonly edge?: Pick<EdgeOptions, 'logger' | 'functionVersion'>;
}

/**
 * The query string's parameters `route` takes (`QUERY_PARAMETERS`), by name. The edge has already
 * refused any other name and any name given twice (`UNKNOWN_PARAMETER`, `REPEATED_PARAMETER`:
 * `checkQuery` in `functions/shared/http.ts`, fed the same table).
 */
function queryParams(event: HttpEvent, route: string): Partial<Record<string, string>> {
  const result: Partial<Record<string, string>> = {};
  const single = event.queryStringParameters;
  const multi = event.multiValueQueryStringParameters;
  for (const name of Object.keys(QUERY_PARAMETERS[route] ?? {})) {
    const value =
      (single && Object.hasOwn(single, name) ? single[name] : undefined) ??
      (multi && Object.hasOwn(multi, name) ? multi[name]?.[0] : undefined);
    if (value !== undefined) result[name] = value;
  }
  return result;
}

/** `?minutes=N`: whole minutes, 1 to 1440 (400 `INVALID_WINDOW`, path `query.minutes`). */
function minutesParam(text: string | undefined): number {
  if (text === undefined) return DEFAULT_WINDOW_MINUTES;
  const minutes = MinutesQuery.safeParse(text).success ? Number(text) : Number.NaN;
  checkWindow(minutes, text);
  return minutes;
}

/**
 * A 501 for a route whose service this deployment does not have, with the reason in the body: the
 * shared error mapping hides the message of every status from 500 up.
 */
function notConfigured(event: HttpEvent, error: AppError): APIGatewayProxyResult {
  return jsonResponse(501, { error: { code: error.code, message: error.message, path: '' }, requestId: event.requestId });
}

/** `?limit=N`: 1 to 100 (400 `INVALID_LIMIT`). */
function limitParam(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const limit = LimitQuery.safeParse(text).success ? Number(text) : Number.NaN;
  if (!(limit >= 1 && limit <= 100))
    throw new ValidationError('INVALID_LIMIT', '"limit" must be a whole number from 1 to 100.', ['query', 'limit']);
  return limit;
}

const NO_EXPERIMENTS =
  'Experiments and shadow tests are not configured on this deployment: the control plane has no endpoints (ENDPOINTS) or no prediction log (PREDICTION_LOG_TABLE).';

export function makeHandler({
  service,
  uploads,
  releases,
  stats,
  predictions,
  jobs,
  drift,
  replays,
  experiments,
  shadows,
  limits,
  codec,
  edge = {},
}: ControlHandlerDeps): HttpHandler {
  const documentLimits = { ...codecLimits(codec), maxJsonDepth: limits.maxJsonDepth, maxBodyBytes: limits.maxBodyBytes };
  const withExperiments =
    (action: (experiments: ExperimentService, event: HttpEvent) => Promise<APIGatewayProxyResult>): RouteAction =>
    async (event) => {
      if (experiments) return action(experiments, event);
      return notConfigured(event, new AppError(501, 'EXPERIMENTS_NOT_CONFIGURED', NO_EXPERIMENTS));
    };
  const withShadows =
    (action: (shadows: ShadowService, event: HttpEvent) => Promise<APIGatewayProxyResult>): RouteAction =>
    async (event) => {
      if (shadows) return action(shadows, event);
      return notConfigured(event, new AppError(501, 'EXPERIMENTS_NOT_CONFIGURED', NO_EXPERIMENTS));
    };
  const withDrift =
    (action: (drift: DriftService, event: HttpEvent) => Promise<APIGatewayProxyResult>): RouteAction =>
    async (event) => {
      if (drift) return action(drift, event);
      return notConfigured(
        event,
        new AppError(
          501,
          'DRIFT_NOT_CONFIGURED',
          'Reference profiles and drift detection are not configured on this deployment (no ARTIFACT_BUCKET).',
        ),
      );
    };
  const withJobs =
    (action: (jobs: BatchJobService, event: HttpEvent) => Promise<APIGatewayProxyResult>): RouteAction =>
    async (event) => {
      if (jobs) return action(jobs, event);
      return notConfigured(
        event,
        new AppError(
          501,
          'BATCH_JOBS_NOT_CONFIGURED',
          'Batch jobs are not configured on this deployment: the control plane has no job table or workflow (BATCH_JOBS_TABLE, BATCH_STATE_MACHINE_ARN).',
        ),
      );
    };
  // Without a traffic router the release routes say so (501).
  const withReleases =
    (action: (releases: ReleaseService, event: HttpEvent) => Promise<APIGatewayProxyResult>): RouteAction =>
    async (event) => {
      if (releases) return action(releases, event);
      return notConfigured(event, new ReleasesNotConfiguredError());
    };
  return httpFunction(
    limits,
    {
      'GET /openapi.json': async () => jsonResponse(200, apiDocument()),
      'GET /v1/models/{model}/openapi.json': async (event) => {
        const model = pathParam(event, 'model');
        const { productionVersion } = await service.describeModel(model);
        if (productionVersion === undefined)
          throw new NotFoundError('NO_PRODUCTION_VERSION', `Model "${model}" has no production version yet; promote one first.`, ['model']);
        return jsonResponse(200, modelDocument(await service.getVersion(model, productionVersion), documentLimits));
      },
      'GET /v1/models': async () => jsonResponse(200, { models: await service.listModels() }),
      'GET /v1/models/{model}': async (event) => jsonResponse(200, await service.describeModel(pathParam(event, 'model'))),
      'GET /v1/models/{model}/versions': async (event) =>
        jsonResponse(200, { versions: await service.listVersions(pathParam(event, 'model')) }),
      'POST /v1/models/{model}/uploads': async (event) => {
        parseWith(UploadSchema, event.parsedBody ?? {}, UPLOAD_HINT);
        return jsonResponse(201, await uploads.create(pathParam(event, 'model')));
      },
      'POST /v1/models/{model}/versions': async (event) => {
        const body = parseWith(RegisterSchema, event.parsedBody, REGISTER_HINT);
        const common = { model: pathParam(event, 'model'), metadata: body.metadata, actor: callerOf(event) };
        if (body.modelBase64 !== undefined && body.uploadId !== undefined) {
          throw new ValidationError(
            'CONFLICTING_FIELDS',
            'Send either "modelBase64" (the file inline) or "uploadId" (a file uploaded through POST /v1/models/{model}/uploads), not both.',
            ['uploadId'],
          );
        }
        if (body.uploadId === undefined && body.modelBase64 === undefined)
          throw new ValidationError('MISSING_FIELD', `Field "modelBase64" or "uploadId" is required. ${REGISTER_HINT}`, ['modelBase64']);
        // A profile sent with the file is checked before anything is stored, its names against the
        // version's signature as registration reads it, and stored once the version exists.
        let profile: ReferenceProfile | undefined;
        if (body.profile !== undefined) {
          if (!drift)
            return notConfigured(
              event,
              new AppError(501, 'DRIFT_NOT_CONFIGURED', 'Reference profiles are not configured on this deployment (no ARTIFACT_BUCKET).'),
            );
          profile = parseReferenceProfile(body.profile, ['profile']);
        }
        const checked = profile
          ? { ...common, check: (candidate: ModelVersion) => checkProfiledNames(profile, candidate, ['profile']) }
          : common;
        const version =
          body.uploadId !== undefined
            ? await uploads.register({ ...checked, uploadId: body.uploadId })
            : await service.register({ ...checked, bytes: Buffer.from(body.modelBase64 as string, 'base64') });
        if (!profile || !drift) return jsonResponse(201, version);
        return jsonResponse(201, { ...version, profile: await drift.storeProfile(version.model, version.version, profile) });
      },
      'GET /v1/models/{model}/versions/{version}': async (event) =>
        jsonResponse(200, await service.getVersion(pathParam(event, 'model'), pathParam(event, 'version'))),
      'PUT /v1/models/{model}/production': async (event) => {
        const body = parseWith(ProductionSchema, event.parsedBody, PRODUCTION_HINT);
        return jsonResponse(
          200,
          await service.transition({ ...body, model: pathParam(event, 'model'), to: 'production', actor: callerOf(event) }),
        );
      },
      'POST /v1/models/{model}/versions/{version}/stage': async (event) => {
        const body = parseWith(StageSchema, event.parsedBody, STAGE_HINT);
        const version = pathParam(event, 'version');
        return jsonResponse(200, await service.transition({ ...body, model: pathParam(event, 'model'), version, actor: callerOf(event) }));
      },
      'GET /v1/models/{model}/history': async (event) => jsonResponse(200, { history: await service.history(pathParam(event, 'model')) }),
      'GET /v1/models/{model}/capture': async (event) => jsonResponse(200, await service.getCapture(pathParam(event, 'model'))),
      'PUT /v1/models/{model}/capture': async (event) =>
        jsonResponse(200, await service.setCapture(pathParam(event, 'model'), event.parsedBody, callerOf(event))),
      'DELETE /v1/models/{model}/capture': async (event) => jsonResponse(200, await service.disableCapture(pathParam(event, 'model'))),
      'GET /v1/models/{model}/drift': withDrift(async (d, event) => {
        const { version } = queryParams(event, 'GET /v1/models/{model}/drift');
        if (version !== undefined && !VersionQuery.safeParse(version).success)
          throw new ValidationError(
            'INVALID_VERSION',
            '"version" must be a version number such as "3" (a whole number from 1, at most 10 digits).',
            ['query', 'version'],
          );
        return jsonResponse(200, await d.latest(pathParam(event, 'model'), version));
      }),
      'POST /v1/models/{model}/drift': withDrift(async (d, event) => {
        const body = parseWith(DriftRunSchema, event.parsedBody ?? {}, DRIFT_RUN_HINT);
        if (body.version !== undefined && !VERSION_PATTERN.test(body.version))
          throw new ValidationError(
            'INVALID_VERSION',
            '"version" must be a version number such as "3" (a whole number from 1, at most 10 digits).',
            ['version'],
          );
        return jsonResponse(
          200,
          await d.run(pathParam(event, 'model'), {
            ...(body.minutes === undefined ? {} : { minutes: body.minutes }),
            ...(body.version === undefined ? {} : { version: body.version }),
            trigger: 'on-demand',
          }),
        );
      }),
      'GET /v1/models/{model}/versions/{version}/profile': withDrift(async (d, event) =>
        jsonResponse(200, await d.getProfile(pathParam(event, 'model'), pathParam(event, 'version'))),
      ),
      'PUT /v1/models/{model}/versions/{version}/profile': withDrift(async (d, event) =>
        jsonResponse(200, await d.putProfile(pathParam(event, 'model'), pathParam(event, 'version'), event.parsedBody)),
      ),
      'POST /v1/models/{model}/versions/{version}/promote': withReleases(async (releases, event) => {
        const body = parseWith(PromoteSchema, event.parsedBody ?? {}, PROMOTE_HINT);
        const result = await releases.promote({
          model: pathParam(event, 'model'),
          version: pathParam(event, 'version'),
          ...(body.canary === undefined ? {} : { canaryPercent: body.canary }),
          ...(body.managed === undefined ? {} : { managed: body.managed }),
          ...(body.reason === undefined ? {} : { reason: body.reason }),
          actor: callerOf(event),
        });
        return jsonResponse(result.release.mode === 'managed' ? 202 : 200, result);
      }),
      'GET /v1/models/{model}/deployment': withReleases(async (releases, event) =>
        jsonResponse(200, await releases.deployment(pathParam(event, 'model'))),
      ),
      'POST /v1/models/{model}/deployment/shift': withReleases(async (releases, event) => {
        const body = parseWith(ShiftSchema, event.parsedBody, SHIFT_HINT);
        return jsonResponse(200, await releases.shift(pathParam(event, 'model'), body.percent, body.expectedCanary));
      }),
      'POST /v1/models/{model}/deployment/rollback': withReleases(async (releases, event) => {
        const body = parseWith(ReasonSchema, event.parsedBody ?? {}, REASON_HINT);
        return jsonResponse(200, await releases.rollback(pathParam(event, 'model'), callerOf(event), body.reason, body.expectedCanary));
      }),
      'POST /v1/models/{model}/deployment/finalize': withReleases(async (releases, event) => {
        const body = parseWith(ReasonSchema, event.parsedBody ?? {}, REASON_HINT);
        return jsonResponse(200, await releases.finalize(pathParam(event, 'model'), callerOf(event), body.reason, body.expectedCanary));
      }),
      'POST /v1/models/{model}/experiments': withExperiments(async (e, event) =>
        jsonResponse(201, await e.start(pathParam(event, 'model'), event.parsedBody, callerOf(event))),
      ),
      'GET /v1/models/{model}/experiments': withExperiments(async (e, event) => jsonResponse(200, await e.list(pathParam(event, 'model')))),
      'GET /v1/models/{model}/experiments/{experiment}': withExperiments(async (e, event) =>
        jsonResponse(200, await e.analysis(pathParam(event, 'model'), pathParam(event, 'experiment'))),
      ),
      'POST /v1/models/{model}/experiments/{experiment}/stop': withExperiments(async (e, event) =>
        jsonResponse(200, await e.stop(pathParam(event, 'model'), pathParam(event, 'experiment'), event.parsedBody, callerOf(event))),
      ),
      'POST /v1/models/{model}/experiments/{experiment}/promote-winner': withExperiments(async (e, event) => {
        const body = parseWith(PromoteSchema, event.parsedBody ?? {}, PROMOTE_HINT);
        const result = await e.promoteWinner(
          pathParam(event, 'model'),
          pathParam(event, 'experiment'),
          {
            ...(body.canary === undefined ? {} : { canaryPercent: body.canary }),
            ...(body.managed === undefined ? {} : { managed: body.managed }),
            ...(body.reason === undefined ? {} : { reason: body.reason }),
          },
          callerOf(event),
        );
        return jsonResponse(result.release?.mode === 'managed' ? 202 : 200, result);
      }),
      'POST /v1/models/{model}/experiments/{experiment}/outcomes': withExperiments(async (e, event) => {
        const result = await e.recordOutcome(pathParam(event, 'model'), pathParam(event, 'experiment'), event.parsedBody, callerOf(event));
        return jsonResponse(result.created ? 201 : 200, result);
      }),
      'POST /v1/models/{model}/shadow': withShadows(async (sh, event) =>
        jsonResponse(201, await sh.start(pathParam(event, 'model'), event.parsedBody, callerOf(event))),
      ),
      'GET /v1/models/{model}/shadow': withShadows(async (sh, event) => {
        const { id } = queryParams(event, 'GET /v1/models/{model}/shadow');
        if (id !== undefined && !ShadowIdQuery.safeParse(id).success)
          throw new ValidationError(
            'INVALID_SHADOW_ID',
            '"id" must be a shadow test id as POST /v1/models/{model}/shadow returned it ("shadow-…").',
            ['query', 'id'],
          );
        return jsonResponse(200, await sh.status(pathParam(event, 'model'), id));
      }),
      'DELETE /v1/models/{model}/shadow': withShadows(async (sh, event) =>
        jsonResponse(200, await sh.stop(pathParam(event, 'model'), callerOf(event))),
      ),
      'GET /v1/models/{model}/stats': async (event) => {
        const model = pathParam(event, 'model');
        const minutes = minutesParam(queryParams(event, 'GET /v1/models/{model}/stats').minutes);
        if (!stats) {
          return notConfigured(
            event,
            new AppError(
              501,
              'STATS_NOT_CONFIGURED',
              'Stats are not configured on this deployment: the control plane has no endpoints (ENDPOINTS) to read metrics of.',
            ),
          );
        }
        return jsonResponse(200, await stats.stats(model, minutes));
      },
      'GET /v1/models/{model}/predictions': async (event) => {
        const model = pathParam(event, 'model');
        const query = queryParams(event, 'GET /v1/models/{model}/predictions');
        if (!predictions) {
          return notConfigured(
            event,
            new AppError(501, 'PREDICTION_LOG_NOT_CONFIGURED', 'Reading the prediction log is not configured on this deployment.'),
          );
        }
        return jsonResponse(200, await predictions.list({ model, ...query }));
      },
      'POST /v1/models/{model}/batch-jobs': withJobs(async (jobs, event) => {
        const body = parseWith(SubmitJobSchema, event.parsedBody, SUBMIT_HINT);
        const { job, created } = await jobs.submit({ ...body, model: pathParam(event, 'model'), caller: callerOf(event) });
        return jsonResponse(created ? 202 : 200, { job });
      }),
      'GET /v1/models/{model}/batch-jobs': withJobs(async (jobs, event) => {
        const model = pathParam(event, 'model');
        const query = queryParams(event, 'GET /v1/models/{model}/batch-jobs');
        if (query.state !== undefined && !JobStateQuery.safeParse(query.state).success) {
          throw new ValidationError('INVALID_STATE', `"state" must be one of ${JobStateQuery.options.join(', ')}.`, ['query', 'state']);
        }
        const limit = limitParam(query.limit);
        return jsonResponse(
          200,
          await jobs.list(model, {
            ...(limit === undefined ? {} : { limit }),
            ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
            ...(query.state === undefined ? {} : { state: query.state as (typeof JOB_STATES)[number] }),
          }),
        );
      }),
      'GET /v1/models/{model}/batch-jobs/{job}': withJobs(async (jobs, event) => {
        const job = await jobs.get(pathParam(event, 'model'), pathParam(event, 'job'));
        const [links, report] = await Promise.all([jobs.links(job), replays?.report(job)]);
        return jsonResponse(200, { job, ...(links ? { links } : {}), ...(report ? { report } : {}) });
      }),
      'POST /v1/models/{model}/replays': withJobs(async (_jobs, event) => {
        const body = parseWith(ReplaySchema, event.parsedBody, REPLAY_HINT);
        if (!replays)
          return notConfigured(
            event,
            new AppError(
              501,
              'CAPTURE_NOT_CONFIGURED',
              'Replays read captured requests from the capture bucket (CAPTURE_BUCKET), which this deployment does not configure.',
            ),
          );
        const job = await replays.submit({ ...body, model: pathParam(event, 'model'), caller: callerOf(event) });
        return jsonResponse(202, { job });
      }),
      'POST /v1/models/{model}/batch-jobs/{job}/cancel': withJobs(async (jobs, event) => {
        const body = parseWith(CancelSchema, event.parsedBody ?? {}, CANCEL_HINT);
        return jsonResponse(200, {
          job: await jobs.cancel(pathParam(event, 'model'), pathParam(event, 'job'), callerOf(event), body.reason),
        });
      }),
      'POST /v1/models/{model}/batch-inputs': withJobs(async (jobs, event) => {
        const body = parseWith(InputUploadSchema, event.parsedBody, INPUT_UPLOAD_HINT);
        return jsonResponse(201, await jobs.createInputUpload(pathParam(event, 'model'), body.fileName));
      }),
    },
    { ...edge, queryParameters: QUERY_PARAMETERS },
  );
}
