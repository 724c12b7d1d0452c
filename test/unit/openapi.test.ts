/**
 * The API's OpenAPI document as built from the route table: every route once with its method,
 * scope and security; request bodies and query parameters from the very schemas the handlers
 * use; every error status answering the one error body; every example with its answer and the
 * parts of it that are exact; and a build that fails for a route nobody annotated.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import * as z from 'zod';
import { ALSO_OPENED_BY, ROUTE_SCOPES } from '../../functions/auth/permissions.js';
import { QUERY_PARAMETERS, RegisterSchema, SubmitJobSchema } from '../../functions/control/schemas.js';
import { RecordRequestSchema } from '../../functions/core/codec/request.js';
import { ExperimentRequestSchema } from '../../functions/core/experiments/schemas.js';
import { ModelMetadataSchema } from '../../functions/core/registry.js';
import { apiDocument, buildApiDocument } from '../../functions/shared/openapi/api-document.js';
import { answerExample, readPointer } from '../../functions/shared/openapi/examples.js';
import { OPERATIONS } from '../../functions/shared/openapi/operations.js';
import { ROUTES, routeKey, type Route } from '../../functions/shared/routes.js';

type Json = Record<string, any>;

const doc = buildApiDocument() as unknown as Json & { paths: Record<string, Record<string, Json>>; components: Json };

/** The document's operation for a route key. */
function operationOf(key: string): Json {
  const [method, path] = key.split(' ') as [string, string];
  const found = doc.paths[path]?.[method.toLowerCase()];
  if (!found) throw new Error(`no operation for ${key}`);
  return found;
}

/** `schema` as the document must show it: zod's own conversion, without `$schema`. */
function zodJson(schema: z.ZodType): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Json;
  return rest;
}

