/**
 * Drift detection on AWS: one drift function (`functions/drift/handler.ts`) and, per model, up to
 * two EventBridge rules that invoke it with a constant input, each with its CloudWatch alarm.
 *
 * **The schedule** (`endpoints[].drift.scheduleMinutes`): a rule with the input
 * `{"model": "<name>"}`. Each run reads the model's registry entry and production version, the
 * version's reference profile (`profiles/` in the artifact bucket), the captured records of the
 * last 24 hours (`capture/` in the capture bucket), stores its report under `drift/` there, and
 * writes one EMF line: `DriftedFeatures`, `DriftedPredictions` and `MaxPSI` with the dimension
 * `Model`, in the endpoints' metrics namespace (`publishDriftMetrics`, `functions/adapters/emf-metrics.ts`).
 * Its alarm: `DriftedFeatures` >= 1, statistic Maximum, over one period as long as the schedule,
 * one period to alarm; a period without a run (capture off, no profile yet, the schedule just
 * created) is missing data and counts as not breaching, so the alarm says OK rather than
 * INSUFFICIENT_DATA for a model that is simply not watched yet. CloudWatch needs a period that
 * is a multiple of 60 s and evaluates at most a day, hence schedules of 1 to 1440 minutes.
 * These alarms have no actions: subscribe a topic (`alarms.get(model).addAlarmAction(...)`) to be told.
 *
 * **The canary gate** (`endpoints[].drift.canaryGate`): a rule every minute with the input
 * `{"model": "<name>", "check": "canary"}`. The function reads alias `live` of the model's
 * endpoint (`LambdaTrafficRouter.getRouting`: GetAlias on `live`, GetFunctionConfiguration of
 * each version it routes to, for the pinned model version); while it routes to a canary, it
 * compares the canary's captured predictions with the stable version's (the last
 * `CANARY_WINDOW_MINUTES`, 30), emits `CanaryPredictionShift` (1 shifted, 0 alike; dimension
 * `Model`) and, on a shift, records the reason in the model's history once (`recordCanaryShift`: GetItem, Query, then
 * `applyTransition`'s TransactWriteItems of a Put and two Updates). Its alarm:
 * `CanaryPredictionShift` >= 1, Maximum over one 60 s period, one period to alarm, missing data
 * not breaching (no canary, no check), added to the endpoint's CodeDeploy deployment group, so
 * CodeDeploy stops and rolls back a deployment whose canary shifts, as it does on the errors and
 * latency alarms. The alarm is per model, not per function version: the pre-traffic hook, which
 * points the group's per-version alarms at each deployment's target (`retargetAlarms`,
 * `functions/release-hook/hook.ts`), leaves it as it is (it has no `ExecutedVersion` or
 * `FunctionVersion` dimension); the hook only reads it (it describes every alarm of the group),
 * so it gets `cloudwatch:DescribeAlarms` on it and nothing more.
 *
 * The function may do exactly what those need: read the registry (GetItem, Query), and with a
 * canary gate write the history entry (PutItem, UpdateItem: the items of the transaction; no
 * ConditionCheckItem, no DeleteItem); read `capture/` and `profiles/`, read and write `drift/`
 * (`DataCapture.bindDriftRun`); with a gate, GetAlias on alias `live` and GetFunctionConfiguration
 * on the versions of the gated endpoints' functions only (`ENDPOINTS` names those functions and
 * their alias, nothing else of the control plane's entry). EventBridge may invoke it only from
 * these rules (a resource policy statement per rule, on its ARN).
 *
 * The function runs on the control plane's ONNX Runtime layer: it runs no model, but the
 * composition root it shares with the other functions imports `onnxruntime-node` at load (the
 * module must resolve, and only the layer has it on Lambda).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DRIFT_METRICS } from '../functions/adapters/emf-metrics.js';
import type { LambdaEndpoint } from '../functions/adapters/lambda-traffic-router.js';
import { CANARY_WINDOW_MINUTES } from '../functions/drift/app.js';
import { DIMENSION } from '../functions/core/observability.js';
import type { ArtifactBucket } from './artifact-bucket.js';
import { DEFAULT_OBSERVABILITY, MAX_DRIFT_SCHEDULE_MINUTES, type ObservabilityConfig } from './config.js';
import type { DataCapture } from './data-capture.js';
import type { EndpointRelease } from './endpoint-release.js';
import { LIVE_ALIAS, type ModelEndpoint } from './model-endpoint.js';
import type { OnnxRuntimeLayer } from './onnxruntime-layer.js';
import { ServingFunction } from './serving-function.js';
import type { ServingTables } from './serving-tables.js';

/** What the drift function may do to the registry table: read models, versions and history. */
export const DRIFT_REGISTRY_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'] as const;
/**
 * With a canary gate, also: write the history entry of a shifted canary. `applyTransition` sends
 * one TransactWriteItems of a Put (the history item) and Updates (the version, the model), and a
 * transaction is authorized by the actions of its items (`functions/adapters/dynamodb-registry.ts`).
 */
