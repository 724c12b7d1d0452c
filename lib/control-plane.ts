/**
 * The control-plane function: the registry API (list, register, promote). It reads and writes the
 * registry and the artifacts, and it may publish versions of, and move alias `live` on, the
 * endpoint functions it is told about, and no other function.
 */
import { Duration } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ARTIFACT_PREFIX, type ArtifactBucket } from './artifact-bucket.js';
import type { ControlPlaneConfig } from './config.js';
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
 * Release actions on endpoint functions: pin a model version in the configuration, publish a
 * version, and read/move alias `live` (issue: canary releases).
 */
export const CONTROL_RELEASE_ACTIONS = [
  'lambda:GetFunctionConfiguration',
  'lambda:UpdateFunctionConfiguration',
  'lambda:PublishVersion',
  'lambda:ListVersionsByFunction',
  'lambda:GetAlias',
  'lambda:UpdateAlias',
] as const;

export interface ControlPlaneProps {
  readonly config: ControlPlaneConfig;
  readonly layer: OnnxRuntimeLayer;
  readonly tables: ServingTables;
  readonly artifacts: ArtifactBucket;
  readonly logRetention: RetentionDays;
}

/**
 * @example
 * const control = new ControlPlane(this, 'Control', { config: config.controlPlane, layer, tables, artifacts, logRetention });
 * control.allowReleasesOf(irisEndpoint);
 */
export class ControlPlane extends Construct {
  readonly function: ServingFunction;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    if (props.layer.architectureName !== props.config.architecture) {
      throw new Error(`The control plane runs on ${props.config.architecture} but was given the ${props.layer.architectureName} layer.`);
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
      // The functions' shared configuration requires the name; the control plane writes no logs there.
      .setEnvironment('PREDICTION_LOG_TABLE', props.tables.predictionLog.table.tableName)
      .setEnvironment('ARTIFACT_BUCKET', props.artifacts.bucket.bucketName)
      .allow(CONTROL_ARTIFACT_ACTIONS, [props.artifacts.bucket.arnForObjects(`${ARTIFACT_PREFIX}*`)], {
        wildcardReason: `The control plane registers artifacts of any model under ${ARTIFACT_PREFIX}; keys carry model, version and sha256, known only at registration.`,
      })
      .allow(['s3:ListBucket'], [props.artifacts.bucket.bucketArn], {
        conditions: { StringLike: { 's3:prefix': [`${ARTIFACT_PREFIX}*`] } },
      });
  }

  /** Lets the control plane release new versions of `endpoint` (its function and alias `live` only). */
  allowReleasesOf(endpoint: ModelEndpoint): this {
    const fn = endpoint.function.function;
    this.function.allow(CONTROL_RELEASE_ACTIONS, [fn.functionArn, `${fn.functionArn}:${LIVE_ALIAS}`]);
    return this;
  }
}
