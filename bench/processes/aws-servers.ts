/**
 * Child process: the local DynamoDB- and S3-compatible servers (dynalite, s3rver) with the
 * product's tables and bucket, and the three bench models registered and in production. Runs
 * apart from the functions it serves, as DynamoDB and S3 do on AWS.
 *
 * Also a second DynamoDB endpoint, the log sink, for measuring our side of prediction logging:
 * it answers writes to the prediction-log table (BatchWriteItem, and PutItem, which the log
 * adapter uses to isolate a refused item) at once, without storing anything, and passes every
 * other request to dynalite. dynalite takes milliseconds per item and stores a few hundred to a
 * few thousand a second, so behind it a load test measures dynalite; behind the sink it measures
 * the function's process (building the records, marshalling, signing, sending, reading the answer).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ensureTables } from '../../functions/adapters/tables.js';
import { loadConfig, required } from '../../functions/shared/config.js';
import { buildRegistryService } from '../../functions/shared/composition.js';
import { ensureBucket, localClients, startLocalAws } from '../../local/aws-servers.js';
import { serveRunner, type AwsEndpoints } from '../lib/children.js';
import { benchModels } from '../lib/models.js';
import { publish } from '../lib/publish.js';

const aws = await startLocalAws();
const clients = localClients(aws);
const config = loadConfig({
  REGISTRY_TABLE: 'onnx-registry',
  PREDICTION_LOG_TABLE: 'onnx-prediction-log',
  ARTIFACT_BUCKET: 'onnx-artifacts',
  MODEL_CACHE_DIR: path.join(os.tmpdir(), 'onnx-serving-model-cache'),
});
await ensureTables(clients.dynamo, { registry: config.REGISTRY_TABLE, predictionLog: required(config, 'PREDICTION_LOG_TABLE') });
await ensureBucket(clients.s3, required(config, 'ARTIFACT_BUCKET'));
const registry = buildRegistryService(config, clients);
for (const model of benchModels()) await publish(registry, model);

/** The answer to a write that only touches the prediction-log table, or undefined for anything else. */
function logWriteAnswer(target: string, body: Buffer, tableName: string): string | undefined {
  if (target.endsWith('.PutItem')) {
    return (JSON.parse(body.toString('utf8')) as { TableName?: string }).TableName === tableName ? '{}' : undefined;
  }
  if (target.endsWith('.BatchWriteItem')) {
    const tables = Object.keys((JSON.parse(body.toString('utf8')) as { RequestItems?: Record<string, unknown> }).RequestItems ?? {});
    return tables.length > 0 && tables.every((t) => t === tableName) ? '{"UnprocessedItems":{}}' : undefined;
  }
  return undefined;
}

function startLogSink(tableName: string, dynamoEndpoint: string): Promise<http.Server> {
  const upstream = new URL(dynamoEndpoint);
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const answer = logWriteAnswer(String(request.headers['x-amz-target'] ?? ''), body, tableName);
      if (answer !== undefined) {
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(answer) });
        response.end(answer);
        return;
      }
      const forwarded = http.request(
        { host: upstream.hostname, port: upstream.port, agent, method: request.method, path: request.url, headers: request.headers },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      forwarded.on('error', () => response.destroy());
      forwarded.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const sink = await startLogSink(required(config, 'PREDICTION_LOG_TABLE'), aws.dynamoEndpoint);

const endpoints: AwsEndpoints = {
  dynamoEndpoint: aws.dynamoEndpoint,
  logSinkEndpoint: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
  s3Endpoint: aws.s3Endpoint,
  registryTable: config.REGISTRY_TABLE,
  predictionLogTable: required(config, 'PREDICTION_LOG_TABLE'),
  bucket: required(config, 'ARTIFACT_BUCKET'),
};
serveRunner(
  { endpoints },
  {
    // This process's CPU time so far: the runner divides its growth by the records dynalite stored.
    cpu: () => {
      const { user, system } = process.cpuUsage();
      return { cpuMs: (user + system) / 1000 };
    },
  },
  async () => {
    sink.closeAllConnections();
    sink.close();
    clients.destroy();
    await aws.stop();
  },
);
