/**
 * DynamoDB implementation of the `ExperimentStore` port, in the registry table (`tables.ts`):
 * experiments and shadow tests as items in their model's partition, each experiment's outcomes
 * in a partition of their own, and the active experiment or shadow test as a map on the model's
 * item, where the endpoint reads it with the production pointer. Setting one is a transaction
 * conditioned on what the model's item holds, so two concurrent starts never both win.
 */
import {
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
  paginateQuery,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, InternalError, NotFoundError } from '../core/errors.js';
import type { ActiveExperiment, Experiment, RecordedOutcome } from '../core/experiments/experiment.js';
import type { ActiveShadow, ShadowTest } from '../core/shadow/shadow.js';
import type { ExperimentStore, OutcomeWrite } from '../core/ports.js';
import { REGISTRY_KEYS } from './tables.js';

export interface DynamoDbExperimentStoreOptions {
  /** A document client with `removeUndefinedValues` (as the registry's). */
  readonly client: DynamoDBDocumentClient;
  /** The registry table. */
  readonly tableName: string;
}

type Item = Record<string, unknown>;

/** The item attributes that are keys or bookkeeping, not the domain object's fields. */
const KEY_ATTRIBUTES = ['pk', 'sk', 'kind'] as const;

/**
 * @example
 * const store = new DynamoDbExperimentStore({ client: documents, tableName: config.REGISTRY_TABLE });
 * await store.start(experiment, undefined);
 */
