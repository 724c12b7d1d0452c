/**
 * One model endpoint: the predict function for one model, its alias `live` (what the API
 * invokes), its log group, and the two alarms CodeDeploy watches while it shifts `live` to a new
 * version (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-groups-configure-advanced-options.html):
 * the failure rate and the p99 duration of that version alone. Lambda publishes the metrics of
 * an alias's traffic per executed version with the dimensions (FunctionName, Resource =
 * `<fn>:live`, ExecutedVersion) (dimensions: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html;
 * `Errors` counts thrown errors, timeouts and out-of-memory ends, not answered 5xx:
 * https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html); the function's
 * own EMF lines carry (Model, FunctionVersion). The template's alarms name the version this
 * deployment publishes; each deployment's pre-traffic hook points them at its target version
 * (`functions/release-hook/hook.ts`).
 */
import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, MathExpression, Metric, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { Alias, type Version } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DIMENSION, METRIC, type MetricName } from '../functions/core/observability.js';
import { DEFAULT_OBSERVABILITY, type EndpointConfig, type ObservabilityConfig } from './config.js';
import { modelArtifactPrefix, type ArtifactBucket } from './artifact-bucket.js';
import type { OnnxRuntimeLayer } from './onnxruntime-layer.js';
import type { DataCapture } from './data-capture.js';
import type { PayloadBucket } from './payload-bucket.js';
import { ServingFunction } from './serving-function.js';
import type { ServingTables } from './serving-tables.js';

/** The alias the API invokes; canaries shift its weights between versions. */
export const LIVE_ALIAS = 'live';

/** What an endpoint may do to the registry table: read models and versions. */
export const ENDPOINT_REGISTRY_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'] as const;
/** What an endpoint may do to the prediction-log table: add one item per request. */
export const ENDPOINT_LOG_ACTIONS = ['dynamodb:PutItem'] as const;
/** What an endpoint may do to its own model's artifacts (GetObjectVersion: reads pin a VersionId). */
export const ENDPOINT_ARTIFACT_ACTIONS = ['s3:GetObject', 's3:GetObjectVersion'] as const;

export interface ModelEndpointProps {
  readonly config: EndpointConfig;
  /** The ONNX Runtime layer of `config.architecture`. */
  readonly layer: OnnxRuntimeLayer;
  readonly tables: ServingTables;
  readonly artifacts: ArtifactBucket;
  /**
   * Where payloads too large for a synchronous invoke go by reference: the function gets
   * `PAYLOAD_BUCKET` and its own model's `inputs/` and `outputs/` prefixes
   * ({@link PayloadBucket.bindEndpoint}).
   */
  readonly payloads: PayloadBucket;
  /**
   * Where captured requests go: the function gets `CAPTURE_STREAM` and may put records to that
   * stream only ({@link DataCapture.bindEndpoint}). @default none: the function captures nothing
   */
  readonly capture?: DataCapture;
  readonly logRetention: RetentionDays;
  /** Days before a prediction log item expires. */
  readonly predictionLogTtlDays: number;
  /** @default Lambda's 250 MB */
  readonly unzippedSizeLimitBytes?: number;
  /** Metrics namespace (read by the alarms too), log level and tracing. @default namespace OnnxServing, INFO, no tracing */
  readonly observability?: ObservabilityConfig;
}

/**
 * @example
 * const iris = new ModelEndpoint(this, 'Iris', { config, layer, tables, artifacts, payloads, logRetention: RetentionDays.ONE_MONTH, predictionLogTtlDays: 30 });
 * api.addEndpoint(iris.model, iris.alias);
 */
export class ModelEndpoint extends Construct {
  readonly model: string;
  readonly function: ServingFunction;
  /**
   * The version this deployment published from the code and configuration in the template. A
   * changed one is rolled onto alias `live` by CodeDeploy (see EndpointRelease); runtime releases
   * move the alias to pinned versions without CloudFormation.
   */
  readonly version: Version;
  readonly alias: Alias;
  /** The namespace the function publishes its per-request metrics in, and the alarms read. */
  readonly metricsNamespace: string;
  /** The failure rate (%) of this deployment's version through alias `live`: what `errorsAlarm` watches. */
  readonly failureRate: MathExpression;
  /** Failure rate above `alarms.errorRatePercent` (see {@link failureRateExpression}). */
  readonly errorsAlarm: Alarm;
  /** Lambda's p99 `Duration` of the version above `alarms.p99LatencyMs` (timeouts included). */
  readonly latencyAlarm: Alarm;

