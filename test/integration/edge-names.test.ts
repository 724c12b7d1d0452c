/**
 * Names the caller chooses, at the HTTP edge, on every route of the table, through the local
 * server and through the Lambda handlers invoked with API Gateway events:
 * - every member name of Object's prototype as a query key, a header name and an authorizer
 *   context key is a name like any other (the answer is the one an ordinary unknown name gets);
 * - every `{model}`, `{version}`, `{job}` and `{experiment}` is checked before anything else
 *   runs: 400 `INVALID_MODEL_NAME` / `INVALID_VERSION` / `INVALID_JOB_ID` /
 *   `INVALID_EXPERIMENT_ID` with a short excerpt, never a 5xx;
 * - the edge's own 404 and 405 carry a request id like every other error.
 * The Lambda control handler is built with batch jobs, as on a deployment that has them, so the
 * batch-job routes answer what they really answer rather than 501.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { ControlHandlerDeps } from '../../functions/control/app.js';
import { makeHandler as makeControlHandler } from '../../functions/control/app.js';
import type { PredictHandlerDeps } from '../../functions/predict/app.js';
import { makeHandler as makePredictHandler } from '../../functions/predict/app.js';
import { ROUTES, routeParameters, type FunctionName, type Route } from '../../functions/shared/routes.js';
import { CapturedLog, startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { call, errorOf, type JsonReply } from '../fixtures/http.js';
import { invoke, lambdaHandlers, proxyEvent } from '../fixtures/proxy-events.js';
import { adminToken, bearer } from '../fixtures/tokens.js';
import type { HttpHandler } from '../../functions/shared/http.js';

/** `constructor`, `__proto__`, `toString`, `hasOwnProperty`, `__defineGetter__`, ... */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);
/** An ordinary name nobody uses: what a prototype name must be answered like. */
const ORDINARY = 'zzz-ordinary';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let stack: TestStack;
let admin: Record<string, string>;
let handlers: Record<FunctionName, HttpHandler>;

