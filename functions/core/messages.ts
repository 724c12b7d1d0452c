/**
 * How a refusal words what the caller sent and what would be right, in one place: every zod
 * issue our schemas raise becomes a plain predicate on the field ("must be a whole number (got
 * 2.5)", "must be at most 100 (got 250)", "must be one of: "a", "b" (got "c")", "is unknown (did
 * you mean "instances"?); the fields are: features, instances"), never the validation library's
 * own wording; and a name the caller got wrong (a field, a feature, an input) is answered with
 * the closest name that would be right.
 *
 * Use: `plainParse(schema, value)`, then `refusalOf(issues, value)` picks the issue to report
 * and says it; `sentence` puts the field in front. Messages quote what was sent only as a short
 * excerpt (strings cut to 40 characters, arrays and objects by their size), so a refusal never
 * echoes a body.
 *
 * Costs nothing on a valid value: `plainParse` parses as a bare `safeParse` does (zod's parse
 * with any context is several times slower, 2 to 4 µs per call, so the context that words the
 * issues is given only to a second parse of a value already refused), and the names are compared
 * only when a refusal is being worded (at most 1,000 candidates of at most 256 characters, with
 * a bounded edit distance).
 */
import type * as z from 'zod';
import { excerpt, nameList, pathExcerpt } from './codec/limits.js';
import { type FieldPath, formatPath } from './errors.js';

/** Characters of a string value a message quotes. */
const SHOWN_CHARS = 40;
/** Unknown keys a message names before it counts the rest. */
const SHOWN_KEYS = 3;
/** Names compared against a misspelt one, at most (the first ones given). */
const MAX_CANDIDATES = 1_000;
/** Longest name compared: a longer one is no typo of any name a model or a schema declares. */
const MAX_COMPARED_CHARS = 256;

/** What the error map says of a field that is absent. */
export const REQUIRED = 'is required';
/** What it says of a value no branch of a union takes (the branches' own issues say more). */
const NO_FORM = 'does not match any accepted form';

/**
 * A value as a message names what was sent: `2.5`, `"text"` (cut to 40 characters, the rest
 * counted), `null`, `true`, `an array of 3 items`, `an object`, `nothing`.
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = JSON.stringify(value.slice(0, SHOWN_CHARS));
    return value.length > SHOWN_CHARS ? `${shown}… (${value.length - SHOWN_CHARS} more characters)` : shown;
  }
  if (Array.isArray(value)) return `an array of ${count(value.length, 'item')}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return `a ${typeof value}`;
}

/** `1 item`, `3 items`, with thousands separated: `1,500 characters`. */
function count(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
}

/** `"a", "b"`: names quoted as excerpts. */
function quotedNames(names: readonly string[]): string {
  return names.map((name) => `"${excerpt(name)}"`).join(', ');
}

/**
 * The edit distance between `a` and `b` (insertions, deletions, substitutions and swaps of two
 * neighbours each count 1), or `bound + 1` as soon as it must exceed `bound`.
 */
function editDistance(a: string, b: string, bound: number): number {
  if (Math.abs(a.length - b.length) > bound) return bound + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let least = i;
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] as number) + 1);
      current[j] = d;
      least = Math.min(least, d);
    }
    if (least > bound) return bound + 1;
    before = previous;
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The name among `candidates` that `word` most likely misspells: the same but for case, a few
 * edits away (at most a third of the longer name's length, and none for names under 3
 * characters), or one that starts with the other (`sepal_length` for `sepal_length_cm`, 4
 * characters or more). Ties go to the earlier candidate; `undefined` when none is close.
 */
