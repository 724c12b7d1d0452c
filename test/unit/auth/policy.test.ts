/**
 * The policy an authorizer returns is cached by API Gateway per token and applied to every route
 * that token calls next. These tests prove the policy is right for every route, not just the one
 * that produced it.
 */
import { grantsOf, SCOPES, allows, type Grants } from '../../../functions/auth/permissions.js';
import { evaluatePolicy, formatMethodArn, parseMethodArn, policyFor } from '../../../functions/auth/policy.js';
import { ROUTES } from '../../../functions/shared/routes.js';

const API = 'arn:aws:execute-api:eu-west-1:123456789012:abc123def4';
const arn = (method: string, path: string) => `${API}/prod/${method}${path}`;
const concrete = (resource: string, model: string) => resource.replace('{model}', model).replace('{version}', '3');

describe('method ARNs', () => {
  it('splits and rebuilds a method ARN', () => {
    const parsed = parseMethodArn(arn('POST', '/v1/models/iris/predict'));
    expect(parsed).toEqual({ api: API, stage: 'prod', method: 'POST', path: '/v1/models/iris/predict' });
    expect(formatMethodArn(parsed)).toBe(arn('POST', '/v1/models/iris/predict'));
  });

  it('refuses what is not a method ARN', () => {
    expect(() => parseMethodArn('arn:aws:lambda:eu-west-1:123456789012:function:x')).toThrow('Not an API Gateway method ARN');
  });
});

describe('evaluatePolicy', () => {
  const policy = (statements: { Effect: 'Allow' | 'Deny'; Resource: string | string[]; Action?: string }[]) => ({
    Version: '2012-10-17',
    Statement: statements.map((s) => ({ Action: s.Action ?? 'execute-api:Invoke', Effect: s.Effect, Resource: s.Resource })),
  });

  it('allows what an Allow matches, with IAM wildcards crossing "/"', () => {
    const p = policy([{ Effect: 'Allow', Resource: arn('GET', '/v1/models/*') }]);
    expect(evaluatePolicy(p, arn('GET', '/v1/models/iris/versions/3'))).toBe('Allow');
    expect(evaluatePolicy(p, arn('GET', '/v1/models'))).toBe('Deny');
    expect(evaluatePolicy(p, arn('POST', '/v1/models/iris/versions'))).toBe('Deny');
  });

  it('lets an explicit Deny win, and denies what nothing matches', () => {
    const p = policy([
      { Effect: 'Allow', Resource: `${API}/prod/*` },
      { Effect: 'Deny', Resource: arn('PUT', '/v1/models/*/production') },
    ]);
    expect(evaluatePolicy(p, arn('PUT', '/v1/models/iris/production'))).toBe('Deny');
    expect(evaluatePolicy(p, arn('GET', '/v1/models'))).toBe('Allow');
    expect(evaluatePolicy(policy([]), arn('GET', '/v1/models'))).toBe('Deny');
  });

  it('matches case-sensitively, treats "." literally and ignores other actions', () => {
    const p = policy([
      { Effect: 'Allow', Resource: arn('GET', '/v1/models/iris') },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: '*' },
    ]);
    expect(evaluatePolicy(p, arn('GET', '/v1/models/IRIS'))).toBe('Deny');
    expect(evaluatePolicy(policy([{ Effect: 'Allow', Resource: arn('GET', '/v1/models/a.c') }]), arn('GET', '/v1/models/abc'))).toBe(
      'Deny',
    );
    expect(evaluatePolicy(p, arn('GET', '/v1/models/wine'))).toBe('Deny');
  });
});

