/**
 * LambdaTrafficRouter against mocked Lambda, CodeDeploy and CloudWatch clients: the exact call
 * sequence of each operation, the environment merge, and conflicts and throttles in the middle
 * that leave alias `live` unchanged.
 */
import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CodeDeployClient, CreateDeploymentCommand, DeploymentLimitExceededException } from '@aws-sdk/client-codedeploy';
import {
  DeleteFunctionCommand,
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  PreconditionFailedException,
  PublishVersionCommand,
  ResourceConflictException,
  ResourceNotFoundException,
  TooManyRequestsException,
  UpdateAliasCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import {
  deploymentConfigFor,
  LambdaTrafficRouter,
  lambdaAppSpec,
  PREDEFINED_SHIFTS,
} from '../../functions/adapters/lambda-traffic-router.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { AppError, ConflictError, ValidationError } from '../../functions/core/errors.js';
import { RegistryService } from '../../functions/core/registry.js';
import { ReleaseService } from '../../functions/core/release.js';
import { rejection } from '../fixtures/errors.js';
import { InMemoryArtifactStore, InMemoryModelRegistry } from '../fixtures/in-memory.js';
import { mlpModel } from '../fixtures/models.js';

const lambdaMock = mockClient(LambdaClient);
const codeDeployMock = mockClient(CodeDeployClient);
const cloudWatchMock = mockClient(CloudWatchClient);
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

const FN = 'OnnxServing-EndpointIrisPredict';
const ENDPOINTS = {
  iris: { functionName: FN, alias: 'live', application: 'iris-app', deploymentGroup: 'iris-live', preTrafficHook: 'iris-hook' },
  churn: { functionName: 'churn-fn', alias: 'live' },
};

let sleeps: number[];

function router(options: { waitTimeoutMs?: number } = {}) {
  sleeps = [];
  return new LambdaTrafficRouter({
    lambda: new LambdaClient({ region: 'us-east-1', credentials }),
    codeDeploy: new CodeDeployClient({ region: 'us-east-1', credentials }),
    cloudWatch: new CloudWatchClient({ region: 'us-east-1', credentials }),
    endpoints: ENDPOINTS,
    pollIntervalMs: 10,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    now: () => new Date('2025-03-04T05:00:00.000Z'),
    ...options,
  });
}

/** The commands sent to the Lambda mock, by name, in order. */
function lambdaCalls(): string[] {
  return lambdaMock.calls().map((call) => (call.args[0] as { constructor: { name: string } }).constructor.name);
}

const conflict = (type: typeof PreconditionFailedException | typeof ResourceConflictException) =>
  new type({ message: 'The Revision Id provided does not match the latest Revision Id.', $metadata: {} });

beforeEach(() => {
  lambdaMock.reset();
  codeDeployMock.reset();
  cloudWatchMock.reset();
});

describe('publishVersion', () => {
  const BASE_ENV = { REGISTRY_TABLE: 'registry', SERVED_MODEL: 'iris', MAX_ROWS: '1000' };

  function prepareLatest() {
    lambdaMock
      .on(GetFunctionConfigurationCommand, { FunctionName: FN })
      .resolvesOnce({ RevisionId: 'rev-1', LastUpdateStatus: 'Successful', Environment: { Variables: BASE_ENV } })
      .resolvesOnce({
        RevisionId: 'rev-2',
        LastUpdateStatus: 'InProgress',
        Environment: { Variables: { ...BASE_ENV, PINNED_MODEL_VERSION: '3' } },
      })
      .resolvesOnce({
        RevisionId: 'rev-3',
        LastUpdateStatus: 'Successful',
        Environment: { Variables: { ...BASE_ENV, PINNED_MODEL_VERSION: '3' } },
      });
    lambdaMock.on(UpdateFunctionConfigurationCommand).resolves({ RevisionId: 'rev-2', LastUpdateStatus: 'InProgress' });
  }

  it('reads, updates the environment conditionally, waits for the update, publishes that revision', async () => {
    // Prepare
    prepareLatest();
    lambdaMock.on(PublishVersionCommand).resolves({ Version: '7' });

    // Act
    const version = await router().publishVersion('iris', '3');

    // Assess
    expect(version).toBe('7');
    expect(lambdaCalls()).toEqual([
      'GetFunctionConfigurationCommand',
      'UpdateFunctionConfigurationCommand',
      'GetFunctionConfigurationCommand',
      'GetFunctionConfigurationCommand',
      'PublishVersionCommand',
    ]);
    expect(lambdaMock.commandCalls(UpdateFunctionConfigurationCommand)[0]?.args[0].input).toEqual({
      FunctionName: FN,
      // Merged: every other variable stays.
      Environment: { Variables: { ...BASE_ENV, PINNED_MODEL_VERSION: '3' } },
      RevisionId: 'rev-1',
    });
    // Published on the revision the finished update produced.
    expect(lambdaMock.commandCalls(PublishVersionCommand)[0]?.args[0].input).toMatchObject({ FunctionName: FN, RevisionId: 'rev-3' });
    expect(sleeps).toEqual([10]);
  });

  it('a configuration changed since it was read (PreconditionFailed) is a ConflictError and publishes nothing', async () => {
    lambdaMock.on(GetFunctionConfigurationCommand).resolves({ RevisionId: 'rev-1', Environment: { Variables: BASE_ENV } });
    lambdaMock.on(UpdateFunctionConfigurationCommand).rejects(conflict(PreconditionFailedException));

    await expect(router().publishVersion('iris', '3')).rejects.toMatchObject({ status: 409, code: 'CONCURRENT_UPDATE' });
    expect(lambdaMock.commandCalls(PublishVersionCommand)).toHaveLength(0);
  });

  it('a change between the update and the publish (PublishVersion PreconditionFailed) is a ConflictError', async () => {
    prepareLatest();
    lambdaMock.on(PublishVersionCommand).rejects(conflict(PreconditionFailedException));

    await expect(router().publishVersion('iris', '3')).rejects.toBeInstanceOf(ConflictError);
    expect(lambdaMock.commandCalls(UpdateAliasCommand)).toHaveLength(0);
  });

  it("a failed update throws with Lambda's reason, and nothing is published", async () => {
    lambdaMock
      .on(GetFunctionConfigurationCommand)
      .resolvesOnce({ RevisionId: 'rev-1', Environment: { Variables: BASE_ENV } })
      .resolves({
        RevisionId: 'rev-2',
        LastUpdateStatus: 'Failed',
        LastUpdateStatusReason: 'KMS key disabled',
        LastUpdateStatusReasonCode: 'KMSKeyAccessDenied',
      });
    lambdaMock.on(UpdateFunctionConfigurationCommand).resolves({ RevisionId: 'rev-2' });

    await expect(router().publishVersion('iris', '3')).rejects.toMatchObject({
      code: 'UPDATE_FAILED',
      message: expect.stringContaining('KMS key disabled'),
    });
    expect(lambdaMock.commandCalls(PublishVersionCommand)).toHaveLength(0);
  });

  it('an update that never finishes times out (bounded), and nothing is published', async () => {
    lambdaMock
      .on(GetFunctionConfigurationCommand)
      .resolvesOnce({ RevisionId: 'rev-1', Environment: { Variables: BASE_ENV } })
      .resolves({ RevisionId: 'rev-2', LastUpdateStatus: 'InProgress' });
    lambdaMock.on(UpdateFunctionConfigurationCommand).resolves({ RevisionId: 'rev-2' });

    await expect(router({ waitTimeoutMs: 0 }).publishVersion('iris', '3')).rejects.toMatchObject({ code: 'UPDATE_TIMEOUT' });
    expect(lambdaMock.commandCalls(PublishVersionCommand)).toHaveLength(0);
  });

  it('an unknown model is a 404 before any call', async () => {
    await expect(router().publishVersion('nope', '1')).rejects.toMatchObject({ status: 404, code: 'MODEL_NOT_FOUND' });
    expect(lambdaMock.calls()).toHaveLength(0);
  });
});

describe('getRouting', () => {
  it("reads the alias, then each routed version's pin", async () => {
    // Prepare
    lambdaMock
      .on(GetAliasCommand)
      .resolves({ FunctionVersion: '6', RoutingConfig: { AdditionalVersionWeights: { '7': 0.1 } }, RevisionId: 'a1' });
    lambdaMock
      .on(GetFunctionConfigurationCommand, { FunctionName: FN, Qualifier: '6' })
      .resolves({ Environment: { Variables: { REGISTRY_TABLE: 'r' } } });
    lambdaMock
      .on(GetFunctionConfigurationCommand, { FunctionName: FN, Qualifier: '7' })
      .resolves({ Environment: { Variables: { PINNED_MODEL_VERSION: '3' } } });

    // Act
    const { routing, versions } = await router().getRouting('iris');

    // Assess
    expect(routing).toEqual({ stable: '6', canary: { version: '7', weight: 0.1 } });
    expect(versions).toEqual([{ functionVersion: '6' }, { functionVersion: '7', modelVersion: '3' }]);
    expect(lambdaMock.commandCalls(GetAliasCommand)[0]?.args[0].input).toEqual({ FunctionName: FN, Name: 'live' });
  });
});

describe('setRouting', () => {
  const STABLE = { stable: '6' };
  const CANARY = { stable: '6', canary: { version: '7', weight: 0.1 } };

  it('GetAlias, compare, then one UpdateAlias conditioned on the alias revision', async () => {
    lambdaMock.on(GetAliasCommand).resolves({ FunctionVersion: '6', RevisionId: 'alias-rev' });
    lambdaMock.on(UpdateAliasCommand).resolves({});

    await router().setRouting('iris', CANARY, STABLE);

    expect(lambdaCalls()).toEqual(['GetAliasCommand', 'UpdateAliasCommand']);
    expect(lambdaMock.commandCalls(UpdateAliasCommand)[0]?.args[0].input).toEqual({
      FunctionName: FN,
      Name: 'live',
      FunctionVersion: '6',
      RoutingConfig: { AdditionalVersionWeights: { '7': 0.1 } },
      RevisionId: 'alias-rev',
    });
  });

  it('finalize: the canary becomes stable and the additional weights are cleared', async () => {
    lambdaMock
      .on(GetAliasCommand)
      .resolves({ FunctionVersion: '6', RoutingConfig: { AdditionalVersionWeights: { '7': 0.1 } }, RevisionId: 'r' });
    lambdaMock.on(UpdateAliasCommand).resolves({});

    await router().setRouting('iris', { stable: '7' }, CANARY);

    expect(lambdaMock.commandCalls(UpdateAliasCommand)[0]?.args[0].input).toMatchObject({
      FunctionVersion: '7',
      RoutingConfig: { AdditionalVersionWeights: {} },
    });
  });

  it('an alias that is not as expected is a ConflictError and UpdateAlias is never called', async () => {
    lambdaMock.on(GetAliasCommand).resolves({ FunctionVersion: '5', RevisionId: 'r' });

    await expect(router().setRouting('iris', CANARY, STABLE)).rejects.toMatchObject({ status: 409, code: 'ROUTING_CHANGED' });
    expect(lambdaMock.commandCalls(UpdateAliasCommand)).toHaveLength(0);
  });

  it.each([
    ['PreconditionFailedException', () => conflict(PreconditionFailedException)],
    ['ResourceConflictException', () => conflict(ResourceConflictException)],
  ])('an alias changed between read and write (%s): UpdateAlias called once, failed, ConflictError', async (_name, error) => {
    lambdaMock.on(GetAliasCommand).resolves({ FunctionVersion: '6', RevisionId: 'r' });
    lambdaMock.on(UpdateAliasCommand).rejects(error());

    await expect(router().setRouting('iris', CANARY, STABLE)).rejects.toMatchObject({ status: 409, code: 'CONCURRENT_UPDATE' });
    expect(lambdaMock.commandCalls(UpdateAliasCommand)).toHaveLength(1);
    expect(lambdaCalls()).toEqual(['GetAliasCommand', 'UpdateAliasCommand']);
  });

  it("throttled after the SDK's retries: a 503, UpdateAlias called once and failed, nothing else written", async () => {
    lambdaMock.on(GetAliasCommand).resolves({ FunctionVersion: '6', RevisionId: 'r' });
    lambdaMock.on(UpdateAliasCommand).rejects(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }));

    const failure = router().setRouting('iris', CANARY, STABLE);

    await expect(failure).rejects.toBeInstanceOf(AppError);
    await expect(failure).rejects.toMatchObject({ status: 503, code: 'RELEASE_THROTTLED' });
    expect(lambdaMock.commandCalls(UpdateAliasCommand)).toHaveLength(1);
  });

  it("an endpoint function or alias that does not exist is our broken deployment: 500, not the caller's 404", async () => {
    lambdaMock
      .on(GetAliasCommand)
      .rejects(
        new ResourceNotFoundException({ message: 'Function not found: arn:aws:lambda:us-east-1:123456789012:function:x', $metadata: {} }),
      );

    const failure = await rejection(router().setRouting('iris', CANARY, STABLE));

    expect(failure).toMatchObject({ status: 500, code: 'ENDPOINT_RESOURCE_NOT_FOUND' });
  });

  it('a throttled read never writes', async () => {
    lambdaMock.on(GetAliasCommand).rejects(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }));

    await expect(router().setRouting('iris', CANARY, STABLE)).rejects.toMatchObject({ status: 503 });
    expect(lambdaMock.commandCalls(UpdateAliasCommand)).toHaveLength(0);
  });

  it.each([[0], [1], [1.5]])('a canary weight of %s is refused before any call', async (weight) => {
    await expect(router().setRouting('iris', { stable: '6', canary: { version: '7', weight } }, STABLE)).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(lambdaMock.calls()).toHaveLength(0);
  });
});

