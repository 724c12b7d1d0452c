/**
 * `modelctl capture`, `modelctl drift` and `modelctl profile --model --upload` against the local
 * API over real HTTP: capture turned on and off, a profile with the model's predictions computed
 * from a CSV and uploaded, drift reports shown as a table (exit 0, then 3 once a feature moved,
 * 4 when too few rows were captured to judge) and as JSON, a version's newest report; and what a
 * person sees when the input is wrong.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ReferenceProfile } from '../../functions/core/drift/profile.js';
import type { StoredDriftReport } from '../../functions/core/drift/service.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../fixtures/stack-log.js';
import {
  CLASS_LABELS,
  FEATURES,
  TARGET,
  TRAINING,
  parseCsv,
  seededRandom,
  stratifiedSplit,
  toExamples,
} from '../../scripts/sample-model.js';
import { DRIFTED_EXIT_CODE, NOT_JUDGED_EXIT_CODE } from '../../bin/modelctl.js';
import { MAX_RECORD_BYTES, MIN_RECORD_BYTES } from '../../functions/core/capture.js';
import { call } from '../fixtures/http.js';
import { runModelctl } from '../fixtures/modelctl.js';

const IRIS_CSV = 'data/iris.csv';
const train = stratifiedSplit(
  toExamples(parseCsv(readFileSync(IRIS_CSV, 'utf8')), FEATURES, TARGET, CLASS_LABELS),
  TRAINING.testFraction,
  TRAINING.seed,
).train;

let stack: LocalStack;
let dataDir: string;
let token: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'modelctl-drift-'));
  stack = await startTestStack({ dataDir, rateLimit: false, driftIntervalMs: 0, env: { POINTER_CACHE_MS: '100' } });
  const minted = await runModelctl({ url: stack.url, token: undefined }, [
    'token',
    '--scope',
    'predict,models:read,models:write,models:promote',
    '--data-dir',
    dataDir,
  ]);
  expect(minted.code).toBe(0);
  token = minted.out.trim();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return runModelctl({ url: stack.url, token }, argv);
}

/** `n` training rows drawn with replacement; `shift` adds to one feature. */
function draw(n: number, seed: number, shift?: { feature: string; by: number }): Record<string, number>[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const example = train[Math.floor(random() * train.length)] as (typeof train)[number];
    return Object.fromEntries(
      FEATURES.map((name, j) => [name, (example.features[j] as number) + (shift?.feature === name ? shift.by : 0)]),
    );
  });
}

/** Serves the rows to the model (100 a request) and waits until capture has delivered their records. */
async function serve(rows: readonly Record<string, number>[], model = 'iris'): Promise<void> {
  for (let i = 0; i < rows.length; i += 100) {
    const reply = await call(
      stack.url,
      'POST',
      `/v1/models/${model}/predict`,
      { instances: rows.slice(i, i + 100) },
      { authorization: `Bearer ${token}` },
    );
    expect(reply.status).toBe(200);
  }
  await stack.flush();
}

