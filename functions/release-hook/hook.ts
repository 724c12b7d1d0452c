/**
 * The CodeDeploy pre-traffic hook of an endpoint's deployment group. Before any traffic moves to
 * the target version (`BeforeAllowTraffic`), for every deployment of the group (the control
 * plane's managed releases and CloudFormation's own alias updates alike), it:
 *
 * 1. reads the deployment's AppSpec (GetDeployment) for the function, alias and target version;
 * 2. points the group's alarms at the target version (their `ExecutedVersion` and
 *    `FunctionVersion` dimensions, in a single metric or in every metric of a metric-math alarm),
 *    so the alarms CodeDeploy watches during the shift judge the new version on its own requests;
 * 3. reads the model version the target serves (its `PINNED_MODEL_VERSION`, else the registry's
 *    production version) and that version's golden inputs from the registry;
 * 4. invokes the target version with each golden request, as API Gateway would send it, and
 *    compares the predictions with `firstDifference` (the promotion gate's comparison);
 * 5. reports Succeeded, or Failed with the reason logged: CodeDeploy then stops the deployment
 *    and rolls the alias back (it never moved).
 *
 * Any error along the way reports Failed: a hook that cannot check must not let traffic through.
 */
import {
  type CloudWatchClient,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
  type Dimension,
  type MetricAlarm,
  type MetricDataQuery,
  type PutMetricAlarmCommandInput,
} from '@aws-sdk/client-cloudwatch';
import {
  GetDeploymentCommand,
  GetDeploymentGroupCommand,
  PutLifecycleEventHookExecutionStatusCommand,
  type CodeDeployClient,
} from '@aws-sdk/client-codedeploy';
import { GetFunctionConfigurationCommand, InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { DEFAULT_GOLDEN_TOLERANCE, firstDifference } from '../core/gates.js';
import type { ModelRegistry } from '../core/ports.js';
import { logLine } from '../shared/http.js';

/** The event CodeDeploy invokes a lifecycle hook with. */
export interface LifecycleHookEvent {
  readonly DeploymentId: string;
  readonly LifecycleEventHookExecutionId: string;
}

export interface HookDeps {
  readonly codeDeploy: CodeDeployClient;
  readonly lambda: LambdaClient;
  readonly cloudWatch: CloudWatchClient;
  readonly registry: Pick<ModelRegistry, 'getModel' | 'getVersion'>;
  /** @default structured log lines on stdout */
  readonly log?: (level: 'INFO' | 'WARN' | 'ERROR', message: string, fields?: Record<string, unknown>) => void;
}

/** What a Lambda deployment's AppSpec names. */
export interface DeploymentTarget {
  readonly functionName: string;
  readonly alias: string;
  readonly currentVersion: string;
  readonly targetVersion: string;
  readonly application: string;
  readonly deploymentGroup: string;
}

export type HookOutcome =
  | { readonly status: 'Succeeded'; readonly checked: number; readonly modelVersion?: string }
  | { readonly status: 'Failed'; readonly reason: string };

/** The caller the endpoint's prediction logs record for the hook's requests. */
export const HOOK_CALLER = 'codedeploy-pre-traffic-hook';

/** Reads the AppSpec's one `AWS::Lambda::Function` resource (JSON, or the YAML CloudFormation may write). */
export function parseAppSpec(content: string): Omit<DeploymentTarget, 'application' | 'deploymentGroup'> {
  let props: Record<string, unknown> | undefined;
  try {
    const spec = JSON.parse(content) as { Resources?: Record<string, { Properties?: Record<string, unknown> }>[] };
    props = Object.values(spec.Resources?.[0] ?? {})[0]?.Properties;
  } catch {
    const field = (name: string) => new RegExp(`\\b${name}\\s*:\\s*["']?([^"'\\s,}]+)`).exec(content)?.[1];
    props = { Name: field('Name'), Alias: field('Alias'), CurrentVersion: field('CurrentVersion'), TargetVersion: field('TargetVersion') };
  }
  const text = (key: string): string => {
    const value = props?.[key];
    if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`The deployment's AppSpec has no ${key}.`);
    return String(value);
  };
  return { functionName: text('Name'), alias: text('Alias'), currentVersion: text('CurrentVersion'), targetVersion: text('TargetVersion') };
}

