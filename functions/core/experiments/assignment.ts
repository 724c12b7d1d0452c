/**
 * Sticky assignment of an experiment's units to its variants (issue 14, item 1). A unit is what
 * the experiment's assignment key names (the token's subject by default, or a request header such
 * as a user or session id); its variant is a pure function of the experiment id and the key, so
 * the same key gets the same variant in every request, every sandbox and after every restart,
 * with no state to store or share. Alias weights cannot do this: Lambda draws them per request.
 *
 * The draw: the first 52 bits of sha256(`<experiment id> NUL <key>`) read as an integer and
 * divided by 2^52 give `u`, uniform in [0, 1) for distinct keys (sha256 as a random oracle); the
 * variant is the first whose cumulative weight share exceeds `u`. Hashing the experiment id with
 * the key makes each experiment's split independent of the last one's (the same users are not
 * always the treatment group), the practice of Kohavi, Tang and Xu, "Trustworthy Online
 * Controlled Experiments" (2020), chapter 14.
 */
import { createHash } from 'node:crypto';

/** One arm of an experiment: a registered model version and its share of the units. */
export interface ExperimentVariant {
  /** The variant's name (`control`, `treatment`, ...): 1-40 of a-z, 0-9, `-`, `_`. */
  readonly name: string;
  /** The model version that serves the variant's units. */
  readonly version: string;
  /** Percent of the units, in (0, 100); the variants' weights sum to 100. */
  readonly weight: number;
}

/** 2^52: the draw keeps 52 bits, which a double holds exactly. */
const DRAW_SCALE = 2 ** 52;

/** `u` in [0, 1) for `key` in `experimentId` (see the module's doc). */
export function assignmentDraw(experimentId: string, key: string): number {
  const digest = createHash('sha256').update(experimentId).update('\u0000').update(key).digest();
  // 52 bits: the top 20 of the first word, then the 32 of the second.
  const high = digest.readUInt32BE(0) >>> 12;
  const low = digest.readUInt32BE(4);
  return (high * 2 ** 32 + low) / DRAW_SCALE;
}

/**
 * The variant `key` is assigned to: stable for the experiment and key, in the proportions of
 * the weights.
 *
 * @throws Error when `variants` is empty (a started experiment always has two or more)
 */
export function assignVariant<V extends Pick<ExperimentVariant, 'weight'>>(experimentId: string, key: string, variants: readonly V[]): V {
  const last = variants[variants.length - 1];
  if (!last) throw new Error('An experiment without variants assigns nothing.');
  const total = variants.reduce((sum, v) => sum + v.weight, 0);
  const u = assignmentDraw(experimentId, key) * total;
  let cumulative = 0;
  for (const variant of variants) {
    cumulative += variant.weight;
    if (u < cumulative) return variant;
  }
  // Rounding of the cumulative sum can leave u just past it: the last variant takes that sliver.
  return last;
}

/**
 * What the prediction log keeps of an assignment key: sha256 of `unit NUL <key>`, 32 hex digits
 * (128 bits), so units can be counted and joined with outcomes without storing user ids.
 */
export function unitId(key: string): string {
  return createHash('sha256').update('unit\u0000').update(key).digest('hex').slice(0, 32);
}
