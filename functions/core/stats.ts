/**
 * Reading back what the product observed, for the people who run it:
 *
 * - **stats** (`GET /v1/models/{m}/stats`): per function version the alias routes to, what it
 *   served over a window (invocations, 4xx, 5xx, latency) and a health verdict against two
 *   thresholds. The numbers come from `TrafficRouter.metrics` (CloudWatch on AWS, the process's
 *   own counters locally), so they count exactly what the release safety net counts
 *   (`observability.ts`: a failure is an answer of 500 or more).
 * - **predictions** (`GET /v1/models/{m}/predictions`): a model's prediction-log records, oldest
 *   or newest first, from a time on, one page at a time with an opaque cursor bound to the model.
 *
 * Talks to ports only (through `ReleaseService.deployment` for the routing and metrics).
 */
import { NotFoundError, ValidationError } from './errors.js';
import { MODEL_NAME_PATTERN } from './model.js';
import type {
  LatencySummary,
  ModelRegistry,
  PredictionLogPage,
  PredictionLogPosition,
  PredictionLogQuery,
  PredictionLogRecord,
  VersionMetrics,
} from './ports.js';
import { checkModelName } from './registry.js';
import type { DeployedVersion, Deployment } from './release.js';

// ---------------------------------------------------------------------------------------------
// Health

/**
 * When a version is unhealthy. The defaults are the seeds' model wrapper's: it called a model
 * unhealthy above 5% errors or 1 s average latency (`HEALTH_MAX_ERROR_RATE`,
 * `HEALTH_MAX_MEAN_LATENCY_MS` in the functions' configuration).
 */
export interface HealthThresholds {
  /** Server errors / invocations above which a version is unhealthy, in [0, 1]. */
  readonly maxErrorRate: number;
  /** Mean latency above which a version is unhealthy, in ms. */
  readonly maxMeanLatencyMs: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = { maxErrorRate: 0.05, maxMeanLatencyMs: 1_000 };

/**
 * A version's verdict. `evidence: "none"`: it served nothing in the window, so nothing says it
 * is unhealthy; it is reported healthy, and this field says why.
 */
export interface HealthVerdict {
  readonly healthy: boolean;
  readonly evidence: 'invocations' | 'none';
  /** Why it is unhealthy, one sentence per broken threshold with the numbers; empty when healthy. */
  readonly reasons: readonly string[];
}

/**
 * The verdict on one version's metrics: unhealthy when its error rate (server errors, status
 * >= 500, divided by invocations) is above `maxErrorRate`, or its mean latency is above
 * `maxMeanLatencyMs`; both thresholds are exclusive (exactly 5% is healthy). 4xx answers are
 * the callers' errors and never make a version unhealthy.
 *
 * @example
 * judgeHealth({ invocations: 40, errors: 3, clientErrors: 0, latencyMs: { p50: 2, p99: 9, mean: 3 } }, DEFAULT_HEALTH_THRESHOLDS);
 * // { healthy: false, evidence: 'invocations', reasons: ['error rate 7.5% (3 of 40 invocations answered 5xx) is above 5%'] }
 */
export function judgeHealth(metrics: VersionMetrics, thresholds: HealthThresholds): HealthVerdict {
  if (metrics.invocations === 0) return { healthy: true, evidence: 'none', reasons: [] };
  const reasons: string[] = [];
  const rate = metrics.errors / metrics.invocations;
  if (rate > thresholds.maxErrorRate) {
    reasons.push(
      `error rate ${asPercent(rate)} (${metrics.errors} of ${metrics.invocations} invocations answered 5xx) is above ${asPercent(thresholds.maxErrorRate)}`,
    );
  }
  const mean = metrics.latencyMs?.mean;
  if (mean !== undefined && mean > thresholds.maxMeanLatencyMs) {
    reasons.push(`mean latency ${round(mean, 1)} ms is above ${thresholds.maxMeanLatencyMs} ms`);
  }
  return { healthy: reasons.length === 0, evidence: 'invocations', reasons };
}

/** One version the alias routes to, with what it served and its verdict. */
export interface VersionStats extends HealthVerdict {
  readonly functionVersion: string;
  /** `stable` takes the traffic the canary does not. */
  readonly role: 'stable' | 'canary';
  /** The model version it serves (an unpinned version serves the registry's production version). */
  readonly modelVersion: string | null;
  readonly pinned: boolean;
  /** Its share of the traffic now, in percent. */
  readonly percent: number;
  readonly invocations: number;
  /** Answers of 400 to 499 (the callers' errors). */
  readonly clientErrors: number;
  /** Answers of 500 or more, caught or not (the version's failures). */
  readonly serverErrors: number;
  /** serverErrors / invocations; `null` without invocations. */
  readonly errorRate: number | null;
  /** p50, p99 and mean of the function's time per invocation, ms; `null` without invocations. */
  readonly latencyMs: LatencySummary | null;
}

export interface ModelStats {
  readonly model: string;
  readonly alias: string;
  readonly productionVersion: string | null;
  readonly windowMinutes: number;
  /** The window, ISO-8601 UTC. */
  readonly from: string;
  readonly to: string;
  readonly thresholds: HealthThresholds;
  /** Every version is healthy. */
  readonly healthy: boolean;
  /** The stable version first, then the canary when there is one. */
  readonly versions: readonly VersionStats[];
}

/** `minutes` of the stats window: whole minutes, 1 to 1440 (a day, as far as the local stack keeps counts). */
export const MAX_WINDOW_MINUTES = 1_440;
export const DEFAULT_WINDOW_MINUTES = 60;

export interface StatsDeps {
  /** The alias's versions and their metrics over a window (`ReleaseService.deployment`). */
  readonly deployments: { deployment(model: string, minutes?: number): Promise<Deployment> };
  readonly thresholds: HealthThresholds;
  readonly now?: () => Date;
}

/**
 * @example
 * const stats = new StatsService({ deployments: releases, thresholds: DEFAULT_HEALTH_THRESHOLDS });
 * const report = await stats.stats('iris', 15); // report.versions[0].healthy, .reasons, .latencyMs.p99
 */
export class StatsService {
  private readonly now: () => Date;