describe('startManagedRelease', () => {
  it('reads the alias, then CreateDeployment with the AppSpec (current → target, the hook) and the mapped config', async () => {
    // Prepare
    lambdaMock.on(GetAliasCommand).resolves({ FunctionVersion: '6', RevisionId: 'r' });
    codeDeployMock.on(CreateDeploymentCommand).resolves({ deploymentId: 'd-ABC123' });

    // Act
    const id = await router().startManagedRelease('iris', '7', { kind: 'canary', percent: 10, intervalMinutes: 5 });

    // Assess
    expect(id).toBe('d-ABC123');
    const input = codeDeployMock.commandCalls(CreateDeploymentCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      applicationName: 'iris-app',
      deploymentGroupName: 'iris-live',
      deploymentConfigName: 'CodeDeployDefault.LambdaCanary10Percent5Minutes',
      revision: { revisionType: 'AppSpecContent', appSpecContent: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } },
    });
    const content = input?.revision?.appSpecContent?.content ?? '';
    expect(content.startsWith('{"version":0.0,')).toBe(true);
    expect(JSON.parse(content)).toEqual({
      version: 0,
      Resources: [
        { [FN]: { Type: 'AWS::Lambda::Function', Properties: { Name: FN, Alias: 'live', CurrentVersion: '6', TargetVersion: '7' } } },
      ],
      Hooks: [{ BeforeAllowTraffic: 'iris-hook' }],
    });
    expect(lambdaMock.commandCalls(UpdateAliasCommand)).toHaveLength(0);
  });

  it('another deployment in progress is a ConflictError', async () => {
    lambdaMock.on(GetAliasCommand).resolves({ FunctionVersion: '6' });
    codeDeployMock.on(CreateDeploymentCommand).rejects(new DeploymentLimitExceededException({ message: 'limit', $metadata: {} }));

    await expect(router().startManagedRelease('iris', '7', { kind: 'linear', percent: 10, intervalMinutes: 1 })).rejects.toMatchObject({
      code: 'RELEASE_IN_PROGRESS',
    });
  });

  it('an alias already running a canary is a conflict, and no deployment starts', async () => {
    lambdaMock.on(GetAliasCommand).resolves({ FunctionVersion: '6', RoutingConfig: { AdditionalVersionWeights: { '7': 0.5 } } });

    await expect(router().startManagedRelease('iris', '8', { kind: 'canary', percent: 10, intervalMinutes: 5 })).rejects.toMatchObject({
      status: 409,
    });
    expect(codeDeployMock.calls()).toHaveLength(0);
  });

  it('an endpoint without a deployment group refuses managed releases', async () => {
    await expect(router().startManagedRelease('churn', '2', { kind: 'canary', percent: 10, intervalMinutes: 5 })).rejects.toMatchObject({
      code: 'MANAGED_RELEASE_UNAVAILABLE',
    });
  });
});

