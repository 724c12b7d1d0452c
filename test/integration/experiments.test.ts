/**
 * A/B experiments on the local stack (issue 14), over HTTP with real tokens: sticky assignment of
 * 10,000 keys in the proportions of the weights, the same variant for the same key in 200
 * requests and after a restart, outcomes recorded once and only with their scope, the analysis
 * equal to an independent computation in this test, and releases and experiments that refuse to
 * overlap.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { SAMPLE_MODEL } from '../../local/stack.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { call, errorOf, type JsonReply } from '../fixtures/http.js';

/** jstat ships no types: the two functions this test uses. */
const jStat = createRequire(import.meta.url)('jstat') as {
  normal: { cdf(x: number, mean: number, sd: number): number; inv(p: number, mean: number, sd: number): number };
};

const ROW = { sepal_length_cm: 5.9, sepal_width_cm: 3.0, petal_length_cm: 4.2, petal_width_cm: 1.5 };
/** z of the two-sided 99% binomial bound. */
const Z_99 = 2.5758293035489004;

let dataDir: string;
let stack: TestStack;
let admin: string;

async function start(): Promise<void> {
  stack = await startTestStack({ dataDir, rateLimit: false, driftIntervalMs: 0, env: { POINTER_CACHE_MS: '50' } });
  admin = await stack.auth!.mint({
    subject: 'experimenter',
    scopes: ['predict', 'models:read', 'models:write', 'models:promote', 'experiments:outcomes'],
  });
}

function api(method: string, route: string, body?: unknown, token = admin, headers: Record<string, string> = {}): Promise<JsonReply> {
  return call(stack.url, method, route, body, { authorization: `Bearer ${token}`, ...headers });
}

/** Runs `work` for 0..n-1, `width` at a time, in order of index in the result. */
async function pool<T>(n: number, width: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        results[i] = await work(i);
      }
    }),
  );
  return results;
}

interface Served {
  readonly requestId: string;
  readonly modelVersion: string;
  readonly experiment?: { id: string; variant: string };
}

/** One prediction for the unit `key` (header `x-user-id`). */
async function predictAs(key: string | undefined): Promise<Served> {
  const reply = await api('POST', '/v1/models/iris/predict', { features: ROW }, admin, key === undefined ? {} : { 'x-user-id': key });
  expect(reply.status).toBe(200);
  return reply.body as Served;
}

/**
 * Starts an experiment and waits until the endpoint serves it: the endpoint reads the model's
 * record at most every POINTER_CACHE_MS (50 ms here), and the first request after that serves
 * what it knew while the record is re-read.
 */
async function startExperiment(body: Record<string, unknown>): Promise<string> {
  const reply = await api('POST', '/v1/models/iris/experiments', body);
  expect(reply.status).toBe(201);
  const id = (reply.body as { id: string }).id;
  const key: Record<string, string> = (body.assignmentKey as { header?: string } | undefined)?.header ? { 'x-user-id': 'probe' } : {};
  for (let i = 0; i < 100; i++) {
    const probe = await api('POST', '/v1/models/iris/predict', { features: ROW }, admin, key);
    if ((probe.body as Served).experiment?.id === id) return id;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`experiment ${id} is not served after 100 requests`);
}

