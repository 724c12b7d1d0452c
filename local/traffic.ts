/**
 * Lambda versions and the weighted alias `live`, emulated on one machine: the local
 * implementation of the `TrafficRouter` port. Per model it keeps the published function versions
 * (each its own predict handler pinned to a model version, numbered 1, 2, ... as Lambda does),
 * the alias's routing, what each version served (invocations, failures, 4xx and a latency
 * histogram per minute, for a day), and managed releases that step their weights on a timer and
 * roll back when the canary fails too often or is too slow.
 *
 * One definition of failure (`functions/core/observability.ts`, `isFailure`): an answer of 500
 * or more, whether the handler answered it or threw (the local server reports a throw as 500),
 * as on AWS Lambda's `Errors` plus the product's `Invocation5XXErrors`. 4xx answers are counted
 * apart (`clientErrors`) and never roll a release back. Latency is the function call's own time,
 * measured by the local server (Lambda's `Duration`).
 *
 * A model that was never released is served by `$LATEST` (no pin: the registry's production
 * version), as before. The routing and the published versions are kept in a JSON file in the
 * data folder when one is given; counts and managed releases in flight live in memory (after a
 * restart, a managed release in flight stays where its weights were, as a manual canary).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build as buildHistogram, type Histogram } from 'hdr-histogram-js';
import { AppError, ConflictError } from '../functions/core/errors.js';
import { DEFAULT_GOLDEN_TOLERANCE, firstDifference } from '../functions/core/gates.js';
import { isClientError, isFailure } from '../functions/core/observability.js';
import {
  NO_METRICS,
  type AliasRouting,
  type FunctionVersion,
  type ManagedShift,
  type ModelRegistry,
  type TrafficRouter,
  type VersionMetrics,
} from '../functions/core/ports.js';
import { UNPINNED_VERSION, type ReleaseOutcome } from '../functions/core/release.js';
import type { FunctionName } from '../functions/shared/routes.js';
import type { LocalFunction, VersionSelector } from './server.js';

/** One emulated function version: its handler, and a direct call for the pre-traffic hook. */
export interface EmulatedVersion {
  readonly function: LocalFunction;
  /** Serves one `features`/`instances` request on this version (golden inputs). */
  readonly predict: (model: string, body: unknown) => Promise<{ readonly predictions: readonly unknown[] }>;
}

/**
 * When a managed release rolls back by itself, judged on what the canary served since the
 * release started: its errors (answers of 500 or more) divided by its invocations above
 * `errorRate`, or the p99 of its latency above `p99LatencyMs`, once it has served at least
 * `minInvocations` requests (fewer say too little: one slow cold start is not a p99).
 */
export interface RollbackThreshold {
  /** Errors / invocations of the canary above which it rolls back, in [0, 1]. @default 0.05 */
  readonly errorRate: number;
  /** Both rules are judged once the canary has served at least this many requests. @default 20 */
  readonly minInvocations: number;
  /** p99 of the canary's latency above which it rolls back, in ms. @default 1000 */
  readonly p99LatencyMs: number;
}

/**
 * The CDK app's endpoint alarm defaults (`lib/config.ts`, `alarms`: `errorRatePercent` 5,
 * `minInvocations` 20, `p99LatencyMs` 1000), which CodeDeploy rolls back on: locally the same
 * numbers decide. A test keeps the two equal.
 */
export const DEFAULT_ROLLBACK_THRESHOLD: RollbackThreshold = { errorRate: 0.05, minInvocations: 20, p99LatencyMs: 1_000 };

