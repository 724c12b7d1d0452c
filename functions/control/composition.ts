/**
 * The control function's own services (experiments and shadow tests), apart from the shared
 * composition root so that the endpoint function, which imports that root, does not bundle them
 * (their zod schemas and the statistics library). The control handler, the local stack and the
 * tests build them from here.
 */
import { DynamoDbExperimentStore } from '../adapters/dynamodb-experiments.js';
import { DynamoDbRegistry } from '../adapters/dynamodb-registry.js';
import { DynamoDbStudyReader } from '../adapters/dynamodb-prediction-log-reader.js';
import { ExperimentService } from '../core/experiments/service.js';
import type { TrafficRouter } from '../core/ports.js';
import type { ReleaseService } from '../core/release.js';
import { ShadowService } from '../core/shadow/service.js';
import type { Config } from '../shared/config.js';
import type { AwsClients } from '../shared/composition.js';

/**
 * A/B experiments over the registry table (experiments, outcomes), the prediction log's `byStudy`
 * index, and the releases (`router` tells whether one is in progress; a winner is released with
 * `releases`). `undefined` without a prediction log to analyze.
 */
export function buildExperimentService(
  config: Config,
  clients: AwsClients,
  router: TrafficRouter,
  releases: ReleaseService,
): ExperimentService | undefined {
  if (!config.PREDICTION_LOG_TABLE) return undefined;
  return new ExperimentService({
    registry: new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE }),
    store: new DynamoDbExperimentStore({ client: clients.documents, tableName: config.REGISTRY_TABLE }),
    studies: new DynamoDbStudyReader({ client: clients.documents, tableName: config.PREDICTION_LOG_TABLE }),
    router,
    promote: (request) => releases.promote(request),
    checkPromotion: (request) => releases.check(request),
  });
}

/** Shadow tests over the registry table and the prediction log's `byStudy` index; `undefined` without a prediction log. */
export function buildShadowService(config: Config, clients: AwsClients): ShadowService | undefined {
  if (!config.PREDICTION_LOG_TABLE) return undefined;
  return new ShadowService({
    registry: new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE }),
    store: new DynamoDbExperimentStore({ client: clients.documents, tableName: config.REGISTRY_TABLE }),
    studies: new DynamoDbStudyReader({ client: clients.documents, tableName: config.PREDICTION_LOG_TABLE }),
  });
}