const byHeader = { source: 'header', header: 'X-User-Id' };
let candidate: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'experiments-'));
  await start();
  // A second version of the sample model (the same file), in staging.
  const bytes = await readFile(SAMPLE_MODEL.file);
  const metadata = JSON.parse(await readFile(SAMPLE_MODEL.metadata, 'utf8')) as unknown;
  const registered = await api('POST', '/v1/models/iris/versions', { modelBase64: bytes.toString('base64'), metadata });
  expect(registered.status).toBe(201);
  candidate = (registered.body as { version: string }).version;
  expect((await api('POST', `/v1/models/iris/versions/${candidate}/stage`, { to: 'staging' })).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('assignment', () => {
  /**
   * Requests of one key, 8 at a time: any that got another variant fails the test. A 70/30
   * assignment that is not sticky passes 200 of them with probability 0.7^200 (1e-31) at most:
   * more repetitions of the same check would add time, not strength.
   */
  const REPEATS = 200;
  let experiment: string;
  const variantOf = new Map<string, string>();

  it("splits 10,000 keys within the 99% binomial bound of the weights, each served by its variant's version", async () => {
    // Prepare
    experiment = await startExperiment({
      variants: [
        { name: 'control', version: '1', weight: 70 },
        { name: 'treatment', version: candidate, weight: 30 },
      ],
      assignmentKey: byHeader,
    });

    // Act
    const answers = await pool(10_000, 16, (i) => predictAs(`user-${i}`));

    // Assess
    answers.forEach((answer, i) => {
      expect(answer.experiment?.id).toBe(experiment);
      expect(answer.modelVersion).toBe(answer.experiment?.variant === 'control' ? '1' : candidate);
      variantOf.set(`user-${i}`, answer.experiment?.variant ?? '');
    });
    const treated = answers.filter((a) => a.experiment?.variant === 'treatment').length;
    const bound = Z_99 * Math.sqrt(10_000 * 0.3 * 0.7);
    expect(Math.abs(treated - 3_000)).toBeLessThanOrEqual(bound);
  }, 120_000);

  it(`gives the same key the same variant in ${REPEATS} requests, in both protocol forms`, async () => {
    const first = variantOf.get('user-42');
    const again = await pool(REPEATS, 8, () => predictAs('user-42'));
    expect(new Set(again.map((a) => a.experiment?.variant))).toEqual(new Set([first]));
    const v2 = await api(
      'POST',
      '/v2/models/iris/infer',
      { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: Object.values(ROW) }] },
      admin,
      { 'x-user-id': 'user-42' },
    );
    expect(v2.status).toBe(200);
    expect((v2.body as { parameters: Record<string, unknown> }).parameters).toMatchObject({
      experiment_id: experiment,
      experiment_variant: first,
    });
  }, 120_000);

  it('serves a request without the key as if no experiment ran, and does not count it', async () => {
    const answer = await predictAs(undefined);
    expect(answer.experiment).toBeUndefined();
    expect(answer.modelVersion).toBe('1');
  });

  it('counts every assigned request and unit in the analysis', async () => {
    // The keys above, user-42's REPEATS + 1 more requests, and the probe of `startExperiment` (one
    // assigned request, and this one to learn its variant).
    const probe = (await predictAs('probe')).experiment?.variant;
    await stack.flush();
    const analysis = (await api('GET', `/v1/models/iris/experiments/${experiment}`)).body as {
      variants: { name: string; requests: number; units: number }[];
    };
    const units = (name: string) => [...variantOf.values()].filter((v) => v === name).length + (probe === name ? 1 : 0);
    const requests = (name: string) => units(name) + (variantOf.get('user-42') === name ? REPEATS + 1 : 0) + (probe === name ? 1 : 0);
    expect(analysis.variants.map((v) => [v.name, v.requests, v.units])).toEqual([
      ['control', requests('control'), units('control')],
      ['treatment', requests('treatment'), units('treatment')],
    ]);
  }, 60_000);

  it('keeps every key on its variant after a restart of the stack', async () => {
    await stack.stop();
    await start();
    await new Promise((resolve) => setTimeout(resolve, 120));
    const keys = Array.from({ length: 300 }, (_, i) => `user-${i * 31}`);
    const after = await pool(keys.length, 8, (i) => predictAs(keys[i]));
    expect(after.map((a) => a.experiment?.variant)).toEqual(keys.map((k) => variantOf.get(k)));
    expect((await api('POST', `/v1/models/iris/experiments/${experiment}/stop`, { reason: 'assignment checked' })).status).toBe(200);
  }, 120_000);
});