  constructor(scope: Construct, id: string, props: ModelEndpointProps) {
    super(scope, id);
    const { config } = props;
    if (props.layer.architectureName !== config.architecture) {
      throw new Error(`Endpoint ${config.model} runs on ${config.architecture} but was given the ${props.layer.architectureName} layer.`);
    }
    this.model = config.model;
    const observability = props.observability ?? DEFAULT_OBSERVABILITY;
    this.metricsNamespace = observability.metricsNamespace;

    this.function = new ServingFunction(this, 'Predict', {
      entry: 'functions/predict/handler.ts',
      layer: props.layer,
      memoryMb: config.memoryMb,
      timeout: Duration.seconds(config.timeoutSeconds),
      logRetention: props.logRetention,
      description: `Serves ONNX model ${config.model}`,
      observability,
      ...(config.reservedConcurrency !== undefined ? { reservedConcurrency: config.reservedConcurrency } : {}),
      ...(props.unzippedSizeLimitBytes !== undefined ? { unzippedSizeLimitBytes: props.unzippedSizeLimitBytes } : {}),
      environment: {
        SERVED_MODEL: config.model,
        MAX_ROWS: String(config.maxRows),
        MAX_BODY_BYTES: String(config.maxBodyBytes),
        LOG_TTL_DAYS: String(props.predictionLogTtlDays),
      },
    });
    this.function
      .bindTable('REGISTRY_TABLE', props.tables.registry, { actions: ENDPOINT_REGISTRY_ACTIONS })
      .bindTable('PREDICTION_LOG_TABLE', props.tables.predictionLog, { actions: ENDPOINT_LOG_ACTIONS })
      .setEnvironment('ARTIFACT_BUCKET', props.artifacts.bucket.bucketName)
      .allow(ENDPOINT_ARTIFACT_ACTIONS, [props.artifacts.modelObjectsArn(config.model)], {
        wildcardReason: `Artifact keys under ${modelArtifactPrefix(config.model)} carry a version and a sha256 known only at registration; the prefix is this endpoint's own model.`,
      })
      // Listing its own prefix turns a missing artifact into NoSuchKey instead of AccessDenied.
      .allow(['s3:ListBucket'], [props.artifacts.bucket.bucketArn], {
        conditions: { StringLike: { 's3:prefix': [`${modelArtifactPrefix(config.model)}*`] } },
      });
    // Online features: reads of exactly the tables the config names, nothing else.
    this.function.bindFeatureTables(config.onlineFeatureTables, ['dynamodb:BatchGetItem']);
    props.payloads.bindEndpoint(this.function, config.model);
    props.capture?.bindEndpoint(this.function);

    this.version = this.function.function.currentVersion;
    this.alias = new Alias(this, 'Live', {
      aliasName: LIVE_ALIAS,
      version: this.version,
      description: `Traffic for model ${config.model}`,
      ...(config.provisionedConcurrency !== undefined ? { provisionedConcurrentExecutions: config.provisionedConcurrency } : {}),
    });

    const { alarms } = config;
    if (!(alarms.errorRatePercent >= 0 && alarms.errorRatePercent < 100)) {
      throw new Error(`Endpoint ${config.model}: alarms.errorRatePercent must be 0 or more and below 100, not ${alarms.errorRatePercent}.`);
    }
    const period = Duration.seconds(alarms.periodSeconds);
    const common = {
      evaluationPeriods: alarms.evaluationPeriods,
      datapointsToAlarm: alarms.evaluationPeriods,
      // No traffic is not an outage of this version.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    };
    this.failureRate = failureRateExpression({
      serverErrors: this.emfMetric(METRIC.serverErrors, 'Sum', period),
      lambdaErrors: this.versionMetric('Errors', 'Sum', period),
      invocations: this.versionMetric('Invocations', 'Sum', period),
      minInvocations: alarms.minInvocations,
      period,
    });
    this.errorsAlarm = new Alarm(this, 'ErrorsAlarm', {
      ...common,
      metric: this.failureRate,
      threshold: alarms.errorRatePercent,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        `Model ${config.model}: more than ${alarms.errorRatePercent}% of the requests alias ${LIVE_ALIAS} sent to the version it is shifting to ` +
        `(ExecutedVersion/FunctionVersion, set by each deployment's pre-traffic hook) failed (5xx answered, or crash, timeout, out of memory), ` +
        `in ${alarms.evaluationPeriods} periods of ${alarms.periodSeconds} s with at least ${alarms.minInvocations} invocations each.`,
    });
    this.latencyAlarm = new Alarm(this, 'LatencyP99Alarm', {
      ...common,
      metric: this.versionMetric('Duration', 'p99', period),
      threshold: alarms.p99LatencyMs,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: `Model ${config.model}: p99 duration of the version alias ${LIVE_ALIAS} is shifting to (ExecutedVersion, set by each deployment's pre-traffic hook) above ${alarms.p99LatencyMs} ms.`,
    });
  }

  /**
   * A metric of the invocations that alias `live` routed to this deployment's version: Lambda
   * publishes alias traffic with dimensions (FunctionName, Resource = `<fn>:live`,
   * ExecutedVersion), so during a canary the new version is judged on its own requests, not on
   * the blend the alias serves.
   */
  versionMetric(metricName: string, statistic: string, period: Duration, version: string = this.version.version): Metric {
    return new Metric({
      namespace: 'AWS/Lambda',
      metricName,
      statistic,
      period,
      dimensionsMap: {
        FunctionName: this.function.function.functionName,
        Resource: `${this.function.function.functionName}:${LIVE_ALIAS}`,
        ExecutedVersion: version,
      },
    });
  }

  /**
   * One of the product's per-request metrics (EMF, `functions/adapters/emf-metrics.ts`) for one
   * Lambda version of this endpoint: namespace `metricsNamespace`, dimensions (Model,
   * FunctionVersion), the first of `DIMENSION_SETS`. Requests the function answered are counted
   * here, whatever their status; a crash, timeout or out-of-memory writes no line.
   */
  emfMetric(metricName: MetricName, statistic: string, period: Duration, version: string = this.version.version): Metric {
    return new Metric({
      namespace: this.metricsNamespace,
      metricName,
      statistic,
      period,
      dimensionsMap: { [DIMENSION.model]: this.model, [DIMENSION.functionVersion]: version },
    });
  }
}

export interface FailureRateMetrics {
  /** Sum of `Invocation5XXErrors` (0 or 1 per answered request) of the version. */
  readonly serverErrors: IMetric;
  /** Sum of Lambda's `Errors` of the version through the alias: crashes, timeouts, out of memory. */
  readonly lambdaErrors: IMetric;
  /** Sum of Lambda's `Invocations` of the version through the alias. */
  readonly invocations: IMetric;
  /** Invocations per period below which the rate is reported as 0. */
  readonly minInvocations: number;
  readonly period: Duration;
}

/**
 * The canary's failure rate, in percent of invocations, as CloudWatch metric math:
 *
 * `IF(FILL(invocations, 0) >= minInvocations, 100 * (FILL(serverErrors, 0) + FILL(lambdaErrors, 0)) / FILL(invocations, 0), 0)`
 *
 * A failure is an answer of 500 or more (`isFailure`): the answered ones are `serverErrors`
 * (the handler's EMF line), the unanswered ones `lambdaErrors` (Lambda's `Errors`, which a caught
 * error never raises, and which writes no EMF line). Each invocation is one or the other at
 * most, so their sum over `invocations` is the rate. (Requests that invoke the version
 * directly, such as the pre-traffic hook's golden requests, write EMF lines but are not alias
 * invocations; they happen before traffic moves, and a failing one fails the deployment anyway.) `FILL(m, 0)` turns a period without a
 * datapoint (no 5xx line yet, no traffic) into 0 so the sum exists; `IF` reports 0 until the
 * version has `minInvocations` in the period, so two requests of which one failed do not roll a
 * release back. Functions: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html#metric-math-syntax
 * (IF, FILL); metric math alarms: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create-alarm-on-metric-math-expression.html.
 */
export function failureRateExpression(metrics: FailureRateMetrics): MathExpression {
  const { serverErrors, lambdaErrors, invocations, minInvocations, period } = metrics;
  if (!Number.isInteger(minInvocations) || minInvocations < 1)
    throw new Error(`minInvocations must be a whole number of 1 or more, not ${minInvocations}.`);
  return new MathExpression({
    expression: `IF(FILL(invocations, 0) >= ${minInvocations}, 100 * (FILL(serverErrors, 0) + FILL(lambdaErrors, 0)) / FILL(invocations, 0), 0)`,
    usingMetrics: { serverErrors, lambdaErrors, invocations },
    period,
    label: 'Failure rate (%)',
  });
}
