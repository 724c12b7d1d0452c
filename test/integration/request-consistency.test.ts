/**
 * One rule for the query string on every route of the API: a route takes the query parameters it
 * declares (`QUERY_PARAMETERS`, which the OpenAPI document lists) and no other. Any other name is a
 * 400 `UNKNOWN_PARAMETER` that names the accepted ones and the closest of them, on the predict
 * function's routes, the public ones and the control plane's alike, through the local server and
 * on Lambda. The table is `ROUTES` itself, so a route added later is covered without anyone
 * remembering to add it here. A path no route has is answered with where the routes are listed:
 * the OpenAPI document (and, locally, /docs). A body field of the wrong kind is refused at its
 * own path with what was sent, through the whole stack.
 */
import { QUERY_PARAMETERS } from '../../functions/control/schemas.js';
import { newTimeSortedId } from '../../functions/core/names.js';
import type { HttpHandler } from '../../functions/shared/http.js';
import { ROUTES, routeKey, routeParameters, type FunctionName, type Route } from '../../functions/shared/routes.js';
import { call, errorOf } from '../fixtures/http.js';
import { invoke, lambdaHandlers, proxyEvent } from '../fixtures/proxy-events.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { adminToken, bearer } from '../fixtures/tokens.js';

/** A value for each path parameter a route template may name: valid, so the route is reached. */
const PATH_VALUES: Readonly<Record<string, string>> = {
  model: 'iris',
  version: '1',
  job: newTimeSortedId('job', new Date('2026-01-01T00:00:00Z')),
  experiment: newTimeSortedId('exp', new Date('2026-01-01T00:00:00Z')),
};

/** The route's template with its path parameters filled in. */
function pathOf(route: Route): string {
  return route.resource.replace(/\{([^}/]+)\}/g, (_, name: string) => {
    const value = PATH_VALUES[name];
    if (value === undefined) throw new Error(`no test value for the path parameter {${name}} of ${route.resource}`);
    return value;
  });
}

const CASES = ROUTES.map((route) => ({ key: routeKey(route.method, route.resource), route }));

let stack: TestStack;
let admin: Record<string, string>;
let handlers: Record<FunctionName, HttpHandler>;

beforeAll(async () => {
  stack = await startTestStack({ rateLimit: false });
  admin = bearer(await adminToken(stack));
  handlers = lambdaHandlers(stack);
}, 60_000);

afterAll(async () => {
  await stack.stop();
});

describe.each(CASES)('$key', ({ key, route }) => {
  const accepted = Object.keys(QUERY_PARAMETERS[key] ?? {});

  it('refuses a query parameter it does not declare: 400 UNKNOWN_PARAMETER naming what it takes', async () => {
    // Act
    const reply = await call(stack.url, route.method, `${pathOf(route)}?bogus=1`, undefined, route.public ? {} : admin);

    // Assess
    expect(reply.status).toBe(400);
    const error = errorOf(reply);
    expect(error.code).toBe('UNKNOWN_PARAMETER');
    expect(error.path).toBe('query.bogus');
    expect(error.message).toContain('Unknown query parameter "bogus"');
    if (accepted.length === 0) expect(error.message).toContain('this route takes no query parameters.');
    for (const name of accepted) expect(error.message).toContain(`"${name}"`);
  });

  it('refuses it on Lambda too, as API Gateway passes the query', async () => {
    // Act
    const result = await invoke(
      handlers[route.fn],
      proxyEvent({
        method: route.method,
        resource: route.resource,
        path: pathOf(route),
        pathParameters: routeParameters(route.resource).map((name) => [name, PATH_VALUES[name] ?? ''] as const),
        headers: [['content-type', 'application/json']],
        query: [['bogus', '1']],
        authorizer: [['principalId', 'tester']],
        ...(route.method === 'POST' || route.method === 'PUT' ? { body: '{}' } : {}),
      }),
    );

    // Assess
    expect(result.statusCode).toBe(400);
    expect(result.json).toMatchObject({ error: { code: 'UNKNOWN_PARAMETER', path: 'query.bogus' } });
  });
});

