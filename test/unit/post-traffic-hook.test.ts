/**
 * The CodeDeploy post-traffic hook with mocked CodeDeploy and Lambda clients over the real
 * registry service (in-memory registry and artifacts, real ONNX Runtime for the gates): once all
 * the traffic is on the target version, its pinned model version becomes production (previous one
 * archived) and the hook reports Succeeded; an unpinned target or a version already in production
 * changes nothing; a gate that refuses reports Failed (CodeDeploy rolls back) and changes nothing.
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { CodeDeployClient, GetDeploymentCommand, PutLifecycleEventHookExecutionStatusCommand } from '@aws-sdk/client-codedeploy';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { lambdaAppSpec } from '../../functions/adapters/lambda-traffic-router.js';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import type { MetricBaseline } from '../../functions/core/gates.js';
import { RELEASE_MONITOR } from '../../functions/core/release.js';
import { RegistryService } from '../../functions/core/registry.js';
import { makePostTrafficHookHandler } from '../../functions/release-hook/post-traffic.js';
import { InMemoryArtifactStore, InMemoryModelRegistry } from '../fixtures/in-memory.js';
import { mlpModel } from '../fixtures/models.js';

const codeDeployMock = mockClient(CodeDeployClient);
const lambdaMock = mockClient(LambdaClient);
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

const FN = 'OnnxServing-EndpointIrisPredict';
const EVENT = { DeploymentId: 'd-POST', LifecycleEventHookExecutionId: 'hook-exec-2' };
const ENDPOINT = { functionName: FN, alias: 'live', preTrafficHook: 'pre-hook', postTrafficHook: 'post-hook' };

/** A registry with iris 1 in production and 2 in staging (both passed the gates), and a service over it. */
async function setup(baseline?: MetricBaseline) {
  const registry = new InMemoryModelRegistry();
  const artifacts = new InMemoryArtifactStore();
  const runtime = new OnnxRuntime(artifacts, { cacheDir: '/tmp/post-traffic-hook-test', intraOpThreads: 1 });
  const seeding = new RegistryService({ registry, artifacts, runtime, maxArtifactBytes: 1_000_000 });
  for (const seed of [1, 2]) {
    await seeding.register({ model: 'iris', bytes: mlpModel({ seed }).bytes, metadata: { metrics: { accuracy: 0.8 } }, actor: 'alice' });
    await seeding.transition({ model: 'iris', version: String(seed), to: 'staging', actor: 'alice' });
  }
  await seeding.setProduction('iris', '1', 'alice');
  // The hook's own service, as its handler builds it (a baseline, when given, is the gate that refuses).
  const service = new RegistryService({
    registry,
    artifacts,
    runtime,
    maxArtifactBytes: 0,
    ...(baseline ? { baselineFor: () => baseline } : {}),
  });
  const handler = makePostTrafficHookHandler({
    codeDeploy: new CodeDeployClient({ region: 'us-east-1', credentials }),
    lambda: new LambdaClient({ region: 'us-east-1', credentials }),
    registry: service,
    log: () => {},
  });
  const snapshot = async () => ({
    model: await registry.getModel('iris'),
    stages: (await registry.listVersions('iris')).map((v) => [v.version, v.stage]),
    history: await registry.listHistory('iris'),
  });
  return { registry, handler, snapshot };
}

/** The target function version 7's environment. */
function targetEnvironment(variables: Record<string, string>): void {
  lambdaMock
    .on(GetFunctionConfigurationCommand, { FunctionName: FN, Qualifier: '7' })
    .resolves({ Environment: { Variables: { SERVED_MODEL: 'iris', ...variables } } });
}

function reported(): string | undefined {
  const calls = codeDeployMock.commandCalls(PutLifecycleEventHookExecutionStatusCommand);
  expect(calls).toHaveLength(1);
  expect(calls[0]?.args[0].input).toMatchObject({ deploymentId: 'd-POST', lifecycleEventHookExecutionId: 'hook-exec-2' });
  return calls[0]?.args[0].input.status;
}

