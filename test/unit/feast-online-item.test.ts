/**
 * The Feast-compatibility codec (functions/adapters/feast): entity ids, feature values and event
 * timestamps as Feast's DynamoDB online store writes them.
 *
 * Three kinds of reference, none of them the reader itself:
 * - fixed vectors from Feast's own repository (feast-dev/feast at f0bc0700, v0.66.0+2), cited
 *   where used;
 * - values produced by running Feast's own code: `serialize_entity_key`
 *   (sdk/python/feast/infra/key_encoding_utils.py), `compute_entity_id` (…/online_stores/helpers.py)
 *   and `make_tzaware` (feast/utils.py) from that commit under CPython 3.11, with Value_pb2 built
 *   by protoc 3.21 from Feast's protos/feast/types/Value.proto and `mmh3.hash_bytes` supplied by
 *   Debian's libmurmurhash (`lmmh_x64_128`, whose output equals mmh3's published
 *   `hash_bytes("foo")`); marked "Feast-computed" below;
 * - the hand-built writer in test/support/feast-items.ts.
 */
import {
  FEAST_ENTITY_ID_ATTRIBUTE,
  FEAST_EVENT_TS_ATTRIBUTE,
  FEAST_VALUES_ATTRIBUTE,
  type FeastEntityValue,
  FeastValueError,
  decodeFeastValue,
  feastEntityId,
  feastTableName,
  parseFeastEventTimestamp,
  serializeFeastEntityKey,
} from '../../functions/adapters/feast/online-item.js';
import { murmur3X64Hash128 } from '../../functions/adapters/feast/murmur3.js';
import {
  type HandEntityPart,
  type HandValue,
  encodeFeastValueByHand,
  entityIdByHand,
  feastItem,
  pythonAwareDatetimeStr,
  serializeEntityKeyByHand,
} from '../support/feast-items.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const text = (value: string): Uint8Array => new TextEncoder().encode(value);

function toKey(parts: readonly HandEntityPart[]): { joinKey: string; value: FeastEntityValue }[] {
  return parts.map((part) => ({ joinKey: part.joinKey, value: { type: part.type, value: part.value } as FeastEntityValue }));
}

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('murmur3X64Hash128', () => {
  it('reproduces SMHasher verification value for MurmurHash3_x64_128 (every tail length, 256 seeds)', () => {
    // aappleby/smhasher main.cpp: hash keys [0], [0,1], ... [0..254] with seed 256 - length,
    // hash the concatenated results with seed 0, read the first 4 bytes little-endian: 0x6384BA69.
    const key = new Uint8Array(256);
    const hashes = new Uint8Array(16 * 256);
    for (let i = 0; i < 256; i++) {
      key[i] = i;
      hashes.set(murmur3X64Hash128(key.subarray(0, i), 256 - i), i * 16);
    }
    const final = murmur3X64Hash128(hashes, 0);
    expect(new DataView(final.buffer).getUint32(0, true)).toBe(0x6384ba69);
  });

  it("lays the two words out as mmh3.hash_bytes does: hash_bytes('foo') from mmh3's README", () => {
    // mmh3 README: mmh3.hash_bytes("foo") == b'aE\xf5\x01W\x86q\xe2\x87}\xba+\xe4\x87\xaf~'
    expect(hex(murmur3X64Hash128(text('foo')))).toBe('6145f501578671e2877dba2be487af7e');
    expect(hex(murmur3X64Hash128(new Uint8Array(0)))).toBe('0'.repeat(32));
  });

  it('hashes a view into a larger buffer by its own bytes only', () => {
    const backing = new Uint8Array([9, 9, ...text('foo'), 9]);
    expect(hex(murmur3X64Hash128(backing.subarray(2, 5)))).toBe('6145f501578671e2877dba2be487af7e');
  });

  it('refuses a seed outside unsigned 32 bits', () => {
    expect(() => murmur3X64Hash128(text('foo'), -1)).toThrow(RangeError);
    expect(() => murmur3X64Hash128(text('foo'), 2 ** 32)).toThrow(RangeError);
  });
});

