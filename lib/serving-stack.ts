/**
 * Everything `cdk deploy` creates, from one validated `AppConfig`: tables, artifact bucket, the
 * payload bucket (inputs and outputs too large for a synchronous invoke, by reference), data
 * capture (a bucket and the Firehose stream every endpoint puts captured requests to), one
 * ONNX Runtime layer per architecture in use, one endpoint (function + alias `live` + alarms +
 * dashboard) per configured model, the control plane, the JWT authorizer, and the REST API in
 * front of them with one usage plan per configured client tier. The batch workflow (job table,
 * batch and plan/assemble functions, Step Functions state machine) is always created: replays of
 * captured requests run on it, and the capture bucket is always there. Batch jobs over your own
 * data need an endpoint's `batch` locations; without any, `BATCH_LOCATIONS` is `{}` and the job
 * API refuses every such job (403 `BATCH_LOCATION_NOT_ALLOWED`) while replays work. An idle
 * workflow costs nothing (no provisioned capacity; the table is on demand). Drift detection (one
 * function) is created when an endpoint has a `drift` schedule (a rule and an alarm per model;
 * hourly by default) or a canary gate (a minute rule and an alarm in the endpoint's deployment
 * group; on by default).
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { LayerArchitecture } from '../layers/onnxruntime/build.js';
import { ArtifactBucket } from './artifact-bucket.js';
import { BatchJobs } from './batch-jobs.js';
import { batchLocations, canaryGateOn, driftScheduleMinutes, type AppConfig } from './config.js';
import { ControlPlane } from './control-plane.js';
import { DataCapture } from './data-capture.js';
import { DriftSchedule } from './drift-schedule.js';
import { EndpointDashboard } from './endpoint-dashboard.js';
import { EndpointRelease, ReleaseHook } from './endpoint-release.js';
import { JwtAuthorizer } from './jwt-authorizer.js';
import { ModelEndpoint } from './model-endpoint.js';
import { OnnxRuntimeLayer } from './onnxruntime-layer.js';
import { PayloadBucket } from './payload-bucket.js';
import { ServingApi } from './serving-api.js';
import { ServingTables } from './serving-tables.js';

export interface OnnxServingStackProps extends StackProps {
  readonly config: AppConfig;
  /** Fail synth when a function plus its layer pass this many unzipped bytes. @default Lambda's 250 MB */
  readonly unzippedSizeLimitBytes?: number;
}

