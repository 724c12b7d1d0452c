/**
 * Drift detection end to end on the local stack (issue 13's first acceptance point): the sample
 * model, registered with its training split's reference profile, serves traffic drawn from that
 * split (no drift), then traffic with one feature shifted (that feature, and only it, drifted),
 * with capture's redaction honoured in what is stored; the PSI and KS values the API reports
 * equal the ones this test computes itself, from the profile and the rows it sent.
 */
import { readFileSync } from 'node:fs';
import { GetObjectCommand, ListObjectsCommand } from '@aws-sdk/client-s3';
import type { NumericFeatureProfile, ReferenceProfile } from '../../functions/core/drift/profile.js';
import type { StoredDriftReport } from '../../functions/core/drift/service.js';
import {
  FEATURES,
  CLASS_LABELS,
  TARGET,
  TRAINING,
  parseCsv,
  seededRandom,
  stratifiedSplit,
  toExamples,
} from '../../scripts/sample-model.js';
import { LOCAL_CAPTURE_BUCKET } from '../../local/stack.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { call, errorOf } from '../fixtures/http.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const profile = JSON.parse(read('models/iris/profile.json')) as ReferenceProfile;
const train = stratifiedSplit(
  toExamples(parseCsv(read('data/iris.csv')), FEATURES, TARGET, CLASS_LABELS),
  TRAINING.testFraction,
  TRAINING.seed,
).train;

/** `n` training rows drawn with replacement; `shift` adds to one feature (rounded to the data's 0.1 cm). */
function draw(n: number, seed: number, shift?: { feature: (typeof FEATURES)[number]; by: number }): Record<string, number>[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const example = train[Math.floor(random() * train.length)] as (typeof train)[number];
    return Object.fromEntries(
      FEATURES.map((name, j) => {
        const value = example.features[j] as number;
        return [name, shift?.feature === name ? Math.round((value + shift.by) * 10) / 10 : value];
      }),
    );
  });
}

/** PSI over the profile's decile bins, written here from its definition: Σ (c − r)·ln(c/r), proportions floored at 1e-4. */
function expectedPsi(reference: NumericFeatureProfile, values: readonly number[]): number {
  const counts = new Array<number>(reference.binProportions.length).fill(0);
  for (const v of values) {
    let bin = 0;
    while (bin < reference.quantileEdges.length && v >= (reference.quantileEdges[bin] as number)) bin++;
    counts[bin] = (counts[bin] as number) + 1;
  }
  return reference.binProportions.reduce((sum, r, i) => {
    const rr = Math.max(r, 1e-4);
    const c = Math.max((counts[i] as number) / values.length, 1e-4);
    return sum + (c - rr) * Math.log(c / rr);
  }, 0);
}

/** Two-sample KS: D over every distinct value, and the asymptotic p-value with Stephens' correction. */
function expectedKs(a: readonly number[], b: readonly number[]): { statistic: number; pValue: number } {
  const points = [...new Set([...a, ...b])].sort((x, y) => x - y);
  let d = 0;
  for (const x of points) {
    const fa = a.filter((v) => v <= x).length / a.length;
    const fb = b.filter((v) => v <= x).length / b.length;
    d = Math.max(d, Math.abs(fa - fb));
  }
  const ne = (a.length * b.length) / (a.length + b.length);
  const lambda = (Math.sqrt(ne) + 0.12 + 0.11 / Math.sqrt(ne)) * d;
  let q = 0;
  for (let j = 1; j <= 200; j++) q += 2 * (j % 2 === 1 ? 1 : -1) * Math.exp(-2 * j * j * lambda * lambda);
  return { statistic: d, pValue: lambda < 1e-3 ? 1 : Math.min(1, Math.max(0, q)) };
}