  constructor(private readonly deps: StatsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Per served version over the last `minutes`: counts, latency and verdict. Errors: 400
   * `INVALID_WINDOW` (path `query.minutes`), 404 `MODEL_NOT_FOUND`.
   */
  async stats(model: string, minutes = DEFAULT_WINDOW_MINUTES): Promise<ModelStats> {
    checkWindow(minutes);
    const to = this.now();
    const deployment = await this.deps.deployments.deployment(model, minutes);
    const versions = [
      versionStats(deployment.stable, 'stable', this.deps.thresholds),
      ...(deployment.canary ? [versionStats(deployment.canary, 'canary', this.deps.thresholds)] : []),
    ];
    return {
      model: deployment.model,
      alias: deployment.alias,
      productionVersion: deployment.productionVersion,
      windowMinutes: minutes,
      from: new Date(to.getTime() - minutes * 60_000).toISOString(),
      to: to.toISOString(),
      thresholds: this.deps.thresholds,
      healthy: versions.every((v) => v.healthy),
      versions,
    };
  }
}

/** Refuses a window that is not 1 to 1440 whole minutes (400 `INVALID_WINDOW`, path `query.minutes`). */
export function checkWindow(minutes: number, given: string = String(minutes)): void {
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_WINDOW_MINUTES) {
    throw new ValidationError(
      'INVALID_WINDOW',
      `The window is a whole number of minutes from 1 to ${MAX_WINDOW_MINUTES}, e.g. ?minutes=60, not ${excerpt(given)}.`,
      ['query', 'minutes'],
    );
  }
}

function versionStats(version: DeployedVersion, role: 'stable' | 'canary', thresholds: HealthThresholds): VersionStats {
  const metrics: VersionMetrics = {
    invocations: version.invocations,
    errors: version.errors,
    clientErrors: version.clientErrors,
    latencyMs: version.latencyMs,
  };
  return {
    functionVersion: version.functionVersion,
    role,
    modelVersion: version.modelVersion,
    pinned: version.pinned,
    percent: version.percent,
    invocations: version.invocations,
    clientErrors: version.clientErrors,
    serverErrors: version.errors,
    errorRate: version.invocations === 0 ? null : version.errors / version.invocations,
    latencyMs: version.latencyMs,
    ...judgeHealth(metrics, thresholds),
  };
}

// ---------------------------------------------------------------------------------------------
// The prediction log

export const DEFAULT_PREDICTIONS_LIMIT = 100;
export const MAX_PREDICTIONS_LIMIT = 1_000;
/** `since` when none is given: the last hour. */
export const DEFAULT_PREDICTIONS_SINCE = '1h';
/** The longest look-back a duration may say (records expire after 30 days by default anyway). */
export const MAX_SINCE_DAYS = 365;
const MAX_CURSOR_CHARS = 1_024;
/** The orders a listing reads in: by timestamp, `oldest` first (the default) or `newest` first. */
export const PREDICTION_ORDERS = ['oldest', 'newest'] as const;
export type PredictionOrder = (typeof PREDICTION_ORDERS)[number];

/** A `PredictionLogQuery` with the order to read in. @default order 'oldest' */
export interface OrderedPredictionLogQuery extends PredictionLogQuery {
  readonly order?: PredictionOrder;
}

/**
 * The reader the listing needs: `PredictionLogReader.read` that also reads newest first. With
 * `order: 'newest'` the page holds the newest records at or after `since`, newest first, and
 * `after` continues with the records older than that position.
 */
export interface OrderedPredictionLogReader {
  read(model: string, query: OrderedPredictionLogQuery): Promise<PredictionLogPage>;
}

/** The query of `GET /v1/models/{m}/predictions`, as the caller wrote it (strings, unparsed). */
export interface PredictionsRequest {
  readonly model: string;
  /** ISO-8601 (`2025-03-04T05:00:00Z`, or a date) or a duration back from now (`90s`, `10m`, `2h`, `1d`). @default '1h' */
  readonly since?: string;
  /** 1 to 1000. @default 100 */
  readonly limit?: string;
  /** `nextCursor` of the previous page: continues that listing (its `since` and order win over this one's). */
  readonly cursor?: string;
  /** `oldest` or `newest` (first). @default 'oldest' */
  readonly order?: string;
}

export interface PredictionsPage {
  readonly model: string;
  /** The first timestamp included, ISO-8601 UTC. */
  readonly since: string;
  /** The listing's order: `oldest` or `newest` first. */
  readonly order: PredictionOrder;
  /** In the listing's order. */
  readonly records: readonly PredictionLogRecord[];
  /** Present when more records follow: pass it as `cursor` to read them. */
  readonly nextCursor?: string;
}

export interface PredictionLogServiceDeps {
  readonly reader: OrderedPredictionLogReader;
  /** To answer 404 for a model that is not registered. */
  readonly registry: Pick<ModelRegistry, 'getModel'>;
  readonly now?: () => Date;
}

/**
 * A model's prediction-log records, a page at a time.
 *
 * Records come oldest first, or with `order: 'newest'` newest first (the newest records at or
 * after `since`). The cursor is the position after the page's last record (its timestamp and
 * request id) with the listing's model, `since` and order, base64url-encoded JSON. It cannot reach another model's
 * records: the key the next query starts from is built from the path's model, never from the
 * cursor, and a cursor whose model is not the path's is refused (400 `CURSOR_MODEL_MISMATCH`);
 * a cursor that does not decode to a well-formed position at or after its `since` is 400
 * `INVALID_CURSOR`. It needs no secret, so any control-plane instance continues any listing.
 *
 * Errors (all 400, with the query parameter as the path, never echoing more than a short
 * excerpt of the input): `INVALID_SINCE`, `INVALID_LIMIT`, `INVALID_ORDER`, `INVALID_CURSOR`,
 * `CURSOR_MODEL_MISMATCH`; 404 `MODEL_NOT_FOUND`.
 *
 * @example
 * const page = await predictions.list({ model: 'iris', since: '10m', limit: '50' });
 * if (page.nextCursor) await predictions.list({ model: 'iris', cursor: page.nextCursor });
 */
export class PredictionLogService {
  private readonly now: () => Date;

