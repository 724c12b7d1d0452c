/**
 * The bounds the codec holds every request to, and how it quotes what a caller sent. Each bound
 * is checked before any work is done on the value it bounds (no parsing, hashing or walking of
 * a string or array that is already too long), and no error quotes more than a short excerpt of
 * caller text, in its message or in its path.
 */
import { PayloadTooLargeError, clip, type FieldPath } from '../errors.js';

/** Characters of caller text (a key, a name, a string value) an error quotes at most. */
export const EXCERPT_CHARS = 64;

/**
 * Longest decimal string an int64 or uint64 element may be: 20 characters, which is
 * `-9223372036854775808` (19 digits and a sign) and `18446744073709551615` (20 digits). Leading
 * zeros are refused anyway, so a longer string cannot be a 64-bit value.
 */
export const DECIMAL_64_MAX_CHARS = 20;

/**
 * Default bound on one string (BYTES) element, in UTF-16 characters: 65,536, room for a long
 * document for a text model. Set per function with `MAX_STRING_CHARS`; a request is bounded by
 * `MAX_BODY_BYTES` as a whole anyway.
 */
export const DEFAULT_MAX_STRING_CHARS = 65_536;

/**
 * Longest `shape` a v2 input tensor may give: 64 dimensions (NumPy's limit). Checked before
 * the dimensions are read; the model's own rank is checked next.
 */
export const MAX_V2_RANK = 64;

/**
 * Most entries a v2 `outputs` list may have: 1,024. A name may be listed twice (it is computed
 * once); a model with more outputs than this serves them all when `outputs` is left out.
 */
export const MAX_V2_OUTPUTS_LISTED = 1_024;

/** The limits a request is decoded under; set per function (see the README's limits). */
export interface CodecLimits {
  /** Most rows (instances, or the batch axis of a v2 tensor) per request. `MAX_ROWS`. */
  readonly maxRows: number;
  /** Most UTF-16 characters in one string (BYTES) element. `MAX_STRING_CHARS`. @default 65,536 */
  readonly maxStringChars: number;
}

export const DEFAULT_LIMITS: CodecLimits = { maxRows: 1_000, maxStringChars: DEFAULT_MAX_STRING_CHARS };

/** `limits` with every unset field at its default. */
export function codecLimits(limits: Partial<CodecLimits> = {}): CodecLimits {
  return { ...DEFAULT_LIMITS, ...limits };
}

/** At most `EXCERPT_CHARS` characters of caller text, marked when cut. */
/** An unpaired UTF-16 surrogate: valid in a JSON string (`"\ud800"`), not Unicode, unspellable in UTF-8. */
export const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function excerpt(text: string): string {
  return clip(text, EXCERPT_CHARS);
}

/** Characters of caller keys a path quotes in all (each key at least `PATH_KEY_MIN_CHARS`). */
const PATH_KEY_BUDGET = 256;
const PATH_KEY_MIN_CHARS = 8;

/**
 * `path` with every key cut to an excerpt (`…` marks a cut): a path names a field, it never
 * carries one whole. The keys share a budget of 256 characters (each keeps at least 8), so a
 * path through 32 levels of long keys stays a few hundred characters long.
 */
export function pathExcerpt(path: FieldPath): FieldPath {
  const keys = path.filter((part) => typeof part === 'string').length;
  const max = Math.min(EXCERPT_CHARS, Math.max(PATH_KEY_MIN_CHARS, Math.floor(PATH_KEY_BUDGET / Math.max(keys, 1))));
  return path.map((part) => (typeof part === 'string' && part.length > max ? `${part.slice(0, max)}…` : part));
}

/** How many names a message lists before it says how many more there are. */
const LISTED_NAMES = 10;

/** `a, b, c` (names quoted as excerpts), at most ten of them: `a, b, … and 990 more`. */
export function nameList(names: readonly string[]): string {
  const shown = names.slice(0, LISTED_NAMES).map(excerpt).join(', ');
  return names.length > LISTED_NAMES ? `${shown}, … and ${names.length - LISTED_NAMES} more` : shown;
}

/**
 * The request carries more rows than the endpoint takes (413). Checked on the count alone,
 * before any row is read.
 */
export function checkRowCount(rows: number, maxRows: number, path: FieldPath): void {
  if (rows > maxRows) {
    throw new PayloadTooLargeError(
      'TOO_MANY_ROWS',
      `This request has ${rows} rows; this endpoint takes at most ${maxRows} per request. Split it into smaller requests.`,
      path,
    );
  }
}

/**
 * A lookup from names the model declares (features, inputs, outputs) to their position. Built on
 * a Map, so a caller's `constructor` or `toString` is just a name that is not there; a name
 * longer than every known one is refused on its length alone, without being hashed.
 */
export class NameIndex {
  private readonly positions = new Map<string, number>();
  private readonly longest: number;

  constructor(readonly names: readonly string[]) {
    names.forEach((name, i) => {
      if (!this.positions.has(name)) this.positions.set(name, i);
    });
    this.longest = names.reduce((n, name) => Math.max(n, name.length), 0);
  }

  /** Position of `name` among the names, or `undefined`. */
  indexOf(name: string): number | undefined {
    return name.length > this.longest ? undefined : this.positions.get(name);
  }

  has(name: string): boolean {
    return this.indexOf(name) !== undefined;
  }

  get size(): number {
    return this.names.length;
  }
}