describe('modelctl capture', () => {
  it('shows capture off, turns it on with redaction and a record bound, shows it, and turns it off', async () => {
    // Act
    const before = await run('capture', 'iris');
    const set = await run(
      'capture',
      'iris',
      '--sample',
      '25',
      '--drop',
      'sepal_width_cm',
      '--hash',
      'petal_width_cm',
      '--max-record-bytes',
      '8192',
    );
    const shown = await run('capture', 'iris', '--json');
    const off = await run('capture', 'iris', '--off');

    // Assess
    expect(before).toEqual({
      code: 0,
      err: '',
      out: 'Capture of iris: off. Turn it on: modelctl capture iris --sample PERCENT [--drop a,b] [--hash c]\n',
    });
    expect(set.code).toBe(0);
    expect(set.out).toMatch(
      /^Capture of iris: on, 25% of requests\n {2}drop {14}sepal_width_cm\n {2}hash {14}petal_width_cm\n {2}max record bytes {2}8192\n {2}updated {11}\S+Z by local-dev\n$/,
    );
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.out)).toMatchObject({
      model: 'iris',
      enabled: true,
      samplePercent: 25,
      drop: ['sepal_width_cm'],
      hash: ['petal_width_cm'],
      maxRecordBytes: 8192,
    });
    expect(off).toMatchObject({ code: 0, out: expect.stringMatching(/^Capture of iris: off\./) as unknown });
  });

  it("shows the API's refusal of an unknown feature, and refuses a sample of 0 and mixed options itself", async () => {
    // Act
    const unknown = await run('capture', 'iris', '--sample', '10', '--drop', 'petal_area');
    const zero = await run('capture', 'iris', '--sample', '0');
    // Not decimal numbers as people write them, though JavaScript's Number would read them.
    const oddNumbers = await Promise.all(['0x10', ' 10', '1e', 'Infinity', '10%'].map((text) => run('capture', 'iris', '--sample', text)));
    const offAndSample = await run('capture', 'iris', '--off', '--sample', '5');
    const dropAlone = await run('capture', 'iris', '--drop', 'sepal_width_cm');
    const noModel = await run('capture', 'nobody', '--sample', '10');
    const elsewhere = await run('versions', 'iris', '--sample', '10');

    // Assess
    expect(unknown).toMatchObject({ code: 1, out: '' });
    expect(unknown.err).toMatch(
      /^400 UNKNOWN_FEATURE: "petal_area" is not a feature, input or output of any version of this model, .+ \(at drop\[0\]\)\n$/,
    );
    expect(unknown.err.split('\n')).toHaveLength(2);
    for (const result of [zero, offAndSample, dropAlone, elsewhere]) expect(result).toMatchObject({ code: 2, out: '' });
    for (const [i, odd] of oddNumbers.entries())
      expect({ i, code: odd.code, err: odd.err.split('\n')[0] }).toEqual({
        i,
        code: 2,
        err: expect.stringMatching(/^--sample must be a number, not "/) as unknown,
      });
    expect(zero.err).toMatch(
      /^--sample is the percent of requests captured, from 0\.001 to 100, not "0"; --off turns capture off\.\nRun "modelctl capture --help" for usage\.\n$/,
    );
    expect(offAndSample.err).toMatch(/^--off turns capture off; it goes without --sample/);
    expect(dropAlone.err).toMatch(/^--drop, --hash and --max-record-bytes go with --sample/);
    expect(elsewhere.err).toBe(`Unknown option '--sample'\nRun "modelctl versions --help" for usage.\n`);
    expect(noModel).toMatchObject({ code: 1, err: expect.stringMatching(/^404 MODEL_NOT_FOUND: /) as unknown });
  });

  it("refuses an empty or repeated name in --drop and --hash, and a record bound outside the API's, naming the option; nothing is sent", async () => {
    // Act: as an empty shell variable, stray commas or a blank would give them
    const empty = await run('capture', 'iris', '--sample', '10', '--drop', '');
    const commas = await run('capture', 'iris', '--sample', '10', '--drop', ',,');
    const blank = await run('capture', 'iris', '--sample', '10', '--hash', ' ');
    const gap = await run('capture', 'iris', '--sample', '10', '--drop', 'sepal_width_cm,,petal_width_cm');
    const twice = await run('capture', 'iris', '--sample', '10', '--hash', 'petal_width_cm, petal_width_cm');
    const small = await run('capture', 'iris', '--sample', '10', '--max-record-bytes', String(MIN_RECORD_BYTES - 1));
    const large = await run('capture', 'iris', '--sample', '10', '--max-record-bytes', String(MAX_RECORD_BYTES + 1));
    const status = await run('capture', 'iris', '--json');

    // Assess
    for (const result of [empty, commas, blank, gap, twice, small, large]) expect(result).toMatchObject({ code: 2, out: '' });
    expect(empty.err).toMatch(
      /^--drop is a comma-separated list of names, not "": it names nothing \(leave the option out to name none\)\.\nRun "modelctl capture --help" for usage\.\n$/,
    );
    expect(commas.err).toMatch(/^--drop is a comma-separated list of names, not ",,": it names nothing /);
    expect(blank.err).toMatch(/^--hash is a comma-separated list of names, not " ": it names nothing /);
    expect(gap.err).toMatch(/^--drop is a comma-separated list of names, not "sepal_width_cm,,petal_width_cm": a name in it is empty\.\n/);
    expect(twice.err).toMatch(/^--hash names "petal_width_cm" twice\.\n/);
    const bounds = `--max-record-bytes is a whole number of bytes from ${MIN_RECORD_BYTES} to ${MAX_RECORD_BYTES} `;
    expect(small.err.startsWith(`${bounds}(1,000 KiB, a Firehose record's limit), not "${MIN_RECORD_BYTES - 1}".\n`)).toBe(true);
    expect(large.err.startsWith(bounds)).toBe(true);
    expect(JSON.parse(status.out)).toMatchObject({ model: 'iris', enabled: false });
  });
});

