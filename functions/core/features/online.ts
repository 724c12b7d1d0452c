/**
 * Online features on the serving path: a model version that declares `onlineFeatures` is sent
 * entity keys and the other ("request-time") features; each group's stored features are read in
 * batched reads (one per 100 distinct keys, `OnlineFeatureStore`), the declared policy decides
 * every gap (refuse with a 4xx naming the key, or the declared default; never a silent zero),
 * and the model's own input tensors are assembled in the declared column order. The request is
 * decoded by the same codec as every other (its keys and features as `[N]` tensors), so its
 * errors read the same; what the lookup did is summarized for the prediction log
 * (`FeatureLookup`).
 */
import { AppError, InternalError, NotFoundError, ServiceUnavailableError, ValidationError, type FieldPath } from '../errors.js';
import { recordLayout, type RecordLayout } from '../codec/decode.js';
import { elementWriter } from '../codec/elements.js';
import { excerpt } from '../codec/limits.js';
import type { ModelMetadata, ModelSignature, OnlineFeatureGroup, TensorSpec, TensorType } from '../model.js';
import type { FeatureLookup, OnlineFeatureStore, StoredEntity, StoredFeatureValue } from '../ports.js';
import { allocate, type TensorData, type TensorMap } from '../tensor.js';

/**
 * How far ahead of this function's clock an item's time may be and still count as its age (clocks
 * of the writer and the function differ a little): 5 minutes. Further ahead, the time is wrong and
 * the item is treated as undated (stale, when the group declares `maxAgeSeconds`).
 */
export const FUTURE_SKEW_MS = 5 * 60_000;

/** The element type of an entity key tensor. */
const ENTITY_TENSOR_TYPE: Readonly<Record<OnlineFeatureGroup['entityType'], TensorType>> = {
  string: 'string',
  int64: 'int64',
  int32: 'int32',
};

/** Where a model column (or input) gets its values. */
type Fill = { readonly name: string; readonly from: 'request' } | { readonly name: string; readonly from: 'store'; readonly group: number };

/**
 * How a version with online features is served: what a request carries (`request`, a signature
 * of `[N]` tensors: each entity key once, in order of first declaration, then the request-time
 * features or inputs in the model's order), and how the model's inputs are filled.
 */
export interface OnlinePlan {
  readonly groups: readonly OnlineFeatureGroup[];
  /** The tensors a request carries, as a signature (no outputs). */
  readonly request: ModelSignature;
  /** The record layout of a request: each key is an entity or a request-time feature. */
  readonly requestLayout: RecordLayout;
  /** The model's own layout (columns of one `[N, F]` input, or named inputs). */
  readonly target: RecordLayout;
  /** Per model column (`columns`) or input (`inputs`), in order, where its values come from. */
  readonly fills: readonly Fill[];
  /** Each feature read from a store, with the group that reads it. */
  readonly stored: ReadonlyMap<string, OnlineFeatureGroup>;
}

/** The plan of a version, or `undefined` when it declares no online features. */
export function onlinePlan(signature: ModelSignature, metadata: ModelMetadata): OnlinePlan | undefined {
  const groups = metadata.onlineFeatures ?? [];
  if (groups.length === 0) return undefined;
  const target = recordLayout(signature, metadata);
  const groupOf = new Map<string, number>();
  groups.forEach((group, g) => {
    for (const feature of group.features) groupOf.set(feature, g);
  });
  const requestSpecs: TensorSpec[] = [];
  const entities = new Set<string>();
  for (const group of groups) {
    if (entities.has(group.entity)) continue;
    entities.add(group.entity);
    requestSpecs.push({ name: group.entity, type: ENTITY_TENSOR_TYPE[group.entityType], shape: ['N'] });
  }
  const names = target.kind === 'columns' ? target.features : target.inputs.map((i) => i.name);
  const fills: Fill[] = names.map((name) => {
    const g = groupOf.get(name);
    return g === undefined ? { name, from: 'request' } : { name, from: 'store', group: g };
  });
  for (const fill of fills) {
    if (fill.from !== 'request') continue;
    if (target.kind === 'columns') requestSpecs.push({ name: fill.name, type: target.input.type, shape: ['N'] });
    else requestSpecs.push(target.inputs.find((i) => i.name === fill.name) as TensorSpec);
  }
  const request: ModelSignature = { inputs: requestSpecs, outputs: [] };
  const stored = new Map([...groupOf].map(([feature, g]) => [feature, groups[g] as OnlineFeatureGroup]));
  return { groups, request, requestLayout: recordLayout(request, {}), target, fills, stored };
}

