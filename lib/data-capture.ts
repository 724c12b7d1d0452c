/**
 * Data capture on AWS: the capture bucket and the Amazon Data Firehose stream that fills it.
 *
 * Endpoint functions put each captured request as one JSON line (`functions/core/capture.ts`,
 * sent by `FirehoseCaptureDelivery` in `functions/adapters/capture-log.ts`) to the stream; the
 * stream buffers them per partition and writes JSON Lines objects to
 * `capture/model=<model>/version=<modelVersion>/date=<yyyy-MM-dd>/<object>.jsonl`, the layout
 * `S3CaptureReader` (`functions/adapters/s3-capture.ts`) lists and the local delivery writes
 * ({@link CAPTURE_DATA_PREFIX}). The control plane reads them back (drift, replays), keeps its
 * drift reports under `drift/` in the same bucket, and reads and writes the reference profiles
 * drift compares with, under `profiles/` in the artifact bucket. Replays are batch jobs whose
 * folders are in this bucket too, under `replays/<model>/<jobId>/` ({@link REPLAY_PREFIX}; the
 * batch roles' grants are `BatchJobs`'s, `lib/batch-jobs.ts`).
 *
 * What the stream is built on, from the Amazon Data Firehose developer guide (quotas page;
 * "Partition streaming data in Amazon Data Firehose" and the pages under it: partitioning keys,
 * S3 bucket prefix, buffering, error handling; "Grant Firehose access to an Amazon S3 destination"):
 *
 * - A record is at most 1,000 KiB before base64; one PutRecordBatch call carries at most 500
 *   records and 4 MiB. The adapter cuts its calls to those bounds, and the capture API bounds a
 *   record to 1,000 KiB at most.
 * - Dynamic partitioning keeps one buffer per distinct evaluated prefix (an "active partition")
 *   and writes each as its own object when that buffer reaches its size or its age. It asks for
 *   a buffer size of 64 to 128 MiB and an interval of 60 to 900 s (no zero buffering); because
 *   Firehose buffers in stages, a record may take about 1.5 times the interval to land.
 * - A stream holds 500 active partitions by default (raised to 5,000 on request); records
 *   beyond that, and records whose keys cannot be read (not JSON, a field missing), go to the
 *   error prefix, which a stream with dynamic partitioning must have. Here a partition is one
 *   (model, version, day): hundreds of live model versions in one buffer interval before the
 *   limit matters.
 * - Partition keys are read by inline parsing: the MetadataExtraction processor runs a jq 1.6
 *   query on each record and the prefix names its results as `!{partitionKeyFromQuery:<key>}`.
 *   Every key the query yields must appear in the prefix. The error prefix may use
 *   `!{firehose:error-output-type}` and `!{timestamp:...}` but no partition key.
 * - Dynamic partitioning is chosen when a stream is created; it cannot be turned on later.
 * - Firehose joins records as they come, with no delimiter of its own. Our records already end
 *   in "\n" (the adapter appends it), so there is no AppendDelimiterToRecord processor: adding
 *   one would leave an empty line after every record.
 * - Objects are named `<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<random>` (UTC) plus the file
 *   extension, so within a partition key order is write order, as the reader assumes.
 * - The delivery role: AWS's sample grants put, abort and list on the bucket, plus GetObject and
 *   GetBucketLocation; the stream only writes, so GetObject is left out, and writes are limited
 *   to the `capture/` and `capture-errors/` prefixes.
 *
 * The date partition is the UTC date of the request (the record's `timestamp`, read by the jq
 * query), not the time the record reached Firehose: a request served at 23:59:59.9 is in that
 * day's folder, exactly where the local delivery (`S3CaptureDelivery`) puts it.
 *
 * The bucket: encrypted (SSE-S3, which Firehose's objects get by the bucket's default), closed
 * to the public, TLS 1.2+ only, owner-enforced, server access logs under `capture/` in the
 * artifacts' log bucket, not versioned (everything in it expires), retained on stack deletion.
 * Lifecycle: `capture/`, `capture-errors/` and `replays/` expire after `capture.retentionDays` (a
 * replay's folder is kept as long as the records it was made of), `drift/` after
 * {@link DRIFT_REPORT_RETENTION_DAYS}, unfinished multipart uploads after a day.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnDeliveryStream } from 'aws-cdk-lib/aws-kinesisfirehose';
import { LogGroup, LogStream, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CAPTURE_ROOT } from '../functions/core/capture.js';
import { REPLAY_ROOT } from '../functions/core/replay/service.js';
import { privateBucketProps, type ArtifactBucket } from './artifact-bucket.js';
import type { CaptureConfig } from './config.js';
import { acknowledgeNag, nagValue } from './nag.js';
import type { ServingFunction } from './serving-function.js';

/** The jq query (jq 1.6) that reads each record's partition keys: its model, version and UTC date. */
export const CAPTURE_PARTITION_QUERY = '{model:.model,modelVersion:.modelVersion,date:.timestamp[0:10]}';

