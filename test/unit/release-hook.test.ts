/**
 * The CodeDeploy pre-traffic hook with mocked CodeDeploy, Lambda and CloudWatch clients and an
 * in-memory registry: a target version whose model reproduces its golden inputs is reported
 * Succeeded; one that does not (or cannot be checked) is reported Failed, which makes CodeDeploy
 * roll the deployment back before any traffic moves.
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { CloudWatchClient, DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import {
  CodeDeployClient,
  GetDeploymentCommand,
  GetDeploymentGroupCommand,
  PutLifecycleEventHookExecutionStatusCommand,
} from '@aws-sdk/client-codedeploy';
import { GetFunctionConfigurationCommand, InvokeCommand, LambdaClient, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { lambdaAppSpec } from '../../functions/adapters/lambda-traffic-router.js';
import type { ModelRecord, ModelVersion } from '../../functions/core/model.js';
import { HOOK_CALLER, makeHookHandler, parseAppSpec, type HookDeps } from '../../functions/release-hook/hook.js';

const codeDeployMock = mockClient(CodeDeployClient);
const lambdaMock = mockClient(LambdaClient);
const cloudWatchMock = mockClient(CloudWatchClient);
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

const FN = 'OnnxServing-EndpointIrisPredict';
const EVENT = { DeploymentId: 'd-TEST', LifecycleEventHookExecutionId: 'hook-exec-1' };
const GOLDEN = { request: { features: { sepal_length: 5.1 } }, expected: [{ label: 'setosa', probabilities: { setosa: 0.98 } }] };

function version(goldenInputs = [GOLDEN]): ModelVersion {
  return { model: 'iris', version: '3', stage: 'production', revision: 1, metadata: { goldenInputs } } as unknown as ModelVersion;
}

function deps(versions: Record<string, ModelVersion>, record?: Partial<ModelRecord>): HookDeps {
  return {
    codeDeploy: new CodeDeployClient({ region: 'us-east-1', credentials }),
    lambda: new LambdaClient({ region: 'us-east-1', credentials }),
    cloudWatch: new CloudWatchClient({ region: 'us-east-1', credentials }),
    registry: {
      getModel: async () => (record ? ({ model: 'iris', latestVersion: 3, revision: 1, updatedAt: '', updatedBy: '', ...record } as ModelRecord) : undefined),
      getVersion: async (_model, v) => versions[v],
    },
    log: () => {},
  };
}

/** Invoke's payload as the SDK returns it (a Uint8Array; the blob adapter's extras are unused). */
const payload = (text: string) => new TextEncoder().encode(text) as unknown as InvokeCommandOutput['Payload'];

/** The predict function's answer to a golden request. */
function answer(predictions: unknown, modelVersion = '3', statusCode = 200): Partial<InvokeCommandOutput> {
  return { Payload: payload(JSON.stringify({ statusCode, body: JSON.stringify({ model: 'iris', modelVersion, predictions }) })) };
}

function reported(): string | undefined {
  const calls = codeDeployMock.commandCalls(PutLifecycleEventHookExecutionStatusCommand);
  expect(calls).toHaveLength(1);
  expect(calls[0]?.args[0].input).toMatchObject({ deploymentId: 'd-TEST', lifecycleEventHookExecutionId: 'hook-exec-1' });
  return calls[0]?.args[0].input.status;
}

beforeEach(() => {
  codeDeployMock.reset();
  lambdaMock.reset();
  cloudWatchMock.reset();
  codeDeployMock.on(GetDeploymentCommand).resolves({
    deploymentInfo: {
      applicationName: 'iris-app',
      deploymentGroupName: 'iris-live',
      revision: { revisionType: 'AppSpecContent', appSpecContent: { content: lambdaAppSpec({ functionName: FN, alias: 'live', preTrafficHook: 'hook' }, '6', '7') } },
    },
  });
  codeDeployMock.on(GetDeploymentGroupCommand).resolves({ deploymentGroupInfo: { alarmConfiguration: { enabled: true, alarms: [{ name: 'iris-errors' }] } } });
  codeDeployMock.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
  cloudWatchMock.on(DescribeAlarmsCommand).resolves({
    MetricAlarms: [errorsAlarm('6')],
  });
  cloudWatchMock.on(PutMetricAlarmCommand).resolves({});
  lambdaMock.on(GetFunctionConfigurationCommand).resolves({ Environment: { Variables: { SERVED_MODEL: 'iris', PINNED_MODEL_VERSION: '3' } } });
});

/** The endpoint's per-version errors alarm, watching function version `version`. */
function errorsAlarm(version: string) {
  return {
    AlarmName: 'iris-errors',
    Namespace: 'AWS/Lambda',
    MetricName: 'Errors',
    Statistic: 'Sum' as const,
    Period: 60,
    EvaluationPeriods: 3,
    DatapointsToAlarm: 3,
    Threshold: 5,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold' as const,
    TreatMissingData: 'notBreaching',
    Dimensions: [
      { Name: 'ExecutedVersion', Value: version },
      { Name: 'FunctionName', Value: FN },
      { Name: 'Resource', Value: `${FN}:live` },
    ],
  };
}