describe('deploymentConfigFor: the exact mapping', () => {
  it.each([
    ['canary', 10, 5, 'CodeDeployDefault.LambdaCanary10Percent5Minutes'],
    ['canary', 10, 10, 'CodeDeployDefault.LambdaCanary10Percent10Minutes'],
    ['canary', 10, 15, 'CodeDeployDefault.LambdaCanary10Percent15Minutes'],
    ['canary', 10, 30, 'CodeDeployDefault.LambdaCanary10Percent30Minutes'],
    ['linear', 10, 1, 'CodeDeployDefault.LambdaLinear10PercentEvery1Minute'],
    ['linear', 10, 2, 'CodeDeployDefault.LambdaLinear10PercentEvery2Minutes'],
    ['linear', 10, 3, 'CodeDeployDefault.LambdaLinear10PercentEvery3Minutes'],
    ['linear', 10, 10, 'CodeDeployDefault.LambdaLinear10PercentEvery10Minutes'],
  ] as const)('%s %i%% / %i min → %s', (kind, percent, intervalMinutes, name) => {
    expect(deploymentConfigFor({ kind, percent, intervalMinutes })).toBe(name);
  });

  it('covers exactly the eight predefined Lambda configurations', () => {
    expect(PREDEFINED_SHIFTS).toHaveLength(8);
  });

  it("uses the endpoint's custom configuration for its own shift, and refuses any other", () => {
    const custom = [{ kind: 'canary' as const, percent: 20, intervalMinutes: 15, configName: 'iris-canary-20-15' }];
    expect(deploymentConfigFor({ kind: 'canary', percent: 20, intervalMinutes: 15 }, custom)).toBe('iris-canary-20-15');
    expect(() => deploymentConfigFor({ kind: 'linear', percent: 20, intervalMinutes: 15 }, custom)).toThrow(
      /UNSUPPORTED_SHIFT|No CodeDeploy configuration/,
    );
  });

  it('an AppSpec without a hook has no Hooks section', () => {
    expect(JSON.parse(lambdaAppSpec({ functionName: 'f', alias: 'live' }, '1', '2'))).not.toHaveProperty('Hooks');
  });
});