/** A construct id from a model name: `iris-v2` → `IrisV2`. */
function pascal(name: string): string {
  return name
    .split(/[-_]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

export class OnnxServingStack extends Stack {
  readonly config: AppConfig;
  /**
   * The CloudWatch namespace of the functions' per-request metrics (`observability.metricsNamespace`):
   * the endpoints publish in it, their alarms and dashboards read it, and so must anything that
   * reads those metrics back (give it to a function as `METRICS_NAMESPACE`).
   */
  readonly metricsNamespace: string;
  readonly tables: ServingTables;
  readonly artifacts: ArtifactBucket;
  /** Inputs and outputs too large for Lambda's synchronous invoke, by reference; every endpoint uses it. */
  readonly payloads: PayloadBucket;
  /** Captured requests: the capture bucket and the Firehose stream every endpoint puts records to. */
  readonly capture: DataCapture;
  readonly layers = new Map<LayerArchitecture, OnnxRuntimeLayer>();
  readonly endpoints: readonly ModelEndpoint[];
  /** Per endpoint (same order): its CodeDeploy group, deployment config and pre-traffic hook. */
  readonly releases: readonly EndpointRelease[];
  /** The pre- and post-traffic hooks every endpoint's deployment group runs. */
  readonly releaseHook: ReleaseHook;
  readonly control: ControlPlane;
  /** Drift detection (function; per model a schedule and its alarm, a canary gate and its alarm); absent when no endpoint has either. */
  readonly drift?: DriftSchedule;
  /** The batch workflow: batch jobs under the endpoints' locations (if any) and replays. */
  readonly batchJobs: BatchJobs;
  readonly authorizer: JwtAuthorizer;
  readonly api: ServingApi;

  constructor(scope: Construct, id: string, props: OnnxServingStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.config = config;
    this.metricsNamespace = config.observability.metricsNamespace;
    const logRetention = config.logRetentionDays as RetentionDays;

    const locations = batchLocations(config);
    // The job table always: replays are batch jobs, and the capture bucket always exists.
    this.tables = new ServingTables(this, 'Tables', { batchJobs: true });
    this.artifacts = new ArtifactBucket(this, 'Artifacts');
    this.payloads = new PayloadBucket(this, 'Payloads', { accessLogs: this.artifacts.accessLogs });
    this.capture = new DataCapture(this, 'Capture', { config: config.capture, accessLogs: this.artifacts.accessLogs, logRetention });

    this.endpoints = config.endpoints.map((endpoint) => {
      const built = new ModelEndpoint(this, `Endpoint${pascal(endpoint.model)}`, {
        config: endpoint,
        layer: this.layer(endpoint.architecture),
        tables: this.tables,
        artifacts: this.artifacts,
        payloads: this.payloads,
        capture: this.capture,
        logRetention,
        predictionLogTtlDays: config.predictionLogTtlDays,
        observability: config.observability,
        ...(props.unzippedSizeLimitBytes !== undefined ? { unzippedSizeLimitBytes: props.unzippedSizeLimitBytes } : {}),
      });
      new EndpointDashboard(this, `Dashboard${pascal(endpoint.model)}`, { endpoint: built });
      return built;
    });

    // The metrics gate's baselines, by model: the control plane and the post-traffic hook gate alike.
    const baselines = Object.fromEntries(config.endpoints.flatMap((e) => (e.baseline ? [[e.model, e.baseline]] : [])));
    this.control = new ControlPlane(this, 'ControlPlane', {
      config: config.controlPlane,
      baselines,
      layer: this.layer(config.controlPlane.architecture),
      tables: this.tables,
      artifacts: this.artifacts,
      logRetention,
      metricsNamespace: this.metricsNamespace,
      logLevel: config.observability.logLevel,
      onlineFeatureTables: config.endpoints.flatMap((endpoint) => endpoint.onlineFeatureTables),
    });
    // It reads captured records (drift, replays), keeps drift reports beside them, and stores reference profiles beside the artifacts.
    this.capture.bindControl(this.control.function, this.artifacts);
    // The post-traffic hook runs the control plane's gates: on its layer, with its memory.
    this.releaseHook = new ReleaseHook(this, 'ReleaseHook', {
      tables: this.tables,
      artifacts: this.artifacts,
      layer: this.layer(config.controlPlane.architecture),
      postTrafficMemoryMb: config.controlPlane.memoryMb,
      logRetention,
      baselines,
    });
    this.releases = config.endpoints.map(
      (endpointConfig, i) =>
        new EndpointRelease(this, `Release${pascal(endpointConfig.model)}`, {
          endpoint: this.endpoint(i),
          release: endpointConfig.release,
          hook: this.releaseHook,
        }),
    );
    this.releases.forEach((release, i) => this.control.allowReleasesOf(this.endpoint(i), release));

    this.batchJobs = new BatchJobs(this, 'BatchJobs', {
      config: config.batch,
      locations,
      // Any endpoint's model may be replayed: its captured requests against any of its versions.
      replays: { capture: this.capture, models: config.endpoints.map((endpoint) => endpoint.model) },
      layer: this.layer(config.batch.architecture),
      tables: this.tables,
      artifacts: this.artifacts,
      logRetention,
      observability: config.observability,
      ...(props.unzippedSizeLimitBytes !== undefined ? { unzippedSizeLimitBytes: props.unzippedSizeLimitBytes } : {}),
      onlineFeatureTables: config.endpoints.flatMap((endpoint) => endpoint.onlineFeatureTables),
    });
    this.control.allowBatchJobs(this.batchJobs);

    const schedules = config.endpoints.flatMap((endpoint) => {
      const minutes = driftScheduleMinutes(endpoint);
      return minutes > 0 ? [{ model: endpoint.model, minutes }] : [];
    });
    // Every endpoint has a managed-release deployment group: the gate's alarm joins it.
    const canaryGates = config.endpoints.flatMap((endpoint, i) =>
      canaryGateOn(endpoint) ? [{ endpoint: this.endpoint(i), release: this.release(i) }] : [],
    );
    if (schedules.length > 0 || canaryGates.length > 0) {
      this.drift = new DriftSchedule(this, 'Drift', {
        schedules,
        canaryGates,
        // It runs no model, but its bundle imports onnxruntime-node (see lib/drift-schedule.ts).
        layer: this.layer(config.controlPlane.architecture),
        tables: this.tables,
        artifacts: this.artifacts,
        capture: this.capture,
        logRetention,
        observability: config.observability,
      });
    }

    this.authorizer = new JwtAuthorizer(this, 'Authorizer', { config: config.auth, logRetention });

    this.api = new ServingApi(this, 'Api', {
      control: this.control.function.function,
      endpoints: this.endpoints.map((endpoint) => ({ model: endpoint.model, target: endpoint.alias })),
      stageName: config.api.stageName,
      throttleRateLimit: config.api.throttleRateLimit,
      throttleBurstLimit: config.api.throttleBurstLimit,
      ...(config.api.corsAllowOrigins ? { corsAllowOrigins: config.api.corsAllowOrigins } : {}),
      authorizer: this.authorizer.authorizer,
      usagePlans: config.auth.usagePlans,
      // Keys come from a token claim; without one, a required key would refuse every request.
      apiKeyRequired: config.auth.usageKeyClaim !== undefined,
      logRetention,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the serving API stage' });
    new CfnOutput(this, 'OpenApiUrl', {
      value: this.api.api.urlForPath('/openapi.json'),
      description: "The API's OpenAPI 3.1 document (public); each model's own is at v1/models/<model>/openapi.json (scope models:read)",
    });
    new CfnOutput(this, 'ArtifactBucketName', { value: this.artifacts.bucket.bucketName });
    new CfnOutput(this, 'PayloadBucketName', {
      value: this.payloads.bucket.bucketName,
      description: 'Inputs and outputs sent by reference (expire after a day)',
    });
    new CfnOutput(this, 'CaptureBucketName', {
      value: this.capture.bucket.bucketName,
      description: 'Captured requests (capture/model=/version=/date=), drift reports (drift/) and replays (replays/<model>/<jobId>/)',
    });
    new CfnOutput(this, 'CaptureStreamName', {
      value: this.capture.streamName,
      description: 'The Firehose stream endpoint functions put captured requests to',
    });
    new CfnOutput(this, 'RegistryTableName', { value: this.tables.registry.table.tableName });
    new CfnOutput(this, 'PredictionLogTableName', { value: this.tables.predictionLog.table.tableName });
    for (const endpoint of this.endpoints) {
      new CfnOutput(this, `${pascal(endpoint.model)}FunctionName`, { value: endpoint.function.function.functionName });
    }
    new CfnOutput(this, 'AuthorizerFunctionName', { value: this.authorizer.function.function.functionName });
    if (this.drift)
      new CfnOutput(this, 'DriftFunctionName', {
        value: this.drift.function.function.functionName,
        description: 'Drift detection (invoke with {"model": "<name>"} to run it now; the canary gate invokes it with "check": "canary")',
      });
    new CfnOutput(this, 'BatchStateMachineArn', {
      value: this.batchJobs.stateMachine.stateMachineArn,
      description: 'The batch-job and replay workflow (Step Functions)',
    });
    new CfnOutput(this, 'BatchJobsTableName', { value: this.batchJobs.table.table.tableName });
    for (const [name, plan] of this.api.usagePlans) {
      new CfnOutput(this, `UsagePlan${pascal(name)}Id`, {
        value: plan.usagePlanId,
        description: `Usage plan "${name}": add the API keys of this tier's clients to it (aws apigateway create-usage-plan-key)`,
      });
    }
  }

  private endpoint(index: number): ModelEndpoint {
    const endpoint = this.endpoints[index];
    if (!endpoint) throw new Error(`No endpoint at index ${index}.`);
    return endpoint;
  }

  private release(index: number): EndpointRelease {
    const release = this.releases[index];
    if (!release) throw new Error(`No release at index ${index}.`);
    return release;
  }

  /** The layer for an architecture, created on first use (one per architecture in the stack). */
  private layer(architecture: LayerArchitecture): OnnxRuntimeLayer {
    let layer = this.layers.get(architecture);
    if (!layer) {
      layer = new OnnxRuntimeLayer(this, `OnnxRuntimeLayer${architecture === 'arm64' ? 'Arm64' : 'X8664'}`, { architecture });
      this.layers.set(architecture, layer);
    }
    return layer;
  }
}
