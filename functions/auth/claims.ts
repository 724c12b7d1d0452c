/**
 * The shape of every claim this API reads from a verified token. A claim in another shape
 * refuses the token (401) with a message that names the claim, the shape it must have and the
 * kind of value it has, never the value itself: a reader that guessed (an array where a string
 * belongs, a string where a number belongs) would widen or drop what the issuer meant.
 *
 * | claim | shape |
 * |---|---|
 * | `iss` | a non-empty string (RFC 7519 §4.1.1) |
 * | `sub` | a string of 1 to {@link MAX_SUBJECT_LENGTH} characters, no control characters or unpaired surrogates |
 * | `aud` | a non-empty string, or a non-empty array of them (RFC 7519 §4.1.3) |
 * | `exp`, `nbf`, `iat` | a JSON number of seconds within ±{@link MAX_NUMERIC_DATE} (RFC 7519 §2 NumericDate) |
 * | `scope` | a string of space-separated scopes (RFC 8693 §4.2, RFC 9068); never an array |
 * | `scp` | an array of scopes, each a string without spaces (Okta), or a space-separated string (Entra ID) |
 * | `models` | an array of model names (checked in `permissions.ts`) |
 * | the usage key claim (`AUTH_USAGE_KEY_CLAIM`) | a non-empty string, when present |
 *
 * Other claims are not read, so their shape does not matter.
 *
 * @example
 * checkRegisteredClaims({ iss: 'https://issuer.example.com/', aud: ['onnx-serving'], sub: 'alice', exp: 1767268800 });
 * checkRegisteredClaims({ ..., exp: '1767268800' }); // throws TokenRejectedError: The token's "exp" claim must be a number ...
 */
import { TokenRejectedError } from './errors.js';

/** Longest `sub` accepted: it becomes the principal id, the caller in logs and the rate-limit key. */
export const MAX_SUBJECT_LENGTH = 256;

/**
 * The largest NumericDate accepted, in seconds either side of 1970: the range of an ECMAScript
 * Date (±8.64e15 ms, ECMA-262 §21.4.1.1). Beyond it no time can be computed or shown (and JSON
 * numbers such as `1e400` parse to Infinity).
 */
export const MAX_NUMERIC_DATE = 8.64e12;

/** What kind of JSON value `value` is, for a message: `an array`, `null`, `a number`, ... */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

function refuse(claim: string, shape: string, value: unknown, hint = ''): never {
  throw new TokenRejectedError(`The token's "${claim}" claim must be ${shape}; it is ${kindOf(value)}.${hint ? ` ${hint}` : ''}`);
}

const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/** A control character (C0 or DEL) or a UTF-16 surrogate without its pair. */
const UNPRINTABLE_OR_LONE_SURROGATE = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;

/**
 * Checks the registered claims the verifier reads (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`).
 * A missing claim is not this function's business (the verifier requires `iss`, `aud`, `sub` and
 * `exp`); a present one must have its shape. Throws {@link TokenRejectedError}.
 */
