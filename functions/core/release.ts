/**
 * Releases on the alias: a staging model version becomes a new immutable function version of
 * the model's endpoint (pinned to that model version), and alias `live` moves to it, either
 * managed (canary/linear steps with automatic rollback, done by the `TrafficRouter`) or by hand
 * (a canary weight, then shift, rollback, finalize). Talks to ports only.
 *
 * The registry and the alias meet at `finalize`: the registry's production version becomes the
 * canary's model version first (gates, archive of the previous one, conditional write), then the
 * alias moves, so a finalize that failed halfway is finished by running it again.
 */
import { AppError, ConflictError, NotFoundError, ValidationError, clip, describeError } from './errors.js';
import type { ModelVersion } from './model.js';
import {
  NO_METRICS,
  type AliasRouting,
  type FunctionVersion,
  type LatencySummary,
  type ManagedShift,
  type ModelRegistry,
  type TrafficRouter,
  type VersionMetrics,
} from './ports.js';
import type { RegistryService } from './registry.js';
import { checkModelName } from './registry.js';
import { runGates, type GateDeps } from './gates.js';
import { experimentState } from './experiments/experiment.js';

/** The alias that every endpoint's traffic goes through. */
export const LIVE_ALIAS = 'live';

/** The function version that serves the registry's production version (no pin). */
export const UNPINNED_VERSION = '$LATEST';

export interface ReleaseDeps {
  /** The registry port, for reads and for recording rollbacks in the model's history. */
  readonly registry: ModelRegistry;
  /** Stage changes with their gates (`finalize` makes the canary's version production). */
  readonly service: RegistryService;
  readonly router: TrafficRouter;
  /** What the gates need; they run again before a version is published. */
  readonly gates: GateDeps;
  /** Minutes of metrics shown by `deployment`. @default 60 */
  readonly metricsWindowMinutes?: number;
  readonly now?: () => Date;
  /** Where a failed clean-up is reported. @default nothing is written */
  readonly warn?: (message: string, fields: Record<string, unknown>) => void;
}

export interface PromoteRequest {
  readonly model: string;
  readonly version: string;
  /** Manual canary: percent of the traffic, in (0, 100). Without it (and `managed`): all of it. */
  readonly canaryPercent?: number;
  /** A managed release: the router shifts the traffic and rolls back by itself. */
  readonly managed?: ManagedShift;
  readonly actor: string;
  readonly reason?: string;
}

/** One function version the alias routes to, as `deployment` shows it. */
export interface DeployedVersion {
  readonly functionVersion: string;
  /** The model version it serves (for an unpinned version, the registry's production version). */
  readonly modelVersion: string | null;
  /** Whether the model version is pinned in the function version's configuration. */
  readonly pinned: boolean;
  /** Percent of the traffic. */
  readonly percent: number;
  /** Requests it served in the window. */
  readonly invocations: number;
  /** Answers of 500 or more, caught or not: the failures a release rolls back on (`isFailure`). */
  readonly errors: number;
  /** Answers of 400 to 499: the callers' errors, never the version's. */
  readonly clientErrors: number;
  /** p50, p99 and mean of its time per request, ms; `null` when it served nothing in the window. */
  readonly latencyMs: LatencySummary | null;
}

export interface Deployment {
  readonly model: string;
  readonly alias: string;
  /** The registry's production version. */
  readonly productionVersion: string | null;
  readonly stable: DeployedVersion;
  readonly canary?: DeployedVersion;
  /** The window of `invocations`, `errors`, `clientErrors` and `latencyMs`, in minutes. */
  readonly metricsWindowMinutes: number;
}

export interface PromoteResult {
  readonly release: {
    readonly mode: 'manual' | 'managed' | 'direct';
    readonly functionVersion: string;
    readonly modelVersion: string;
    /** The managed release's id (a CodeDeploy deployment id on AWS). */
    readonly deploymentId?: string;
  };
  readonly deployment: Deployment;
}

/**
 * The canary a shift, rollback or finalize was decided from, as `deployment` showed it
 * (`canary.functionVersion`, `canary.percent`): the change applies only if the alias still routes
 * so, like If-Match (409 `ALIAS_CHANGED` otherwise). Without it a change applies to whatever the
 * alias routes when it arrives, and of two shifts the later one wins.
 */