beforeEach(() => {
  codeDeployMock.reset();
  lambdaMock.reset();
  codeDeployMock.on(GetDeploymentCommand).resolves({
    deploymentInfo: {
      applicationName: 'iris-app',
      deploymentGroupName: 'iris-live',
      revision: { revisionType: 'AppSpecContent', appSpecContent: { content: lambdaAppSpec(ENDPOINT, '6', '7') } },
    },
  });
  codeDeployMock.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
});

describe('post-traffic hook', () => {
  it('the AppSpec of a managed release names both hooks', () => {
    expect(JSON.parse(lambdaAppSpec(ENDPOINT, '6', '7'))).toMatchObject({
      Hooks: [{ BeforeAllowTraffic: 'pre-hook' }, { AfterAllowTraffic: 'post-hook' }],
    });
  });

  it('a target pinned to a staging version: it becomes production through the gates, the previous one is archived, Succeeded', async () => {
    // Prepare
    const { handler, snapshot } = await setup();
    targetEnvironment({ PINNED_MODEL_VERSION: '2' });

    // Act
    const outcome = await handler(EVENT);

    // Assess
    expect(outcome).toEqual({ status: 'Succeeded', registry: 'promoted', model: 'iris', modelVersion: '2' });
    expect(reported()).toBe('Succeeded');
    const after = await snapshot();
    expect(after.model?.productionVersion).toBe('2');
    expect(after.stages).toEqual([
      ['1', 'archived'],
      ['2', 'production'],
    ]);
    expect(after.history.at(-1)).toMatchObject({ actor: RELEASE_MONITOR, reason: expect.stringMatching(/function version 7 .*d-POST/) });
  });

  it('a target whose model version is already production (finalized by hand, or a retried hook): Succeeded, no change', async () => {
    // Prepare
    const { handler, snapshot } = await setup();
    targetEnvironment({ PINNED_MODEL_VERSION: '1' });
    const before = await snapshot();

    // Act
    const outcome = await handler(EVENT);

    // Assess
    expect(outcome).toMatchObject({ status: 'Succeeded', registry: 'already-production', modelVersion: '1' });
    expect(reported()).toBe('Succeeded');
    expect(await snapshot()).toEqual(before);
  });

  it('an unpinned target (a cdk deploy of new code): Succeeded, the registry is not touched', async () => {
    // Prepare
    const { handler, snapshot } = await setup();
    targetEnvironment({});
    const before = await snapshot();

    // Act
    const outcome = await handler(EVENT);

    // Assess
    expect(outcome).toMatchObject({ status: 'Succeeded', registry: 'unpinned' });
    expect(reported()).toBe('Succeeded');
    expect(await snapshot()).toEqual(before);
  });

  it('a gate that refuses: Failed with the gate named (CodeDeploy rolls back), the registry is unchanged', async () => {
    // Prepare
    const { handler, snapshot } = await setup({ accuracy: { min: 0.9 } });
    targetEnvironment({ PINNED_MODEL_VERSION: '2' });
    const before = await snapshot();

    // Act
    const outcome = await handler(EVENT);

    // Assess
    expect(outcome.status).toBe('Failed');
    expect(outcome).toMatchObject({ reason: expect.stringMatching(/Gate "metrics" refused.*accuracy 0\.8/) });
    expect(reported()).toBe('Failed');
    expect(await snapshot()).toEqual(before);
  });

  it('a version the registry does not have, or a deployment that cannot be read: Failed, nothing changed', async () => {
    // Prepare
    const { handler, snapshot } = await setup();
    targetEnvironment({ PINNED_MODEL_VERSION: '9' });
    const before = await snapshot();

    // Act
    const missing = await handler(EVENT);
    codeDeployMock.on(GetDeploymentCommand).rejects(new Error('throttled'));
    const unreadable = await handler(EVENT);

    // Assess
    expect(missing).toMatchObject({ status: 'Failed', reason: expect.stringMatching(/no version 9/) });
    expect(unreadable).toMatchObject({ status: 'Failed', reason: expect.stringMatching(/throttled/) });
    expect(codeDeployMock.commandCalls(PutLifecycleEventHookExecutionStatusCommand).map((c) => c.args[0].input.status)).toEqual([
      'Failed',
      'Failed',
    ]);
    expect(await snapshot()).toEqual(before);
  });
});
