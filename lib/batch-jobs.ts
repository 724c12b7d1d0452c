/**
 * Batch jobs on AWS (issue 11): the batch function (the Distributed Map's item processor,
 * `functions/batch`), the plan/assemble function (`functions/batch-steps`), and the Step
 * Functions state machine (STANDARD) that runs a job:
 *
 * ```
 * Plan ──▶ PredictSplits (Distributed Map) ──▶ Assemble ──────────────┐
 *  │            │ catch (States.ALL, $.mapError)                      ▼
 *  │            └──────────▶ AssembleAfterMapFailure ──▶ JobEnded? ──▶ JobSucceeded
 *  │ catch (States.ALL, $.error)                              └──────▶ JobFailed
 *  └──▶ RecordPlanFailure ──────────────────────────────────────────▶ JobFailed
 * ```
 *
 * The state is the job's `WorkflowInput` (functions/core/batch-contract.ts) plus what the steps
 * add beside it: `$.plan` (PlanResult), `$.map` (the Map Run's ResultWriterDetails) or
 * `$.mapError`, `$.result` (the assemble step's answer), `$.error` (a plan failure).
 *
 * Two assemble states, one per way out of the map: a JSONPath reference to a field that is absent
 * fails the state (States.Runtime), so the state after a successful map passes `map.$` and the
 * catch's passes `mapError.$`; both run the same `assemble` step and go to the same Choice.
 *
 * Least privilege: every role here (and the control function, `ControlPlane.allowBatchJobs`) may
 * touch S3 only under the endpoints' configured batch locations (`endpoints[].batch`): inputs
 * read only, outputs read and written. The state machine itself reads only the job folder's
 * splits file and writes only the Map Run results, both under an output location.
 *
 * Replays (`replays`: functions/core/replay/) are batch jobs of format `capture` whose input is
 * captured records (`capture/` in the capture bucket) and whose folder is
 * `replays/<model>/<jobId>/` in the same bucket; the workflow is the same. Their grants, from the
 * code paths (functions/core/batch-steps.ts, batch-worker.ts, replay/plan.ts, replay/report.ts):
 *
 * - batch function: GetObject on `capture/*` (a split is a byte range of a capture file, read
 *   with If-Match), `s3:ListBucket` limited to `capture/` (a file gone since the plan is then
 *   NoSuchKey, 409 `INPUT_CHANGED`, not AccessDenied), PutObject on `replays/*` (each split's
 *   parts, single PUTs);
 * - steps function: GetObject on `capture/*` (the plan streams and heads the capture files) and
 *   `replays/*` (the splits file, parts, Map Run results, comparisons for the report),
 *   `s3:ListBucket` limited to `capture/` and `replays/` (the assembly lists `_map` after a map
 *   failure), PutObject and AbortMultipartUpload on `replays/*` (splits, comparisons and errors
 *   are multipart uploads; manifest and `replay.json` single PUTs);
 * - state machine: GetObject on `replays/<model>/<jobId>/_plan/*` (the splits file, the
 *   ItemReader) and the ResultWriter's actions ({@link STATE_MACHINE_S3_ACTIONS}, as for an output
 *   location) on `replays/<model>/<jobId>/_map/*` only;
 * - the batch function reads the artifacts of every replayable model (the endpoints' models),
 *   not only of the models with batch locations.
 *
 * The control function's side of replays (read `replays/*`, list the capture files) is
 * `DataCapture.bindControl`'s; the lifecycle rule that expires `replays/` is the capture bucket's.
 *
 * @example
 * const jobs = new BatchJobs(this, 'BatchJobs', { config: config.batch, locations: batchLocations(config), replays: { capture, models: ['iris'] }, layer, tables, artifacts, logRetention });
 * control.allowBatchJobs(jobs);
 */