export const DRIFT_CANARY_REGISTRY_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem'] as const;
/** The canary check reads alias `live` of a gated endpoint's function (`getRouting`)... */
export const DRIFT_ALIAS_ACTIONS = ['lambda:GetAlias'] as const;
/** ...and the configuration of each version it routes to (`Qualifier`: the version), for its pinned model version. */
export const DRIFT_VERSION_ACTIONS = ['lambda:GetFunctionConfiguration'] as const;
/** What the pre-traffic hook may do to a canary alarm: describe it with the group's other alarms (never rewrite it). */
export const HOOK_CANARY_ALARM_ACTIONS = ['cloudwatch:DescribeAlarms'] as const;
/** Minutes between canary checks (and the canary alarm's period): CloudWatch's and EventBridge's least. */
export const CANARY_CHECK_MINUTES = 1;

/** One model's schedule. */
export interface DriftScheduleEntry {
  readonly model: string;
  /** Minutes between runs, 1 to 1440. */
  readonly minutes: number;
}

/** One model's canary gate: its endpoint and the deployment group of its managed releases. */
export interface CanaryGateEntry {
  readonly endpoint: ModelEndpoint;
  readonly release: EndpointRelease;
}

export interface DriftScheduleProps {
  /** The scheduled models (each once). With `canaryGates`, at least one model in all. */
  readonly schedules: readonly DriftScheduleEntry[];
  /** The gated models (each once). @default none */
  readonly canaryGates?: readonly CanaryGateEntry[];
  readonly layer: OnnxRuntimeLayer;
  readonly tables: ServingTables;
  readonly artifacts: ArtifactBucket;
  readonly capture: DataCapture;
  readonly logRetention: RetentionDays;
  /** Metrics namespace (the alarms read it too), log level, tracing. @default namespace OnnxServing, INFO, no tracing */
  readonly observability?: ObservabilityConfig;
  /** Memory of the drift function: it holds up to `DRIFT_MAX_RECORDS` (10,000) captured records. @default 1024 */
  readonly memoryMb?: number;
  /** @default 300 seconds */
  readonly timeoutSeconds?: number;
}

