/**
 * The DynamoDB table designs, as plain data. The local stack and the integration tests create
 * tables from them (`ensureTables`), and the CDK constructs declare the same keys, indexes and
 * TTL attribute from them, so the adapters, the local stack and AWS never disagree on a key name.
 *
 * Registry table (one partition per model):
 *
 * | item        | pk              | sk                    | other attributes                               |
 * |-------------|-----------------|-----------------------|------------------------------------------------|
 * | the model   | `MODEL#<name>`  | `MODEL`               | latestVersion, productionVersion, revision (every change raises it), modelIndex=`MODEL` |
 * | a version   | `MODEL#<name>`  | `VERSION#0000000042`  | version, stage, revision, metadata/artifact/signature maps |
 * | a change    | `MODEL#<name>`  | `HISTORY#0000000042#000003` | model, version, from, to, revision, actor, at, reason |
 * | an upload registered | `MODEL#<name>` | `UPLOAD#<uploadId>` | model, uploadId, version (written with the version: one version per upload) |
 * | an experiment | `MODEL#<name>` | `EXPERIMENT#<id>` | the experiment's fields (`core/experiments/experiment.ts`) |
 * | a shadow test | `MODEL#<name>` | `SHADOW#<id>`   | the shadow test's fields (`core/shadow/shadow.ts`) |
 * | an outcome  | `OUTCOMES#<name>#<experiment id>` | `OUTCOME#<identity>` | variant, unit, requestId, value, recordedAt, recordedBy |
 *
 * Versions are zero-padded so a Query on `begins_with(sk, "VERSION#")` returns them oldest
 * first. Only model items carry `modelIndex`, so the sparse index `models` lists every model
 * with one Query and never copies a version item.
 *
 * Prediction-log table: one item per served request, key `requestId`; index `byModel` on
 * (model, timestamp) reads a model's logs over a time range; the sparse index `byStudy` on
 * (study, timestamp) holds only the requests of an experiment or a shadow test (the items that
 * carry `study`), so an analysis reads its own requests and no others; DynamoDB's TTL deletes
 * items after `expiresAt` (epoch seconds).
 */
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  ScanCommand,
  type BatchWriteItemCommandInput,
  type BatchWriteItemCommandOutput,
  type ScanCommandOutput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';

/** DynamoDB scalar key types; the same strings as CDK's `AttributeType` values. */
export type KeyAttributeType = 'S' | 'N' | 'B';

export interface KeyAttribute {
  readonly name: string;
  readonly type: KeyAttributeType;
}

export interface IndexDesign {
  readonly indexName: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** Which attributes the index copies; `ALL` so a read from the index needs no second fetch. */
  readonly projection: 'ALL' | 'KEYS_ONLY';
}

export interface TableDesign {
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  readonly globalSecondaryIndexes: readonly IndexDesign[];
  /** Attribute holding an expiry time in epoch seconds, when items expire. */
  readonly timeToLiveAttribute?: string;
}

export const REGISTRY_TABLE: TableDesign = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: 'models',
      partitionKey: { name: 'modelIndex', type: 'S' },
      sortKey: { name: 'model', type: 'S' },
      projection: 'ALL',
    },
  ],
};

/** Digits of the zero-padded version number in `sk` (up to 9,999,999,999 versions). */
const VERSION_DIGITS = 10;