import { Arn, ArnFormat, Duration, FeatureFlags, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  DistributedMap,
  Fail,
  ItemBatcher,
  JsonPath,
  LogLevel,
  ResultWriterV2,
  S3JsonLItemReader,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  type RetryProps,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2 } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import {
  ASSEMBLE_RETRY_ERRORS,
  BATCH_RETRY_ERRORS,
  JOB_FAILED_CAUSE,
  JOB_FAILED_ERROR,
  JOB_FILES,
  MAX_INPUT_BYTES_PER_BATCH,
  PLAN_RETRY_ERRORS,
  RETRY_TIMING,
} from '../functions/core/batch-contract.js';
import { CAPTURE_ROOT } from '../functions/core/capture.js';
import { modelArtifactPrefix, type ArtifactBucket } from './artifact-bucket.js';
import { parseS3Location, type BatchConfig, type EndpointBatchConfig, type ObservabilityConfig, type S3Location } from './config.js';
import { REPLAY_PREFIX, type DataCapture } from './data-capture.js';
import { ENDPOINT_ARTIFACT_ACTIONS } from './model-endpoint.js';
import { acknowledgeNag, nagValue } from './nag.js';
import type { OnnxRuntimeLayer } from './onnxruntime-layer.js';
import { ServingFunction } from './serving-function.js';
import type { DesignedTable, ServingTables } from './serving-tables.js';

/** The plan/assemble function's timeout: it streams the whole input (plan) and output (assemble). */
export const STEPS_TIMEOUT = Duration.seconds(900);

/** Every Retry here: {@link RETRY_TIMING}. */
const RETRY = {
  maxAttempts: RETRY_TIMING.maxAttempts,
  interval: Duration.seconds(RETRY_TIMING.intervalSeconds),
  backoffRate: RETRY_TIMING.backoffRate,
} as const;

/** Batch function: the registry (the job's pinned version). */
export const BATCH_REGISTRY_ACTIONS = ['dynamodb:GetItem'] as const;
/** Batch function: adds its batch's counts to the job's progress. */
export const BATCH_JOB_TABLE_ACTIONS = ['dynamodb:UpdateItem'] as const;
/** Plan/assemble function: reads the job and records its start, rows and end. */
export const STEPS_JOB_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem'] as const;
/**
 * Control function: creates jobs (a TransactWriteItems of the job and its client-token item:
 * PutItem, ConditionCheckItem), reads and lists them (GetItem, Query on the table), cancels
 * them (UpdateItem). Not the `active` index: only the local runner reads it.
 */
export const CONTROL_JOB_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:ConditionCheckItem',
] as const;
/** The control function starts executions of the state machine... */
export const CONTROL_START_ACTIONS = ['states:StartExecution'] as const;
/** ...and reads and stops them (job status, cancellation). */
export const CONTROL_EXECUTION_ACTIONS = ['states:DescribeExecution', 'states:StopExecution'] as const;

/** Reading objects (HeadObject and ranged reads are GetObject too). */
export const S3_READ_ACTIONS = ['s3:GetObject'] as const;
/** Writing objects, multipart included (its create/upload/complete calls are PutObject; abort is its own action). */
export const S3_WRITE_ACTIONS = ['s3:PutObject', 's3:AbortMultipartUpload'] as const;
/**
 * The Distributed Map's ItemReader (GetObject of the splits file) and ResultWriter (multipart
 * writes of the Map Run results), both in the job folder under an output location
 * (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html#resultwriter-iam-policies).
 */
export const STATE_MACHINE_S3_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'] as const;

/** Replays, batch function: writes each split's parts (single PUTs) under `replays/`. */
export const REPLAY_BATCH_WRITE_ACTIONS = ['s3:PutObject'] as const;
/** The splits file's folder in a job folder (`_plan/splits.jsonl`): what the ItemReader reads. */
const PLAN_FOLDER = JOB_FILES.splits.slice(0, JOB_FILES.splits.indexOf('/') + 1);
/** The ResultWriter's folder in a job folder (`_map/<map run>/...`). */
const MAP_FOLDER = `${JOB_FILES.mapResults}/`;

/** Where presigned uploads go under each input location (`POST /v1/models/{m}/batch-inputs`). */
export const BATCH_UPLOADS_PREFIX = 'uploads/';

/** `arn:<partition>:s3:::bucket/prefix<suffix>*`: every object under the location (and `suffix`). */
export function locationObjectsArn(scope: Construct, location: S3Location, suffix = ''): string {
  return Stack.of(scope).formatArn({
    service: 's3',
    region: '',
    account: '',
    resource: location.bucket,
    resourceName: `${location.prefix}${suffix}*`,
  });
}