describe('modelctl profile --model --upload', () => {
  it("profiles a CSV with the model's predictions and uploads it to a version; refused without a version to upload to", async () => {
    // Prepare: a second model, registered without a profile
    const registered = await run(
      'register',
      'flowers',
      'models/iris/model.onnx',
      '--metadata',
      'models/iris/metadata.json',
      '--production',
    );
    expect(registered.code).toBe(0);

    // Act
    const noProfile = await run('drift', 'flowers', '--run');
    const noReport = await run('drift', 'flowers');
    const featuresOnly = await run('profile', IRIS_CSV, '--upload', 'flowers@1');
    const local = await run('profile', IRIS_CSV, '--model', 'models/iris/model.onnx', '--metadata', 'models/iris/metadata.json');
    const uploaded = await run('profile', IRIS_CSV, '--model', 'models/iris/model.onnx', '--upload', 'flowers@1');
    const stored = await call(stack.url, 'GET', '/v1/models/flowers/versions/1/profile', undefined, { authorization: `Bearer ${token}` });
    const noVersion = await run('profile', IRIS_CSV, '--model', 'models/iris/model.onnx', '--upload', 'flowers@9');
    const badTarget = await run('profile', IRIS_CSV, '--upload', 'flowers');
    const metadataAlone = await run('profile', IRIS_CSV, '--metadata', 'models/iris/metadata.json');

    // Assess: the 409 says how to get a profile, the 404 how to get a report
    expect(noProfile).toMatchObject({ code: 1, out: '' });
    expect(noProfile.err).toMatch(
      /^409 NO_REFERENCE_PROFILE: Model "flowers" version 1 has no reference profile .+modelctl profile .+ --upload flowers@1\. \(at version\)\n$/,
    );
    expect(noReport.err).toMatch(/^404 NO_DRIFT_REPORT: /);
    // Assess: the profile of the model's columns (not the species), with its predictions, the same from the registry's metadata
    expect(local.code).toBe(0);
    const profile = JSON.parse(local.out) as ReferenceProfile;
    expect(Object.keys(profile.features)).toEqual([...FEATURES]);
    expect(Object.keys(profile.predictions ?? {})).toEqual(['label', ...CLASS_LABELS.map((label) => `probability[${label}]`)]);
    expect(profile.predictions?.['label']).toMatchObject({ kind: 'categorical', count: 150, missing: 0 });
    expect(local.err).toMatch(
      /\nPredictions of models\/iris\/model\.onnx on those rows, 4 columns:\nlabel {2,}categorical {2,}0 {2}3 categories: /,
    );
    expect(featuresOnly).toMatchObject({ code: 0, err: '' });
    expect(featuresOnly.out).toMatch(
      /^Profiled 150 rows of data\/iris\.csv, 4 features:\n[\s\S]*\nUploaded to flowers v1: 150 rows, 4 features, 0 prediction columns\.\n$/,
    );
    expect(uploaded).toMatchObject({ code: 0, err: '' });
    expect(uploaded.out).toMatch(/\nUploaded to flowers v1: 150 rows, 4 features, 4 prediction columns\.\n$/);
    expect(stored.status).toBe(200);
    expect(stored.body).toEqual(profile);
    // Assess: mistakes
    expect(noVersion).toMatchObject({ code: 1, out: '', err: expect.stringMatching(/^404 VERSION_NOT_FOUND: /) as unknown });
    expect(badTarget).toMatchObject({
      code: 2,
      err: '--upload is MODEL@VERSION (e.g. iris@3), not "flowers".\nRun "modelctl profile --help" for usage.\n',
    });
    expect(metadataAlone).toMatchObject({ code: 2, err: expect.stringMatching(/^--metadata goes with --model/) as unknown });
  }, 60_000);
});

