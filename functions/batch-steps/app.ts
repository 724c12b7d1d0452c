/**
 * The steps function of the batch workflow: `plan`, `assemble` and `fail` events (shapes in
 * functions/core/batch-steps.ts and /docs: the state machine builds them) dispatched to the
 * steps core. Failures become `Batch.<CODE>` errors, as the batch function's do.
 */
import type { AssembleResult, BatchSteps } from '../core/batch-steps.js';
import { checkStepEvent } from '../core/batch-steps.js';
import type { PlanResult } from '../core/batch-contract.js';
import type { RequestLog } from '../core/observability.js';
import { jobKeysOf, makeHandler as makeBatchHandler, type BatchHandler } from '../batch/app.js';

export type StepResult = PlanResult | AssembleResult | { state: 'FAILED' };

export function makeHandler(steps: BatchSteps, log?: (requestId: string | undefined) => RequestLog): BatchHandler<StepResult> {
  return makeBatchHandler<StepResult>({
    work: async (event) => {
      const { step, job, plan, outcome, error } = checkStepEvent(event);
      if (step === 'plan') return steps.plan(job);
      if (step === 'fail') return steps.fail(job, error ?? {});
      if (!plan) throw new Error('assemble needs the plan ($.plan)');
      return steps.assemble(job, plan, outcome);
    },
    // What the step did: the plan's size, or how the job ended.
    describe: (result) => ('splitCount' in result ? { rows: result.rows, splits: result.splitCount } : { ...result }),
    keysOf: jobKeysOf,
    ...(log ? { log } : {}),
  });
}