/** `arn:<partition>:s3:::bucket`. */
function bucketArn(scope: Construct, bucket: string): string {
  return Stack.of(scope).formatArn({ service: 's3', region: '', account: '', resource: bucket });
}

/** The locations without repeats, in first-seen order. */
function distinct(locations: readonly S3Location[]): S3Location[] {
  const seen = new Map<string, S3Location>();
  for (const location of locations) seen.set(`${location.bucket}/${location.prefix}`, location);
  return [...seen.values()];
}

/**
 * Lets `fn` read objects under `locations` (GetObject) and list them (ListBucket on each bucket,
 * limited by `s3:prefix` to the locations' prefixes; unlimited only for a whole-bucket location),
 * so a missing object is NoSuchKey rather than AccessDenied.
 */
export function allowLocationReads(fn: ServingFunction, locations: readonly S3Location[], wildcardReason: string): void {
  const unique = distinct(locations);
  if (unique.length === 0) return;
  fn.allow(
    S3_READ_ACTIONS,
    unique.map((l) => locationObjectsArn(fn, l)),
    { wildcardReason },
  );
  allowListing(fn, unique);
}

/** ListBucket on each bucket of `locations`, limited to their prefixes. */
export function allowListing(fn: ServingFunction, locations: readonly S3Location[]): void {
  const byBucket = new Map<string, string[]>();
  for (const location of distinct(locations)) byBucket.set(location.bucket, [...(byBucket.get(location.bucket) ?? []), location.prefix]);
  for (const [bucket, prefixes] of byBucket) {
    const wholeBucket = prefixes.includes('');
    fn.allow(
      ['s3:ListBucket'],
      [bucketArn(fn, bucket)],
      wholeBucket ? {} : { conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } } },
    );
  }
}

/**
 * The ResultWriter of the Distributed Map, with the bucket and prefix taken from the state. CDK's
 * ResultWriterV2 grants a bucket given as a path `s3:PutObject` (and more) on every bucket
 * (`"*"`); this one grants nothing itself, and the state machine is granted the configured
 * output locations instead (see `BatchJobs`).
 */
class OutputLocationResultWriter extends ResultWriterV2 {
  override providePolicyStatements(): PolicyStatement[] {
    return [];
  }
}

/** Replays of captured requests on the batch workflow. */
export interface BatchReplays {
  /** The capture bucket: replays read `capture/` and keep their folders under `replays/`. */
  readonly capture: DataCapture;
  /** The models a replay may run (their artifacts are read): the endpoints' models. */
  readonly models: readonly string[];
}

export interface BatchJobsProps {
  readonly config: BatchConfig;
  /** Each model's batch locations (`batchLocations(config)`); at least one model unless `replays`. */
  readonly locations: Readonly<Record<string, EndpointBatchConfig>>;
  /** Replays; without them (and without locations) there is nothing to run. @default none */
  readonly replays?: BatchReplays;
  /** The ONNX Runtime layer of `config.architecture`. */
  readonly layer: OnnxRuntimeLayer;
  /** The tables, with the batch-job table (`new ServingTables(..., { batchJobs: true })`). */
  readonly tables: ServingTables;
  readonly artifacts: ArtifactBucket;
  readonly logRetention: RetentionDays;
  /** Metrics namespace, log level and tracing (X-Ray on the functions and the state machine). @default namespace OnnxServing, INFO, no tracing */
  readonly observability?: ObservabilityConfig;
  /** @default Lambda's 250 MB */
  readonly unzippedSizeLimitBytes?: number;
  /**
   * Online feature tables a batch may read (a job of a version that reads features by key): the
   * endpoints' `onlineFeatureTables`, together. @default none
   */
  readonly onlineFeatureTables?: readonly string[];
}

export class BatchJobs extends Construct {
  readonly config: BatchConfig;
  /** Each model's allowed locations, as `BATCH_LOCATIONS` gives them to the control function. */
  readonly locations: Readonly<Record<string, EndpointBatchConfig>>;
  /** Every model's input locations, without repeats. */
  readonly inputs: readonly S3Location[];
  /** Every model's output locations, without repeats. */
  readonly outputs: readonly S3Location[];
  readonly table: DesignedTable;
  /** The Distributed Map's item processor: one batch of splits per invocation. */
  readonly batchFunction: ServingFunction;
  /** The plan, assemble and fail steps. */
  readonly stepsFunction: ServingFunction;
  readonly stateMachine: StateMachine;
  /** The state machine's execution history log (level ALL, without execution data). */
  readonly logGroup: LogGroup;
  /** `arn:...:execution:<state machine name>:*`: every execution of the state machine. */
  readonly executionsArn: string;
  /** Replays, when given. */
  readonly replays?: BatchReplays;

