/**
 * The request bodies we accept, and the safety checks every JSON body gets before it is parsed:
 * bounded depth and no `__proto__` keys.
 *
 * Every request form is checked cheapest first: its counts (rows, listed outputs, ranks) on the
 * lengths alone, then its envelope (zod, then the first unknown key, where a strict zod object
 * would collect them all), and only then its contents. zod never walks tensor data or objects
 * keyed by the caller (a zod array or record schema would visit, and copy, every element); rows
 * get one `typeof` each, once they are counted.
 */
import * as z from 'zod';
import { ValidationError, type FieldPath } from '../errors.js';
import { KIND_CHECK, describeValue, plainParse, refusalOf, sentence, unknownFieldDetail, unknownKeys, type Refusal } from '../messages.js';
import { MAX_V2_OUTPUTS_LISTED, MAX_V2_RANK, checkRowCount, pathExcerpt } from './limits.js';

/** What a refused record-form request is told to send instead. */
export const RECORD_HINT = 'Send {"features": {...}} for one row or {"instances": [...]} for many.';
/** What a refused v2 request is told to send instead. */
export const V2_HINT = 'Send {"inputs": [{"name", "shape", "datatype", "data"}]} (Open Inference Protocol v2).';

/**
 * A kind check's message (a custom check, or an array schema's own type): `must be <what>` for a
 * value of the wrong kind; for an absent one, and for a bound (an array's length), none, so that
 * the plain-words error map says it is required or what the bound is (`messages.ts`).
 */
const mustBe =
  (what: string) =>
  (issue: { readonly code?: string; readonly input?: unknown }): string | undefined =>
    issue.input === undefined || (issue.code !== 'custom' && issue.code !== 'invalid_type') ? undefined : `must be ${what}`;

/**
 * A JSON object (not an array, not null), accepted without visiting its keys; anything else is
 * refused as `must be <what> (got <what was sent>)` (`KIND_CHECK`).
 */
const plainObject = (what: string) =>
  z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
    error: mustBe(what),
    params: KIND_CHECK,
  });

/** A JSON array, accepted without visiting its elements; anything else is refused as `plainObject` refuses. */
const anyArray = (what: string) => z.custom<unknown[]>((v) => Array.isArray(v), { error: mustBe(what), params: KIND_CHECK });

/** `anyArray`, with at least one element (`must have at least one <one> (got an array of 0 items)`). */
const nonEmptyArray = (what: string, one: string) =>
  anyArray(what).refine((v) => v.length > 0, { message: `must have at least one ${one}` });

/** A `parameters` object, optional; `example` shows one the place takes. */
const parameters = (example: string) => plainObject(`an object of parameters such as ${example}`).optional();

/**
 * `{"features": {...}}` (one row) or `{"instances": [...]}` (many; objects or arrays). Rows are
 * checked only for being an object or an array, one `typeof` each; their keys and values are
 * the decoder's, which knows the model. Unknown top-level fields are refused by
 * `parseRecordRequest` (`checkFields`) once the schema passes.
 */
export const RecordRequestSchema = z.union([
  z.object({ features: plainObject('an object of named features') }),
  z.object({
    instances: z
      .array(
        z.custom<Record<string, unknown> | unknown[]>((v) => typeof v === 'object' && v !== null, {
          error: mustBe('an object of named features or an array of values'),
          params: KIND_CHECK,
        }),
        { error: mustBe('an array of records (objects of named features) or of rows (arrays of values)') },
      )
      .min(1),
  }),
]);
export type RecordRequest = z.infer<typeof RecordRequestSchema>;

const RECORD_FIELDS: ReadonlySet<string> = new Set(['features', 'instances']);
/** What an unknown field of a record body that is another form's field is told. */
const RECORD_NOTES: Readonly<Record<string, string>> = {
  inputs: 'that is the Open Inference Protocol form: POST it to /v2/models/{model}/infer',
};
/** What an unknown field of a v2 body that is a record form's field is told. */
const V2_NOTES: Readonly<Record<string, string>> = {
  features: 'that is the record form: POST it to /v1/models/{model}/predict, or send {"inputs": [...]} here',
  instances: 'that is the record form: POST it to /v1/models/{model}/predict, or send {"inputs": [...]} here',
};

/** A record request, validated and classified. */
export type ParsedRecordRequest =
  | { readonly kind: 'features'; readonly record: Record<string, unknown> }
  | { readonly kind: 'instances'; readonly rows: readonly unknown[]; readonly arrays: boolean };

