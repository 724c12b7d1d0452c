/**
 * Lambda entry point of the CodeDeploy post-traffic hook (`AfterAllowTraffic`). Clients, adapters
 * and the registry service (the same adapters the control plane uses: DynamoDB registry, S3
 * artifacts, ONNX Runtime for the gates) are built once per cold start; the work is in
 * `post-traffic.ts`.
 */
import { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbRegistry } from '../adapters/dynamodb-registry.js';
import { OnnxRuntime, defaultIntraOpThreads } from '../adapters/onnx-runtime.js';
import { S3ArtifactStore } from '../adapters/s3-artifacts.js';
import { RegistryService } from '../core/registry.js';
import { loadPostTrafficHookConfig } from './config.js';
import { makePostTrafficHookHandler } from './post-traffic.js';

const config = loadPostTrafficHookConfig();
const region = config.AWS_REGION;

const artifacts = new S3ArtifactStore({ client: new S3Client({ region }), bucket: config.ARTIFACT_BUCKET });

export const handler = makePostTrafficHookHandler({
  codeDeploy: new CodeDeployClient({ region }),
  lambda: new LambdaClient({ region }),
  registry: new RegistryService({
    registry: new DynamoDbRegistry({
      client: DynamoDBDocumentClient.from(new DynamoDBClient({ region }), { marshallOptions: { removeUndefinedValues: true } }),
      tableName: config.REGISTRY_TABLE,
    }),
    artifacts,
    runtime: new OnnxRuntime(artifacts, {
      cacheDir: config.MODEL_CACHE_DIR,
      intraOpThreads: defaultIntraOpThreads(config.AWS_LAMBDA_FUNCTION_MEMORY_SIZE),
    }),
    // The hook registers nothing; promotions read the artifact through the gates only.
    maxArtifactBytes: 0,
    baselineFor: (model) => config.METRIC_BASELINES[model],
  }),
});