describe("drift detection against the sample model's reference profile", () => {
  let stack: TestStack;
  const sent: Record<string, number>[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ auth: 'insecure', rateLimit: false, driftIntervalMs: 0, env: { POINTER_CACHE_MS: '100' } });
    const put = await call(stack.url, 'PUT', '/v1/models/iris/capture', { samplePercent: 100, drop: ['sepal_width_cm'] });
    expect(put.status).toBe(200);
    // The endpoint trusts the capture settings it read for POINTER_CACHE_MS.
    await new Promise((resolve) => setTimeout(resolve, 150));
    await call(stack.url, 'GET', '/v2/models/iris/ready');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  async function serve(rows: Record<string, number>[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 100) {
      const reply = await call(stack.url, 'POST', '/v1/models/iris/predict', { instances: rows.slice(i, i + 100) });
      expect(reply.status).toBe(200);
    }
    sent.push(...rows);
    await stack.flush();
  }

  async function run(): Promise<StoredDriftReport> {
    const reply = await call(stack.url, 'POST', '/v1/models/iris/drift', { minutes: 60 });
    expect(reply.status).toBe(200);
    const latest = await call(stack.url, 'GET', '/v1/models/iris/drift');
    expect(latest.body).toEqual(reply.body);
    return reply.body as StoredDriftReport;
  }

  function assertStatistics(report: StoredDriftReport): void {
    for (const name of ['sepal_length_cm', 'petal_length_cm', 'petal_width_cm'] as const) {
      const result = report.results.find((r) => r.name === name && r.group === 'feature');
      const reference = profile.features[name] as NumericFeatureProfile;
      const live = sent.map((row) => row[name] as number);
      const ks = expectedKs(reference.sample, live);
      expect(result).toMatchObject({ kind: 'numeric', status: 'compared' });
      if (result?.kind !== 'numeric') throw new Error(`${name} is not numeric`);
      expect(Math.abs((result.psi as number) - expectedPsi(reference, live))).toBeLessThan(1e-6);
      expect(Math.abs((result.ks?.statistic as number) - ks.statistic)).toBeLessThan(1e-6);
      expect(Math.abs((result.ks?.pValue as number) - ks.pValue)).toBeLessThan(1e-6);
    }
  }

  it('reports no drift for traffic drawn from the training distribution', async () => {
    // Act
    await serve(draw(1000, 7));
    const report = await run();

    // Assess
    expect(report).toMatchObject({
      model: 'iris',
      modelVersion: '1',
      trigger: 'on-demand',
      records: 10,
      liveRows: 1000,
      drifted: false,
      capped: false,
    });
    expect(report.totals.driftedFeatures).toBe(0);
    expect(report.results.filter((r) => r.drifted)).toEqual([]);
    // The dropped feature never reached the store, so it is reported absent, not judged.
    expect(report.results.find((r) => r.name === 'sepal_width_cm')).toMatchObject({ status: 'absent-in-live', drifted: false });
    assertStatistics(report);
  }, 120_000);

  it('reports the shifted feature, and only it, with the statistics computed independently', async () => {
    // Act: as many rows again, petal length 2 cm longer
    await serve(draw(1000, 8, { feature: 'petal_length_cm', by: 2 }));
    const report = await run();

    // Assess
    const drifted = report.results.filter((r) => r.group === 'feature' && r.drifted).map((r) => r.name);
    expect(drifted).toEqual(['petal_length_cm']);
    expect(report.results[0]?.name).toBe('petal_length_cm');
    expect(report).toMatchObject({ drifted: true, liveRows: 2000, records: 20 });
    expect(report.results.find((r) => r.name === 'petal_length_cm')).toMatchObject({ severity: 'major' });
    assertStatistics(report);
  }, 120_000);

  it('stores what capture kept: the sent values, and nothing of the dropped feature', async () => {
    const listed = await stack.clients.s3.send(new ListObjectsCommand({ Bucket: LOCAL_CAPTURE_BUCKET, Prefix: 'capture/model=iris/' }));
    const stored: Record<string, unknown[]>[] = [];
    for (const object of listed.Contents ?? []) {
      const text = await (
        await stack.clients.s3.send(new GetObjectCommand({ Bucket: LOCAL_CAPTURE_BUCKET, Key: object.Key ?? '' }))
      ).Body?.transformToString();
      for (const line of (text ?? '').trim().split('\n'))
        stored.push((JSON.parse(line) as { features: Record<string, unknown[]> }).features);
    }
    const column = (name: string) => stored.flatMap((f) => f[name] ?? []);
    expect(column('sepal_width_cm')).toEqual([]);
    expect(stored.every((f) => !Object.hasOwn(f, 'sepal_width_cm'))).toBe(true);
    const byValue = (values: readonly unknown[]) => [...values].map(Number).sort((a, b) => a - b);
    expect(byValue(column('petal_length_cm'))).toEqual(byValue(sent.map((r) => r['petal_length_cm'])));
  });

  it('refuses a run it cannot make, and says why', async () => {
    const cases: [unknown, number, string][] = [
      [{ minutes: 0 }, 400, 'minutes'],
      [{ minutes: 1.5 }, 400, 'minutes'],
      [{ minutes: 50_000 }, 400, 'minutes'],
      [{ version: 'latest' }, 400, 'version'],
      [{ version: '9' }, 404, 'version'],
      [{ version: 9 }, 404, 'version'],
      [{ version: 0 }, 400, 'version'],
      [{ version: '01' }, 400, 'version'],
      [{ version: true }, 400, 'version'],
      [{ window: 5 }, 400, 'window'],
    ];
    for (const [body, status, path] of cases) {
      const reply = await call(stack.url, 'POST', '/v1/models/iris/drift', body);
      expect({ body, status: reply.status, path: errorOf(reply).path }).toEqual({ body, status, path });
    }
    expect(errorOf(await call(stack.url, 'GET', '/v1/models/nobody/drift')).code).toBe('MODEL_NOT_FOUND');
    // A version is the same whether it comes in the body or the query, as text or as a number.
    expect(errorOf(await call(stack.url, 'POST', '/v1/models/iris/drift', { version: 'latest' })).code).toBe('INVALID_VERSION');
    expect(errorOf(await call(stack.url, 'GET', '/v1/models/iris/drift?version=latest')).code).toBe('INVALID_VERSION');
    expect((await call(stack.url, 'POST', '/v1/models/iris/drift', { version: 1, minutes: 60 })).body).toMatchObject({ modelVersion: '1' });
  });
});