/**
 * Validates a record-form body: the row count first, on `instances.length` alone (413
 * `TOO_MANY_ROWS` before any row is looked at), then the envelope, then each row's kind (object
 * or array, all the same).
 */
export function parseRecordRequest(body: unknown, maxRows: number, hint: string): ParsedRecordRequest {
  if (isObject(body) && Object.hasOwn(body, 'features') && Object.hasOwn(body, 'instances')) {
    throw new ValidationError('CONFLICTING_FIELDS', 'Send either "features" (one row) or "instances" (many), not both.', ['instances']);
  }
  if (isObject(body) && Object.hasOwn(body, 'instances') && Array.isArray(body['instances'])) {
    checkRowCount(body['instances'].length, maxRows, ['instances']);
  }
  // The common case, a non-empty list of objects or arrays, is checked in one loop; anything else
  // goes through the schema, whose error names what is wrong and where.
  const rows =
    instancesOf(body) ??
    (() => {
      const request = parseWith(RecordRequestSchema, body, hint, [], RECORD_FIELDS, RECORD_NOTES);
      return 'features' in request ? undefined : request.instances;
    })();
  checkFields(body, RECORD_FIELDS, [], hint, RECORD_NOTES);
  if (rows === undefined) return { kind: 'features', record: (body as { features: Record<string, unknown> }).features };
  const first = Array.isArray(rows[0]);
  for (let r = 1; r < rows.length; r++) {
    if (Array.isArray(rows[r]) !== first) {
      throw new ValidationError('MIXED_INSTANCES', 'Instances must be all objects or all arrays.', ['instances', r]);
    }
  }
  return { kind: 'instances', rows, arrays: first };
}

/** `body.instances` when it is a non-empty array of objects or arrays (what the schema accepts), else `undefined`. */
function instancesOf(body: unknown): readonly (Record<string, unknown> | unknown[])[] | undefined {
  if (!isObject(body) || !Object.hasOwn(body, 'instances') || Object.hasOwn(body, 'features')) return undefined;
  const rows = body['instances'];
  if (!Array.isArray(rows) || rows.length === 0) return undefined;
  for (let r = 0; r < rows.length; r++) {
    const row: unknown = rows[r];
    if (typeof row !== 'object' || row === null) return undefined;
  }
  return rows as (Record<string, unknown> | unknown[])[];
}

/**
 * One tensor of an Open Inference Protocol v2 request. `data` is only checked to be an array
 * here (the decoder checks its length against `shape`, then its values); `shape` is at most
 * 64 dimensions long, checked before they are read. Unknown fields: `V2_INPUT_FIELDS`.
 */
export const V2InputSchema = z.object({
  name: z.string().min(1),
  shape: z
    .array(
      // A dimension of 0 is a tensor without values: models fail on it (ONNX Runtime's MatMul, for one), so it is the caller's 400, never our 500.
      z
        .number()
        .int()
        .min(1, { error: 'must be at least 1: a tensor with a dimension of 0 holds no values, and a model cannot run on it' }),
      { error: mustBe('an array of dimension sizes (whole numbers), such as [1, 4]') },
    )
    .max(MAX_V2_RANK),
  datatype: z.string().min(1),
  /** Absent when the elements come as bytes (`parameters.binary_data_size`) or by reference (`parameters.data_ref`). */
  data: anyArray('an array of values (flat in row-major order, or nested as the shape)').optional(),
  parameters: parameters('{"binary_data_size": 16}'),
});
export const V2_INPUT_FIELDS: ReadonlySet<string> = new Set(Object.keys(V2InputSchema.shape));

/** One entry of a v2 request's `outputs`. */
export const V2OutputSchema = z.object({ name: z.string().min(1), parameters: parameters('{"binary_data": true}') });
const V2_OUTPUT_FIELDS: ReadonlySet<string> = new Set(Object.keys(V2OutputSchema.shape));

/**
 * Open Inference Protocol v2 inference request. Its `inputs` entries are checked one by one by
 * the decoder against the model (`V2InputSchema`), so a list longer than the model's inputs is
 * refused at its first unknown or repeated entry without the rest being read; `outputs` lists
 * at most 1,024 entries (`MAX_V2_OUTPUTS_LISTED`), counted before any is read.
 */