  constructor(private readonly deps: PredictionLogServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async list(request: PredictionsRequest): Promise<PredictionsPage> {
    const { model } = request;
    checkModelName(model);
    const limit = parseLimit(request.limit);
    const asked = parseOrder(request.order);
    const continued = request.cursor === undefined ? undefined : decodeCursor(request.cursor, model);
    const since = continued?.since ?? parseSince(request.since ?? DEFAULT_PREDICTIONS_SINCE, this.now());
    const order = continued?.order ?? asked;
    if (!(await this.deps.registry.getModel(model)))
      throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}" is registered.`, ['model']);
    const page = await this.deps.reader.read(model, {
      since,
      limit,
      ...(order === 'newest' ? { order } : {}),
      ...(continued ? { after: continued.after } : {}),
    });
    const last = page.records.at(-1);
    return {
      model,
      since,
      order,
      records: page.records,
      ...(page.more && last
        ? { nextCursor: encodeCursor(model, since, { timestamp: last.timestamp, requestId: last.requestId }, order) }
        : {}),
    };
  }
}

/** `limit`: 1 to 1000 (400 `INVALID_LIMIT`, path `query.limit`). */
export function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PREDICTIONS_LIMIT;
  const value = /^[0-9]{1,4}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= MAX_PREDICTIONS_LIMIT)) {
    throw new ValidationError('INVALID_LIMIT', `limit is a whole number from 1 to ${MAX_PREDICTIONS_LIMIT}, not ${excerpt(text)}.`, [
      'query',
      'limit',
    ]);
  }
  return value;
}

