/**
 * The OpenAPI 3.1 document of the whole API (`GET /openapi.json`), built at run time from the
 * route table (`ROUTES`), the scopes (`ROUTE_SCOPES`), the request schemas the handlers parse
 * with, and the annotations of `operations.ts`. Nothing here is written twice: a route added to
 * the table without an annotation, or a scope without a route, fails the build.
 *
 * Every operation names its scope in `x-scope` (and `x-also-opened-by` when another scope opens
 * it too) and in its description; public routes have `security: []`. Every error status answers
 * the one error body (`ErrorBody`). Request bodies are JSON (`application/json`); the inference
 * routes also take the protocol's binary form, which the operation's description names.
 */
import { ALSO_OPENED_BY, routeNamesModel, scopeOf } from '../../auth/permissions.js';
import { QUERY_PARAMETERS } from '../../control/schemas.js';
import { JOB_ID_PATTERN, EXPERIMENT_ID_PATTERN, VERSION_PATTERN } from '../../core/names.js';
import { MODEL_NAME_PATTERN } from '../../core/model.js';
import { SERVER_NAME, SERVER_VERSION } from '../../core/server-metadata.js';
import { ROUTES, routeKey, routeParameters, type Route } from '../routes.js';
import { COMPONENT_SCHEMAS } from './components.js';
import { answerExample } from './examples.js';
import { OPERATIONS, TAGS, type OperationDoc } from './operations.js';
import { BEARER_SCHEME, ERROR_RESPONSE, fromZod, pattern, ref, type JsonSchema } from './schema.js';

/** An OpenAPI 3.1 document, as plain JSON data. */
export interface OpenApiDocument {
  readonly openapi: '3.1.0';
  readonly info: { readonly title: string; readonly version: string; readonly description: string };
  readonly servers: readonly { readonly url: string; readonly description?: string }[];
  readonly tags?: readonly { readonly name: string; readonly description: string }[];
  readonly paths: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly components: Readonly<Record<string, unknown>>;
  readonly [extension: `x-${string}`]: unknown;
}

/** The path parameters a route template may name, with their rule and an example. */
export const PATH_PARAMETERS: Readonly<
  Record<string, { readonly schema: JsonSchema; readonly description: string; readonly example: string }>
> = {
  model: {
    schema: { type: 'string', pattern: pattern(MODEL_NAME_PATTERN) },
    description: 'A model name: 1-63 lower-case letters, digits, "-" or "_".',
    example: 'iris',
  },
  version: {
    schema: { type: 'string', pattern: pattern(VERSION_PATTERN) },
    description: 'A version number, from 1, at most 10 digits.',
    example: '1',
  },
  job: { schema: { type: 'string', pattern: pattern(JOB_ID_PATTERN) }, description: 'A batch job id ("job-…").', example: 'job-0' },
  experiment: {
    schema: { type: 'string', pattern: pattern(EXPERIMENT_ID_PATTERN) },
    description: 'An experiment id ("exp-…").',
    example: 'exp-0',
  },
};

/** Where the document says the API is: relative to the document itself, so it holds on localhost and behind a stage path. */
const SERVERS = [{ url: '.', description: 'The API that served this document.' }];

