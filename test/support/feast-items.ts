/**
 * Builds DynamoDB items the way Feast's DynamoDB online store writes them, without using the
 * reader in functions/adapters/feast/online-item.ts, so tests of the reader (and of the serving
 * path that uses it) compare it with an independent writer:
 * - `feast.types.Value` messages are encoded by hand in protobuf wire format (tags, varints,
 *   little-endian fixed-width numbers). Feast's Value uses int32/int64, never sint32/sint64, so
 *   negative integers are ten-byte two's-complement varints, not zigzag; a oneof member is
 *   written even when it holds its default (0, false, ''), as protobuf does for oneofs.
 * - entity keys are serialized by hand after Feast's `serialize_entity_key`
 *   (sdk/python/feast/infra/key_encoding_utils.py, v0.66.0), join keys sorted by code point.
 * - `event_ts` is written as Python's `str()` of an aware datetime.
 * Only the hash is shared with the reader: MurmurHash3 x64 128 from
 * functions/adapters/feast/murmur3.ts, pinned on its own by external vectors in
 * test/unit/feast-online-item.test.ts.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { murmur3X64Hash128 } from '../../functions/adapters/feast/murmur3.js';

/** A Feast feature value to encode; `kind` is Feast's oneof member name without `_val`. */
export type HandValue =
  | { kind: 'unset' }
  | { kind: 'null' }
  | { kind: 'double' | 'float'; value: number }
  | { kind: 'int32'; value: number }
  | { kind: 'int64' | 'unix_timestamp'; value: bigint }
  | { kind: 'bool'; value: boolean }
  | { kind: 'string' | 'json' | 'uuid' | 'time_uuid' | 'decimal'; value: string }
  | { kind: 'bytes'; value: Uint8Array }
  | { kind: 'zoned_timestamp'; seconds: bigint; zone: string }
  | { kind: 'int64_list' | 'int64_set'; value: bigint[] }
  | { kind: 'double_list'; value: number[] }
  | { kind: 'string_list' | 'string_set'; value: string[] }
  | { kind: 'map'; value: Record<string, HandValue> }
  | { kind: 'list'; value: HandValue[] };

/** Field numbers of Feast's `Value.val` oneof (protos/feast/types/Value.proto, v0.66.0). */
const FIELD = {
  bytes: 1,
  string: 2,
  int32: 3,
  int64: 4,
  double: 5,
  float: 6,
  bool: 7,
  unix_timestamp: 8,
  string_list: 12,
  int64_list: 14,
  double_list: 15,
  null: 19,
  map: 20,
  string_set: 23,
  int64_set: 25,
  json: 32,
  uuid: 36,
  time_uuid: 37,
  list: 42,
  decimal: 44,
  zoned_timestamp: 48,
} as const;

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** Base-128 varint, least significant group first; negatives as their 64-bit two's complement. */
export function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function tag(field: number, wireType: number): number[] {
  return varint((field << 3) | wireType);
}

function lengthDelimited(field: number, body: readonly number[]): number[] {
  return [...tag(field, LENGTH_DELIMITED), ...varint(body.length), ...body];
}

function littleEndian(bytes: number, write: (view: DataView) => void): number[] {
  const view = new DataView(new ArrayBuffer(bytes));
  write(view);
  return [...new Uint8Array(view.buffer)];
}

const utf8 = (text: string): number[] => [...new TextEncoder().encode(text)];

function valueBody(v: HandValue): number[] {
  switch (v.kind) {
    case 'unset':
      return [];
    case 'null':
      return [...tag(FIELD.null, VARINT), 0];
    case 'double':
      return [...tag(FIELD.double, FIXED64), ...littleEndian(8, (view) => view.setFloat64(0, v.value, true))];
    case 'float':
      return [...tag(FIELD.float, FIXED32), ...littleEndian(4, (view) => view.setFloat32(0, v.value, true))];
    case 'int32':
    case 'int64':
    case 'unix_timestamp':
      return [...tag(FIELD[v.kind], VARINT), ...varint(v.value)];
    case 'bool':
      return [...tag(FIELD.bool, VARINT), v.value ? 1 : 0];
    case 'string':
    case 'json':
    case 'uuid':
    case 'time_uuid':
    case 'decimal':
      return lengthDelimited(FIELD[v.kind], utf8(v.value));
    case 'bytes':
      return lengthDelimited(FIELD.bytes, [...v.value]);
    case 'zoned_timestamp':
      return lengthDelimited(FIELD.zoned_timestamp, [...tag(1, VARINT), ...varint(v.seconds), ...lengthDelimited(2, utf8(v.zone))]);
    case 'int64_list':
    case 'int64_set':
      // proto3 packs repeated scalars: one length-delimited field 1 holding the varints.
      return lengthDelimited(
        FIELD[v.kind],
        lengthDelimited(
          1,
          v.value.flatMap((n) => varint(n)),
        ),
      );
    case 'double_list':
      return lengthDelimited(
        FIELD.double_list,
        lengthDelimited(
          1,
          v.value.flatMap((n) => littleEndian(8, (view) => view.setFloat64(0, n, true))),
        ),
      );
    case 'string_list':
    case 'string_set':
      return lengthDelimited(
        FIELD[v.kind],
        v.value.flatMap((s) => lengthDelimited(1, utf8(s))),
      );
    case 'map':
      // map<string, Value> val = 1: each entry a message {1: key, 2: value}.
      return lengthDelimited(
        FIELD.map,
        Object.entries(v.value).flatMap(([key, item]) =>
          lengthDelimited(1, [...lengthDelimited(1, utf8(key)), ...lengthDelimited(2, valueBody(item))]),
        ),
      );
    case 'list':
      return lengthDelimited(
        FIELD.list,
        v.value.flatMap((item) => lengthDelimited(1, valueBody(item))),
      );
  }
}