/** `order`: `oldest` or `newest` (400 `INVALID_ORDER`, path `query.order`). */
export function parseOrder(text: string | undefined): PredictionOrder {
  if (text === undefined) return 'oldest';
  const order = PREDICTION_ORDERS.find((o) => o === text);
  if (!order) throw new ValidationError('INVALID_ORDER', `order is "oldest" or "newest", not ${excerpt(text)}.`, ['query', 'order']);
  return order;
}

const DURATION = /^([0-9]{1,6})(s|m|h|d)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * `since` as the ISO-8601 UTC timestamp it names (the form records are stored in, so strings
 * compare as times): an ISO-8601 date (midnight UTC) or date-time with a zone (`Z` or `+02:00`),
 * or a duration back from `now`: a whole number of `s`, `m`, `h` or `d` (at most 365 days).
 * Anything else is 400 `INVALID_SINCE` (path `query.since`).
 *
 * @example
 * parseSince('10m', new Date('2025-03-04T05:00:00Z')); // '2025-03-04T04:50:00.000Z'
 * parseSince('2025-03-04T07:00:00+02:00', now);          // '2025-03-04T05:00:00.000Z'
 */
export function parseSince(text: string, now: Date): string {
  const duration = DURATION.exec(text);
  if (duration) {
    const ms = Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS];
    if (ms <= 0 || ms > MAX_SINCE_DAYS * UNIT_MS.d) {
      throw new ValidationError('INVALID_SINCE', `A since duration is more than 0 and at most ${MAX_SINCE_DAYS}d, not ${excerpt(text)}.`, [
        'query',
        'since',
      ]);
    }
    return new Date(now.getTime() - ms).toISOString();
  }
  const iso = ISO_DATE_TIME.exec(text);
  const at = iso && realDate(iso) ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(at)) {
    throw new ValidationError(
      'INVALID_SINCE',
      `since is an ISO-8601 time with a zone (2025-03-04T05:00:00Z), a date (2025-03-04), or a duration back from now (90s, 10m, 2h, 1d), not ${excerpt(text)}.`,
      ['query', 'since'],
    );
  }
  return new Date(at).toISOString();
}

