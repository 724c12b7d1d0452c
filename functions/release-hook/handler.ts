/**
 * Lambda entry point of the CodeDeploy pre-traffic hook (`BeforeAllowTraffic`). Clients and the
 * registry are built once per cold start; the work is in `hook.ts`.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbRegistry } from '../adapters/dynamodb-registry.js';
import { loadHookConfig } from './config.js';
import { makeHookHandler } from './hook.js';

const config = loadHookConfig();
const region = config.AWS_REGION;

export const handler = makeHookHandler({
  codeDeploy: new CodeDeployClient({ region }),
  lambda: new LambdaClient({ region }),
  cloudWatch: new CloudWatchClient({ region }),
  registry: new DynamoDbRegistry({
    client: DynamoDBDocumentClient.from(new DynamoDBClient({ region }), { marshallOptions: { removeUndefinedValues: true } }),
    tableName: config.REGISTRY_TABLE,
  }),
});