export interface LocalTrafficOptions {
  /** Builds the function version `functionVersion` of `model`'s endpoint, pinned to `modelVersion`. */
  readonly makeVersion: (model: string, functionVersion: string, modelVersion: string) => EmulatedVersion;
  /** `$LATEST`: the unpinned predict function every model starts with. */
  readonly latest: LocalFunction;
  /** Model versions' golden inputs, for the pre-traffic hook. */
  readonly registry: Pick<ModelRegistry, 'getVersion'>;
  /** Where the routing persists (JSON); in memory when omitted. */
  readonly file?: string;
  /** In [0, 1); picks the version that serves each request. @default Math.random */
  readonly random?: () => number;
  /** ms since the epoch. @default Date.now */
  readonly now?: () => number;
  /** A repeating timer; returns its cancel. @default setInterval (unref'd) */
  readonly every?: (ms: number, fn: () => Promise<void>) => () => void;
  /** How often a managed release is checked, in ms. @default 1000 */
  readonly tickMs?: number;
  /** How long a "minute" of `intervalMinutes` lasts here, in ms (tests shorten it). @default 60000 */
  readonly minuteMs?: number;
  readonly rollback?: Partial<RollbackThreshold>;
  /**
   * The distribution gate: why the canary's predictions differ too much from the stable
   * version's since the release started (`functions/core/drift/canary-gate.ts`), or `undefined`.
   * Asked on each check once the canary has served `minInvocations`. @default none
   */
  readonly distributionGate?: (check: {
    readonly model: string;
    readonly stableVersion: string | undefined;
    readonly canaryVersion: string;
    readonly since: number;
  }) => Promise<string | undefined>;
  /** Told when a managed release ends by itself (the local stack records it in the registry). */
  readonly onOutcome?: (outcome: ReleaseOutcome) => Promise<void>;
  /** Where failures of `onOutcome` are reported. @default stderr */
  readonly warn?: (text: string) => void;
}

interface ModelState {
  next: number;
  versions: FunctionVersion[];
  routing: AliasRouting;
}

/**
 * Latencies are recorded in microseconds from 1 µs to 15 minutes (Lambda's longest timeout),
 * with 2 significant digits (percentiles within 1%), in a packed HdrHistogram: a minute's
 * histogram takes about 1.5 KB however many requests it holds.
 */
function newHistogram(): Histogram {
  return buildHistogram({
    bitBucketSize: 'packed',
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_LATENCY_US,
    numberOfSignificantValueDigits: 2,
    autoResize: false,
  });
}
const MAX_LATENCY_US = 900_000_000;

/** What a version served over some span: counts, exact total time, and the latency histogram. */
class Tally {
  invocations = 0;
  errors = 0;
  clientErrors = 0;
  totalMs = 0;
  readonly histogram = newHistogram();

  record(statusCode: number, latencyMs: number): void {
    this.invocations++;
    if (isFailure(statusCode)) this.errors++;
    else if (isClientError(statusCode)) this.clientErrors++;
    const ms = Number.isFinite(latencyMs) && latencyMs > 0 ? latencyMs : 0;
    this.totalMs += ms;
    this.histogram.recordValue(Math.min(MAX_LATENCY_US, Math.max(1, Math.round(ms * 1_000))));
  }

  add(other: Tally): void {
    this.invocations += other.invocations;
    this.errors += other.errors;
    this.clientErrors += other.clientErrors;
    this.totalMs += other.totalMs;
    this.histogram.add(other.histogram);
  }

  /** p99 in ms (0 without invocations). */
  p99(): number {
    return this.histogram.getValueAtPercentile(99) / 1_000;
  }

  metrics(): VersionMetrics {
    if (this.invocations === 0) return NO_METRICS;
    return {
      invocations: this.invocations,
      errors: this.errors,
      clientErrors: this.clientErrors,
      latencyMs: {
        p50: this.histogram.getValueAtPercentile(50) / 1_000,
        p99: this.p99(),
        mean: Math.round((this.totalMs / this.invocations) * 1_000) / 1_000,
      },
    };
  }
}

interface ManagedRelease {
  readonly id: string;
  readonly model: string;
  readonly target: string;
  readonly modelVersion: string;
  readonly shift: ManagedShift;
  /** What the target served since the release started: the thresholds judge this. */
  readonly served: Tally;
  /** Epoch ms the release started. */
  readonly startedAt: number;
  nextStepAt: number;
  cancel: () => void;
  busy: boolean;
}

const MINUTE_MS = 60_000;
/** Per-minute tallies are kept this long (metrics windows up to a day). */
const KEEP_MINUTES = 24 * 60;
/**
 * Series (model, function version) kept at most; past it the one updated longest ago goes.
 * With {@link KEEP_MINUTES} this bounds the memory of the counts (a flood of requests to made-up
 * model names cannot grow it without limit).
 */
const MAX_SERIES = 256;

