/**
 * The registry, prediction-log and (with batch jobs) batch-job tables, declared from the designs in
 * `functions/adapters/tables.ts` (the same designs the local stack creates tables from), so key,
 * index and TTL attribute names can never disagree between the adapters and AWS.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption, type Attribute } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import {
  BATCH_JOBS_TABLE,
  PREDICTION_LOG_TABLE,
  REGISTRY_TABLE,
  type KeyAttribute,
  type KeyAttributeType,
  type TableDesign,
} from '../functions/adapters/tables.js';

const ATTRIBUTE_TYPES: Readonly<Record<KeyAttributeType, AttributeType>> = {
  S: AttributeType.STRING,
  N: AttributeType.NUMBER,
  B: AttributeType.BINARY,
};

function attribute(key: KeyAttribute): Attribute {
  return { name: key.name, type: ATTRIBUTE_TYPES[key.type] };
}

export interface DesignedTableProps {
  readonly design: TableDesign;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Refuse DeleteTable until turned off. @default true */
  readonly deletionProtection?: boolean;
}

/**
 * A DynamoDB table built from a `TableDesign`: on-demand capacity, point-in-time recovery,
 * encryption with the AWS-managed KMS key, the design's indexes and its TTL attribute.
 *
 * @example
 * const logs = new DesignedTable(this, 'PredictionLog', { design: PREDICTION_LOG_TABLE });
 */
export class DesignedTable extends Construct {
  readonly table: Table;
  readonly design: TableDesign;

  constructor(scope: Construct, id: string, props: DesignedTableProps) {
    super(scope, id);
    this.design = props.design;
    this.table = new Table(this, 'Table', {
      partitionKey: attribute(props.design.partitionKey),
      ...(props.design.sortKey ? { sortKey: attribute(props.design.sortKey) } : {}),
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      ...(props.design.timeToLiveAttribute ? { timeToLiveAttribute: props.design.timeToLiveAttribute } : {}),
    });
    for (const index of props.design.globalSecondaryIndexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: attribute(index.partitionKey),
        ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
        projectionType: index.projection === 'ALL' ? ProjectionType.ALL : ProjectionType.KEYS_ONLY,
      });
    }
  }

  /** ARN of one of the design's indexes (for IAM statements that Query it). */
  indexArn(indexName: string): string {
    if (!this.design.globalSecondaryIndexes.some((index) => index.indexName === indexName)) {
      throw new Error(`Table ${this.node.path} has no index "${indexName}".`);
    }
    return `${this.table.tableArn}/index/${indexName}`;
  }
}

export interface ServingTablesProps {
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Create the batch-job table (when an endpoint declares batch locations). @default false */
  readonly batchJobs?: boolean;
}

/**
 * The registry (models, versions, stages), the prediction log (one item per request, TTL) and,
 * with batch jobs, the batch-job table (one item per job, TTL).
 */
export class ServingTables extends Construct {
  readonly registry: DesignedTable;
  readonly predictionLog: DesignedTable;
  /** Batch jobs, from `BATCH_JOBS_TABLE`; absent unless `batchJobs`. */
  readonly batchJobs?: DesignedTable;

  constructor(scope: Construct, id: string, props: ServingTablesProps = {}) {
    super(scope, id);
    const common = props.removalPolicy ? { removalPolicy: props.removalPolicy } : {};
    this.registry = new DesignedTable(this, 'Registry', { design: REGISTRY_TABLE, ...common });
    // Logs are re-creatable history: no deletion protection, but kept on stack deletion.
    this.predictionLog = new DesignedTable(this, 'PredictionLog', { design: PREDICTION_LOG_TABLE, deletionProtection: false, ...common });
    // Jobs are history too (their results live in S3, their items expire by TTL): the same.
    if (props.batchJobs)
      this.batchJobs = new DesignedTable(this, 'BatchJobs', { design: BATCH_JOBS_TABLE, deletionProtection: false, ...common });
  }
}
