/**
 * 1. The limit: ONNX Runtime's `session.run` called directly, with the product's session options,
 * on batches of 1, 10, 100 and 1000 rows. Every other section divides by these figures.
 */
import type { BenchContext } from './lib/context.js';
import { benchModels, float32Rows, rawRun, rawSession } from './lib/models.js';
import { precise, rowsPerSecond, sampleInBlocks, summarize } from './lib/stats.js';
import type { LimitResult } from './results.js';

export const BATCH_SIZES = [1, 10, 100, 1000] as const;

export async function runLimit(ctx: BenchContext): Promise<LimitResult> {
  const models: LimitResult['models'][number][] = [];
  for (const model of benchModels()) {
    ctx.progress(`limit: ${model.id}`);
    const session = await rawSession(model);
    try {
      const batches = [];
      for (const rows of BATCH_SIZES) {
        const data = float32Rows(model.rows(rows));
        const budget = rows >= 1000 ? ctx.profile.large : ctx.profile.small;
        const { run } = await sampleInBlocks({ run: () => rawRun(session, model, data, rows) }, budget);
        const stat = summarize(run.times);
        batches.push({ rows, stat, rowsPerSecond: precise(rowsPerSecond(rows, stat.medianMs)) });
      }
      models.push({ model: model.id, batches });
    } finally {
      await session.release();
    }
  }
  return { models };
}