/** The store of a function built without one: every read is a 503 (the composition gives every serving function one). */
export const NO_FEATURE_STORE: OnlineFeatureStore = {
  read: () =>
    Promise.reject(
      new ServiceUnavailableError(
        'FEATURE_STORE_UNAVAILABLE',
        'This function has no online feature store configured; the version declares online features.',
      ),
    ),
};

/**
 * 400 `FEATURE_FROM_STORE` when a request sends a feature this version reads from the online store
 * (in a record, or as a v2 input): it would not be used, and saying so beats `UNKNOWN_INPUT`.
 * `records` are the rows as sent (objects; anything else is left to the decoder); `inputs` the v2
 * request's inputs.
 */
export function checkNoStoredFeatures(
  plan: OnlinePlan,
  sent: { readonly records: readonly unknown[]; readonly pathOf: (row: number) => FieldPath } | { readonly inputs: readonly unknown[] },
): void {
  const { stored } = plan;
  const refuse = (feature: string, path: FieldPath) => {
    const group = stored.get(feature) as OnlineFeatureGroup;
    return new ValidationError(
      'FEATURE_FROM_STORE',
      `Feature "${excerpt(feature)}" is read from the online store by ${group.entity}; leave it out of the request and send ${group.entity} (this version takes: ${plan.request.inputs.map((i) => i.name).join(', ')}).`,
      path,
    );
  };
  if ('inputs' in sent) {
    sent.inputs.forEach((input, k) => {
      const name = input !== null && typeof input === 'object' ? (input as Record<string, unknown>)['name'] : undefined;
      if (typeof name === 'string' && stored.has(name)) throw refuse(name, ['inputs', k, 'name']);
    });
    return;
  }
  sent.records.forEach((record, r) => {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) return;
    for (const feature of stored.keys()) if (Object.hasOwn(record, feature)) throw refuse(feature, [...sent.pathOf(r), feature]);
  });
}

/** Where a request's row `row` gave entity `entity`, for error paths (`instances[3].customer_id`). */
export type EntityPath = (row: number, entity: string) => FieldPath;

export interface OnlineLookupOptions {
  readonly store: OnlineFeatureStore;
  /** Wall clock in epoch ms, for the ages. */
  readonly now: number;
  readonly pathOf: EntityPath;
  /** Longest string a value may be (the codec's `maxStringChars`). */
  readonly maxStringChars?: number;
}

/**
 * The model's feeds for a decoded request (`requestFeeds`, `rows` rows, per `plan.request`): each
 * group's keys read at once (the groups concurrently), every gap decided by its policy, the
 * model's inputs filled in order. A refused row refuses the request (the lowest such row).
 *
 * @throws NotFoundError 404 `ENTITY_NOT_FOUND` (no item for a key, `onMissingEntity: refuse`);
 *   AppError 422 `STALE_FEATURES` (`onStale: refuse`) and `FEATURE_NOT_STORED`
 *   (`onMissingFeature: refuse`), each at the entity key's path and naming it; the store's 5xx;
 *   InternalError 500 `FEATURE_VALUE_INVALID` when a stored value cannot go in the model's input
 */
export async function lookUpFeatures(
  plan: OnlinePlan,
  requestFeeds: TensorMap,
  rows: number,
  options: OnlineLookupOptions,
): Promise<{ feeds: TensorMap; lookups: FeatureLookup[] }> {
  const read = await readFeatures(plan, requestFeeds, rows, options);
  const [first] = [...read.refusals.keys()].sort((a, b) => a - b);
  if (first !== undefined) throw read.refusals.get(first) as AppError;
  return { feeds: assembleFeeds(plan, requestFeeds, read, undefined, options), lookups: read.lookups };
}