describe('releases and experiments', () => {
  it('refuse to overlap, with a 409 that says what to do', async () => {
    const experiment = await startExperiment({
      variants: [
        { name: 'a', version: '1', weight: 50 },
        { name: 'b', version: candidate, weight: 50 },
      ],
    });
    const release = await api('POST', `/v1/models/iris/versions/${candidate}/promote`, { canary: 10 });
    expect(release.status).toBe(409);
    expect(errorOf(release)).toMatchObject({
      code: 'EXPERIMENT_RUNNING',
      message: expect.stringContaining(`/experiments/${experiment}/stop`) as unknown,
    });
    expect((await api('POST', `/v1/models/iris/experiments/${experiment}/stop`, {})).status).toBe(200);

    expect((await api('POST', `/v1/models/iris/versions/${candidate}/promote`, { canary: 10 })).status).toBe(200);
    const during = await api('POST', '/v1/models/iris/experiments', {
      variants: [
        { name: 'a', version: '1', weight: 50 },
        { name: 'b', version: candidate, weight: 50 },
      ],
    });
    expect(during.status).toBe(409);
    expect(errorOf(during).code).toBe('RELEASE_IN_PROGRESS');
    expect((await api('POST', '/v1/models/iris/deployment/rollback', { reason: 'overlap checked' })).status).toBe(200);
  }, 60_000);

  it("keep a variant's version from being archived while the experiment runs", async () => {
    const experiment = await startExperiment({
      variants: [
        { name: 'a', version: '1', weight: 50 },
        { name: 'b', version: candidate, weight: 50 },
      ],
    });
    const archive = await api('POST', `/v1/models/iris/versions/${candidate}/stage`, { to: 'archived' });
    expect([archive.status, errorOf(archive).code, errorOf(archive).path]).toEqual([409, 'VERSION_IN_EXPERIMENT', 'version']);
    // Making the candidate production would archive version 1, the other variant.
    const production = await api('PUT', '/v1/models/iris/production', { version: candidate });
    expect([production.status, errorOf(production).code]).toEqual([409, 'VERSION_IN_EXPERIMENT']);
    expect(errorOf(production).message).toContain(`experiment ${experiment}`);
    expect((await api('POST', `/v1/models/iris/experiments/${experiment}/stop`, {})).status).toBe(200);
  }, 60_000);

  it("take only vetted versions that answer the control's requests", async () => {
    // A development version (never past the gates), and one that lacks a feature of the control's.
    const bytes = await readFile(SAMPLE_MODEL.file);
    const metadata = JSON.parse(await readFile(SAMPLE_MODEL.metadata, 'utf8')) as { features: string[] };
    const draft = await api('POST', '/v1/models/iris/versions', { modelBase64: bytes.toString('base64'), metadata });
    const draftVersion = (draft.body as { version: string }).version;
    const refused = await api('POST', '/v1/models/iris/experiments', {
      variants: [
        { name: 'a', version: '1', weight: 50 },
        { name: 'b', version: draftVersion, weight: 50 },
      ],
    });
    expect([refused.status, errorOf(refused).code, errorOf(refused).path]).toEqual([409, 'NOT_IN_STAGING', 'variants[1].version']);

    // Its golden inputs name the control's features: left out.
    const { goldenInputs: _golden, ...rest } = metadata as { features: string[]; goldenInputs?: unknown };
    const renamed = { ...rest, features: metadata.features.map((f, i) => (i === 0 ? 'sepal_len' : f)) };
    const other = await api('POST', '/v1/models/iris/versions', { modelBase64: bytes.toString('base64'), metadata: renamed });
    expect(other.status).toBe(201);
    const otherVersion = (other.body as { version: string }).version;
    expect((await api('POST', `/v1/models/iris/versions/${otherVersion}/stage`, { to: 'staging' })).status).toBe(200);
    const incompatible = await api('POST', '/v1/models/iris/experiments', {
      variants: [
        { name: 'a', version: '1', weight: 50 },
        { name: 'b', version: otherVersion, weight: 50 },
      ],
    });
    expect([incompatible.status, errorOf(incompatible).code, errorOf(incompatible).path]).toEqual([
      409,
      'VARIANTS_INCOMPATIBLE',
      'variants[1].version',
    ]);
    expect(errorOf(incompatible).message).toContain('lacks "sepal_length_cm"');
    expect((await api('POST', `/v1/models/iris/versions/${otherVersion}/stage`, { to: 'archived' })).status).toBe(200);
    expect((await api('POST', `/v1/models/iris/versions/${draftVersion}/stage`, { to: 'archived' })).status).toBe(200);
  }, 60_000);

  it('refuse a time that does not exist, rather than rolling it over', async () => {
    for (const startsAt of [
      '2027-02-30T00:00:00Z',
      '2027-13-01T00:00:00Z',
      '2027-04-31T10:00:00Z',
      '2027-01-01T24:00:00Z',
      '2027-01-01T10:60:00Z',
    ]) {
      const reply = await api('POST', '/v1/models/iris/experiments', {
        variants: [
          { name: 'a', version: '1', weight: 50 },
          { name: 'b', version: candidate, weight: 50 },
        ],
        startsAt,
      });
      expect([reply.status, errorOf(reply).code, errorOf(reply).path]).toEqual([400, 'INVALID_REQUEST', 'startsAt']);
    }
  });

  it('allows one experiment per model at a time', async () => {
    const experiment = await startExperiment({
      variants: [
        { name: 'a', version: '1', weight: 50 },
        { name: 'b', version: candidate, weight: 50 },
      ],
    });
    const second = await api('POST', '/v1/models/iris/experiments', {
      variants: [
        { name: 'a', version: '1', weight: 50 },
        { name: 'b', version: candidate, weight: 50 },
      ],
    });
    expect(second.status).toBe(409);
    expect(errorOf(second).code).toBe('EXPERIMENT_RUNNING');
    expect((await api('POST', `/v1/models/iris/experiments/${experiment}/stop`, {})).status).toBe(200);
    const again = await api('POST', `/v1/models/iris/experiments/${experiment}/stop`, {});
    expect(again.status).toBe(409);
    expect(errorOf(again).code).toBe('EXPERIMENT_STOPPED');
  }, 60_000);
});

