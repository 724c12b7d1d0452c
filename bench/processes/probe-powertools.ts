/**
 * Cold-start probe, bundled as the function is and run by plain Node in a fresh process: imports
 * Powertools Logger and Metrics and builds them as the predict function's composition root does
 * (functions/predict/handler.ts), then prints when it ended, in ms since the process started.
 * Against probe-empty.ts, that is what Logger and Metrics add to a cold start.
 */
import { createMetrics } from '../../functions/adapters/emf-metrics.js';
import { DEFAULT_METRICS_NAMESPACE } from '../../functions/core/observability.js';
import { createLogger, setSharedLogger } from '../../functions/shared/logger.js';

const logger = createLogger({ level: 'INFO', keys: { function: 'predict', functionVersion: '$LATEST' } });
setSharedLogger(logger);
const metrics = createMetrics(DEFAULT_METRICS_NAMESPACE);
process.stdout.write(
  `${JSON.stringify({ total: performance.now(), built: typeof logger.info === 'function' && typeof metrics.addMetric === 'function' })}\n`,
);