export function closestName(word: string, candidates: Iterable<string>): string | undefined {
  if (word.length === 0 || word.length > MAX_COMPARED_CHARS) return undefined;
  const wanted = word.toLowerCase();
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  let compared = 0;
  for (const candidate of candidates) {
    if (++compared > MAX_CANDIDATES) break;
    if (candidate === word || candidate.length === 0 || candidate.length > MAX_COMPARED_CHARS) continue;
    const name = candidate.toLowerCase();
    const longer = Math.max(wanted.length, name.length);
    const bound = longer < 3 ? 0 : Math.max(1, Math.floor(longer / 3));
    let score = name === wanted ? 0 : editDistance(wanted, name, bound);
    if (score > bound) {
      const prefix = Math.min(wanted.length, name.length) >= 4 && (name.startsWith(wanted) || wanted.startsWith(name));
      score = prefix ? bound + 0.5 : Number.POSITIVE_INFINITY;
    }
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/** ` (did you mean "x"?)`, or nothing when no candidate is close (see `closestName`). */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const closest = closestName(word, candidates);
  return closest === undefined ? '' : ` (did you mean "${excerpt(closest)}"?)`;
}

/**
 * What a message says of keys an object may not have, after the first one's path: `is unknown
 * (did you mean "instances"?); the fields are: features, instances`, and `; also unknown: "b",
 * "c"` when there are more. The suggestion prefers a field the object lacks (`present`: its own
 * keys), then any field. `note`, when it has a line for the first key, replaces the suggestion
 * (`inputs` sent to the record form is the other protocol, not a typo).
 */
export function unknownFieldDetail(
  keys: readonly string[],
  accepted: readonly string[],
  present?: object,
  note?: Readonly<Record<string, string>>,
): string {
  const [first = '', ...others] = keys;
  const absent = present ? accepted.filter((name) => !Object.hasOwn(present, name)) : accepted;
  const special = note && Object.hasOwn(note, first) ? ` (${note[first]})` : undefined;
  const suggestion = special ?? (didYouMean(first, absent) || didYouMean(first, accepted));
  const fields = accepted.length > 0 ? `; the fields are: ${nameList(accepted)}` : '; no field is allowed here';
  const more =
    others.length === 0
      ? ''
      : `; also unknown: ${quotedNames(others.slice(0, SHOWN_KEYS))}${others.length > SHOWN_KEYS ? ` and ${others.length - SHOWN_KEYS} more` : ''}`;
  return `is unknown${suggestion}${fields}${more}`;
}

/**
 * Own keys of `value` that are not in `allowed`, the first `limit` of them (in the object's key
 * order); none for a value that is not a plain object.
 */
export function unknownKeys(value: unknown, allowed: ReadonlySet<string>, limit = SHOWN_KEYS + 1): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const found: string[] = [];
  for (const key in value) {
    if (Object.hasOwn(value, key) && !allowed.has(key)) {
      found.push(key);
      if (found.length >= limit) break;
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// zod issues in plain words

type RawIssue = z.core.$ZodRawIssue;
type Issue = z.core.$ZodIssue;

/** The keys an object schema declares (the schema that raised `unrecognized_keys`). */
function declaredKeys(inst: unknown): string[] {
  const shape = (inst as { _zod?: { def?: { shape?: unknown } } } | undefined)?._zod?.def?.shape;
  return shape !== null && typeof shape === 'object' ? Object.keys(shape) : [];
}

/** `"a"`, `1`, `true`, `null`: a literal as JSON writes it. */
function literal(value: unknown): string {
  return typeof value === 'string' ? `"${excerpt(value)}"` : typeof value === 'bigint' ? String(value) : String(JSON.stringify(value));
}

/** What a value of zod's `expected` type is, in words. */
const KINDS: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  bigint: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  record: 'an object',
  array: 'an array',
  tuple: 'an array',
  null: 'null',
  date: 'a date',
};

/** `must be at most 100`, `must be at most 40 characters long`, `must have at most 3 items`. */
function bound(issue: { origin: string; inclusive?: boolean; exact?: boolean }, limit: number | bigint, most: boolean): string {
  const n = typeof limit === 'bigint' ? limit.toString() : limit.toLocaleString('en-US', { maximumFractionDigits: 20 });
  const exact = issue.exact === true;
  const inclusive = issue.inclusive !== false;
  const relation = exact ? 'exactly' : most ? (inclusive ? 'at most' : 'less than') : inclusive ? 'at least' : 'more than';
  switch (issue.origin) {
    case 'string':
      if (!most && !exact && inclusive && Number(limit) === 1) return 'must not be empty';
      return `must be ${relation} ${count(Number(limit), 'character')} long`;
    case 'array':
    case 'set':
      if (!most && !exact && inclusive && Number(limit) === 1) return 'must have at least one item';
      return `must have ${relation} ${count(Number(limit), 'item')}`;
    case 'file':
      return `must be ${relation} ${count(Number(limit), 'byte')}`;
    case 'date':
      return `must be ${most ? (inclusive ? 'no later than' : 'before') : inclusive ? 'no earlier than' : 'after'} ${new Date(Number(limit)).toISOString()}`;
    default:
      return exact ? `must be exactly ${n}` : `must be ${relation === 'more than' ? 'greater than' : relation} ${n}`;
  }
}

/** What a string format asks for, in words. */
const FORMATS: Readonly<Record<string, string>> = {
  email: 'must be an email address',
  url: 'must be a URL',
  uuid: 'must be a UUID such as "123e4567-e89b-12d3-a456-426614174000"',
  guid: 'must be a GUID such as "123e4567-e89b-12d3-a456-426614174000"',
  base64: 'must be base64 text',
  base64url: 'must be base64url text',
  datetime: 'must be an ISO-8601 date and time such as "2026-12-01T09:00:00Z"',
  date: 'must be a date such as "2026-12-01"',
  time: 'must be a time such as "09:00:00"',
  duration: 'must be an ISO-8601 duration such as "PT1H"',
  ipv4: 'must be an IPv4 address',
  ipv6: 'must be an IPv6 address',
  jwt: 'must be a JSON Web Token',
  e164: 'must be a phone number in E.164 form such as "+14155550123"',
};

/**
 * A zod error map: each issue as a plain predicate on its field, saying what would be right.
 * An absent field is `REQUIRED`; a key an object schema does not declare is `unknownFieldDetail`
 * (with the closest declared key). Messages a schema gives itself (`{ error: '…' }`) win over
 * these, as zod applies them first.
 */
export function plainPredicate(issue: RawIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return REQUIRED;
      if (issue.expected === 'number' && typeof issue.input === 'number')
        return Number.isNaN(issue.input) ? 'must be a number' : 'must be a finite number';
      const kind = KINDS[issue.expected];
      return kind ? `must be ${kind}` : issue.expected === 'never' ? 'is not allowed here' : `must be of type ${issue.expected}`;
    }
    case 'too_big':
      return bound(issue, issue.maximum, true);
    case 'too_small':
      return bound(issue, issue.minimum, false);
    case 'invalid_format': {
      const format = issue as { format: string; pattern?: string; prefix?: string; suffix?: string; includes?: string };
      if (format.format === 'starts_with' && format.prefix !== undefined) return `must start with "${format.prefix}"`;
      if (format.format === 'ends_with' && format.suffix !== undefined) return `must end with "${format.suffix}"`;
      if (format.format === 'includes' && format.includes !== undefined) return `must contain "${format.includes}"`;
      if (format.format === 'regex' && format.pattern !== undefined) return `must match the pattern ${format.pattern}`;
      return FORMATS[format.format] ?? `must be a valid ${format.format}`;
    }
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'unrecognized_keys':
      return unknownFieldDetail(issue.keys, declaredKeys(issue.inst), issue.input as object | undefined);
    case 'invalid_union': {
      const options = (issue as { options?: readonly unknown[] }).options;
      if (issue.input === undefined) return REQUIRED;
      if (options && options.length > 0) return `must be one of: ${options.slice(0, 10).map(literal).join(', ')}`;
      return NO_FORM;
    }
    case 'invalid_key':
      return `is not an allowed key${issue.issues[0] ? `: it ${issue.issues[0].message}` : ''}`;
    case 'invalid_element':
      return 'holds an element that is not allowed';
    case 'invalid_value': {
      if (issue.input === undefined) return REQUIRED;
      const shown = issue.values.slice(0, 10).map(literal).join(', ');
      const rest = issue.values.length > 10 ? `, … and ${issue.values.length - 10} more` : '';
      return issue.values.length === 1 ? `must be ${shown}` : `must be one of: ${shown}${rest}`;
    }
    case 'custom':
      return issue.input === undefined ? REQUIRED : 'is not valid here';
    default:
      return 'is not valid here';
  }
}

