/**
 * Keeps the benchmark from rotting: runs `npm run bench -- --quick` as a child process, writing
 * to a temporary folder (never over the committed docs), and checks the structure of what it
 * wrote: every section present, every number finite, every measured figure positive. Timings
 * are never asserted: CI machines are too noisy, and the report states the targets itself.
 *
 * Also checks that the bench bundles the predict function as the CDK app does: the bench keeps
 * its own copy of the bundling options (importing lib/serving-function.ts would load aws-cdk-lib
 * into every bench process), and this is where a drift between the two fails.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  EXTERNAL_MODULES as BENCH_EXTERNAL_MODULES,
  FUNCTION_BUNDLING,
  externalModules as benchExternalModules,
} from '../../bench/lib/bundle.js';
import { BATCH_JOB_PHASES, SECTIONS, type BenchResults } from '../../bench/results.js';
import { EXTERNAL_MODULES as DEPLOYED_EXTERNAL_MODULES, externalModules as deployedExternalModules } from '../../lib/serving-function.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

/** The top-level keys of benchmarks.json besides the sections. */
const OTHER_KEYS = [
  'schema',
  'mode',
  'date',
  'durationSeconds',
  'command',
  'machine',
  'loadAverage',
  'intraOpThreads',
  'models',
  'headline',
  'targets',
];

/** Figures that may be zero (counts of failures, shares, load, the first memory sample, log backlogs)... */
const MAY_BE_ZERO = [
  /\.errors$/,
  /\.non2xx$/,
  /\.share$/,
  /^loadAverage\./,
  /\.samples\[0\]\.requests$/,
  /^handler\.log\.fallbackRecords$/,
  /^handler\.capture\.fallbackRecords$/,
  /^handler\.shadow\.(missingResults|failedResults|maxAbsDiff)$/,
  /^handler\.log\.writer\.queuedAtEnd$/,
  /^http\.points\[\d+\]\.(logBacklog|drainMs)$/,
  // The servers' CPU is read from /proc (0 elsewhere); a job's phase may end inside the one before.
  /^batchJobs\.(jobs|floors)\[\d+\]\.serversCpuMs$/,
  /^batchJobs\.jobs\[\d+\]\.phases\./,
];
/** ...or negative (differences between two measured figures). */
const MAY_BE_NEGATIVE = [
  /\.overhead(Median|P99)Ms$/,
  /\.added(Median|P99)Ms$/,
  /\.rssGrowthMb$/,
  /^cache\.models\[\d+\]\.savedMedianMs$/,
  /^targets\[\d+\]\.value$/,
  /^coldStart\.(tracing|emf)\.warmAdded(Median|P99)Ms$/,
  /^coldStart\.powertools\.(loggerMetrics|tracer)Ms$/,
];

