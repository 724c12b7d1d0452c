/** Lambda entry point of the drift function (an endpoint's EventBridge schedule invokes it); built once per cold start. */
import { loadConfig } from '../shared/config.js';
import { createLogger, setSharedLogger } from '../shared/logger.js';
import { awsClients, buildDriftService, lambdaTrafficRouter } from '../shared/composition.js';
import { S3CaptureReader } from '../adapters/s3-capture.js';
import { recordCanaryShift } from '../core/drift/canary-gate.js';
import { DynamoDbRegistry } from '../adapters/dynamodb-registry.js';
import { createMetrics, publishCanaryShiftMetric, publishDriftMetrics } from '../adapters/emf-metrics.js';
import { makeHandler } from './app.js';

const config = loadConfig();
const logger = createLogger({
  level: config.LOG_LEVEL,
  keys: { function: config.AWS_LAMBDA_FUNCTION_NAME ?? 'drift', functionVersion: config.AWS_LAMBDA_FUNCTION_VERSION },
});
setSharedLogger(logger);
const clients = awsClients(config);
const metrics = createMetrics(config.METRICS_NAMESPACE);
const drift = buildDriftService(config, clients);
if (!drift)
  throw new Error('The drift function needs ARTIFACT_BUCKET (reference profiles) and CAPTURE_BUCKET (captured records, reports).');

const registry = new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE });
// The canary check reads alias `live` of the endpoints named in ENDPOINTS.
const router = Object.keys(config.ENDPOINTS).length > 0 ? lambdaTrafficRouter(config) : undefined;

export const handler = makeHandler({
  drift,
  registry,
  ...(router && config.CAPTURE_BUCKET
    ? {
        canary: {
          routing: async (model: string) => {
            const { routing, versions } = await router.getRouting(model);
            const pinOf = (functionVersion: string | undefined) =>
              versions.find((v) => v.functionVersion === functionVersion)?.modelVersion;
            return { stable: pinOf(routing.stable), canary: routing.canary ? pinOf(routing.canary.version) : undefined };
          },
          gate: { registry, capture: new S3CaptureReader({ client: clients.s3, bucket: config.CAPTURE_BUCKET }) },
          emit: (model: string, shifted: boolean) => publishCanaryShiftMetric(metrics, model, shifted),
          record: async (model: string, canaryVersion: string, reason: string) => {
            await recordCanaryShift(registry, model, canaryVersion, reason);
          },
        },
      }
    : {}),
  emit: (report) => publishDriftMetrics(metrics, report),
  log: (level, message, fields) => (level === 'WARN' ? logger.warn(message, fields) : logger.info(message, fields)),
});
