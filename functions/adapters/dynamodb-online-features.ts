/**
 * Online feature tables in DynamoDB, read with BatchGetItem: one call per 100 keys (DynamoDB's
 * limit per call, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html),
 * the calls of one request concurrently, unprocessed keys retried with capped exponential backoff.
 * Only the group's features (and the key and timestamp) are projected. Two layouts:
 *
 * - `plain` (ours): partition key attribute named as the entity (S, or N for integer keys), one
 *   attribute per feature (N, S or BOOL), `event_timestamp` (S, ISO-8601) when the values were
 *   computed. `modelctl features load` writes it.
 * - `feast`: as Feast's DynamoDB online store writes it: partition key `entity_id` (Feast's hash
 *   of the serialized entity key), `event_ts` (Python's text of an aware datetime), `values` (a
 *   map of feature name to a serialized `feast.types.Value`); see `functions/adapters/feast/`.
 *
 * Values are read from the low-level AttributeValues (numbers as their text: a 64-bit integer
 * past 2^53 stays exact).
 */
import { BatchGetItemCommand, DescribeTableCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InternalError, ServiceUnavailableError, ValidationError } from '../core/errors.js';
import type { OnlineFeatureGroup } from '../core/model.js';
import type { FeatureTableInspector, FeatureTableKey, OnlineFeatureStore, StoredEntity, StoredFeatureValue } from '../core/ports.js';
import { PLAIN_TIMESTAMP_ATTRIBUTE } from '../core/features/declaration.js';
import { errorName } from './aws-errors.js';
import { FeastValueError, decodeFeastValue, feastEntityId, parseFeastEventTimestamp, type FeastEntityValue } from './feast/online-item.js';

/** Keys one BatchGetItem call may name (DynamoDB's limit). */
export const BATCH_GET_MAX_KEYS = 100;

/**
 * Longest partition key value DynamoDB stores, in bytes; an empty string is no key either
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-partition-sort-keys).
 */
const MAX_PARTITION_KEY_BYTES = 2_048;

/**
 * Attempts of one call's keys before the store is declared unavailable (DynamoDB throttling past
 * them): the waits between them add up to at most about 2.6 s, well inside API Gateway's 29 s.
 */
const MAX_ATTEMPTS = 8;
/** First backoff, doubled per attempt, in ms; capped at {@link MAX_BACKOFF_MS}. */
const FIRST_BACKOFF_MS = 25;
const MAX_BACKOFF_MS = 1_000;

const FEAST_KEY = 'entity_id';
const FEAST_TIME = 'event_ts';
const FEAST_VALUES = 'values';

export interface DynamoDbOnlineFeaturesOptions {
  readonly client: DynamoDBClient;
  /**
   * The tables this function may read (`ONLINE_FEATURE_TABLES`, set by the CDK app from the
   * endpoint's `onlineFeatureTables`); a version that names another is refused with 500
   * `FEATURE_TABLE_NOT_ALLOWED`. @default any table the credentials can read (the local stack)
   */
  readonly allowedTables?: ReadonlySet<string>;
  /** Waits between retries. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

export class DynamoDbOnlineFeatures implements OnlineFeatureStore {
  private readonly sleep: (ms: number) => Promise<void>;
  /** Each group's keys, projection and readers, built once per group (a version's record keeps its groups). */
  private readonly layouts = new WeakMap<OnlineFeatureGroup, Layout>();

  constructor(private readonly options: DynamoDbOnlineFeaturesOptions) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async read(group: OnlineFeatureGroup, keys: readonly string[]): Promise<{ found: ReadonlyMap<string, StoredEntity>; calls: number }> {
    const { table } = group.source;
    if (this.options.allowedTables && !this.options.allowedTables.has(table)) {
      throw new InternalError(
        'FEATURE_TABLE_NOT_ALLOWED',
        `The model version reads online features from table ${table}, which this endpoint may not read (ONLINE_FEATURE_TABLES: ${[...this.options.allowedTables].join(', ') || 'none'}). Add it to the endpoint's onlineFeatureTables in the CDK config and deploy.`,
      );
    }
    let layout = this.layouts.get(group);
    if (!layout) this.layouts.set(group, (layout = layoutOf(group)));
    // Each key's item key; for Feast several keys cannot share an id, so the id maps back to one key.
    // A key no item can have (empty, or past DynamoDB's key size) is missing without a read.
    const byItemKey = new Map<string, string>();
    for (const key of keys) {
      const itemKey = layout.itemKey(key);
      if (itemKey.length > 0 && Buffer.byteLength(itemKey, 'utf8') <= MAX_PARTITION_KEY_BYTES) byItemKey.set(itemKey, key);
    }
    const itemKeys = [...byItemKey.keys()];
    const chunks: string[][] = [];
    for (let i = 0; i < itemKeys.length; i += BATCH_GET_MAX_KEYS) chunks.push(itemKeys.slice(i, i + BATCH_GET_MAX_KEYS));
    const found = new Map<string, StoredEntity>();
    const calls = await Promise.all(
      chunks.map((chunk) =>
        this.readChunk(table, layout, chunk, (itemKey, item) => {
          const key = byItemKey.get(itemKey);
          if (key !== undefined) found.set(key, layout.entity(item, key));
        }),
      ),
    );
    return { found, calls: calls.reduce((a, b) => a + b, 0) };
  }