/**
 * Where Firehose writes captured records: `capture/model=<m>/version=<v>/date=<yyyy-MM-dd>/`,
 * the keys {@link CAPTURE_PARTITION_QUERY} yields (what `capturePrefix(m, v, date)` reads).
 */
export const CAPTURE_DATA_PREFIX = `${CAPTURE_ROOT}model=!{partitionKeyFromQuery:model}/version=!{partitionKeyFromQuery:modelVersion}/date=!{partitionKeyFromQuery:date}/`;

/** Where records that could not be partitioned or delivered go, by error type and UTC day. */
export const CAPTURE_ERROR_ROOT = 'capture-errors/';
export const CAPTURE_ERROR_OUTPUT_PREFIX = `${CAPTURE_ERROR_ROOT}!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/`;

/** Where replays keep their job folders in the capture bucket: `replays/<model>/<jobId>/` (`ReplayService`). */
export const REPLAY_PREFIX = REPLAY_ROOT;

/** Where the control plane stores drift reports in the capture bucket. */
export const DRIFT_REPORT_PREFIX = 'drift/';
/** Days a drift report is kept: a year of history, and the same week a year ago. */
export const DRIFT_REPORT_RETENTION_DAYS = 400;

/**
 * Where reference profiles live in the ARTIFACT bucket: `profiles/<model>/<version>.json`, beside
 * the artifacts (`profileKey` in `functions/adapters/s3-drift.ts`). Drift compares captures with them.
 */
export const PROFILE_PREFIX = 'profiles/';

/** The buffer size of each partition, in MiB: the least Firehose allows with dynamic partitioning. */
export const CAPTURE_BUFFER_MIB = 64;
/** How long Firehose retries a partition's delivery to S3 before it goes to the error prefix, in seconds. */
export const CAPTURE_RETRY_SECONDS = 300;
/** The log stream Firehose writes its delivery errors to. */
export const CAPTURE_ERROR_LOG_STREAM = 'S3Delivery';

/** What the delivery role may do to objects under its two prefixes: write them, and abort a multipart write. */
export const DELIVERY_OBJECT_ACTIONS = ['s3:AbortMultipartUpload', 's3:PutObject'] as const;
/** What the delivery role may do to the bucket itself: find it, list it and its unfinished uploads. */
export const DELIVERY_BUCKET_ACTIONS = ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'] as const;
/** What an endpoint function may do to the stream: put batches of records (`PutRecordBatch`, nothing else). */
export const ENDPOINT_CAPTURE_ACTIONS = ['firehose:PutRecordBatch'] as const;
/** What the control plane may do to captured records: read them (listing is granted per prefix). */
export const CONTROL_CAPTURE_ACTIONS = ['s3:GetObject'] as const;
/** What the control plane may do to replays' folders: read them (the report, presigned links to a replay's files). */
export const CONTROL_REPLAY_ACTIONS = ['s3:GetObject'] as const;
/** What the control plane may do to drift reports: read and write them. */
export const CONTROL_DRIFT_ACTIONS = ['s3:GetObject', 's3:PutObject'] as const;
/** What the control plane may do to reference profiles: store them (registration, `PUT .../profile`) and read them. */
export const CONTROL_PROFILE_ACTIONS = ['s3:GetObject', 's3:PutObject'] as const;
/** What a scheduled drift run may do to reference profiles: read them. */
export const DRIFT_PROFILE_ACTIONS = ['s3:GetObject'] as const;

