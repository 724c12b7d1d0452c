/** Lambda entry point of the control-plane function; built once per cold start. */
import { loadConfig } from '../shared/config.js';
import { createLogger, setSharedLogger } from '../shared/logger.js';
import {
  awsClients,
  bodyLimits,
  buildBatchJobService,
  buildDriftService,
  buildPredictionLogService,
  buildRegistryService,
  buildReleaseService,
  buildReplayService,
  buildStatsService,
  buildUploadService,
  lambdaTrafficRouter,
} from '../shared/composition.js';
import { buildExperimentService, buildShadowService } from './composition.js';
import { makeHandler } from './app.js';

const config = loadConfig();
const logger = createLogger({
  level: config.LOG_LEVEL,
  keys: { function: config.AWS_LAMBDA_FUNCTION_NAME ?? 'control', functionVersion: config.AWS_LAMBDA_FUNCTION_VERSION },
});
setSharedLogger(logger);
const clients = awsClients(config);
const service = buildRegistryService(config, clients);
// Without endpoints to release (ENDPOINTS unset), the release and stats routes answer 501.
const router = Object.keys(config.ENDPOINTS).length > 0 ? lambdaTrafficRouter(config) : undefined;
const releases = router ? buildReleaseService(config, router, clients, service) : undefined;
// Experiments and shadow tests are served by the endpoints, and analyzed from the prediction log.
const experiments = router && releases ? buildExperimentService(config, clients, router, releases) : undefined;
const shadows = router ? buildShadowService(config, clients) : undefined;
const stats = releases ? buildStatsService(config, releases) : undefined;

const uploads = buildUploadService(config, clients, service);
const predictions = buildPredictionLogService(config, clients);
const drift = buildDriftService(config, clients);
// Batch jobs and replays: Step Functions (BATCH_STATE_MACHINE_ARN) over the job table; replays also need CAPTURE_BUCKET.
const jobs = buildBatchJobService(config, clients);
const replays = jobs ? buildReplayService(config, clients, jobs) : undefined;

export const handler = makeHandler({
  service,
  uploads,
  ...(releases ? { releases } : {}),
  ...(stats ? { stats } : {}),
  predictions,
  ...(drift ? { drift } : {}),
  ...(jobs ? { jobs } : {}),
  ...(replays ? { replays } : {}),
  ...(experiments ? { experiments } : {}),
  ...(shadows ? { shadows } : {}),
  limits: bodyLimits(config),
  // The per-model OpenAPI document states the request limits the endpoints enforce.
  codec: { maxRows: config.MAX_ROWS, maxStringChars: config.MAX_STRING_CHARS },
  edge: { logger, functionVersion: config.AWS_LAMBDA_FUNCTION_VERSION },
});