/**
 * The parse context that words every issue plainly: `schema.safeParse(value, PLAIN_WORDS)`.
 * It also keeps each issue's input (`reportInput`), so that the refusal can say what was sent.
 * Any context slows zod's parse down: give it to a value already refused (`plainParse`).
 */
export const PLAIN_WORDS = { error: plainPredicate, reportInput: true } as const satisfies z.core.ParseContext<Issue>;

/**
 * `schema.safeParse(value)`, and for a value it refuses, its issues in plain words (a second
 * parse under `PLAIN_WORDS`): a valid value costs one bare parse, as before.
 */
export function plainParse<T>(
  schema: z.ZodType<T>,
  value: unknown,
): { readonly success: true; readonly data: T } | { readonly success: false; readonly issues: readonly Issue[] } {
  const first = schema.safeParse(value);
  if (first.success) return { success: true, data: first.data };
  const worded = schema.safeParse(value, PLAIN_WORDS);
  return { success: false, issues: worded.success ? first.error.issues : worded.error.issues };
}

/** One issue, worded: what kind of refusal, where (from the parsed value's root), and what to say of the field. */
export interface Refusal {
  /** `missing`: the field is absent; `unknown`: a key nothing declares; `invalid`: any other. */
  readonly kind: 'missing' | 'unknown' | 'invalid';
  /** The field's path; for `unknown`, the path to the (first) unknown key. Keys are the caller's, uncut. */
  readonly path: readonly (string | number)[];
  /** A predicate on the field: `must be at most 100 (got 250)`, `is required`, `is unknown (…)`. */
  readonly detail: string;
}