/** How registry items are keyed; the registry adapter builds every key through these. */
export const REGISTRY_KEYS = {
  /** Value of `modelIndex` on model items (the partition of the `models` index). */
  modelIndexValue: 'MODEL',
  modelsIndexName: 'models',
  modelSk: 'MODEL',
  versionSkPrefix: 'VERSION#',
  versionDigits: VERSION_DIGITS,
  pk(model: string): string {
    return `MODEL#${model}`;
  },
  versionSk(version: number): string {
    return `VERSION#${String(version).padStart(VERSION_DIGITS, '0')}`;
  },
  historySkPrefix: 'HISTORY#',
  /** One item per stage change: the version and the revision the change gave it. */
  historySk(version: number, revision: number): string {
    return `HISTORY#${String(version).padStart(VERSION_DIGITS, '0')}#${String(revision).padStart(6, '0')}`;
  },
  /** The marker of the version registered from a presigned upload. */
  uploadSk(uploadId: string): string {
    return `UPLOAD#${uploadId}`;
  },
  experimentSkPrefix: 'EXPERIMENT#',
  /** An experiment, in its model's partition (ids sort by creation time). */
  experimentSk(id: string): string {
    return `EXPERIMENT#${id}`;
  },
  shadowSkPrefix: 'SHADOW#',
  /** A shadow test, in its model's partition. */
  shadowSk(id: string): string {
    return `SHADOW#${id}`;
  },
  /** An experiment's outcomes have a partition of their own, apart from the model's. */
  outcomePk(model: string, id: string): string {
    return `OUTCOMES#${model}#${id}`;
  },
  outcomeSkPrefix: 'OUTCOME#',
  outcomeSk(identity: string): string {
    return `OUTCOME#${identity}`;
  },
} as const;

export const PREDICTION_LOG_TABLE: TableDesign = {
  partitionKey: { name: 'requestId', type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: 'byModel',
      partitionKey: { name: 'model', type: 'S' },
      sortKey: { name: 'timestamp', type: 'S' },
      projection: 'ALL',
    },
    {
      indexName: 'byStudy',
      partitionKey: { name: 'study', type: 'S' },
      sortKey: { name: 'timestamp', type: 'S' },
      projection: 'ALL',
    },
  ],
  timeToLiveAttribute: 'expiresAt',
};

/**
 * Batch-job table (one partition per model): a job item per job, `sk` = `JOB#<jobId>` (job ids
 * sort by submission time, so a Query on `begins_with(sk, "JOB#")` backwards lists the newest
 * first), and a token item `TOKEN#<sha256 of caller and client token>` = `{ jobId }` written
 * with the job in one transaction (a retried submission finds it). Only jobs still SUBMITTED or
 * RUNNING carry `activeState`, so the sparse index `active` lists the jobs in flight (the local
 * runner resumes them at start). Items expire by TTL (`expiresAt`, epoch seconds).
 */
export const BATCH_JOBS_TABLE: TableDesign = {
  partitionKey: { name: 'model', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: 'active',
      partitionKey: { name: 'activeState', type: 'S' },
      sortKey: { name: 'submittedAt', type: 'S' },
      projection: 'ALL',
    },
  ],
  timeToLiveAttribute: 'expiresAt',
};

/** How batch-job items are keyed. */
export const BATCH_JOB_KEYS = {
  jobSkPrefix: 'JOB#',
  jobSk(jobId: string): string {
    return `JOB#${jobId}`;
  },
  tokenSk(tokenHash: string): string {
    return `TOKEN#${tokenHash}`;
  },
  activeIndexName: 'active',
  /** Value of `activeState` on jobs in flight. */
  activeValue: 'ACTIVE',
} as const;

/** The CreateTable request for a design: on-demand capacity, every index projected as designed. */
export function createTableInput(tableName: string, design: TableDesign): CreateTableCommandInput {
  const attributes = new Map<string, KeyAttributeType>();
  const keySchema = (partitionKey: KeyAttribute, sortKey: KeyAttribute | undefined) => {
    attributes.set(partitionKey.name, partitionKey.type);
    if (sortKey) attributes.set(sortKey.name, sortKey.type);
    return [
      { AttributeName: partitionKey.name, KeyType: 'HASH' as const },
      ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }] : []),
    ];
  };
  const tableKeys = keySchema(design.partitionKey, design.sortKey);
  const indexes = design.globalSecondaryIndexes.map((index) => ({
    IndexName: index.indexName,
    KeySchema: keySchema(index.partitionKey, index.sortKey),
    Projection: { ProjectionType: index.projection },
  }));
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: tableKeys,
    AttributeDefinitions: [...attributes].map(([name, type]) => ({ AttributeName: name, AttributeType: type })),
    ...(indexes.length > 0 ? { GlobalSecondaryIndexes: indexes } : {}),
  };
}