/** The function, alias, versions, application and group of a deployment, from its AppSpec. */
export async function deploymentTarget(deploymentId: string, codeDeploy: CodeDeployClient): Promise<DeploymentTarget> {
  const { deploymentInfo: info } = await codeDeploy.send(new GetDeploymentCommand({ deploymentId }));
  const content = info?.revision?.appSpecContent?.content ?? info?.revision?.string?.content;
  if (!info?.applicationName || !info.deploymentGroupName || !content)
    throw new Error(`Deployment ${deploymentId} has no AppSpec content to read the target version from.`);
  return { ...parseAppSpec(content), application: info.applicationName, deploymentGroup: info.deploymentGroupName };
}

/**
 * The dimensions that name the Lambda version a metric describes: Lambda's own per-alias metrics
 * carry `ExecutedVersion`, the function's EMF metrics `FunctionVersion`
 * (`functions/core/observability.ts`). The hook sets both to the deployment's target version.
 */
export const VERSION_DIMENSIONS: ReadonlySet<string> = new Set(['ExecutedVersion', 'FunctionVersion']);

/** `dimensions` with every version dimension set to `version`, the others as they are. */
function withVersion(dimensions: readonly Dimension[], version: string): Dimension[] {
  return dimensions.map((d) => (d.Name !== undefined && VERSION_DIMENSIONS.has(d.Name) ? { Name: d.Name, Value: version } : d));
}

/** Whether an alarm watches a version: a version dimension on its metric, or on any metric of its math. */
export function watchesVersion(alarm: MetricAlarm): boolean {
  const named = (dimensions: readonly Dimension[] | undefined) =>
    (dimensions ?? []).some((d) => d.Name !== undefined && VERSION_DIMENSIONS.has(d.Name));
  return named(alarm.Dimensions) || (alarm.Metrics ?? []).some((query) => named(query.MetricStat?.Metric?.Dimensions));
}

/**
 * The alarm as PutMetricAlarm takes it, watching `version`: `ExecutedVersion` and
 * `FunctionVersion` set to it wherever they appear, everything else as DescribeAlarms returned it.
 *
 * - A single-metric alarm keeps its namespace, metric, statistic, dimensions, period and unit.
 * - A metric-math alarm (`Metrics`) keeps every query's id, expression, label, return-data flag,
 *   period and account, and every MetricStat's metric, stat and unit; PutMetricAlarm refuses
 *   `Namespace`, `MetricName`, `Dimensions`, `Period`, `Unit`, `Statistic` and `ExtendedStatistic`
 *   next to `Metrics`, so those are left out
 *   (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
 *
 * Both keep the name, description, actions, threshold (or threshold metric id), comparison,
 * evaluation periods, datapoints to alarm and missing-data treatment. PutMetricAlarm replaces the
 * whole configuration, so anything not passed would be lost.
 *
 * @example
 * retargeted(describedAlarm, '7') // { AlarmName, Metrics: [{ Id: 'lambdaErrors', MetricStat: { Metric: { Dimensions: [{ Name: 'ExecutedVersion', Value: '7' }, ...] } } }, ...], ... }
 */
export function retargeted(alarm: MetricAlarm, version: string): PutMetricAlarmCommandInput {
  const common = {
    AlarmDescription: alarm.AlarmDescription,
    ActionsEnabled: alarm.ActionsEnabled,
    OKActions: alarm.OKActions,
    AlarmActions: alarm.AlarmActions,
    InsufficientDataActions: alarm.InsufficientDataActions,
    EvaluationPeriods: alarm.EvaluationPeriods,
    DatapointsToAlarm: alarm.DatapointsToAlarm,
    Threshold: alarm.Threshold,
    ThresholdMetricId: alarm.ThresholdMetricId,
    ComparisonOperator: alarm.ComparisonOperator,
    TreatMissingData: alarm.TreatMissingData,
    EvaluateLowSampleCountPercentile: alarm.EvaluateLowSampleCountPercentile,
  };
  const metric = alarm.Metrics?.length
    ? { Metrics: alarm.Metrics.map((query) => retargetedQuery(query, version)) }
    : {
        Namespace: alarm.Namespace,
        MetricName: alarm.MetricName,
        Dimensions: withVersion(alarm.Dimensions ?? [], version),
        Period: alarm.Period,
        Unit: alarm.Unit,
        Statistic: alarm.Statistic,
        ExtendedStatistic: alarm.ExtendedStatistic,
      };
  return { AlarmName: alarm.AlarmName, ...defined({ ...common, ...metric }) };
}