/** A construct id from a model name: `iris-v2` → `IrisV2`. */
function pascal(name: string): string {
  return name
    .split(/[-_]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * @example
 * const drift = new DriftSchedule(this, 'Drift', { schedules: [{ model: 'iris', minutes: 60 }], canaryGates: [{ endpoint: iris, release }], layer, tables, artifacts, capture, logRetention });
 * drift.alarms.get('iris')?.addAlarmAction(new SnsAction(topic));
 * drift.canaryAlarms.get('iris'); // also in the deployment group's alarms
 */
export class DriftSchedule extends Construct {
  readonly function: ServingFunction;
  /** The rule invoking the function for each model, by model. */
  readonly rules = new Map<string, Rule>();
  /** The alarm on each model's `DriftedFeatures`, by model. */
  readonly alarms = new Map<string, Alarm>();
  /** The rule of each gated model's canary check, by model. */
  readonly canaryRules = new Map<string, Rule>();
  /** The alarm on each gated model's `CanaryPredictionShift` (one of its deployment group's alarms), by model. */
  readonly canaryAlarms = new Map<string, Alarm>();
  readonly metricsNamespace: string;

  constructor(scope: Construct, id: string, props: DriftScheduleProps) {
    super(scope, id);
    const gates = props.canaryGates ?? [];
    if (props.schedules.length === 0 && gates.length === 0)
      throw new Error(`${this.node.path}: give at least one model to schedule or gate.`);
    const gated = new Set<string>();
    for (const { endpoint } of gates) {
      if (gated.has(endpoint.model)) throw new Error(`${this.node.path}: model ${endpoint.model} is gated twice.`);
      gated.add(endpoint.model);
    }
    const seen = new Set<string>();
    for (const { model, minutes } of props.schedules) {
      if (seen.has(model)) throw new Error(`${this.node.path}: model ${model} is scheduled twice.`);
      seen.add(model);
      if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_DRIFT_SCHEDULE_MINUTES) {
        throw new Error(
          `${this.node.path}: the drift schedule of ${model} must be a whole number of minutes from 1 to ${MAX_DRIFT_SCHEDULE_MINUTES}, not ${minutes}.`,
        );
      }
    }
    const observability = props.observability ?? DEFAULT_OBSERVABILITY;
    this.metricsNamespace = observability.metricsNamespace;

    this.function = new ServingFunction(this, 'Run', {
      entry: 'functions/drift/handler.ts',
      layer: props.layer,
      memoryMb: props.memoryMb ?? 1_024,
      timeout: Duration.seconds(props.timeoutSeconds ?? 300),
      logRetention: props.logRetention,
      description:
        "Scheduled drift detection: compares captured requests with the reference profile (and a canary's predictions with the stable version's)",
      observability,
    });
    const registryActions = gates.length > 0 ? [...DRIFT_REGISTRY_ACTIONS, ...DRIFT_CANARY_REGISTRY_ACTIONS] : DRIFT_REGISTRY_ACTIONS;
    this.function
      .bindTable('REGISTRY_TABLE', props.tables.registry, { actions: registryActions })
      .setEnvironment('ARTIFACT_BUCKET', props.artifacts.bucket.bucketName);
    props.capture.bindDriftRun(this.function, props.artifacts);
    if (gates.length > 0) {
      // What the router needs of each gated endpoint: its function and alias (no CodeDeploy names: it starts no release).
      const endpoints: Record<string, LambdaEndpoint> = Object.fromEntries(
        gates.map(({ endpoint }) => [endpoint.model, { functionName: endpoint.function.function.functionName, alias: LIVE_ALIAS }]),
      );
      this.function.setEnvironment('ENDPOINTS', Stack.of(this).toJsonString(endpoints));
    }

    for (const { model, minutes } of props.schedules) {
      const rule = new Rule(this, `Schedule${pascal(model)}`, {
        schedule: Schedule.rate(Duration.minutes(minutes)),
        description: `Drift detection for model ${model} every ${minutes} minutes`,
        targets: [new LambdaFunction(this.function.function, { event: RuleTargetInput.fromObject({ model }) })],
      });
      this.rules.set(model, rule);
      this.alarms.set(
        model,
        this.onceAlarm(
          `Alarm${pascal(model)}`,
          this.driftMetric(model, DRIFT_METRICS.driftedFeatures, Duration.minutes(minutes)),
          `Model ${model}: the scheduled drift run (every ${minutes} min, last 24 h of captured requests) found at least one drifted feature. ` +
            `GET /v1/models/${model}/drift (or modelctl drift ${model}) has the report, worst features first.`,
        ),
      );
    }
    for (const gate of gates) this.gate(gate);
  }

  /** An alarm when `metric` reaches 1 in one period; no data (no run, no canary) is not a breach. */
  private onceAlarm(id: string, metric: Metric, description: string): Alarm {
    return new Alarm(this, id, {
      metric,
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
  }

  /**
   * The canary check of one endpoint: the minute rule, the alarm in its deployment group, the
   * pre-traffic hook's read of that alarm, and the function's reads of that endpoint's alias and versions.
   */
  private gate({ endpoint, release }: CanaryGateEntry): void {
    const { model } = endpoint;
    const fn = endpoint.function.function;
    this.canaryRules.set(
      model,
      new Rule(this, `Canary${pascal(model)}`, {
        schedule: Schedule.rate(Duration.minutes(CANARY_CHECK_MINUTES)),
        description: `Canary distribution gate for model ${model}: compares a live canary's predictions with the stable version's every minute`,
        targets: [new LambdaFunction(this.function.function, { event: RuleTargetInput.fromObject({ model, check: 'canary' }) })],
      }),
    );
    const alarm = this.onceAlarm(
      `CanaryAlarm${pascal(model)}`,
      this.driftMetric(model, DRIFT_METRICS.canaryShift, Duration.minutes(CANARY_CHECK_MINUTES)),
      `Model ${model}: the canary's predictions shifted from the stable version's (distribution gate, last ${CANARY_WINDOW_MINUTES} min of captured requests). ` +
        `CodeDeploy rolls the release back on it; the reason is in GET /v1/models/${model}/history.`,
    );
    this.canaryAlarms.set(model, alarm);
    release.deploymentGroup.addAlarm(alarm);
    release.hook.allow(HOOK_CANARY_ALARM_ACTIONS, [alarm.alarmArn]);
    this.function.allow(DRIFT_ALIAS_ACTIONS, [`${fn.functionArn}:${LIVE_ALIAS}`]).allow(DRIFT_VERSION_ACTIONS, [`${fn.functionArn}:*`], {
      wildcardReason: `The canary check reads the model version pinned in each version alias ${LIVE_ALIAS} of ${model}'s function routes to; version numbers are allocated at release time.`,
    });
  }

  /** One of the drift function's metrics for `model` (namespace `metricsNamespace`, dimension Model), its Maximum per `period`. */
  driftMetric(model: string, metricName: string, period: Duration): Metric {
    return new Metric({
      namespace: this.metricsNamespace,
      metricName,
      statistic: 'Maximum',
      period,
      dimensionsMap: { [DIMENSION.model]: model },
    });
  }
}
