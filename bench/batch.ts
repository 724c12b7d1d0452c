/**
 * 3. Batch efficiency: one request of 1000 instances through the handler, against one raw
 * `session.run` on the same 1000 rows (the limit), and against the pattern most tutorials show,
 * one `session.run` per row in a loop. The adapter and core layers run in the same loop, so the
 * gap to the limit splits into tensor conversion, codec, and HTTP edge (JSON in and out); a CPU
 * profile of the tree ensemble's batched requests says which code it is.
 */
import type { BenchContext } from './lib/context.js';
import {
  DiscardingLog,
  arrayInstancesBody,
  inProcessPredict,
  invokeOk,
  lambdaContext,
  predictEvent,
  recordInstancesBody,
} from './lib/in-process.js';
import { PRODUCT_THREADS, benchModel, benchModels, float32Rows, rawRun, rawSession } from './lib/models.js';
import { profileInProcess } from './lib/profile.js';
import { precise, repeatFor, rowsPerSecond, sampleInBlocks, summarize } from './lib/stats.js';
import type { BatchResult } from './results.js';
import { binaryInferEvent } from './lib/events.js';

export const BATCH_ROWS = 1000;
const PROFILED_MODEL = 'trees';

export async function runBatch(ctx: BenchContext): Promise<BatchResult> {
  const stack = await inProcessPredict(benchModels(), { log: new DiscardingLog(), intraOpThreads: PRODUCT_THREADS });
  const context = lambdaContext();
  const models: BatchResult['models'][number][] = [];
  for (const model of benchModels()) {
    ctx.progress(`batch: ${model.id}`);
    const rows = model.rows(BATCH_ROWS);
    const data = float32Rows(rows);
    const width = model.features.length;
    const perRow = rows.map((_, r) => data.subarray(r * width, (r + 1) * width));
    const arraysBody = arrayInstancesBody(rows);
    const arraysEvent = predictEvent(model.name, JSON.stringify(arraysBody));
    const recordsEvent = predictEvent(model.name, JSON.stringify(recordInstancesBody(model, rows)));
    const raw = await rawSession(model);
    // The tutorial's loop gets a session of its own, so the raw batched figure is a session that only sees batches.
    const tutorial = await rawSession(model);
    const adapter = await stack.session(model);
    const feeds = { [model.inputName]: { type: 'float32' as const, shape: [BATCH_ROWS, width], data } };
    const binaryEvent = binaryInferEvent(model.name, model.inputName, data, [BATCH_ROWS, width]);
    try {
      const answer = await invokeOk(stack.handler, arraysEvent, context);
      const responseBytes = Buffer.byteLength(answer);
      // The floor's answer: the handler's own, as objects (JSON.stringify writes it again each time).
      const answerObject = JSON.parse(answer) as unknown;
      const arraysText = arraysEvent.body ?? '';
      const samples = await sampleInBlocks(
        {
          raw: () => rawRun(raw, model, data, BATCH_ROWS),
          adapter: () => adapter.run(feeds),
          core: () => stack.service.predict(model.name, arraysBody, { requestId: 'bench', caller: 'bench', startedAt: performance.now() }),
          handler: () => invokeOk(stack.handler, arraysEvent, context),
          // What any JSON service must do at least: parse the body, one run, write the answer.
          jsonFloor: async () => {
            JSON.parse(arraysText);
            await rawRun(raw, model, data, BATCH_ROWS);
            return JSON.stringify(answerObject);
          },
          binaryHandler: () => invokeOk(stack.handler, binaryEvent, context),
          handlerRecords: () => invokeOk(stack.handler, recordsEvent, context),
          perRowLoop: async () => {
            for (const row of perRow) await rawRun(tutorial, model, row, 1);
          },
        },
        ctx.profile.large,
      );
      const stat = (name: keyof typeof samples) => summarize(samples[name].times);
      const s = {
        raw: stat('raw'),
        adapter: stat('adapter'),
        core: stat('core'),
        handler: stat('handler'),
        handlerRecords: stat('handlerRecords'),
        perRowLoop: stat('perRowLoop'),
        jsonFloor: stat('jsonFloor'),
        binaryHandler: stat('binaryHandler'),
      };
      const rawRowsPerSecond = rowsPerSecond(BATCH_ROWS, s.raw.medianMs);
      const handlerRowsPerSecond = rowsPerSecond(BATCH_ROWS, s.handler.medianMs);
      models.push({
        model: model.id,
        ...s,
        rawRowsPerSecond: precise(rawRowsPerSecond),
        handlerRowsPerSecond: precise(handlerRowsPerSecond),
        efficiency: precise(handlerRowsPerSecond / rawRowsPerSecond),
        recordsEfficiency: precise(rowsPerSecond(BATCH_ROWS, s.handlerRecords.medianMs) / rawRowsPerSecond),
        speedupOverLoop: precise(s.perRowLoop.medianMs / s.handler.medianMs),
        floorRatio: precise(s.handler.medianMs / s.jsonFloor.medianMs),
        binaryRatio: precise(s.binaryHandler.medianMs / s.raw.medianMs),
        requestBytes: Buffer.byteLength(arraysEvent.body ?? ''),
        responseBytes,
      });
    } finally {
      await Promise.all([raw.release(), tutorial.release()]);
    }
  }
  const profiled = benchModel(PROFILED_MODEL);
  ctx.progress(`batch: CPU profile (${profiled.id})`);
  const event = predictEvent(profiled.name, JSON.stringify(arrayInstancesBody(profiled.rows(BATCH_ROWS))));
  const profile = await profileInProcess(async () => {
    await repeatFor(() => invokeOk(stack.handler, event, context), 100_000, ctx.profile.profileMs);
  });
  return { rows: BATCH_ROWS, models, profiledModel: profiled.id, profile };
}