describe('modelctl drift', () => {
  beforeAll(async () => {
    const on = await run('capture', 'iris', '--sample', '100', '--drop', 'sepal_width_cm');
    expect(on.code).toBe(0);
    // The endpoint trusts the capture settings it read for POINTER_CACHE_MS; one request reads them again.
    await new Promise((resolve) => setTimeout(resolve, 150));
    await call(stack.url, 'GET', '/v2/models/iris/ready', undefined, { authorization: `Bearer ${token}` });
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  it('runs and shows a report with no drift (exit 0), then one with the shifted feature first (exit 3), as a table and as JSON', async () => {
    // Act: traffic from the training distribution
    await serve(draw(600, 11));
    const calm = await run('drift', 'iris', '--run', '--minutes', '60');
    // Act: then petal length 2 cm longer
    await serve(draw(600, 12, { feature: 'petal_length_cm', by: 2 }));
    const moved = await run('drift', 'iris', '--run', '--minutes', '60', '--version', '1');
    const latest = await run('drift', 'iris');
    const json = await run('drift', 'iris', '--json');
    const api = await call(stack.url, 'GET', '/v1/models/iris/drift', undefined, { authorization: `Bearer ${token}` });

    // Assess: no drift
    expect(calm).toMatchObject({ code: 0, err: '' });
    const calmLines = calm.out.split('\n');
    expect(calmLines[0]).toBe('iris v1: no drift (0 of 4 features, 0 of 4 prediction columns)');
    expect(calmLines[1]).toMatch(/^on-demand run at \S+Z over \S+Z to \S+Z \(60 min\): 6 records, 600 rows; reference 120 rows$/);
    expect(calmLines[2]).toBe(
      'thresholds: drifted (major) when PSI >= 0.25 and p-value < 0.01; minor from PSI 0.1; judged from 30 live rows',
    );
    expect(calmLines[3]).toMatch(/^COLUMN\s+GROUP\s+KIND\s+STATUS\s+LIVE ROWS\s+PSI\s+TEST\s+P-VALUE\s+SEVERITY$/);
    expect(calm.out).toMatch(/\nsepal_width_cm\s+feature\s+numeric\s+absent-in-live\s+0\s+-\s+-\s+-\s+-\n/);
    expect(calm.out).toMatch(/\n\nDropped by capture, not compared: sepal_width_cm\.\n$/);
    expect(calm.out).not.toContain('MAJOR');
    // Assess: the shifted feature drifted, first
    expect(moved.code).toBe(DRIFTED_EXIT_CODE);
    const movedLines = moved.out.split('\n');
    expect(movedLines[0]).toMatch(/^iris v1: DRIFTED \(1 of 4 features, \d of 4 prediction columns\)$/);
    expect(movedLines[1]).toMatch(/: 12 records, 1200 rows; reference 120 rows$/);
    expect(movedLines[4]).toMatch(
      /^petal_length_cm\s+feature\s+numeric\s+compared\s+1200\s+\d+(\.\d+)?\s+KS D 0\.\d+\s+\S+\s+MAJOR \(drifted\)$/,
    );
    expect(moved.out).toMatch(/\n\npetal_length_cm \(feature\): values shifted: PSI /);
    const features = movedLines.filter((line) => /^\S+\s+feature\s/.test(line));
    expect(features.filter((line) => line.endsWith('MAJOR (drifted)'))).toHaveLength(1);
    // Assess: the newest report, shown and as JSON, is the run's
    expect(latest).toEqual(moved);
    expect(json.code).toBe(DRIFTED_EXIT_CODE);
    const report = JSON.parse(json.out) as StoredDriftReport;
    expect(report).toEqual(api.body);
    expect(report.results[0]).toMatchObject({ name: 'petal_length_cm', group: 'feature', drifted: true });
  }, 120_000);

  it("says a run over too few captured rows judged nothing (exit 4), and shows a version's newest report with --version", async () => {
    // Prepare: flowers (production v1, profiled above) gets a second version, profiled, and 10 rows of traffic on v1
    expect((await run('register', 'flowers', 'models/iris/model.onnx', '--metadata', 'models/iris/metadata.json')).code).toBe(0);
    expect((await run('profile', IRIS_CSV, '--model', 'models/iris/model.onnx', '--upload', 'flowers@2')).code).toBe(0);
    expect((await run('capture', 'flowers', '--sample', '100')).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await call(stack.url, 'GET', '/v2/models/flowers/ready', undefined, { authorization: `Bearer ${token}` });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await serve(draw(10, 21), 'flowers');

    // Act
    const few = await run('drift', 'flowers', '--run', '--minutes', '60');
    const none = await run('drift', 'flowers', '--run', '--minutes', '60', '--version', '2');
    const production = await run('drift', 'flowers');
    const second = await run('drift', 'flowers', '--version', '2');
    const secondJson = await run('drift', 'flowers', '--version', '2', '--json');
    const unknown = await run('drift', 'flowers', '--version', '9');

    // Assess: not "no drift", and exit 4
    expect({ code: few.code, err: few.err }).toEqual({ code: NOT_JUDGED_EXIT_CODE, err: '' });
    expect(few.out.split('\n')[0]).toBe(
      'flowers v1: NOT JUDGED, too few captured rows (1 record, 10 rows; a column is judged from 30 live rows)',
    );
    expect(few.out).not.toContain('no drift');
    expect({ code: none.code, title: none.out.split('\n')[0] }).toEqual({
      code: NOT_JUDGED_EXIT_CODE,
      title: 'flowers v2: NOT JUDGED, too few captured rows (0 records, 0 rows; a column is judged from 30 live rows)',
    });
    // Assess: without --version the production version's newest, with it that version's (GET ?version=2)
    expect(production).toEqual(few);
    expect(second).toEqual(none);
    expect(secondJson.code).toBe(NOT_JUDGED_EXIT_CODE);
    expect(JSON.parse(secondJson.out)).toMatchObject({ model: 'flowers', modelVersion: '2', judged: false, drifted: false, records: 0 });
    expect(unknown).toMatchObject({ code: 1, out: '', err: expect.stringMatching(/^404 VERSION_NOT_FOUND: /) as unknown });
  }, 60_000);

  it("refuses --minutes without --run and shows the API's refusal of a bad window", async () => {
    // Act
    const minutesAlone = await run('drift', 'iris', '--minutes', '5');
    const badWindow = await run('drift', 'iris', '--run', '--minutes', '50000');
    const foreign = await run('drift', 'iris', '--sample', '5');
    const noModel = await run('drift', 'nobody');

    // Assess
    expect(minutesAlone).toMatchObject({ code: 2, err: expect.stringMatching(/^--minutes goes with --run/) as unknown });
    expect(badWindow).toMatchObject({
      code: 1,
      out: '',
      err: expect.stringMatching(/^400 [A-Z_]+: .*43200 minutes.* \(at minutes\)\n$/) as unknown,
    });
    expect(foreign).toMatchObject({ code: 2, err: `Unknown option '--sample'\nRun "modelctl drift --help" for usage.\n` });
    expect(noModel).toMatchObject({ code: 1, err: expect.stringMatching(/^404 MODEL_NOT_FOUND: /) as unknown });
  });
});

describe('modelctl register --profile', () => {
  it('sends the profile with the file, stored beside it; --profile elsewhere is a usage error', async () => {
    // Act
    const registered = await run(
      'register',
      'asters',
      'models/iris/model.onnx',
      '--metadata',
      'models/iris/metadata.json',
      '--profile',
      'models/iris/profile.json',
    );
    const stored = await call(stack.url, 'GET', '/v1/models/asters/versions/1/profile', undefined, { authorization: `Bearer ${token}` });
    const elsewhere = await run('models', '--profile', 'models/iris/profile.json');
    const notJson = await run(
      'register',
      'asters',
      'models/iris/model.onnx',
      '--metadata',
      'models/iris/metadata.json',
      '--profile',
      'models/iris/model.onnx',
    );

    // Assess
    expect(registered.code).toBe(0);
    expect(stored.body).toEqual(JSON.parse(readFileSync('models/iris/profile.json', 'utf8')));
    expect(elsewhere).toMatchObject({ code: 2, err: expect.stringMatching(/^Unknown option '--profile'\n/) as unknown });
    expect(notJson.code).not.toBe(0);
    expect(
      (await call(stack.url, 'GET', '/v1/models/asters/versions', undefined, { authorization: `Bearer ${token}` })).body,
    ).toMatchObject({ versions: [{ version: '1' }] });
  });
});
