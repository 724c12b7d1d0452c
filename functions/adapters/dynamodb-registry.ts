/**
 * DynamoDB implementation of the `ModelRegistry` port, on the single-table design of
 * `tables.ts` (`REGISTRY_TABLE`): one model item and one item per version in the model's
 * partition. Every change is a conditional write on the revisions that were read, so a lost race
 * is detected by DynamoDB rather than silently overwriting a concurrent change. How items read
 * back as domain types: `dynamodb-registry-items.ts`.
 */
import {
  GetCommand,
  UpdateCommand,
  paginateQuery,
  TransactWriteCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError } from '../core/errors.js';
import type { CaptureSettings, ModelRecord, ModelVersion, StageTransition } from '../core/model.js';
import type { ModelRegistry, NewModelVersion, TransitionPlan, VersionChange } from '../core/ports.js';
import {
  corrupt,
  type Item,
  parseVersion,
  stringField,
  toModelRecord,
  toModelVersion,
  toStageTransition,
} from './dynamodb-registry-items.js';
import { REGISTRY_KEYS } from './tables.js';
import { marshallable } from './dynamodb-values.js';

export interface DynamoDbRegistryOptions {
  /**
   * A document client created with `marshallOptions: { removeUndefinedValues: true }` (optional
   * fields may be `undefined`) and without `convertEmptyValues` (an empty string stays a string).
   */
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Clock for `updatedAt`. @default () => new Date() */
  readonly now?: () => Date;
  /** Items per Query page when listing. @default DynamoDB's own (up to 1 MB per page) */
  readonly pageSize?: number;
  /** Attempts at a change that keeps losing races before `ConflictError`. @default 12 */
  readonly maxAttempts?: number;
  /** First backoff after a lost race; doubles per attempt, with full jitter. @default 10 */
  readonly baseDelayMs?: number;
  /** Longest backoff after a lost race. @default 500 */
  readonly maxDelayMs?: number;
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
}

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** Thrown inside one attempt when the transaction lost a race; the retry loop catches it. */
class LostRace extends Error {}

/**
 * The model registry in DynamoDB.
 *
 * Version numbers are allocated in one transaction that bumps the model item's `latestVersion`
 * (conditioned on the revision read) and creates the version item (conditioned on it not
 * existing), and for a file from a presigned upload the upload's marker (conditioned on it not
 * existing: one version per upload, else `UPLOAD_ALREADY_REGISTERED`); a registration that
 * loses that race is retried from a fresh read with jittered backoff, a bounded number of times,
 * then fails with `ConflictError('CONCURRENT_UPDATE')`.
 * Stage changes (planned by the core from what it read) are applied in one transaction with the
 * history items and the model item (its revision, raised by every change and conditioned on the
 * caller's `expectedRevision` when there is one, and the production pointer), and are never
 * retried: a lost race is a conflict (`STALE_REVISION` with an `expectedRevision`, else
 * `CONCURRENT_UPDATE`).
 *
 * @example
 * const registry = new DynamoDbRegistry({ client: documents, tableName: 'onnx-registry' });
 * const v = await registry.createVersion({ model: 'iris', metadata, artifact, signature, registeredBy: 'alice', registeredAt });
 * // v.version === '1', v.stage === 'development'
 * await registry.applyTransition({ model: 'iris', changes: [{ version: '1', from: 'development', to: 'staging', expectedRevision: 1 }], actor: 'alice', at });
 */
