/**
 * Lambda entry point of an endpoint's predict function. Everything is built once per cold start,
 * at module scope: configuration, SDK clients, adapters and the model cache.
 */
import { loadConfig } from '../shared/config.js';
import { buildPredictionService, bodyLimits } from '../shared/composition.js';
import { makeHandler } from './app.js';

const config = loadConfig();

export const handler = makeHandler({ service: buildPredictionService(config), limits: bodyLimits(config),
  ...(config.SERVED_MODEL ? { servedModel: config.SERVED_MODEL } : {}),
});
