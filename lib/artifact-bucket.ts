/**
 * The model artifact bucket: ONNX files under `models/<model>/`, referenced from the registry by
 * key, S3 VersionId and sha256; presigned uploads under `uploads/`, gone after a day. Versioned (a registered VersionId must stay readable), encrypted,
 * closed to the public, TLS only, with server access logs in a bucket of their own.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, type BucketProps, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { UPLOAD_PREFIX } from '../functions/core/uploads.js';
import { acknowledgeNag } from './nag.js';

/** Days an upload waits for its registration (the control plane refuses older ones too). */
const UPLOAD_RETENTION_DAYS = 1;

/** Where model files live in the bucket; `models/<model>/...` per model. */
export const ARTIFACT_PREFIX = 'models/';

/** Where presigned uploads wait for their registration: `uploads/<model>/<uploadId>`. */
export { UPLOAD_PREFIX } from '../functions/core/uploads.js';

export function modelArtifactPrefix(model: string): string {
  return `${ARTIFACT_PREFIX}${model}/`;
}

export interface ArtifactBucketProps {
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Days to keep server access logs. @default 365 */
  readonly accessLogRetentionDays?: number;
}

/**
 * What every bucket of the app has: public access blocked, TLS 1.2 or later only, SSE-S3 (the
 * only encryption S3 server access logging can write to), objects owned by the bucket owner
 * (no ACLs), the given removal policy, and server access logs under `logPrefix` of `accessLogs`
 * when given.
 */
export function privateBucketProps(removalPolicy: RemovalPolicy, accessLogs?: IBucket, logPrefix?: string): BucketProps {
  return {
    blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    encryption: BucketEncryption.S3_MANAGED,
    objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
    removalPolicy,
    ...(accessLogs ? { serverAccessLogsBucket: accessLogs, serverAccessLogsPrefix: logPrefix } : {}),
  };
}

export class ArtifactBucket extends Construct {
  readonly bucket: Bucket;
  readonly accessLogs: Bucket;

  constructor(scope: Construct, id: string, props: ArtifactBucketProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    // S3 server access logging writes only to SSE-S3 buckets owned by the same account.
    this.accessLogs = new Bucket(this, 'AccessLogs', {
      ...privateBucketProps(removalPolicy),
      lifecycleRules: [{ expiration: Duration.days(props.accessLogRetentionDays ?? 365) }],
    });
    acknowledgeNag(
      this.accessLogs,
      'AwsSolutions-S1',
      'This is the access-log target bucket; logging its own access would log the log writes.',
    );

    this.bucket = new Bucket(this, 'Bucket', {
      ...privateBucketProps(removalPolicy, this.accessLogs, 'artifacts/'),
      versioned: true,
      // Non-current versions under models/ are not expired: the registry pins artifacts by S3
      // VersionId. Uploads are registered (and deleted) within minutes; whatever is left, a
      // registration that never came or a multipart upload never finished, goes after a day,
      // and so do the versions and delete markers that expiring them leaves on a versioned bucket.
      lifecycleRules: [
        {
          id: 'ExpireUploads',
          prefix: UPLOAD_PREFIX,
          expiration: Duration.days(UPLOAD_RETENTION_DAYS),
          noncurrentVersionExpiration: Duration.days(UPLOAD_RETENTION_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(UPLOAD_RETENTION_DAYS),
        },
        { id: 'RemoveUploadDeleteMarkers', prefix: UPLOAD_PREFIX, expiredObjectDeleteMarker: true },
      ],
    });
  }

  /** ARN pattern of a model's artifact objects, `arn:...:bucket/models/<model>/*`. */
  modelObjectsArn(model: string): string {
    return this.bucket.arnForObjects(`${modelArtifactPrefix(model)}*`);
  }
}