export class DynamoDbExperimentStore implements ExperimentStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(options: DynamoDbExperimentStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
  }

  async start(experiment: Experiment, replacing: string | undefined): Promise<void> {
    const active: ActiveExperiment = {
      id: experiment.id,
      variants: experiment.variants,
      assignmentKey: experiment.assignmentKey,
      startsAt: experiment.startsAt,
      ...(experiment.endsAt !== undefined ? { endsAt: experiment.endsAt } : {}),
    };
    await this.transact(experiment.model, [
      {
        Put: {
          TableName: this.tableName,
          Item: {
            pk: REGISTRY_KEYS.pk(experiment.model),
            sk: REGISTRY_KEYS.experimentSk(experiment.id),
            kind: 'experiment',
            ...experiment,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Update: {
          TableName: this.tableName,
          Key: modelKey(experiment.model),
          UpdateExpression: 'SET #experiment = :active',
          ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(#shadow) AND ${replacing === undefined ? 'attribute_not_exists(#experiment)' : '(attribute_not_exists(#experiment) OR #experiment.#id = :replacing)'}`,
          ExpressionAttributeNames: {
            '#experiment': 'experiment',
            '#shadow': 'shadow',
            ...(replacing === undefined ? {} : { '#id': 'id' }),
          },
          ExpressionAttributeValues: { ':active': active, ...(replacing === undefined ? {} : { ':replacing': replacing }) },
        },
      },
    ]);
  }

  async get(model: string, id: string): Promise<Experiment | undefined> {
    const item = await this.getItem(REGISTRY_KEYS.pk(model), REGISTRY_KEYS.experimentSk(id));
    return item && (domain(item) as unknown as Experiment);
  }

  async list(model: string): Promise<Experiment[]> {
    return (await this.query(REGISTRY_KEYS.pk(model), REGISTRY_KEYS.experimentSkPrefix, false, Number.POSITIVE_INFINITY)).items.map(
      (item) => domain(item) as unknown as Experiment,
    );
  }

  async stop(
    model: string,
    id: string,
    stop: { readonly stoppedAt: string; readonly stoppedBy: string; readonly stopReason?: string },
  ): Promise<Experiment> {
    const record = await this.getItem(modelKey(model).pk, modelKey(model).sk);
    if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}".`, ['model']);
    const activeId = (record.experiment as { id?: unknown } | undefined)?.id;
    const fields = stop.stopReason === undefined ? { stoppedAt: stop.stoppedAt, stoppedBy: stop.stoppedBy } : stop;
    const names = Object.fromEntries(Object.keys(fields).map((k) => [`#${k}`, k]));
    const values = Object.fromEntries(Object.entries(fields).map(([k, v]) => [`:${k}`, v]));
    const experimentUpdate = {
      TableName: this.tableName,
      Key: { pk: REGISTRY_KEYS.pk(model), sk: REGISTRY_KEYS.experimentSk(id) },
      UpdateExpression: `SET ${Object.keys(fields)
        .map((k) => `#${k} = :${k}`)
        .join(', ')}`,
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#stoppedAt)',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    };
    try {
      if (activeId === id) {
        await this.client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Update: experimentUpdate },
              {
                Update: {
                  TableName: this.tableName,
                  Key: modelKey(model),
                  UpdateExpression: 'REMOVE #experiment',
                  ConditionExpression: '#experiment.#id = :id',
                  ExpressionAttributeNames: { '#experiment': 'experiment', '#id': 'id' },
                  ExpressionAttributeValues: { ':id': id },
                },
              },
            ],
          }),
        );
      } else {
        await this.client.send(new UpdateCommand(experimentUpdate));
      }
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const current = await this.get(model, id);
      if (!current) throw new NotFoundError('EXPERIMENT_NOT_FOUND', `Model "${model}" has no experiment "${id}".`, ['experiment']);
      if (current.stoppedAt !== undefined)
        throw new ConflictError(
          'EXPERIMENT_STOPPED',
          `Experiment "${id}" was stopped already, at ${current.stoppedAt} by ${current.stoppedBy ?? 'someone'}.`,
          ['experiment'],
        );
      throw new ConflictError('CONCURRENT_UPDATE', `Model "${model}" changed while experiment "${id}" was being stopped; try again.`);
    }
    const stopped = await this.get(model, id);
    if (!stopped) throw new InternalError('REGISTRY_ITEM_INVALID', `Experiment "${id}" of "${model}" vanished after it was stopped.`);
    return stopped;
  }

  async putOutcome(model: string, id: string, outcome: RecordedOutcome): Promise<OutcomeWrite> {
    const key = { pk: REGISTRY_KEYS.outcomePk(model, id), sk: REGISTRY_KEYS.outcomeSk(outcome.identity) };
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key, kind: 'outcome', ...outcome },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { created: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = await this.getItem(key.pk, key.sk);
      if (!existing) throw new ConflictError('CONCURRENT_UPDATE', 'The outcome changed while it was being recorded; try again.');
      return { created: false, existing: domain(existing) as unknown as RecordedOutcome };
    }
  }

  async listOutcomes(
    model: string,
    id: string,
    max: number,
  ): Promise<{ readonly outcomes: readonly RecordedOutcome[]; readonly capped: boolean }> {
    const { items, capped } = await this.query(REGISTRY_KEYS.outcomePk(model, id), REGISTRY_KEYS.outcomeSkPrefix, true, max);
    return { outcomes: items.map((item) => domain(item) as unknown as RecordedOutcome), capped };
  }

  async startShadow(model: string, shadow: ShadowTest, endedExperiment: string | undefined): Promise<void> {
    const active: ActiveShadow = {
      id: shadow.id,
      version: shadow.version,
      samplePercent: shadow.samplePercent,
      startedAt: shadow.startedAt,
      startedBy: shadow.startedBy,
    };
    await this.transact(model, [
      {
        Put: {
          TableName: this.tableName,
          Item: { pk: REGISTRY_KEYS.pk(model), sk: REGISTRY_KEYS.shadowSk(shadow.id), kind: 'shadow', ...shadow },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Update: {
          TableName: this.tableName,
          Key: modelKey(model),
          UpdateExpression: 'SET #shadow = :active',
          ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(#shadow) AND ${endedExperiment === undefined ? 'attribute_not_exists(#experiment)' : '(attribute_not_exists(#experiment) OR #experiment.#id = :ended)'}`,
          ExpressionAttributeNames: {
            '#experiment': 'experiment',
            '#shadow': 'shadow',
            ...(endedExperiment === undefined ? {} : { '#id': 'id' }),
          },
          ExpressionAttributeValues: { ':active': active, ...(endedExperiment === undefined ? {} : { ':ended': endedExperiment }) },
        },
      },
    ]);
  }

  async stopShadow(model: string, stop: { readonly stoppedAt: string; readonly stoppedBy: string }): Promise<ShadowTest | undefined> {
    const record = await this.getItem(modelKey(model).pk, modelKey(model).sk);
    if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}".`, ['model']);
    const id = (record.shadow as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'string') return undefined;
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: REGISTRY_KEYS.pk(model), sk: REGISTRY_KEYS.shadowSk(id) },
                UpdateExpression: 'SET #stoppedAt = :stoppedAt, #stoppedBy = :stoppedBy',
                ConditionExpression: 'attribute_exists(pk)',
                ExpressionAttributeNames: { '#stoppedAt': 'stoppedAt', '#stoppedBy': 'stoppedBy' },
                ExpressionAttributeValues: { ':stoppedAt': stop.stoppedAt, ':stoppedBy': stop.stoppedBy },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: modelKey(model),
                UpdateExpression: 'REMOVE #shadow',
                ConditionExpression: '#shadow.#id = :id',
                ExpressionAttributeNames: { '#shadow': 'shadow', '#id': 'id' },
                ExpressionAttributeValues: { ':id': id },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (isConditionFailure(error))
        throw new ConflictError('CONCURRENT_UPDATE', `The shadow test of "${model}" changed while it was being stopped; try again.`);
      throw error;
    }
    return this.getShadow(model, id);
  }

  async getShadow(model: string, id: string): Promise<ShadowTest | undefined> {
    const item = await this.getItem(REGISTRY_KEYS.pk(model), REGISTRY_KEYS.shadowSk(id));
    return item && (domain(item) as unknown as ShadowTest);
  }

  async listShadows(model: string): Promise<ShadowTest[]> {
    return (await this.query(REGISTRY_KEYS.pk(model), REGISTRY_KEYS.shadowSkPrefix, false, Number.POSITIVE_INFINITY)).items.map(
      (item) => domain(item) as unknown as ShadowTest,
    );
  }

  /** A start's transaction: a lost condition is a conflict with what the model's item holds now (or a missing model). */
  private async transact(
    model: string,
    items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>,
  ): Promise<void> {
    try {
      await this.client.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const record = await this.getItem(modelKey(model).pk, modelKey(model).sk);
      if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}".`, ['model']);
      throw new ConflictError(
        'STUDY_CONFLICT',
        `Model "${model}" got another experiment or shadow test meanwhile; read it (GET /v1/models/${model}/experiments, GET /v1/models/${model}/shadow) and stop it first.`,
      );
    }
  }

  private async getItem(pk: string, sk: string): Promise<Item | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk, sk }, ConsistentRead: true }));
    return Item;
  }

  /** Items of partition `pk` whose sort key begins with `prefix`, at most `max`. */
  private async query(pk: string, prefix: string, forward: boolean, max: number): Promise<{ items: Item[]; capped: boolean }> {
    const items: Item[] = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
        ScanIndexForward: forward,
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        if (items.length >= max) return { items, capped: true };
        items.push(item);
      }
    }
    return { items, capped: false };
  }
}

function modelKey(model: string): { pk: string; sk: string } {
  return { pk: REGISTRY_KEYS.pk(model), sk: REGISTRY_KEYS.modelSk };
}

/** The domain object of an item: its attributes without the keys. */
function domain(item: Item): Item {
  const copy = { ...item };
  for (const key of KEY_ATTRIBUTES) delete copy[key];
  return copy;
}

function isConditionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ConditionalCheckFailedException') return true;
  if (error.name !== 'TransactionCanceledException') return false;
  const reasons = (error as { CancellationReasons?: ReadonlyArray<{ Code?: string }> }).CancellationReasons ?? [];
  return reasons.some((reason) => reason.Code === 'ConditionalCheckFailed');
}