describe('the API document', () => {
  it('is valid OpenAPI 3.1', async () => {
    expect(await new Validator().validate(doc)).toEqual({ valid: true });
  });

  it('has each route of the table once, with its method, and nothing else', () => {
    // Prepare
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));

    // Assess
    expect(documented.sort()).toEqual(ROUTES.map((r) => routeKey(r.method, r.resource)).sort());
    expect(Object.keys(OPERATIONS).sort()).toEqual(ROUTES.map((r) => routeKey(r.method, r.resource)).sort());
  });

  it('names each operation once, in camelCase', () => {
    const ids = ROUTES.map((r) => operationOf(routeKey(r.method, r.resource))['operationId'] as string);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z0-9]*$/);
  });

  it('gives every protected route bearer security and its scope (x-scope, and the description), public routes none', () => {
    for (const route of ROUTES) {
      const key = routeKey(route.method, route.resource);
      const operation = operationOf(key);
      if (route.public) {
        expect({ key, security: operation['security'], scope: operation['x-scope'] }).toEqual({ key, security: [], scope: undefined });
        continue;
      }
      const scope = ROUTE_SCOPES[key];
      expect({ key, security: operation['security'], scope: operation['x-scope'] }).toEqual({ key, security: [{ bearerAuth: [] }], scope });
      expect(operation['description']).toContain(`\`${scope}\``);
      expect(operation['x-also-opened-by']).toEqual(ALSO_OPENED_BY[key]);
    }
    expect(doc.components['securitySchemes']).toEqual({
      bearerAuth: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }),
    });
  });

  it('takes request bodies from the zod schemas the handlers parse with, not from a copy', () => {
    // Prepare
    const bodyOf = (key: string) => {
      const ref = operationOf(key)['requestBody'].content['application/json'].schema.$ref as string;
      return doc.components.schemas[ref.split('/').at(-1) as string];
    };

    // Assess
    expect(bodyOf('POST /v1/models/{model}/predict')).toEqual(zodJson(RecordRequestSchema));
    expect(bodyOf('POST /v1/models/{model}/batch-jobs')).toEqual(zodJson(SubmitJobSchema));
    expect(bodyOf('POST /v1/models/{model}/experiments')).toEqual(zodJson(ExperimentRequestSchema));
    // Registration's metadata is read with the registry's own schema.
    const register = zodJson(RegisterSchema);
    expect(bodyOf('POST /v1/models/{model}/versions')).toEqual({
      ...register,
      properties: { ...register['properties'], metadata: zodJson(ModelMetadataSchema) },
    });
  });

  it('gives every POST and PUT a required JSON body (the edge refuses an empty one), and GET and DELETE none', () => {
    for (const route of ROUTES) {
      const operation = operationOf(routeKey(route.method, route.resource));
      if (route.method === 'POST' || route.method === 'PUT') {
        expect({ route: route.resource, required: operation['requestBody']?.required }).toEqual({ route: route.resource, required: true });
      } else {
        expect(operation['requestBody']).toBeUndefined();
      }
    }
  });

  it("lists each route's query parameters from the table the handler reads them by, and path parameters with their rules", () => {
    for (const route of ROUTES) {
      const key = routeKey(route.method, route.resource);
      const parameters = (operationOf(key)['parameters'] ?? []) as Json[];
      expect({ key, query: parameters.filter((p) => p['in'] === 'query').map((p) => p['name']) }).toEqual({
        key,
        query: Object.keys(QUERY_PARAMETERS[key] ?? {}),
      });
      const path = parameters.filter((p) => p['in'] === 'path');
      expect(path.map((p) => `{${p['name']}}`).join()).toBe([...route.resource.matchAll(/\{[^}]+\}/g)].map((m) => m[0]).join());
      for (const p of path)
        expect({ key, required: p['required'], pattern: typeof p['schema'].pattern }).toEqual({ key, required: true, pattern: 'string' });
    }
    const state = (operationOf('GET /v1/models/{model}/batch-jobs')['parameters'] as Json[]).find((p) => p['name'] === 'state');
    expect(state?.['schema'].enum).toContain('RUNNING');
  });

  it('answers every 4xx and 5xx with the error body', () => {
    for (const route of ROUTES) {
      const responses = operationOf(routeKey(route.method, route.resource))['responses'] as Json;
      expect(responses['4XX']).toEqual({ $ref: '#/components/responses/Error' });
      expect(responses['5XX']).toEqual({ $ref: '#/components/responses/Error' });
    }
    expect(doc.components['responses'].Error.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ErrorBody' });
    expect(doc.components.schemas.ErrorBody.required).toEqual(['error', 'requestId']);
  });

  it('ties each example to the status it is answered with, and shows the answer with its exact parts', () => {
    for (const [key, annotation] of Object.entries(OPERATIONS)) {
      for (const [id, example] of Object.entries(annotation.examples ?? {})) {
        const response = operationOf(key)['responses'][String(example.status)];
        const shown = response?.content?.['application/json']?.examples?.[id];
        expect({ key, id, listed: shown !== undefined }).toEqual({ key, id, listed: true });
        expect({ key, id, value: shown.value, fixed: shown['x-fixed'] }).toEqual({
          key,
          id,
          value: example.answer.value,
          fixed: example.answer.fixed,
        });
        if (example.status >= 400) expect({ key, id, fixed: shown['x-fixed'] }).toEqual({ key, id, fixed: ['/error/code', '/error/path'] });
        if (example.body !== undefined)
          expect(operationOf(key)['requestBody'].content['application/json'].examples[id].value).toEqual(example.body);
      }
    }
  });

  it('reads JSON Pointers as RFC 6901 says, and refuses an answer example that fixes a part it does not show', () => {
    const value = { a: [1, { 'b/c': 2, 'd~e': 3 }], f: null };
    expect(readPointer(value, '')).toBe(value);
    expect(readPointer(value, '/a/1/b~1c')).toBe(2);
    expect(readPointer(value, '/a/1/d~0e')).toBe(3);
    expect(readPointer(value, '/f')).toBeNull();
    expect([readPointer(value, '/a/01'), readPointer(value, '/a/2'), readPointer(value, 'a'), readPointer(value, '/toString')]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(() => answerExample('x', { value: { a: 1 }, fixed: ['/b'] })).toThrow('x-fixed names /b, which its value lacks');
    expect(answerExample('y', { value: { a: 1.5 }, fixed: ['/a'], tolerance: 0.1 })).toEqual({
      summary: 'y',
      description: 'The route answers `/a` as shown (numbers within 0.1); the other fields are examples and differ on every call.',
      value: { a: 1.5 },
      'x-fixed': ['/a'],
      'x-tolerance': 0.1,
    });
  });

  it('fails to build for a route nobody annotated, and is built once per process', () => {
    const extra: Route = { method: 'GET', resource: '/v1/models/{model}/secrets', fn: 'control' };
    expect(() => buildApiDocument([...ROUTES, extra])).toThrow('GET /v1/models/{model}/secrets has no entry in OPERATIONS');
    expect(apiDocument()).toBe(apiDocument());
  });

  it('points at the API relative to itself, so it holds behind a stage path', () => {
    expect(doc['servers']).toEqual([expect.objectContaining({ url: '.' })]);
  });
});
