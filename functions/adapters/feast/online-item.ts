/**
 * Reading DynamoDB items exactly as Feast's DynamoDB online store writes them, so the serving path
 * can take feature values from tables that `feast materialize` fills. Pure functions, no AWS SDK:
 * the DynamoDB adapter fetches the item and hands the attributes here.
 *
 * What Feast writes (feast-dev/feast v0.66.0, `sdk/python/feast/infra/online_stores/dynamodb.py`,
 * `_to_client_write_item` and `update`):
 * - one table per feature view, named by `table_name_template`, default `{project}.{table_name}`
 *   ({@link feastTableName});
 * - partition key `entity_id` (S, the only key attribute): the hex MurmurHash3 of the serialized
 *   entity key ({@link feastEntityId});
 * - `event_ts` (S): Python's `str()` of the row's event timestamp made timezone-aware (a naive
 *   one taken as UTC), e.g. `2026-11-30 12:00:00.123456+00:00` ({@link parseFeastEventTimestamp});
 * - `values` (M): feature name → B, a serialized `feast.types.Value` protobuf
 *   ({@link decodeFeastValue}).
 * Nothing else: no `created_ts` attribute, no TTL attribute. One item holds every feature of the
 * view for one entity; a later write replaces the whole item.
 */
import { type DescField, fromBinary, ScalarType } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { type Value, ValueSchema } from './gen/value_pb.js';
import { murmur3X64Hash128 } from './murmur3.js';

/** Partition key attribute (S): the entity id, see {@link feastEntityId}. Source: Feast dynamodb.py `update`. */
export const FEAST_ENTITY_ID_ATTRIBUTE = 'entity_id';
/** Event timestamp attribute (S), see {@link parseFeastEventTimestamp}. Source: Feast dynamodb.py `_to_client_write_item`. */
export const FEAST_EVENT_TS_ATTRIBUTE = 'event_ts';
/** Feature values attribute (M of B), see {@link decodeFeastValue}. Source: Feast dynamodb.py `_to_client_write_item`. */
export const FEAST_VALUES_ATTRIBUTE = 'values';

/**
 * The DynamoDB table Feast uses for a feature view under the default `table_name_template`
 * `{project}.{table_name}` (Feast dynamodb.py, `DynamoDBOnlineStoreConfig` and `_get_table_name`).
 * With the registry's `enable_online_feature_view_versioning` on and a view version N > 0, Feast's
 * table name is `{name}_v{N}`: pass that as `featureView`. A project that set its own template
 * names its tables itself.
 *
 * @example feastTableName('shop', 'customer_stats') // 'shop.customer_stats'
 */
export function feastTableName(project: string, featureView: string): string {
  return `${project}.${featureView}`;
}

/**
 * Thrown for a feature value serving cannot use as a model input (a list, set, map, bytes or JSON
 * kind, or a kind this reader does not know), for bytes that are not a `feast.types.Value`
 * message, and for an entity key Feast itself could not serialize (a duplicated join key, an
 * integer out of its type's range, text that is not valid Unicode). The message is plain and
 * bounded: it names the kind or the join key, never echoes the bytes or a string value.
 */
export class FeastValueError extends Error {
  /** Feast's name for the refused kind (the oneof member, e.g. `int64_list_val`), when one was read. */
  readonly kind: string | undefined;