  constructor(scope: Construct, id: string, props: BatchJobsProps) {
    super(scope, id);
    const { config } = props;
    if (props.layer.architectureName !== config.architecture) {
      throw new Error(`Batch jobs run on ${config.architecture} but were given the ${props.layer.architectureName} layer.`);
    }
    const table = props.tables.batchJobs;
    if (!table) throw new Error(`${this.node.path}: the tables have no batch-job table; create them with { batchJobs: true }.`);
    const replays = props.replays;
    // The models whose artifacts the batch function reads: those with locations, and every replayable one.
    const models = [...new Set([...Object.keys(props.locations), ...(replays?.models ?? [])])];
    if (models.length === 0)
      throw new Error(
        `${this.node.path}: no model has batch locations and there are no replays; declare endpoints[].batch or leave batch jobs out.`,
      );
    if (!FeatureFlags.of(this).isEnabled(STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2)) {
      throw new Error(
        `Batch jobs need the feature flag "${STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2}": true in cdk.json's context (without it CDK drops the Distributed Map's ResultWriter).`,
      );
    }
    this.config = config;
    this.table = table;
    this.locations = props.locations;
    if (replays) this.replays = replays;
    const parse = (uri: string, field: string): S3Location => {
      const location = parseS3Location(uri);
      if (typeof location === 'string') throw new Error(`${this.node.path}: ${field}: ${location}`);
      return location;
    };
    this.inputs = distinct(Object.entries(props.locations).flatMap(([model, l]) => l.inputs.map((uri) => parse(uri, `${model}.inputs`))));
    this.outputs = distinct(
      Object.entries(props.locations).flatMap(([model, l]) => l.outputs.map((uri) => parse(uri, `${model}.outputs`))),
    );
    const observability = props.observability;
    const sizeLimit = props.unzippedSizeLimitBytes !== undefined ? { unzippedSizeLimitBytes: props.unzippedSizeLimitBytes } : {};

    this.batchFunction = new ServingFunction(this, 'Batch', {
      entry: 'functions/batch/handler.ts',
      layer: props.layer,
      memoryMb: config.memoryMb,
      timeout: Duration.seconds(config.timeoutSeconds),
      logRetention: props.logRetention,
      description: 'Batch jobs: predicts one batch of splits (the Distributed Map item processor)',
      ...(observability ? { observability } : {}),
      ...sizeLimit,
      environment: { MAX_ROWS: String(config.maxRowsPerBatch), MODEL_CACHE_DIR: '/tmp/models' },
    });
    this.batchFunction
      .bindTable('REGISTRY_TABLE', props.tables.registry, { actions: BATCH_REGISTRY_ACTIONS })
      .bindTable('BATCH_JOBS_TABLE', table, { actions: BATCH_JOB_TABLE_ACTIONS })
      .setEnvironment('ARTIFACT_BUCKET', props.artifacts.bucket.bucketName)
      .allow(
        ENDPOINT_ARTIFACT_ACTIONS,
        models.map((model) => props.artifacts.modelObjectsArn(model)),
        {
          wildcardReason: `Artifact keys under ${modelArtifactPrefix('<model>')} carry a version and a sha256 known only at registration; only the models with batch locations or replays (${models.join(', ')}).`,
        },
      )
      .allow(['s3:ListBucket'], [props.artifacts.bucket.bucketArn], {
        conditions: { StringLike: { 's3:prefix': models.map((model) => `${modelArtifactPrefix(model)}*`) } },
      });
    // Jobs by entity key read the endpoints' online feature tables, and no other.
    this.batchFunction.bindFeatureTables([...new Set(props.onlineFeatureTables ?? [])].sort(), ['dynamodb:BatchGetItem']);
    allowLocationReads(
      this.batchFunction,
      this.inputs,
      "A batch reads its splits from the job's input files, which lie anywhere under the configured input locations (endpoints[].batch.inputs); keys are chosen per job.",
    );
    if (this.outputs.length > 0) {
      this.batchFunction.allow(
        S3_WRITE_ACTIONS,
        this.outputs.map((l) => locationObjectsArn(this, l)),
        {
          wildcardReason:
            "A batch writes its parts into the job's folder (<output prefix>/<job id>/_parts/), under the configured output locations (endpoints[].batch.outputs); job ids are made per job.",
        },
      );
    }

    // It shares the functions' composition root, which imports ONNX Runtime: the layer keeps that import resolvable.
    this.stepsFunction = new ServingFunction(this, 'Steps', {
      entry: 'functions/batch-steps/handler.ts',
      layer: props.layer,
      memoryMb: config.stepsMemoryMb,
      timeout: STEPS_TIMEOUT,
      logRetention: props.logRetention,
      description: 'Batch jobs: plans a job (splits its input) and assembles its results',
      ...(observability ? { observability } : {}),
      ...sizeLimit,
    });
    this.stepsFunction
      .bindTable('REGISTRY_TABLE', props.tables.registry, { actions: BATCH_REGISTRY_ACTIONS })
      .bindTable('BATCH_JOBS_TABLE', table, { actions: STEPS_JOB_TABLE_ACTIONS });
    allowLocationReads(
      this.stepsFunction,
      [...this.inputs, ...this.outputs],
      "The plan reads the job's input files (under the configured input locations); assembling reads the job folder's parts (under the configured output locations); keys are chosen per job.",
    );
    if (this.outputs.length > 0) {
      this.stepsFunction.allow(
        S3_WRITE_ACTIONS,
        this.outputs.map((l) => locationObjectsArn(this, l)),
        {
          wildcardReason:
            "The plan and the assembly write the job's folder (splits, predictions, errors, manifest) under the configured output locations (endpoints[].batch.outputs); job ids are made per job.",
        },
      );
    }
    if (replays) this.allowReplayFunctions(replays.capture);

    this.logGroup = new LogGroup(this, 'Logs', {
      // Step Functions' vended logs: the /aws/vendedlogs/ prefix keeps CloudWatch Logs' resource policy small.
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-batch-jobs`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const tracing = observability?.tracing ?? false;
    this.stateMachine = new StateMachine(this, 'Workflow', {
      stateMachineType: StateMachineType.STANDARD,
      comment: 'Batch job: plan the splits, predict them in a Distributed Map, assemble predictions, errors and manifest',
      definitionBody: DefinitionBody.fromChainable(this.definition()),
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: tracing,
    });
    this.executionsArn = Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const outputObjects = this.outputs.map((l) => locationObjectsArn(this, l));
    if (outputObjects.length > 0)
      this.stateMachine.addToRolePolicy(new PolicyStatement({ actions: [...STATE_MACHINE_S3_ACTIONS], resources: outputObjects }));
    const replayObjects = replays ? [replays.capture.replayObjectsArn(PLAN_FOLDER), replays.capture.replayObjectsArn(MAP_FOLDER)] : [];
    if (replays) {
      // The ItemReader reads the splits file (`_plan/`); the ResultWriter writes the Map Run results (`_map/`).
      this.stateMachine.addToRolePolicy(
        new PolicyStatement({ actions: [...S3_READ_ACTIONS], resources: [replays.capture.replayObjectsArn(PLAN_FOLDER)] }),
      );
      this.stateMachine.addToRolePolicy(
        new PolicyStatement({ actions: [...STATE_MACHINE_S3_ACTIONS], resources: [replays.capture.replayObjectsArn(MAP_FOLDER)] }),
      );
    }
    this.acknowledgeStateMachineFindings(outputObjects, replayObjects, tracing);
  }

  /** The batch and steps functions' grants in the capture bucket for replays (see the file comment). */
  private allowReplayFunctions(capture: DataCapture): void {
    const bucket = capture.bucket;
    this.batchFunction
      .allow(S3_READ_ACTIONS, [capture.captureObjectsArn()], {
        wildcardReason: `A replay's batch reads byte ranges of captured records of any model (${CAPTURE_ROOT}model=<m>/version=<v>/date=<d>/, named by Firehose).`,
      })
      .allow(['s3:ListBucket'], [bucket.bucketArn], { conditions: { StringLike: { 's3:prefix': [`${CAPTURE_ROOT}*`] } } })
      .allow(REPLAY_BATCH_WRITE_ACTIONS, [capture.replayObjectsArn()], {
        wildcardReason: `A replay's batch writes its parts into the replay's folder (${REPLAY_PREFIX}<model>/<jobId>/_parts/); job ids are made per replay.`,
      });
    this.stepsFunction
      .allow(S3_READ_ACTIONS, [capture.captureObjectsArn(), capture.replayObjectsArn()], {
        wildcardReason: `A replay's plan reads the captured records of any model (${CAPTURE_ROOT}model=<m>/version=<v>/date=<d>/), its assembly the replay's folder (${REPLAY_PREFIX}<model>/<jobId>/); both named at run time.`,
      })
      .allow(['s3:ListBucket'], [bucket.bucketArn], {
        conditions: { StringLike: { 's3:prefix': [`${CAPTURE_ROOT}*`, `${REPLAY_PREFIX}*`] } },
      })
      .allow(S3_WRITE_ACTIONS, [capture.replayObjectsArn()], {
        wildcardReason: `A replay's plan and assembly write its folder (${REPLAY_PREFIX}<model>/<jobId>/: splits, comparisons, errors, manifest, replay.json); job ids are made per replay.`,
      });
  }

