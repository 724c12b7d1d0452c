/**
 * Answer examples of the API's documents (`GET /openapi.json` and each model's own): what a
 * route answers to the request example of the same name. An answer holds parts no document can
 * know in advance (request ids, timestamps, processing times, the Lambda version that served), so
 * every answer example says which parts are exact, as OpenAPI Specification Extensions of its
 * Example Object:
 * - `x-fixed`: JSON Pointers (RFC 6901) into `value` of the parts the route answers exactly
 *   (`""` is the whole value, `/predictions` one field); every other field is an example of its
 *   kind and differs from call to call;
 * - `x-tolerance`: how far a number under those parts may be from the one shown (absolute; a
 *   golden input's tolerance), when they may differ at all.
 *
 * `test/integration/openapi.test.ts` sends every request example and compares the answer's
 * fixed parts with the example's.
 */

/** A request id, as an example (each answer has its own). */
export const EXAMPLE_REQUEST_ID = '00000000-0000-4000-8000-000000000000';

/** An ISO-8601 UTC timestamp, as an example (each answer has its own). */
export const EXAMPLE_TIMESTAMP = '2026-01-01T00:00:00.000Z';

/** The Lambda version that served, as an example: `$LATEST` outside a release, else a number. */
export const EXAMPLE_FUNCTION_VERSION = '$LATEST';

/** A processing time in milliseconds, as an example. */
export const EXAMPLE_PROCESSING_MS = 1.5;

/** An answer example: an OpenAPI Example Object with the extensions above. */
export interface AnswerExample {
  readonly summary: string;
  readonly description: string;
  readonly value: unknown;
  readonly 'x-fixed': readonly string[];
  readonly 'x-tolerance'?: number;
}

/** What `x-fixed` means, in words, for an example's description. */
function fixedWords(fixed: readonly string[], tolerance: number | undefined): string {
  if (fixed.length === 0) return 'Every field is an example of its kind: the answer depends on the data the API holds.';
  if (fixed.includes('')) return 'The route answers exactly this.';
  const parts = fixed.map((p) => `\`${p}\``).join(', ');
  const within = tolerance === undefined ? '' : ` (numbers within ${tolerance})`;
  return `The route answers ${parts} as shown${within}; the other fields are examples and differ on every call.`;
}

/** What an answer example shows: its value, the parts of it that are exact, and how exact. */
export interface AnswerParts {
  readonly value: unknown;
  /** JSON Pointers into `value` of the parts the route answers exactly. */
  readonly fixed: readonly string[];
  /** How far a number under `fixed` may be from the one shown (absolute). */
  readonly tolerance?: number;
  /** A sentence more for the description. */
  readonly note?: string;
}

/**
 * An answer example whose parts at `fixed` are what the route answers.
 *
 * @throws Error when a pointer of `fixed` names nothing in `value` (a document that would promise
 *   what it does not show).
 * @example
 * answerExample('Alive', { value: { live: true }, fixed: [''] });
 * // { summary: 'Alive', description: 'The route answers exactly this.', value: { live: true }, 'x-fixed': [''] }
 */
export function answerExample(summary: string, { value, fixed, tolerance, note }: AnswerParts): AnswerExample {
  for (const pointer of fixed) {
    if (readPointer(value, pointer) === undefined)
      throw new Error(`Example "${summary}": x-fixed names ${pointer}, which its value lacks.`);
  }
  return {
    summary,
    description: [fixedWords(fixed, tolerance), note].filter(Boolean).join(' '),
    value,
    'x-fixed': fixed,
    ...(tolerance !== undefined && fixed.length > 0 ? { 'x-tolerance': tolerance } : {}),
  };
}

/**
 * An error answer: its `code` and `path` are fixed; the message (as the API words it today) and
 * the request id are examples.
 */
export function refusal(code: string, path: string, message: string): AnswerParts {
  return { value: { error: { code, message, path }, requestId: EXAMPLE_REQUEST_ID }, fixed: ['/error/code', '/error/path'] };
}

/**
 * The part of `value` a JSON Pointer (RFC 6901) names, or `undefined` when there is none:
 * `readPointer({a: [1, 2]}, '/a/1')` is 2, `''` is `value` itself.
 */
export function readPointer(value: unknown, pointer: string): unknown {
  if (pointer === '') return value;
  if (!pointer.startsWith('/')) return undefined;
  let at: unknown = value;
  for (const token of pointer.slice(1).split('/')) {
    const key = token.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(at)) {
      if (!/^(0|[1-9][0-9]*)$/.test(key)) return undefined;
      at = at[Number(key)];
    } else if (at !== null && typeof at === 'object' && Object.hasOwn(at, key)) {
      at = (at as Record<string, unknown>)[key];
    } else {
      return undefined;
    }
  }
  return at;
}