function operation(route: Route, doc: OperationDoc, bodies: Map<string, JsonSchema>): Record<string, unknown> {
  const key = routeKey(route.method, route.resource);
  const scope = scopeOf(route);
  if (!route.public && !scope) throw new Error(`Route ${key} is not public and has no scope in ROUTE_SCOPES.`);
  const also = ALSO_OPENED_BY[key] ?? [];
  const scopes = [scope, ...also].map((s) => `\`${s}\``).join(' or ');
  const access = route.public
    ? 'Public: no token.'
    : routeNamesModel(route)
      ? `Scope: ${scopes}, for every model or this one (\`${scope}:<model>\`).`
      : `Scope: ${scopes}, for every model.`;
  const examples = Object.entries(doc.examples ?? {});
  const parameters = [
    ...routeParameters(route.resource).map((name) => {
      const parameter = PATH_PARAMETERS[name];
      if (!parameter) throw new Error(`Route ${key} names {${name}}, which the document has no rule for.`);
      const base = { name, in: 'path', required: true, description: parameter.description, schema: parameter.schema };
      if (examples.length === 0) return { ...base, example: parameter.example };
      return {
        ...base,
        examples: Object.fromEntries(examples.map(([id, e]) => [id, { summary: e.summary, value: e.path?.[name] ?? parameter.example }])),
      };
    }),
    ...Object.entries(QUERY_PARAMETERS[key] ?? {}).map(([name, parameter]) => {
      const given = examples.filter(([, e]) => e.query?.[name] !== undefined);
      return {
        name,
        in: 'query',
        required: false,
        description: parameter.description,
        schema: fromZod(parameter.schema),
        ...(given.length > 0
          ? { examples: Object.fromEntries(given.map(([id, e]) => [id, { summary: e.summary, value: e.query?.[name] }])) }
          : {}),
      };
    }),
  ];
  const responses: Record<string, { description: string; content?: Record<string, { schema: JsonSchema; examples?: object }> }> = {};
  for (const answer of doc.answers) {
    responses[String(answer.status)] = {
      description: answer.description,
      ...(answer.schema ? { content: { 'application/json': { schema: answer.schema } } } : {}),
    };
  }
  // Each example's name under the status it is answered with, with the answer: Swagger UI shows them side by side.
  for (const [id, example] of examples) {
    const status = String(example.status);
    const response = (responses[status] ??= {
      description: 'Refused (see the examples).',
      content: { 'application/json': { schema: ref('ErrorBody') } },
    });
    const content = response.content?.['application/json'] ?? { schema: {} };
    content.examples = { ...content.examples, [id]: answerExample(example.summary, example.answer) };
    response.content = { 'application/json': content };
  }
  responses['4XX'] = { $ref: '#/components/responses/Error' } as never;
  responses['5XX'] = { $ref: '#/components/responses/Error' } as never;
  return {
    operationId: doc.operationId,
    summary: doc.summary,
    description: [doc.description, access].filter(Boolean).join('\n\n'),
    tags: [doc.tag],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(doc.body ? { requestBody: requestBody(doc, bodies) } : {}),
    responses,
    security: route.public ? [] : [{ bearerAuth: [] }],
    ...(scope ? { 'x-scope': scope } : {}),
    ...(also.length > 0 ? { 'x-also-opened-by': [...also] } : {}),
  };
}

function requestBody(doc: OperationDoc, bodies: Map<string, JsonSchema>): Record<string, unknown> {
  const body = doc.body;
  if (!body) throw new Error(`${doc.operationId} has no body`);
  const shown = Object.entries(doc.examples ?? {}).filter(([, e]) => e.body !== undefined);
  const examples =
    shown.length > 0 ? { examples: Object.fromEntries(shown.map(([id, e]) => [id, { summary: e.summary, value: e.body }])) } : {};
  if ('generic' in body) {
    return {
      required: true,
      description: `${body.generic} (Checked by the service; described here in words.)`,
      content: { 'application/json': { schema: { type: 'object' }, ...examples } },
    };
  }
  if (!bodies.has(body.name)) {
    const schema = fromZod(body.schema);
    const properties = { ...(schema['properties'] as Record<string, JsonSchema> | undefined), ...body.override };
    bodies.set(body.name, body.override ? { ...schema, properties } : schema);
  }
  return { required: true, content: { 'application/json': { schema: ref(body.name), ...examples } } };
}

/**
 * The document of `routes` (the product's route table by default).
 *
 * @throws Error when a route has no annotation in `OPERATIONS`, no scope while not public, a
 *   path parameter the document has no rule for, or an operation id is used twice.
 */
export function buildApiDocument(routes: readonly Route[] = ROUTES): OpenApiDocument {
  const bodies = new Map<string, JsonSchema>();
  const paths: Record<string, Record<string, unknown>> = {};
  const ids = new Set<string>();
  for (const route of routes) {
    const key = routeKey(route.method, route.resource);
    const doc = OPERATIONS[key];
    if (!doc) throw new Error(`Route ${key} has no entry in OPERATIONS (functions/shared/openapi/operations.ts).`);
    if (ids.has(doc.operationId)) throw new Error(`Operation id ${doc.operationId} is used twice.`);
    ids.add(doc.operationId);
    const item = paths[route.resource] ?? {};
    paths[route.resource] = item;
    item[route.method.toLowerCase()] = operation(route, doc, bodies);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'ONNX model serving',
      version: SERVER_VERSION,
      description: `The ${SERVER_NAME} API: predictions (record forms and the Open Inference Protocol v2), the model registry, releases, batch jobs, data capture and drift, experiments. Each model's prediction requests are described exactly by its own document, GET /v1/models/{model}/openapi.json. Every route but the public ones needs a bearer JWT whose scopes open it (x-scope).`,
    },
    servers: SERVERS,
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      securitySchemes: { bearerAuth: BEARER_SCHEME },
      responses: { Error: ERROR_RESPONSE },
      schemas: { ...COMPONENT_SCHEMAS, ...Object.fromEntries(bodies) },
    },
  };
}

let built: OpenApiDocument | undefined;

/** The product's document, built once per process (on first use, not at cold start). */
export function apiDocument(): OpenApiDocument {
  built ??= buildApiDocument();
  return built;
}