/** What the stores gave for a request's rows: each group's values, each refused row's error, and the summaries. */
export interface FeaturesRead {
  /** Rows read. */
  readonly rows: number;
  readonly groups: readonly GroupValues[];
  /** Rows a `refuse` policy refused, each with its first refusal (by group order). */
  readonly refusals: ReadonlyMap<number, AppError>;
  readonly lookups: FeatureLookup[];
}

/**
 * Reads every group's keys for `rows` rows and decides each gap by its policy; a refused row is
 * recorded, not thrown (a batch job sets such rows aside and predicts the others).
 *
 * @throws the store's 5xx (the whole read fails: our side's fault)
 */
export async function readFeatures(
  plan: OnlinePlan,
  requestFeeds: TensorMap,
  rows: number,
  options: OnlineLookupOptions,
): Promise<FeaturesRead> {
  const refusals = new Map<number, AppError>();
  const groups = await Promise.all(plan.groups.map((group) => readGroup(group, requestFeeds, rows, options)));
  for (const group of groups) for (const [row, error] of group.refusals) if (!refusals.has(row)) refusals.set(row, error);
  return { rows, groups, refusals, lookups: groups.map((g) => g.summary) };
}

/**
 * The model's feeds from a read: every row, or only `keep` (rows in order, none refused), the
 * request's own columns or inputs copied, the stored ones written through the input's element
 * writer.
 *
 * @throws InternalError 500 `FEATURE_VALUE_INVALID` when a stored value cannot go in the model's input
 */
export function assembleFeeds(
  plan: OnlinePlan,
  requestFeeds: TensorMap,
  read: FeaturesRead,
  keep: readonly number[] | undefined,
  options: Pick<OnlineLookupOptions, 'maxStringChars'>,
): TensorMap {
  const source = keep ?? Array.from({ length: read.rows }, (_, r) => r);
  const rows = source.length;
  const feeds = Object.create(null) as TensorMap;
  const { target } = plan;
  if (target.kind === 'columns') {
    const { input } = target;
    const width = plan.fills.length;
    const data = allocate(input.type, rows * width) as TensorData['data'];
    plan.fills.forEach((fill, j) => {
      if (fill.from === 'request') {
        const column = (requestFeeds[fill.name] as TensorData).data;
        for (let r = 0; r < rows; r++) data[r * width + j] = column[source[r] as number] as never;
      } else {
        const group = plan.groups[fill.group] as OnlineFeatureGroup;
        writeStored(input, data, (r) => r * width + j, fill.name, read.groups[fill.group] as GroupValues, source, group, options);
      }
    });
    feeds[input.name] = { type: input.type, shape: [rows, width], data } as TensorData;
    return feeds;
  }
  target.inputs.forEach((spec, k) => {
    const fill = plan.fills[k] as Fill;
    if (fill.from === 'request') {
      const tensor = requestFeeds[spec.name] as TensorData;
      feeds[spec.name] = keep ? takeRows(tensor, keep) : tensor;
      return;
    }
    const data = allocate(spec.type, rows) as TensorData['data'];
    const group = plan.groups[fill.group] as OnlineFeatureGroup;
    writeStored(spec, data, (r) => r, fill.name, read.groups[fill.group] as GroupValues, source, group, options);
    feeds[spec.name] = { type: spec.type, shape: spec.shape.length === 1 ? [rows] : [rows, 1], data } as TensorData;
  });
  return feeds;
}

/** The rows `keep` of a batched tensor (its first axis), in that order. */
function takeRows(tensor: TensorData, keep: readonly number[]): TensorData {
  const [, ...rowShape] = tensor.shape;
  const size = rowShape.reduce((a, b) => a * b, 1);
  const data = allocate(tensor.type, keep.length * size) as TensorData['data'];
  keep.forEach((row, r) => {
    for (let i = 0; i < size; i++) data[r * size + i] = tensor.data[row * size + i] as never;
  });
  return { type: tensor.type, shape: [keep.length, ...rowShape], data } as TensorData;
}

