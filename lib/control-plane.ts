/**
 * The control-plane function: the registry API (list, register, promote), releases, and reading
 * what the endpoints observed (stats from CloudWatch, the prediction log). It reads and writes the
 * registry and the artifacts, reads the prediction log through its `byModel` index only (never
 * writes it), and it may publish versions of, and move alias `live` on, the endpoint functions
 * it is told about, and no other function. With batch jobs (`allowBatchJobs`) it submits, lists and
 * cancels jobs and replays: the job table, the workflow's executions, and S3 only under the
 * endpoints' batch locations (a replay's files are in the capture bucket: `DataCapture.bindControl`).
 */
import { ArnFormat, Duration, Lazy, Stack } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ARTIFACT_PREFIX, UPLOAD_PREFIX, type ArtifactBucket } from './artifact-bucket.js';
import {
  allowLocationReads,
  BATCH_UPLOADS_PREFIX,
  CONTROL_EXECUTION_ACTIONS,
  CONTROL_JOB_TABLE_ACTIONS,
  CONTROL_START_ACTIONS,
  locationObjectsArn,
  S3_READ_ACTIONS,
  type BatchJobs,
} from './batch-jobs.js';
import { BY_MODEL_INDEX, BY_STUDY_INDEX } from '../functions/adapters/dynamodb-prediction-log-reader.js';
import type { LambdaEndpoint } from '../functions/adapters/lambda-traffic-router.js';
import { DEFAULT_METRICS_NAMESPACE } from '../functions/core/observability.js';
import type { ControlPlaneConfig } from './config.js';
import type { EndpointRelease } from './endpoint-release.js';
import { LIVE_ALIAS, type ModelEndpoint } from './model-endpoint.js';
import type { OnnxRuntimeLayer } from './onnxruntime-layer.js';
import { ServingFunction } from './serving-function.js';
import type { ServingTables } from './serving-tables.js';

/**
 * Registry access: reads (GetItem, Query) and the item-level actions a TransactWriteItems call
 * is authorized by (PutItem, UpdateItem, ConditionCheckItem). No DeleteItem: nothing deletes.
 */
export const CONTROL_REGISTRY_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:ConditionCheckItem',
] as const;
export const CONTROL_ARTIFACT_ACTIONS = ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject'] as const;
/**
 * Reading the prediction log: Query on the `byModel` index (`GET /v1/models/{m}/predictions`)
 * and on the `byStudy` index (an experiment's analysis, a shadow test's report), GetItem on the
 * table (the request an outcome names); no Scan, no write.
 */
export const CONTROL_PREDICTION_LOG_ACTIONS = ['dynamodb:Query'] as const;
export const CONTROL_PREDICTION_LOG_ITEM_ACTIONS = ['dynamodb:GetItem'] as const;
/**
 * Presigned uploads under `uploads/`: PutObject because the URL it hands out is signed with its
 * credentials (S3 checks the signer's permission), GetObject to read the file at registration,
 * DeleteObject and DeleteObjectVersion to remove it for good afterwards (the bucket is versioned).
 */
export const CONTROL_UPLOAD_ACTIONS = ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:DeleteObjectVersion'] as const;
/** The largest model file the control plane registers by default; it reads files whole. */
export const MAX_ARTIFACT_BYTES = 250_000_000;

/**
 * The largest file a control plane of `memoryMb` registers: a quarter of its memory (it holds
 * the file, and ONNX Runtime loads it), and never more than {@link MAX_ARTIFACT_BYTES}.
 */
export function maxArtifactBytesFor(memoryMb: number): number {
  return Math.min(MAX_ARTIFACT_BYTES, Math.floor((memoryMb * 1024 * 1024) / 4));
}
/** Release actions on an endpoint function's `$LATEST`: read and pin its configuration, publish it. */
export const CONTROL_FUNCTION_ACTIONS = [
  'lambda:GetFunctionConfiguration',
  'lambda:UpdateFunctionConfiguration',
  'lambda:PublishVersion',
] as const;
/** Release actions on alias `live`: read and move it (conditionally, on its RevisionId). */
export const CONTROL_ALIAS_ACTIONS = ['lambda:GetAlias', 'lambda:UpdateAlias'] as const;
/**
 * On published versions: reading the model version pinned in each one's configuration, and
 * deleting the version a release published when it then failed (lost a race, refused): Lambda
 * refuses to delete a version an alias references, and the grant is on `fn:*` (qualified names)
 * only, so the function itself can never be deleted.
 */
export const CONTROL_VERSION_ACTIONS = ['lambda:GetFunctionConfiguration', 'lambda:DeleteFunction'] as const;
/** Managed releases: start and read deployments of the endpoint's deployment group. */
export const CONTROL_DEPLOYMENT_ACTIONS = ['codedeploy:CreateDeployment', 'codedeploy:GetDeployment'] as const;
/** CreateDeployment also reads the deployment configuration and registers the AppSpec revision. */
export const CONTROL_DEPLOYMENT_CONFIG_ACTIONS = ['codedeploy:GetDeploymentConfig'] as const;
export const CONTROL_APPLICATION_ACTIONS = ['codedeploy:GetApplicationRevision', 'codedeploy:RegisterApplicationRevision'] as const;

