/**
 * The functions' AWS SDK clients (`awsClients`, as Lambda builds them) against a DynamoDB and an
 * S3 that accept connections and never answer: a predict function's first request fails in
 * bounded time with 503 REGISTRY_UNAVAILABLE instead of hanging until the function times out.
 * The bound is the jest timeout: without the request timeout the call would wait forever.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { rejection } from '../fixtures/errors.js';
import { loadConfig } from '../../functions/shared/config.js';
import { awsClients, buildPredictionService } from '../../functions/shared/composition.js';

let server: http.Server;
let requests = 0;
const saved: Record<string, string | undefined> = {};
const ENV = [
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_ENDPOINT_URL_S3',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
];

beforeAll(async () => {
  server = http.createServer((request) => {
    requests++;
    request.resume();
    // never answers
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const name of ENV) saved[name] = process.env[name];
  // Where the SDK finds its endpoints and credentials on Lambda: the environment.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
  });
});

afterAll(async () => {
  for (const name of ENV) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

it('answers the first request 503 REGISTRY_UNAVAILABLE once the registry read times out, retries included', async () => {
  // Prepare
  const config = loadConfig({
    REGISTRY_TABLE: 'registry',
    PREDICTION_LOG_TABLE: 'log',
    ARTIFACT_BUCKET: 'artifacts',
    AWS_REQUEST_TIMEOUT_MS: '200',
    AWS_CONNECT_TIMEOUT_MS: '200',
  });
  const clients = awsClients(config);
  const service = buildPredictionService(config, clients);

  // Act
  const error = await rejection(
    service.predict('iris', { features: { a: 1 } }, { requestId: 'r-1', caller: 'test', startedAt: performance.now() }),
  );

  // Assess: the SDK's attempts each ended at the timeout, then our side answered
  expect([error.status, error.code]).toEqual([503, 'REGISTRY_UNAVAILABLE']);
  expect(requests).toBeGreaterThanOrEqual(1);
  clients.documents.destroy();
  clients.s3.destroy();
}, 15_000);