/** Every number in `value`, with its path (`http.points[3].p50Ms`). */
function numbers(value: unknown, at = ''): Array<{ path: string; value: number }> {
  if (typeof value === 'number') return [{ path: at, value }];
  if (Array.isArray(value)) return value.flatMap((item, i) => numbers(item, `${at}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => numbers(item, at ? `${at}.${key}` : key));
  }
  return [];
}

describe('the bench bundles the predict function as the CDK app does', () => {
  it('leaves the same modules external, with tracing on and off', () => {
    expect([...BENCH_EXTERNAL_MODULES]).toEqual([...DEPLOYED_EXTERNAL_MODULES]);
    for (const tracing of [true, false]) expect(benchExternalModules(tracing)).toEqual(deployedExternalModules(tracing));
    expect(deployedExternalModules(false)).toEqual(expect.arrayContaining(['@aws-lambda-powertools/tracer', 'aws-xray-sdk-core']));
  });

  it('uses the same esbuild options', () => {
    const source = readFileSync(path.join(ROOT, 'lib/serving-function.ts'), 'utf8');
    const bundling = /bundling: \{([\s\S]*?)\n\s*\},/.exec(source)?.[1] ?? '';
    expect(bundling).toContain('externalModules: externalModules(props.observability?.tracing ?? false),');
    expect(bundling).toContain(`format: OutputFormat.${FUNCTION_BUNDLING.format.toUpperCase()},`);
    expect(bundling).toContain(`target: '${FUNCTION_BUNDLING.target}',`);
    expect(bundling).toContain(`mainFields: [${FUNCTION_BUNDLING.mainFields.map((f) => `'${f}'`).join(', ')}],`);
    expect(bundling).toContain(`minify: ${String(FUNCTION_BUNDLING.minify)},`);
    expect(bundling).toContain(`sourceMap: ${String(FUNCTION_BUNDLING.sourcemap)},`);
    expect(bundling).toContain(`sourcesContent: ${String(FUNCTION_BUNDLING.sourcesContent)},`);
  });
});

let outDir: string;
let results: BenchResults;
let report: string;
let committedBefore: string | undefined;

describe('npm run bench -- --quick', () => {
  beforeAll(async () => {
    // Prepare
    outDir = mkdtempSync(path.join(os.tmpdir(), 'bench-quick-'));
    const committed = path.join(ROOT, 'docs/benchmarks.json');
    committedBefore = existsSync(committed) ? readFileSync(committed, 'utf8') : undefined;
    // Act
    await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--out', outDir], {
      cwd: ROOT,
      timeout: 240_000,
      maxBuffer: 20_000_000,
    });
    results = JSON.parse(readFileSync(path.join(outDir, 'benchmarks.json'), 'utf8')) as BenchResults;
    report = readFileSync(path.join(outDir, 'BENCHMARKS.md'), 'utf8');
  }, 300_000);

  afterAll(() => {
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('writes every section', () => {
    for (const key of [...SECTIONS, ...OTHER_KEYS]) expect(results).toHaveProperty(key);
    expect(results.mode).toBe('quick');
    expect(results.limit.models.map((m) => m.model)).toEqual(['iris', 'mlp', 'trees']);
    expect(results.limit.models.every((m) => m.batches.map((b) => b.rows).join() === '1,10,100,1000')).toBe(true);
    expect(results.handler.models).toHaveLength(3);
    expect(results.batch.models).toHaveLength(3);
    expect(results.coldStart.models).toHaveLength(3);
    expect(new Set(results.http.points.map((p) => p.variant))).toEqual(
      new Set(['baseline', 'api', 'apiAuth', 'apiLog', 'npmStartQuiet', 'npmStartBundled', 'npmStart']),
    );
    expect(new Set(results.http.points.map((p) => p.connections))).toEqual(new Set([1, 8, 32]));
    expect(results.memory.runs.length).toBeGreaterThan(0);
    expect(results.sizes.layers.map((l) => l.architecture).sort()).toEqual(['arm64', 'x86_64']);
    expect(results.threads.configs.length).toBeGreaterThanOrEqual(4);
    expect(results.threads.configs.map((c) => c.id)).toContain(results.threads.recommended);
    expect(results.headline.length).toBeGreaterThan(0);
    expect(results.targets.map((t) => t.id)).toEqual(
      expect.arrayContaining([
        'prediction-log',
        'data-capture',
        'shadow-test',
        'cold-start',
        'cold-start-ratio',
        'http-npm-start',
        'bundle',
        'batch-job',
      ]),
    );
  });

  it('measures prediction logs on against off, with every record stored', () => {
    const { log } = results.handler;
    expect(log.withLog.samples).toBeGreaterThan(0);
    expect(log.withoutLog.samples).toBeGreaterThan(0);
    expect(log.batchWrites).toBeGreaterThan(0);
    expect(log.fallbackRecords).toBe(0);
  });

  it('measures data capture on against off, with every request captured and delivered', () => {
    const { capture } = results.handler;
    expect(capture.samplePercent).toBe(100);
    expect(capture.withCapture.samples).toBeGreaterThan(0);
    expect(capture.withoutCapture.samples).toBeGreaterThan(0);
    expect(capture.deliveredRecords).toBe(capture.records);
    expect(capture.fallbackRecords).toBe(0);
    expect(capture.objects).toBeGreaterThan(0);
    expect(capture.objects).toBeLessThanOrEqual(capture.records);
  });

  it("measures a shadow test on every request against none, with every request's record carrying the candidate's result", () => {
    const { shadow } = results.handler;
    expect(shadow.samplePercent).toBe(100);
    expect(shadow.withShadow.samples).toBeGreaterThan(0);
    expect(shadow.withoutShadow.samples).toBeGreaterThan(0);
    expect(shadow.drainWith.samples).toBe(shadow.withShadow.samples);
    expect(shadow.drainWithout.samples).toBe(shadow.withoutShadow.samples);
    // Every "on" request (the timed ones and their warm-up) was shadowed, and the candidate ran.
    expect(shadow.requests).toBeGreaterThan(shadow.withShadow.samples);
    expect(shadow.shadowResults).toBe(shadow.requests);
    expect(shadow.missingResults).toBe(0);
    expect(shadow.failedResults).toBe(0);
    expect(shadow.candidateMeanMs).toBeGreaterThan(0);
    // The candidate is the same file: its outputs are the production version's.
    expect(shadow.maxAbsDiff).toBe(0);
    expect(shadow.ratio).toBeCloseTo(shadow.withShadow.medianMs / shadow.withoutShadow.medianMs, 3);
    expect(report).toContain(
      `carried ${shadow.shadowResults.toLocaleString('en-US')} results of the candidate, one each, none of them an error;`,
    );
  });

  it('measures the prediction cache (hits, misses, no cache) and online features (by key, full vector), every request checked', () => {
    const { cache } = results;
    expect(cache.models.map((m) => [m.model, m.rows])).toEqual([
      ['iris', 1],
      ['trees', 1000],
    ]);
    // The miss case cycles through one input more than the cache keeps: each is evicted before it comes again.
    expect(cache.distinctInputs).toBe(cache.maxEntries + 1);
    for (const m of cache.models) {
      for (const stat of [m.noCache, m.miss, m.hit, m.hash]) expect(stat.samples).toBeGreaterThan(0);
      // Every timed request (and its warm-up) was logged as the hit or miss its case says.
      expect(m.hits).toBeGreaterThan(m.hit.samples);
      expect(m.misses).toBeGreaterThan(m.miss.samples);
      for (const ratio of [m.hitRatio, m.hitP99Ratio, m.missRatio, m.missP99Ratio]) {
        expect(Number.isFinite(ratio)).toBe(true);
        expect(ratio).toBeGreaterThan(0);
      }
      expect(m.hitRatio).toBeCloseTo(m.hit.medianMs / m.miss.medianMs, 3);
      expect(m.missRatio).toBeCloseTo(m.miss.medianMs / m.noCache.medianMs, 3);
    }
    const { online } = cache;
    expect(online.lookedUp).toHaveLength(2);
    expect(online.requestTime).toHaveLength(1);
    expect(online.sizes.map((s) => s.rows)).toEqual([1, online.items]);
    for (const size of online.sizes) {
      expect(size.byKey.samples).toBeGreaterThan(0);
      expect(size.fullVector.samples).toBeGreaterThan(0);
      // A distinct key per row, one BatchGetItem per 100 keys (more only if the store left keys unprocessed).
      expect(size.keysPerRequest).toBe(size.rows);
      expect(size.readsPerRequest).toBeGreaterThanOrEqual(Math.ceil(size.rows / 100));
      expect(Number.isFinite(size.ratio)).toBe(true);
      expect(size.ratio).toBeGreaterThan(0);
      expect(size.ratio).toBeCloseTo(size.byKey.medianMs / size.fullVector.medianMs, 3);
    }
    expect(report).toContain('| Model | Rows | No cache (p50 / p99) | Miss (p50 / p99) | Hit (p50 / p99) | Hit ÷ miss | Miss ÷ no cache |');
    expect(report).toContain('| Rows | Keys | BatchGetItem calls | Full vector (p50 / p99) | By key (p50 / p99) | By key ÷ full vector |');
    expect(report).toContain(`${cache.models.reduce((sum, m) => sum + m.hits, 0).toLocaleString('en-US')} hits and`);
  });

  it('measures tracing on, Powertools in isolation, and quotes the run before', () => {
    const { tracing, powertools, before } = results.coldStart;
    // The daemon stand-in received segments: tracing really was on.
    expect(tracing.segmentsPerRequest).toBeGreaterThan(0);
    expect(tracing.segmentNames.length).toBeGreaterThan(0);
    expect(tracing.warmOn.samples).toBe(results.coldStart.warmRequests * results.coldStart.runs);
    expect(tracing.warmOff.samples).toBe(results.coldStart.warmRequests * results.coldStart.runs);
    expect(results.coldStart.emf.warmOff.samples).toBe(results.coldStart.warmRequests * results.coldStart.runs);
    expect(powertools.loggerMetrics.samples).toBe(powertools.runs);
    expect(before.sdkExternalMs).toBeGreaterThan(before.sdkBundledMs);
    expect(results.coldStart.bundle.external).toEqual(deployedExternalModules(false));
  });

  it('runs a batch job of every row, beside a floor that writes the same bytes', () => {
    const x = results.batchJobs;
    expect(x.jobs.length).toBeGreaterThan(0);
    expect(x.floors.length).toBe(x.jobs.length + 1);
    for (const job of x.jobs) {
      // The bench fails unless the job SUCCEEDED with a prediction per row; here, its shape.
      expect(job.batches.count).toBe(Math.ceil(x.rows / x.rowsPerBatch));
      expect(job.outputBytes).toBe(x.floors[0]?.outputBytes);
      const phases = BATCH_JOB_PHASES.reduce((sum, phase) => sum + job.phases[phase], 0);
      expect(Math.abs(phases - job.ms)).toBeLessThan(1);
      expect(job.calls.map((c) => c.target)).toEqual(expect.arrayContaining(['input', 'parts', 'splits file', 'outputs', 'job table']));
    }
    expect(x.ratio).toBeCloseTo(x.jobRowsPerSecond / x.floorRowsPerSecond, 3);
    expect(x.profile.busyMs).toBeGreaterThan(0);
  });

  it('says what the function bundle is made of', () => {
    const { families, jsBytes } = results.sizes.bundle;
    expect(families.map((f) => f.family)).toEqual(expect.arrayContaining(['awsSdk', 'zod', 'tracing', 'powertools', 'ours']));
    const total = families.reduce((sum, f) => sum + f.bytes, 0);
    // Output bytes of the inputs, without esbuild's own glue: a little under the file's size.
    expect(total).toBeLessThanOrEqual(jsBytes);
    expect(total).toBeGreaterThan(jsBytes * 0.8);
  });

  it('gives every number as a finite figure, positive where it measures something', () => {
    const all = numbers(results);
    expect(all.length).toBeGreaterThan(200);
    for (const n of all) {
      expect({ path: n.path, finite: Number.isFinite(n.value) }).toEqual({ path: n.path, finite: true });
      if (MAY_BE_NEGATIVE.some((pattern) => pattern.test(n.path))) continue;
      const ok = MAY_BE_ZERO.some((pattern) => pattern.test(n.path)) ? n.value >= 0 : n.value > 0;
      expect({ path: n.path, value: n.value, ok }).toEqual({ path: n.path, value: n.value, ok: true });
    }
  });

  it('writes the report with the machine, the date and every section', () => {
    expect(report).toContain(results.machine.cpuModel);
    expect(report).toContain(results.machine.onnxruntime);
    expect(report).toContain(results.date.slice(0, 10));
    for (const heading of [
      '## Headline ratios',
      '## Targets',
      '## 1.',
      '## 2.',
      '### Prediction logs on and off',
      '### Data capture on and off',
      '### Shadow tests on and off',
      '## 3.',
      '## 4.',
      '### Tracing on',
      '### Powertools at cold start, in isolation',
      '### Before and after',
      '## 5.',
      '## 6.',
      '## 7.',
      '## 8.',
      '## 9.',
      '## 10.',
      '### Prediction cache',
      '### Online features',
    ]) {
      expect(report).toContain(heading);
    }
  });

  it('leaves the committed docs alone', () => {
    const committed = path.join(ROOT, 'docs/benchmarks.json');
    expect(existsSync(committed) ? readFileSync(committed, 'utf8') : undefined).toBe(committedBefore);
  });
});
