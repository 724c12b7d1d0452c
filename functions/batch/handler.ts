/**
 * Lambda entry point of the batch function (the Distributed Map's item processor). Built once
 * per cold start, at module scope: configuration, SDK clients, the registry, the job table and
 * the ONNX Runtime adapter with its session cache (a job's batches reuse the sandbox's session).
 */
import { loadConfig } from '../shared/config.js';
import { awsClients, buildBatchWorker } from '../shared/composition.js';
import { createLogger, requestLog, setSharedLogger } from '../shared/logger.js';
import { jobKeysOf, makeHandler } from './app.js';

const config = loadConfig();
const logger = createLogger({
  level: config.LOG_LEVEL,
  keys: { function: config.AWS_LAMBDA_FUNCTION_NAME ?? 'batch', functionVersion: config.AWS_LAMBDA_FUNCTION_VERSION },
});
setSharedLogger(logger);
const worker = buildBatchWorker(config, awsClients(config));

export const handler = makeHandler({
  work: (event) => worker.run(event),
  describe: (result) => ({ splits: result.splits.length, rows: result.rows, predicted: result.predicted, failed: result.failed }),
  keysOf: jobKeysOf,
  log: (requestId) => requestLog(logger, { ...(requestId ? { requestId } : {}) }),
});