  /** Reads one chunk of keys, retrying the unprocessed ones; returns the calls made. */
  private async readChunk(
    table: string,
    layout: Layout,
    itemKeys: readonly string[],
    onItem: (itemKey: string, item: Record<string, AttributeValue>) => void,
  ): Promise<number> {
    let pending: Record<string, AttributeValue>[] = itemKeys.map((k) => ({ [layout.keyAttribute]: layout.keyValue(k) }));
    let calls = 0;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt === MAX_ATTEMPTS) {
        throw new ServiceUnavailableError(
          'FEATURE_STORE_UNAVAILABLE',
          `Table ${table} left ${pending.length} keys unprocessed after ${MAX_ATTEMPTS} attempts (throttled); retry shortly, or raise the table's read capacity.`,
        );
      }
      if (attempt > 0) await this.sleep(Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2));
      calls++;
      let output;
      try {
        output = await this.options.client.send(
          new BatchGetItemCommand({
            RequestItems: {
              [table]: { Keys: pending, ProjectionExpression: layout.projection, ExpressionAttributeNames: layout.names },
            },
          }),
        );
      } catch (error) {
        throw storeError(table, error);
      }
      for (const item of output.Responses?.[table] ?? []) {
        const key = item[layout.keyAttribute];
        const text = key?.S ?? key?.N;
        if (text !== undefined) onItem(text, item);
      }
      pending = output.UnprocessedKeys?.[table]?.Keys ?? [];
    }
    return calls;
  }
}

/** How one group's items are keyed and read. */
interface Layout {
  readonly keyAttribute: string;
  /** The item key of an entity key's text. */
  itemKey(key: string): string;
  keyValue(itemKey: string): AttributeValue;
  readonly projection: string;
  readonly names: Record<string, string>;
  entity(item: Record<string, AttributeValue>, key: string): StoredEntity;
}

function layoutOf(group: OnlineFeatureGroup): Layout {
  const { source, features } = group;
  const names: Record<string, string> = { '#k': source.layout === 'feast' ? FEAST_KEY : group.entity };
  features.forEach((f, i) => {
    names[`#f${i}`] = f;
  });
  if (source.layout === 'plain') {
    names['#t'] = PLAIN_TIMESTAMP_ATTRIBUTE;
    const numeric = group.entityType !== 'string';
    return {
      keyAttribute: group.entity,
      itemKey: (key) => key,
      keyValue: (key) => (numeric ? { N: key } : { S: key }),
      projection: ['#k', '#t', ...features.map((_, i) => `#f${i}`)].join(', '),
      names,
      entity: (item, key) => {
        const values = new Map<string, StoredFeatureValue | null>();
        for (const feature of features) {
          const value = item[feature];
          if (value !== undefined) values.set(feature, plainValue(value, group, key, feature));
        }
        const time = item[PLAIN_TIMESTAMP_ATTRIBUTE]?.S;
        const ms = time === undefined ? undefined : isoInstant(time);
        return ms === undefined ? { values } : { values, eventTimeMs: ms };
      },
    };
  }
  names['#t'] = FEAST_TIME;
  names['#v'] = FEAST_VALUES;
  const version = source.entityKeySerializationVersion;
  return {
    keyAttribute: FEAST_KEY,
    itemKey: (key) => feastEntityId([{ joinKey: group.entity, value: feastKeyValue(group, key) }], version),
    keyValue: (id) => ({ S: id }),
    projection: ['#k', '#t', ...features.map((_, i) => `#v.#f${i}`)].join(', '),
    names,
    entity: (item, key) => {
      const values = new Map<string, StoredFeatureValue | null>();
      const stored = item[FEAST_VALUES]?.M ?? {};
      for (const feature of features) {
        const bytes = stored[feature]?.B;
        if (bytes === undefined) continue;
        try {
          values.set(feature, decodeFeastValue(bytes));
        } catch (error) {
          if (!(error instanceof FeastValueError)) throw error;
          throw invalidValue(group, key, feature, error.message);
        }
      }
      const time = item[FEAST_TIME]?.S;
      const ms = time === undefined ? undefined : parseFeastEventTimestamp(time);
      return ms === undefined ? { values } : { values, eventTimeMs: ms };
    },
  };
}

/**
 * ISO-8601 date-time with its offset (`Z` or `±hh:mm`), as epoch ms; `undefined` for anything else:
 * a time without an offset names no instant (JavaScript would read it in the function's own zone),
 * so such an item is undated, as `modelctl features load` refuses to write one.
 */