describe('Feast entity keys and ids', () => {
  it("matches Feast's fixed serialized keys (Redis and Go feature server tests)", () => {
    // sdk/python/tests/unit/infra/online_store/test_redis.py test_generate_entity_redis_keys:
    // EntityKey(join_keys=["entity"], entity_values=[int32_val=1]) → the redis key, which is the
    // serialized key (version 3) followed by the project name "test".
    const redisKey = Buffer.concat([
      Buffer.from([1, 0, 0, 0, 2, 0, 0, 0, 6, 0, 0, 0]),
      Buffer.from('entity'),
      Buffer.from([3, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0]),
      Buffer.from('test'),
    ]);
    const entityKey = new Uint8Array(redisKey.subarray(0, redisKey.length - 4));
    expect(serializeFeastEntityKey([{ joinKey: 'entity', value: { type: 'int32', value: 1 } }], 3)).toEqual(entityKey);
    expect(serializeEntityKeyByHand([{ joinKey: 'entity', type: 'int32', value: 1 }], 3)).toEqual(entityKey);

    // go/internal/feast/onlinestore/onlinestore_test.go Test_serializeEntityKey: driver_id = int64 1001, version 3.
    const goVector = new Uint8Array([
      1, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 100, 114, 105, 118, 101, 114, 95, 105, 100, 4, 0, 0, 0, 8, 0, 0, 0, 233, 3, 0, 0, 0, 0, 0, 0,
    ]);
    expect(serializeFeastEntityKey([{ joinKey: 'driver_id', value: { type: 'int64', value: 1001n } }], 3)).toEqual(goVector);
    expect(serializeEntityKeyByHand([{ joinKey: 'driver_id', type: 'int64', value: 1001n }], 3)).toEqual(goVector);
  });

  // Feast-computed: serialize_entity_key(...).hex() and compute_entity_id(...) for each key.
  const feastComputed: { name: string; parts: HandEntityPart[]; version: 2 | 3; serialized: string; id: string }[] = [
    {
      name: 'string key, v3',
      parts: [{ joinKey: 'customer_id', type: 'string', value: 'C-1001' }],
      version: 3,
      serialized: '01000000020000000b000000637573746f6d65725f69640200000006000000432d31303031',
      id: 'cc7ab77b8b7307d77c40ac10c9aa00a2',
    },
    {
      name: 'string key, v2',
      parts: [{ joinKey: 'customer_id', type: 'string', value: 'C-1001' }],
      version: 2,
      serialized: '02000000637573746f6d65725f69640200000006000000432d31303031',
      id: 'c7827d6db7daacd2db8e6fdaf6d8f486',
    },
    {
      name: 'int64 key, v3',
      parts: [{ joinKey: 'driver_id', type: 'int64', value: 1001n }],
      version: 3,
      serialized: '0100000002000000090000006472697665725f69640400000008000000e903000000000000',
      id: 'f3cfd4a822f245b63975464763babaec',
    },
    {
      name: 'int64 key, v2',
      parts: [{ joinKey: 'driver_id', type: 'int64', value: 1001n }],
      version: 2,
      serialized: '020000006472697665725f69640400000008000000e903000000000000',
      id: '5b483ef27f6503dc22e8faf55eb4df4b',
    },
    {
      name: 'int32 key, v3',
      parts: [{ joinKey: 'entity', type: 'int32', value: 1 }],
      version: 3,
      serialized: '010000000200000006000000656e74697479030000000400000001000000',
      id: '4c61304c2ed5fad87245785cd85ab60e',
    },
    {
      name: 'negative int32 key, v2',
      parts: [{ joinKey: 'entity', type: 'int32', value: -42 }],
      version: 2,
      serialized: '02000000656e746974790300000004000000d6ffffff',
      id: 'fe9b299fb36e09f5bdefbcecaf540c28',
    },
    {
      name: 'int64 key beyond 2^53, v3',
      parts: [{ joinKey: 'account', type: 'int64', value: 2n ** 53n + 1n }],
      version: 3,
      serialized: '0100000002000000070000006163636f756e7404000000080000000100000000002000',
      id: 'bdd3e23f29fc6d2b406e9d246d6151fb',
    },
    {
      name: 'negative int64 key beyond -2^53, v3',
      parts: [{ joinKey: 'account', type: 'int64', value: -9007199254740993n }],
      version: 3,
      serialized: '0100000002000000070000006163636f756e740400000008000000ffffffffffffdfff',
      id: '83b2be63643ce3d196a974a8e66567d3',
    },
    {
      name: 'two join keys given unsorted, v3',
      parts: [
        { joinKey: 'user', type: 'int64', value: 32768n },
        { joinKey: 'customer', type: 'string', value: 'test' },
      ],
      version: 3,
      serialized:
        '020000000200000008000000637573746f6d657202000000040000007573657202000000040000007465737404000000080000000080000000000000',
      id: '58c31dda74e96cbf35c6a51de5b91e74',
    },
    {
      name: 'two join keys given unsorted, v2',
      parts: [
        { joinKey: 'user', type: 'int64', value: 32768n },
        { joinKey: 'customer', type: 'string', value: 'test' },
      ],
      version: 2,
      serialized: '02000000637573746f6d6572020000007573657202000000040000007465737404000000080000000080000000000000',
      id: 'b497b53d60aeb68f5797b5ef1d251467',
    },
    {
      name: 'non-ASCII join key and value, v3 (key length in UTF-8 bytes)',
      parts: [{ joinKey: '用户ID', type: 'string', value: 'ünï' }],
      version: 3,
      serialized: '010000000200000008000000e794a8e688b749440200000005000000c3bc6ec3af',
      id: '4943b9c1c5161fe7977c90c8b616f6b6',
    },
    {
      // Python sorts by code point: U+FF21 before U+1F600, although UTF-16 code units order them the other way.
      name: 'join keys outside the BMP sorted by code point, v3',
      parts: [
        { joinKey: '\u{1F600}k', type: 'int32', value: 1 },
        { joinKey: '\uFF21k', type: 'int32', value: 2 },
      ],
      version: 3,
      serialized: '020000000200000004000000efbca16b0200000005000000f09f98806b030000000400000002000000030000000400000001000000',
      id: '0fb0366f0eac36bf489e5d88e552f933',
    },
  ];

  it.each(feastComputed)('serializes and hashes like Feast: $name', ({ parts, version, serialized, id }) => {
    expect(hex(serializeFeastEntityKey(toKey(parts), version))).toBe(serialized);
    expect(feastEntityId(toKey(parts), version)).toBe(id);
    expect(hex(serializeEntityKeyByHand(parts, version))).toBe(serialized);
    expect(entityIdByHand(parts, version)).toBe(id);
  });

  it('agrees with the hand-built writer for three join keys in every order, and the versions differ', () => {
    const parts: HandEntityPart[] = [
      { joinKey: 'store', type: 'int32', value: -2147483648 },
      { joinKey: 'region', type: 'string', value: 'eu-west-1 ✓' },
      { joinKey: 'account', type: 'int64', value: -(2n ** 63n) },
    ];
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    for (const version of [2, 3] as const) {
      const expected = entityIdByHand(parts, version);
      expect(orders.map((order) => feastEntityId(toKey(order.map((i) => parts[i]!)), version))).toEqual(Array(6).fill(expected));
    }
    expect(feastEntityId(toKey(parts), 2)).not.toBe(feastEntityId(toKey(parts), 3));
  });

  it('computes an id for an empty key as Feast does (v3: a zero count)', () => {
    expect(hex(serializeFeastEntityKey([], 3))).toBe('00000000');
    expect(hex(serializeFeastEntityKey([], 2))).toBe('');
  });

  it('refuses keys Feast could not serialize, naming the join key', () => {
    const duplicate = thrown(() =>
      feastEntityId(
        [
          { joinKey: 'id', value: { type: 'string', value: 'a' } },
          { joinKey: 'id', value: { type: 'string', value: 'b' } },
        ],
        3,
      ),
    );
    expect(duplicate).toBeInstanceOf(FeastValueError);
    expect((duplicate as Error).message).toBe("Join key 'id' appears twice in the entity key");

    const cases: FeastEntityValue[] = [
      { type: 'int32', value: 2 ** 31 },
      { type: 'int32', value: -(2 ** 31) - 1 },
      { type: 'int32', value: 1.5 },
      { type: 'int64', value: 2n ** 63n },
      { type: 'int64', value: 5 as unknown as bigint },
      { type: 'string', value: 'bad \uD800 half' },
      { type: 'float' as 'string', value: '1' },
    ];
    for (const value of cases) {
      const error = thrown(() => feastEntityId([{ joinKey: 'k', value }], 3));
      expect(error).toBeInstanceOf(FeastValueError);
      expect((error as Error).message).toMatch(/^The value of join key 'k' /);
    }
    expect(thrown(() => feastEntityId([{ joinKey: 'k\uDC00', value: { type: 'string', value: 'v' } }], 3))).toBeInstanceOf(FeastValueError);
    expect(() => feastEntityId([{ joinKey: 'k', value: { type: 'string', value: 'v' } }], 1 as 3)).toThrow(RangeError);
  });
});