beforeAll(async () => {
  stack = await startTestStack({ rateLimit: false, env: { MAX_BODY_BYTES: '200000' } });
  admin = bearer(await adminToken(stack));
  handlers = lambdaHandlers(stack);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const hasBody = (route: Route) => route.method === 'POST' || route.method === 'PUT';

/** A job id of the shape the job API hands out (`newJobId`) that no job has. */
const JOB = 'job-20260101t000000z-edgenames00';

/** An experiment id of the shape the experiments API hands out that no experiment has. */
const EXPERIMENT = 'exp-20260101t000000000z-edgenames0';

/** Values for a route's path parameters; each one not given is a valid name (`iris`, `1`, {@link JOB}, {@link EXPERIMENT}). */
interface Names {
  readonly model?: string;
  readonly version?: string;
  readonly job?: string;
  readonly experiment?: string;
}

function nameFor(parameter: string, names: Names): string {
  const all: Record<string, string | undefined> = { model: 'iris', version: '1', job: JOB, experiment: EXPERIMENT, ...names };
  const value = all[parameter];
  if (value === undefined) throw new Error(`no test value for the path parameter {${parameter}}: add one to Names`);
  return value;
}

/** The route's path parameters as API Gateway passes them. */
const parametersOf = (route: Route, names: Names = {}) => routeParameters(route.resource).map((p) => [p, nameFor(p, names)] as const);
/** The route's concrete path. */
const concrete = (route: Route, names: Names = {}) => route.resource.replace(/\{([^}/]+)\}/g, (_template, p: string) => nameFor(p, names));
const routeName = (route: Route) => `${route.method} ${route.resource}`;

function expectErrorShape(status: number, body: unknown, text: string): void {
  if (status < 400) return;
  expect(body).toEqual({
    error: { code: expect.stringMatching(/^[A-Z][A-Z0-9_]+$/), message: expect.any(String), path: expect.any(String) },
    requestId: expect.stringMatching(UUID),
  });
  expect(text.length).toBeLessThan(1_000);
}

/** Over HTTP: `name` as a query key and a header name at once. */
async function overHttp(route: Route, name: string): Promise<JsonReply> {
  const headers = route.public ? { [name]: 'x' } : { ...admin, [name]: 'x' };
  return call(stack.url, route.method, `${concrete(route)}?${encodeURIComponent(name)}=x`, hasBody(route) ? '{}' : undefined, headers);
}

/** On Lambda: `name` as a query key, a header name and a key of the authorizer's context. */
async function onLambda(route: Route, name: string): Promise<APIGatewayProxyResult & { json: unknown }> {
  return invoke(
    handlers[route.fn],
    proxyEvent({
      method: route.method,
      resource: route.resource,
      path: concrete(route),
      pathParameters: parametersOf(route),
      headers: [
        ['Content-Type', 'application/json'],
        [name, 'x'],
      ],
      query: [[name, 'x']],
      authorizer: [
        ['principalId', 'tester'],
        ['scope', 'models:read'],
        [name, 'x'],
      ],
      ...(hasBody(route) ? { body: '{}' } : {}),
    }),
  );
}

describe.each(ROUTES.map((route) => [routeName(route), route] as const))('%s', (_name, route) => {
  it('takes every Object.prototype member name as a plain query key and header name (local server)', async () => {
    // Prepare: what an ordinary unknown name gets.
    const ordinary = await overHttp(route, ORDINARY);

    // Act
    const replies = await Promise.all(PROTOTYPE_NAMES.map((name) => overHttp(route, name)));

    // Assess
    expect(ordinary.status).toBeLessThan(500);
    for (const [i, reply] of replies.entries()) {
      expect({ name: PROTOTYPE_NAMES[i], status: reply.status }).toEqual({ name: PROTOTYPE_NAMES[i], status: ordinary.status });
      expectErrorShape(reply.status, reply.body, reply.text);
    }
  });

  it('takes them as query keys, header names and authorizer context keys (Lambda handler, API Gateway event)', async () => {
    // Prepare
    const ordinary = await onLambda(route, ORDINARY);

    // Act
    const results = await Promise.all(PROTOTYPE_NAMES.map((name) => onLambda(route, name)));

    // Assess
    expect(ordinary.statusCode).toBeLessThan(500);
    for (const [i, result] of results.entries()) {
      expect({ name: PROTOTYPE_NAMES[i], status: result.statusCode }).toEqual({ name: PROTOTYPE_NAMES[i], status: ordinary.statusCode });
      expectErrorShape(result.statusCode, result.json, result.body);
    }
  });
});

it('GET /v2/health/live?constructor=x answers 200 (the case the tester found: a 502 before authorization)', async () => {
  const reply = await call(stack.url, 'GET', '/v2/health/live?constructor=x&constructor=y&__proto__=z');
  expect(reply.status).toBe(400);
  expect(errorOf(reply)).toMatchObject({ code: 'UNKNOWN_PARAMETER', path: 'query.constructor' });
});

// ---------------------------------------------------------------------------------------------
// Path parameters

/** Model names the registry refuses, as they appear in a path (percent-encoded where a path needs it). */
const BAD_MODELS: ReadonlyArray<readonly [string, string]> = [
  ['2,043 characters', 'a'.repeat(2_043)],
  ['64 characters', 'a'.repeat(64)],
  ['capitals', 'Iris'],
  ['a leading dash', '-iris'],
  ['a leading underscore (__proto__)', '__proto__'],
  ['punctuation', 'ir!s'],
  ['a space', 'ir%20is'],
  ['an encoded slash', 'a%2Fb'],
  ['a dot', 'iris.v2'],
  ['a NUL', 'iris%00'],
  ['non-ASCII', encodeURIComponent('ïris')],
  ['broken percent-encoding', 'iris%E0%A4%A'],
  ['a lone percent sign', 'iris%'],
];

/** Versions the registry refuses. */
const BAD_VERSIONS: ReadonlyArray<readonly [string, string]> = [
  ['zero', '0'],
  ['negative', '-1'],
  ['a fraction', '1.5'],
  ['an exponent', '1e3'],
  ['a leading zero', '01'],
  ['a plus sign', '%2B1'],
  ['hexadecimal', '0x10'],
  ['11 digits', '12345678901'],
  ['400 digits', '9'.repeat(400)],
  ['"latest"', 'latest'],
  ['an encoded slash', '1%2F2'],
  ['a space', '%201'],
  ['broken percent-encoding', '1%G0'],
];

/**
 * Job ids the job API never hands out (`job-` then 1-60 lower-case letters, digits or `-`). An
 * empty one is a path API Gateway does not match to a `{job}` route; it is tested on Lambda alone.
 */
const BAD_JOBS: ReadonlyArray<readonly [string, string]> = [
  ['path traversal', '..%2F..%2Fbatch-jobs'],
  ['path traversal after the prefix', 'job-..%2F..%2Fjob-x'],
  ['encoded dots', 'job-%2E%2E'],
  ['65 characters', `job-${'a'.repeat(61)}`],
  ['2,043 characters', `job-${'a'.repeat(2_039)}`],
  ['upper case', 'job-20260101T000000Z-ABC'],
  ['an upper-case prefix', 'JOB-abc'],
  ['no prefix', '20260101t000000z-abc'],
  ['the prefix alone', 'job-'],
  ['a leading underscore (__proto__)', '__proto__'],
  ['an underscore', 'job-a_b'],
  ['an encoded slash', 'job-a%2Fb'],
  ['a space', 'job-a%20b'],
  ['a NUL', 'job-a%00'],
  ['non-ASCII', encodeURIComponent('job-ä')],
  ['broken percent-encoding', 'job-a%E0%A4%A'],
];

/** Experiment ids the experiments API never hands out (`exp-` then 1-60 lower-case letters, digits or `-`). */
const BAD_EXPERIMENTS: ReadonlyArray<readonly [string, string]> = [
  ['path traversal', '..%2F..%2Fexperiments'],
  ['65 characters', `exp-${'a'.repeat(61)}`],
  ['2,043 characters', `exp-${'a'.repeat(2_039)}`],
  ['upper case', 'exp-20260101T000000Z-ABC'],
  ['no prefix', '20260101t000000z-abc'],
  ['a job id', JOB],
  ['a leading underscore (__proto__)', '__proto__'],
  ['an encoded slash', 'exp-a%2Fb'],
  ['a NUL', 'exp-a%00'],
  ['non-ASCII', encodeURIComponent('exp-ä')],
  ['broken percent-encoding', 'exp-a%E0%A4%A'],
];

const MODEL_ROUTES = ROUTES.filter((route) => route.resource.includes('{model}'));
const EXPERIMENT_ROUTES = ROUTES.filter((route) => route.resource.includes('{experiment}'));
const VERSION_ROUTES = ROUTES.filter((route) => route.resource.includes('{version}'));
const JOB_ROUTES = ROUTES.filter((route) => route.resource.includes('{job}'));

/** The Lambda event for `route` with these path parameters (the others valid). */
const eventWith = (route: Route, names: Names) =>
  proxyEvent({
    method: route.method,
    resource: route.resource,
    path: concrete(route, names),
    pathParameters: parametersOf(route, names),
    headers: [['content-type', 'application/json']],
    ...(hasBody(route) ? { body: '{}' } : {}),
  });

function expectRefused(status: number, body: unknown, text: string, code: string, path: string): void {
  expect({
    status,
    code: (body as { error?: { code?: string } }).error?.code,
    path: (body as { error?: { path?: string } }).error?.path,
  }).toEqual({ status: 400, code, path });
  expectErrorShape(status, body, text);
  // An excerpt of what was sent, never all of it.
  expect((body as { error: { message: string } }).error.message.length).toBeLessThan(300);
}

describe.each(MODEL_ROUTES.map((route) => [routeName(route), route] as const))(
  '%s with a model name the registry refuses',
  (_name, route) => {
    it.each(BAD_MODELS)('%s: 400 INVALID_MODEL_NAME over HTTP and on Lambda', async (_what, model) => {
      // Act
      const reply = await call(stack.url, route.method, concrete(route, { model }), hasBody(route) ? '{}' : undefined, admin);
      const result = await invoke(handlers[route.fn], eventWith(route, { model }));

      // Assess
      expectRefused(reply.status, reply.body, reply.text, 'INVALID_MODEL_NAME', 'model');
      expectRefused(result.statusCode, result.json, result.body, 'INVALID_MODEL_NAME', 'model');
    });
  },
);

describe.each(VERSION_ROUTES.map((route) => [routeName(route), route] as const))(
  '%s with a version the registry refuses',
  (_name, route) => {
    it.each(BAD_VERSIONS)('%s: 400 INVALID_VERSION over HTTP and on Lambda', async (_what, version) => {
      // Act
      const reply = await call(stack.url, route.method, concrete(route, { version }), hasBody(route) ? '{}' : undefined, admin);
      const result = await invoke(handlers[route.fn], eventWith(route, { version }));

      // Assess
      expectRefused(reply.status, reply.body, reply.text, 'INVALID_VERSION', 'version');
      expectRefused(result.statusCode, result.json, result.body, 'INVALID_VERSION', 'version');
    });
  },
);

describe.each(JOB_ROUTES.map((route) => [routeName(route), route] as const))(
  '%s with a job id the job API never hands out',
  (_name, route) => {
    it.each(BAD_JOBS)('%s: 400 INVALID_JOB_ID over HTTP and on Lambda', async (_what, job) => {
      // Act
      const reply = await call(stack.url, route.method, concrete(route, { job }), hasBody(route) ? '{}' : undefined, admin);
      const result = await invoke(handlers[route.fn], eventWith(route, { job }));

      // Assess
      expectRefused(reply.status, reply.body, reply.text, 'INVALID_JOB_ID', 'job');
      expectRefused(result.statusCode, result.json, result.body, 'INVALID_JOB_ID', 'job');
    });

    it('an empty job id: 400 INVALID_JOB_ID on Lambda; over HTTP the path is not this route', async () => {
      // Act
      const result = await invoke(handlers[route.fn], eventWith(route, { job: '' }));
      const reply = await call(stack.url, route.method, concrete(route, { job: '' }), hasBody(route) ? '{}' : undefined, admin);

      // Assess: GET .../batch-jobs/ is the job list (trailing slashes do not count); .../batch-jobs//cancel is no route.
      expectRefused(result.statusCode, result.json, result.body, 'INVALID_JOB_ID', 'job');
      if (route.method === 'GET') expect(reply.body).toMatchObject({ jobs: expect.any(Array) });
      else expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 404, code: 'ROUTE_NOT_FOUND' });
      expectErrorShape(reply.status, reply.body, reply.text);
    });

    it('a valid job id that no job has reaches the job table: 404 JOB_NOT_FOUND, over HTTP and on Lambda', async () => {
      // Act
      const reply = await call(stack.url, route.method, concrete(route), hasBody(route) ? '{}' : undefined, admin);
      const result = await invoke(handlers[route.fn], eventWith(route, {}));

      // Assess
      const lambdaError = (result.json as { error: { code: string; path: string } }).error;
      expect([reply.status, errorOf(reply).code, errorOf(reply).path]).toEqual([404, 'JOB_NOT_FOUND', 'job']);
      expect([result.statusCode, lambdaError.code, lambdaError.path]).toEqual([404, 'JOB_NOT_FOUND', 'job']);
      expectErrorShape(reply.status, reply.body, reply.text);
      expectErrorShape(result.statusCode, result.json, result.body);
    });
  },
);