export interface ControlPlaneProps {
  readonly config: ControlPlaneConfig;
  readonly layer: OnnxRuntimeLayer;
  readonly tables: ServingTables;
  readonly artifacts: ArtifactBucket;
  readonly logRetention: RetentionDays;
  /** Each model's metric baseline (the metrics gate), as `METRIC_BASELINES`. @default none */
  readonly baselines?: Readonly<Record<string, Readonly<Record<string, { min?: number; max?: number }>>>>;
  /**
   * The CloudWatch namespace the endpoints publish their per-request metrics in, which the stats
   * read (`METRICS_NAMESPACE`). @default 'OnnxServing'
   */
  readonly metricsNamespace?: string;
  /** The lowest level it logs (`LOG_LEVEL`; `observability.logLevel` in cdk.json). @default 'INFO' */
  readonly logLevel?: string;
  /**
   * The online feature tables some endpoint may read (the endpoints' `onlineFeatureTables`
   * together): registration describes them (`dynamodb:DescribeTable`, nothing else) to check a
   * version's online features, and refuses any other. @default none
   */
  readonly onlineFeatureTables?: readonly string[];
}

/**
 * @example
 * const control = new ControlPlane(this, 'Control', { config: config.controlPlane, layer, tables, artifacts, logRetention });
 * control.allowReleasesOf(irisEndpoint);
 */
export class ControlPlane extends Construct {
  readonly function: ServingFunction;
  /** `ENDPOINTS`: the endpoints it may release, by model. */
  private readonly endpoints = new Map<string, LambdaEndpoint>();
  private metricsAllowed = false;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    if (props.layer.architectureName !== props.config.architecture) {
      throw new Error(`The control plane runs on ${props.config.architecture} but was given the ${props.layer.architectureName} layer.`);
    }
    const namespace = props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE;
    if (!/^[A-Za-z0-9.\-_/#: ]{1,255}$/.test(namespace) || namespace.startsWith('AWS/')) {
      throw new Error(
        `metricsNamespace "${namespace.slice(0, 80)}" is not a CloudWatch namespace for custom metrics: 1-255 of letters, digits and . - _ / # : or space, not starting with "AWS/".`,
      );
    }
    // It loads models too: registration reads the ONNX signature and runs the golden inputs.
    this.function = new ServingFunction(this, 'Control', {
      entry: 'functions/control/handler.ts',
      layer: props.layer,
      memoryMb: props.config.memoryMb,
      timeout: Duration.seconds(props.config.timeoutSeconds),
      logRetention: props.logRetention,
      description: 'Model registry and release control plane',
    });
    this.function
      .bindTable('REGISTRY_TABLE', props.tables.registry, {
        actions: CONTROL_REGISTRY_ACTIONS,
        indexes: props.tables.registry.design.globalSecondaryIndexes.map((index) => index.indexName),
      })
      // It reads the prediction log (one model or one study at a time, through the indexes, and
      // one request by id) and writes nothing there.
      .setEnvironment('PREDICTION_LOG_TABLE', props.tables.predictionLog.table.tableName)
      .allow(CONTROL_PREDICTION_LOG_ACTIONS, [
        props.tables.predictionLog.indexArn(BY_MODEL_INDEX),
        props.tables.predictionLog.indexArn(BY_STUDY_INDEX),
      ])
      .allow(CONTROL_PREDICTION_LOG_ITEM_ACTIONS, [props.tables.predictionLog.table.tableArn])
      .setEnvironment('METRICS_NAMESPACE', namespace)
      .setEnvironment('LOG_LEVEL', props.logLevel ?? 'INFO')
      .setEnvironment('ARTIFACT_BUCKET', props.artifacts.bucket.bucketName)
      .allow(CONTROL_ARTIFACT_ACTIONS, [props.artifacts.bucket.arnForObjects(`${ARTIFACT_PREFIX}*`)], {
        wildcardReason: `The control plane registers artifacts of any model under ${ARTIFACT_PREFIX}; keys carry model, version and sha256, known only at registration.`,
      })
      .setEnvironment('MAX_ARTIFACT_BYTES', String(maxArtifactBytesFor(props.config.memoryMb)))
      .setEnvironment('METRIC_BASELINES', JSON.stringify(props.baselines ?? {}))
      .allow(CONTROL_UPLOAD_ACTIONS, [props.artifacts.bucket.arnForObjects(`${UPLOAD_PREFIX}*`)], {
        wildcardReason: `Presigned uploads of any model's files under ${UPLOAD_PREFIX}<model>/<uploadId>; upload ids are random, made per request.`,
      })
      .allow(['s3:ListBucket'], [props.artifacts.bucket.bucketArn], {
        conditions: { StringLike: { 's3:prefix': [`${ARTIFACT_PREFIX}*`] } },
      })
      // Filled by allowReleasesOf, rendered once the whole app is built.
      .setEnvironment('ENDPOINTS', Lazy.string({ produce: () => Stack.of(this).toJsonString(Object.fromEntries(this.endpoints)) }));
    this.function.bindFeatureTables([...new Set(props.onlineFeatureTables ?? [])].sort(), ['dynamodb:DescribeTable']);
  }