export interface DataCaptureProps {
  /** Retention and buffering (`capture` in the app config). */
  readonly config: CaptureConfig;
  /** The bucket that receives the capture bucket's server access logs (under `capture/`). */
  readonly accessLogs: IBucket;
  /** Retention of the log group Firehose writes its delivery errors to. */
  readonly logRetention: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * @example
 * const capture = new DataCapture(this, 'Capture', { config: { retentionDays: 30, bufferSeconds: 60 }, accessLogs, logRetention: RetentionDays.ONE_MONTH });
 * capture.bindEndpoint(iris.function);  // CAPTURE_STREAM + firehose:PutRecordBatch on the stream
 * capture.bindControl(control.function, artifacts); // CAPTURE_BUCKET + read capture/ and replays/, read and write drift/ and profiles/
 */
export class DataCapture extends Construct {
  readonly bucket: Bucket;
  readonly stream: CfnDeliveryStream;
  /** The stream's name (what `CAPTURE_STREAM` holds). */
  readonly streamName: string;
  readonly streamArn: string;
  /** The role Firehose writes to the bucket with. */
  readonly deliveryRole: Role;
  /** Where Firehose logs failed deliveries (stream {@link CAPTURE_ERROR_LOG_STREAM}). */
  readonly errorLogs: LogGroup;

  constructor(scope: Construct, id: string, props: DataCaptureProps) {
    super(scope, id);
    const { retentionDays, bufferSeconds } = props.config;
    if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 3_650) {
      throw new Error(`capture.retentionDays must be a whole number of days from 1 to 3650, not ${retentionDays}.`);
    }
    if (!Number.isInteger(bufferSeconds) || bufferSeconds < 60 || bufferSeconds > 900) {
      throw new Error(
        `capture.bufferSeconds must be a whole number of seconds from 60 to 900 (Firehose's range with dynamic partitioning), not ${bufferSeconds}.`,
      );
    }