export const V2RequestSchema = z.object({
  id: z.string().max(256).optional(),
  parameters: parameters('{"binary_data_output": true}'),
  inputs: nonEmptyArray('an array of input tensors ({"name", "shape", "datatype", "data"})', 'input tensor'),
  outputs: z
    .array(z.unknown(), { error: mustBe('an array of the outputs asked for ({"name": …})') })
    .max(MAX_V2_OUTPUTS_LISTED)
    .optional(),
});
export type V2Request = z.infer<typeof V2RequestSchema>;
const V2_FIELDS: ReadonlySet<string> = new Set(Object.keys(V2RequestSchema.shape));

/** A v2 body, its envelope validated; `inputs` entries are left to `decodeV2`. */
export interface ParsedV2Request {
  readonly id?: string;
  readonly inputs: readonly unknown[];
  /** The output names asked for, in order (repeats kept); `undefined` asks for all. */
  readonly outputs?: readonly string[];
  /** `parameters.binary_data_output`: every output as binary data. */
  readonly binaryOutput: boolean;
  /** Outputs asked for as binary data one by one (`outputs[i].parameters.binary_data: true`). */
  readonly binaryOutputs: ReadonlySet<string>;
  /** Outputs asked for as JSON one by one (`binary_data: false`), whatever `binaryOutput` says. */
  readonly jsonOutputs: ReadonlySet<string>;
}

/** A boolean parameter of the binary extension, or `false` when absent. */
function flag(parameters: Record<string, unknown> | undefined, name: string, at: FieldPath): boolean {
  if (!parameters || !Object.hasOwn(parameters, name)) return false;
  const value = parameters[name];
  if (typeof value !== 'boolean') {
    throw new ValidationError('WRONG_TYPE', `${name} must be true or false (got ${describeValue(value)}).`, [...at, 'parameters', name]);
  }
  return value;
}

/** Validates a v2 body's envelope and its `outputs` entries. */
export function parseV2Request(body: unknown, hint: string): ParsedV2Request {
  const request = parseWith(V2RequestSchema, body, hint, [], V2_FIELDS, V2_NOTES);
  checkFields(body, V2_FIELDS, [], hint, V2_NOTES);
  const binaryOutputs = new Set<string>();
  const jsonOutputs = new Set<string>();
  const outputs = request.outputs?.map((entry, i) => {
    const output = parseObject(V2OutputSchema, V2_OUTPUT_FIELDS, entry, hint, ['outputs', i]);
    if (output.parameters && Object.hasOwn(output.parameters, 'binary_data')) {
      (flag(output.parameters, 'binary_data', ['outputs', i]) ? binaryOutputs : jsonOutputs).add(output.name);
    }
    return output.name;
  });
  return {
    ...(request.id === undefined ? {} : { id: request.id }),
    inputs: request.inputs,
    ...(outputs ? { outputs } : {}),
    binaryOutput: flag(request.parameters, 'binary_data_output', []),
    binaryOutputs,
    jsonOutputs,
  };
}

/** `parseWith`, then `checkFields`: an object schema's own errors first, then its unknown keys. */
export function parseObject<T>(schema: z.ZodType<T>, fields: ReadonlySet<string>, value: unknown, hint: string, at: FieldPath): T {
  const parsed = parseWith(schema, value, hint, at, fields);
  checkFields(value, fields, at, hint);
  return parsed;
}

/**
 * Refuses the first key of `value` (when it is an object) that is not in `allowed`, with 400
 * `UNKNOWN_FIELD` quoting an excerpt of it, the closest allowed field and the allowed ones.
 * Stops at that key (and the few after it that the message names), where a strict zod object
 * would collect every unknown key (an object of a million keys costs a million issues). Runs
 * after the (non-strict) schema passed, so a malformed field is reported first.
 * `notes`: what to say of a particular unknown key instead of a suggestion.
 */
export function checkFields(
  value: unknown,
  allowed: ReadonlySet<string>,
  at: FieldPath,
  hint: string,
  notes?: Readonly<Record<string, string>>,
): void {
  if (!isObject(value)) return;
  for (const key in value) {
    if (Object.hasOwn(value, key) && !allowed.has(key)) throw unknownField(value, allowed, at, hint, notes);
  }
}

/** 400 `UNKNOWN_FIELD` for the first keys of `value` not in `allowed`, at the first one's path. */
function unknownField(
  value: Record<string, unknown>,
  allowed: ReadonlySet<string>,
  at: FieldPath,
  hint: string,
  notes?: Readonly<Record<string, string>>,
): ValidationError {
  const keys = unknownKeys(value, allowed);
  return refusal({ kind: 'unknown', path: [keys[0] ?? ''], detail: unknownFieldDetail(keys, [...allowed], value, notes) }, at, hint);
}