export interface TableNames {
  readonly registry: string;
  readonly predictionLog: string;
  /** The batch-job table, when batch jobs are served. */
  readonly batchJobs?: string;
}

export interface EnsuredTable {
  readonly tableName: string;
  /** True when this call created the table (false when it already existed). */
  readonly created: boolean;
  /**
   * `enabled`: TTL is on for the design's attribute. `unsupported`: the server has no
   * UpdateTimeToLive (dynalite), items never expire there. `none`: the design has no TTL.
   */
  readonly timeToLive: 'enabled' | 'unsupported' | 'none';
}

export interface EnsureTablesOptions {
  /** How long to wait for a table to become ACTIVE. @default 60000 */
  readonly timeoutMs?: number;
}

/**
 * Creates the registry, prediction-log (and batch-job) tables if they are missing, waits until they and
 * their indexes are ACTIVE, and turns on TTL where the design asks for it and the server
 * supports it. Idempotent, and safe when several processes call it at once.
 *
 * @example
 * await ensureTables(dynamo, { registry: 'onnx-registry', predictionLog: 'onnx-prediction-log' });
 */
export async function ensureTables(client: DynamoDBClient, names: TableNames, options: EnsureTablesOptions = {}): Promise<EnsuredTable[]> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return Promise.all([
    ensureTable(client, names.registry, REGISTRY_TABLE, timeoutMs),
    ensureTable(client, names.predictionLog, PREDICTION_LOG_TABLE, timeoutMs),
    ...(names.batchJobs ? [ensureTable(client, names.batchJobs, BATCH_JOBS_TABLE, timeoutMs)] : []),
  ]);
}

async function ensureTable(client: DynamoDBClient, tableName: string, design: TableDesign, timeoutMs: number): Promise<EnsuredTable> {
  let created = false;
  if (!(await describe(client, tableName))) {
    try {
      await client.send(new CreateTableCommand(createTableInput(tableName, design)));
      created = true;
    } catch (error) {
      // Someone else created it between our describe and our create: that is what we wanted.
      if (errorName(error) !== 'ResourceInUseException') throw error;
    }
  }
  await waitUntilActive(client, tableName, timeoutMs);
  if (!created) await addMissingIndexes(client, tableName, design, timeoutMs);
  const timeToLive = design.timeToLiveAttribute ? await enableTimeToLive(client, tableName, design.timeToLiveAttribute) : 'none';
  return { tableName, created, timeToLive };
}

/**
 * Creates the design's indexes that a table made by an earlier release lacks (a data folder of
 * `npm start` kept from before the `byStudy` index, say), one at a time as DynamoDB requires,
 * each waited for until ACTIVE (DynamoDB backfills it from the items there).
 */