describe('a reference profile sent with the model file', () => {
  let stack: TestStack;
  const file = readFileSync(new URL('../../models/iris/model.onnx', import.meta.url)).toString('base64');
  const metadata = { features: [...FEATURES], classLabels: [...CLASS_LABELS] };

  beforeAll(async () => {
    stack = await startTestStack({ auth: 'insecure', rateLimit: false, seedSampleModel: false, driftIntervalMs: 0 });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('is checked with the file and stored beside it, inline or uploaded', async () => {
    // Act: inline
    const inline = await call(stack.url, 'POST', '/v1/models/irises/versions', { modelBase64: file, metadata, profile });
    // Act: through a presigned upload
    const upload = (await call(stack.url, 'POST', '/v1/models/irises/uploads', {})).body as {
      uploadId: string;
      url: string;
      headers: Record<string, string>;
    };
    expect((await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: Buffer.from(file, 'base64') })).status).toBe(200);
    const uploaded = await call(stack.url, 'POST', '/v1/models/irises/versions', { uploadId: upload.uploadId, metadata, profile });

    // Assess
    for (const [reply, version] of [
      [inline, '1'],
      [uploaded, '2'],
    ] as const) {
      expect(reply.status).toBe(201);
      expect(reply.body).toMatchObject({
        version,
        profile: {
          model: 'irises',
          version,
          rows: profile.rows,
          features: Object.keys(profile.features),
          predictions: Object.keys(profile.predictions ?? {}),
        },
      });
      expect((await call(stack.url, 'GET', `/v1/models/irises/versions/${version}/profile`)).body).toEqual(profile);
    }
  });

  it('refuses a profile that breaks the format or names what the model does not read, and registers nothing', async () => {
    const numeric = profile.features['petal_length_cm'] as NumericFeatureProfile;
    const cases: [unknown, string, string][] = [
      [{ ...profile, features: { ...profile.features, sepal_area_cm2: numeric } }, 'UNKNOWN_FEATURE', 'profile.features.sepal_area_cm2'],
      [{ ...profile, profileVersion: 2 }, 'INVALID_PROFILE', 'profile.profileVersion'],
      [
        {
          ...profile,
          features: { ...profile.features, petal_length_cm: { ...numeric, binProportions: numeric.binProportions.map(() => 0.2) } },
        },
        'INVALID_PROFILE',
        'profile.features.petal_length_cm.binProportions',
      ],
      ['profile', 'INVALID_PROFILE', 'profile'],
      [
        { ...profile, predictions: { ...profile.predictions, 'probability[bogus]': numeric } },
        'UNKNOWN_FEATURE',
        'profile.predictions.probability[bogus]',
      ],
      [{ profileVersion: 1, rows: 120, features: {} }, 'INVALID_PROFILE', 'profile.features'],
      [
        { profileVersion: 1, rows: 0, features: {}, predictions: { label: { kind: 'categorical', count: 0, missing: 0, categories: {} } } },
        'INVALID_PROFILE',
        'profile.rows',
      ],
    ];
    for (const [body, code, path] of cases) {
      const reply = await call(stack.url, 'POST', '/v1/models/lilies/versions', { modelBase64: file, metadata, profile: body });
      expect({ status: reply.status, code: errorOf(reply).code, path: errorOf(reply).path }).toEqual({ status: 400, code, path });
      expect(reply.text.length).toBeLessThan(2_000);
    }
    expect((await call(stack.url, 'GET', '/v1/models/lilies')).status).toBe(404);
    // A misspelt feature's message names the closest feature the model reads.
    const misspelt = await call(stack.url, 'POST', '/v1/models/lilies/versions', {
      modelBase64: file,
      metadata,
      profile: { ...profile, features: { ...profile.features, petal_lenght_cm: numeric } },
    });
    expect(errorOf(misspelt).message).toContain('"petal_lenght_cm" (did you mean "petal_length_cm"?)');
  });

  it('says what to do with a profile too large for one request', async () => {
    const big = { ...profile, description: 'x'.repeat(6_400_000) };
    const reply = await call(stack.url, 'PUT', '/v1/models/irises/versions/1/profile', big);
    expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 413, code: 'REQUEST_TOO_LARGE' });
    expect(errorOf(reply).message).toContain('profile fewer features (modelctl profile --features');
    expect(reply.text.length).toBeLessThan(2_000);
    // Sent with a registration (the file itself uploaded), the advice names the profile too.
    const registration = await call(stack.url, 'POST', '/v1/models/irises/versions', {
      uploadId: '00000000-0000-4000-8000-000000000000',
      metadata,
      profile: big,
    });
    expect({ status: registration.status, code: errorOf(registration).code }).toEqual({ status: 413, code: 'REQUEST_TOO_LARGE' });
    expect(errorOf(registration).message).toMatch(/a "profile" sent with it counts too: .*profile fewer features/);
  });
});