describe.each(EXPERIMENT_ROUTES.map((route) => [routeName(route), route] as const))(
  '%s with an experiment id the API never hands out',
  (_name, route) => {
    it.each(BAD_EXPERIMENTS)('%s: 400 INVALID_EXPERIMENT_ID over HTTP and on Lambda', async (_what, experiment) => {
      // Act
      const reply = await call(stack.url, route.method, concrete(route, { experiment }), hasBody(route) ? '{}' : undefined, admin);
      const result = await invoke(handlers[route.fn], eventWith(route, { experiment }));

      // Assess
      expectRefused(reply.status, reply.body, reply.text, 'INVALID_EXPERIMENT_ID', 'experiment');
      expectRefused(result.statusCode, result.json, result.body, 'INVALID_EXPERIMENT_ID', 'experiment');
    });

    it("a valid experiment id that no experiment has: 404 EXPERIMENT_NOT_FOUND (or the body's own 400 first), over HTTP and on Lambda", async () => {
      // Act
      const reply = await call(stack.url, route.method, concrete(route), hasBody(route) ? '{}' : undefined, admin);
      const result = await invoke(handlers[route.fn], eventWith(route, {}));

      // Assess: an outcome's empty body is refused before the experiment is looked up.
      const lambdaError = (result.json as { error: { code: string } }).error;
      const expected = route.resource.endsWith('/outcomes') ? [400, 'MISSING_FIELD'] : [404, 'EXPERIMENT_NOT_FOUND'];
      expect([reply.status, errorOf(reply).code]).toEqual(expected);
      expect([result.statusCode, lambdaError.code]).toEqual(expected);
    });
  },
);