/** One group's values per row and feature, after the policies; its refused rows; and its summary. */
interface GroupValues {
  /** `values.get(feature)[row]`. */
  readonly values: ReadonlyMap<string, readonly (StoredFeatureValue | undefined)[]>;
  /** Each row's entity key text (for messages). */
  readonly keys: readonly string[];
  readonly refusals: ReadonlyMap<number, AppError>;
  readonly summary: FeatureLookup;
}

/** The text of row `row`'s key in an entity tensor (a string, or an integer's digits). */
function keyText(tensor: TensorData, row: number): string {
  const value = tensor.data[row];
  return typeof value === 'string' ? value : String(value);
}

async function readGroup(
  group: OnlineFeatureGroup,
  requestFeeds: TensorMap,
  rows: number,
  options: OnlineLookupOptions,
): Promise<GroupValues> {
  const tensor = requestFeeds[group.entity] as TensorData;
  const keys = Array.from({ length: rows }, (_, r) => keyText(tensor, r));
  const distinct = [...new Set(keys)];
  const { found, calls } = await options.store.read(group, distinct);
  const maxAgeMs = group.maxAgeSeconds === undefined ? undefined : group.maxAgeSeconds * 1000;
  let missingEntities = 0;
  let staleEntities = 0;
  let oldest: number | undefined;
  let newest: number | undefined;
  const state = new Map<string, 'missing' | 'stale' | StoredEntity>();
  for (const key of distinct) {
    const item = found.get(key);
    if (!item) {
      missingEntities++;
      state.set(key, 'missing');
      continue;
    }
    if (item.eventTimeMs !== undefined) {
      const age = Math.max(0, options.now - item.eventTimeMs) / 1000;
      oldest = oldest === undefined ? age : Math.max(oldest, age);
      newest = newest === undefined ? age : Math.min(newest, age);
    }
    // A time past the clock by more than the skew allowed says nothing true of the values' age.
    const undated = item.eventTimeMs === undefined || item.eventTimeMs > options.now + FUTURE_SKEW_MS;
    if (maxAgeMs !== undefined && (undated || options.now - (item.eventTimeMs as number) > maxAgeMs)) {
      staleEntities++;
      state.set(key, 'stale');
      continue;
    }
    state.set(key, item);
  }
  const defaults = group.defaults ?? {};
  let missingValues = 0;
  let defaulted = 0;
  const refusals = new Map<number, AppError>();
  const values = new Map<string, (StoredFeatureValue | undefined)[]>();
  for (const feature of group.features) values.set(feature, new Array<StoredFeatureValue | undefined>(rows));
  for (let r = 0; r < rows; r++) {
    const key = keys[r] as string;
    const item = state.get(key);
    if (item === 'missing' && group.onMissingEntity === 'refuse') {
      refusals.set(r, entityNotFound(group, key, options.pathOf(r, group.entity)));
      continue;
    }
    if (item === 'stale' && group.onStale === 'refuse') {
      refusals.set(r, staleFeatures(group, key, found.get(key) as StoredEntity, options, options.pathOf(r, group.entity)));
      continue;
    }
    for (const feature of group.features) {
      const column = values.get(feature) as (StoredFeatureValue | undefined)[];
      if (typeof item === 'object') {
        const value = item.values.get(feature);
        if (value !== undefined && value !== null) {
          column[r] = value;
          continue;
        }
        missingValues++;
        if (group.onMissingFeature === 'refuse') {
          if (!refusals.has(r)) refusals.set(r, featureNotStored(group, key, feature, options.pathOf(r, group.entity)));
          continue;
        }
      }
      column[r] = defaults[feature];
      defaulted++;
    }
  }
  return {
    values,
    keys,
    refusals,
    summary: {
      entity: group.entity,
      table: group.source.table,
      layout: group.source.layout,
      features: group.features,
      keys: distinct.length,
      reads: calls,
      missingEntities,
      staleEntities,
      missingValues,
      defaulted,
      ...(oldest === undefined ? {} : { oldestAgeSeconds: round3(oldest) }),
      ...(newest === undefined ? {} : { newestAgeSeconds: round3(newest) }),
    },
  };
}

