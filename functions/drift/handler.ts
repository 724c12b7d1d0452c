/** Lambda entry point of the drift function (an endpoint's EventBridge schedule invokes it); built once per cold start. */
import { loadConfig } from '../shared/config.js';
import { createLogger, setSharedLogger } from '../shared/logger.js';
import { awsClients, buildDriftService } from '../shared/composition.js';
import { DynamoDbRegistry } from '../adapters/dynamodb-registry.js';
import { createMetrics, publishDriftMetrics } from '../adapters/emf-metrics.js';
import { makeHandler } from './app.js';

const config = loadConfig();
const logger = createLogger({ level: config.LOG_LEVEL, keys: { function: config.AWS_LAMBDA_FUNCTION_NAME ?? 'drift', functionVersion: config.AWS_LAMBDA_FUNCTION_VERSION } });
setSharedLogger(logger);
const clients = awsClients(config);
const metrics = createMetrics(config.METRICS_NAMESPACE);
const drift = buildDriftService(config, clients);
if (!drift) throw new Error('The drift function needs ARTIFACT_BUCKET (reference profiles) and CAPTURE_BUCKET (captured records, reports).');

export const handler = makeHandler({
  drift,
  registry: new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE }),
  emit: (report) => publishDriftMetrics(metrics, report),
  log: (level, message, fields) => (level === 'WARN' ? logger.warn(message, fields) : logger.info(message, fields)),
});
