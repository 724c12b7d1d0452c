/**
 * Lambda entry point of an endpoint's predict function. Everything is built once per cold start,
 * at module scope: configuration, SDK clients, adapters, the model cache, the logger and metrics
 * (and, when TRACING is on, Powertools Tracer, loaded only then). The prediction-log drain
 * registers as an internal Lambda extension during init (top-level await), so each invocation's
 * records are stored after its answer and before the sandbox freezes.
 */
import { EmfRequestObserver, createMetrics } from '../adapters/emf-metrics.js';
import { loadConfig } from '../shared/config.js';
import { awsClients, buildPredictionService, bodyLimits } from '../shared/composition.js';
import { InvocationDrain, onShutdown } from '../shared/log-drain.js';
import { createLogger, describeError, requestLog, setSharedLogger } from '../shared/logger.js';
import { makeHandler } from './app.js';

const config = loadConfig();
const logger = createLogger({
  level: config.LOG_LEVEL,
  keys: { function: config.AWS_LAMBDA_FUNCTION_NAME ?? 'predict', functionVersion: config.AWS_LAMBDA_FUNCTION_VERSION },
});
setSharedLogger(logger);
const metrics = createMetrics(config.METRICS_NAMESPACE);
const clients = awsClients(config);
let tracing;
if (config.TRACING) {
  try {
    const { xrayTracing } = await import('../adapters/xray-tracing.js');
    tracing = await xrayTracing();
    tracing.traceClient(clients.documents);
    tracing.traceClient(clients.s3);
  } catch (error) {
    // TRACING set on a function whose bundle was built without the tracer (cdk.json's
    // observability.tracing off): serve untraced rather than fail every cold start.
    logger.error('TRACING is on but this bundle has no tracer; set observability.tracing in cdk.json and deploy again', {
      error: describeError(error),
    });
  }
}
const service = buildPredictionService(config, clients, { metrics, ...(tracing ? { tracing } : {}) });
// An endpoint function starts loading its model during init, without waiting for it: the
// registry reads, the artifact download and the session create run while the runtime finishes
// its init, and the first request joins the same load (a failure is retried by that request).
if (config.SERVED_MODEL) {
  void service.ready(config.SERVED_MODEL, { log: requestLog(logger, { phase: 'init' }) }).catch(() => undefined);
}
const drain = new InvocationDrain({ runtimeApi: config.AWS_LAMBDA_RUNTIME_API, drain: () => service.drain() });
await drain.register();
onShutdown(
  () => service.flush(),
  () => service.pending() > 0,
);

export const handler = makeHandler({
  service,
  limits: bodyLimits(config),
  ...(config.SERVED_MODEL ? { servedModel: config.SERVED_MODEL } : {}),
  ...(config.EMF_METRICS ? { observer: new EmfRequestObserver(metrics) } : {}),
  edge: { logger, functionVersion: config.AWS_LAMBDA_FUNCTION_VERSION, onAnswered: (id) => drain.answered(id) },
});
