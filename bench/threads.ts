/**
 * 7. Thread settings: ONNX Runtime's intra-op threads (1 or 2) and whether its pool threads spin
 * while waiting for work (`session.intra_op.allow_spinning`, on by default), for single rows and
 * 1000-row batches. Besides latency, each point records the process's CPU time per call, back
 * to back and one call at a time with a pause between (as requests come at low load): spinning
 * threads burn CPU after every run that, on a Lambda function with one vCPU or less, the event
 * loop needs.
 *
 * Each configuration is measured on its own (a spinning pool would steal from a neighbour
 * measured in the same loop), in two passes (forward, then reverse order; one with --quick)
 * whose samples are merged, with a pause after each model.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext } from './lib/context.js';
import { PRODUCT_THREADS, benchModels, float32Rows, rawRun, rawSession, type ModelId } from './lib/models.js';
import { cpuPerIsolatedCall, median, precise, rowsPerSecond, sampleInBlocks, summarize } from './lib/stats.js';
import type { ThreadConfig, ThreadsResult } from './results.js';

/** 1 and 2 threads (and the product's own count, on a machine where it is more). */
export const THREAD_CONFIGS: readonly ThreadConfig[] = [...new Set([1, 2, PRODUCT_THREADS])].flatMap((intraOpThreads) =>
  [true, false].map((spinning) => ({
    id: `${intraOpThreads} thread${intraOpThreads > 1 ? 's' : ''}, spinning ${spinning ? 'on' : 'off'}`,
    intraOpThreads,
    spinning,
  })),
);

const SIZES = [1, 1000] as const;
/** The pause between isolated calls, ms: longer than ONNX Runtime's spinning lasts. */
const GAP_MS = 3;

export async function runThreads(ctx: BenchContext): Promise<ThreadsResult> {
  const times = new Map<string, number[]>();
  const cpu = new Map<string, { ms: number; calls: number }>();
  const isolated = new Map<string, number[]>();
  const key = (config: string, model: ModelId, rows: number) => `${config}|${model}|${rows}`;
  const passes = [THREAD_CONFIGS, [...THREAD_CONFIGS].reverse()].slice(0, ctx.profile.threads.passes);
  for (const pass of passes) {
    for (const config of pass) {
      ctx.progress(`threads: ${config.id}`);
      for (const model of benchModels()) {
        const session = await rawSession(model, { intraOpThreads: config.intraOpThreads, spinning: config.spinning });
        try {
          for (const rows of SIZES) {
            const data = float32Rows(model.rows(rows));
            const budget = rows === 1 ? ctx.profile.small : ctx.profile.large;
            // A third of the time budget per pass: twelve points, up to two passes.
            const share = {
              ...budget,
              minSamples: Math.ceil(budget.minSamples / passes.length),
              maxSamples: Math.ceil(budget.maxSamples / passes.length),
              maxMs: budget.maxMs / 3,
            };
            const { run } = await sampleInBlocks({ run: () => rawRun(session, model, data, rows) }, share);
            const k = key(config.id, model.id, rows);
            times.set(k, [...(times.get(k) ?? []), ...run.times]);
            const spent = cpu.get(k) ?? { ms: 0, calls: 0 };
            cpu.set(k, { ms: spent.ms + run.cpuMsPerCall * run.times.length, calls: spent.calls + run.times.length });
            const { isolatedCalls } = ctx.profile.threads;
            const calls = Math.ceil((rows === 1 ? isolatedCalls.small : isolatedCalls.large) / passes.length);
            isolated.set(k, [
              ...(isolated.get(k) ?? []),
              await cpuPerIsolatedCall(() => rawRun(session, model, data, rows), calls, GAP_MS),
            ]);
          }
        } finally {
          await session.release();
        }
        // Let a spinning pool wind down before the next session is measured.
        await sleep(20);
      }
    }
  }
  const points = THREAD_CONFIGS.flatMap((config) =>
    benchModels().flatMap((model) =>
      SIZES.map((rows) => {
        const k = key(config.id, model.id, rows);
        const stat = summarize(times.get(k) ?? []);
        const spent = cpu.get(k) ?? { ms: 0, calls: 1 };
        return {
          config: config.id,
          model: model.id,
          rows,
          stat,
          rowsPerSecond: precise(rowsPerSecond(rows, stat.medianMs)),
          cpuMsPerCall: precise(spent.ms / spent.calls),
          isolatedCpuMsPerCall: precise(median(isolated.get(k) ?? [Number.NaN])),
        };
      }),
    ),
  );
  const current = THREAD_CONFIGS.find((c) => c.intraOpThreads === PRODUCT_THREADS && c.spinning)?.id ?? '';
  const { recommended, reason } = recommend(points, current);
  return { configs: THREAD_CONFIGS, points, isolatedGapMs: GAP_MS, current, recommended, reason };
}

type Point = ThreadsResult['points'][number];

const geomean = (values: readonly number[]) => Math.exp(values.reduce((sum, v) => sum + Math.log(v), 0) / values.length);

/** How far from the fastest configuration's latency a configuration may be and still be chosen for its CPU. */
export const LATENCY_BAND = 0.1;

/**
 * The rule: the lowest latency over every model and size (geometric mean of each point's median
 * over the best median for that point); among the configurations within LATENCY_BAND of it, the
 * one that burns the least CPU per isolated single-row call.
 */
function recommend(points: readonly Point[], current: string): { recommended: string; reason: string } {
  const best = (model: ModelId, rows: number, pick: (p: Point) => number) =>
    Math.min(...points.filter((p) => p.model === model && p.rows === rows).map(pick));
  const score = (config: string, pick: (p: Point) => number, rows?: number) =>
    geomean(
      points
        .filter((p) => p.config === config && (rows === undefined || p.rows === rows))
        .map((p) => pick(p) / best(p.model, p.rows, pick)),
    );
  const latency = (p: Point) => p.stat.medianMs;
  const cpuTime = (p: Point) => p.isolatedCpuMsPerCall;
  const scored = THREAD_CONFIGS.map((c) => ({ id: c.id, latency: score(c.id, latency), cpu: score(c.id, cpuTime, 1) }));
  const fastest = Math.min(...scored.map((s) => s.latency));
  const choice = scored.filter((s) => s.latency <= fastest * (1 + LATENCY_BAND)).sort((a, b) => a.cpu - b.cpu)[0] ?? scored[0];
  const now = scored.find((s) => s.id === current);
  if (!choice || !now) return { recommended: current, reason: 'not enough points to compare' };
  const x = (v: number) => `${v.toFixed(2)}×`;
  const figures = (c: { id: string; latency: number; cpu: number }) =>
    `latency ${x(c.latency)} the best per point (single rows ${x(score(c.id, latency, 1))}, 1000-row batches ${x(score(c.id, latency, 1000))}) ` +
    `and ${x(c.cpu)} the least CPU per isolated single-row call`;
  const reason =
    choice.id === current
      ? `keep the current default, ${current}: ${figures(choice)}; no configuration within ${LATENCY_BAND * 100}% of the fastest burns less CPU.`
      : `${choice.id}: ${figures(choice)}, against ${figures(now)} for the current default (${current}).`;
  return { recommended: choice.id, reason };
}