export interface ExpectedCanary {
  readonly functionVersion: string;
  /** The canary's percent of the traffic; omitted: any. */
  readonly percent?: number;
}

/** What a managed release ended in, as the router reports it. */
export interface ReleaseOutcome {
  readonly model: string;
  readonly functionVersion: string;
  readonly modelVersion: string;
  readonly outcome: 'succeeded' | 'rolled-back';
  /** Why it rolled back: the failed check and its numbers. */
  readonly reason?: string;
}

/**
 * A `staging → staging` entry in the model's history that carries `reason`: how a release that
 * did not make it (rolled back, or refused by a gate) is recorded while the version stays in
 * staging. Conditioned on the version's revision as read, like every stage change.
 */
export async function recordStagingEntry(
  registry: Pick<ModelRegistry, 'applyTransition'>,
  version: Pick<ModelVersion, 'model' | 'version' | 'revision'>,
  actor: string,
  reason: string,
  at: Date,
): Promise<void> {
  await registry.applyTransition({
    model: version.model,
    changes: [{ version: version.version, from: 'staging', to: 'staging', expectedRevision: version.revision }],
    actor,
    at: at.toISOString(),
    reason,
  });
}

/** Who acts when the router ends a managed release by itself. */
export const RELEASE_MONITOR = 'release-monitor';

export class ReleaseService {
  private readonly now: () => Date;
  private readonly window: number;
  private readonly warn: NonNullable<ReleaseDeps['warn']>;

  constructor(private readonly deps: ReleaseDeps) {
    this.now = deps.now ?? (() => new Date());
    this.warn = deps.warn ?? (() => undefined);
    this.window = deps.metricsWindowMinutes ?? 60;
  }

  /**
   * Publishes a function version pinned to a staging model version and moves alias `live` to
   * it: a manual canary (`canaryPercent`), a managed release (`managed`), or straight to all
   * the traffic (then the version becomes the registry's production version at once). The
   * gates run again first. One release per model at a time (`RELEASE_IN_PROGRESS`).
   *
   * @example
   * await releases.promote({ model: 'iris', version: '3', canaryPercent: 10, actor: 'alice' });
   * await releases.shift('iris', 50);
   * await releases.finalize('iris', 'alice');
   */
  async promote(request: PromoteRequest): Promise<PromoteResult> {
    const { model, version: modelVersion } = request;
    const { version, routing } = await this.prepare(request);
    // An experiment serves its variants by key whatever the alias routes: a release now would be
    // judged on traffic the experiment takes from it, and would change what its control serves.
    const experiment = (await this.deps.registry.getModel(model))?.experiment;
    const state = experiment ? experimentState(experiment, this.now().getTime()) : undefined;
    if (experiment && (state === 'running' || state === 'scheduled')) {
      throw new ConflictError(
        'EXPERIMENT_RUNNING',
        `Model "${model}" has experiment ${experiment.id} ${state}; releases and experiments do not overlap. Stop it (POST /v1/models/${model}/experiments/${experiment.id}/stop) or promote its winner first.`,
        ['model'],
      );
    }
    await runGates(version, this.deps.gates);
    const functionVersion = await this.deps.router.publishVersion(model, modelVersion);
    let release: PromoteResult['release'];
    try {
      release = await this.route(request, routing, functionVersion);
    } catch (error) {
      // Lost a race (ALIAS_CHANGED, CONCURRENT_UPDATE, RELEASE_IN_PROGRESS) or refused after
      // publishing: the version this request published serves nothing; it goes.
      await this.discard(model, functionVersion, error);
      throw error;
    }
    return { release, deployment: await this.deployment(model) };
  }

  /**
   * Whether `promote(request)` would get past its checks (the request's fields, the version in
   * staging, no release in progress, the gates), without the experiment check and without
   * changing anything: what promoting an experiment's winner checks before it stops the
   * experiment. Throws the error `promote` would.
   */
  async check(request: PromoteRequest): Promise<void> {
    const { version } = await this.prepare(request);
    await runGates(version, this.deps.gates);
  }