/** One query of a metric-math alarm with its metric's version dimensions set to `version`. */
function retargetedQuery(query: MetricDataQuery, version: string): MetricDataQuery {
  const stat = query.MetricStat;
  const metric = stat?.Metric;
  if (!stat || !metric) return query;
  return { ...query, MetricStat: { ...stat, Metric: { ...metric, Dimensions: withVersion(metric.Dimensions ?? [], version) } } };
}

/** `fields` without its undefined entries (PutMetricAlarm is sent what DescribeAlarms returned, no more). */
function defined<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Points the deployment group's per-version alarms at the target version (those that watch none,
 * e.g. an alarm on the whole function, are left alone). Returns the names of the alarms moved.
 */
export async function retargetAlarms(target: DeploymentTarget, deps: Pick<HookDeps, 'codeDeploy' | 'cloudWatch'>): Promise<string[]> {
  const { deploymentGroupInfo: group } = await deps.codeDeploy.send(
    new GetDeploymentGroupCommand({ applicationName: target.application, deploymentGroupName: target.deploymentGroup }),
  );
  const names = (group?.alarmConfiguration?.alarms ?? []).flatMap((a) => (a.name ? [a.name] : []));
  if (names.length === 0) return [];
  const { MetricAlarms: alarms = [] } = await deps.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: names }));
  const moved: string[] = [];
  for (const alarm of alarms) {
    if (!watchesVersion(alarm)) continue;
    await deps.cloudWatch.send(new PutMetricAlarmCommand(retargeted(alarm, target.targetVersion)));
    if (alarm.AlarmName) moved.push(alarm.AlarmName);
  }
  return moved;
}

