/**
 * The batch function's handler over the batch core: one Distributed Map batch in, its
 * predictions and error records out (see functions/core/batch.ts for both shapes).
 *
 * A batch that fails as a whole (a wrong envelope, too many items, an unknown version, our
 * side's fault) throws a {@link BatchFailure} whose `name` is `Batch.<CODE>`: Lambda reports it
 * as the error type, so the workflow's Retry and Catch can tell `Batch.REGISTRY_UNAVAILABLE`
 * (retry) from `Batch.TOO_MANY_ROWS` (do not). A 4xx failure keeps its message (it names the
 * job's mistake, in bounded excerpts); a 5xx one says only its code, its details go to the log.
 */
import { AppError, describeError, type FieldPath } from '../core/errors.js';
import type { BatchPredictor, BatchResult } from '../core/batch.js';
import { SILENT_LOG, type RequestLog } from '../core/observability.js';

/** What the Lambda runtime passes as the invocation's context (only what is read here). */
export interface BatchInvocationContext {
  readonly awsRequestId?: string;
}

export type BatchHandler = (event: unknown, context?: BatchInvocationContext) => Promise<BatchResult>;

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

export interface BatchHandlerDeps {
  readonly predictor: BatchPredictor;
  /** The log of one invocation. @default silent */
  readonly log?: (requestId: string | undefined) => RequestLog;
}

export function makeHandler({ predictor, log = () => SILENT_LOG }: BatchHandlerDeps): BatchHandler {
  return async (event, context) => {
    const lines = log(context?.awsRequestId);
    try {
      const result = await predictor.predict(event);
      lines.info('batch predicted', { model: result.model, modelVersion: result.modelVersion, rows: result.rows, predicted: result.predicted, failed: result.failed });
      return result;
    } catch (error) {
      if (error instanceof AppError && error.status < 500) {
        lines.warn('batch refused', { code: error.code, message: error.message, path: error.path });
        throw new BatchFailure(error.code, error.status, error.message, error.path);
      }
      const code = error instanceof AppError ? error.code : 'INTERNAL';
      lines.error('batch failed', { code, error: describeError(error) });
      throw new BatchFailure(code, error instanceof AppError ? error.status : 500, `The batch failed on our side (${code}); it may be retried.`, []);
    }
  };
}
