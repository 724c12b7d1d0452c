/**
 * What a model version may declare about its online features and its prediction cache, and the
 * checks of those declarations against the model's signature, run at registration before the
 * file is stored: a group that names no feature of the model, a default the input cannot hold or
 * a policy without its default would otherwise fail only later, on a request.
 */
import * as z from 'zod';
import { isDynamic, recordLayout } from '../codec/decode.js';
import { elementWriter } from '../codec/elements.js';
import { allocate } from '../tensor.js';
import { AppError, ValidationError, type FieldPath } from '../errors.js';
import { closestName } from '../messages.js';
import { excerpt, nameList } from '../codec/limits.js';
import type { FeatureTableInspector, FeatureTableKey } from '../ports.js';
import {
  ENTITY_TYPES,
  FEATURE_POLICIES,
  type ModelMetadata,
  type ModelSignature,
  type OnlineFeatureGroup,
  type TensorSpec,
} from '../model.js';

/**
 * DynamoDB table names: 3 to 255 of letters, digits, `_`, `-` and `.`
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html).
 */
export const TABLE_NAME_PATTERN = /^[A-Za-z0-9_.-]{3,255}$/;

/** The plain layout's timestamp attribute: ISO-8601, when an item's values were computed. */
export const PLAIN_TIMESTAMP_ATTRIBUTE = 'event_timestamp';

/** Most groups one version may declare: each is one table read per request. */
export const MAX_FEATURE_GROUPS = 8;

/** Most features one group may declare (one BatchGetItem projection names each). */
export const MAX_GROUP_FEATURES = 100;

/** Longest `maxAgeSeconds`: ten years. */
const MAX_AGE_SECONDS = 10 * 365 * 86_400;

/** Most answers one version's prediction cache may keep per sandbox. */
export const MAX_CACHE_ENTRIES = 100_000;

/** Longest a cached answer may be kept: one day, in seconds. */
export const MAX_CACHE_TTL_SECONDS = 86_400;

const table = z.string().regex(TABLE_NAME_PATTERN, 'must be a DynamoDB table name: 3 to 255 of letters, digits, "_", "-" and "."');
const policy = z.enum(FEATURE_POLICIES).default('refuse');
const featureName = z.string().min(1).max(128);

/** One `onlineFeatures` group as a caller declares it; policies default to `refuse` (never a silent value). */
export const OnlineFeatureGroupSchema = z.strictObject({
  entity: z.string().min(1).max(128),
  entityType: z.enum(ENTITY_TYPES).default('string'),
  source: z.discriminatedUnion('layout', [
    z.strictObject({ layout: z.literal('plain'), table }),
    z.strictObject({
      layout: z.literal('feast'),
      table,
      entityKeySerializationVersion: z
        .union([z.literal(2), z.literal(3)], { error: "must be 2 or 3 (Feast's entity_key_serialization_version)" })
        .default(3),
    }),
  ]),
  features: z.array(featureName).min(1).max(MAX_GROUP_FEATURES),
  maxAgeSeconds: z.number().positive().max(MAX_AGE_SECONDS).optional(),
  onMissingEntity: policy,
  onMissingFeature: policy,
  onStale: policy,
  defaults: z.record(featureName, z.union([z.number(), z.string().max(65_536), z.boolean()])).optional(),
});

/** `predictionCache`: the answers kept per sandbox and for how long. */
export const PredictionCacheSchema = z.strictObject({
  maxEntries: z.number().int().min(1).max(MAX_CACHE_ENTRIES).default(1_000),
  ttlSeconds: z.number().positive().max(MAX_CACHE_TTL_SECONDS).optional(),
});

/** Where one group's declaration is, for error paths. */
function at(group: number, ...rest: (string | number)[]): FieldPath {
  return ['metadata', 'onlineFeatures', group, ...rest];
}

/**
 * The names a group's features may be: the declared features of a model with one `[N, F]`
 * input, else the names of its inputs that hold one value per row (`[N]` or `[N, 1]`).
 */
function fillable(
  signature: ModelSignature,
  metadata: ModelMetadata,
): { names: readonly string[]; spec: (name: string) => TensorSpec; scalar: (name: string) => boolean } {
  const layout = recordLayout(signature, metadata);
  if (layout.kind === 'columns') return { names: layout.features, spec: () => layout.input, scalar: () => true };
  const byName = new Map(signature.inputs.map((i) => [i.name, i]));
  const spec = (name: string) => byName.get(name) as TensorSpec;
  return { names: signature.inputs.map((i) => i.name), spec, scalar: (name) => oneValuePerRow(spec(name)) };
}

/** Whether an input holds one value per row: `[N]`, or `[N, 1]` (a dynamic second axis taken as 1). */
export function oneValuePerRow(spec: TensorSpec): boolean {
  if (spec.shape.length === 1) return true;
  if (spec.shape.length !== 2) return false;
  const width = spec.shape[1] ?? null;
  return width === 1 || isDynamic(width);
}