describe('pre-traffic hook', () => {
  it('invokes the target version with each golden request as an API Gateway event; all match → Succeeded', async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).resolves(answer([{ label: 'setosa', probabilities: { setosa: 0.980000001 } }]));

    // Act
    const outcome = await makeHookHandler(deps({ '3': version() }))(EVENT);

    // Assess
    expect(outcome).toEqual({ status: 'Succeeded', checked: 1, modelVersion: '3' });
    expect(reported()).toBe('Succeeded');
    expect(lambdaMock.commandCalls(GetFunctionConfigurationCommand)[0]?.args[0].input).toEqual({ FunctionName: FN, Qualifier: '7' });
    const invoke = lambdaMock.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(invoke).toMatchObject({ FunctionName: FN, Qualifier: '7' });
    const event = JSON.parse(new TextDecoder().decode(invoke?.Payload as Uint8Array)) as Record<string, unknown>;
    expect(event).toMatchObject({
      resource: '/v1/models/{model}/predict',
      path: '/v1/models/iris/predict',
      httpMethod: 'POST',
      headers: { 'content-type': 'application/json' },
      pathParameters: { model: 'iris' },
      body: JSON.stringify(GOLDEN.request),
      requestContext: { requestId: 'd-TEST-golden-0', authorizer: { principalId: HOOK_CALLER } },
    });
  });

  it("points the group's per-version alarms at the target version before any traffic moves", async () => {
    lambdaMock.on(InvokeCommand).resolves(answer(GOLDEN.expected));

    await makeHookHandler(deps({ '3': version() }))(EVENT);

    expect(codeDeployMock.commandCalls(GetDeploymentGroupCommand)[0]?.args[0].input).toEqual({ applicationName: 'iris-app', deploymentGroupName: 'iris-live' });
    expect(cloudWatchMock.commandCalls(DescribeAlarmsCommand)[0]?.args[0].input).toEqual({ AlarmNames: ['iris-errors'] });
    expect(cloudWatchMock.commandCalls(PutMetricAlarmCommand)[0]?.args[0].input).toEqual(errorsAlarm('7'));
  });

  it('a model that fails its golden inputs → Failed (CodeDeploy rolls back)', async () => {
    lambdaMock.on(InvokeCommand).resolves(answer([{ label: 'virginica', probabilities: { setosa: 0.1 } }]));

    const outcome = await makeHookHandler(deps({ '3': version() }))(EVENT);

    expect(reported()).toBe('Failed');
    expect(outcome).toMatchObject({ status: 'Failed', reason: expect.stringContaining('goldenInputs[0].expected[0].label is "virginica", expected "setosa"') });
  });

  it.each([
    ['the function errors', { FunctionError: 'Unhandled', Payload: payload('{"errorMessage":"boom"}') }, /the function failed \(Unhandled\)/],
    ['a non-200 answer', answer(null, '3', 500), /status 500/],
    ['another model version served', answer(GOLDEN.expected, '2'), /served model version 2, expected 3/],
  ])('%s → Failed', async (_case, response, reason) => {
    lambdaMock.on(InvokeCommand).resolves(response);

    const outcome = await makeHookHandler(deps({ '3': version() }))(EVENT);

    expect(reported()).toBe('Failed');
    expect(outcome).toMatchObject({ status: 'Failed', reason: expect.stringMatching(reason) });
  });

  it('an unpinned target replays the registry production version\'s goldens', async () => {
    lambdaMock.on(GetFunctionConfigurationCommand).resolves({ Environment: { Variables: { SERVED_MODEL: 'iris' } } });
    lambdaMock.on(InvokeCommand).resolves(answer(GOLDEN.expected));

    const outcome = await makeHookHandler(deps({ '3': version() }, { productionVersion: '3' }))(EVENT);

    expect(outcome).toEqual({ status: 'Succeeded', checked: 1, modelVersion: '3' });
  });

  it('an unpinned target with no production version yet (first deploy) has nothing to replay → Succeeded', async () => {
    lambdaMock.on(GetFunctionConfigurationCommand).resolves({ Environment: { Variables: { SERVED_MODEL: 'iris' } } });

    const outcome = await makeHookHandler(deps({}, {}))(EVENT);

    expect(outcome).toEqual({ status: 'Succeeded', checked: 0 });
    expect(reported()).toBe('Succeeded');
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  it('any error while checking (e.g. throttled GetDeployment) → Failed, never an unreported hook', async () => {
    codeDeployMock.on(GetDeploymentCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    const outcome = await makeHookHandler(deps({ '3': version() }))(EVENT);

    expect(reported()).toBe('Failed');
    expect(outcome).toMatchObject({ reason: expect.stringContaining('ThrottlingException') });
  });

  it('a pinned version missing from the registry → Failed', async () => {
    const outcome = await makeHookHandler(deps({}))(EVENT);
    expect(outcome).toMatchObject({ status: 'Failed', reason: expect.stringContaining('no version 3') });
  });
});

describe('parseAppSpec', () => {
  it('reads the JSON AppSpec the control plane writes', () => {
    expect(parseAppSpec(lambdaAppSpec({ functionName: 'f', alias: 'live' }, '1', '2'))).toEqual({ functionName: 'f', alias: 'live', currentVersion: '1', targetVersion: '2' });
  });

  it('reads a YAML AppSpec too', () => {
    const yaml = ['version: 0.0', 'Resources:', '  - f:', '      Type: AWS::Lambda::Function', '      Properties:', '        Name: "f"', '        Alias: "live"', '        CurrentVersion: "4"', '        TargetVersion: "5"'].join('\n');
    expect(parseAppSpec(yaml)).toEqual({ functionName: 'f', alias: 'live', currentVersion: '4', targetVersion: '5' });
  });
});