describe('decodeFeastValue', () => {
  // Feast-computed: Value(...).SerializeToString().hex() with Feast's Value.proto.
  it.each<[string, HandValue, string]>([
    ['double', { kind: 'double', value: 3.5 }, '290000000000000c40'],
    ['float', { kind: 'float', value: 0.1 }, '35cdcccc3d'],
    ['negative int32', { kind: 'int32', value: -7 }, '18f9ffffffffffffffff01'],
    ['zero int32', { kind: 'int32', value: 0 }, '1800'],
    ['int64 beyond 2^53', { kind: 'int64', value: 2n ** 60n + 1n }, '20818080808080808010'],
    ['negative int64', { kind: 'int64', value: -5n }, '20fbffffffffffffffff01'],
    ['false', { kind: 'bool', value: false }, '3800'],
    ['non-ASCII string', { kind: 'string', value: 'héllo ✓' }, '120a68c3a96c6c6f20e29c93'],
    ['null', { kind: 'null' }, '980100'],
    ['unset', { kind: 'unset' }, ''],
    ['unix timestamp', { kind: 'unix_timestamp', value: 1758823656n }, '40e889d6c606'],
    ['decimal', { kind: 'decimal', value: '12.50' }, 'e2020531322e3530'],
    ['int64 list', { kind: 'int64_list', value: [1n, 2n] }, '72040a020102'],
    ['string list', { kind: 'string_list', value: ['a'] }, '62030a0161'],
  ])('the hand-built encoder writes what Feast writes: %s', (_name, value, feastHex) => {
    expect(hex(encodeFeastValueByHand(value))).toBe(feastHex);
  });

  it.each<[string, HandValue, unknown]>([
    ['double', { kind: 'double', value: 3.5 }, 3.5],
    ['negative double', { kind: 'double', value: -0.1 }, -0.1],
    ['double NaN', { kind: 'double', value: Number.NaN }, Number.NaN],
    ['double -Infinity', { kind: 'double', value: Number.NEGATIVE_INFINITY }, Number.NEGATIVE_INFINITY],
    ['float (its float32 value)', { kind: 'float', value: 0.1 }, Math.fround(0.1)],
    ['int32', { kind: 'int32', value: 2147483647 }, 2147483647],
    ['negative int32', { kind: 'int32', value: -7 }, -7],
    ['int32 zero', { kind: 'int32', value: 0 }, 0],
    ['int64 within 2^53', { kind: 'int64', value: 2n ** 53n - 1n }, 2 ** 53 - 1],
    ['negative int64 within 2^53', { kind: 'int64', value: -(2n ** 53n - 1n) }, -(2 ** 53 - 1)],
    ['int64 beyond 2^53', { kind: 'int64', value: 2n ** 53n + 1n }, 2n ** 53n + 1n],
    ['int64 max', { kind: 'int64', value: 2n ** 63n - 1n }, 2n ** 63n - 1n],
    ['negative int64 beyond 2^53', { kind: 'int64', value: -(2n ** 53n) }, -(2n ** 53n)],
    ['int64 min', { kind: 'int64', value: -(2n ** 63n) }, -(2n ** 63n)],
    ['true', { kind: 'bool', value: true }, true],
    ['false', { kind: 'bool', value: false }, false],
    ['ASCII string', { kind: 'string', value: 'gold' }, 'gold'],
    ['non-ASCII string', { kind: 'string', value: 'héllo ✓ 用户 \u{1F600}' }, 'héllo ✓ 用户 \u{1F600}'],
    ['empty string', { kind: 'string', value: '' }, ''],
    ['string starting with U+FEFF', { kind: 'string', value: '\uFEFFx' }, '\uFEFFx'],
    ['uuid', { kind: 'uuid', value: '6f1c8a52-3d3c-4a51-9a4b-7d2f0e5b9c11' }, '6f1c8a52-3d3c-4a51-9a4b-7d2f0e5b9c11'],
    ['time uuid', { kind: 'time_uuid', value: 'b3c1e5a0-0c6f-11ee-be56-0242ac120002' }, 'b3c1e5a0-0c6f-11ee-be56-0242ac120002'],
    ['decimal (exact text)', { kind: 'decimal', value: '12345678901234567890.50' }, '12345678901234567890.50'],
    ['unix timestamp (seconds)', { kind: 'unix_timestamp', value: 1758823656n }, 1758823656],
    ['missing unix timestamp (Feast NaT value)', { kind: 'unix_timestamp', value: -(2n ** 63n) }, null],
    ['zoned timestamp (its instant, seconds)', { kind: 'zoned_timestamp', seconds: 1758823656n, zone: 'America/Los_Angeles' }, 1758823656],
    ['missing zoned timestamp', { kind: 'zoned_timestamp', seconds: -(2n ** 63n), zone: '' }, null],
    ['null_val', { kind: 'null' }, null],
    ['no member set', { kind: 'unset' }, null],
  ])('decodes %s', (_name, value, expected) => {
    expect(decodeFeastValue(encodeFeastValueByHand(value))).toEqual(expected);
  });

  it('keeps the int64 type boundary exact: safe integers are numbers, the rest bigints', () => {
    expect(typeof decodeFeastValue(encodeFeastValueByHand({ kind: 'int64', value: 2n ** 53n - 1n }))).toBe('number');
    expect(typeof decodeFeastValue(encodeFeastValueByHand({ kind: 'int64', value: 2n ** 53n }))).toBe('bigint');
    expect(typeof decodeFeastValue(encodeFeastValueByHand({ kind: 'int64', value: -(2n ** 53n) }))).toBe('bigint');
  });

  it.each<[string, HandValue, string, string]>([
    ['int64 list', { kind: 'int64_list', value: [1n, 2n] }, 'int64_list_val', 'a list'],
    ['double list', { kind: 'double_list', value: [0.5, 1.5] }, 'double_list_val', 'a list'],
    ['string list', { kind: 'string_list', value: ['a', 'b'] }, 'string_list_val', 'a list'],
    ['empty string list', { kind: 'string_list', value: [] }, 'string_list_val', 'a list'],
    ['string set', { kind: 'string_set', value: ['a'] }, 'string_set_val', 'a set'],
    ['int64 set', { kind: 'int64_set', value: [3n] }, 'int64_set_val', 'a set'],
    ['map', { kind: 'map', value: { a: { kind: 'int64', value: 1n } } }, 'map_val', 'a map'],
    ['list of values', { kind: 'list', value: [{ kind: 'string', value: 'x' }] }, 'list_val', 'a list'],
    ['bytes', { kind: 'bytes', value: new Uint8Array([1, 2]) }, 'bytes_val', 'raw bytes'],
    ['json', { kind: 'json', value: '{"a":1}' }, 'json_val', 'a JSON document'],
  ])('refuses %s, naming the kind', (_name, value, kind, what) => {
    const error = thrown(() => decodeFeastValue(encodeFeastValueByHand(value)));
    expect(error).toBeInstanceOf(FeastValueError);
    expect((error as FeastValueError).kind).toBe(kind);
    expect((error as Error).message).toBe(`Feast value of kind ${kind} is ${what}; a model input takes one scalar per feature`);
  });

  it('refuses a scalar map (field 47) by name', () => {
    const error = thrown(() => decodeFeastValue(fromHex('fa0200')));
    expect((error as FeastValueError).kind).toBe('scalar_map_val');
  });

  it.each<[string, string]>([
    ['a truncated double', '29000000'],
    ['a truncated string', '120561'],
    ['an overlong length', '12ffffffff0f61'],
    ['an unterminated varint', '20ffffffff'],
    ['wire type 7', '0f'],
    ['field number 0', '0001'],
    ['invalid UTF-8 in a string', '1201ff'],
    ['a string sent with the varint wire type', '1000'],
    ['an int32 sent length-delimited', '1a00'],
    ['a double sent as 32 bits', '2d00000000'],
    ['a list sent as a varint', '7201'],
  ])('refuses malformed bytes: %s', (_name, bytes) => {
    const error = thrown(() => decodeFeastValue(fromHex(bytes)));
    expect(error).toBeInstanceOf(FeastValueError);
    expect((error as Error).message).toMatch(/^Feast value bytes are not a feast\.types\.Value protobuf message: /);
    expect((error as FeastValueError).kind).toBeUndefined();
  });

  it('refuses a field number it does not know rather than reading it as no value', () => {
    // Field 60, varint 1: a kind a later Feast might add.
    const error = thrown(() => decodeFeastValue(new Uint8Array([0xe0, 0x03, 0x01])));
    expect(error).toBeInstanceOf(FeastValueError);
    expect((error as Error).message).toBe('Feast value has field number 60, a kind this reader does not know (written by a newer Feast?)');
  });

  it('takes the last of two oneof members, as protobuf does', () => {
    const both = Buffer.concat([
      encodeFeastValueByHand({ kind: 'string', value: 'first' }),
      encodeFeastValueByHand({ kind: 'int64', value: 9n }),
    ]);
    expect(decodeFeastValue(new Uint8Array(both))).toBe(9);
  });
});

