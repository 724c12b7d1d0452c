/**
 * MurmurHash3, x64 128-bit variant (Austin Appleby's `MurmurHash3_x64_128`, public domain), the
 * hash Feast names its online-store rows with: `compute_entity_id` in Feast's
 * `sdk/python/feast/infra/online_stores/helpers.py` (v0.66.0) is
 * `mmh3.hash_bytes(serialize_entity_key(...)).hex()`, and `mmh3.hash_bytes(data)` is this
 * function with seed 0 (the `mmh3` package's default, x64 variant on every platform).
 *
 * Written here rather than taken from npm: the packages that offer the x64 128-bit variant either
 * lay the two 64-bit words out big-endian (`@multiformats/murmur3`, `murmurhash3js-revisited`,
 * both checked against their own test vectors) or ship WebAssembly; mmh3's layout is little-endian.
 * Correctness is pinned by test/unit/feast-online-item.test.ts with SMHasher's verification value
 * and mmh3's published `hash_bytes("foo")`.
 */

const MASK64 = 0xffff_ffff_ffff_ffffn;
const C1 = 0x87c3_7b91_1142_53d5n;
const C2 = 0x4cf5_ad43_2745_937fn;

function rotl64(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & MASK64;
}

function fmix64(k: bigint): bigint {
  let x = k;
  x ^= x >> 33n;
  x = (x * 0xff51_afd7_ed55_8ccdn) & MASK64;
  x ^= x >> 33n;
  x = (x * 0xc4ce_b9fe_1a85_ec53n) & MASK64;
  x ^= x >> 33n;
  return x;
}

function mixK1(k: bigint): bigint {
  return (rotl64((k * C1) & MASK64, 31n) * C2) & MASK64;
}

function mixK2(k: bigint): bigint {
  return (rotl64((k * C2) & MASK64, 33n) * C1) & MASK64;
}

/**
 * Hashes `data` with MurmurHash3 x64 128.
 *
 * @param data the bytes to hash (any length)
 * @param seed unsigned 32-bit seed; Feast uses 0
 * @returns 16 bytes: the first 64-bit half (h1) little-endian, then the second (h2)
 *   little-endian, exactly as Python's `mmh3.hash_bytes(data, seed)` returns them
 * @throws RangeError when `seed` is not an integer in [0, 2^32)
 *
 * @example
 * Buffer.from(murmur3X64Hash128(new TextEncoder().encode('foo'))).toString('hex');
 * // '6145f501578671e2877dba2be487af7e'
 */
export function murmur3X64Hash128(data: Uint8Array, seed = 0): Uint8Array {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw new RangeError(`MurmurHash3 seed must be an unsigned 32-bit integer, got ${seed}`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const length = data.byteLength;
  const blockEnd = length - (length % 16);
  let h1 = BigInt(seed);
  let h2 = BigInt(seed);

  for (let offset = 0; offset < blockEnd; offset += 16) {
    h1 ^= mixK1(view.getBigUint64(offset, true));
    h1 = rotl64(h1, 27n);
    h1 = (h1 + h2) & MASK64;
    h1 = (h1 * 5n + 0x52dc_e729n) & MASK64;

    h2 ^= mixK2(view.getBigUint64(offset + 8, true));
    h2 = rotl64(h2, 31n);
    h2 = (h2 + h1) & MASK64;
    h2 = (h2 * 5n + 0x3849_5ab5n) & MASK64;
  }

  // The last 1..15 bytes: bytes 8..14 of the tail feed k2, bytes 0..7 feed k1 (little-endian).
  const tail = length - blockEnd;
  if (tail > 8) {
    let k2 = 0n;
    for (let i = tail - 1; i >= 8; i--) k2 = (k2 << 8n) | BigInt(data[blockEnd + i]!);
    h2 ^= mixK2(k2);
  }
  if (tail > 0) {
    let k1 = 0n;
    for (let i = Math.min(tail, 8) - 1; i >= 0; i--) k1 = (k1 << 8n) | BigInt(data[blockEnd + i]!);
    h1 ^= mixK1(k1);
  }

  const len = BigInt(length);
  h1 ^= len;
  h2 ^= len;
  h1 = (h1 + h2) & MASK64;
  h2 = (h2 + h1) & MASK64;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  h1 = (h1 + h2) & MASK64;
  h2 = (h2 + h1) & MASK64;

  const out = new Uint8Array(16);
  const outView = new DataView(out.buffer);
  outView.setBigUint64(0, h1, true);
  outView.setBigUint64(8, h2, true);
  return out;
}