describe('metrics', () => {
  const lambdaDimensions = (version: string) => [
    { Name: 'FunctionName', Value: FN },
    { Name: 'Resource', Value: `${FN}:live` },
    { Name: 'ExecutedVersion', Value: version },
  ];
  const productDimensions = (version: string) => [
    { Name: 'Model', Value: 'iris' },
    { Name: 'FunctionVersion', Value: version },
  ];
  const at = (iso: string) => new Date(iso);

  it('asks one GetMetricData for Lambda Invocations, Errors, Duration p50/p99/Average and the product 5XX/4XX per version, over the window', async () => {
    // Prepare
    cloudWatchMock.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });

    // Act
    await router().metrics('iris', ['6', '7'], 10);

    // Assess
    const calls = cloudWatchMock.commandCalls(GetMetricDataCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input?.StartTime).toEqual(at('2025-03-04T04:50:00.000Z'));
    expect(input?.EndTime).toEqual(at('2025-03-04T05:00:00.000Z'));
    const stat = (id: string, namespace: string, metricName: string, dimensions: unknown, statName: string) => ({
      Id: id,
      ReturnData: true,
      MetricStat: { Metric: { Namespace: namespace, MetricName: metricName, Dimensions: dimensions }, Period: 600, Stat: statName },
    });
    expect(input?.MetricDataQueries).toEqual([
      ...['6', '7'].flatMap((version, i) => [
        stat(`invocations_${i}`, 'AWS/Lambda', 'Invocations', lambdaDimensions(version), 'Sum'),
        stat(`errors_${i}`, 'AWS/Lambda', 'Errors', lambdaDimensions(version), 'Sum'),
        stat(`p50_${i}`, 'AWS/Lambda', 'Duration', lambdaDimensions(version), 'p50'),
        stat(`p99_${i}`, 'AWS/Lambda', 'Duration', lambdaDimensions(version), 'p99'),
        stat(`mean_${i}`, 'AWS/Lambda', 'Duration', lambdaDimensions(version), 'Average'),
        stat(`server_${i}`, 'OnnxServing', 'Invocation5XXErrors', productDimensions(version), 'Sum'),
        stat(`client_${i}`, 'OnnxServing', 'Invocation4XXErrors', productDimensions(version), 'Sum'),
      ]),
    ]);
  });

  it('counts errors as Lambda Errors plus the product 5XX, client errors as the 4XX, and reads the latency; pages are summed', async () => {
    // Prepare: version 6 answered 100 requests, 2 crashed (Lambda Errors) and 3 were answered 500;
    // version 7's series continue on the second page.
    const t = at('2025-03-04T04:50:00.000Z');
    cloudWatchMock
      .on(GetMetricDataCommand)
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'invocations_0', Timestamps: [t], Values: [100] },
          { Id: 'errors_0', Timestamps: [t], Values: [2] },
          { Id: 'server_0', Timestamps: [t], Values: [3] },
          { Id: 'client_0', Timestamps: [t], Values: [7] },
          { Id: 'p50_0', Timestamps: [t], Values: [12.5] },
          { Id: 'p99_0', Timestamps: [t], Values: [480] },
          { Id: 'mean_0', Timestamps: [t], Values: [20.25] },
          { Id: 'invocations_1', Timestamps: [t], Values: [10] },
        ],
        NextToken: 'next',
      })
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'invocations_1', Timestamps: [at('2025-03-04T04:55:00.000Z')], Values: [2] },
          { Id: 'errors_1', Values: [] },
        ],
      });

    // Act
    const metrics = await router().metrics('iris', ['6', '7'], 10);

    // Assess
    expect(metrics).toEqual({
      '6': { invocations: 100, errors: 5, clientErrors: 7, latencyMs: { p50: 12.5, p99: 480, mean: 20.25 } },
      // Invocations without a Duration datapoint: no latency to report.
      '7': { invocations: 12, errors: 0, clientErrors: 0, latencyMs: null },
    });
    expect(cloudWatchMock.commandCalls(GetMetricDataCommand)[1]?.args[0].input.NextToken).toBe('next');
  });

  it('over several datapoints: the mean weighted by invocations, p50 and p99 the largest (an upper bound)', async () => {
    // Prepare
    const [t1, t2] = [at('2025-03-04T04:50:00.000Z'), at('2025-03-04T04:55:00.000Z')];
    cloudWatchMock.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'invocations_0', Timestamps: [t1, t2], Values: [30, 10] },
        { Id: 'p50_0', Timestamps: [t1, t2], Values: [10, 40] },
        { Id: 'p99_0', Timestamps: [t1, t2], Values: [90, 70] },
        { Id: 'mean_0', Timestamps: [t1, t2], Values: [20, 60] },
      ],
    });

    // Act
    const metrics = await router().metrics('iris', ['6'], 10);

    // Assess: (30·20 + 10·60) / 40 = 30.
    expect(metrics['6']).toEqual({ invocations: 40, errors: 0, clientErrors: 0, latencyMs: { p50: 40, p99: 90, mean: 30 } });
  });

  it('a version that served nothing has no latency; the window ends at the start of the current minute', async () => {
    // Prepare
    cloudWatchMock.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'invocations_0', Values: [] },
        { Id: 'p99_0', Values: [] },
      ],
    });
    const late = new LambdaTrafficRouter({
      lambda: new LambdaClient({ region: 'us-east-1', credentials }),
      codeDeploy: new CodeDeployClient({ region: 'us-east-1', credentials }),
      cloudWatch: new CloudWatchClient({ region: 'us-east-1', credentials }),
      endpoints: ENDPOINTS,
      metricsNamespace: 'Acme/Serving',
      now: () => new Date('2025-03-04T05:00:42.123Z'),
    });

    // Act
    const metrics = await late.metrics('iris', ['$LATEST'], 60);

    // Assess
    expect(metrics).toEqual({ $LATEST: { invocations: 0, errors: 0, clientErrors: 0, latencyMs: null } });
    const input = cloudWatchMock.commandCalls(GetMetricDataCommand)[0]?.args[0].input;
    expect([input?.StartTime, input?.EndTime]).toEqual([at('2025-03-04T04:00:00.000Z'), at('2025-03-04T05:00:00.000Z')]);
    expect(input?.MetricDataQueries?.find((q) => q.Id === 'server_0')?.MetricStat?.Metric?.Namespace).toBe('Acme/Serving');
    expect(input?.MetricDataQueries?.[0]?.MetricStat?.Period).toBe(3_600);
  });

  it('refuses a window that is not whole minutes before asking, and maps a throttled read to 503', async () => {
    // Prepare
    cloudWatchMock.on(GetMetricDataCommand).rejects(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }));

    // Act
    const badWindow = router().metrics('iris', ['6'], 1.5);
    const throttled = router().metrics('iris', ['6'], 5);

    // Assess
    await expect(badWindow).rejects.toMatchObject({ status: 400, code: 'INVALID_WINDOW' });
    await expect(throttled).rejects.toMatchObject({ status: 503, code: 'RELEASE_THROTTLED' });
    expect(cloudWatchMock.commandCalls(GetMetricDataCommand)).toHaveLength(1);
  });
});