  /** The request's fields, the version (in staging) and the alias (no canary), or the error `promote` answers. */
  private async prepare(request: PromoteRequest): Promise<{ version: ModelVersion; routing: AliasRouting }> {
    const { model, version: modelVersion } = request;
    if (request.canaryPercent !== undefined && request.managed !== undefined) {
      throw new ValidationError('CONFLICTING_FIELDS', 'Give either a canary weight (manual release) or "managed", not both.', ['managed']);
    }
    if (request.canaryPercent !== undefined) checkPercent(request.canaryPercent, ['canary']);
    if (request.managed !== undefined) checkManaged(request.managed);
    const version = await this.requireVersion(model, modelVersion);
    if (version.stage !== 'staging') {
      throw new ConflictError(
        'NOT_IN_STAGING',
        `Version ${modelVersion} of "${model}" is in ${version.stage}; only a staging version can be released. Move it to staging first.`,
        ['version'],
      );
    }
    const { routing, versions } = await this.deps.router.getRouting(model);
    if (routing.canary) throw inProgress(model, routing, versions);
    return { version, routing };
  }

  /** Sends traffic to a just-published version as `request` asks; throws if the alias or registry refuses. */
  private async route(request: PromoteRequest, routing: AliasRouting, functionVersion: string): Promise<PromoteResult['release']> {
    const { model, version: modelVersion } = request;
    if (request.managed) {
      const deploymentId = await this.deps.router.startManagedRelease(model, functionVersion, request.managed);
      return { mode: 'managed', functionVersion, modelVersion, deploymentId };
    }
    if (request.canaryPercent !== undefined) {
      await this.deps.router.setRouting(
        model,
        { stable: routing.stable, canary: { version: functionVersion, weight: request.canaryPercent / 100 } },
        routing,
      );
      return { mode: 'manual', functionVersion, modelVersion };
    }
    await this.makeProduction(model, modelVersion, request.actor, request.reason ?? `released as function version ${functionVersion}`);
    await this.deps.router.setRouting(model, { stable: functionVersion }, routing);
    return { mode: 'direct', functionVersion, modelVersion };
  }

  /**
   * Deletes a version a failed promotion published (the router keeps it if an alias routes to
   * it after all). A failed clean-up is logged and never hides the promotion's own error.
   */
  private async discard(model: string, functionVersion: string, cause: unknown): Promise<void> {
    try {
      await this.deps.router.discardVersion(model, functionVersion);
    } catch (error) {
      this.warn('a failed release left its published function version behind', {
        model,
        functionVersion,
        release: cause instanceof AppError ? cause.code : describeError(cause).name,
        error: describeError(error),
      });
    }
  }

  /**
   * Gives the canary `percent` of the traffic, in (0, 100); with `expected`, only if the canary
   * is still the one the caller read (409 `ALIAS_CHANGED`).
   */
  async shift(model: string, percent: number, expected?: ExpectedCanary): Promise<Deployment> {
    checkPercent(percent, ['percent']);
    const { routing } = await this.requireRelease(model, expected);
    await this.deps.router.setRouting(
      model,
      { stable: routing.stable, canary: { version: routing.canary.version, weight: percent / 100 } },
      routing,
    );
    return this.deployment(model);
  }

  /**
   * Sends all the traffic back to the stable version. The canary's model version stays in
   * staging; the rollback is recorded in the model's history (a staging → staging entry with
   * the reason).
   */
  async rollback(model: string, actor: string, reason?: string, expected?: ExpectedCanary): Promise<Deployment> {
    const { routing, versions } = await this.requireRelease(model, expected);
    await this.deps.router.setRouting(model, { stable: routing.stable }, routing);
    const canary = versions.find((v) => v.functionVersion === routing.canary.version);
    if (canary?.modelVersion !== undefined) {
      await this.recordRollback(
        model,
        canary.modelVersion,
        actor,
        `release rolled back: function version ${routing.canary.version} (model version ${canary.modelVersion}) took ${percentOf(routing.canary.weight)}% of the traffic${reason ? `; ${reason}` : ''}`,
      );
    }
    return this.deployment(model);
  }