describe('outcomes', () => {
  let experiment: string;
  let served: Served;

  beforeAll(async () => {
    experiment = await startExperiment({
      variants: [
        { name: 'control', version: '1', weight: 50 },
        { name: 'treatment', version: candidate, weight: 50 },
      ],
      assignmentKey: byHeader,
    });
    served = await predictAs('buyer-1');
    await stack.flush();
  }, 60_000);

  afterAll(async () => {
    await api('POST', `/v1/models/iris/experiments/${experiment}/stop`, {});
  });

  it('are recorded once per request id: the same again answers the stored one, another value is a 409', async () => {
    const first = await api('POST', `/v1/models/iris/experiments/${experiment}/outcomes`, { requestId: served.requestId, value: 1 });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      created: true,
      outcome: { variant: served.experiment?.variant, requestId: served.requestId, value: 1 },
    });
    const repeat = await api('POST', `/v1/models/iris/experiments/${experiment}/outcomes`, { requestId: served.requestId, value: 1 });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ created: false, outcome: { value: 1 } });
    const changed = await api('POST', `/v1/models/iris/experiments/${experiment}/outcomes`, { requestId: served.requestId, value: 0 });
    expect(changed.status).toBe(409);
    expect(errorOf(changed)).toMatchObject({ code: 'OUTCOME_CONFLICT', path: 'requestId' });
    const analysis = (await api('GET', `/v1/models/iris/experiments/${experiment}`)).body as {
      variants: { name: string; outcomes: number }[];
    };
    expect(analysis.variants.find((v) => v.name === served.experiment?.variant)?.outcomes).toBe(1);
  });

  it('are refused without their scope, and taken with it alone', async () => {
    const noScope = await stack.auth!.mint({ subject: 'analyst', scopes: ['predict', 'models:read', 'models:write', 'models:promote'] });
    const refused = await api('POST', `/v1/models/iris/experiments/${experiment}/outcomes`, { key: 'buyer-2', value: 1 }, noScope);
    expect(refused.status).toBe(403);
    const checkout = await stack.auth!.mint({ subject: 'checkout', scopes: ['experiments:outcomes'] });
    const taken = await api('POST', `/v1/models/iris/experiments/${experiment}/outcomes`, { key: 'buyer-2', value: 1 }, checkout);
    expect(taken.status).toBe(201);
    expect(taken.body).toMatchObject({ outcome: { recordedBy: 'checkout', value: 1 } });
    // The scope opens nothing else.
    expect((await api('GET', `/v1/models/iris/experiments/${experiment}`, undefined, checkout)).status).toBe(403);
  });

  it('refuse what cannot be an outcome, with the field', async () => {
    const cases: Array<[unknown, string, string]> = [
      [{ requestId: served.requestId, value: 2 }, 'INVALID_OUTCOME', 'value'],
      [{ value: 1 }, 'MISSING_FIELD', 'requestId'],
      [{ requestId: 'r', key: 'k', value: 1 }, 'INVALID_REQUEST', 'key'],
      [{ requestId: 'no-such-request', value: 1 }, 'REQUEST_NOT_FOUND', 'requestId'],
      [{ key: 'k', value: '1' }, 'INVALID_REQUEST', 'value'],
      [{ key: 'k', value: 1, extra: true }, 'UNKNOWN_FIELD', 'extra'],
      [{ key: 'k', outcomeId: 'o' }, 'MISSING_FIELD', 'value'],
      [{ requestId: 'r', value: 1e16 }, 'INVALID_REQUEST', 'value'],
      [{ requestId: 'r', value: 1e-131 }, 'INVALID_REQUEST', 'value'],
      [{ requestId: 'r', outcomeId: 'o', value: 1 }, 'INVALID_REQUEST', 'outcomeId'],
    ];
    for (const [body, code, at] of cases) {
      const reply = await api('POST', `/v1/models/iris/experiments/${experiment}/outcomes`, body);
      expect([reply.status, errorOf(reply).code, errorOf(reply).path]).toEqual([code === 'REQUEST_NOT_FOUND' ? 404 : 400, code, at]);
    }
  });
});