export class DynamoDbRegistry implements ModelRegistry {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly now: () => Date;
  private readonly pageSize: number | undefined;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: DynamoDbRegistryOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.now = options.now ?? (() => new Date());
    this.pageSize = options.pageSize;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 12);
    this.baseDelayMs = options.baseDelayMs ?? 10;
    this.maxDelayMs = options.maxDelayMs ?? 500;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async getModel(model: string): Promise<ModelRecord | undefined> {
    const item = await this.getItem(REGISTRY_KEYS.pk(model), REGISTRY_KEYS.modelSk);
    return item && toModelRecord(item);
  }

  async getVersion(model: string, version: string): Promise<ModelVersion | undefined> {
    const number = parseVersion(version);
    if (number === undefined) return undefined;
    const item = await this.getItem(REGISTRY_KEYS.pk(model), REGISTRY_KEYS.versionSk(number));
    return item && toModelVersion(item);
  }

  /** Every model, by name (a Query on the sparse `models` index, all pages). */
  async listModels(): Promise<ModelRecord[]> {
    const items = await this.queryAll({
      IndexName: REGISTRY_KEYS.modelsIndexName,
      KeyConditionExpression: '#modelIndex = :modelIndex',
      ExpressionAttributeNames: { '#modelIndex': 'modelIndex' },
      ExpressionAttributeValues: { ':modelIndex': REGISTRY_KEYS.modelIndexValue },
    });
    return items.map(toModelRecord);
  }

  async listVersions(model: string): Promise<ModelVersion[]> {
    const items = await this.queryAll({
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: { ':pk': REGISTRY_KEYS.pk(model), ':prefix': REGISTRY_KEYS.versionSkPrefix },
      ConsistentRead: true,
      ScanIndexForward: true,
    });
    return items.map(toModelVersion);
  }

  async createVersion(input: NewModelVersion): Promise<ModelVersion> {
    return this.retryLostRaces(async () => {
      const current = await this.getModel(input.model);
      const number = (current?.latestVersion ?? 0) + 1;
      const version: ModelVersion = {
        model: input.model,
        version: String(number),
        stage: 'development',
        revision: 1,
        metadata: input.metadata,
        artifact: input.artifact,
        signature: input.signature,
        registeredBy: input.registeredBy,
        registeredAt: input.registeredAt,
        ...(input.source === undefined ? {} : { source: input.source }),
      };
      const pk = REGISTRY_KEYS.pk(input.model);
      const updatedAt = this.now().toISOString();
      const modelWrite: TransactItem = current
        ? {
            Update: {
              TableName: this.tableName,
              Key: { pk, sk: REGISTRY_KEYS.modelSk },
              UpdateExpression:
                'SET #latestVersion = #latestVersion + :one, #revision = #revision + :one, #updatedAt = :updatedAt, #updatedBy = :updatedBy',
              ConditionExpression: '#revision = :expectedRevision',
              ExpressionAttributeNames: {
                '#latestVersion': 'latestVersion',
                '#revision': 'revision',
                '#updatedAt': 'updatedAt',
                '#updatedBy': 'updatedBy',
              },
              ExpressionAttributeValues: {
                ':one': 1,
                ':expectedRevision': current.revision,
                ':updatedAt': updatedAt,
                ':updatedBy': input.registeredBy,
              },
            },
          }
        : {
            Put: {
              TableName: this.tableName,
              Item: {
                pk,
                sk: REGISTRY_KEYS.modelSk,
                modelIndex: REGISTRY_KEYS.modelIndexValue,
                model: input.model,
                latestVersion: 1,
                revision: 1,
                updatedAt,
                updatedBy: input.registeredBy,
              } satisfies Item & ModelRecord,
              ConditionExpression: 'attribute_not_exists(#pk)',
              ExpressionAttributeNames: { '#pk': 'pk' },
            },
          };
      const items: TransactItem[] = [
        modelWrite,
        {
          Put: {
            TableName: this.tableName,
            Item: { pk, sk: REGISTRY_KEYS.versionSk(number), ...version },
            ConditionExpression: 'attribute_not_exists(#sk)',
            ExpressionAttributeNames: { '#sk': 'sk' },
          },
        },
      ];
      if (input.uploadId !== undefined) items.push(this.uploadMarker(input.model, input.uploadId, version.version));
      try {
        await this.transact(items);
      } catch (error) {
        // The marker's condition failed: this upload made a version already, and retrying
        // would only find that again.
        if (error instanceof LostRace && input.uploadId !== undefined && conditionFailedAt(error, 2)) {
          throw new ConflictError(
            'UPLOAD_ALREADY_REGISTERED',
            `Upload "${input.uploadId}" of model "${input.model}" is registered already; nothing was written.`,
            ['uploadId'],
          );
        }
        throw error;
      }
      return version;
    });
  }

  async setCapture(model: string, settings: CaptureSettings | undefined): Promise<ModelRecord> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: REGISTRY_KEYS.pk(model), sk: REGISTRY_KEYS.modelSk },
          UpdateExpression: settings ? 'SET #capture = :capture' : 'REMOVE #capture',
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#pk': 'pk', '#capture': 'capture' },
          ...(settings ? { ExpressionAttributeValues: { ':capture': settings } } : {}),
          ReturnValues: 'ALL_NEW',
        }),
      );
      if (!Attributes) throw corrupt({ pk: REGISTRY_KEYS.pk(model), sk: REGISTRY_KEYS.modelSk }, 'capture');
      return toModelRecord(Attributes);
    } catch (error) {
      if (error instanceof Error && error.name === 'ConditionalCheckFailedException')
        throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}".`, ['model']);
      throw error;
    }
  }

  async getVersionByUpload(model: string, uploadId: string): Promise<ModelVersion | undefined> {
    const marker = await this.getItem(REGISTRY_KEYS.pk(model), REGISTRY_KEYS.uploadSk(uploadId));
    return marker && this.getVersion(model, stringField(marker, 'version'));
  }

  async applyTransition(plan: TransitionPlan): Promise<void> {
    const pk = REGISTRY_KEYS.pk(plan.model);
    const items: TransactItem[] = plan.changes.flatMap((change): TransactItem[] => [
      this.stageChange(plan.model, change),
      {
        Put: {
          TableName: this.tableName,
          Item: {
            pk,
            sk: REGISTRY_KEYS.historySk(Number(change.version), change.expectedRevision + 1),
            model: plan.model,
            version: change.version,
            from: change.from,
            to: change.to,
            revision: change.expectedRevision + 1,
            actor: plan.actor,
            at: plan.at,
            ...(plan.reason === undefined ? {} : { reason: plan.reason }),
          } satisfies Item & StageTransition,
          ConditionExpression: 'attribute_not_exists(#sk)',
          ExpressionAttributeNames: { '#sk': 'sk' },
        },
      },
    ]);
    items.push(this.modelChange(plan));
    try {
      await this.transact(items);
    } catch (error) {
      if (!(error instanceof LostRace)) throw error;
      if (plan.expectedRevision !== undefined) {
        throw new ConflictError(
          'STALE_REVISION',
          `Model "${plan.model}" changed since revision ${plan.expectedRevision} (another change was applied first); nothing of this change was written. Read it again and retry.`,
          ['expectedRevision'],
        );
      }
      throw new ConflictError(
        'CONCURRENT_UPDATE',
        `Model "${plan.model}" changed while this change was being made (another change won); read its state again and retry.`,
        ['version'],
      );
    }
  }

  async listHistory(model: string): Promise<StageTransition[]> {
    const items = await this.queryAll({
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: { ':pk': REGISTRY_KEYS.pk(model), ':prefix': REGISTRY_KEYS.historySkPrefix },
      ConsistentRead: true,
    });
    return items
      .map(toStageTransition)
      .sort((a, b) => a.at.localeCompare(b.at) || Number(a.version) - Number(b.version) || a.revision - b.revision);
  }

  /**
   * The item that says upload `uploadId` made `version`, on condition that there is none yet:
   * written with the version, it makes a registration by upload idempotent (a retry after a lost
   * answer or a kill finds it instead of making a second version).
   */
  private uploadMarker(model: string, uploadId: string, version: string): TransactItem {
    return {
      Put: {
        TableName: this.tableName,
        Item: { pk: REGISTRY_KEYS.pk(model), sk: REGISTRY_KEYS.uploadSk(uploadId), model, uploadId, version },
        ConditionExpression: 'attribute_not_exists(#sk)',
        ExpressionAttributeNames: { '#sk': 'sk' },
      },
    };
  }

  /** A version's stage change, on condition that its stage and revision are still the ones read. */
  private stageChange(model: string, change: VersionChange): TransactItem {
    return {
      Update: {
        TableName: this.tableName,
        Key: { pk: REGISTRY_KEYS.pk(model), sk: REGISTRY_KEYS.versionSk(Number(change.version)) },
        UpdateExpression: 'SET #stage = :to, #revision = #revision + :one',
        ConditionExpression: '#stage = :expectedStage AND #revision = :expectedRevision',
        ExpressionAttributeNames: { '#stage': 'stage', '#revision': 'revision' },
        ExpressionAttributeValues: {
          ':to': change.to,
          ':one': 1,
          ':expectedStage': change.from,
          ':expectedRevision': change.expectedRevision,
        },
      },
    };
  }

  /**
   * The model item's part of a stage change: its revision goes up by one (every change is
   * visible to an If-Match), the pointer moves when the plan moves it, and the condition holds
   * the caller's `expectedRevision` and the pointer that was read.
   */
  private modelChange(plan: TransitionPlan): TransactItem {
    const names: Record<string, string> = { '#pk': 'pk', '#revision': 'revision', '#updatedAt': 'updatedAt', '#updatedBy': 'updatedBy' };
    const values: Record<string, unknown> = { ':one': 1, ':updatedAt': plan.at, ':updatedBy': plan.actor };
    const set = ['#revision = #revision + :one', '#updatedAt = :updatedAt', '#updatedBy = :updatedBy'];
    const conditions = ['attribute_exists(#pk)'];
    let remove = '';
    if (plan.expectedRevision !== undefined) {
      conditions.push('#revision = :expectedRevision');
      values[':expectedRevision'] = plan.expectedRevision;
    }
    const { pointer } = plan;
    if (pointer) {
      names['#productionVersion'] = 'productionVersion';
      if (pointer.productionVersion === null) {
        remove = ' REMOVE #productionVersion';
      } else {
        set.push('#productionVersion = :productionVersion');
        values[':productionVersion'] = pointer.productionVersion;
      }
      if (pointer.expected === null) {
        conditions.push('attribute_not_exists(#productionVersion)');
      } else {
        conditions.push('#productionVersion = :expectedProduction');
        values[':expectedProduction'] = pointer.expected;
      }
    }
    return {
      Update: {
        TableName: this.tableName,
        Key: { pk: REGISTRY_KEYS.pk(plan.model), sk: REGISTRY_KEYS.modelSk },
        UpdateExpression: `SET ${set.join(', ')}${remove}`,
        ConditionExpression: conditions.join(' AND '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      },
    };
  }

  private async getItem(pk: string, sk: string): Promise<Item | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk, sk }, ConsistentRead: true }));
    return Item;
  }

  private async queryAll(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    const items: Item[] = [];
    const pages = paginateQuery(
      { client: this.client, ...(this.pageSize ? { pageSize: this.pageSize } : {}) },
      { TableName: this.tableName, ...input },
    );
    for await (const page of pages) items.push(...(page.Items ?? []));
    return items;
  }

  /**
   * Runs a write transaction; a failed condition or a conflicting transaction becomes `LostRace`.
   * Every registry write goes through here, so this is where caller-named keys (a metric, class
   * label or feature named `constructor`) are made marshallable (`marshallable`).
   */
  private async transact(items: TransactItem[]): Promise<void> {
    try {
      await this.client.send(new TransactWriteCommand({ TransactItems: marshallable(items) }));
    } catch (error) {
      if (isLostRace(error)) throw new LostRace('transaction lost a race', { cause: error });
      throw error;
    }
  }

  /** Runs `attempt` until it does not lose a race, with jittered exponential backoff in between. */
  private async retryLostRaces<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 1; ; n += 1) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof LostRace)) throw error;
        if (n >= this.maxAttempts) {
          throw new ConflictError('CONCURRENT_UPDATE', `The registry changed concurrently ${n} times in a row; try again.`);
        }
        const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 1));
        await this.sleep(Math.random() * ceiling);
      }
    }
  }
}

/** Whether a TransactWriteItems failure means another writer got there first. */
function isLostRace(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, CancellationReasons: reasons = [] } = error as {
    name?: unknown;
    CancellationReasons?: ReadonlyArray<{ Code?: string }>;
  };
  if (name !== 'TransactionCanceledException') return false;
  return reasons.some((reason) => reason.Code === 'ConditionalCheckFailed' || reason.Code === 'TransactionConflict');
}

/** Whether the transaction `lost` was cancelled by the condition of its item at `index`. */
function conditionFailedAt(lost: LostRace, index: number): boolean {
  const reasons = (lost.cause as { CancellationReasons?: ReadonlyArray<{ Code?: string }> } | undefined)?.CancellationReasons ?? [];
  return reasons[index]?.Code === 'ConditionalCheckFailed';
}