  /**
   * Ends a release: the canary's model version becomes the registry's production version (the
   * previous one is archived there), then the alias sends all the traffic to the canary.
   */
  async finalize(model: string, actor: string, reason?: string, expected?: ExpectedCanary): Promise<Deployment> {
    const { routing, versions } = await this.requireRelease(model, expected);
    const canary = versions.find((v) => v.functionVersion === routing.canary.version);
    if (canary?.modelVersion === undefined) {
      throw new ConflictError(
        'UNPINNED_CANARY',
        `The canary (function version ${routing.canary.version}) has no pinned model version; roll it back.`,
        ['model'],
      );
    }
    await this.makeProduction(model, canary.modelVersion, actor, reason ?? `release finalized: function version ${routing.canary.version}`);
    await this.deps.router.setRouting(model, { stable: routing.canary.version }, routing);
    return this.deployment(model);
  }

  /**
   * The alias: stable and canary versions, their model versions, weights, and what each served
   * over the last `minutes` (default: the service's `metricsWindowMinutes`).
   */
  async deployment(model: string, minutes: number = this.window): Promise<Deployment> {
    const record = await this.requireModel(model);
    const { routing, versions } = await this.deps.router.getRouting(model);
    const names = [routing.stable, ...(routing.canary ? [routing.canary.version] : [])];
    const metrics = await this.deps.router.metrics(model, names, minutes);
    const production = record.productionVersion ?? null;
    const view = (functionVersion: string, weight: number): DeployedVersion => {
      const pin = versions.find((v) => v.functionVersion === functionVersion)?.modelVersion;
      const counted: VersionMetrics = metrics[functionVersion] ?? NO_METRICS;
      return {
        functionVersion,
        modelVersion: pin ?? production,
        pinned: pin !== undefined,
        percent: percentOf(weight),
        invocations: counted.invocations,
        errors: counted.errors,
        clientErrors: counted.clientErrors,
        latencyMs: counted.latencyMs,
      };
    };
    return {
      model,
      alias: LIVE_ALIAS,
      productionVersion: production,
      stable: view(routing.stable, 1 - (routing.canary?.weight ?? 0)),
      ...(routing.canary ? { canary: view(routing.canary.version, routing.canary.weight) } : {}),
      metricsWindowMinutes: minutes,
    };
  }

  /**
   * Records what a managed release ended in, when the router ended it by itself: a success
   * makes the model version production; a rollback goes into the history with its reason.
   */
  async recordOutcome(outcome: ReleaseOutcome): Promise<void> {
    if (outcome.outcome === 'succeeded') {
      await this.makeProduction(
        outcome.model,
        outcome.modelVersion,
        RELEASE_MONITOR,
        `managed release succeeded: function version ${outcome.functionVersion}`,
      );
    } else {
      await this.recordRollback(
        outcome.model,
        outcome.modelVersion,
        RELEASE_MONITOR,
        `managed release rolled back automatically: function version ${outcome.functionVersion}${outcome.reason ? `: ${outcome.reason}` : ''}`,
      );
    }
  }

  private async makeProduction(model: string, version: string, actor: string, reason: string): Promise<void> {
    await this.deps.service.transition({ model, version, to: 'production', actor, reason });
  }

  /** A staging → staging history entry that carries the reason (the version stays where it is). */
  private async recordRollback(model: string, modelVersion: string, actor: string, reason: string): Promise<void> {
    const version = await this.deps.registry.getVersion(model, modelVersion);
    if (version?.stage === 'staging') await recordStagingEntry(this.deps.registry, version, actor, reason, this.now());
  }

