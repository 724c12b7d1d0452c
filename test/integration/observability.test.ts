/**
 * What the product observed, read back over real HTTP on the local stack and through modelctl:
 *
 * - the acceptance test of the health verdict: a real ONNX model that fails at run time on some
 *   inputs (float features Cast to int64 and used as Gather indices into a table of 3: ONNX
 *   Runtime throws on an index out of range, answered 500 MODEL_RUN_FAILED) turns unhealthy in
 *   `GET /v1/models/{m}/stats` and `modelctl stats` exactly when its error rate passes 5%;
 * - the deployment route's new fields; the stats route's refusals;
 * - the prediction log read back page by page (`GET /v1/models/{m}/predictions`, `modelctl logs`,
 *   `--follow`), and its refusals;
 * - the access log lines of served, failed and refused requests.
 */
import { buildModel } from '../support/onnx/builder.js';
import { lookupModel } from '../fixtures/models.js';
import type { Deployment } from '../../functions/core/release.js';
import type { ModelStats } from '../../functions/core/stats.js';
import type { PredictionLogRecord } from '../../functions/core/ports.js';
import { modelctl } from '../../bin/modelctl.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { call as anonymousCall, errorOf } from '../fixtures/http.js';
import { runModelctl } from '../fixtures/modelctl.js';
import { adminToken, callWith, type Call } from '../fixtures/tokens.js';

let stack: TestStack;
let call: Call;
let token: string;
/** The access log lines the local server wrote. */
const accessLog: string[] = [];

const SUBJECT = 'ops-person';