describe("the check comes first, before any of the route's own work", () => {
  /**
   * Services that record any use: a refused name must never reach one. A service that is used
   * fails the request (a 500), whose ERROR line goes to `log`.
   */
  function trapped(): { readonly touched: string[]; readonly handlers: Record<FunctionName, HttpHandler>; readonly log: CapturedLog } {
    const touched: string[] = [];
    const log = new CapturedLog();
    const trap = <T>(name: string): T =>
      new Proxy(
        {},
        {
          get: (_target, property) => {
            touched.push(`${name}.${String(property)}`);
            return () => Promise.reject(new Error(`${name} was used`));
          },
        },
      ) as T;
    const limits = { maxBodyBytes: 200_000, maxJsonDepth: 32 };
    return {
      touched,
      log,
      handlers: {
        predict: makePredictHandler({
          service: trap<PredictHandlerDeps['service']>('prediction'),
          limits,
          edge: { logger: log.logger({ keys: { function: 'predict' } }) },
        }),
        control: makeControlHandler({
          service: trap<ControlHandlerDeps['service']>('registry'),
          uploads: trap<ControlHandlerDeps['uploads']>('uploads'),
          releases: trap<NonNullable<ControlHandlerDeps['releases']>>('releases'),
          stats: trap<NonNullable<ControlHandlerDeps['stats']>>('stats'),
          predictions: trap<NonNullable<ControlHandlerDeps['predictions']>>('predictions'),
          jobs: trap<NonNullable<ControlHandlerDeps['jobs']>>('jobs'),
          drift: trap<NonNullable<ControlHandlerDeps['drift']>>('drift'),
          experiments: trap<NonNullable<ControlHandlerDeps['experiments']>>('experiments'),
          shadows: trap<NonNullable<ControlHandlerDeps['shadows']>>('shadows'),
          limits,
          edge: { logger: log.logger({ keys: { function: 'control' } }) },
        }),
      },
    };
  }

  it.each(MODEL_ROUTES.map((route) => [routeName(route), route] as const))(
    '%s: a refused model name, version or job id touches no service',
    async (_name, route) => {
      // Prepare
      const { touched, handlers: trappedHandlers, log } = trapped();
      const refusedNames: Names[] = [
        { model: 'a'.repeat(2_043) },
        ...(route.resource.includes('{version}') ? [{ version: '9'.repeat(400) }] : []),
        ...(route.resource.includes('{job}') ? [{ job: '..%2F..%2Fbatch-jobs' }, { job: `job-${'a'.repeat(2_039)}` }] : []),
        ...(route.resource.includes('{experiment}')
          ? [{ experiment: '..%2F..%2Fexperiments' }, { experiment: `exp-${'a'.repeat(2_039)}` }]
          : []),
      ];

      // Act
      const refused = [];
      for (const names of refusedNames) refused.push(await invoke(trappedHandlers[route.fn], eventWith(route, names)));
      const untouchedSoFar = [...touched];
      const valid = await invoke(trappedHandlers[route.fn], eventWith(route, {}));

      // Assess: nothing was used for the refused names; a valid one does reach a service (the trap works).
      for (const result of refused) expect(result.statusCode).toBe(400);
      expect(untouchedSoFar).toEqual([]);
      if (!(route.method === 'POST' || route.method === 'PUT')) expect(touched.length).toBeGreaterThan(0);
      // A service the valid name reached failed it: one 500, logged as ERROR with the trap's error.
      const failures = log.take({ level: 'ERROR', message: 'request failed' });
      if (valid.statusCode === 500) {
        expect(failures).toEqual([
          expect.objectContaining({
            function: route.fn,
            code: 'INTERNAL',
            error: expect.objectContaining({ message: expect.stringMatching(/ was used$/) }),
          }),
        ]);
      } else expect(failures).toEqual([]);
      expect(log.untaken()).toEqual([]);
    },
  );

  it('a template naming a parameter the edge has no check for fails when the handler is built', async () => {
    const { httpFunction } = await import('../../functions/shared/http.js');
    expect(() =>
      httpFunction({ maxBodyBytes: 1, maxJsonDepth: 1 }, { 'GET /v1/things/{thing}': async () => ({ statusCode: 200, body: '' }) }),
    ).toThrow(/\{thing\}/);
  });
});