/** The bytes Feast's `Value(...).SerializeToString()` produces for `v`. */
export function encodeFeastValueByHand(v: HandValue): Uint8Array {
  return new Uint8Array(valueBody(v));
}

/** An entity key part as Feast's EntityKey holds it: a join key and a string, int32 or int64 value. */
export type HandEntityPart =
  | { joinKey: string; type: 'string'; value: string }
  | { joinKey: string; type: 'int32'; value: number }
  | { joinKey: string; type: 'int64'; value: bigint };

/** Compares strings by Unicode code point, as Python's `<` on str does. */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}

const u32 = (n: number): number[] => littleEndian(4, (view) => view.setUint32(0, n, true));

/**
 * Feast's serialize_entity_key by its documented layout: v3 = u32 key count, per key (u32 2,
 * u32 UTF-8 byte length, UTF-8 name), per value (u32 type 2/3/4, u32 length, bytes); v2 = the same
 * without the count and the key lengths.
 */
export function serializeEntityKeyByHand(parts: readonly HandEntityPart[], version: 2 | 3): Uint8Array {
  const sorted = [...parts].sort((a, b) => byCodePoint(a.joinKey, b.joinKey));
  const out: number[] = version === 3 ? u32(sorted.length) : [];
  for (const part of sorted) {
    const name = utf8(part.joinKey);
    out.push(...u32(2), ...(version === 3 ? u32(name.length) : []), ...name);
  }
  for (const part of sorted) {
    const bytes =
      part.type === 'string'
        ? utf8(part.value)
        : part.type === 'int32'
          ? littleEndian(4, (view) => view.setInt32(0, part.value, true))
          : littleEndian(8, (view) => view.setBigInt64(0, part.value, true));
    out.push(...u32(part.type === 'string' ? 2 : part.type === 'int32' ? 3 : 4), ...u32(bytes.length), ...bytes);
  }
  return new Uint8Array(out);
}

/** Feast's compute_entity_id: hex of mmh3.hash_bytes(serialize_entity_key(...)). */
export function entityIdByHand(parts: readonly HandEntityPart[], version: 2 | 3): string {
  return Buffer.from(murmur3X64Hash128(serializeEntityKeyByHand(parts, version))).toString('hex');
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * Python's `str()` of an aware datetime at the instant `epochMs` (+ `extraMicros`, 0..999) seen
 * at UTC offset `offsetSeconds`: `YYYY-MM-DD HH:MM:SS[.ffffff]±HH:MM[:SS]`, the fraction only
 * when microseconds are non-zero, the offset's seconds only when non-zero.
 */
export function pythonAwareDatetimeStr(epochMs: number, offsetSeconds = 0, extraMicros = 0): string {
  const wall = new Date(epochMs + offsetSeconds * 1000);
  const microsecond = wall.getUTCMilliseconds() * 1000 + extraMicros;
  const date = `${pad(wall.getUTCFullYear(), 4)}-${pad(wall.getUTCMonth() + 1, 2)}-${pad(wall.getUTCDate(), 2)}`;
  const time = `${pad(wall.getUTCHours(), 2)}:${pad(wall.getUTCMinutes(), 2)}:${pad(wall.getUTCSeconds(), 2)}`;
  const fraction = microsecond === 0 ? '' : `.${pad(microsecond, 6)}`;
  const magnitude = Math.abs(offsetSeconds);
  const hh = Math.floor(magnitude / 3600);
  const mm = Math.floor((magnitude % 3600) / 60);
  const ss = magnitude % 60;
  const offset = `${offsetSeconds < 0 ? '-' : '+'}${pad(hh, 2)}:${pad(mm, 2)}${ss === 0 ? '' : `:${pad(ss, 2)}`}`;
  return `${date} ${time}${fraction}${offset}`;
}

/** One feature view row as Feast writes it with the low-level client (`_to_client_write_item`). */
export type FeastItemSpec = {
  entity: readonly HandEntityPart[];
  serializationVersion: 2 | 3;
  /** Event time: ms since the epoch (written at UTC) or the exact `event_ts` text. */
  eventTime: number | string;
  values: Record<string, HandValue>;
};

/** `{entity_id: S, event_ts: S, values: M of B}`, the item Feast puts in the feature view's table. */
export function feastItem(spec: FeastItemSpec): Record<string, AttributeValue> {
  return {
    entity_id: { S: entityIdByHand(spec.entity, spec.serializationVersion) },
    event_ts: { S: typeof spec.eventTime === 'string' ? spec.eventTime : pythonAwareDatetimeStr(spec.eventTime) },
    values: { M: Object.fromEntries(Object.entries(spec.values).map(([name, v]) => [name, { B: encodeFeastValueByHand(v) }])) },
  };
}
