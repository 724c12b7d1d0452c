/**
 * Lambda entry point of the batch workflow's steps function (plan, assemble, fail).
 */
import { loadConfig } from '../shared/config.js';
import { awsClients, buildBatchSteps } from '../shared/composition.js';
import { createLogger, requestLog, setSharedLogger } from '../shared/logger.js';
import { makeHandler } from './app.js';

const config = loadConfig();
const logger = createLogger({
  level: config.LOG_LEVEL,
  keys: { function: config.AWS_LAMBDA_FUNCTION_NAME ?? 'batch-steps', functionVersion: config.AWS_LAMBDA_FUNCTION_VERSION },
});
setSharedLogger(logger);

export const handler = makeHandler(buildBatchSteps(config, awsClients(config)), (requestId) =>
  requestLog(logger, { ...(requestId ? { requestId } : {}) }),
);
