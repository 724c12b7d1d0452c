/**
 * Scheduled drift detection on AWS: one drift function (`functions/drift/handler.ts`), one
 * EventBridge rule per scheduled model that invokes it with the constant input
 * `{"model": "<name>"}`, and one CloudWatch alarm per scheduled model on the run's metrics.
 *
 * Each run reads the model's registry entry and production version, the version's reference
 * profile (`profiles/` in the artifact bucket), the captured records of the last 24 hours
 * (`capture/` in the capture bucket), stores its report under `drift/` there, and writes one EMF
 * line: `DriftedFeatures`, `DriftedPredictions` and `MaxPSI` with the dimension `Model`, in the
 * endpoints' metrics namespace (`publishDriftMetrics`, `functions/adapters/emf-metrics.ts`).
 * The function may do exactly that: read the registry (GetItem, Query), read `capture/` and
 * `profiles/`, read and write `drift/` (`DataCapture.bindDriftRun`); nothing else. EventBridge
 * may invoke it only from these rules (a resource policy statement per rule, on its ARN).
 *
 * The alarm: `DriftedFeatures` >= 1, statistic Maximum, over one period as long as the schedule,
 * one period to alarm; a period without a run (capture off, no profile yet, the schedule just
 * created) is missing data and counts as not breaching, so the alarm says OK rather than
 * INSUFFICIENT_DATA for a model that is simply not watched yet. CloudWatch needs a period that
 * is a multiple of 60 s and evaluates at most a day, hence schedules of 1 to 1440 minutes.
 * The alarms have no actions: subscribe a topic (`alarms.get(model).addAlarmAction(...)`) to be told.
 *
 * The function runs on the control plane's ONNX Runtime layer: it runs no model, but the
 * composition root it shares with the other functions imports `onnxruntime-node` at load (the
 * module must resolve, and only the layer has it on Lambda).
 */
import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DRIFT_METRICS } from '../functions/adapters/emf-metrics.js';
import { DIMENSION } from '../functions/core/observability.js';
import type { ArtifactBucket } from './artifact-bucket.js';
import { DEFAULT_OBSERVABILITY, MAX_DRIFT_SCHEDULE_MINUTES, type ObservabilityConfig } from './config.js';
import type { DataCapture } from './data-capture.js';
import type { OnnxRuntimeLayer } from './onnxruntime-layer.js';
import { ServingFunction } from './serving-function.js';
import type { ServingTables } from './serving-tables.js';

/** What the drift function may do to the registry table: read models and versions. */
export const DRIFT_REGISTRY_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'] as const;

/** One model's schedule. */
export interface DriftScheduleEntry {
  readonly model: string;
  /** Minutes between runs, 1 to 1440. */
  readonly minutes: number;
}

export interface DriftScheduleProps {
  /** The scheduled models (each once); at least one. */
  readonly schedules: readonly DriftScheduleEntry[];
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
  return name.split(/[-_]/).map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('');
}

/**
 * @example
 * const drift = new DriftSchedule(this, 'Drift', { schedules: [{ model: 'iris', minutes: 60 }], layer, tables, artifacts, capture, logRetention });
 * drift.alarms.get('iris')?.addAlarmAction(new SnsAction(topic));
 */
export class DriftSchedule extends Construct {
  readonly function: ServingFunction;
  /** The rule invoking the function for each model, by model. */
  readonly rules = new Map<string, Rule>();
  /** The alarm on each model's `DriftedFeatures`, by model. */
  readonly alarms = new Map<string, Alarm>();
  readonly metricsNamespace: string;

  constructor(scope: Construct, id: string, props: DriftScheduleProps) {
    super(scope, id);
    if (props.schedules.length === 0) throw new Error(`${this.node.path}: give at least one model to schedule.`);
    const seen = new Set<string>();
    for (const { model, minutes } of props.schedules) {
      if (seen.has(model)) throw new Error(`${this.node.path}: model ${model} is scheduled twice.`);
      seen.add(model);
      if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_DRIFT_SCHEDULE_MINUTES) {
        throw new Error(`${this.node.path}: the drift schedule of ${model} must be a whole number of minutes from 1 to ${MAX_DRIFT_SCHEDULE_MINUTES}, not ${minutes}.`);
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
      description: 'Scheduled drift detection: compares captured requests with the reference profile',
      observability,
    });
    this.function
      .bindTable('REGISTRY_TABLE', props.tables.registry, { actions: DRIFT_REGISTRY_ACTIONS })
      .setEnvironment('ARTIFACT_BUCKET', props.artifacts.bucket.bucketName);
    props.capture.bindDriftRun(this.function, props.artifacts);

    for (const { model, minutes } of props.schedules) {
      const rule = new Rule(this, `Schedule${pascal(model)}`, {
        schedule: Schedule.rate(Duration.minutes(minutes)),
        description: `Drift detection for model ${model} every ${minutes} minutes`,
        targets: [new LambdaFunction(this.function.function, { event: RuleTargetInput.fromObject({ model }) })],
      });
      this.rules.set(model, rule);
      this.alarms.set(
        model,
        new Alarm(this, `Alarm${pascal(model)}`, {
          metric: this.driftMetric(model, DRIFT_METRICS.driftedFeatures, Duration.minutes(minutes)),
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          datapointsToAlarm: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
          alarmDescription:
            `Model ${model}: the scheduled drift run (every ${minutes} min, last 24 h of captured requests) found at least one drifted feature. ` +
            `GET /v1/models/${model}/drift (or modelctl drift ${model}) has the report, worst features first.`,
        }),
      );
    }
  }

  /** One of the drift run's metrics for `model` (namespace `metricsNamespace`, dimension Model), its Maximum per `period`. */
  driftMetric(model: string, metricName: string, period: Duration): Metric {
    return new Metric({ namespace: this.metricsNamespace, metricName, statistic: 'Maximum', period, dimensionsMap: { [DIMENSION.model]: model } });
  }
}
