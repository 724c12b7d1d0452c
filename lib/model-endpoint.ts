/**
 * One model endpoint: the predict function for one model, its alias `live` (what the API
 * invokes), its log group, and alarms on errors and p99 latency of the version `live` runs.
 */
import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { Alias, type Version } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { EndpointConfig } from './config.js';
import { modelArtifactPrefix, type ArtifactBucket } from './artifact-bucket.js';
import type { OnnxRuntimeLayer } from './onnxruntime-layer.js';
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
  readonly logRetention: RetentionDays;
  /** Days before a prediction log item expires. */
  readonly predictionLogTtlDays: number;
  /** @default Lambda's 250 MB */
  readonly unzippedSizeLimitBytes?: number;
}

/**
 * @example
 * const iris = new ModelEndpoint(this, 'Iris', { config, layer, tables, artifacts, logRetention: RetentionDays.ONE_MONTH, predictionLogTtlDays: 30 });
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
  readonly errorsAlarm: Alarm;
  readonly latencyAlarm: Alarm;

  constructor(scope: Construct, id: string, props: ModelEndpointProps) {
    super(scope, id);
    const { config } = props;
    if (props.layer.architectureName !== config.architecture) {
      throw new Error(`Endpoint ${config.model} runs on ${config.architecture} but was given the ${props.layer.architectureName} layer.`);
    }
    this.model = config.model;

    this.function = new ServingFunction(this, 'Predict', {
      entry: 'functions/predict/handler.ts',
      layer: props.layer,
      memoryMb: config.memoryMb,
      timeout: Duration.seconds(config.timeoutSeconds),
      logRetention: props.logRetention,
      description: `Serves ONNX model ${config.model}`,
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

    this.version = this.function.function.currentVersion;
    this.alias = new Alias(this, 'Live', {
      aliasName: LIVE_ALIAS,
      version: this.version,
      description: `Traffic for model ${config.model}`,
      ...(config.provisionedConcurrency !== undefined ? { provisionedConcurrentExecutions: config.provisionedConcurrency } : {}),
    });

    const period = Duration.seconds(config.alarms.periodSeconds);
    const common = {
      evaluationPeriods: config.alarms.evaluationPeriods,
      datapointsToAlarm: config.alarms.evaluationPeriods,
      // No traffic is not an outage of this version.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    };
    this.errorsAlarm = new Alarm(this, 'ErrorsAlarm', {
      ...common,
      metric: this.versionMetric('Errors', 'Sum', period),
      threshold: config.alarms.errors,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      alarmDescription: `Model ${config.model}: the version alias ${LIVE_ALIAS} is shifting to (ExecutedVersion, set by each deployment's pre-traffic hook) had >= ${config.alarms.errors} errors per ${config.alarms.periodSeconds} s.`,
    });
    this.latencyAlarm = new Alarm(this, 'LatencyP99Alarm', {
      ...common,
      metric: this.versionMetric('Duration', 'p99', period),
      threshold: config.alarms.p99LatencyMs,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: `Model ${config.model}: p99 duration of the version alias ${LIVE_ALIAS} is shifting to (ExecutedVersion, set by each deployment's pre-traffic hook) above ${config.alarms.p99LatencyMs} ms.`,
    });
  }

  /**
   * A metric of the invocations that alias `live` routed to this deployment's version: Lambda
   * publishes alias traffic with dimensions (FunctionName, Resource = `<fn>:live`,
   * ExecutedVersion), so during a canary the new version is judged on its own requests, not on
   * the blend the alias serves.
   */
  versionMetric(metricName: string, statistic: string, period: Duration, version: string = this.version.version): IMetric {
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
}