/** Day within its month, hours and minutes within the day (Date.parse rolls 2025-02-30 over). */
function realDate(match: RegExpExecArray): boolean {
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => (match[i] === undefined ? 0 : Number(match[i])));
  const days = new Date(Date.UTC(year ?? 0, month ?? 0, 0)).getUTCDate();
  return (
    (month ?? 0) >= 1 &&
    (month ?? 0) <= 12 &&
    (day ?? 0) >= 1 &&
    (day ?? 0) <= days &&
    (hour ?? 0) <= 23 &&
    (minute ?? 0) <= 59 &&
    (second ?? 0) <= 59
  );
}

/** A cursor's JSON; `o` only in a newest-first listing's (so cursors issued before it existed read as oldest first). */
interface CursorBody {
  readonly m: string;
  readonly s: string;
  readonly t: string;
  readonly r: string;
  readonly o?: 'n';
}

/** The cursor that continues `model`'s listing from `since` after `after`, in `order`. */
export function encodeCursor(model: string, since: string, after: PredictionLogPosition, order: PredictionOrder = 'oldest'): string {
  const body: CursorBody = {
    m: model,
    s: since,
    t: after.timestamp,
    r: after.requestId,
    ...(order === 'newest' ? { o: 'n' as const } : {}),
  };
  return Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
}

const STORED_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * The listing a cursor continues (`order` only when newest first), checked: well-formed, for
 * `model`, its position at or after its `since`. Errors: 400 `INVALID_CURSOR` or `CURSOR_MODEL_MISMATCH` (path `query.cursor`).
 */
export function decodeCursor(
  cursor: string,
  model: string,
): { readonly since: string; readonly after: PredictionLogPosition; readonly order?: 'newest' } {
  const invalid = () =>
    new ValidationError(
      'INVALID_CURSOR',
      'The cursor is not one this API issued (or it was altered). Pass nextCursor from the previous page exactly, or start again without a cursor.',
      ['query', 'cursor'],
    );
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!isCursorBody(body)) throw invalid();
  if (body.m !== model) {
    throw new ValidationError(
      'CURSOR_MODEL_MISMATCH',
      `This cursor continues a listing of another model, not "${model}"; a cursor is only valid for the model it was issued for.`,
      ['query', 'cursor'],
    );
  }
  if (!isStoredTimestamp(body.s) || !isStoredTimestamp(body.t) || body.t < body.s || !REQUEST_ID.test(body.r)) throw invalid();
  return { since: body.s, after: { timestamp: body.t, requestId: body.r }, ...(body.o === 'n' ? { order: 'newest' as const } : {}) };
}

function isCursorBody(value: unknown): value is CursorBody {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value).sort();
  if (keys.join(',') !== 'm,r,s,t' && keys.join(',') !== 'm,o,r,s,t') return false;
  const body = value as Record<string, unknown>;
  return (
    (body['o'] === undefined || body['o'] === 'n') &&
    typeof body['m'] === 'string' &&
    MODEL_NAME_PATTERN.test(body['m']) &&
    typeof body['s'] === 'string' &&
    typeof body['t'] === 'string' &&
    typeof body['r'] === 'string'
  );
}

function isStoredTimestamp(text: string): boolean {
  return STORED_TIMESTAMP.test(text) && Number.isFinite(Date.parse(text)) && new Date(text).toISOString() === text;
}

/** At most 40 characters of what the caller sent, quoted, for an error message. */
export function excerpt(text: string, max = 40): string {
  const shown = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(shown);
}

function asPercent(rate: number): string {
  return `${round(rate * 100, 2)}%`;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
