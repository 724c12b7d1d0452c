/**
 * DynamoDB implementation of the `BatchJobStore` port on the batch-job table (`BATCH_JOBS_TABLE`
 * in `tables.ts`): one job item per job in its model's partition, a token item per client token
 * written with the job in one transaction, conditional updates on the job's state and revision,
 * atomic progress counters.
 */
import { GetCommand, QueryCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { FINAL_STATES, type BatchJob, type BatchJobStore, type JobChange, type JobState } from '../core/batch-contract.js';
import { ConflictError, ValidationError } from '../core/errors.js';
import { BATCH_JOB_KEYS } from './tables.js';
import { marshallable } from './dynamodb-values.js';

export interface DynamoDbBatchJobStoreOptions {
  /** A document client with `removeUndefinedValues: true`. */
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Days a job is kept after submission (TTL `expiresAt`). @default 90 */
  readonly ttlDays?: number;
}

type Item = Record<string, unknown>;

/** Attributes of a job item that are the table's, not the job's. */
const ITEM_ONLY = ['model', 'sk', 'activeState', 'expiresAt'] as const;

export class DynamoDbBatchJobStore implements BatchJobStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly ttlDays: number;

  constructor(options: DynamoDbBatchJobStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.ttlDays = options.ttlDays ?? 90;
  }

  async create(job: BatchJob, tokenKey?: string): Promise<{ created: boolean; job: BatchJob }> {
    const expiresAt = Math.floor(Date.parse(job.submittedAt) / 1000) + this.ttlDays * 86_400;
    const jobItem = {
      ...marshallable(job),
      model: job.model,
      sk: BATCH_JOB_KEYS.jobSk(job.jobId),
      activeState: BATCH_JOB_KEYS.activeValue,
      expiresAt,
    };
    const items = [{ Put: { TableName: this.tableName, Item: jobItem, ConditionExpression: 'attribute_not_exists(sk)' } }];
    if (tokenKey) {
      items.push({
        Put: {
          TableName: this.tableName,
          Item: { model: job.model, sk: BATCH_JOB_KEYS.tokenSk(tokenKey), jobId: job.jobId, expiresAt } as never,
          ConditionExpression: 'attribute_not_exists(sk)',
        },
      });
    }
    try {
      await this.client.send(new TransactWriteCommand({ TransactItems: items }));
      return { created: true, job };
    } catch (error) {
      if (tokenKey && isCancelled(error)) {
        const existing = await this.findByToken(job.model, tokenKey);
        if (existing) return { created: false, job: existing };
      }
      throw error;
    }
  }

  async get(model: string, jobId: string): Promise<BatchJob | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { model, sk: BATCH_JOB_KEYS.jobSk(jobId) }, ConsistentRead: true }),
    );
    return Item ? toJob(Item) : undefined;
  }

  async findByToken(model: string, tokenKey: string): Promise<BatchJob | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { model, sk: BATCH_JOB_KEYS.tokenSk(tokenKey) }, ConsistentRead: true }),
    );
    return typeof Item?.['jobId'] === 'string' ? this.get(model, Item['jobId']) : undefined;
  }

  async list(model: string, options: { limit: number; cursor?: string; state?: JobState }): Promise<{ jobs: BatchJob[]; cursor?: string }> {
    const start = options.cursor === undefined ? undefined : decodeCursor(options.cursor, model);
    const jobs: BatchJob[] = [];
    let from: Item | undefined = start;
    // A state filter may skip items; read pages until the page is full or the partition ends.
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#model = :model AND begins_with(sk, :prefix)',
          ExpressionAttributeNames: { '#model': 'model', ...(options.state ? { '#state': 'state' } : {}) },
          ExpressionAttributeValues: {
            ':model': model,
            ':prefix': BATCH_JOB_KEYS.jobSkPrefix,
            ...(options.state ? { ':state': options.state } : {}),
          },
          ...(options.state ? { FilterExpression: '#state = :state' } : {}),
          ScanIndexForward: false,
          Limit: options.limit - jobs.length,
          ...(from ? { ExclusiveStartKey: from } : {}),
        }),
      );
      for (const item of page.Items ?? []) jobs.push(toJob(item));
      from = page.LastEvaluatedKey;
    } while (from && jobs.length < options.limit);
    return { jobs, ...(from ? { cursor: encodeCursor(from) } : {}) };
  }

  async update(
    model: string,
    jobId: string,
    from: readonly JobState[],
    change: JobChange,
    remove: readonly ('failure' | 'endedAt')[] = [],
  ): Promise<BatchJob> {
    const names: Record<string, string> = { '#state': 'state', '#revision': 'revision' };
    const values: Record<string, unknown> = { ':one': 1 };
    const sets: string[] = ['#revision = #revision + :one'];
    Object.entries(change).forEach(([field, value], i) => {
      if (value === undefined) return;
      names[`#f${i}`] = field;
      values[`:v${i}`] = marshallable(value);
      sets.push(`#f${i} = :v${i}`);
    });
    const removed = remove.map((field, i) => {
      names[`#r${i}`] = field;
      return `#r${i}`;
    });
    // Only jobs in flight carry `activeState` (the sparse index the local runner resumes from).
    if (change.state && FINAL_STATES.includes(change.state)) removed.push('activeState');
    else if (change.state) {
      sets.push('activeState = :active');
      values[':active'] = BATCH_JOB_KEYS.activeValue;
    }
    const removes = removed.length > 0 ? ` REMOVE ${removed.join(', ')}` : '';
    from.forEach((state, i) => (values[`:from${i}`] = state));
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { model, sk: BATCH_JOB_KEYS.jobSk(jobId) },
          UpdateExpression: `SET ${sets.join(', ')}${removes}`,
          ConditionExpression: `attribute_exists(sk) AND #state IN (${from.map((_, i) => `:from${i}`).join(', ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toJob(Attributes ?? {});
    } catch (error) {
      if (error instanceof Error && error.name === 'ConditionalCheckFailedException') {
        throw new ConflictError('JOB_STATE_CHANGED', `Job ${jobId} is no longer ${from.join(' or ')}.`, ['job']);
      }
      throw error;
    }
  }

  async addProgress(model: string, jobId: string, delta: { rowsRead: number; predicted: number; failed: number }): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { model, sk: BATCH_JOB_KEYS.jobSk(jobId) },
        UpdateExpression:
          'SET progress.rowsRead = progress.rowsRead + :r, progress.predicted = progress.predicted + :p, progress.failed = progress.failed + :f',
        ConditionExpression: 'attribute_exists(sk)',
        ExpressionAttributeValues: { ':r': delta.rowsRead, ':p': delta.predicted, ':f': delta.failed },
      }),
    );
  }

  async listActive(): Promise<BatchJob[]> {
    const jobs: BatchJob[] = [];
    let from: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: BATCH_JOB_KEYS.activeIndexName,
          KeyConditionExpression: 'activeState = :active',
          ExpressionAttributeValues: { ':active': BATCH_JOB_KEYS.activeValue },
          ...(from ? { ExclusiveStartKey: from } : {}),
        }),
      );
      for (const item of page.Items ?? []) jobs.push(toJob(item));
      from = page.LastEvaluatedKey;
    } while (from);
    return jobs;
  }
}

function toJob(item: Item): BatchJob {
  const job: Item = { ...item, model: item['model'] };
  for (const key of ITEM_ONLY) if (key !== 'model') delete job[key];
  return job as unknown as BatchJob;
}

function isCancelled(error: unknown): boolean {
  return error instanceof Error && error.name === 'TransactionCanceledException';
}

/** A list cursor: the last key, base64url JSON (opaque to callers). */
function encodeCursor(key: Item): string {
  return Buffer.from(JSON.stringify({ sk: key['sk'] })).toString('base64url');
}

function decodeCursor(cursor: string, model: string): Item {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const sk = (parsed as { sk?: unknown }).sk;
    if (typeof sk === 'string' && sk.startsWith(BATCH_JOB_KEYS.jobSkPrefix) && sk.length <= 100) return { model, sk };
  } catch {
    // fall through
  }
  throw new ValidationError('INVALID_CURSOR', 'The cursor is not one this list returned; start again without it.', ['query', 'cursor']);
}