/**
 * @example
 * const traffic = new LocalTrafficRouter({ makeVersion, latest: { handler }, registry });
 * const fv = await traffic.publishVersion('iris', '3');
 * await traffic.setRouting('iris', { stable: '$LATEST', canary: { version: fv, weight: 0.1 } }, { stable: '$LATEST' });
 */
export class LocalTrafficRouter implements TrafficRouter, VersionSelector {
  private readonly models = new Map<string, ModelState>();
  private readonly functions = new Map<string, EmulatedVersion>();
  /** Per (model, function version): minute → what it served then. Ordered by last update. */
  private readonly minutes = new Map<string, Map<number, Tally>>();
  private prunedAt = 0;
  private readonly managed = new Map<string, ManagedRelease>();
  /** Checks of managed releases in flight. */
  private readonly ticking = new Set<Promise<void>>();
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly every: (ms: number, fn: () => Promise<void>) => () => void;
  private readonly threshold: RollbackThreshold;

  constructor(private readonly options: LocalTrafficOptions) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.every =
      options.every ??
      ((ms, fn) => {
        const timer = setInterval(() => void fn(), ms);
        timer.unref();
        return () => clearInterval(timer);
      });
    this.threshold = { ...DEFAULT_ROLLBACK_THRESHOLD, ...options.rollback };
    if (options.file) this.load(options.file);
  }

  async publishVersion(model: string, modelVersion: string): Promise<string> {
    const state = this.state(model);
    const functionVersion = String(state.next);
    this.update(model, { ...state, next: state.next + 1, versions: [...state.versions, { functionVersion, modelVersion }] });
    return functionVersion;
  }

  /**
   * Forgets a published version nothing routes to (not the alias's stable or canary version, not
   * the target of a managed release in flight): the clean-up of a release that failed after
   * publishing. Its number is not reused, as on Lambda.
   */
  async discardVersion(model: string, functionVersion: string): Promise<boolean> {
    if (functionVersion === UNPINNED_VERSION) return false;
    const state = this.state(model);
    const { routing } = state;
    if (
      routing.stable === functionVersion ||
      routing.canary?.version === functionVersion ||
      this.managed.get(model)?.target === functionVersion
    )
      return false;
    if (state.versions.some((v) => v.functionVersion === functionVersion)) {
      this.update(model, { ...state, versions: state.versions.filter((v) => v.functionVersion !== functionVersion) });
    }
    this.functions.delete(key(model, functionVersion));
    return true;
  }

  async getRouting(model: string): Promise<{ readonly routing: AliasRouting; readonly versions: readonly FunctionVersion[] }> {
    const { routing, versions } = this.state(model);
    return { routing, versions: [{ functionVersion: UNPINNED_VERSION }, ...versions] };
  }

  /** A manual change of the alias; it also takes over from a managed release in flight. */
  async setRouting(model: string, routing: AliasRouting, expected: AliasRouting): Promise<void> {
    this.stopManaged(model);
    this.applyRouting(model, routing, expected);
  }

  async startManagedRelease(model: string, target: string, shift: ManagedShift): Promise<string> {
    const state = this.state(model);
    const version = state.versions.find((v) => v.functionVersion === target);
    if (!version?.modelVersion)
      throw new ConflictError('UNKNOWN_FUNCTION_VERSION', `Model "${model}" has no published function version ${target}.`, ['version']);
    if (state.routing.canary || this.managed.has(model))
      throw new ConflictError('RELEASE_IN_PROGRESS', `Model "${model}" has a release in progress.`, ['model']);
    const id = `local-${randomUUID()}`;
    const failure = await this.preTrafficHook(model, target, version.modelVersion);
    if (failure) {
      await this.report({ model, functionVersion: target, modelVersion: version.modelVersion, outcome: 'rolled-back', reason: failure });
      return id;
    }
    this.applyRouting(model, { stable: state.routing.stable, canary: { version: target, weight: shift.percent / 100 } }, state.routing);
    const release: ManagedRelease = {
      id,
      model,
      target,
      modelVersion: version.modelVersion,
      shift,
      served: new Tally(),
      startedAt: this.now(),
      nextStepAt: this.now() + shift.intervalMinutes * (this.options.minuteMs ?? MINUTE_MS),
      cancel: () => undefined,
      busy: false,
    };
    release.cancel = this.every(this.options.tickMs ?? 1_000, () => this.tick(release));
    this.managed.set(model, release);
    return id;
  }

  /**
   * What each version served in the current minute and the `minutes - 1` before it (1 to 1440):
   * invocations, errors (status >= 500), client errors (4xx), and p50/p99 (from the merged
   * minute histograms, within 1%) and mean (exact) of the latency the local server measured.
   */
  async metrics(model: string, functionVersions: readonly string[], minutes: number): Promise<Readonly<Record<string, VersionMetrics>>> {
    const from = Math.floor(this.now() / MINUTE_MS) - minutes + 1;
    const result: Record<string, VersionMetrics> = {};
    for (const functionVersion of functionVersions) {
      const sum = new Tally();
      for (const [minute, tally] of this.minutes.get(key(model, functionVersion)) ?? []) {
        if (minute >= from) sum.add(tally);
      }
      result[functionVersion] = sum.metrics();
    }
    return result;
  }

  /**
   * The local server's hook: the function version that serves a request to `model`'s endpoint,
   * chosen by the alias's weights, and where its outcome goes: `done(statusCode, latencyMs)`,
   * with the function's own time in ms (a handler that threw is reported as 500). A request that
   * names a model version (`/v2/models/{m}/versions/{v}/...`) goes the same way, as on AWS: any
   * function version serves it, loading that model version whatever its own pin.
   */
  select(
    fn: FunctionName,
    pathParameters: Readonly<Record<string, string>>,
  ): { readonly function: LocalFunction; readonly done: (statusCode: number, latencyMs: number) => void } | undefined {
    const model = pathParameters['model'];
    if (fn !== 'predict' || model === undefined) return undefined;
    const { routing } = this.state(model);
    const chosen = routing.canary && this.random() < routing.canary.weight ? routing.canary.version : routing.stable;
    return { function: this.functionOf(model, chosen), done: (status, latencyMs) => this.record(model, chosen, status, latencyMs) };
  }

  /** The managed release of `model` in flight, if any. */
  managedRelease(model: string): { readonly id: string; readonly target: string; readonly shift: ManagedShift } | undefined {
    const release = this.managed.get(model);
    return release && { id: release.id, target: release.target, shift: release.shift };
  }

  /** Stops every timer (the stack's `stop`). */
  async close(): Promise<void> {
    for (const model of [...this.managed.keys()]) this.stopManaged(model);
    // A check in flight (the distribution gate reads the capture bucket) ends before the servers go.
    await Promise.all([...this.ticking]);
  }

  private tick(release: ManagedRelease): Promise<void> {
    const running = this.check(release);
    this.ticking.add(running);
    return running.finally(() => this.ticking.delete(running));
  }

  private async check(release: ManagedRelease): Promise<void> {
    if (release.busy || this.managed.get(release.model) !== release) return;
    release.busy = true;
    try {
      const { model, target, shift } = release;
      const failed = this.verdict(release.served) ?? (await this.distributionVerdict(release));
      if (failed) {
        await this.rollBack(release, failed);
        return;
      }
      if (this.now() < release.nextStepAt) return;
      const current = this.state(model).routing;
      const weight = shift.kind === 'canary' ? 1 : (current.canary?.weight ?? 0) + shift.percent / 100;
      if (weight >= 1 - 1e-9) {
        await this.complete(release);
        return;
      }
      this.applyRouting(model, { stable: current.stable, canary: { version: target, weight } }, current);
      release.nextStepAt += shift.intervalMinutes * (this.options.minuteMs ?? MINUTE_MS);
    } catch (error) {
      this.warn(
        `managed release ${release.id} of "${release.model}" failed a step: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    } finally {
      release.busy = false;
    }
  }

  /** Why the canary must roll back, from what it served since the release started; undefined while it may go on. */
  private verdict(served: Tally): string | undefined {
    const { errorRate, minInvocations, p99LatencyMs } = this.threshold;
    const { invocations, errors } = served;
    if (invocations < minInvocations) return undefined;
    if (errors / invocations > errorRate) {
      const rate = Math.round((errors / invocations) * 1000) / 10;
      return `the canary's error rate ${errors}/${invocations} (${rate}%, answers of 500 or more) passed the threshold of ${Math.round(errorRate * 1e6) / 1e4}% (judged from ${minInvocations} invocations)`;
    }
    const p99 = served.p99();
    if (p99 > p99LatencyMs) {
      return `the canary's p99 latency ${Math.round(p99 * 10) / 10} ms over its ${invocations} invocations passed the threshold of ${p99LatencyMs} ms (judged from ${minInvocations} invocations)`;
    }
    return undefined;
  }

  /** The distribution gate's verdict on the canary, once it has served enough to be judged. */
  private async distributionVerdict(release: ManagedRelease): Promise<string | undefined> {
    const gate = this.options.distributionGate;
    if (!gate || release.served.invocations < this.threshold.minInvocations) return undefined;
    const { routing, versions } = this.state(release.model);
    const stable = versions.find((v) => v.functionVersion === routing.stable)?.modelVersion;
    return gate({ model: release.model, stableVersion: stable, canaryVersion: release.modelVersion, since: release.startedAt });
  }

  /** The registry first (production version), then the alias; a refused registry change rolls back. */
  private async complete(release: ManagedRelease): Promise<void> {
    const { model, target, modelVersion } = release;
    try {
      await this.options.onOutcome?.({ model, functionVersion: target, modelVersion, outcome: 'succeeded' });
    } catch (error) {
      await this.rollBack(
        release,
        `the registry refused to make model version ${modelVersion} production: ${this.publicReason(error, release.model)}`,
      );
      return;
    }
    this.stopManaged(model);
    const current = this.state(model).routing;
    this.applyRouting(model, { stable: target }, current);
  }

  private async rollBack(release: ManagedRelease, reason: string): Promise<void> {
    const { model, target, modelVersion } = release;
    this.stopManaged(model);
    const current = this.state(model).routing;
    this.applyRouting(model, { stable: current.stable }, current);
    await this.report({ model, functionVersion: target, modelVersion, outcome: 'rolled-back', reason });
  }

  private async report(outcome: ReleaseOutcome): Promise<void> {
    try {
      await this.options.onOutcome?.(outcome);
    } catch (error) {
      this.warn(
        `could not record the ${outcome.outcome} release of "${outcome.model}": ${error instanceof Error ? error.message : String(error)}\n`,
      );
    }
  }

  /** CodeDeploy's BeforeAllowTraffic hook: the model version's golden inputs on the new version. */
  private async preTrafficHook(model: string, target: string, modelVersion: string): Promise<string | undefined> {
    const version = await this.options.registry.getVersion(model, modelVersion);
    const goldens = version?.metadata.goldenInputs ?? [];
    const fn = this.emulated(model, target);
    for (const [i, golden] of goldens.entries()) {
      let predictions: readonly unknown[];
      try {
        ({ predictions } = await fn.predict(model, golden.request));
      } catch (error) {
        return `pre-traffic hook: golden input ${i} failed on function version ${target}: ${this.publicReason(error, model)}`;
      }
      const tolerance = golden.tolerance ?? DEFAULT_GOLDEN_TOLERANCE;
      const difference = firstDifference(predictions, golden.expected, tolerance, `goldenInputs[${i}].expected`);
      if (difference) return `pre-traffic hook: golden input ${i} on function version ${target}: ${difference} (tolerance ${tolerance})`;
    }
    return undefined;
  }

  /**
   * What the model's history (readable through the API) may say of a failure: a 4xx's message
   * (the caller's to fix), else only its code, the details (a bucket and key, say) going to the
   * server's log as they would on AWS.
   */
  private publicReason(error: unknown, model: string): string {
    if (error instanceof AppError && error.status < 500) return error.message;
    const code = error instanceof AppError ? error.code : 'INTERNAL';
    this.warn(`release of "${model}": ${code}: ${error instanceof Error ? error.message : String(error)}\n`);
    return `a server error (${code}; the details are in the server's log)`;
  }

  private stopManaged(model: string): void {
    const release = this.managed.get(model);
    if (!release) return;
    release.cancel();
    this.managed.delete(model);
  }

  private applyRouting(model: string, routing: AliasRouting, expected: AliasRouting): void {
    const state = this.state(model);
    if (!sameRouting(state.routing, expected)) {
      throw new ConflictError(
        'ALIAS_CHANGED',
        `Alias "live" of "${model}" changed since it was read (it now routes ${describe(state.routing)}); read it again and retry.`,
        ['model'],
      );
    }
    const known = new Set([UNPINNED_VERSION, ...state.versions.map((v) => v.functionVersion)]);
    for (const version of [routing.stable, ...(routing.canary ? [routing.canary.version] : [])]) {
      if (!known.has(version))
        throw new ConflictError('UNKNOWN_FUNCTION_VERSION', `Model "${model}" has no published function version ${version}.`, ['model']);
    }
    if (routing.canary && !(routing.canary.weight > 0 && routing.canary.weight < 1)) {
      throw new RangeError(`A canary weight is in (0, 1), not ${routing.canary.weight}.`);
    }
    this.update(model, {
      ...state,
      routing: routing.canary ? { stable: routing.stable, canary: { ...routing.canary } } : { stable: routing.stable },
    });
  }

  private state(model: string): ModelState {
    return this.models.get(model) ?? { next: 1, versions: [], routing: { stable: UNPINNED_VERSION } };
  }

  private update(model: string, state: ModelState): void {
    this.models.set(model, state);
    if (this.options.file) this.save(this.options.file);
  }

  private functionOf(model: string, functionVersion: string): LocalFunction {
    return functionVersion === UNPINNED_VERSION ? this.options.latest : this.emulated(model, functionVersion).function;
  }

  private emulated(model: string, functionVersion: string): EmulatedVersion {
    const name = key(model, functionVersion);
    let fn = this.functions.get(name);
    if (!fn) {
      const pin = this.state(model).versions.find((v) => v.functionVersion === functionVersion)?.modelVersion;
      if (pin === undefined) throw new Error(`function version ${functionVersion} of "${model}" is not published`);
      fn = this.options.makeVersion(model, functionVersion, pin);
      this.functions.set(name, fn);
    }
    return fn;
  }

  private record(model: string, functionVersion: string, statusCode: number, latencyMs: number): void {
    const release = this.managed.get(model);
    if (release?.target === functionVersion) release.served.record(statusCode, latencyMs);
    const name = key(model, functionVersion);
    const minute = Math.floor(this.now() / MINUTE_MS);
    let buckets = this.minutes.get(name);
    if (buckets) {
      this.minutes.delete(name); // re-inserted last: the map stays ordered by last update
    } else {
      buckets = new Map();
      if (this.minutes.size >= MAX_SERIES) {
        const stalest = this.minutes.keys().next().value;
        if (stalest !== undefined) this.minutes.delete(stalest);
      }
    }
    this.minutes.set(name, buckets);
    let bucket = buckets.get(minute);
    if (!bucket) buckets.set(minute, (bucket = new Tally()));
    bucket.record(statusCode, latencyMs);
    if (minute > this.prunedAt) this.prune(minute);
  }

  /** Drops the minutes older than a day, and the series left empty; once per minute. */
  private prune(minute: number): void {
    this.prunedAt = minute;
    for (const [name, buckets] of this.minutes) {
      for (const old of buckets.keys()) if (old <= minute - KEEP_MINUTES) buckets.delete(old);
      if (buckets.size === 0) this.minutes.delete(name);
    }
  }

  private warn(text: string): void {
    (this.options.warn ?? ((t) => process.stderr.write(t)))(text);
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const saved = JSON.parse(text) as { models?: Record<string, ModelState> };
    for (const [model, state] of Object.entries(saved.models ?? {})) this.models.set(model, state);
  }

  private save(file: string): void {
    mkdirSync(path.dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify({ models: Object.fromEntries(this.models) }, null, 2)}\n`);
    renameSync(temporary, file);
  }
}

function key(model: string, functionVersion: string): string {
  return `${model}\u0000${functionVersion}`;
}

function sameRouting(a: AliasRouting, b: AliasRouting): boolean {
  return a.stable === b.stable && a.canary?.version === b.canary?.version && a.canary?.weight === b.canary?.weight;
}

function describe(routing: AliasRouting): string {
  return routing.canary
    ? `${Math.round((1 - routing.canary.weight) * 100)}% to ${routing.stable} and ${Math.round(routing.canary.weight * 100)}% to ${routing.canary.version}`
    : `all to ${routing.stable}`;
}