describe('policyFor', () => {
  it('lists exactly the method ARNs a model-limited token opens', () => {
    const policy = policyFor(grantsOf({ scope: 'predict models:promote', models: ['iris'] }), arn('POST', '/v1/models/iris/predict'));
    expect(policy.Statement).toEqual([
      {
        Action: 'execute-api:Invoke',
        Effect: 'Allow',
        Resource: [
          arn('POST', '/v1/models/iris/predict'),
          arn('POST', '/v1/models/iris/payloads'),
          arn('POST', '/v2/models/iris/infer'),
          arn('GET', '/v2/models/iris'),
          arn('GET', '/v2/models/iris/ready'),
          arn('POST', '/v2/models/iris/versions/*/infer'),
          arn('GET', '/v2/models/iris/versions/*'),
          arn('GET', '/v2/models/iris/versions/*/ready'),
          arn('PUT', '/v1/models/iris/production'),
          arn('POST', '/v1/models/iris/versions/*/stage'),
          arn('POST', '/v1/models/iris/versions/*/promote'),
          arn('POST', '/v1/models/iris/deployment/shift'),
          arn('POST', '/v1/models/iris/deployment/rollback'),
          arn('POST', '/v1/models/iris/deployment/finalize'),
          arn('POST', '/v1/models/iris/experiments'),
          arn('POST', '/v1/models/iris/experiments/*/stop'),
          arn('POST', '/v1/models/iris/experiments/*/promote-winner'),
        ],
      },
    ]);
  });

  it('uses wildcards for unlimited scopes', () => {
    const policy = policyFor(grantsOf({ scope: 'models:read' }), arn('GET', '/v1/models'));
    expect(policy.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Resource: [
        arn('GET', '/v1/models'),
        arn('GET', '/v1/models/*'),
        arn('GET', '/v1/models/*/versions'),
        arn('GET', '/v1/models/*/versions/*'),
        arn('GET', '/v1/models/*/openapi.json'),
        arn('GET', '/v1/models/*/history'),
        arn('GET', '/v1/models/*/deployment'),
        arn('GET', '/v1/models/*/stats'),
        arn('GET', '/v1/models/*/predictions'),
        arn('GET', '/v1/models/*/batch-jobs'),
        arn('GET', '/v1/models/*/batch-jobs/*'),
        arn('GET', '/v1/models/*/capture'),
        arn('GET', '/v1/models/*/drift'),
        arn('GET', '/v1/models/*/versions/*/profile'),
        arn('GET', '/v1/models/*/experiments'),
        arn('GET', '/v1/models/*/experiments/*'),
        arn('GET', '/v1/models/*/shadow'),
      ],
    });
  });

  it('opens the outcome route, and only it, to experiments:outcomes', () => {
    const policy = policyFor(grantsOf({ scope: 'experiments:outcomes:iris' }), arn('GET', '/v1/models'));
    expect(policy.Statement[0]).toMatchObject({ Effect: 'Allow', Resource: [arn('POST', '/v1/models/iris/experiments/*/outcomes')] });
    expect(evaluatePolicy(policy, arn('POST', '/v1/models/iris/experiments/exp-1/outcomes'))).toBe('Allow');
    expect(evaluatePolicy(policy, arn('POST', '/v1/models/iris/experiments/exp-1/stop'))).toBe('Deny');
    expect(evaluatePolicy(policy, arn('GET', '/v1/models/iris/experiments/exp-1'))).toBe('Deny');
    expect(evaluatePolicy(policy, arn('POST', '/v1/models/wine/experiments/exp-1/outcomes'))).toBe('Deny');
  });

  it('opens the batch-job routes, and only them, to batch:submit and batch:read', () => {
    const submit = policyFor(grantsOf({ scope: 'batch:submit:iris' }), arn('GET', '/v1/models'));
    expect(submit.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Resource: [
        arn('POST', '/v1/models/iris/batch-jobs'),
        arn('POST', '/v1/models/iris/batch-jobs/*/cancel'),
        arn('POST', '/v1/models/iris/batch-inputs'),
        arn('POST', '/v1/models/iris/replays'),
      ],
    });
    const read = policyFor(grantsOf({ scope: 'batch:read' }), arn('GET', '/v1/models'));
    expect(read.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Resource: [arn('GET', '/v1/models/*/batch-jobs'), arn('GET', '/v1/models/*/batch-jobs/*')],
    });
    expect(evaluatePolicy(read, arn('GET', '/v1/models/iris'))).toBe('Deny');
    expect(evaluatePolicy(read, arn('GET', '/v1/models/iris/batch-jobs/job-1'))).toBe('Allow');
    expect(evaluatePolicy(submit, arn('POST', '/v1/models/iris/versions'))).toBe('Deny');
    expect(evaluatePolicy(submit, arn('POST', '/v1/models/wine/batch-jobs'))).toBe('Deny');
  });

  it('denies the whole stage to a token that opens nothing', () => {
    const policy = policyFor(grantsOf({ scope: 'openid' }), arn('GET', '/v1/models'));
    expect(policy.Statement).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: `${API}/prod/*` }]);
  });

  it('gives, for every grant shape, every route and several models, the answer the permissions give (the cache trap)', () => {
    // Prepare: for every scope and every pair of scopes, every combination of absent / unlimited /
    // one model / two models (a policy is built per scope and merged, so pairs cover how two
    // statements meet); then 300 seeded draws of a shape for every scope at once; each also under
    // a `models` claim. Models include prefixes of each other. (Every combination of all scopes,
    // 2 × 4^7, takes minutes and finds nothing more.)
    const shapes = ['', '%s', '%s:iris', '%s:iris %s:wine'];
    const scopeSets: string[][] = [];
    const shaped = (scope: string, shape: string) => shape.replaceAll('%s', scope);
    for (const [i, a] of SCOPES.entries()) {
      for (const shapeA of shapes) scopeSets.push([shaped(a, shapeA)]);
      for (const b of SCOPES.slice(i + 1))
        for (const shapeA of shapes) for (const shapeB of shapes) scopeSets.push([shaped(a, shapeA), shaped(b, shapeB)]);
    }
    let seed = 20261130;
    const draw = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let n = 0; n < 300; n++)
      scopeSets.push(SCOPES.map((scope) => shaped(scope, shapes[Math.floor(draw() * shapes.length)] as string)));
    const grantSets: Grants[] = scopeSets.flatMap((scopes) => {
      const scope = scopes.filter((s) => s !== '').join(' ');
      return [grantsOf({ scope }), grantsOf({ scope, models: ['iris-2'] })];
    });
    const models = ['iris', 'wine', 'iris-2', 'ir'];
    const mismatches: string[] = [];

    // Act: the policy is built for one route (as the first request would) and cached; every
    // other route's method ARN is then evaluated against it.
    for (const grants of grantSets) {
      const cached = policyFor(grants, arn('GET', '/v2/health/live'));
      for (const route of ROUTES.filter((r) => !r.public)) {
        for (const model of models) {
          const expected = allows(grants, route, { model }) ? 'Allow' : 'Deny';
          const actual = evaluatePolicy(cached, arn(route.method, concrete(route.resource, model)));
          if (actual !== expected) mismatches.push(`${route.method} ${route.resource} ${model}: ${actual} ≠ ${expected}`);
        }
      }
    }

    // Assess
    const pairs = (SCOPES.length * (SCOPES.length - 1)) / 2;
    expect(grantSets).toHaveLength(2 * (SCOPES.length * 4 + pairs * 16 + 300));
    expect(mismatches).toEqual([]);
  });
});