/** A refusal of the body at `at` as the API's error: `MISSING_FIELD`, `UNKNOWN_FIELD` or `INVALID_REQUEST`. */
function refusal(found: Refusal, at: FieldPath, hint: string): ValidationError {
  const code = found.kind === 'missing' ? 'MISSING_FIELD' : found.kind === 'unknown' ? 'UNKNOWN_FIELD' : 'INVALID_REQUEST';
  return new ValidationError(code, `${sentence(found, at)}. ${hint}`, pathExcerpt([...at, ...found.path]));
}

/** A JSON object: not null, not an array. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses with `schema`, turning the first zod issue into a ValidationError with its path (under
 * `at`, where `value` sits in the body), in plain words (`messages.ts`): 400 `MISSING_FIELD`,
 * `UNKNOWN_FIELD` (a strict object's undeclared key, or with `fields`, the fields a non-strict
 * schema allows, a key outside them where a field is missing: its misspelling) or
 * `INVALID_REQUEST`, each naming what was sent and what would be right, then `hint`. Keys in the
 * path and the message are excerpts.
 */
export function parseWith<T>(
  schema: z.ZodType<T>,
  value: unknown,
  hint: string,
  at: FieldPath = [],
  fields?: ReadonlySet<string>,
  notes?: Readonly<Record<string, string>>,
): T {
  const result = plainParse(schema, value);
  if (result.success) return result.data;
  throw toValidationError(result.issues, value, hint, at, fields, notes);
}

function toValidationError(
  issues: readonly z.core.$ZodIssue[],
  value: unknown,
  hint: string,
  at: FieldPath,
  fields: ReadonlySet<string> | undefined,
  notes: Readonly<Record<string, string>> | undefined,
): ValidationError {
  const found = refusalOf(issues, value);
  // A field of this object is absent and a key it does not take is there: report the key (a
  // misspelling such as "instance" for "instances", or another form's field), not the absence.
  if (found.kind === 'missing' && fields && found.path.length === 1 && isObject(value) && unknownKeys(value, fields, 1).length > 0) {
    return unknownField(value, fields, at, hint, notes);
  }
  return refusal(found, at, hint);
}

/** Character codes the scan stops at. */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
/**
 * Longest JSON string token that can decode to `__proto__`: 9 characters, each at most a
 * 6-character `\uXXXX` escape, plus the quotes. Longer keys are never decoded by the scan.
 */
const LONGEST_PROTO_TOKEN = 9 * 6 + 2;

/**
 * Reads a body's JSON text once, before it is parsed, and refuses it when it nests deeper than
 * `maxDepth` (400 `JSON_TOO_DEEP`) or has a `__proto__` key, however it is escaped (400
 * `FORBIDDEN_KEY`: JSON.parse makes it an own property, which some consumers of the object
 * would turn into a prototype change). The path of the error leads to the offending level or key,
 * keys cut to excerpts.
 *
 * Cost: one pass over the characters outside strings and one `indexOf` per string, nothing
 * allocated unless the body fails; no parsed value is walked, so a body of 580,000 rows costs
 * the scan a fraction of what JSON.parse costs (docs/BENCHMARKS.md, section 8). Malformed text
 * is left to JSON.parse: the scan only looks at brackets, quotes, commas and colons.
 */
export function checkJsonSafety(text: string, maxDepth: number): void {
  // The common case, a safe body, takes the fast pass alone; the slow pass, which tracks keys and
  // array positions for the error's path, runs only on a body the fast pass found unsafe.
  if (looksSafe(text, maxDepth)) return;
  locateUnsafe(text, maxDepth);
}

/**
 * One pass that only counts depth and looks at each string token: the regular expression skips
 * numbers, commas and whitespace in native code (several times faster than a loop over every
 * character on number-heavy bodies). `false` when the body nests deeper than `maxDepth` or a
 * string token that could decode to `__proto__` is followed by a colon.
 */