/** Two-sided p of a standard normal z. */
const normalP = (z: number) => 2 * (1 - jStat.normal.cdf(Math.abs(z), 0, 1));

describe('the analysis', () => {
  /**
   * Serves one request per key to a new conversion experiment, then records a conversion for each
   * key with the probability of its variant; returns the experiment and what the test counted.
   */
  async function conversionExperiment(rates: { control: number; treatment: number }, units: number, seed: number) {
    const experiment = await startExperiment({
      variants: [
        { name: 'control', version: '1', weight: 50 },
        { name: 'treatment', version: candidate, weight: 50 },
      ],
      assignmentKey: byHeader,
      metric: 'conversion',
      minimumSample: 500,
    });
    const keys = Array.from({ length: units }, (_, i) => `s${seed}-u${i}`);
    const answers = await pool(units, 16, (i) => predictAs(keys[i]));
    await stack.flush();
    const counts = { control: { n: 0, x: 0 }, treatment: { n: 0, x: 0 } };
    // The probe of `startExperiment` is a unit too, never converted.
    counts[(await predictAs('probe')).experiment?.variant as 'control' | 'treatment'].n++;
    const outcomes: Array<{ key: string; value: number }> = [];
    // Each arm converts its units at exactly its rate, evenly spread (the k-th unit of an arm converts
    // when ⌊(k+1)·rate⌋ passes ⌊k·rate⌋): the experiment's id is random and decides which arm a key
    // lands in, so random draws would make "no effect" significant in 5% of runs.
    const seen = { control: 0, treatment: 0 };
    answers.forEach((answer, i) => {
      const variant = answer.experiment?.variant as 'control' | 'treatment';
      counts[variant].n++;
      const k = seen[variant]++;
      const converted = Math.floor((k + 1) * rates[variant] + 1e-9) > Math.floor(k * rates[variant] + 1e-9);
      if (converted) counts[variant].x++;
      // Some units get an explicit 0: it must count like no outcome.
      if (converted || i % 7 === 0) outcomes.push({ key: keys[i] as string, value: converted ? 1 : 0 });
    });
    await pool(outcomes.length, 16, async (i) => {
      const reply = await api('POST', `/v1/models/iris/experiments/${experiment}/outcomes`, outcomes[i]);
      expect(reply.status).toBe(201);
    });
    return { experiment, counts };
  }

  /** The test's own two-proportion z-test, Wilson intervals and Wald interval of the difference. */
  function independent(counts: { control: { n: number; x: number }; treatment: { n: number; x: number } }, alpha: number) {
    const z = jStat.normal.inv(1 - alpha / 2, 0, 1);
    const wilson = ({ n, x }: { n: number; x: number }) => {
      const p = x / n;
      const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
      const half = (z / (1 + (z * z) / n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
      return { low: centre - half, high: centre + half };
    };
    const p1 = counts.control.x / counts.control.n;
    const p2 = counts.treatment.x / counts.treatment.n;
    const pooled = (counts.control.x + counts.treatment.x) / (counts.control.n + counts.treatment.n);
    const statistic = (p2 - p1) / Math.sqrt(pooled * (1 - pooled) * (1 / counts.control.n + 1 / counts.treatment.n));
    const se = Math.sqrt((p1 * (1 - p1)) / counts.control.n + (p2 * (1 - p2)) / counts.treatment.n);
    return {
      control: wilson(counts.control),
      treatment: wilson(counts.treatment),
      statistic,
      pValue: normalP(statistic),
      difference: p2 - p1,
      ci: { low: p2 - p1 - z * se, high: p2 - p1 + z * se },
    };
  }

  interface Analysis {
    winner: { variant: string; version: string } | null;
    decision: string;
    variants: Array<{
      name: string;
      units: number;
      conversions: number;
      mean: number;
      ci: { low: number; high: number };
      comparison?: { statistic: number; pValue: number; difference: number; ci: { low: number; high: number }; significant: boolean };
    }>;
  }

  function expectAnalysis(analysis: Analysis, counts: Parameters<typeof independent>[0]) {
    const mine = independent(counts, 0.05);
    const [control, treatment] = analysis.variants;
    expect([control?.units, control?.conversions, treatment?.units, treatment?.conversions]).toEqual([
      counts.control.n,
      counts.control.x,
      counts.treatment.n,
      counts.treatment.x,
    ]);
    const close = (a: number | undefined, b: number) => expect(Math.abs((a ?? Number.NaN) - b)).toBeLessThanOrEqual(1e-9);
    close(control?.ci.low, mine.control.low);
    close(control?.ci.high, mine.control.high);
    close(treatment?.ci.low, mine.treatment.low);
    close(treatment?.ci.high, mine.treatment.high);
    close(treatment?.comparison?.statistic, mine.statistic);
    close(treatment?.comparison?.pValue, mine.pValue);
    close(treatment?.comparison?.difference, mine.difference);
    close(treatment?.comparison?.ci.low, mine.ci.low);
    close(treatment?.comparison?.ci.high, mine.ci.high);
    return mine;
  }

  it('declares no winner when there is no effect', async () => {
    const { experiment, counts } = await conversionExperiment({ control: 0.12, treatment: 0.12 }, 3_000, 9);
    const analysis = (await api('GET', `/v1/models/iris/experiments/${experiment}`)).body as Analysis;
    const mine = expectAnalysis(analysis, counts);
    expect(mine.pValue).toBeGreaterThan(0.05);
    expect(analysis.variants[1]?.comparison?.significant).toBe(false);
    expect(analysis.winner).toBeNull();
    const refused = await api('POST', `/v1/models/iris/experiments/${experiment}/promote-winner`, {});
    expect(refused.status).toBe(409);
    expect(errorOf(refused).code).toBe('NO_WINNER');
    expect((await api('POST', `/v1/models/iris/experiments/${experiment}/stop`, {})).status).toBe(200);
  }, 180_000);

  it("finds a known effect, equal to the test's own z-test to 1e-9, and promotes the winner", async () => {
    const { experiment, counts } = await conversionExperiment({ control: 0.1, treatment: 0.16 }, 3_000, 5);
    const analysis = (await api('GET', `/v1/models/iris/experiments/${experiment}`)).body as Analysis;
    const mine = expectAnalysis(analysis, counts);
    expect(mine.pValue).toBeLessThan(0.05);
    expect(analysis.winner).toEqual({ variant: 'treatment', version: candidate });

    // A release that would be refused leaves the experiment running.
    const refused = await api('POST', `/v1/models/iris/experiments/${experiment}/promote-winner`, { canary: 0 });
    expect([refused.status, errorOf(refused).code]).toEqual([400, 'INVALID_WEIGHT']);
    expect((await api('GET', `/v1/models/iris/experiments/${experiment}`)).body).toMatchObject({ experiment: { state: 'running' } });

    const promoted = await api('POST', `/v1/models/iris/experiments/${experiment}/promote-winner`, {});
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({ stopped: true, release: { mode: 'direct', modelVersion: candidate } });
    expect((await api('GET', '/v1/models/iris')).body).toMatchObject({ productionVersion: candidate });
    expect((await api('GET', `/v1/models/iris/experiments/${experiment}`)).body).toMatchObject({ experiment: { state: 'stopped' } });
  }, 180_000);
});