export function checkRegisteredClaims(claims: Readonly<Record<string, unknown>>): void {
  const { iss, sub, aud } = claims;
  if (iss !== undefined && !isNonEmptyString(iss)) refuse('iss', "a non-empty string (the issuer's URL or name)", iss);
  if (sub !== undefined && !(isNonEmptyString(sub) && sub.length <= MAX_SUBJECT_LENGTH)) {
    if (typeof sub === 'string')
      throw new TokenRejectedError(`The token's "sub" must be a non-empty string of at most ${MAX_SUBJECT_LENGTH} characters.`);
    refuse('sub', `a non-empty string of at most ${MAX_SUBJECT_LENGTH} characters`, sub);
  }
  // The subject is the caller in every log line and registry history item: no NUL or other
  // control character (a log reader would cut or misread it), no half of a surrogate pair.
  if (typeof sub === 'string' && UNPRINTABLE_OR_LONE_SURROGATE.test(sub)) {
    throw new TokenRejectedError(
      'The token\'s "sub" must not contain control characters (such as NUL or a line break) or unpaired UTF-16 surrogates.',
    );
  }
  if (aud !== undefined) {
    const shape = 'a non-empty string or a non-empty array of non-empty strings';
    if (Array.isArray(aud)) {
      if (aud.length === 0) throw new TokenRejectedError(`The token's "aud" claim must be ${shape}; it is an empty array.`);
      const bad = aud.findIndex((entry) => !isNonEmptyString(entry));
      if (bad >= 0)
        throw new TokenRejectedError(
          `The token's "aud" claim must be ${shape}; its entry ${bad} is ${kindOf(aud[bad])}${aud[bad] === '' ? ' (empty)' : ''}.`,
        );
    } else if (!isNonEmptyString(aud)) {
      refuse('aud', shape, aud);
    }
  }
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const value = claims[name];
    if (value === undefined) continue;
    if (typeof value !== 'number') refuse(name, 'a number of seconds since 1970-01-01T00:00:00Z (a JSON number, not a string)', value);
    if (!Number.isFinite(value) || Math.abs(value) > MAX_NUMERIC_DATE) {
      throw new TokenRejectedError(
        `The token's "${name}" claim must be a number of seconds within ±${MAX_NUMERIC_DATE} (a date a clock can show); it is out of that range.`,
      );
    }
  }
}

/**
 * The scope entries of `scope` and `scp`, in that order. Throws {@link TokenRejectedError} for a
 * claim of another shape: `scope` an array (a list goes in `scp`), anything but strings in `scp`,
 * an `scp` entry holding spaces (two scopes where one is expected).
 */
export function scopeClaimEntries(claims: Readonly<Record<string, unknown>>): string[] {
  const { scope, scp } = claims;
  const entries: string[] = [];
  if (scope !== undefined) {
    if (typeof scope !== 'string') {
      refuse(
        'scope',
        'a string of space-separated scopes ("predict models:read")',
        scope,
        Array.isArray(scope) ? 'A list of scopes goes in "scp".' : '',
      );
    }
    entries.push(...splitScopes(scope));
  }
  if (scp !== undefined) {
    if (typeof scp === 'string') {
      entries.push(...splitScopes(scp));
    } else if (Array.isArray(scp)) {
      scp.forEach((entry: unknown, index) => {
        if (typeof entry !== 'string' || entry.length === 0 || /\s/.test(entry)) {
          const what = typeof entry === 'string' ? (entry.length === 0 ? 'empty' : 'a string with spaces') : kindOf(entry);
          throw new TokenRejectedError(
            `The token's "scp" claim must be an array of scopes, each a non-empty string without spaces; its entry ${index} is ${what}.`,
          );
        }
        entries.push(entry);
      });
    } else {
      refuse('scp', 'an array of scopes (or a string of space-separated scopes)', scp);
    }
  }
  return entries;
}

/**
 * Scopes separated by spaces (U+0020) only, as RFC 6749 §3.3 defines the list
 * (`scope-token *( SP scope-token )`): a tab, a newline or any other whitespace is part of a
 * scope token (which then names no scope of this API and is ignored), never a separator, so
 * `"models:read\tpredict"` grants nothing. Runs of spaces are tolerated.
 */
function splitScopes(text: string): string[] {
  return text.split(' ').filter(Boolean);
}

/**
 * The value of the claim that names the caller's API key (`AUTH_USAGE_KEY_CLAIM`): `undefined`
 * when the token has none (API Gateway then refuses it with 403 where a key is required); throws
 * {@link TokenRejectedError} when the claim is there in another shape than a non-empty string.
 */
export function usageKeyOf(claims: Readonly<Record<string, unknown>>, claim: string): string | undefined {
  if (!Object.hasOwn(claims, claim)) return undefined;
  const value = claims[claim];
  if (!isNonEmptyString(value)) {
    throw new TokenRejectedError(
      `The token's "${claim.slice(0, 64)}" claim (its API key) must be a non-empty string; it is ${kindOf(value)}${value === '' ? ' (empty)' : ''}.`,
    );
  }
  return value;
}