describe('parseFeastEventTimestamp', () => {
  // Feast-computed: str(make_tzaware(datetime(...))) for each instant.
  it.each<[string, string]>([
    ['2026-11-30 12:00:00+00:00', '2026-11-30T12:00:00.000Z'], // naive datetime, made UTC by make_tzaware
    ['2026-11-30 12:00:00.123456+00:00', '2026-11-30T12:00:00.123Z'],
    ['2026-11-30 17:30:05.000999+05:30', '2026-11-30T12:00:05.000Z'],
    ['2026-01-02 03:04:05-08:00', '2026-01-02T11:04:05.000Z'],
    ['1999-12-31 23:59:59.500000+01:00:30', '1999-12-31T22:59:29.500Z'],
    ['2026-03-01 00:00:00-01:29:59.999750', '2026-03-01T01:29:59.999Z'],
  ])('reads Python str() %s', (eventTs, iso) => {
    expect(parseFeastEventTimestamp(eventTs)).toBe(Date.parse(iso));
  });

  it('round-trips the hand-built str() over offsets, with and without microseconds', () => {
    const instants = [Date.parse('2026-11-30T12:00:00Z'), Date.parse('2024-02-29T23:59:59.999Z'), Date.parse('1970-01-01T00:00:00.001Z')];
    const offsets = [0, 3600, -8 * 3600, 5 * 3600 + 30 * 60, -(9 * 3600 + 30 * 60), 14 * 3600, -12 * 3600, 3600 + 30];
    const failures: string[] = [];
    for (const instant of instants) {
      for (const offset of offsets) {
        for (const extraMicros of [0, 1, 999]) {
          const eventTs = pythonAwareDatetimeStr(instant, offset, extraMicros);
          if (parseFeastEventTimestamp(eventTs) !== instant) failures.push(eventTs);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(pythonAwareDatetimeStr(Date.parse('2026-11-30T12:00:00Z'), -8 * 3600)).toBe('2026-11-30 04:00:00-08:00');
    expect(pythonAwareDatetimeStr(Date.parse('2026-11-30T12:00:00.120Z'), 0, 5)).toBe('2026-11-30 12:00:00.120005+00:00');
  });

  it('accepts the other forms datetime.fromisoformat reads', () => {
    const noon = Date.parse('2026-11-30T12:00:00Z');
    expect(parseFeastEventTimestamp('2026-11-30T12:00:00+00:00')).toBe(noon);
    expect(parseFeastEventTimestamp('2026-11-30 12:00:00Z')).toBe(noon);
    expect(parseFeastEventTimestamp('2026-11-30 12:00:00')).toBe(noon); // naive: UTC, as make_tzaware
    expect(parseFeastEventTimestamp('2026-11-30 12:00:00.5+00:00')).toBe(noon + 500);
    expect(parseFeastEventTimestamp('2026-11-30 12:00:00.123456789+00:00')).toBe(noon + 123); // pandas nanoseconds
  });

  it('rounds instants before 1970 down to their millisecond, and reaches year 1', () => {
    expect(parseFeastEventTimestamp('1969-12-31 23:59:59.999500+00:00')).toBe(-1);
    expect(parseFeastEventTimestamp('1969-12-31 23:59:59.999000+00:00')).toBe(-1);
    expect(parseFeastEventTimestamp('1969-12-31 23:59:59.998999+00:00')).toBe(-2);
    expect(parseFeastEventTimestamp('0001-01-01 00:00:00+00:00')).toBe(-62135596800000);
    expect(parseFeastEventTimestamp('9999-12-31 23:59:59.999999+00:00')).toBe(253402300799999);
    expect(parseFeastEventTimestamp('2024-02-29 00:00:00+00:00')).toBe(Date.parse('2024-02-29T00:00:00Z'));
  });

  it.each([
    '',
    'yesterday',
    '2026-11-30',
    '2026-11-30 12:00+00:00',
    '2026-11-30 12:00:00 +00:00',
    ' 2026-11-30 12:00:00+00:00',
    '2026-11-30 12:00:00+00:00 ',
    '2026-11-30 12:00:00.+00:00',
    '2026-11-30 12:00:00.1234567890+00:00',
    '2026-11-30 12:00:00+0000',
    '2026-11-30 12:00:00+00',
    '2026-11-30 12:00:00+24:00',
    '2026-11-30 12:00:00+00:60',
    '2026-11-30 24:00:00+00:00',
    '2026-11-30 12:60:00+00:00',
    '2026-11-30 12:00:60+00:00',
    '2026-02-29 12:00:00+00:00',
    '2026-04-31 12:00:00+00:00',
    '2026-13-01 12:00:00+00:00',
    '2026-00-10 12:00:00+00:00',
    '0000-01-01 00:00:00+00:00',
    '２０２６-11-30 12:00:00+00:00',
  ])('returns undefined for %j', (eventTs) => {
    expect(parseFeastEventTimestamp(eventTs)).toBeUndefined();
  });
});

describe('Feast items', () => {
  it('names the attributes and the default table as Feast does', () => {
    expect([FEAST_ENTITY_ID_ATTRIBUTE, FEAST_EVENT_TS_ATTRIBUTE, FEAST_VALUES_ATTRIBUTE]).toEqual(['entity_id', 'event_ts', 'values']);
    expect(feastTableName('shop', 'customer_stats')).toBe('shop.customer_stats');
  });

  it('reads back every attribute of an item built as Feast writes it', () => {
    const eventTime = Date.parse('2026-11-30T12:00:00.250Z');
    const item = feastItem({
      entity: [{ joinKey: 'customer_id', type: 'string', value: 'C-1001' }],
      serializationVersion: 3,
      eventTime,
      values: {
        avg_order_value: { kind: 'double', value: 42.5 },
        orders_30d: { kind: 'int64', value: 7n },
        tier: { kind: 'string', value: 'gold' },
        churned: { kind: 'bool', value: false },
        last_refund: { kind: 'unset' },
      },
    });
    expect(item[FEAST_ENTITY_ID_ATTRIBUTE]).toEqual({ S: 'cc7ab77b8b7307d77c40ac10c9aa00a2' }); // Feast-computed above
    expect(item[FEAST_ENTITY_ID_ATTRIBUTE]?.S).toBe(
      feastEntityId([{ joinKey: 'customer_id', value: { type: 'string', value: 'C-1001' } }], 3),
    );
    expect(item[FEAST_EVENT_TS_ATTRIBUTE]).toEqual({ S: '2026-11-30 12:00:00.250000+00:00' });
    expect(parseFeastEventTimestamp(item[FEAST_EVENT_TS_ATTRIBUTE]!.S!)).toBe(eventTime);
    const values = Object.fromEntries(
      Object.entries(item[FEAST_VALUES_ATTRIBUTE]!.M!).map(([name, value]) => [name, decodeFeastValue(value.B!)]),
    );
    expect(values).toEqual({ avg_order_value: 42.5, orders_30d: 7, tier: 'gold', churned: false, last_refund: null });
  });
});