describe('discardVersion: the clean-up of a release that failed after publishing', () => {
  it('deletes a version the alias does not route to, by its qualified name (never the function)', async () => {
    lambdaMock
      .on(GetAliasCommand)
      .resolves({ FunctionVersion: '6', RoutingConfig: { AdditionalVersionWeights: { '7': 0.1 } }, RevisionId: 'r' });
    lambdaMock.on(DeleteFunctionCommand).resolves({});

    const deleted = await router().discardVersion('iris', '8');

    expect(deleted).toBe(true);
    expect(lambdaCalls()).toEqual(['GetAliasCommand', 'DeleteFunctionCommand']);
    expect(lambdaMock.commandCalls(DeleteFunctionCommand)[0]?.args[0].input).toEqual({ FunctionName: `${FN}:8` });
  });

  it.each([
    ['the stable version', '6'],
    ['the canary', '7'],
  ])('keeps %s the alias routes to', async (_what, version) => {
    lambdaMock
      .on(GetAliasCommand)
      .resolves({ FunctionVersion: '6', RoutingConfig: { AdditionalVersionWeights: { '7': 0.1 } }, RevisionId: 'r' });

    expect(await router().discardVersion('iris', version)).toBe(false);
    expect(lambdaMock.commandCalls(DeleteFunctionCommand)).toHaveLength(0);
  });

  it('keeps a version an alias came to reference in between (Lambda refuses the delete)', async () => {
    lambdaMock.on(GetAliasCommand).resolves({ FunctionVersion: '6', RevisionId: 'r' });
    lambdaMock.on(DeleteFunctionCommand).rejects(
      new ResourceConflictException({
        message: 'Unable to delete version because the following aliases reference it: [live]',
        $metadata: {},
      }),
    );

    expect(await router().discardVersion('iris', '8')).toBe(false);
  });

  it('never touches $LATEST or anything that is not a version number', async () => {
    expect(await router().discardVersion('iris', '$LATEST')).toBe(false);
    expect(await router().discardVersion('iris', 'live')).toBe(false);
    expect(lambdaMock.calls()).toHaveLength(0);
  });
});