  /** The workflow, as the file comment draws it. */
  private definition() {
    const jobFailed = new Fail(this, 'JobFailed', {
      error: JOB_FAILED_ERROR,
      cause: JOB_FAILED_CAUSE,
    });
    const steps = (id: string, payload: Record<string, unknown>, resultPath: string, retryOn: readonly string[]) =>
      new LambdaInvoke(this, id, {
        lambdaFunction: this.stepsFunction.function,
        // The function's answer itself is the result (no Lambda envelope), so `$.plan` is the PlanResult.
        payloadResponseOnly: true,
        payload: TaskInput.fromObject(payload),
        resultPath,
        retryOnServiceExceptions: false,
      }).addRetry(retry(retryOn));

    const recordPlanFailure = steps(
      'RecordPlanFailure',
      { step: 'fail', job: JsonPath.entirePayload, error: JsonPath.objectAt('$.error') },
      JsonPath.DISCARD,
      PLAN_RETRY_ERRORS,
    );
    recordPlanFailure.next(jobFailed);

    const plan = steps('Plan', { step: 'plan', job: JsonPath.entirePayload }, '$.plan', PLAN_RETRY_ERRORS);
    plan.addCatch(recordPlanFailure, { errors: ['States.ALL'], resultPath: '$.error' });

    const predictBatch = new LambdaInvoke(this, 'PredictBatch', {
      lambdaFunction: this.batchFunction.function,
      payload: TaskInput.fromJsonPathAt('$'),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
    }).addRetry(retry(BATCH_RETRY_ERRORS));

    const predictSplits = new DistributedMap(this, 'PredictSplits', {
      itemReader: new S3JsonLItemReader({
        bucketNamePath: JsonPath.stringAt('$.plan.splits.bucket'),
        key: JsonPath.stringAt('$.plan.splits.key'),
      }),
      itemBatcher: new ItemBatcher({
        maxItemsPerBatchPath: '$.plan.splitsPerBatch',
        maxInputBytesPerBatch: MAX_INPUT_BYTES_PER_BATCH,
        // SplitBatchInput: the job's fixed part of every batch (columns: the plan's CSV header, [] otherwise).
        batchInput: {
          'jobId.$': '$.jobId',
          'model.$': '$.model',
          'version.$': '$.version',
          'format.$': '$.format',
          'output.$': '$.output',
          'columns.$': '$.plan.columns',
        },
      }),
      maxConcurrencyPath: '$.options.maxConcurrency',
      toleratedFailurePercentagePath: '$.options.toleratedFailurePercentage',
      mapExecutionType: StateMachineType.EXPRESS,
      resultWriterV2: new OutputLocationResultWriter({
        bucketNamePath: JsonPath.stringAt('$.output.bucket'),
        prefix: JsonPath.stringAt('$.plan.mapResultsPrefix'),
      }),
      resultPath: '$.map',
    });
    // Mode DISTRIBUTED, ExecutionType EXPRESS (from mapExecutionType above).
    predictSplits.itemProcessor(predictBatch);

    const jobEnded = new Choice(this, 'JobEnded?')
      .when(Condition.stringEquals('$.result.state', 'SUCCEEDED'), new Succeed(this, 'JobSucceeded'))
      .otherwise(jobFailed);
    const job = { step: 'assemble', job: JsonPath.entirePayload, plan: JsonPath.objectAt('$.plan') };
    const assemble = steps('Assemble', { ...job, map: JsonPath.objectAt('$.map') }, '$.result', ASSEMBLE_RETRY_ERRORS);
    const assembleAfterMapFailure = steps(
      'AssembleAfterMapFailure',
      { ...job, mapError: JsonPath.objectAt('$.mapError') },
      '$.result',
      ASSEMBLE_RETRY_ERRORS,
    );
    predictSplits.addCatch(assembleAfterMapFailure, { errors: ['States.ALL'], resultPath: '$.mapError' });
    assembleAfterMapFailure.next(jobEnded);

    return plan.next(predictSplits).next(assemble).next(jobEnded);
  }