// ---------------------------------------------------------------------------------------------
// The edge's own 404 and 405

describe('404 and 405 carry a request id like every other error', () => {
  it('over HTTP: an unknown route, a wrong method, a wrong method on the JWKS', async () => {
    // Act
    const missing = await call(stack.url, 'GET', '/v1/nothing-here', undefined, admin);
    const wrong = await call(stack.url, 'DELETE', '/v1/models/iris/predict', undefined, admin);
    const jwks = await call(stack.url, 'POST', '/.well-known/jwks.json', '{}');

    // Assess
    expect([missing.status, wrong.status, jwks.status]).toEqual([404, 405, 405]);
    expect([errorOf(missing).code, errorOf(wrong).code, errorOf(jwks).code]).toEqual([
      'ROUTE_NOT_FOUND',
      'METHOD_NOT_ALLOWED',
      'METHOD_NOT_ALLOWED',
    ]);
    for (const reply of [missing, wrong, jwks]) expectErrorShape(reply.status, reply.body, reply.text);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('on Lambda: an unknown resource, and a method the resource does not serve (templated and literal)', async () => {
    // Act
    const missing = await invoke(handlers.predict, proxyEvent({ method: 'GET', resource: '/v1/nothing-here' }));
    const templated = await invoke(
      handlers.predict,
      proxyEvent({
        method: 'GET',
        resource: '/v1/models/{model}/predict',
        path: '/v1/models/iris/predict',
        pathParameters: [['model', 'iris']],
      }),
    );
    const literal = await invoke(handlers.control, proxyEvent({ method: 'DELETE', resource: '/v1/models/iris/versions' }));

    // Assess
    expect([missing.statusCode, templated.statusCode, literal.statusCode]).toEqual([404, 405, 405]);
    for (const result of [missing, templated, literal]) expectErrorShape(result.statusCode, result.json, result.body);
    expect(templated.headers?.['allow']).toBe('POST');
    expect(literal.headers?.['allow']).toBe('GET, POST');
  });

  it('on Lambda, a literal resource (how AWS integrates each endpoint) is served with its model from the path', async () => {
    // Act
    const result = await invoke(
      handlers.predict,
      proxyEvent({
        method: 'POST',
        resource: '/v1/models/iris/predict',
        headers: [['content-type', 'application/json']],
        body: JSON.stringify({ features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 } }),
      }),
    );

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.json).toMatchObject({ model: 'iris' });
  });
});