    this.bucket = new Bucket(this, 'Bucket', {
      ...privateBucketProps(props.removalPolicy ?? RemovalPolicy.RETAIN, props.accessLogs, 'capture/'),
      lifecycleRules: [
        { id: 'ExpireCapture', prefix: CAPTURE_ROOT, expiration: Duration.days(retentionDays) },
        { id: 'ExpireCaptureErrors', prefix: CAPTURE_ERROR_ROOT, expiration: Duration.days(retentionDays) },
        { id: 'ExpireDriftReports', prefix: DRIFT_REPORT_PREFIX, expiration: Duration.days(DRIFT_REPORT_RETENTION_DAYS) },
        { id: 'ExpireReplays', prefix: REPLAY_PREFIX, expiration: Duration.days(retentionDays) },
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    this.errorLogs = new LogGroup(this, 'DeliveryErrors', { retention: props.logRetention, removalPolicy: RemovalPolicy.RETAIN });
    const errorStream = new LogStream(this, 'DeliveryErrorStream', { logGroup: this.errorLogs, logStreamName: CAPTURE_ERROR_LOG_STREAM });

    // Firehose passes the account as the external id when it assumes a delivery role, so the
    // role cannot be used for another account's stream (the confused-deputy guard AWS suggests).
    const stack = Stack.of(this);
    this.deliveryRole = new Role(this, 'DeliveryRole', {
      assumedBy: new ServicePrincipal('firehose.amazonaws.com', { conditions: { StringEquals: { 'sts:ExternalId': stack.account } } }),
      description: 'Amazon Data Firehose writes captured requests to the capture bucket',
    });
    const objectArns = [this.bucket.arnForObjects(`${CAPTURE_ROOT}*`), this.bucket.arnForObjects(`${CAPTURE_ERROR_ROOT}*`)];
    const policy = new Policy(this, 'DeliveryPolicy', {
      roles: [this.deliveryRole],
      statements: [
        new PolicyStatement({ actions: [...DELIVERY_OBJECT_ACTIONS], resources: objectArns }),
        new PolicyStatement({ actions: [...DELIVERY_BUCKET_ACTIONS], resources: [this.bucket.bucketArn] }),
        new PolicyStatement({
          actions: ['logs:PutLogEvents'],
          resources: [
            stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: `${this.errorLogs.logGroupName}:log-stream:${errorStream.logStreamName}`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      ],
    });
    for (const arn of objectArns) {
      acknowledgeNag(
        policy,
        `AwsSolutions-IAM5[Resource::${nagValue(this, arn)}]`,
        'Firehose names each object it writes (partition folder from the record, then stream, time and a random suffix); the grant covers only the capture/ and capture-errors/ prefixes of the capture bucket.',
      );
    }

    this.stream = new CfnDeliveryStream(this, 'Stream', {
      deliveryStreamType: 'DirectPut',
      // Encrypted at rest while buffered, with a key Firehose owns (direct PUT streams only).
      deliveryStreamEncryptionConfigurationInput: { keyType: 'AWS_OWNED_CMK' },
      extendedS3DestinationConfiguration: {
        bucketArn: this.bucket.bucketArn,
        roleArn: this.deliveryRole.roleArn,
        prefix: CAPTURE_DATA_PREFIX,
        errorOutputPrefix: CAPTURE_ERROR_OUTPUT_PREFIX,
        bufferingHints: { intervalInSeconds: bufferSeconds, sizeInMBs: CAPTURE_BUFFER_MIB },
        // The reader reads plain text (S3CaptureReader); gzip would need it to unzip.
        compressionFormat: 'UNCOMPRESSED',
        fileExtension: '.jsonl',
        // Objects take the bucket's default encryption (SSE-S3).
        encryptionConfiguration: { noEncryptionConfig: 'NoEncryption' },
        dynamicPartitioningConfiguration: { enabled: true, retryOptions: { durationInSeconds: CAPTURE_RETRY_SECONDS } },
        // Records end in "\n" already (FirehoseCaptureDelivery appends it): no AppendDelimiterToRecord.
        processingConfiguration: {
          enabled: true,
          processors: [
            {
              type: 'MetadataExtraction',
              parameters: [
                { parameterName: 'MetadataExtractionQuery', parameterValue: CAPTURE_PARTITION_QUERY },
                { parameterName: 'JsonParsingEngine', parameterValue: 'JQ-1.6' },
              ],
            },
          ],
        },
        cloudWatchLoggingOptions: { enabled: true, logGroupName: this.errorLogs.logGroupName, logStreamName: errorStream.logStreamName },
        s3BackupMode: 'Disabled',
      },
    });
    // Firehose checks its access to the bucket when the stream is created.
    this.stream.node.addDependency(policy);
    this.streamName = this.stream.ref;
    this.streamArn = this.stream.attrArn;
  }

  /** ARN pattern of every captured record, `arn:...:bucket/capture/*`. */
  captureObjectsArn(): string {
    return this.bucket.arnForObjects(`${CAPTURE_ROOT}*`);
  }

  /**
   * ARN pattern of replays' objects: every object of every replay's folder (`replays/` then `*`),
   * or with `within` (`_map/`, say) only those under that folder of each replay's folder
   * (`replays/`, `*`, `/_map/`, `*`: `replays/iris/job-1/_map/<run>/manifest.json` matches).
   */
  replayObjectsArn(within = ''): string {
    return this.bucket.arnForObjects(within === '' ? `${REPLAY_PREFIX}*` : `${REPLAY_PREFIX}*/${within}*`);
  }

  /** ARN pattern of every drift report, `arn:...:bucket/drift/*`. */
  driftObjectsArn(): string {
    return this.bucket.arnForObjects(`${DRIFT_REPORT_PREFIX}*`);
  }

  /**
   * Gives an endpoint function `CAPTURE_STREAM` and {@link ENDPOINT_CAPTURE_ACTIONS} on this
   * stream only; nothing on the bucket (it writes through the stream, never to S3 directly).
   */
  bindEndpoint(fn: ServingFunction): void {
    fn.setEnvironment('CAPTURE_STREAM', this.streamName).allow(ENDPOINT_CAPTURE_ACTIONS, [this.streamArn]);
  }

  /**
   * Gives the control plane what drift and replays need: `CAPTURE_BUCKET`,
   * {@link CONTROL_CAPTURE_ACTIONS} on `capture/*` (drift, and listing a replay's capture files at
   * submission), {@link CONTROL_DRIFT_ACTIONS} on `drift/*`, {@link CONTROL_REPLAY_ACTIONS} on
   * `replays/*` (a replay's `replay.json`, presigned links to its files; the batch roles write
   * them), `s3:ListBucket` limited to those three prefixes; and in the artifact bucket
   * {@link CONTROL_PROFILE_ACTIONS} on `profiles/*` with `s3:ListBucket` limited to `profiles/`.
   * (Listing is what turns a missing profile, report or `replay.json` into NoSuchKey, which the
   * stores read as "none", instead of AccessDenied.) No delete, nothing under `capture-errors/`,
   * no write under `replays/`, nothing on the stream.
   */
  bindControl(fn: ServingFunction, artifacts: ArtifactBucket): void {
    this.bindDrift(fn, artifacts, CONTROL_PROFILE_ACTIONS, 'The control plane', true);
    fn.allow(CONTROL_REPLAY_ACTIONS, [this.replayObjectsArn()], {
      wildcardReason: `The control plane reads any replay's report and signs links to its files, in the replay's folder ${REPLAY_PREFIX}<model>/<jobId>/; job ids are made per replay.`,
    });
  }

  /**
   * Reading captured records and reference profiles, reading and writing drift reports, as
   * {@link bindControl} but with profiles read only ({@link DRIFT_PROFILE_ACTIONS}): for a function
   * that runs drift detection on a schedule.
   */
  bindDriftRun(fn: ServingFunction, artifacts: ArtifactBucket): void {
    this.bindDrift(fn, artifacts, DRIFT_PROFILE_ACTIONS, 'The scheduled drift run');
  }

  private bindDrift(fn: ServingFunction, artifacts: ArtifactBucket, profileActions: readonly string[], who: string, replays = false): void {
    fn.setEnvironment('CAPTURE_BUCKET', this.bucket.bucketName)
      .allow(CONTROL_CAPTURE_ACTIONS, [this.captureObjectsArn()], {
        wildcardReason: `${who} reads captured records of any model (drift, replays); Firehose names the objects under capture/model=<m>/version=<v>/date=<d>/.`,
      })
      .allow(CONTROL_DRIFT_ACTIONS, [this.driftObjectsArn()], {
        wildcardReason: `${who} stores and reads drift reports of any model under ${DRIFT_REPORT_PREFIX}<model>/; keys carry the time of the run.`,
      })
      .allow(['s3:ListBucket'], [this.bucket.bucketArn], {
        conditions: {
          StringLike: { 's3:prefix': [`${CAPTURE_ROOT}*`, `${DRIFT_REPORT_PREFIX}*`, ...(replays ? [`${REPLAY_PREFIX}*`] : [])] },
        },
      })
      .allow(profileActions, [artifacts.bucket.arnForObjects(`${PROFILE_PREFIX}*`)], {
        wildcardReason: `${who} reads the reference profiles of any model's versions (${PROFILE_PREFIX}<model>/<version>.json in the artifact bucket) to compare captures with.`,
      })
      .allow(['s3:ListBucket'], [artifacts.bucket.bucketArn], {
        conditions: { StringLike: { 's3:prefix': [`${PROFILE_PREFIX}*`] } },
      });
  }
}
