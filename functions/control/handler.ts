/** Lambda entry point of the control-plane function; built once per cold start. */
import { loadConfig } from '../shared/config.js';
import { bodyLimits, buildRegistryService } from '../shared/composition.js';
import { makeHandler } from './app.js';

const config = loadConfig();

export const handler = makeHandler({ service: buildRegistryService(config), limits: bodyLimits(config) });