/** The value at `path` in `value`, own properties only. */
function valueAt(value: unknown, path: readonly (string | number)[]): unknown {
  let node = value;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}

/**
 * The `params` of a custom check that tests what kind of value a field holds (an object, an
 * array; `z.custom(test, { error, params: KIND_CHECK })`), where zod's own array or record type
 * would visit every element: its refusal says what was sent, as a type's does (`must be an
 * object of named features (got an array of 2 items)`). Any other check on an object or an array
 * (a rule between its fields) is refused without quoting it: `(got an object)` would say nothing.
 */
export const KIND_CHECK: Readonly<Record<string, unknown>> = Object.freeze({ kindCheck: true });

/** Whether `issue` is a kind check's (`KIND_CHECK`). */
function isKindCheck(issue: Issue): boolean {
  return issue.code === 'custom' && issue.params?.['kindCheck'] === true;
}

/** ` (got …)`: what was sent, as the issue's kind makes it useful; nothing when it says nothing. */
function sentPart(issue: Issue, sent: unknown): string {
  if (sent === undefined) return '';
  if ((issue.code === 'too_big' || issue.code === 'too_small') && typeof sent === 'string')
    return ` (got ${count(sent.length, 'character')})`;
  if ((issue.code === 'too_big' || issue.code === 'too_small') && Array.isArray(sent)) return ` (got ${count(sent.length, 'item')})`;
  if ((issue.code === 'custom' || issue.code === 'invalid_union') && !isKindCheck(issue) && typeof sent === 'object' && sent !== null)
    return '';
  return ` (got ${describeValue(sent)})`;
}

/** `is required: it must be …` for a predicate on the absent field; a message that says something else stands alone. */
function requiredDetail(message: string): string {
  if (message === REQUIRED) return REQUIRED;
  return message.startsWith('must ') ? `${REQUIRED}: it ${message}` : message;
}

/**
 * One issue (finalized by a parse under `PLAIN_WORDS`) as a refusal. `root` is the value that
 * was parsed: a check's issue (`refine`, `superRefine`) names its field by path, and what was
 * sent there is read from `root`. `quote: false` leaves out what was sent (a variable of the
 * environment may hold a secret).
 */
export function describeIssue(issue: Issue, root: unknown, quote = true): Refusal {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') return { kind: 'unknown', path: [...path, issue.keys[0] ?? ''], detail: issue.message };
  // A check's issue (and a union's, which holds the whole object) names its field by path only;
  // but a check on a value a transform made (`"a"` read as `["a"]`) has no field at its path,
  // and its input, a plain value, is what was sent.
  const byPath = issue.code === 'custom' || issue.code === 'invalid_union';
  const input = (issue as { input?: unknown }).input;
  const atPath = valueAt(root, path);
  const sent = !byPath ? input : atPath === undefined && input !== null && typeof input !== 'object' ? input : atPath;
  const absent = sent === undefined && atPath === undefined;
  // Absent, and a type, a union, a set of values or a check asked for it: it is required.
  if (
    absent &&
    issue.code !== 'too_small' &&
    issue.code !== 'too_big' &&
    issue.code !== 'invalid_format' &&
    issue.code !== 'not_multiple_of'
  ) {
    return { kind: 'missing', path, detail: requiredDetail(issue.message) };
  }
  if (issue.code === 'invalid_key' || !quote) return { kind: 'invalid', path, detail: issue.message };
  return { kind: 'invalid', path, detail: `${issue.message}${sentPart(issue, sent)}` };
}

