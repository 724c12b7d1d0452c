/**
 * The `TrafficRouter` port over AWS: Lambda versions pinned to model versions, alias `live` moved
 * with conditional writes, managed releases through CodeDeploy, per-version metrics from
 * CloudWatch.
 *
 * Every write is conditioned on what was read (Lambda's `RevisionId`), so a change made by
 * someone else in between fails with `ConflictError` and changes nothing. Throttling is retried
 * by the SDK clients' standard retry strategy (bounded by their `maxAttempts`, 3 by default);
 * a call still throttled after that fails with a 503 `RELEASE_THROTTLED` and, like a conflict,
 * leaves the alias as it was (the alias is written by one call, `UpdateAlias`, or not at all).
 *
 * `$LATEST` and the pin: `publishVersion` sets `PINNED_MODEL_VERSION` on `$LATEST` and publishes
 * it; the pin stays on `$LATEST` afterwards, on purpose. Nothing routes to `$LATEST` (the API
 * invokes alias `live` only, and the alias routes to numbered versions only), the next
 * `publishVersion` overwrites the pin, and CloudFormation sets `$LATEST`'s whole environment
 * again whenever it updates the function, which it does before every version it publishes, so a
 * version `cdk deploy` publishes carries no pin. Restoring the pin would cost a second update and
 * wait per release and open a window where a failed restore leaves the same state anyway.
 */