/**
 * Checks `onlineFeatures` and `predictionCache` against the signature:
 * - 400 `UNKNOWN_FEATURE`: a group names something that is not a feature (or input) of the model;
 * - 400 `DUPLICATE_FEATURE`: a feature in two groups, or twice in one;
 * - 400 `FEATURE_NOT_SCALAR`: a looked-up input holds more than one value per row;
 * - 400 `FEATURE_NAME_RESERVED`: a plain-layout feature named as the timestamp attribute;
 * - 400 `ENTITY_NAME_TAKEN`: an entity named as a feature or an input (the request could not tell them apart);
 * - 400 `ENTITY_TYPE_CONFLICT`: one entity declared with two types;
 * - 400 `MISSING_DEFAULT`: a policy says `default` and a feature of the group has none;
 * - 400 `UNKNOWN_FEATURE` at `defaults.<name>`: a default for a feature the group does not read;
 * - 400 `STALE_WITHOUT_MAX_AGE`: `onStale` is `default` but no `maxAgeSeconds` says what stale is;
 * - the element errors (`WRONG_TYPE`, `OUT_OF_RANGE`, ...) of a default the input cannot hold
 *   (every default given, whether a policy uses it yet or not);
 * - 400 `CACHE_NOT_DETERMINISTIC`: a prediction cache on a version declared `deterministic: false`.
 */
export function checkOnlineFeatures(signature: ModelSignature, metadata: ModelMetadata): void {
  if (metadata.predictionCache && metadata.deterministic === false) {
    throw new ValidationError(
      'CACHE_NOT_DETERMINISTIC',
      'This version is declared non-deterministic (deterministic: false), so its answers cannot be cached: the same input may give other outputs. Drop predictionCache, or the deterministic flag if the model is deterministic.',
      ['metadata', 'predictionCache'],
    );
  }
  const groups = metadata.onlineFeatures ?? [];
  if (groups.length === 0) return;
  const { names, spec, scalar } = fillable(signature, metadata);
  const known = new Set(names);
  // A v2 request names tensors: an entity named as one of the model's inputs would be ambiguous there.
  const inputs = new Set(signature.inputs.map((i) => i.name));
  const filledBy = new Map<string, number>();
  const entityTypes = new Map<string, string>();
  groups.forEach((group, g) => {
    if (known.has(group.entity) || inputs.has(group.entity)) {
      throw new ValidationError(
        'ENTITY_NAME_TAKEN',
        `The entity key "${excerpt(group.entity)}" is also ${known.has(group.entity) ? 'a feature' : 'an input'} of the model, so a request could not tell the key from it. Name the entity otherwise (e.g. "${excerpt(group.entity)}_id").`,
        at(g, 'entity'),
      );
    }
    const typed = entityTypes.get(group.entity);
    if (typed !== undefined && typed !== group.entityType) {
      throw new ValidationError(
        'ENTITY_TYPE_CONFLICT',
        `The entity key "${excerpt(group.entity)}" is declared as ${typed} in one group and ${group.entityType} in another; a request carries one value for it.`,
        at(g, 'entityType'),
      );
    }
    entityTypes.set(group.entity, group.entityType);
    group.features.forEach((feature, f) => {
      if (group.source.layout === 'plain' && feature === PLAIN_TIMESTAMP_ATTRIBUTE) {
        throw new ValidationError(
          'FEATURE_NAME_RESERVED',
          `In the plain layout, the attribute "${PLAIN_TIMESTAMP_ATTRIBUTE}" says when an item's values were computed, so no feature read from it may have that name. Rename the feature, or store it in Feast's layout.`,
          at(g, 'features', f),
        );
      }
      if (!known.has(feature)) {
        const closest = closestName(feature, names);
        throw new ValidationError(
          'UNKNOWN_FEATURE',
          `"${excerpt(feature)}" is not a feature of this model${closest === undefined ? '' : ` (did you mean "${excerpt(closest)}"?)`}; it takes: ${nameList(names)}.`,
          at(g, 'features', f),
        );
      }
      const earlier = filledBy.get(feature);
      if (earlier !== undefined) {
        throw new ValidationError(
          'DUPLICATE_FEATURE',
          `Feature "${excerpt(feature)}" is read by ${earlier === g ? 'this group twice' : `group ${earlier} already`}; each feature comes from one place.`,
          at(g, 'features', f),
        );
      }
      filledBy.set(feature, g);
      if (!scalar(feature)) {
        throw new ValidationError(
          'FEATURE_NOT_SCALAR',
          `Input "${excerpt(feature)}" holds more than one value per row; an online store gives one value per feature. Look up only inputs of shape [N] or [N, 1].`,
          at(g, 'features', f),
        );
      }
    });
    checkDefaults(group, g, spec);
  });
}