/**
 * Every issue, a union's branches brought up with their full paths; but a union that says
 * itself what it takes (a schema's own message) stays one issue. Of a union's branches, those
 * that refused a field the caller sent (below `root`) are kept over those that only found their
 * own field absent: `{"instances": {…}}` is a wrong `instances`, not a missing `features`.
 */
function flattenIssues(issues: readonly Issue[], root: unknown): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    if (issue.code === 'invalid_union' && issue.errors.length > 0 && (issue.message === NO_FORM || issue.message === REQUIRED)) {
      const branches = issue.errors.map((branch) =>
        flattenIssues(
          branch.map((i) => ({ ...i, path: [...issue.path, ...i.path] }) as Issue),
          root,
        ),
      );
      const reached = branches.filter((branch) => branch.some((i) => i.path.length > issue.path.length && sentAt(root, i.path)));
      for (const branch of reached.length > 0 ? reached : branches) out.push(...branch);
    } else {
      out.push(issue);
    }
  }
  return out.length > 0 ? out : [...issues];
}

/** Whether the caller sent a value at `path` in `root`. */
function sentAt(root: unknown, path: readonly PropertyKey[]): boolean {
  return !path.some((p) => typeof p === 'symbol') && valueAt(root, path as (string | number)[]) !== undefined;
}

/**
 * The one issue to report of a failed parse, worded: of a union's branches, the one that got
 * furthest (the longest path; the first of equals); but a field reported absent where the same
 * object has a key nothing declares is that key's misspelling, and the unknown key is reported.
 */
export function refusalOf(issues: readonly Issue[], root: unknown): Refusal {
  const all = flattenIssues(issues, root);
  const chosen = all.reduce((a, b) => (b.path.length > a.path.length ? b : a));
  const refusal = describeIssue(chosen, root);
  if (refusal.kind !== 'missing') return refusal;
  const parent = refusal.path.slice(0, -1);
  const unknown = all.find(
    (issue) => issue.code === 'unrecognized_keys' && issue.path.length === parent.length && issue.path.every((p, i) => p === parent[i]),
  );
  return unknown ? describeIssue(unknown, root) : refusal;
}

/**
 * Every problem of a failed parse of the environment, for a cold start's error: `MAX_ROWS: must
 * be a whole number; REGISTRY_TABLE: is required`. What a variable holds is never quoted (it may
 * be a secret).
 */
export function environmentProblems(issues: readonly Issue[], env: unknown): string {
  return everyRefusal(issues, env, false)
    .map((refusal) => `${formatPath(refusal.path) || 'environment'}: ${refusal.detail}`)
    .join('; ');
}

/**
 * Every issue of a failed parse (under `PLAIN_WORDS`: `plainParse`) as a refusal, a union's
 * branches brought up as `refusalOf` brings them up: for a report that lists every problem (the
 * environment, a config file) rather than the first. `quote: false` leaves out what was sent.
 */
export function everyRefusal(issues: readonly Issue[], root: unknown, quote = true): Refusal[] {
  return flattenIssues(issues, root).map((issue) => describeIssue(issue, root, quote));
}

/**
 * A refusal as a sentence (no final stop): `Field "limits.max" must be at most 100 (got 250)`,
 * `The body must be an object (got null)`. `at` is where the parsed value sits in the request;
 * keys in the path are cut to excerpts (`pathExcerpt`).
 */
export function sentence(refusal: Refusal, at: FieldPath = []): string {
  const path = formatPath(pathExcerpt([...at, ...refusal.path]));
  return `${path ? `Field "${path}"` : 'The body'} ${refusal.detail}`;
}