async function addMissingIndexes(client: DynamoDBClient, tableName: string, design: TableDesign, timeoutMs: number): Promise<void> {
  const table = await describe(client, tableName);
  const present = new Set((table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  const full = createTableInput(tableName, design);
  for (const index of full.GlobalSecondaryIndexes ?? []) {
    if (present.has(index.IndexName)) continue;
    const names = new Set(index.KeySchema?.map((key) => key.AttributeName));
    const update = (create: typeof index) =>
      client.send(
        new UpdateTableCommand({
          TableName: tableName,
          AttributeDefinitions: full.AttributeDefinitions?.filter((a) => names.has(a.AttributeName)),
          GlobalSecondaryIndexUpdates: [{ Create: create }],
        }),
      );
    try {
      try {
        await update(index);
      } catch (error) {
        // dynalite (the embedded server of `npm start`) asks for a throughput on every new index,
        // which DynamoDB refuses for an on-demand table: give it one there only.
        if (!(error instanceof Error && /provisionedThroughput/i.test(error.message))) throw error;
        await update({ ...index, ProvisionedThroughput: { ReadCapacityUnits: 1, WriteCapacityUnits: 1 } });
      }
    } catch (error) {
      // Another process may have added it between our describe and our update.
      const now = await describe(client, tableName);
      if (!(now?.GlobalSecondaryIndexes ?? []).some((i) => i.IndexName === index.IndexName)) throw error;
    }
    await waitUntilActive(client, tableName, timeoutMs);
    const after = await describe(client, tableName);
    if (!(after?.GlobalSecondaryIndexes ?? []).some((i) => i.IndexName === index.IndexName)) {
      // dynalite takes the update and adds nothing: the table is made again with every index.
      await rebuildTable(client, tableName, design, timeoutMs);
      return;
    }
  }
}

/**
 * Makes `tableName` again from `design`, keeping its items: they are copied to a table beside it,
 * the table is deleted and created anew, and they are copied back. For a server that cannot add
 * an index to a table (dynalite): the local stack's own tables, never an AWS one (those are the
 * CDK app's).
 */
async function rebuildTable(client: DynamoDBClient, tableName: string, design: TableDesign, timeoutMs: number): Promise<void> {
  const aside = `${tableName}.rebuild`;
  if (!(await describe(client, aside))) await client.send(new CreateTableCommand(createTableInput(aside, design)));
  await waitUntilActive(client, aside, timeoutMs);
  await copyItems(client, tableName, aside);
  await client.send(new DeleteTableCommand({ TableName: tableName }));
  await waitUntilGone(client, tableName, timeoutMs);
  await client.send(new CreateTableCommand(createTableInput(tableName, design)));
  await waitUntilActive(client, tableName, timeoutMs);
  await copyItems(client, aside, tableName);
  await client.send(new DeleteTableCommand({ TableName: aside }));
}

/** Copies every item of `from` into `to`, 25 at a time, retrying what a batch leaves unprocessed. */
async function copyItems(client: DynamoDBClient, from: string, to: string): Promise<void> {
  let start: ScanCommandOutput['LastEvaluatedKey'];
  do {
    const page: ScanCommandOutput = await client.send(new ScanCommand({ TableName: from, ...(start ? { ExclusiveStartKey: start } : {}) }));
    const items = page.Items ?? [];
    for (let i = 0; i < items.length; i += 25) {
      let requests: BatchWriteItemCommandInput['RequestItems'] = { [to]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) };
      for (let attempt = 0; requests && Object.keys(requests).length > 0; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 10 * 2 ** attempt)));
        const written: BatchWriteItemCommandOutput = await client.send(new BatchWriteItemCommand({ RequestItems: requests }));
        requests = written.UnprocessedItems;
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
}

async function waitUntilGone(client: DynamoDBClient, tableName: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (await describe(client, tableName)) {
    if (Date.now() > deadline) throw new Error(`table ${tableName} is not deleted after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return Table;
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

async function waitUntilActive(client: DynamoDBClient, tableName: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delayMs = 10; ; delayMs = Math.min(delayMs * 2, 1_000)) {
    const table = await describe(client, tableName);
    const indexesActive = (table?.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === 'ACTIVE');
    if (table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() + delayMs > deadline) {
      throw new Error(`table ${tableName} is not ACTIVE after ${timeoutMs} ms (status ${table?.TableStatus ?? 'missing'})`);
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

async function enableTimeToLive(client: DynamoDBClient, tableName: string, attributeName: string): Promise<'enabled' | 'unsupported'> {
  const { TimeToLiveDescription: current } = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const on = current?.TimeToLiveStatus === 'ENABLED' || current?.TimeToLiveStatus === 'ENABLING';
  if (on && current?.AttributeName === attributeName) return 'enabled';
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: attributeName, Enabled: true },
      }),
    );
    return 'enabled';
  } catch (error) {
    // dynalite implements DescribeTimeToLive but not UpdateTimeToLive.
    if (errorName(error) === 'UnknownOperationException') return 'unsupported';
    throw error;
  }
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}