  /**
   * The alias with its canary, as read now; the change the caller then makes is conditioned on
   * it (`setRouting`'s `expected`), so a check of `expected` here holds until the write.
   */
  private async requireRelease(
    model: string,
    expected?: ExpectedCanary,
  ): Promise<{ routing: AliasRouting & { canary: NonNullable<AliasRouting['canary']> }; versions: readonly FunctionVersion[] }> {
    await this.requireModel(model);
    const { routing, versions } = await this.deps.router.getRouting(model);
    const { canary } = routing;
    if (!canary)
      throw new ConflictError(
        'NO_RELEASE',
        `Model "${model}" has no release in progress: alias "${LIVE_ALIAS}" sends all its traffic to function version ${routing.stable}. Promote a version first.`,
        ['model'],
      );
    if (
      expected &&
      (expected.functionVersion !== canary.version ||
        (expected.percent !== undefined && Math.abs(expected.percent - percentOf(canary.weight)) > 1e-6))
    ) {
      const pin = versions.find((v) => v.functionVersion === canary.version)?.modelVersion;
      const read = `function version ${clip(expected.functionVersion, 20)}${expected.percent === undefined ? '' : ` at ${expected.percent}%`}`;
      throw new ConflictError(
        'ALIAS_CHANGED',
        `Alias "${LIVE_ALIAS}" of "${model}" changed since it was read: its canary is function version ${canary.version}${pin ? ` (model version ${pin})` : ''} at ${percentOf(canary.weight)}%, not ${read} as expected. Read the deployment again and decide anew.`,
        ['expectedCanary'],
      );
    }
    return { routing: { ...routing, canary }, versions };
  }

  private async requireModel(model: string) {
    checkModelName(model);
    const record = await this.deps.registry.getModel(model);
    if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}" is registered.`, ['model']);
    return record;
  }

  private async requireVersion(model: string, version: string): Promise<ModelVersion> {
    await this.requireModel(model);
    const found = await this.deps.registry.getVersion(model, version);
    if (!found) throw new NotFoundError('VERSION_NOT_FOUND', `Model "${model}" has no version ${version}.`, ['version']);
    return found;
  }
}

/** The control plane runs without a traffic router (not wired on this deployment yet). */
export class ReleasesNotConfiguredError extends AppError {
  constructor() {
    super(
      501,
      'RELEASES_NOT_CONFIGURED',
      'Releases on the alias are not configured on this deployment: the control plane has no traffic router. Use PUT /v1/models/{model}/production meanwhile.',
      [],
    );
  }
}

/** 409 `RELEASE_IN_PROGRESS`: the alias routes to a canary (a release not yet finalized or rolled back). */
export function inProgress(model: string, routing: AliasRouting, versions: readonly FunctionVersion[]): ConflictError {
  const canary = routing.canary;
  const pin = versions.find((v) => v.functionVersion === canary?.version)?.modelVersion;
  return new ConflictError(
    'RELEASE_IN_PROGRESS',
    `Model "${model}" has a release in progress: function version ${canary?.version ?? '?'}${pin ? ` (model version ${pin})` : ''} takes ${percentOf(canary?.weight ?? 0)}% of the traffic. Finalize or roll it back first.`,
    ['model'],
  );
}

/**
 * A canary's share, in percent: from {@link MIN_CANARY_PERCENT} to 100 − that. A share closer to 0
 * or 100 is no canary (the alias would round it to one side: 1e-200 percent routed nothing while
 * a release seemed under way).
 */
function checkPercent(percent: number, path: readonly (string | number)[]): void {
  if (!Number.isFinite(percent) || percent < MIN_CANARY_PERCENT || percent > 100 - MIN_CANARY_PERCENT) {
    throw new ValidationError(
      'INVALID_WEIGHT',
      `A canary takes from ${MIN_CANARY_PERCENT} to ${100 - MIN_CANARY_PERCENT} percent of the traffic, not ${percent}. To send it all the traffic, finalize; to send it none, roll back.`,
      path,
    );
  }
}

/** The smallest share of the traffic a canary takes, in percent. */
export const MIN_CANARY_PERCENT = 0.01;

function checkManaged(shift: ManagedShift): void {
  checkPercent(shift.percent, ['managed', 'percent']);
  if (!Number.isInteger(shift.intervalMinutes) || shift.intervalMinutes < 1 || shift.intervalMinutes > 2_880) {
    throw new ValidationError('INVALID_INTERVAL', `A managed release steps every 1 to 2880 whole minutes, not ${shift.intervalMinutes}.`, [
      'managed',
      'intervalMinutes',
    ]);
  }
}

/** A weight in [0, 1] as a percent, without float noise (0.1 → 10, not 10.000000000000002). */
function percentOf(weight: number): number {
  return Math.round(weight * 100 * 1e6) / 1e6;
}