  /**
   * cdk-nag findings on the state machine's role that stand by design, each acknowledged by its
   * exact resource: the output locations, the functions' versions, the Distributed Map's child
   * executions, and "*" for what has no resource-level permissions.
   */
  private acknowledgeStateMachineFindings(outputObjects: readonly string[], replayObjects: readonly string[], tracing: boolean): void {
    const role = this.stateMachine.role;
    const ack = (resource: string, reason: string) =>
      acknowledgeNag(this.stateMachine, `AwsSolutions-IAM5[Resource::${nagValue(this, resource)}]`, reason);
    for (const resource of outputObjects) {
      ack(
        resource,
        "The Distributed Map reads the job's splits file and writes its Map Run results in the job folder (<output prefix>/<job id>/), under the configured output locations (endpoints[].batch.outputs); job ids are made per job.",
      );
    }
    for (const resource of replayObjects) {
      ack(
        resource,
        `For a replay, the Distributed Map reads the splits file (${PLAN_FOLDER}) and writes its Map Run results (${MAP_FOLDER}) in the replay's folder ${REPLAY_PREFIX}<model>/<jobId>/ of the capture bucket; job ids are made per replay.`,
      );
    }
    for (const fn of [this.batchFunction, this.stepsFunction]) {
      ack(
        `${fn.function.functionArn}:*`,
        "CDK's LambdaInvoke grants lambda:InvokeFunction on the function and its qualified names (versions, aliases); the workflow invokes $LATEST of this function only.",
      );
    }
    const stack = Stack.of(this);
    const execution = (name: string) =>
      stack.formatArn({ service: 'states', resource: 'execution', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    // CDK's DistributedMapPolicy names the state machine by the last part of its ARN (not its Name attribute).
    const name = Arn.split(this.stateMachine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName ?? '';
    ack(
      execution(`${name}:*`),
      "The Distributed Map describes and stops its own child executions (CDK's DistributedMapPolicy); execution names are made at run time, and the grant names this state machine only.",
    );
    ack(
      execution(`${name}/*:*`),
      "Redriving the Distributed Map's Map Runs (CDK's DistributedMapPolicy): the executions of its map runs, named at run time, of this state machine only.",
    );
    acknowledgeNag(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'Log delivery to CloudWatch Logs (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) has no resource-level permissions (IAM allows only "*")' +
        (tracing
          ? "; nor have X-Ray's PutTraceSegments, PutTelemetryRecords, GetSamplingRules and GetSamplingTargets (observability.tracing is on)."
          : '.'),
    );
    if (!tracing) {
      acknowledgeNag(
        this.stateMachine,
        'AwsSolutions-SF2',
        'X-Ray tracing follows observability.tracing, off in this configuration (it costs X-Ray traces); every execution is logged at level ALL, and the functions log each step.',
      );
    }
  }
}

function retry(errors: readonly string[]): RetryProps {
  return { errors: [...errors], ...RETRY };
}
