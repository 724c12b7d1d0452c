/**
 * What the local API does with names and paths the caller chooses, on the observability routes and
 * every other: query keys and header names that are Object's own (`constructor`, `__proto__`,
 * `toString`) are plain names, and a long path is quoted in an error only as a short excerpt.
 */
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { call, errorOf } from '../fixtures/http.js';
import { adminToken, bearer } from '../fixtures/tokens.js';

const FEATURES = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };
const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

let stack: TestStack;
let admin: Record<string, string>;

beforeAll(async () => {
  stack = await startTestStack({ rateLimit: false });
  admin = bearer(await adminToken(stack));
}, 60_000);

afterAll(async () => {
  await stack.stop();
});

describe.each(PROTOTYPE_NAMES)('the name %s', (name) => {
  it('is a plain query key: public, predict and stats routes answer as for any unknown key', async () => {
    // Act
    const live = await call(stack.url, 'GET', `/v2/health/live?${name}=1`);
    const predict = await call(stack.url, 'POST', `/v1/models/iris/predict?${name}=1`, { features: FEATURES }, admin);
    const stats = await call(stack.url, 'GET', `/v1/models/iris/stats?minutes=5&${name}=1`, undefined, admin);

    // Assess
    for (const reply of [live, predict, stats]) {
      expect(reply.status).toBe(400);
      expect(errorOf(reply)).toMatchObject({ code: 'UNKNOWN_PARAMETER', path: `query.${name}` });
    }
  });

  it('is a plain header name', async () => {
    // Act
    const predict = await call(stack.url, 'POST', '/v1/models/iris/predict', { features: FEATURES }, { ...admin, [name]: 'x' });
    const live = await call(stack.url, 'GET', '/v2/health/live', undefined, { [name]: 'x' });

    // Assess
    expect([predict.status, live.status]).toEqual([200, 200]);
  });
});

describe('a long path', () => {
  const long = 'a'.repeat(8_000);

  it('is quoted as a short excerpt in a 404, the route unknown', async () => {
    // Act
    const reply = await call(stack.url, 'GET', `/v1/models/iris/stats/${long}`, undefined, admin);

    // Assess
    expect(reply.status).toBe(404);
    expect(errorOf(reply).code).toBe('ROUTE_NOT_FOUND');
    expect(reply.text.length).toBeLessThan(600);
  });

  it('is quoted as a short excerpt in a 400, a query parameter name repeated or unknown', async () => {
    // Act
    const name = 'p'.repeat(4_000);
    const repeated = await call(stack.url, 'GET', `/v1/models/iris/stats?${name}=1&${name}=2`, undefined, admin);
    const unknown = await call(stack.url, 'GET', `/v1/models/iris/stats?${name}=1`, undefined, admin);

    // Assess
    expect([repeated.status, unknown.status]).toEqual([400, 400]);
    expect(errorOf(repeated).code).toMatch(/^(REPEATED|UNKNOWN)_PARAMETER$/);
    expect(repeated.text.length).toBeLessThan(600);
    expect(unknown.text.length).toBeLessThan(600);
  });

  it('is quoted as a short excerpt in a 403, the token without the scope', async () => {
    // Prepare
    const predictOnly = bearer(await stack.auth!.mint({ subject: 'p', scopes: ['predict'] }));

    // Act
    const reply = await call(stack.url, 'GET', `/v1/models/b${long.slice(0, 60)}/stats`, undefined, predictOnly);
    const longer = await call(stack.url, 'GET', `/v1/models/${long}/history`, undefined, predictOnly);

    // Assess
    expect(reply.status).toBe(403);
    expect(errorOf(reply).code).toBe('FORBIDDEN');
    expect(longer.status).toBeGreaterThanOrEqual(400);
    expect(longer.status).toBeLessThan(500);
    expect(longer.text.length).toBeLessThan(1_000);
  });
});