/**
 * Writes one looked-up feature's values (of the rows `source`, in order) into the model's input.
 * A value the input cannot hold is the store's fault, not the caller's: 500
 * `FEATURE_VALUE_INVALID`, the details in the log only.
 */
function writeStored(
  spec: TensorSpec,
  data: TensorData['data'],
  index: (row: number) => number,
  feature: string,
  group: GroupValues,
  source: readonly number[],
  declared: OnlineFeatureGroup,
  options: Pick<OnlineLookupOptions, 'maxStringChars'>,
): void {
  const write = elementWriter(spec.type, options.maxStringChars === undefined ? {} : { maxStringChars: options.maxStringChars });
  const column = group.values.get(feature) as readonly (StoredFeatureValue | undefined)[];
  // A declared default is JSON, written as a request's value is ("NaN" for a float, digits for an
  // int64: checked so at registration); a stored value is held to its own type.
  const declaredDefault = declared.defaults?.[feature];
  source.forEach((row, r) => {
    const value = column[row];
    try {
      write(data, index(r), value === declaredDefault ? value : asElement(spec.type, value), () => []);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      throw new InternalError(
        'FEATURE_VALUE_INVALID',
        `Feature "${feature}" of ${declared.entity} "${excerpt(group.keys[row] as string)}" in table ${declared.source.table} cannot go in input "${spec.name}" (${spec.type}): ${error.message}`,
        { cause: error },
      );
    }
  });
}

/**
 * A stored value as the codec's element writers take it: a 64-bit integer as its digits for
 * 64-bit inputs. Text goes only in a string input: the writers take JSON's spellings (`"NaN"`,
 * digits for 64-bit integers) from requests, but a stored string where a number belongs is a
 * store that holds the wrong thing.
 *
 * @throws ValidationError `WRONG_TYPE` for text in a numeric or bool input
 */
function asElement(type: TensorType, value: StoredFeatureValue | undefined): unknown {
  if (typeof value === 'string' && type !== 'string') {
    throw new ValidationError('WRONG_TYPE', `Expected a ${type} value, got text (${value.length} characters).`, []);
  }
  if (typeof value !== 'bigint') return value;
  return type === 'int64' || type === 'uint64' ? value.toString() : Number(value);
}

function entityNotFound(group: OnlineFeatureGroup, key: string, path: FieldPath): NotFoundError {
  return new NotFoundError(
    'ENTITY_NOT_FOUND',
    `No stored features for ${group.entity} "${excerpt(key)}" (features ${group.features.join(', ')}); send a key the online store holds.`,
    path,
  );
}

function staleFeatures(
  group: OnlineFeatureGroup,
  key: string,
  item: StoredEntity,
  options: OnlineLookupOptions,
  path: FieldPath,
): AppError {
  const age =
    item.eventTimeMs === undefined
      ? 'they carry no time they were computed'
      : item.eventTimeMs > options.now + FUTURE_SKEW_MS
        ? `they claim to be computed ${Math.round((item.eventTimeMs - options.now) / 1000)} s in the future, so their age is unknown`
        : `they were computed ${Math.round((options.now - item.eventTimeMs) / 1000)} s ago`;
  return new AppError(
    422,
    'STALE_FEATURES',
    `The stored features of ${group.entity} "${excerpt(key)}" are stale: ${age}, and this model takes them at most ${group.maxAgeSeconds} s old. Refresh the online store (materialize) and retry.`,
    path,
  );
}

function featureNotStored(group: OnlineFeatureGroup, key: string, feature: string, path: FieldPath): AppError {
  return new AppError(
    422,
    'FEATURE_NOT_STORED',
    `The online store holds ${group.entity} "${excerpt(key)}" without feature "${feature}"; write that feature for the key (materialize) and retry.`,
    path,
  );
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