  /**
   * Lets the control plane release new versions of `endpoint`: its function, its versions' pins,
   * alias `live`, and its CodeDeploy deployment group; no other function or group. Adds the
   * endpoint to the `ENDPOINTS` map (model → function, alias, application, group, hook).
   */
  allowReleasesOf(endpoint: ModelEndpoint, release: EndpointRelease): this {
    const fn = endpoint.function.function;
    this.endpoints.set(endpoint.model, release.endpointEntry(endpoint));
    this.function
      .allow(CONTROL_FUNCTION_ACTIONS, [fn.functionArn])
      .allow(CONTROL_ALIAS_ACTIONS, [`${fn.functionArn}:${LIVE_ALIAS}`])
      .allow(CONTROL_VERSION_ACTIONS, [`${fn.functionArn}:*`], {
        wildcardReason: `Reading the model version pinned in each published version of ${endpoint.model}'s function, and deleting a version a failed release published; version numbers are allocated at release time.`,
      })
      .allow(CONTROL_DEPLOYMENT_ACTIONS, [release.deploymentGroup.deploymentGroupArn])
      .allow(CONTROL_DEPLOYMENT_CONFIG_ACTIONS, release.deploymentConfigArns())
      .allow(CONTROL_APPLICATION_ACTIONS, [
        Stack.of(this).formatArn({
          service: 'codedeploy',
          resource: 'application',
          resourceName: release.application.applicationName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ]);
    if (!this.metricsAllowed) {
      this.metricsAllowed = true;
      this.function.allow(['cloudwatch:GetMetricData'], ['*'], {
        wildcardReason:
          'cloudwatch:GetMetricData has no resource-level permissions (IAM allows only "*"); the release metrics and stats read AWS/Lambda Invocations, Errors and Duration and the product\'s 4XX/5XX counts per endpoint version.',
      });
    }
    return this;
  }

  /**
   * Lets the control plane run batch jobs: the job table (`BATCH_JOBS_TABLE`), starting the
   * workflow (`BATCH_STATE_MACHINE_ARN`) and describing and stopping its executions, and the job
   * API's limits (`BATCH_LOCATIONS` by model, `BATCH_MAX_CONCURRENCY`, `BATCH_MAX_ROWS_PER_BATCH`,
   * `BATCH_JOB_TTL_DAYS`). In S3 only the batch locations: it reads inputs (submission checks: HEAD,
   * list, the first bytes), writes presigned uploads under each input's `uploads/`, and reads
   * outputs (presigned links to a job's results). Without any location (`BATCH_LOCATIONS` `{}`:
   * the workflow runs replays only) none of these S3 grants exist.
   */
  allowBatchJobs(jobs: BatchJobs): this {
    this.function
      .bindTable('BATCH_JOBS_TABLE', jobs.table, { actions: CONTROL_JOB_TABLE_ACTIONS })
      .setEnvironment('BATCH_STATE_MACHINE_ARN', jobs.stateMachine.stateMachineArn)
      .setEnvironment('BATCH_LOCATIONS', JSON.stringify(jobs.locations))
      .setEnvironment('BATCH_MAX_CONCURRENCY', String(jobs.config.maxConcurrency))
      .setEnvironment('BATCH_MAX_ROWS_PER_BATCH', String(jobs.config.maxRowsPerBatch))
      .setEnvironment('BATCH_JOB_TTL_DAYS', String(jobs.config.jobTtlDays))
      .allow(CONTROL_START_ACTIONS, [jobs.stateMachine.stateMachineArn])
      .allow(CONTROL_EXECUTION_ACTIONS, [jobs.executionsArn], {
        wildcardReason:
          "A job's status and cancellation read and stop its workflow execution; execution names are made per job, and the grant names the batch state machine only.",
      });
    allowLocationReads(
      this.function,
      jobs.inputs,
      "Submission checks read a job's input (HEAD, list, the first bytes) anywhere under the configured input locations (endpoints[].batch.inputs); keys are chosen per job.",
    );
    // No locations (a deployment with replays only): no S3 grant here, and every job naming a location is refused.
    if (jobs.inputs.length > 0) {
      this.function.allow(
        ['s3:PutObject'],
        jobs.inputs.map((location) => locationObjectsArn(this, location, BATCH_UPLOADS_PREFIX)),
        {
          wildcardReason: `Presigned uploads of batch inputs go to <input location>${BATCH_UPLOADS_PREFIX}<uploadId>/<file name>; upload ids are random, made per request.`,
        },
      );
    }
    if (jobs.outputs.length > 0) {
      this.function.allow(
        S3_READ_ACTIONS,
        jobs.outputs.map((location) => locationObjectsArn(this, location)),
        {
          wildcardReason:
            "Presigned links to a job's predictions, errors and manifest, in its folder under the configured output locations (endpoints[].batch.outputs); job ids are made per job.",
        },
      );
    }
    return this;
  }
}
