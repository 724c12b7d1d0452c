/**
 * The payload bucket: tensors too large for Lambda's 6 MB synchronous invoke travel by reference
 * through it. A client asks an endpoint for an upload (`POST /v1/models/<model>/payloads`, a
 * presigned PUT for `inputs/<model>/<payloadId>`), sends the bytes straight to S3 and then names
 * the payload in its inference request; an answer too large to return is written by the endpoint
 * function under `outputs/<model>/<requestId>/<output>` and handed out as presigned GET URLs.
 *
 * Everything in it is transient: every object expires after a day (and so do multipart uploads
 * left unfinished), so the bucket is not versioned (a version would outlive its object's expiry
 * for nothing). Encrypted (SSE-S3), closed to the public, TLS 1.2+ only, owner-enforced, server
 * access logs in the artifact bucket's log bucket under `payloads/`. Retained on stack deletion by
 * default, without auto-delete: a deletion that empties buckets needs a custom resource with
 * delete rights on every object, and the lifecycle rule empties this one within a day anyway.
 *
 * Endpoint functions reach it through {@link PayloadBucket.bindEndpoint}: `PAYLOAD_BUCKET` in the
 * environment and access to their own model's two prefixes only.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Bucket, type IBucket } from 'aws-cdk-lib/aws-s3';
import { privateBucketProps } from './artifact-bucket.js';
import { Construct } from 'constructs';
import { PAYLOAD_RETENTION_DAYS, payloadInputPrefix, payloadOutputPrefix } from '../functions/core/payload-keys.js';
import type { ServingFunction } from './serving-function.js';

/**
 * What an endpoint function may do under its model's prefixes: read an uploaded input and presign
 * its upload (a presigned PUT carries the signer's own `s3:PutObject`), write an output and
 * presign its download (a presigned GET carries the signer's `s3:GetObject`).
 */
export const ENDPOINT_PAYLOAD_ACTIONS = ['s3:GetObject', 's3:PutObject'] as const;

export interface PayloadBucketProps {
  /** The bucket that receives this bucket's server access logs (under `payloads/`). */
  readonly accessLogs: IBucket;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * @example
 * const payloads = new PayloadBucket(this, 'Payloads', { accessLogs: artifacts.accessLogs });
 * payloads.bindEndpoint(endpoint.function, 'iris'); // PAYLOAD_BUCKET + inputs/iris/*, outputs/iris/*
 */
export class PayloadBucket extends Construct {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: PayloadBucketProps) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Bucket', {
      ...privateBucketProps(props.removalPolicy ?? RemovalPolicy.RETAIN, props.accessLogs, 'payloads/'),
      lifecycleRules: [
        {
          id: 'ExpirePayloads',
          expiration: Duration.days(PAYLOAD_RETENTION_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(PAYLOAD_RETENTION_DAYS),
        },
      ],
    });
  }

  /** ARN pattern of a model's uploaded inputs, `arn:...:bucket/inputs/<model>/*`. */
  inputObjectsArn(model: string): string {
    return this.bucket.arnForObjects(`${payloadInputPrefix(model)}*`);
  }

  /** ARN pattern of a model's offloaded outputs, `arn:...:bucket/outputs/<model>/*`. */
  outputObjectsArn(model: string): string {
    return this.bucket.arnForObjects(`${payloadOutputPrefix(model)}*`);
  }

  /**
   * Gives `fn`, the endpoint function of `model`, `PAYLOAD_BUCKET` and {@link ENDPOINT_PAYLOAD_ACTIONS}
   * on `inputs/<model>/*` and `outputs/<model>/*`, plus `s3:ListBucket` limited to its inputs'
   * prefix, so that an input that is missing or expired reads as NoSuchKey (a 404 the caller can
   * act on) rather than AccessDenied. Nothing on other models' prefixes, nothing on the bucket as
   * a whole.
   */
  bindEndpoint(fn: ServingFunction, model: string): void {
    fn.setEnvironment('PAYLOAD_BUCKET', this.bucket.bucketName)
      .allow(ENDPOINT_PAYLOAD_ACTIONS, [this.inputObjectsArn(model), this.outputObjectsArn(model)], {
        wildcardReason: `Payload keys are made per request (${payloadInputPrefix(model)}<payloadId>, ${payloadOutputPrefix(model)}<requestId>/<output>); the prefixes are this endpoint's own model's.`,
      })
      .allow(['s3:ListBucket'], [this.bucket.bucketArn], {
        conditions: { StringLike: { 's3:prefix': [`${payloadInputPrefix(model)}*`] } },
      });
  }
}