describe('a promotion that fails after publishing deletes the version it published', () => {
  const artifacts = new InMemoryArtifactStore();
  const registry = new InMemoryModelRegistry();
  const runtime = new OnnxRuntime(artifacts, { cacheDir: join(tmpdir(), 'lambda-router-release-test'), intraOpThreads: 1 });
  const service = new RegistryService({ registry, artifacts, runtime, maxArtifactBytes: 1_000_000 });

  beforeAll(async () => {
    // iris: version 1 in production, version 2 in staging (what a release publishes)
    await service.register({ model: 'iris', bytes: mlpModel({ seed: 1 }).bytes, metadata: {}, actor: 't' });
    await service.transition({ model: 'iris', version: '1', to: 'staging', actor: 't' });
    await service.setProduction('iris', '1', 't');
    await service.register({ model: 'iris', bytes: mlpModel({ seed: 2 }).bytes, metadata: {}, actor: 't' });
    await service.transition({ model: 'iris', version: '2', to: 'staging', actor: 't' });
  });

  /**
   * A fake Lambda for the endpoint: alias `live` with its RevisionId, `$LATEST`'s configuration,
   * published versions numbered from 6, and the alias write conditioned on the RevisionId read.
   */
  function fakeLambda(options: { updateAlias?: (input: { RevisionId?: string | undefined }) => unknown } = {}) {
    const state = {
      alias: { FunctionVersion: '5', RevisionId: 'alias-1', weights: {} as Record<string, number> },
      next: 6,
      versions: new Set(['5']),
    };
    lambdaMock.on(GetAliasCommand).callsFake(async () => ({
      FunctionVersion: state.alias.FunctionVersion,
      RevisionId: state.alias.RevisionId,
      RoutingConfig: { AdditionalVersionWeights: { ...state.alias.weights } },
    }));
    lambdaMock
      .on(GetFunctionConfigurationCommand)
      .callsFake(async (input: { Qualifier?: string }) =>
        input.Qualifier
          ? { Environment: { Variables: input.Qualifier === '5' ? { PINNED_MODEL_VERSION: '1' } : { PINNED_MODEL_VERSION: '2' } } }
          : { RevisionId: 'cfg', LastUpdateStatus: 'Successful', Environment: { Variables: { PINNED_MODEL_VERSION: '2' } } },
      );
    lambdaMock.on(UpdateFunctionConfigurationCommand).resolves({ RevisionId: 'cfg', LastUpdateStatus: 'Successful' });
    lambdaMock.on(PublishVersionCommand).callsFake(async () => {
      const version = String(state.next++);
      state.versions.add(version);
      return { Version: version };
    });
    lambdaMock
      .on(UpdateAliasCommand)
      .callsFake(
        async (input: {
          RevisionId?: string;
          FunctionVersion?: string;
          RoutingConfig?: { AdditionalVersionWeights?: Record<string, number> };
        }) => {
          const override = options.updateAlias?.(input);
          if (override) throw override;
          if (input.RevisionId !== state.alias.RevisionId) throw conflict(PreconditionFailedException);
          state.alias = {
            FunctionVersion: input.FunctionVersion ?? '',
            RevisionId: `alias-${state.next}-${Math.random()}`,
            weights: { ...input.RoutingConfig?.AdditionalVersionWeights },
          };
          return {};
        },
      );
    lambdaMock.on(DeleteFunctionCommand).callsFake(async (input: { FunctionName?: string }) => {
      state.versions.delete(String(input.FunctionName).split(':').pop() ?? '');
      return {};
    });
    cloudWatchMock.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    return state;
  }

  const releases = () =>
    new ReleaseService({ registry, service, router: router(), gates: { artifacts, runtime, baselineFor: () => undefined } });

  it('of 10 concurrent canary promotions one wins; the 9 that lose the alias race delete their versions', async () => {
    // Prepare
    const state = fakeLambda();

    // Act
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => releases().promote({ model: 'iris', version: '2', canaryPercent: 10, actor: 't' })),
    );

    // Assess
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.map((r) => (r.reason as AppError).status)).toEqual(Array(9).fill(409));
    const canary = Object.keys(state.alias.weights);
    expect([...state.versions].sort()).toEqual(['5', ...canary].sort());
    expect(lambdaMock.commandCalls(DeleteFunctionCommand)).toHaveLength(9);
  });

  it.each([
    ['throttled after retries', () => new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }), 503],
    ['refused as a conflict', () => conflict(ResourceConflictException), 409],
  ])("an alias write %s: the published version is deleted and the error is the alias's", async (_what, error, status) => {
    // Prepare
    const state = fakeLambda({ updateAlias: () => error() });

    // Act
    const failure = await rejection(releases().promote({ model: 'iris', version: '2', canaryPercent: 10, actor: 't' }));

    // Assess
    expect(failure.status).toBe(status);
    expect(lambdaMock.commandCalls(DeleteFunctionCommand)[0]?.args[0].input).toEqual({ FunctionName: `${FN}:6` });
    expect([...state.versions]).toEqual(['5']);
  });

  it('a managed release CodeDeploy refuses (another deployment in progress) deletes its version', async () => {
    // Prepare
    const state = fakeLambda();
    codeDeployMock.on(CreateDeploymentCommand).rejects(new DeploymentLimitExceededException({ message: 'in progress', $metadata: {} }));

    // Act
    const failure = await rejection(
      releases().promote({ model: 'iris', version: '2', managed: { kind: 'canary', percent: 10, intervalMinutes: 5 }, actor: 't' }),
    );

    // Assess
    expect(failure).toMatchObject({ status: 409, code: 'RELEASE_IN_PROGRESS' });
    expect([...state.versions]).toEqual(['5']);
  });

  it('keeps a version the alias routes to after all (a write that failed on the way back but applied)', async () => {
    // Prepare: UpdateAlias applies, then the answer is lost
    const state = fakeLambda();
    lambdaMock
      .on(UpdateAliasCommand)
      .callsFake(async (input: { FunctionVersion?: string; RoutingConfig?: { AdditionalVersionWeights?: Record<string, number> } }) => {
        state.alias = {
          FunctionVersion: input.FunctionVersion ?? '',
          RevisionId: 'alias-2',
          weights: { ...input.RoutingConfig?.AdditionalVersionWeights },
        };
        throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
      });

    // Act
    await expect(releases().promote({ model: 'iris', version: '2', canaryPercent: 10, actor: 't' })).rejects.toThrow('socket hang up');

    // Assess
    expect(lambdaMock.commandCalls(DeleteFunctionCommand)).toHaveLength(0);
    expect(state.alias.weights).toEqual({ '6': 0.1 });
    expect(state.versions.has('6')).toBe(true);
  });

  it("a clean-up that fails is logged and never hides the promotion's own error", async () => {
    // Prepare
    fakeLambda({ updateAlias: () => conflict(PreconditionFailedException) });
    lambdaMock.on(DeleteFunctionCommand).rejects(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }));
    const warnings: Record<string, unknown>[] = [];
    const service2 = new ReleaseService({
      registry,
      service,
      router: router(),
      gates: { artifacts, runtime, baselineFor: () => undefined },
      warn: (_message, fields) => warnings.push(fields),
    });

    // Act
    const failure = await rejection(service2.promote({ model: 'iris', version: '2', canaryPercent: 10, actor: 't' }));

    // Assess
    expect(failure).toMatchObject({ status: 409, code: 'CONCURRENT_UPDATE' });
    expect(warnings).toEqual([expect.objectContaining({ model: 'iris', functionVersion: '6', release: 'CONCURRENT_UPDATE' })]);
  });
});