describe('the refusal', () => {
  it('suggests the closest name the route takes', async () => {
    // Act
    const reply = await call(stack.url, 'GET', '/v1/models/iris/stats?minute=5', undefined, admin);

    // Assess
    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toEqual({
      code: 'UNKNOWN_PARAMETER',
      message: 'Unknown query parameter "minute" (did you mean "minutes"?); this route takes "minutes".',
      path: 'query.minute',
    });
  });

  it('comes before the body is read, on a route that takes a body', async () => {
    // Act: a body that would be refused for its own reasons
    const reply = await call(stack.url, 'POST', '/v1/models/iris/predict?debug=true', { features: 'x' }, admin);

    // Assess
    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toMatchObject({ code: 'UNKNOWN_PARAMETER', path: 'query.debug' });
  });

  it('names a parameter given twice on a route that takes it: 400 REPEATED_PARAMETER', async () => {
    const reply = await call(stack.url, 'GET', '/v1/models/iris/batch-jobs?limit=1&limit=2', undefined, admin);
    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toMatchObject({ code: 'REPEATED_PARAMETER', path: 'query.limit' });
  });
});

describe('a declared query parameter', () => {
  it.each([
    ['GET', '/v1/models/iris/stats?minutes=5'],
    ['GET', '/v1/models/iris/predictions?limit=5&since=1h'],
    ['GET', '/v1/models/iris/batch-jobs?state=RUNNING&limit=3'],
  ])('is taken: %s %s', async (method, path) => {
    const reply = await call(stack.url, method, path, undefined, admin);
    expect(reply.status).toBe(200);
  });
});

describe('a path no route has', () => {
  it('locally: 404 ROUTE_NOT_FOUND pointing at the OpenAPI document and /docs', async () => {
    const reply = await call(stack.url, 'GET', '/v1/nothing-here', undefined, admin);
    expect(reply.status).toBe(404);
    expect(errorOf(reply)).toMatchObject({ code: 'ROUTE_NOT_FOUND', path: 'path' });
    expect(errorOf(reply).message).toBe(
      "No route GET /v1/nothing-here. The API's routes: GET /openapi.json (its OpenAPI document), or /docs in a browser.",
    );
  });

  it('on Lambda: 404 ROUTE_NOT_FOUND pointing at the OpenAPI document', async () => {
    const result = await invoke(handlers.predict, proxyEvent({ method: 'GET', resource: '/v1/nothing-here' }));
    expect(result.statusCode).toBe(404);
    expect(result.json).toMatchObject({
      error: {
        code: 'ROUTE_NOT_FOUND',
        message: "This function does not serve GET /v1/nothing-here. The API's routes are in its OpenAPI document: GET /openapi.json.",
      },
    });
  });
});

describe('a body field of the wrong kind', () => {
  it.each<[string, string, unknown, string, RegExp]>([
    [
      'POST',
      '/v1/models/iris/predict',
      { instances: { a: 1 } },
      'instances',
      /^Field "instances" must be an array of records \(objects of named features\) or of rows \(arrays of values\) \(got an object\)\./,
    ],
    ['POST', '/v1/models/iris/predict', { features: [5.1, 3.5] }, 'features', /\(got an array of 2 items\)\./],
    [
      'POST',
      '/v2/models/iris/infer',
      { inputs: { name: 'input' } },
      'inputs',
      /^Field "inputs" must be an array of input tensors .* \(got an object\)\./,
    ],
  ])('%s %s %j: 400 INVALID_REQUEST at %s', async (method, path, body, at, message) => {
    // Act
    const reply = await call(stack.url, method, path, body, admin);

    // Assess
    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toMatchObject({ code: 'INVALID_REQUEST', path: at });
    expect(errorOf(reply).message).toMatch(message);
  });
});
