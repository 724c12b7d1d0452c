/**
 * Our side's faults are ours: a registered version whose model file is gone from the real local
 * S3 answers 5xx on every route that loads its artifact or session (predict, v2 infer, v2 model
 * metadata and ready, the gates of a stage move or production change, a release), the body names
 * no bucket, key or internal path, and the details are in the function's log. A release that
 * fails that way publishes nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import type { ModelVersion } from '../../functions/core/model.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { errorOf, type JsonReply } from '../fixtures/http.js';
import { jsonLines, captureOutput } from '../fixtures/output.js';
import { adminCall, type Call } from '../fixtures/tokens.js';
import { mlpModel } from '../fixtures/models.js';

const FEATURES = ['a', 'b', 'c', 'd'];
const row = { a: 0.1, b: 0.2, c: 0.3, d: 0.4 };
let stack: LocalStack;
let call: Call;
let dataDir: string;

beforeAll(async () => {
  // A data folder of its own: its model-file cache is empty, so every load goes to S3.
  dataDir = await mkdtemp(join(tmpdir(), 'server-faults-'));
  stack = await startLocalStack({ dataDir, seedSampleModel: false });
  call = await adminCall(stack);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Registers a version (through the registry, as the API does) and moves it along the stages. */
async function registered(model: string, seed: number, stage: 'development' | 'staging' | 'production'): Promise<ModelVersion> {
  const version = await stack.registry.register({
    model,
    bytes: mlpModel({ seed }).bytes,
    metadata: { features: FEATURES },
    actor: 'test',
  });
  if (stage !== 'development') await stack.registry.transition({ model, version: version.version, to: 'staging', actor: 'test' });
  if (stage === 'production') await stack.registry.setProduction(model, version.version, 'test');
  return version;
}

/** Deletes the version's file from the real local S3 (the exact object version it pins). */
async function loseArtifact(version: ModelVersion): Promise<void> {
  const { bucket, key, versionId } = version.artifact;
  await stack.clients.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }));
}

/** A 5xx whose body says nothing of where the file was; the log line that does, for the request. */
function expectOurFault(reply: JsonReply, code: string, version: ModelVersion, printed: string): void {
  expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 500, code });
  for (const secret of [version.artifact.bucket, version.artifact.key, version.artifact.sha256, 's3://', 'models/', '/tmp', dataDir]) {
    expect(reply.text).not.toContain(secret);
  }
  const requestId = (reply.body as { requestId?: string }).requestId;
  expect(requestId).toEqual(expect.any(String));
  const line = jsonLines(printed).find((l) => l['requestId'] === requestId && l['level'] === 'ERROR');
  expect(JSON.stringify(line)).toContain(version.artifact.key);
}

describe('a served version whose model file vanished from S3', () => {
  let lost: ModelVersion;

  beforeAll(async () => {
    lost = await registered('lost', 501, 'production');
    await loseArtifact(lost);
  });

  it.each([
    ['POST /v1/models/{m}/predict', 'POST', '/v1/models/lost/predict', { features: row }],
    [
      'POST /v2/models/{m}/infer',
      'POST',
      '/v2/models/lost/infer',
      { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [0.1, 0.2, 0.3, 0.4] }] },
    ],
    ['GET /v2/models/{m}', 'GET', '/v2/models/lost', undefined],
    ['GET /v2/models/{m}/ready', 'GET', '/v2/models/lost/ready', undefined],
  ])('%s answers 500 ARTIFACT_NOT_FOUND, the location only in the log', async (_route, method, path, body) => {
    let reply: JsonReply | undefined;
    const printed = await captureOutput(async () => {
      reply = await call(stack.url, method, path, body);
    });
    expectOurFault(reply as JsonReply, 'ARTIFACT_NOT_FOUND', lost, printed);
  });
});

describe('the control plane gating a version whose model file vanished', () => {
  it('a move to staging answers 500 ARTIFACT_NOT_FOUND, not a 422 refusal, and moves nothing', async () => {
    // Prepare
    const version = await registered('gated', 502, 'development');
    await loseArtifact(version);

    // Act
    let reply: JsonReply | undefined;
    const printed = await captureOutput(async () => {
      reply = await call(stack.url, 'POST', '/v1/models/gated/versions/1/stage', { to: 'staging' });
    });

    // Assess
    expectOurFault(reply as JsonReply, 'ARTIFACT_NOT_FOUND', version, printed);
    expect((await stack.registry.getVersion('gated', '1')).stage).toBe('development');
  });

  it('a production change answers 500 ARTIFACT_NOT_FOUND and moves nothing', async () => {
    // Prepare
    const version = await registered('pointer', 503, 'staging');
    await loseArtifact(version);

    // Act
    let reply: JsonReply | undefined;
    const printed = await captureOutput(async () => {
      reply = await call(stack.url, 'PUT', '/v1/models/pointer/production', { version: '1' });
    });

    // Assess
    expectOurFault(reply as JsonReply, 'ARTIFACT_NOT_FOUND', version, printed);
    expect((await stack.registry.describeModel('pointer')).productionVersion).toBeUndefined();
  });

  it('a release answers 500 ARTIFACT_NOT_FOUND and publishes no function version', async () => {
    // Prepare
    await registered('released', 504, 'production');
    const canary = await registered('released', 505, 'staging');
    await loseArtifact(canary);

    // Act
    let reply: JsonReply | undefined;
    const printed = await captureOutput(async () => {
      reply = await call(stack.url, 'POST', '/v1/models/released/versions/2/promote', { canary: 10 });
    });

    // Assess
    expectOurFault(reply as JsonReply, 'ARTIFACT_NOT_FOUND', canary, printed);
    const { routing, versions } = await stack.traffic.getRouting('released');
    expect(routing.canary).toBeUndefined();
    expect(versions.map((v) => v.functionVersion)).toEqual(['$LATEST']);
  });
});