beforeAll(async () => {
  stack = await startTestStack({ rateLimit: false, accessLog: (line) => accessLog.push(line) });
  token = await adminToken(stack, SUBJECT);
  call = callWith(token);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/**
 * The ERROR lines of the predictions ONNX Runtime failed to run (taken from the stack's log): the
 * request's keys and ORT's reason, which the 500 answer leaves out.
 */
function runFailures(): Record<string, unknown>[] {
  const failures = stack.log.take({ level: 'ERROR', message: 'request failed', model: 'lookup' });
  for (const failure of failures) {
    expect(failure).toMatchObject({
      function: 'predict',
      modelVersion: '1',
      caller: SUBJECT,
      code: 'MODEL_RUN_FAILED',
      error: { name: 'InternalError', message: expect.stringContaining("running Gather node. Name:'Gather_1'") },
    });
  }
  return failures;
}

/** Input `x` float32 [N,1] → `y` = x. */
function identityModel(): Uint8Array {
  return buildModel({
    inputs: [{ name: 'x', type: 'float32', shape: ['N', 1] }],
    outputs: [{ name: 'y', type: 'float32', shape: ['N', 1] }],
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
  });
}

/** Registers `bytes` as `model`'s first version and makes it the production version. */
async function liveModel(model: string, bytes: Uint8Array): Promise<void> {
  const registered = await call(stack.url, 'POST', `/v1/models/${model}/versions`, {
    modelBase64: Buffer.from(bytes).toString('base64'),
    metadata: { features: ['x'] },
  });
  expect(registered.status).toBe(201);
  expect((await call(stack.url, 'POST', `/v1/models/${model}/versions/1/stage`, { to: 'staging' })).status).toBe(200);
  expect((await call(stack.url, 'PUT', `/v1/models/${model}/production`, { version: '1' })).status).toBe(200);
}

/** `count` predictions of `body`, one after another; their statuses. */
async function predict(model: string, body: unknown, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push((await call(stack.url, 'POST', `/v1/models/${model}/predict`, body)).status);
  return statuses;
}

async function stats(model: string, query = ''): Promise<ModelStats> {
  const reply = await call(stack.url, 'GET', `/v1/models/${model}/stats${query}`);
  expect(reply.status).toBe(200);
  return reply.body as ModelStats;
}

const GOOD = { features: { x: 1 } };
const OUT_OF_RANGE = { features: { x: 7 } };
const MISSING_FEATURE = { features: { z: 1 } };

describe('health with model statistics', () => {
  it('turns a version unhealthy in GET /stats and modelctl stats once its error rate passes 5%, and says why', async () => {
    // Prepare
    await liveModel('lookup', lookupModel());
    const idle = await stats('lookup');

    // Act: good rows and callers' mistakes, then rows the model fails on, one at a time.
    const good = await predict('lookup', GOOD, 100);
    const mistakes = await predict('lookup', MISSING_FEATURE, 10);
    const failing = await predict('lookup', OUT_OF_RANGE, 5);
    const atFive = await stats('lookup'); // 5 of 115: 4.35%
    const sixth = await call(stack.url, 'POST', '/v1/models/lookup/predict', OUT_OF_RANGE);
    const passed = await stats('lookup'); // 6 of 116: 5.17%
    const table = await runModelctl({ url: stack.url, token }, ['stats', 'lookup', '--minutes', '60']);
    const json = await runModelctl({ url: stack.url, token }, ['stats', 'lookup', '--json']);

    // Assess
    expect(idle.versions).toEqual([
      expect.objectContaining({
        functionVersion: '$LATEST',
        invocations: 0,
        errorRate: null,
        latencyMs: null,
        healthy: true,
        evidence: 'none',
      }),
    ]);
    expect(new Set(good)).toEqual(new Set([200]));
    expect(new Set(mistakes)).toEqual(new Set([400]));
    expect(new Set(failing)).toEqual(new Set([500]));
    expect(errorOf(sixth).code).toBe('MODEL_RUN_FAILED');
    expect(runFailures()).toHaveLength(6);
    expect(atFive).toMatchObject({ healthy: true, thresholds: { maxErrorRate: 0.05, maxMeanLatencyMs: 1_000 } });
    expect(atFive.versions[0]).toMatchObject({ invocations: 115, clientErrors: 10, serverErrors: 5, healthy: true, reasons: [] });
    expect(passed.healthy).toBe(false);
    expect(passed.versions[0]).toMatchObject({
      functionVersion: '$LATEST',
      role: 'stable',
      modelVersion: '1',
      pinned: false,
      percent: 100,
      invocations: 116,
      clientErrors: 10,
      serverErrors: 6,
      errorRate: 6 / 116,
      healthy: false,
      evidence: 'invocations',
      reasons: ['error rate 5.17% (6 of 116 invocations answered 5xx) is above 5%'],
    });
    const latency = passed.versions[0]?.latencyMs;
    expect(latency && latency.p50 > 0 && latency.p50 <= latency.p99 && latency.mean > 0).toBe(true);
    expect(table.code).toBe(0);
    const [title, header, row] = table.out.trimEnd().split('\n');
    expect(title).toBe('lookup, last 60 min: UNHEALTHY (thresholds: error rate above 5%, mean latency above 1000 ms)');
    expect(header).toMatch(/^FUNCTION +MODEL +ROLE +PERCENT +INVOCATIONS +4XX +5XX +ERROR RATE +P50 MS +P99 MS +MEAN MS +HEALTH$/);
    expect(row).toMatch(
      /^\$LATEST +1 \(production\) +stable +100 +116 +10 +6 +5\.17% +[\d.]+ +[\d.]+ +[\d.]+ +UNHEALTHY: error rate 5\.17% \(6 of 116 invocations answered 5xx\) is above 5%$/,
    );
    expect(JSON.parse(json.out)).toMatchObject({ model: 'lookup', healthy: false, versions: [{ serverErrors: 6, invocations: 116 }] });
  }, 60_000);

  it('shows per version the invocations, errors, client errors and latency in GET /deployment', async () => {
    // Prepare
    await liveModel('counted', identityModel());
    await predict('counted', GOOD, 8);
    await predict('counted', MISSING_FEATURE, 2);

    // Act
    const reply = await call(stack.url, 'GET', '/v1/models/counted/deployment');

    // Assess
    const deployment = reply.body as Deployment;
    expect(deployment.stable).toMatchObject({ functionVersion: '$LATEST', invocations: 10, errors: 0, clientErrors: 2 });
    expect(Object.keys(deployment.stable.latencyMs ?? {}).sort()).toEqual(['mean', 'p50', 'p99']);
    expect(deployment.metricsWindowMinutes).toBe(60);
  });

  it.each([
    ['?minutes=0', 'INVALID_WINDOW', 'query.minutes'],
    ['?minutes=1441', 'INVALID_WINDOW', 'query.minutes'],
    ['?minutes=1.5', 'INVALID_WINDOW', 'query.minutes'],
    ['?minutes=ten', 'INVALID_WINDOW', 'query.minutes'],
    ['?minutes=5&minutes=6', 'REPEATED_PARAMETER', 'query.minutes'],
    ['?window=5', 'UNKNOWN_PARAMETER', 'query.window'],
  ])('refuses %s with 400 %s at %s', async (query, code, path) => {
    const reply = await call(stack.url, 'GET', `/v1/models/iris/stats${query}`);

    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toMatchObject({ code, path });
  });

  it('answers 404 for a model that is not registered, and 403 to a token without models:read', async () => {
    // Prepare
    const predictOnly = callWith((await stack.auth?.mint({ subject: 'p', scopes: ['predict'] })) ?? '');

    // Act
    const missing = await call(stack.url, 'GET', '/v1/models/nobody/stats');
    const forbidden = await predictOnly(stack.url, 'GET', '/v1/models/iris/stats');
    const forbiddenLogs = await predictOnly(stack.url, 'GET', '/v1/models/iris/predictions');

    // Assess
    expect([missing.status, errorOf(missing).code]).toEqual([404, 'MODEL_NOT_FOUND']);
    expect([forbidden.status, forbiddenLogs.status]).toEqual([403, 403]);
    expect(errorOf(forbiddenLogs).message).toContain('"models:read" or "models:read:iris"');
  });
});

describe('reading the prediction log', () => {
  interface Page {
    readonly since: string;
    readonly records: PredictionLogRecord[];
    readonly nextCursor?: string;
  }

  let cursorOfLogged: string;

  beforeAll(async () => {
    await liveModel('logged', identityModel());
    for (const x of [1, 2, 3, 4, 5])
      expect((await call(stack.url, 'POST', '/v1/models/logged/predict', { features: { x } })).status).toBe(200);
    await stack.flush();
  }, 60_000);

  it("lists a model's records oldest first, a page at a time, with a cursor while more remain", async () => {
    // Act
    const first = (await call(stack.url, 'GET', '/v1/models/logged/predictions?limit=2')).body as Page;
    const second = (await call(stack.url, 'GET', `/v1/models/logged/predictions?limit=2&cursor=${first.nextCursor ?? ''}`)).body as Page;
    const third = (await call(stack.url, 'GET', `/v1/models/logged/predictions?limit=2&cursor=${second.nextCursor ?? ''}`)).body as Page;
    const future = (await call(stack.url, 'GET', `/v1/models/logged/predictions?since=${new Date(Date.now() + 3_600_000).toISOString()}`))
      .body as Page;
    cursorOfLogged = first.nextCursor ?? '';

    // Assess
    const records = [...first.records, ...second.records, ...third.records];
    // Oldest first (two requests served in the same millisecond may come either way round).
    const xs = records.map((r) => (JSON.parse(r.outputs) as { y: number[] }[])[0]?.y[0]);
    expect([...xs].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(records.map((r) => r.requestId)).size).toBe(5);
    expect(
      records.every(
        (r) => r.model === 'logged' && r.modelVersion === '1' && r.functionVersion === '$LATEST' && r.caller === SUBJECT && r.rows === 1,
      ),
    ).toBe(true);
    expect(records.map((r) => r.timestamp)).toEqual(records.map((r) => r.timestamp).sort());
    expect(typeof first.nextCursor).toBe('string');
    expect(third.nextCursor).toBeUndefined();
    expect(third.records).toHaveLength(1);
    expect(future.records).toEqual([]);
  });

  it.each([
    ['a since that is no time', '?since=last-tuesday', 'INVALID_SINCE', 'query.since'],
    ['a time without a zone', '?since=2025-03-04T05:00:00', 'INVALID_SINCE', 'query.since'],
    ['a limit of 0', '?limit=0', 'INVALID_LIMIT', 'query.limit'],
    ['a limit over 1000', '?limit=1001', 'INVALID_LIMIT', 'query.limit'],
    ['a tampered cursor', '?cursor=eyJtIjoibG9nZ2VkIn0', 'INVALID_CURSOR', 'query.cursor'],
    ['a parameter it does not take', '?model=wine', 'UNKNOWN_PARAMETER', 'query.model'],
  ])('refuses %s with 400 and the field path', async (_case, query, code, path) => {
    const reply = await call(stack.url, 'GET', `/v1/models/logged/predictions${query}`);

    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toMatchObject({ code, path });
  });

  it("refuses another model's cursor, and never echoes more than an excerpt of what it refuses", async () => {
    // Prepare
    const long = `2025-${'9'.repeat(3_000)}`;

    // Act
    const mismatch = await call(stack.url, 'GET', `/v1/models/lookup/predictions?cursor=${cursorOfLogged}`);
    const echoed = await call(stack.url, 'GET', `/v1/models/logged/predictions?since=${long}`);

    // Assess
    expect([mismatch.status, errorOf(mismatch).code, errorOf(mismatch).path]).toEqual([400, 'CURSOR_MODEL_MISMATCH', 'query.cursor']);
    expect(echoed.status).toBe(400);
    expect(echoed.text.length).toBeLessThan(600);
  });

  it('prints one line per record with modelctl logs, and the raw page with --json', async () => {
    // Act
    const lines = await runModelctl({ url: stack.url, token }, ['logs', 'logged', '--since', '1h', '--limit', '3']);
    const json = await runModelctl({ url: stack.url, token }, ['logs', 'logged', '--json']);

    // Assess
    expect(lines.code).toBe(0);
    const printed = lines.out.trimEnd().split('\n');
    expect(printed).toHaveLength(3);
    for (const line of printed) {
      expect(line).toMatch(
        new RegExp(
          `^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\S+ model=1 function=\\$LATEST caller=${SUBJECT} rows=1 [\\d.]+ms \\[\\{"y":\\[[1-5]\\]\\}\\]$`,
        ),
      );
    }
    expect(lines.err).toContain('more records follow');
    expect((JSON.parse(json.out) as Page).records).toHaveLength(5);
  });

  it('follows the log with --follow until stopped, printing each record once', async () => {
    // Prepare: modelctl in-process, its output watched line by line, stopped through its signal.
    const stop = new AbortController();
    const printed: string[] = [];
    let waiting: { count: number; resolve: () => void } | undefined;
    const until = (count: number) =>
      new Promise<void>((resolve) => {
        if (printed.length >= count) resolve();
        else waiting = { count, resolve };
      });
    const running = modelctl(['logs', 'logged', '--follow', '--poll', '0.02'], {
      fetch: globalThis.fetch,
      out: (text) => {
        printed.push(...text.trimEnd().split('\n'));
        if (waiting && printed.length >= waiting.count) waiting.resolve();
      },
      err: () => undefined,
      readFile: async () => Buffer.alloc(0),
      env: { MODELCTL_API: stack.url, MODELCTL_TOKEN: token },
      signal: stop.signal,
    });

    // Act: the five records so far, then two more served while it follows.
    await until(5);
    for (const x of [6, 7]) await call(stack.url, 'POST', '/v1/models/logged/predict', { features: { x } });
    await stack.flush();
    await until(7);
    stop.abort();
    const code = await running;

    // Assess
    expect(code).toBe(0);
    expect(printed).toHaveLength(7);
    expect(new Set(printed.map((line) => line.split(' ')[1])).size).toBe(7);
    const xs = printed.map((line) => /\[\{"y":\[(\d)\]\}\]$/.exec(line)?.[1]);
    expect([...xs.slice(0, 5)].sort()).toEqual(['1', '2', '3', '4', '5']);
    expect([...xs.slice(5)].sort()).toEqual(['6', '7']);
  }, 30_000);
});

describe('the access log', () => {
  const lineFor = (pattern: RegExp) => accessLog.find((line) => pattern.test(line));

  it('writes one line per request: method, route, status, ms, model@version and rows when observed', async () => {
    // Act
    const served = await call(stack.url, 'POST', '/v1/models/iris/predict', {
      instances: [
        [5.1, 3.5, 1.4, 0.2],
        [6.7, 3.0, 5.2, 2.3],
      ],
    });
    const failed = await call(stack.url, 'POST', '/v1/models/lookup/predict', OUT_OF_RANGE);
    const unknown = await call(stack.url, 'GET', '/v1/nowhere');
    const anonymous = await anonymousCall(stack.url, 'POST', '/v1/models/iris/predict', GOOD);
    const control = await call(stack.url, 'GET', '/v1/models/iris/stats?minutes=5');

    // Assess
    expect([served.status, failed.status, unknown.status, anonymous.status, control.status]).toEqual([200, 500, 404, 401, 200]);
    expect(lineFor(/^POST \/v1\/models\/\{model\}\/predict 200 \d+\.\dms iris@1 rows=2$/)).toBeDefined();
    expect(lineFor(/^POST \/v1\/models\/\{model\}\/predict 500 \d+\.\dms lookup@1 rows=1 error=MODEL_RUN_FAILED$/)).toBeDefined();
    expect(runFailures()).toEqual([expect.objectContaining({ requestId: (failed.body as { requestId: string }).requestId })]);
    expect(lineFor(/^GET \/v1\/nowhere 404 \d+\.\dms$/)).toBeDefined();
    expect(lineFor(/^POST \/v1\/models\/\{model\}\/predict 401 \d+\.\dms$/)).toBeDefined();
    expect(lineFor(/^GET \/v1\/models\/\{model\}\/stats 200 \d+\.\dms$/)).toBeDefined();
  });
});
