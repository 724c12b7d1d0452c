/** Lambda entry point of the control-plane function; built once per cold start. */
import { loadConfig } from '../shared/config.js';
import {
  awsClients, bodyLimits, buildPredictionLogService, buildRegistryService, buildReleaseService, buildStatsService, buildUploadService, lambdaTrafficRouter,
} from '../shared/composition.js';
import { makeHandler } from './app.js';

const config = loadConfig();
const clients = awsClients(config);
const service = buildRegistryService(config, clients);
// Without endpoints to release (ENDPOINTS unset), the release and stats routes answer 501.
const releases = Object.keys(config.ENDPOINTS).length > 0
  ? buildReleaseService(config, lambdaTrafficRouter(config), clients, service)
  : undefined;
const stats = releases ? buildStatsService(config, releases) : undefined;

const uploads = buildUploadService(config, clients, service);
const predictions = buildPredictionLogService(config, clients);

export const handler = makeHandler({
  service,
  uploads,
  ...(releases ? { releases } : {}),
  ...(stats ? { stats } : {}),
  predictions,
  limits: bodyLimits(config),
});
