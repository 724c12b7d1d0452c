/**
 * Keeps the benchmark from rotting: runs `npm run bench -- --quick` as a child process, writing
 * to a temporary folder (never over the committed docs), and checks the structure of what it
 * wrote: every section present, every number finite, every measured figure positive. Timings
 * are never asserted: CI machines are too noisy, and the report states the targets itself.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SECTIONS, type BenchResults } from '../../bench/results.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

/** The top-level keys of benchmarks.json besides the sections. */
const OTHER_KEYS = ['schema', 'mode', 'date', 'durationSeconds', 'command', 'machine', 'loadAverage', 'intraOpThreads', 'models', 'headline', 'targets'];

/** Figures that may be zero (counts of failures, shares, load, the first memory sample)... */
const MAY_BE_ZERO = [/\.errors$/, /\.non2xx$/, /\.share$/, /^loadAverage\./, /\.samples\[0\]\.requests$/];
/** ...or negative (differences between two measured figures). */
const MAY_BE_NEGATIVE = [/\.overhead(Median|P99)Ms$/, /\.added(Median|P99)Ms$/, /\.rssGrowthMb$/, /^targets\[\d+\]\.value$/];

/** Every number in `value`, with its path (`http.points[3].p50Ms`). */
function numbers(value: unknown, at = ''): Array<{ path: string; value: number }> {
  if (typeof value === 'number') return [{ path: at, value }];
  if (Array.isArray(value)) return value.flatMap((item, i) => numbers(item, `${at}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => numbers(item, at ? `${at}.${key}` : key));
  }
  return [];
}

let outDir: string;
let results: BenchResults;
let report: string;
let committedBefore: string | undefined;

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

describe('npm run bench -- --quick', () => {
  it('writes every section', () => {
    for (const key of [...SECTIONS, ...OTHER_KEYS]) expect(results).toHaveProperty(key);
    expect(results.mode).toBe('quick');
    expect(results.limit.models.map((m) => m.model)).toEqual(['iris', 'mlp', 'trees']);
    expect(results.limit.models.every((m) => m.batches.map((b) => b.rows).join() === '1,10,100,1000')).toBe(true);
    expect(results.handler.models).toHaveLength(3);
    expect(results.batch.models).toHaveLength(3);
    expect(results.coldStart.models).toHaveLength(3);
    expect(new Set(results.http.points.map((p) => p.variant))).toEqual(new Set(['baseline', 'api', 'apiAuth', 'apiLog', 'npmStart']));
    expect(new Set(results.http.points.map((p) => p.connections))).toEqual(new Set([1, 8, 32]));
    expect(results.memory.runs.length).toBeGreaterThan(0);
    expect(results.sizes.layers.map((l) => l.architecture).sort()).toEqual(['arm64', 'x86_64']);
    expect(results.threads.configs.length).toBeGreaterThanOrEqual(4);
    expect(results.threads.configs.map((c) => c.id)).toContain(results.threads.recommended);
    expect(results.headline.length).toBeGreaterThan(0);
    expect(results.targets.length).toBeGreaterThan(0);
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
    for (const heading of ['## Headline ratios', '## Targets', '## 1.', '## 2.', '## 3.', '## 4.', '## 5.', '## 6.', '## 7.']) {
      expect(report).toContain(heading);
    }
  });

  it('leaves the committed docs alone', () => {
    const committed = path.join(ROOT, 'docs/benchmarks.json');
    expect(existsSync(committed) ? readFileSync(committed, 'utf8') : undefined).toBe(committedBefore);
  });
});