  constructor(message: string, options?: { kind?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FeastValueError';
    this.kind = options?.kind;
  }
}

// ---------------------------------------------------------------------------------------------
// Entity ids

/**
 * One entity key value, typed as Feast types it in `feast.types.Value`: text (`string_val`),
 * 64-bit integer (`int64_val`, as bigint: every int64 is exact) or 32-bit integer (`int32_val`).
 */
export type FeastEntityValue = { type: 'string'; value: string } | { type: 'int64'; value: bigint } | { type: 'int32'; value: number };

/** `feast.types.ValueType.Enum` numbers written before each key and value (Feast protos/feast/types/Value.proto). */
const VALUE_TYPE = { string: 2, int32: 3, int64: 4 } as const;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const utf8 = new TextEncoder();
// In a `u` regular expression a surrogate pair is one code point, so this finds only lone halves,
// which Python's str.encode('utf8') refuses and TextEncoder would silently turn into U+FFFD.
const LONE_SURROGATE = /\p{Cs}/u;

function encodeText(text: string, what: string): Uint8Array {
  if (LONE_SURROGATE.test(text)) {
    throw new FeastValueError(`${what} contains an unpaired UTF-16 surrogate, which Feast cannot encode as UTF-8`);
  }
  return utf8.encode(text);
}

function uint32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

function entityValueBytes(joinKey: string, entity: FeastEntityValue): Uint8Array {
  switch (entity.type) {
    case 'string':
      return encodeText(entity.value, `The value of join key '${joinKey}'`);
    case 'int32': {
      if (!Number.isInteger(entity.value) || entity.value < -(2 ** 31) || entity.value > 2 ** 31 - 1) {
        throw new FeastValueError(`The value of join key '${joinKey}' is not a 32-bit integer (int32 entity)`);
      }
      const out = new Uint8Array(4);
      new DataView(out.buffer).setInt32(0, entity.value, true);
      return out;
    }
    case 'int64': {
      if (typeof entity.value !== 'bigint' || entity.value < INT64_MIN || entity.value > INT64_MAX) {
        throw new FeastValueError(`The value of join key '${joinKey}' is not a 64-bit integer (int64 entity, given as a bigint)`);
      }
      const out = new Uint8Array(8);
      new DataView(out.buffer).setBigInt64(0, entity.value, true);
      return out;
    }
    default:
      throw new FeastValueError(`The value of join key '${joinKey}' has an entity type Feast entity ids do not support`);
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * Feast's `serialize_entity_key` (feast-dev/feast v0.66.0, `sdk/python/feast/infra/key_encoding_utils.py`):
 * the stable byte string an entity key is hashed from. Join keys are sorted as Python sorts
 * strings (by code point; here by their UTF-8 bytes, the same order), each value moving with its
 * key. All integers are little-endian; `u32` is unsigned 32-bit.
 *
 * - version 3: `u32 count`, then per key `u32 2 (STRING)`, `u32 byte length`, UTF-8 key; then per
 *   value `u32 type` (2 STRING, 3 INT32, 4 INT64), `u32 byte length`, value bytes.
 * - version 2: no count and no key lengths: per key `u32 2`, UTF-8 key; then the values as in 3.
 * - value bytes: UTF-8 text; int32 as 4 bytes two's complement; int64 as 8 bytes.
 *
 * History (same file's git log): the v3 count prefix was added in Feast 0.44.0, and the v3 key
 * length became the UTF-8 byte length in 0.61.0 (before, the character count). Items written by
 * Feast 0.44 to 0.60 with v3 therefore match only when every join key name is ASCII (the usual
 * case); v3 items written before 0.44 do not match.
 *
 * @throws FeastValueError when a join key appears twice (Feast fails too), an int32 or int64
 *   value is out of range or not an integer, or text holds an unpaired surrogate
 * @throws RangeError when `serializationVersion` is neither 2 nor 3
 */
export function serializeFeastEntityKey(
  key: readonly { joinKey: string; value: FeastEntityValue }[],
  serializationVersion: 2 | 3,
): Uint8Array {
  if (serializationVersion !== 2 && serializationVersion !== 3) {
    throw new RangeError(`Feast entity key serialization version must be 2 or 3, got ${String(serializationVersion)}`);
  }
  const entries = key
    .map(({ joinKey, value }) => ({
      joinKey,
      name: encodeText(joinKey, `Join key '${joinKey}'`),
      type: VALUE_TYPE[value.type],
      bytes: entityValueBytes(joinKey, value),
    }))
    .sort((a, b) => compareBytes(a.name, b.name));
  for (let i = 1; i < entries.length; i++) {
    if (compareBytes(entries[i - 1]!.name, entries[i]!.name) === 0) {
      throw new FeastValueError(`Join key '${entries[i]!.joinKey}' appears twice in the entity key`);
    }
  }
  const chunks: Uint8Array[] = [];
  if (serializationVersion === 3) chunks.push(uint32(entries.length));
  for (const entry of entries) {
    chunks.push(uint32(VALUE_TYPE.string));
    if (serializationVersion === 3) chunks.push(uint32(entry.name.length));
    chunks.push(entry.name);
  }
  for (const entry of entries) {
    chunks.push(uint32(entry.type), uint32(entry.bytes.length), entry.bytes);
  }
  return concat(chunks);
}

/**
 * The `entity_id` Feast gives an entity's item: `compute_entity_id` (feast-dev/feast v0.66.0,
 * `sdk/python/feast/infra/online_stores/helpers.py`) =
 * `mmh3.hash_bytes(serialize_entity_key(key, version)).hex()`, i.e. MurmurHash3 x64 128 with
 * seed 0 of {@link serializeFeastEntityKey}, as 32 lowercase hex digits.
 *
 * @param key the join keys and their values, in any order (Feast sorts them)
 * @param serializationVersion the feature repository's `entity_key_serialization_version`
 *   (`feature_store.yaml`; 3 is Feast's default and the only one it still writes without a warning)
 * @returns e.g. `f3cfd4a822f245b63975464763babaec` for `driver_id` = int64 1001, version 3
 * @throws FeastValueError / RangeError as {@link serializeFeastEntityKey}
 *
 * @example
 * feastEntityId([{ joinKey: 'customer_id', value: { type: 'string', value: 'C-1001' } }], 3);
 */
export function feastEntityId(key: readonly { joinKey: string; value: FeastEntityValue }[], serializationVersion: 2 | 3): string {
  return Buffer.from(murmur3X64Hash128(serializeFeastEntityKey(key, serializationVersion))).toString('hex');
}

// ---------------------------------------------------------------------------------------------
// Feature values

/**
 * A feature value as serving reads it: a number (int32, float, double, and int64 within
 * ±(2^53 − 1)), a bigint (int64 beyond that, never rounded), text, a boolean, or null (no value).
 */
export type FeastFeatureValue = number | bigint | string | boolean | null;

/** Feast's stand-in for a missing timestamp (`NULL_TIMESTAMP_INT_VALUE`, NaT as int64, in `feast/type_map.py`). */
const NULL_TIMESTAMP = INT64_MIN;

function int64Value(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function timestampSeconds(seconds: bigint): number | bigint | null {
  return seconds === NULL_TIMESTAMP ? null : int64Value(seconds);
}

function wireTypeOf(field: DescField): WireType {
  if (field.fieldKind === 'enum') return WireType.Varint;
  if (field.fieldKind !== 'scalar') return WireType.LengthDelimited;
  switch (field.scalar) {
    case ScalarType.DOUBLE:
      return WireType.Bit64;
    case ScalarType.FLOAT:
      return WireType.Bit32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    default:
      return WireType.Varint;
  }
}

/** The wire type of each field of Value, by field number. */
const VALUE_WIRE_TYPES: ReadonlyMap<number, WireType> = new Map(ValueSchema.fields.map((field) => [field.number, wireTypeOf(field)]));

/**
 * protobuf-es reads a known field by its declared type whatever wire type the tag names (a string
 * tagged as a varint reads as ''); Python's protobuf keeps such a field as unknown. Either way the
 * bytes are not what Feast writes, so they are refused here before decoding.
 */
function checkWireTypes(bytes: Uint8Array): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    const expected = VALUE_WIRE_TYPES.get(fieldNo);
    if (expected !== undefined && expected !== wireType) {
      throw new FeastValueError(
        `Feast value bytes are not a feast.types.Value protobuf message: field ${fieldNo} has wire type ${wireType}, its kind uses ${expected}`,
      );
    }
    reader.skip(wireType, fieldNo);
  }
}

/** Feast's proto name of a oneof member (`int64ListVal` → `int64_list_val`). */
function kindName(localName: string): string {
  return ValueSchema.fields.find((field) => field.localName === localName)?.name ?? localName;
}

function refusal(kind: string): string {
  if (kind === 'bytes_val') return 'raw bytes';
  if (kind === 'json_val') return 'a JSON document';
  if (kind === 'list_val' || kind.endsWith('_list_val')) return 'a list';
  if (kind === 'set_val' || kind.endsWith('_set_val')) return 'a set';
  return 'a map';
}

/**
 * Decodes one entry of an item's `values` map: the bytes of a `feast.types.Value` protobuf as
 * Feast's `Value.SerializeToString()` wrote them (schema: `value.proto` beside this file, field
 * numbers from Feast's protos/feast/types/Value.proto v0.66.0).
 *
 * | Feast kind | result |
 * |---|---|
 * | `string_val`, `uuid_val`, `time_uuid_val`, `decimal_val` | string (a decimal keeps its exact digits) |
 * | `int32_val`, `float_val`, `double_val` | number (a float as its exact float32 value; NaN and ±Infinity as they are) |
 * | `int64_val` | number when within ±(2^53 − 1), else bigint |
 * | `bool_val` | boolean |
 * | `unix_timestamp_val`, `zoned_timestamp_val` | seconds since the Unix epoch (int64 rule above); Feast's missing-timestamp value (−2^63) → null |
 * | `null_val`, or no member set (how Feast writes a missing value) | null |
 *
 * @throws FeastValueError (with `kind`) for `bytes_val`, `json_val` and every list, set, map and
 *   struct kind: a model input takes one scalar per feature
 * @throws FeastValueError for a field number this schema does not know (written by a newer Feast)
 *   and for malformed bytes (truncated, an invalid tag, a field in a wire type other than its
 *   kind's, invalid UTF-8 in text)
 */
export function decodeFeastValue(bytes: Uint8Array): FeastFeatureValue {
  let value: Value;
  try {
    checkWireTypes(bytes);
    value = fromBinary(ValueSchema, bytes, { readUnknownFields: true, recursionLimit: 32 });
  } catch (error) {
    if (error instanceof FeastValueError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new FeastValueError(`Feast value bytes are not a feast.types.Value protobuf message: ${reason}`, { cause: error });
  }
  const unknown = value.$unknown?.[0];
  if (unknown !== undefined) {
    throw new FeastValueError(`Feast value has field number ${unknown.no}, a kind this reader does not know (written by a newer Feast?)`);
  }
  const { val } = value;
  switch (val.case) {
    case undefined:
    case 'nullVal':
      return null;
    case 'stringVal':
    case 'uuidVal':
    case 'timeUuidVal':
    case 'decimalVal':
      return val.value;
    case 'int32Val':
    case 'floatVal':
    case 'doubleVal':
      return val.value;
    case 'int64Val':
      return int64Value(val.value);
    case 'boolVal':
      return val.value;
    case 'unixTimestampVal':
      return timestampSeconds(val.value);
    case 'zonedTimestampVal':
      return timestampSeconds(val.value.unixTimestamp);
    default: {
      const kind = kindName(val.case);
      throw new FeastValueError(`Feast value of kind ${kind} is ${refusal(kind)}; a model input takes one scalar per feature`, { kind });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Event timestamps

// Python's str(datetime): 'YYYY-MM-DD HH:MM:SS', '.ffffff' only when microseconds are non-zero,
// then the UTC offset as '+HH:MM', with ':SS' and '.ffffff' only when non-zero. Also accepted:
// 'T' for the space, 1 to 9 fraction digits (a pandas Timestamp prints nanoseconds), 'Z', and no
// offset at all (read as UTC, as Feast's make_tzaware does) — all forms Python's
// datetime.fromisoformat, Feast's reader, accepts too.
const EVENT_TS =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?$/;

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** The first six digits of a fraction as microseconds ('5' → 500000); later digits are dropped. */
function micros(fraction: string | undefined): number {
  return fraction === undefined ? 0 : Number(fraction.slice(0, 6).padEnd(6, '0'));
}

/**
 * Reads an item's `event_ts`: the text Feast writes with `str(utils.make_tzaware(timestamp))`
 * (Feast dynamodb.py `_to_client_write_item`; utils.py `make_tzaware` takes a naive time as UTC),
 * e.g. `2026-11-30 12:00:00+00:00`, `2026-11-30 12:00:00.123456+00:00`,
 * `2026-11-30 17:30:00-08:00`, `1999-12-31 23:59:59.500000+01:00:30`.
 *
 * @returns milliseconds since the Unix epoch (UTC) of the instant, the offset applied;
 *   sub-millisecond digits are dropped (the instant is rounded down to its millisecond);
 *   `undefined` when the text is not such a timestamp or names an impossible date, time or
 *   offset (Python's range: years 1 to 9999, offsets under 24 hours)
 */
export function parseFeastEventTimestamp(text: string): number | undefined {
  const match = EVENT_TS.exec(text);
  if (match === null) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zulu, sign, oh, om, os, ofraction] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMicros = 0n;
  if (zulu === undefined && sign !== undefined) {
    const offsetHours = Number(oh);
    const offsetMinutes = Number(om);
    const offsetSeconds = Number(os ?? '0');
    if (offsetHours > 23 || offsetMinutes > 59 || offsetSeconds > 59) return undefined;
    const magnitude = BigInt(((offsetHours * 60 + offsetMinutes) * 60 + offsetSeconds) * 1_000_000 + micros(ofraction));
    offsetMicros = sign === '-' ? -magnitude : magnitude;
  }
  const localSeconds = daysFromCivil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
  const utcMicros = BigInt(localSeconds) * 1_000_000n + BigInt(micros(fraction)) - offsetMicros;
  // BigInt division truncates toward zero; step down for instants before 1970 with a remainder.
  let ms = utcMicros / 1_000n;
  if (utcMicros % 1_000n < 0n) ms -= 1n;
  return Number(ms);
}