import { CreateDeploymentCommand, type CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { GetMetricDataCommand, type CloudWatchClient, type Metric, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import {
  DeleteFunctionCommand,
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionConfigurationCommand,
  type FunctionConfiguration,
  type GetAliasCommandOutput,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { createHash } from 'node:crypto';
import { AppError, ConflictError, InternalError, NotFoundError, ValidationError } from '../core/errors.js';
import { DEFAULT_METRICS_NAMESPACE, DIMENSION, METRIC } from '../core/observability.js';
import {
  NO_METRICS,
  type AliasRouting,
  type FunctionVersion,
  type LatencySummary,
  type ManagedShift,
  type TrafficRouter,
  type VersionMetrics,
} from '../core/ports.js';

/** The environment variable that pins a function version to a model version. */
export const PIN_VARIABLE = 'PINNED_MODEL_VERSION';

/** A custom CodeDeploy deployment configuration the CDK app created for a shift. */
export interface CustomShiftConfig extends ManagedShift {
  readonly configName: string;
}

/** Where one model's endpoint lives (the control plane's `ENDPOINTS`, one entry per model). */
export interface LambdaEndpoint {
  readonly functionName: string;
  readonly alias: string;
  /** CodeDeploy application and deployment group of the alias (managed releases). */
  readonly application?: string;
  readonly deploymentGroup?: string;
  /** The pre-traffic hook function named in each deployment's AppSpec. */
  readonly preTrafficHook?: string;
  /** The post-traffic hook (moves the registry once all the traffic is on the target) named in each AppSpec. */
  readonly postTrafficHook?: string;
  /** Custom deployment configurations, for shifts CodeDeploy has no predefined one for. */
  readonly customShifts?: readonly CustomShiftConfig[];
}

export interface LambdaTrafficRouterOptions {
  readonly lambda: LambdaClient;
  readonly codeDeploy: CodeDeployClient;
  readonly cloudWatch: CloudWatchClient;
  readonly endpoints: Readonly<Record<string, LambdaEndpoint>>;
  /** CloudWatch namespace of the product's own metrics (`METRICS_NAMESPACE`). @default 'OnnxServing' */
  readonly metricsNamespace?: string;
  /** Longest wait for a configuration update to finish before publishing. @default 60000 */
  readonly waitTimeoutMs?: number;
  /** Pause between polls of the update's status. @default 1000 */
  readonly pollIntervalMs?: number;
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/**
 * CodeDeploy's predefined Lambda configurations, by shift (kind, percent, minutes). See
 * https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html
 * (canary: `percent` for `intervalMinutes`, then the rest; linear: `percent` more every
 * `intervalMinutes`).
 */
export const PREDEFINED_SHIFTS: readonly CustomShiftConfig[] = [
  { kind: 'canary', percent: 10, intervalMinutes: 5, configName: 'CodeDeployDefault.LambdaCanary10Percent5Minutes' },
  { kind: 'canary', percent: 10, intervalMinutes: 10, configName: 'CodeDeployDefault.LambdaCanary10Percent10Minutes' },
  { kind: 'canary', percent: 10, intervalMinutes: 15, configName: 'CodeDeployDefault.LambdaCanary10Percent15Minutes' },
  { kind: 'canary', percent: 10, intervalMinutes: 30, configName: 'CodeDeployDefault.LambdaCanary10Percent30Minutes' },
  { kind: 'linear', percent: 10, intervalMinutes: 1, configName: 'CodeDeployDefault.LambdaLinear10PercentEvery1Minute' },
  { kind: 'linear', percent: 10, intervalMinutes: 2, configName: 'CodeDeployDefault.LambdaLinear10PercentEvery2Minutes' },
  { kind: 'linear', percent: 10, intervalMinutes: 3, configName: 'CodeDeployDefault.LambdaLinear10PercentEvery3Minutes' },
  { kind: 'linear', percent: 10, intervalMinutes: 10, configName: 'CodeDeployDefault.LambdaLinear10PercentEvery10Minutes' },
];

const sameShift = (a: ManagedShift, b: ManagedShift) =>
  a.kind === b.kind && a.percent === b.percent && a.intervalMinutes === b.intervalMinutes;

/** The deployment configuration for `shift`: predefined, else one of the endpoint's custom ones. */
export function deploymentConfigFor(shift: ManagedShift, custom: readonly CustomShiftConfig[] = []): string {
  const found = PREDEFINED_SHIFTS.find((c) => sameShift(c, shift)) ?? custom.find((c) => sameShift(c, shift));
  if (found) return found.configName;
  const offered = [...PREDEFINED_SHIFTS, ...custom].map((c) => `${c.kind} ${c.percent}%/${c.intervalMinutes} min`).join(', ');
  throw new ValidationError(
    'UNSUPPORTED_SHIFT',
    `No CodeDeploy configuration shifts ${shift.kind} ${shift.percent}% every ${shift.intervalMinutes} min for this endpoint; choose one of: ${offered}, or declare it as the endpoint's "release" in the CDK config.`,
    ['shift'],
  );
}

/** The AppSpec of a Lambda deployment (version 0.0), as CodeDeploy reads it. */
export function lambdaAppSpec(endpoint: LambdaEndpoint, currentVersion: string, targetVersion: string): string {
  const hooks = [
    ...(endpoint.preTrafficHook ? [{ BeforeAllowTraffic: endpoint.preTrafficHook }] : []),
    ...(endpoint.postTrafficHook ? [{ AfterAllowTraffic: endpoint.postTrafficHook }] : []),
  ];
  const body = JSON.stringify({
    Resources: [
      {
        [endpoint.functionName]: {
          Type: 'AWS::Lambda::Function',
          Properties: { Name: endpoint.functionName, Alias: endpoint.alias, CurrentVersion: currentVersion, TargetVersion: targetVersion },
        },
      },
    ],
    ...(hooks.length > 0 ? { Hooks: hooks } : {}),
  });
  // `"version": 0.0` exactly as AWS documents it (JSON.stringify would write 0).
  return `{"version":0.0,${body.slice(1)}`;
}

const WEIGHT_TOLERANCE = 1e-6;

function sameRouting(a: AliasRouting, b: AliasRouting): boolean {
  if (a.stable !== b.stable) return false;
  if (!a.canary || !b.canary) return !a.canary && !b.canary;
  return a.canary.version === b.canary.version && Math.abs(a.canary.weight - b.canary.weight) <= WEIGHT_TOLERANCE;
}

function describeRouting(r: AliasRouting): string {
  return r.canary ? `version ${r.stable} with ${r.canary.weight} to version ${r.canary.version}` : `version ${r.stable}`;
}

function routingOf(alias: GetAliasCommandOutput, name: string): AliasRouting {
  if (!alias.FunctionVersion) throw new InternalError('ALIAS_UNREADABLE', `Alias ${name} has no function version.`);
  const weights = Object.entries(alias.RoutingConfig?.AdditionalVersionWeights ?? {});
  const [canary] = weights;
  return { stable: alias.FunctionVersion, ...(canary ? { canary: { version: canary[0], weight: canary[1] } } : {}) };
}

const errorName = (error: unknown): string | undefined => (error instanceof Error ? error.name : undefined);
const THROTTLING = new Set(['TooManyRequestsException', 'ThrottlingException', 'Throttling', 'ThrottledException']);
/** Lambda's answers to a write whose RevisionId no longer matches, or that met another update. */
const CONFLICTS = new Set(['PreconditionFailedException', 'ResourceConflictException']);

/** Maps an SDK failure to the core's typed errors (conflict 409, throttled 503, missing resource 500); others pass through. */
function mapped(error: unknown, what: string): unknown {
  const name = errorName(error);
  if (name && CONFLICTS.has(name))
    return new ConflictError('CONCURRENT_UPDATE', `${what} changed while this release was being made; read it again and retry.`);
  if (name && THROTTLING.has(name))
    return new AppError(503, 'RELEASE_THROTTLED', `AWS throttled ${what} after retries; nothing was changed. Retry in a moment.`, [], {
      cause: error,
    });
  // The endpoint's function or alias is ours (the CDK app made it, ENDPOINTS names it): its
  // absence is a broken deployment, a 5xx with the name in the log, never the caller's 404.
  if (name === 'ResourceNotFoundException')
    return new InternalError('ENDPOINT_RESOURCE_NOT_FOUND', `${what} does not exist.`, { cause: error });
  return error;
}

/**
 * @example
 * const router = new LambdaTrafficRouter({ lambda, codeDeploy, cloudWatch, endpoints: config.ENDPOINTS });
 * const version = await router.publishVersion('iris', '3');
 * await router.setRouting('iris', { stable: '6', canary: { version, weight: 0.1 } }, { stable: '6' });
 */
export class LambdaTrafficRouter implements TrafficRouter {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => Date;
  private readonly waitTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly namespace: string;

  constructor(private readonly options: LambdaTrafficRouterOptions) {
    this.namespace = options.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? (() => new Date());
    this.waitTimeoutMs = options.waitTimeoutMs ?? 60_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
  }

  async publishVersion(model: string, modelVersion: string): Promise<string> {
    const { functionName } = this.endpoint(model);
    const { lambda } = this.options;
    const what = `The configuration of function ${functionName}`;
    try {
      const current = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
      // Merge: every other variable (tables, bucket, limits) stays as CloudFormation set it.
      const variables = { ...(current.Environment?.Variables ?? {}), [PIN_VARIABLE]: modelVersion };
      await lambda.send(
        new UpdateFunctionConfigurationCommand({
          FunctionName: functionName,
          Environment: { Variables: variables },
          ...(current.RevisionId ? { RevisionId: current.RevisionId } : {}),
        }),
      );
      const updated = await this.waitForUpdate(functionName);
      if (updated.Environment?.Variables?.[PIN_VARIABLE] !== modelVersion) {
        throw new ConflictError('CONCURRENT_UPDATE', `${what} was changed by someone else during the update; retry.`);
      }
      // Conditioned on the revision the finished update produced: nothing changed in between.
      const published = await lambda.send(
        new PublishVersionCommand({
          FunctionName: functionName,
          Description: `model version ${modelVersion}`,
          ...(updated.RevisionId ? { RevisionId: updated.RevisionId } : {}),
        }),
      );
      if (!published.Version) throw new InternalError('PUBLISH_FAILED', `Lambda published no version of ${functionName}.`);
      return published.Version;
    } catch (error) {
      throw mapped(error, what);
    }
  }

  /**
   * Deletes version `functionVersion` unless alias `live` routes to it. The alias is read first;
   * Lambda itself also refuses to delete a version an alias references
   * (`ResourceConflictException`), which covers an alias moved to it in between: kept, `false`.
   * The version is named in `FunctionName` (`fn:7`), so the grant is on versions (`fn:*`) only,
   * never on the function itself. A version already gone counts as deleted.
   */
  async discardVersion(model: string, functionVersion: string): Promise<boolean> {
    if (!/^[1-9][0-9]*$/.test(functionVersion)) return false;
    const endpoint = this.endpoint(model);
    try {
      const routing = routingOf(await this.readAlias(endpoint), `${endpoint.functionName}:${endpoint.alias}`);
      if (routing.stable === functionVersion || routing.canary?.version === functionVersion) return false;
      await this.options.lambda.send(new DeleteFunctionCommand({ FunctionName: `${endpoint.functionName}:${functionVersion}` }));
      return true;
    } catch (error) {
      const name = errorName(error);
      if (name === 'ResourceConflictException') return false;
      if (name === 'ResourceNotFoundException') return true;
      throw mapped(error, `Version ${functionVersion} of ${endpoint.functionName}`);
    }
  }

  async getRouting(model: string): Promise<{ routing: AliasRouting; versions: FunctionVersion[] }> {
    const endpoint = this.endpoint(model);
    try {
      const routing = routingOf(await this.readAlias(endpoint), `${endpoint.functionName}:${endpoint.alias}`);
      const numbers = [routing.stable, ...(routing.canary ? [routing.canary.version] : [])];
      const versions = await Promise.all(numbers.map((v) => this.pinOf(endpoint.functionName, v)));
      return { routing, versions };
    } catch (error) {
      throw mapped(error, `Alias ${endpoint.alias} of ${endpoint.functionName}`);
    }
  }

  async setRouting(model: string, routing: AliasRouting, expected: AliasRouting): Promise<void> {
    const endpoint = this.endpoint(model);
    checkRouting(routing);
    const what = `Alias ${endpoint.alias} of ${endpoint.functionName}`;
    try {
      const alias = await this.readAlias(endpoint);
      const actual = routingOf(alias, `${endpoint.functionName}:${endpoint.alias}`);
      if (!sameRouting(actual, expected)) {
        throw new ConflictError(
          'ROUTING_CHANGED',
          `${what} routes ${describeRouting(actual)}, not ${describeRouting(expected)} as expected; read it again.`,
        );
      }
      await this.options.lambda.send(
        new UpdateAliasCommand({
          FunctionName: endpoint.functionName,
          Name: endpoint.alias,
          FunctionVersion: routing.stable,
          // An empty map removes the additional version.
          RoutingConfig: { AdditionalVersionWeights: routing.canary ? { [routing.canary.version]: routing.canary.weight } : {} },
          ...(alias.RevisionId ? { RevisionId: alias.RevisionId } : {}),
        }),
      );
    } catch (error) {
      throw mapped(error, what);
    }
  }

  async startManagedRelease(model: string, target: string, shift: ManagedShift): Promise<string> {
    const endpoint = this.endpoint(model);
    const { application, deploymentGroup } = endpoint;
    if (!application || !deploymentGroup) {
      throw new ValidationError(
        'MANAGED_RELEASE_UNAVAILABLE',
        `Model "${model}" has no CodeDeploy deployment group; use a manual release (canary weight, shift, finalize).`,
        ['shift'],
      );
    }
    const deploymentConfigName = deploymentConfigFor(shift, endpoint.customShifts);
    try {
      const routing = routingOf(await this.readAlias(endpoint), `${endpoint.functionName}:${endpoint.alias}`);
      if (routing.canary) {
        throw new ConflictError(
          'RELEASE_IN_PROGRESS',
          `Alias ${endpoint.alias} already routes ${describeRouting(routing)}; finalize or roll back that release first.`,
        );
      }
      if (routing.stable === target)
        throw new ValidationError('ALREADY_LIVE', `Version ${target} already takes all of the traffic.`, ['version']);
      const content = lambdaAppSpec(endpoint, routing.stable, target);
      const created = await this.options.codeDeploy.send(
        new CreateDeploymentCommand({
          applicationName: application,
          deploymentGroupName: deploymentGroup,
          deploymentConfigName,
          description: `model ${model}: function version ${routing.stable} → ${target}`,
          revision: {
            revisionType: 'AppSpecContent',
            appSpecContent: { content, sha256: createHash('sha256').update(content).digest('hex') },
          },
        }),
      );
      if (!created.deploymentId) throw new InternalError('DEPLOYMENT_FAILED', `CodeDeploy started no deployment for ${model}.`);
      return created.deploymentId;
    } catch (error) {
      // One deployment per group at a time: another one in progress is a conflict.
      if (errorName(error) === 'DeploymentLimitExceededException') {
        throw new ConflictError(
          'RELEASE_IN_PROGRESS',
          `A CodeDeploy deployment of ${model} is already in progress; wait for it or stop it.`,
        );
      }
      throw mapped(error, `Deployment group ${deploymentGroup}`);
    }
  }

  /**
   * What each version served over the last `minutes` (whole minutes, the window ending at the
   * start of the current minute), from one GetMetricData call (paginated), per version:
   *
   * - AWS/Lambda `Invocations` (Sum), `Errors` (Sum: uncaught failures, timeouts, crashes) and
   *   `Duration` (p50, p99, Average), as alias `live` routed them: Lambda publishes alias
   *   invocations with the dimensions FunctionName, Resource (`<function>:<alias>`) and
   *   ExecutedVersion (the version that ran), so each version is measured on its own requests
   *   (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html, "ExecutedVersion
   *   … only applies to alias invocations");
   * - the product's `Invocation5XXErrors` and `Invocation4XXErrors` (Sum) in `metricsNamespace`,
   *   dimensions (Model, FunctionVersion): the answers the handler built (`observability.ts`).
   *
   * `errors` = Lambda `Errors` + `Invocation5XXErrors` (a request is one or the other: a handler
   * that answered 500 did not fail for Lambda, and one that crashed published no EMF line), so it
   * counts every answer of 500 or more as `isFailure` does; `clientErrors` = `Invocation4XXErrors`.
   * The window is one period, so CloudWatch computes the percentiles over all of it; should it
   * return several datapoints, the mean is weighted by each one's invocations and p50/p99 are the
   * largest (an upper bound, never an underestimate of a slow version).
   */
  async metrics(model: string, functionVersions: readonly string[], minutes: number): Promise<Record<string, VersionMetrics>> {
    const endpoint = this.endpoint(model);
    if (!Number.isInteger(minutes) || minutes < 1)
      throw new ValidationError('INVALID_WINDOW', 'The metrics window is a whole number of minutes, at least 1.', ['minutes']);
    const result: Record<string, VersionMetrics> = Object.fromEntries(functionVersions.map((v) => [v, NO_METRICS]));
    if (functionVersions.length === 0) return result;
    const end = new Date(Math.floor(this.now().getTime() / 60_000) * 60_000);
    const start = new Date(end.getTime() - minutes * 60_000);
    const period = minutes * 60;
    const queries: MetricDataQuery[] = functionVersions.flatMap((version, i) => {
      const lambda = (metricName: string): Metric => ({
        Namespace: 'AWS/Lambda',
        MetricName: metricName,
        Dimensions: [
          { Name: 'FunctionName', Value: endpoint.functionName },
          { Name: 'Resource', Value: `${endpoint.functionName}:${endpoint.alias}` },
          { Name: 'ExecutedVersion', Value: version },
        ],
      });
      const product = (metricName: string): Metric => ({
        Namespace: this.namespace,
        MetricName: metricName,
        Dimensions: [
          { Name: DIMENSION.model, Value: model },
          { Name: DIMENSION.functionVersion, Value: version },
        ],
      });
      const query = (id: string, metric: Metric, stat: string): MetricDataQuery => ({
        Id: `${id}_${i}`,
        ReturnData: true,
        MetricStat: { Metric: metric, Period: period, Stat: stat },
      });
      return [
        query('invocations', lambda('Invocations'), 'Sum'),
        query('errors', lambda('Errors'), 'Sum'),
        query('p50', lambda('Duration'), 'p50'),
        query('p99', lambda('Duration'), 'p99'),
        query('mean', lambda('Duration'), 'Average'),
        query('server', product(METRIC.serverErrors), 'Sum'),
        query('client', product(METRIC.clientErrors), 'Sum'),
      ];
    });
    const series = new Map<string, { readonly timestamps: readonly number[]; readonly values: readonly number[] }>();
    let nextToken: string | undefined;
    try {
      do {
        const page = await this.options.cloudWatch.send(
          new GetMetricDataCommand({
            MetricDataQueries: queries,
            StartTime: start,
            EndTime: end,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        );
        for (const result of page.MetricDataResults ?? []) {
          if (!result.Id) continue;
          // Pages continue a series where the last one stopped: append.
          const known = series.get(result.Id) ?? { timestamps: [], values: [] };
          const values = result.Values ?? [];
          const timestamps = values.map((_, k) => result.Timestamps?.[k]?.getTime() ?? Number.NaN);
          series.set(result.Id, { timestamps: [...known.timestamps, ...timestamps], values: [...known.values, ...values] });
        }
        nextToken = page.NextToken;
      } while (nextToken);
    } catch (error) {
      throw mapped(error, `The metrics of ${endpoint.functionName}`);
    }
    const sum = (id: string) => (series.get(id)?.values ?? []).reduce((a, b) => a + b, 0);
    functionVersions.forEach((version, i) => {
      const invocations = sum(`invocations_${i}`);
      result[version] = {
        invocations,
        errors: sum(`errors_${i}`) + sum(`server_${i}`),
        clientErrors: sum(`client_${i}`),
        latencyMs: invocations === 0 ? null : latencyOf(series, i),
      };
    });
    return result;
  }

  private endpoint(model: string): LambdaEndpoint {
    const endpoint = this.options.endpoints[model];
    if (!endpoint)
      throw new NotFoundError('MODEL_NOT_FOUND', `No endpoint serves model "${model}"; add it to the CDK app's endpoints and deploy.`, [
        'model',
      ]);
    return endpoint;
  }

  private readAlias(endpoint: LambdaEndpoint): Promise<GetAliasCommandOutput> {
    return this.options.lambda.send(new GetAliasCommand({ FunctionName: endpoint.functionName, Name: endpoint.alias }));
  }

  private async pinOf(functionName: string, version: string): Promise<FunctionVersion> {
    const config = await this.options.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName, Qualifier: version }));
    const pin = config.Environment?.Variables?.[PIN_VARIABLE];
    return { functionVersion: version, ...(pin ? { modelVersion: pin } : {}) };
  }

  /** Polls `$LATEST` until its last update finished: Successful returns it, Failed throws, bounded. */
  private async waitForUpdate(functionName: string): Promise<FunctionConfiguration> {
    const deadline = Date.now() + this.waitTimeoutMs;
    for (;;) {
      const config = await this.options.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
      if (config.LastUpdateStatus === 'Successful' || config.LastUpdateStatus === undefined) return config;
      if (config.LastUpdateStatus === 'Failed') {
        throw new InternalError(
          'UPDATE_FAILED',
          `Lambda could not apply the configuration of ${functionName}: ${config.LastUpdateStatusReason ?? 'no reason given'} (${config.LastUpdateStatusReasonCode ?? 'no code'}).`,
        );
      }
      if (Date.now() + this.pollIntervalMs > deadline) {
        throw new InternalError(
          'UPDATE_TIMEOUT',
          `The configuration update of ${functionName} did not finish within ${this.waitTimeoutMs} ms; nothing was published.`,
        );
      }
      await this.sleep(this.pollIntervalMs);
    }
  }
}

type Series = ReadonlyMap<string, { readonly timestamps: readonly number[]; readonly values: readonly number[] }>;

/**
 * Version `i`'s Duration: with one datapoint, CloudWatch's p50, p99 and Average as they are;
 * with several, the mean weighted by each datapoint's invocations and the largest p50 and p99.
 * `null` when Lambda published no Duration for it.
 */
function latencyOf(series: Series, i: number): LatencySummary | null {
  const p50 = series.get(`p50_${i}`)?.values ?? [];
  const p99 = series.get(`p99_${i}`)?.values ?? [];
  const mean = series.get(`mean_${i}`);
  if (p50.length === 0 || p99.length === 0 || !mean || mean.values.length === 0) return null;
  const invocations = series.get(`invocations_${i}`);
  const weightAt = (timestamp: number) => {
    const k = invocations?.timestamps.indexOf(timestamp) ?? -1;
    return k >= 0 ? (invocations?.values[k] ?? 1) : 1;
  };
  let weighted = 0;
  let weights = 0;
  mean.values.forEach((value, k) => {
    const weight = weightAt(mean.timestamps[k] ?? Number.NaN);
    weighted += value * weight;
    weights += weight;
  });
  return { p50: Math.max(...p50), p99: Math.max(...p99), mean: weights > 0 ? weighted / weights : Math.max(...mean.values) };
}

function checkRouting(routing: AliasRouting): void {
  if (!routing.canary) return;
  const { version, weight } = routing.canary;
  if (!(weight > 0 && weight < 1))
    throw new ValidationError('INVALID_WEIGHT', `A canary weight is between 0 and 1 exclusive, not ${weight}.`, ['weight']);
  if (version === routing.stable)
    throw new ValidationError('INVALID_ROUTING', `The canary version ${version} is the stable version.`, ['version']);
}