export function isoInstant(text: string): number | undefined {
  const parts = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.exec(text);
  if (!parts) return undefined;
  // A date or time that does not exist (2026-02-30, 24:00) names no instant: Date.parse would roll it over.
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 7].map((i) => Number(parts[i] ?? 0)) as number[];
  const date = new Date(Date.UTC(year as number, (month as number) - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== (month as number) - 1 || date.getUTCDate() !== day) return undefined;
  if ((hour as number) > 23 || (minute as number) > 59 || (second as number) > 59) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** An entity key's text as the Feast value it was materialized with. */
function feastKeyValue(group: OnlineFeatureGroup, key: string): FeastEntityValue {
  switch (group.entityType) {
    case 'string':
      return { type: 'string', value: key };
    case 'int64':
      return { type: 'int64', value: BigInt(key) };
    default:
      return { type: 'int32', value: Number(key) };
  }
}

/** A plain-layout attribute as a feature value: N as a number (a 64-bit integer past 2^53 as a bigint), S, BOOL, NULL. */
function plainValue(value: AttributeValue, group: OnlineFeatureGroup, key: string, feature: string): StoredFeatureValue | null {
  if (value.N !== undefined) {
    const n = Number(value.N);
    if (/^-?\d+$/.test(value.N) && !Number.isSafeInteger(n)) return BigInt(value.N);
    return n;
  }
  if (value.S !== undefined) return value.S;
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL !== undefined) return null;
  const kind = Object.keys(value).find((k) => (value as unknown as Record<string, unknown>)[k] !== undefined) ?? 'unknown';
  throw invalidValue(group, key, feature, `the attribute is of DynamoDB type ${kind}; the plain layout holds N, S or BOOL per feature`);
}

function invalidValue(group: OnlineFeatureGroup, key: string, feature: string, why: string): InternalError {
  return new InternalError(
    'FEATURE_VALUE_INVALID',
    `Feature "${feature}" of ${group.entity} "${key.slice(0, 64)}" in table ${group.source.table} cannot be read: ${why}.`,
  );
}

/** The store's failure as the serving core reports it: our side's (5xx), the details in the log. */
function storeError(table: string, error: unknown): Error {
  const name = errorName(error);
  const message = error instanceof Error ? error.message.slice(0, 300) : String(error);
  if (name === 'ResourceNotFoundException') {
    return new InternalError('FEATURE_TABLE_NOT_FOUND', `Online feature table ${table} does not exist (or is not ACTIVE): ${message}`, {
      cause: error,
    });
  }
  if (name === 'ValidationException') {
    return new InternalError(
      'FEATURE_TABLE_MISMATCH',
      `Online feature table ${table} refused the read; its key is not what the model version declares (entity name, entityType or layout): ${message}`,
      { cause: error },
    );
  }
  if (name === 'AccessDeniedException' || name === 'UnrecognizedClientException') {
    return new InternalError('FEATURE_STORE_DENIED', `This function may not read online feature table ${table}: ${message}`, {
      cause: error,
    });
  }
  return new ServiceUnavailableError('FEATURE_STORE_UNAVAILABLE', `Online feature table ${table} could not be read: ${name || message}`, {
    cause: error,
  });
}

/**
 * The control plane's look at feature tables before a version that reads them is registered
 * (DescribeTable): whether each exists, and its key. `allowedTables` are the tables some endpoint
 * of this deployment may read (`ONLINE_FEATURE_TABLES`, the endpoints' `onlineFeatureTables`
 * together); a version naming another could never be served.
 */
export class DynamoDbFeatureTables implements FeatureTableInspector {
  constructor(private readonly options: { readonly client: DynamoDBClient; readonly allowedTables?: ReadonlySet<string> }) {}

  async describe(table: string): Promise<readonly FeatureTableKey[] | undefined> {
    const allowed = this.options.allowedTables;
    if (allowed && !allowed.has(table)) {
      throw new ValidationError(
        'FEATURE_TABLE_NOT_ALLOWED',
        `No endpoint of this deployment may read table ${table.slice(0, 255)}${allowed.size > 0 ? ` (they read: ${[...allowed].join(', ')})` : ''}. Add it to the model's endpoint's onlineFeatureTables in the CDK config and deploy, then register.`,
      );
    }
    let output;
    try {
      output = await this.options.client.send(new DescribeTableCommand({ TableName: table }));
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') return undefined;
      throw new ServiceUnavailableError(
        'FEATURE_STORE_UNAVAILABLE',
        `Table ${table} could not be described: ${errorName(error) || String(error).slice(0, 200)}`,
        {
          cause: error,
        },
      );
    }
    const types = new Map((output.Table?.AttributeDefinitions ?? []).map((d) => [d.AttributeName, d.AttributeType]));
    return (output.Table?.KeySchema ?? []).map((k) => ({
      name: k.AttributeName ?? '',
      type: (types.get(k.AttributeName) ?? 'S') as FeatureTableKey['type'],
      role: k.KeyType === 'RANGE' ? 'RANGE' : 'HASH',
    }));
  }
}
