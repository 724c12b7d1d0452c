/**
 * The handlers of the batch workflow's functions: the batch function (one Distributed Map batch
 * of splits in, its parts written and a summary out; functions/core/batch-worker.ts) and the
 * steps function (plan, assemble, fail; functions/core/batch-steps.ts).
 *
 * A batch that fails as a whole (a wrong envelope, too many items, an unknown version, our
 * side's fault) throws a {@link BatchFailure} whose `name` is `Batch.<CODE>`: Lambda reports it
 * as the error type, so the workflow's Retry and Catch can tell `Batch.REGISTRY_UNAVAILABLE`
 * (retry) from `Batch.TOO_MANY_ROWS` (do not). A 4xx failure keeps its message (it names the
 * job's mistake, in bounded excerpts); a 5xx one says only its code, its details go to the log.
 */
import { AppError, describeError, type FieldPath } from '../core/errors.js';
import { SILENT_LOG, type RequestLog } from '../core/observability.js';

/** What the Lambda runtime passes as the invocation's context (only what is read here). */
export interface BatchInvocationContext {
  readonly awsRequestId?: string;
}

export type BatchHandler<R> = (event: unknown, context?: BatchInvocationContext) => Promise<R>;

export class BatchFailure extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly path: FieldPath,
  ) {
    super(message);
    // Lambda's error type, which Step Functions matches on.
    this.name = `Batch.${code}`;
  }
}

export interface BatchHandlerDeps<R> {
  /** The work of one invocation: the job's batch (`BatchWorker.run`), or a step of the workflow. */
  readonly work: (event: unknown) => Promise<R>;
  /** What to log of a result. @default nothing */
  readonly describe?: (result: R) => Record<string, unknown>;
  /** What every line of the invocation carries, read from its event (the job id). @default nothing */
  readonly keysOf?: (event: unknown) => Record<string, unknown>;
  /** The log of one invocation. @default silent */
  readonly log?: (requestId: string | undefined) => RequestLog;
}

/**
 * A Lambda handler for the workflow: runs `work`, and turns what it throws into a
 * {@link BatchFailure} named `Batch.<CODE>` (4xx: its message kept; 5xx: its code only, the
 * details logged).
 */
export function makeHandler<R>({ work, describe, keysOf, log = () => SILENT_LOG }: BatchHandlerDeps<R>): BatchHandler<R> {
  return async (event, context) => {
    const lines = log(context?.awsRequestId);
    if (keysOf) lines.set(keysOf(event));
    try {
      const result = await work(event);
      lines.info('batch work done', describe ? describe(result) : {});
      return result;
    } catch (error) {
      throw toBatchFailure(error, lines);
    }
  };
}

/** The job id a batch or step event carries (`BatchInput.jobId`, `job.jobId`), for its log lines. */
export function jobKeysOf(event: unknown): Record<string, unknown> {
  if (typeof event !== 'object' || event === null) return {};
  const { BatchInput, job, step } = event as { BatchInput?: { jobId?: unknown }; job?: { jobId?: unknown }; step?: unknown };
  const jobId = BatchInput?.jobId ?? job?.jobId;
  return {
    ...(typeof jobId === 'string' ? { jobId: jobId.slice(0, 80) } : {}),
    ...(typeof step === 'string' ? { step: step.slice(0, 20) } : {}),
  };
}

/** What a batch or step failure becomes for Step Functions (see {@link BatchFailure}). */
export function toBatchFailure(error: unknown, lines: RequestLog): BatchFailure {
  if (error instanceof AppError && error.status < 500) {
    // `reason`, not `message`: Powertools Logger reserves that key and would drop it.
    lines.warn('batch refused', { code: error.code, reason: error.message, path: error.path });
    return new BatchFailure(error.code, error.status, error.message, error.path);
  }
  const code = error instanceof AppError ? error.code : 'INTERNAL';
  lines.error('batch failed', { code, error: describeError(error) });
  return new BatchFailure(
    code,
    error instanceof AppError ? error.status : 500,
    `The batch failed on our side (${code}); it may be retried.`,
    [],
  );
}