/** The API Gateway proxy event the predict route receives for a golden request. */
export function goldenEvent(model: string, request: unknown, requestId: string): Record<string, unknown> {
  const path = `/v1/models/${encodeURIComponent(model)}/predict`;
  return {
    resource: '/v1/models/{model}/predict',
    path,
    httpMethod: 'POST',
    headers: { 'content-type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { model: encodeURIComponent(model) },
    stageVariables: null,
    requestContext: {
      requestId,
      resourcePath: '/v1/models/{model}/predict',
      httpMethod: 'POST',
      path,
      authorizer: { principalId: HOOK_CALLER },
    },
    body: JSON.stringify(request),
    isBase64Encoded: false,
  };
}

/** Runs the checks of one deployment; never throws (a failure is an outcome). */
export async function checkDeployment(deploymentId: string, deps: HookDeps): Promise<HookOutcome> {
  const log = deps.log ?? logLine;
  try {
    const target = await deploymentTarget(deploymentId, deps.codeDeploy);
    const alarms = await retargetAlarms(target, deps);
    const config = await deps.lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: target.functionName, Qualifier: target.targetVersion }),
    );
    const variables = config.Environment?.Variables ?? {};
    const model = variables['SERVED_MODEL'];
    if (!model) return { status: 'Failed', reason: `Version ${target.targetVersion} of ${target.functionName} names no SERVED_MODEL.` };
    const modelVersion = variables['PINNED_MODEL_VERSION'] ?? (await deps.registry.getModel(model))?.productionVersion;
    log('INFO', 'pre-traffic hook', { deploymentId, ...target, model, modelVersion, alarms });
    // An unpinned version with no production model yet (a first deploy) has nothing to replay.
    if (modelVersion === undefined) return { status: 'Succeeded', checked: 0 };
    const version = await deps.registry.getVersion(model, modelVersion);
    if (!version) return { status: 'Failed', reason: `Model "${model}" has no version ${modelVersion} in the registry.` };
    const goldens = version.metadata.goldenInputs ?? [];
    for (const [i, golden] of goldens.entries()) {
      const failure = await replay(target, model, modelVersion, golden, i, `${deploymentId}-golden-${i}`, deps.lambda);
      if (failure) return { status: 'Failed', reason: failure };
    }
    return { status: 'Succeeded', checked: goldens.length, modelVersion };
  } catch (error) {
    return {
      status: 'Failed',
      reason: `The hook could not check the deployment: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
    };
  }
}

async function replay(
  target: DeploymentTarget,
  model: string,
  modelVersion: string,
  golden: { readonly request: unknown; readonly expected: readonly unknown[]; readonly tolerance?: number },
  i: number,
  requestId: string,
  lambda: LambdaClient,
): Promise<string | undefined> {
  const where = `golden input ${i} of ${model} version ${modelVersion} on function version ${target.targetVersion}`;
  const result = await lambda.send(
    new InvokeCommand({
      FunctionName: target.functionName,
      Qualifier: target.targetVersion,
      Payload: new TextEncoder().encode(JSON.stringify(goldenEvent(model, golden.request, requestId))),
    }),
  );
  const text = result.Payload ? new TextDecoder().decode(result.Payload) : '';
  if (result.FunctionError) return `${where}: the function failed (${result.FunctionError}): ${text.slice(0, 500)}`;
  let response: { statusCode?: number; body?: string };
  let body: { predictions?: unknown; modelVersion?: unknown };
  try {
    response = JSON.parse(text) as typeof response;
    body = JSON.parse(response.body ?? '') as typeof body;
  } catch {
    return `${where}: the response is not an API Gateway proxy result with a JSON body: ${text.slice(0, 500)}`;
  }
  if (response.statusCode !== 200) return `${where}: status ${String(response.statusCode)}: ${(response.body ?? '').slice(0, 500)}`;
  if (body.modelVersion !== modelVersion) return `${where}: served model version ${String(body.modelVersion)}, expected ${modelVersion}`;
  const tolerance = golden.tolerance ?? DEFAULT_GOLDEN_TOLERANCE;
  const difference = firstDifference(body.predictions, golden.expected, tolerance, `goldenInputs[${i}].expected`);
  return difference ? `${where} does not reproduce its expected output: ${difference} (tolerance ${tolerance})` : undefined;
}

/**
 * The Lambda handler: checks, then reports the outcome to CodeDeploy. Reporting is the one step
 * allowed to throw (Lambda retries the invocation; CodeDeploy fails the deployment when no status
 * ever arrives).
 *
 * @example
 * export const handler = makeHookHandler({ codeDeploy, lambda, cloudWatch, registry });
 */
export function makeHookHandler(deps: HookDeps): (event: LifecycleHookEvent) => Promise<HookOutcome> {
  return lifecycleHook('pre-traffic hook', (deploymentId) => checkDeployment(deploymentId, deps), deps);
}

/**
 * A CodeDeploy lifecycle hook: runs `check` on the deployment, logs the outcome, and reports its
 * status to CodeDeploy (which rolls the deployment back on Failed). Shared by both hooks.
 */
export function lifecycleHook<T extends { readonly status: 'Succeeded' | 'Failed' }>(
  name: string,
  check: (deploymentId: string) => Promise<T>,
  deps: { readonly codeDeploy: CodeDeployClient; readonly log?: HookDeps['log'] },
): (event: LifecycleHookEvent) => Promise<T> {
  const log = deps.log ?? logLine;
  return async (event) => {
    const outcome = await check(event.DeploymentId);
    log(outcome.status === 'Succeeded' ? 'INFO' : 'ERROR', `${name} ${outcome.status}`, { deploymentId: event.DeploymentId, ...outcome });
    await deps.codeDeploy.send(
      new PutLifecycleEventHookExecutionStatusCommand({
        deploymentId: event.DeploymentId,
        lifecycleEventHookExecutionId: event.LifecycleEventHookExecutionId,
        status: outcome.status,
      }),
    );
    return outcome;
  };
}
