/**
 * JSON Schema (draft 2020-12, OpenAPI 3.1's dialect) as the API documents use it: what zod
 * schemas become, and the few helpers the documents share. Plain data, no I/O.
 */
import * as z from 'zod';

/** A JSON Schema object, as it appears in an OpenAPI 3.1 document. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/**
 * `schema` as JSON Schema, through zod's own converter: the request side (`io: 'input'`: what a
 * caller may send, defaults optional) or the answer side (`'output'`). Parts zod cannot express
 * (refinements, `z.custom`) become what they are written over, or `{}` (any value): the handler
 * still checks them, so the document may admit a value the handler refuses there, never the
 * reverse. The `$schema` key is dropped (the document's dialect applies).
 */
export function fromZod(schema: z.ZodType, io: 'input' | 'output' = 'input'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

/** A regular expression as a JSON Schema `pattern` (ECMA-262 syntax, which both share). */
export function pattern(regex: RegExp): string {
  return regex.source;
}

/** `$ref` to a schema of the document's components. */
export function ref(name: string): JsonSchema {
  return { $ref: `#/components/schemas/${name}` };
}

/**
 * The error body of every 4xx and 5xx answer, the functions' own and API Gateway's (see
 * `httpErrors` in `functions/shared/http.ts` and the gateway responses in `lib/serving-api.ts`).
 */
export const ERROR_BODY: JsonSchema = {
  type: 'object',
  description:
    'Every error answer. `code` is stable (docs/protocol.md lists them); `message` says what to do; `path` names the field, header or query parameter at fault (empty when none). Answers from 500 up carry a generic message: the details are logged under the request id.',
  required: ['error', 'requestId'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'path'],
      properties: {
        code: { type: 'string', pattern: '^[A-Z0-9_]+$', examples: ['UNKNOWN_FEATURE'] },
        message: { type: 'string' },
        path: { type: 'string', examples: ['instances[0].petal_length_cm'] },
      },
    },
    requestId: { type: 'string' },
  },
};

/** The security scheme every protected route names: a JWT in `Authorization: Bearer <token>`. */
export const BEARER_SCHEME = {
  type: 'http',
  scheme: 'bearer',
  bearerFormat: 'JWT',
  description:
    'A JWT from the issuer the API trusts (locally: `npm run -s modelctl -- token --scope predict,models:read`). Its `scope` (or `scp`) claim must hold the scope each route names in `x-scope`; a scope may be limited to one model (`predict:iris`).',
} as const;

/** The response to every error status, by reference. */
export const ERROR_RESPONSE = {
  description: 'An error: `{"error": {"code", "message", "path"}, "requestId"}`.',
  content: { 'application/json': { schema: ref('ErrorBody') } },
} as const;