function checkDefaults(group: OnlineFeatureGroup, g: number, spec: (name: string) => TensorSpec): void {
  const defaults = group.defaults ?? {};
  const features = new Set(group.features);
  for (const name of Object.keys(defaults)) {
    if (!features.has(name)) {
      throw new ValidationError(
        'UNKNOWN_FEATURE',
        `A default is given for "${excerpt(name)}", which this group does not read; its features are: ${nameList(group.features)}.`,
        at(g, 'defaults', excerpt(name)),
      );
    }
  }
  if (group.onStale === 'default' && group.maxAgeSeconds === undefined) {
    throw new ValidationError(
      'STALE_WITHOUT_MAX_AGE',
      'onStale is "default", but no maxAgeSeconds says when a value is stale. Declare maxAgeSeconds, or leave onStale out.',
      at(g, 'onStale'),
    );
  }
  const usesDefaults = group.onMissingEntity === 'default' || group.onMissingFeature === 'default' || group.onStale === 'default';
  for (const name of group.features) {
    if (!Object.hasOwn(defaults, name)) {
      if (!usesDefaults) continue;
      const policies = (['onMissingEntity', 'onMissingFeature', 'onStale'] as const).filter((p) => group[p] === 'default');
      throw new ValidationError(
        'MISSING_DEFAULT',
        `${policies.join(' and ')} ${policies.length > 1 ? 'are' : 'is'} "default", but feature "${excerpt(name)}" has no default. Give every feature of the group a default, or refuse instead.`,
        at(g, 'defaults'),
      );
    }
    const input = spec(name);
    try {
      elementWriter(input.type)(allocate(input.type, 1), 0, defaults[name], () => at(g, 'defaults', excerpt(name)));
    } catch (error) {
      if (error instanceof AppError) {
        throw new ValidationError(
          error.code,
          `The default of "${excerpt(name)}" does not fit input "${excerpt(input.name)}": ${error.message}`,
          error.path,
        );
      }
      throw error;
    }
  }
}

/** The key a group's table must have: the entity's attribute (plain) or Feast's `entity_id`, alone. */
function expectedKey(group: OnlineFeatureGroup): FeatureTableKey {
  return group.source.layout === 'feast'
    ? { name: 'entity_id', type: 'S', role: 'HASH' }
    : { name: group.entity, type: group.entityType === 'string' ? 'S' : 'N', role: 'HASH' };
}

function describeKey(keys: readonly FeatureTableKey[]): string {
  return keys.map((k) => `${k.name} (${k.type}, ${k.role === 'HASH' ? 'partition key' : 'sort key'})`).join(' and ');
}

/**
 * Checks, before a version is registered, that every table its online features name exists and is
 * keyed as its layout reads it: a typo in a table name, or a table of another layout or key type,
 * would otherwise pass every gate (golden inputs give the full vector) and fail every request.
 *
 * @throws ValidationError 400 `FEATURE_TABLE_NOT_FOUND`, `FEATURE_TABLE_MISMATCH` (path
 *   `metadata.onlineFeatures[i].source.table`), `FEATURE_TABLE_NOT_ALLOWED`; the inspector's 503
 */
export async function checkFeatureTables(metadata: ModelMetadata, inspector: FeatureTableInspector): Promise<void> {
  const groups = metadata.onlineFeatures ?? [];
  const described = new Map<string, Promise<readonly FeatureTableKey[] | undefined>>();
  for (const [g, group] of groups.entries()) {
    const { table } = group.source;
    let keys = described.get(table);
    if (!keys) described.set(table, (keys = inspector.describe(table)));
    let found: readonly FeatureTableKey[] | undefined;
    try {
      found = await keys;
    } catch (error) {
      if (error instanceof ValidationError) throw new ValidationError(error.code, error.message, at(g, 'source', 'table'));
      throw error;
    }
    if (!found) {
      throw new ValidationError(
        'FEATURE_TABLE_NOT_FOUND',
        `Table ${excerpt(table)} does not exist here. Create and load it first (${group.source.layout === 'plain' ? `modelctl features load ${excerpt(table)} <file.csv> --key ${excerpt(group.entity)} --create` : 'feast materialize'}), or correct the name.`,
        at(g, 'source', 'table'),
      );
    }
    const want = expectedKey(group);
    if (found.length !== 1 || found[0]?.name !== want.name || found[0]?.type !== want.type) {
      throw new ValidationError(
        'FEATURE_TABLE_MISMATCH',
        `Table ${excerpt(table)} is keyed by ${describeKey(found)}; a ${group.source.layout}-layout group with entity "${excerpt(group.entity)}" (${group.entityType}) reads a table keyed by ${describeKey([want])} alone. Check the layout, the entity and its entityType.`,
        at(g, 'source', 'table'),
      );
    }
  }
}