function looksSafe(text: string, maxDepth: number): boolean {
  // Brackets, braces and quotes: the only characters the fast pass stops at (a fresh regular
  // expression per call: its lastIndex is this scan's position).
  const structural = /["[\]{}]/g;
  let depth = 0;
  for (let match = structural.exec(text); match !== null; match = structural.exec(text)) {
    const at = match.index;
    const c = text.charCodeAt(at);
    if (c === QUOTE) {
      let end = text.indexOf('"', at + 1);
      while (end !== -1 && escaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) return true; // unterminated: JSON.parse reports it
      if (mayBeProtoKey(text, at, end + 1) && followedByColon(text, end + 1)) return false;
      structural.lastIndex = end + 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return false;
    } else {
      depth--;
    }
  }
  return true;
}

/** Whether the token `text[start, end)` has a length `__proto__` can be written in and is it (or holds an escape). */
function mayBeProtoKey(text: string, start: number, end: number): boolean {
  const length = end - start;
  if (length === 11) return text.startsWith('"__proto__"', start);
  if (length < 11 || length > LONGEST_PROTO_TOKEN) return false;
  for (let i = start + 1; i < end - 1; i++) if (text.charCodeAt(i) === BACKSLASH) return true;
  return false;
}

/** Whether the first character from `from` that is not JSON whitespace is a colon. */
function followedByColon(text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c === COLON;
  }
  return false;
}

/** The slow pass: finds where the body is unsafe and throws the error with its path. */
function locateUnsafe(text: string, maxDepth: number): void {
  // Per open container (at most maxDepth of them): object or array, the element index of an
  // array, and where the current key's token starts and ends in an object.
  const isObject: boolean[] = [];
  const index: number[] = [];
  const keyStart: number[] = [];
  const keyEnd: number[] = [];
  let depth = 0;
  let lastStringStart = -1;
  let lastStringEnd = -1;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      let end = text.indexOf('"', i + 1);
      // A quote preceded by an odd number of backslashes is inside the string.
      while (end !== -1 && escaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) return; // unterminated: JSON.parse reports it
      lastStringStart = start;
      lastStringEnd = end + 1;
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (depth >= maxDepth) {
        throw new ValidationError(
          'JSON_TOO_DEEP',
          `The body nests deeper than ${maxDepth} levels.`,
          pathExcerpt(pathOf(text, depth, isObject, index, keyStart, keyEnd)),
        );
      }
      isObject[depth] = c === OPEN_BRACE;
      index[depth] = 0;
      keyStart[depth] = -1;
      keyEnd[depth] = -1;
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth > 0) depth--;
    } else if (c === COMMA) {
      if (depth > 0 && !isObject[depth - 1]) index[depth - 1] = (index[depth - 1] as number) + 1;
    } else if (c === COLON && depth > 0 && isObject[depth - 1] && lastStringEnd > lastStringStart) {
      keyStart[depth - 1] = lastStringStart;
      keyEnd[depth - 1] = lastStringEnd;
      if (isProtoKey(text, lastStringStart, lastStringEnd)) {
        throw new ValidationError(
          'FORBIDDEN_KEY',
          'The key "__proto__" is not allowed anywhere in a request.',
          pathExcerpt(pathOf(text, depth, isObject, index, keyStart, keyEnd)),
        );
      }
    }
  }
}

/** Whether the quote at `at` is escaped: preceded by an odd number of backslashes. */
function escaped(text: string, at: number): boolean {
  let count = 0;
  for (let j = at - 1; j >= 0 && text.charCodeAt(j) === BACKSLASH; j--) count++;
  return count % 2 === 1;
}

/** Whether the string token `text[start, end)` (quotes included) decodes to `__proto__`. */
function isProtoKey(text: string, start: number, end: number): boolean {
  const tokenLength = end - start;
  if (tokenLength === 11) return text.startsWith('"__proto__"', start);
  if (tokenLength < 11 || tokenLength > LONGEST_PROTO_TOKEN) return false;
  return text.slice(start, end).includes('\\') && decodeKey(text, start, end) === '__proto__';
}

/** The key token `text[start, end)` as a string (the raw text between the quotes if it is not valid JSON). */
function decodeKey(text: string, start: number, end: number): string {
  const token = text.slice(start, end);
  try {
    return JSON.parse(token) as string;
  } catch {
    return token.slice(1, -1);
  }
}

/** The path to the container about to open at `depth` (its parent's key or index, and theirs). */
function pathOf(text: string, depth: number, isObject: boolean[], index: number[], keyStart: number[], keyEnd: number[]): FieldPath {
  const path: (string | number)[] = [];
  for (let d = 0; d < depth; d++) {
    if (isObject[d]) {
      const start = keyStart[d] as number;
      // A key of a megabyte is decoded from its first characters only: the path shows an excerpt.
      if (start >= 0) path.push(decodeKey(text, start, Math.min(keyEnd[d] as number, start + 256)));
    } else {
      path.push(index[d] as number);
    }
  }
  return path;
}
