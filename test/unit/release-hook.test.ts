/**
 * The CodeDeploy pre-traffic hook with mocked CodeDeploy, Lambda and CloudWatch clients and an
 * in-memory registry: a target version whose model reproduces its golden inputs is reported
 * Succeeded; one that does not (or cannot be checked) is reported Failed, which makes CodeDeploy
 * roll the deployment back before any traffic moves. Before that, the group's per-version alarms
 * (the metric-math failure rate and the single-metric p99 latency) are pointed at the target.
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
  type MetricAlarm,
  type MetricDataQuery,
  type PutMetricAlarmCommandInput,
} from '@aws-sdk/client-cloudwatch';
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
import {
  HOOK_CALLER,
  makeHookHandler,
  parseAppSpec,
  retargetAlarms,
  retargeted,
  watchesVersion,
  type DeploymentTarget,
  type HookDeps,
} from '../../functions/release-hook/hook.js';

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
      getModel: async () =>
        record ? ({ model: 'iris', latestVersion: 3, revision: 1, updatedAt: '', updatedBy: '', ...record } as ModelRecord) : undefined,
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
      revision: {
        revisionType: 'AppSpecContent',
        appSpecContent: { content: lambdaAppSpec({ functionName: FN, alias: 'live', preTrafficHook: 'hook' }, '6', '7') },
      },
    },
  });
  codeDeployMock.on(GetDeploymentGroupCommand).resolves({
    deploymentGroupInfo: { alarmConfiguration: { enabled: true, alarms: [{ name: 'iris-errors' }, { name: 'iris-latency-p99' }] } },
  });
  codeDeployMock.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
  cloudWatchMock.on(DescribeAlarmsCommand).resolves({
    MetricAlarms: [described(failureRateAlarm('6')), described(latencyAlarm('6'))],
  });
  cloudWatchMock.on(PutMetricAlarmCommand).resolves({});
  lambdaMock
    .on(GetFunctionConfigurationCommand)
    .resolves({ Environment: { Variables: { SERVED_MODEL: 'iris', PINNED_MODEL_VERSION: '3' } } });
});

/** Lambda's dimensions of the traffic alias live sent to function version `version`. */
function aliasDimensions(version: string) {
  return [
    { Name: 'ExecutedVersion', Value: version },
    { Name: 'FunctionName', Value: FN },
    { Name: 'Resource', Value: `${FN}:live` },
  ];
}

/** A Lambda metric of alias live's traffic to `version`, as one query of a metric-math alarm. */
function aliasQuery(id: string, metricName: string, version: string): MetricDataQuery {
  return {
    Id: id,
    MetricStat: {
      Metric: { Namespace: 'AWS/Lambda', MetricName: metricName, Dimensions: aliasDimensions(version) },
      Period: 60,
      Stat: 'Sum',
    },
    ReturnData: false,
  };
}

/**
 * The endpoint's errors alarm as lib/model-endpoint.ts declares it (metric math over the EMF 5xx
 * count and Lambda's Errors and Invocations of one version), watching function version `version`:
 * what PutMetricAlarm must be sent.
 */
function failureRateAlarm(version: string): PutMetricAlarmCommandInput {
  return {
    AlarmName: 'iris-errors',
    AlarmDescription: 'Model iris: more than 5% of the requests ... failed',
    ActionsEnabled: true,
    Metrics: [
      {
        Id: 'expr_1',
        Expression: 'IF(FILL(invocations, 0) >= 20, 100 * (FILL(serverErrors, 0) + FILL(lambdaErrors, 0)) / FILL(invocations, 0), 0)',
        Label: 'Failure rate (%)',
        ReturnData: true,
      },
      {
        Id: 'serverErrors',
        MetricStat: {
          Metric: {
            Namespace: 'OnnxServing',
            MetricName: 'Invocation5XXErrors',
            Dimensions: [
              { Name: 'FunctionVersion', Value: version },
              { Name: 'Model', Value: 'iris' },
            ],
          },
          Period: 60,
          Stat: 'Sum',
        },
        ReturnData: false,
      },
      aliasQuery('lambdaErrors', 'Errors', version),
      aliasQuery('invocations', 'Invocations', version),
    ],
    EvaluationPeriods: 3,
    DatapointsToAlarm: 3,
    Threshold: 5,
    ComparisonOperator: 'GreaterThanThreshold',
    TreatMissingData: 'notBreaching',
  };
}

/** The endpoint's p99 latency alarm (one metric), watching function version `version`. */
function latencyAlarm(version: string): PutMetricAlarmCommandInput {
  return {
    AlarmName: 'iris-latency-p99',
    Namespace: 'AWS/Lambda',
    MetricName: 'Duration',
    ExtendedStatistic: 'p99',
    Period: 60,
    EvaluationPeriods: 3,
    DatapointsToAlarm: 3,
    Threshold: 1000,
    ComparisonOperator: 'GreaterThanThreshold',
    TreatMissingData: 'notBreaching',
    Dimensions: aliasDimensions(version),
  };
}

/** An alarm as DescribeAlarms returns it: its configuration plus the state and ARN PutMetricAlarm does not take. */
function described(alarm: PutMetricAlarmCommandInput): MetricAlarm {
  return {
    ...(alarm as MetricAlarm),
    AlarmArn: `arn:aws:cloudwatch:us-east-1:123456789012:alarm:${String(alarm.AlarmName)}`,
    StateValue: 'OK',
    StateReason: 'Threshold Crossed: no datapoints were received',
    StateUpdatedTimestamp: new Date('2025-06-01T12:00:00Z'),
    AlarmConfigurationUpdatedTimestamp: new Date('2025-06-01T11:00:00Z'),
  };
}

/** The PutMetricAlarm inputs sent, by alarm name. */
function putAlarms(): Record<string, PutMetricAlarmCommandInput> {
  return Object.fromEntries(
    cloudWatchMock.commandCalls(PutMetricAlarmCommand).map((call) => [String(call.args[0].input.AlarmName), call.args[0].input]),
  );
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

  it("points the group's per-version alarms (metric math and single metric) at the target version before any traffic moves", async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).resolves(answer(GOLDEN.expected));

    // Act
    await makeHookHandler(deps({ '3': version() }))(EVENT);

    // Assess: read the group's alarms, rewrote each, before the first golden request.
    expect(codeDeployMock.commandCalls(GetDeploymentGroupCommand)[0]?.args[0].input).toEqual({
      applicationName: 'iris-app',
      deploymentGroupName: 'iris-live',
    });
    expect(cloudWatchMock.commandCalls(DescribeAlarmsCommand)[0]?.args[0].input).toEqual({
      AlarmNames: ['iris-errors', 'iris-latency-p99'],
    });
    expect(putAlarms()).toEqual({ 'iris-errors': failureRateAlarm('7'), 'iris-latency-p99': latencyAlarm('7') });
    const lastPut = cloudWatchMock.commandCalls(PutMetricAlarmCommand).at(-1);
    const firstInvoke = lambdaMock.commandCalls(InvokeCommand)[0];
    expect(lastPut && firstInvoke && lastPut.calledBefore(firstInvoke)).toBe(true);
  });

  it('a model that fails its golden inputs → Failed (CodeDeploy rolls back)', async () => {
    lambdaMock.on(InvokeCommand).resolves(answer([{ label: 'virginica', probabilities: { setosa: 0.1 } }]));

    const outcome = await makeHookHandler(deps({ '3': version() }))(EVENT);

    expect(reported()).toBe('Failed');
    expect(outcome).toMatchObject({
      status: 'Failed',
      reason: expect.stringContaining('goldenInputs[0].expected[0].label is "virginica", expected "setosa"'),
    });
  });

  it.each([
    [
      'the function errors',
      { FunctionError: 'Unhandled', Payload: payload('{"errorMessage":"boom"}') },
      /the function failed \(Unhandled\)/,
    ],
    ['a non-200 answer', answer(null, '3', 500), /status 500/],
    ['another model version served', answer(GOLDEN.expected, '2'), /served model version 2, expected 3/],
  ])('%s → Failed', async (_case, response, reason) => {
    lambdaMock.on(InvokeCommand).resolves(response);

    const outcome = await makeHookHandler(deps({ '3': version() }))(EVENT);

    expect(reported()).toBe('Failed');
    expect(outcome).toMatchObject({ status: 'Failed', reason: expect.stringMatching(reason) });
  });

  it("an unpinned target replays the registry production version's goldens", async () => {
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

describe('retargeting alarms', () => {
  const TARGET: DeploymentTarget = {
    functionName: FN,
    alias: 'live',
    currentVersion: '6',
    targetVersion: '7',
    application: 'iris-app',
    deploymentGroup: 'iris-live',
  };
  const clients = () => ({
    codeDeploy: new CodeDeployClient({ region: 'us-east-1', credentials }),
    cloudWatch: new CloudWatchClient({ region: 'us-east-1', credentials }),
  });

  it('a metric-math alarm is sent with Metrics only: both version dimensions of every MetricStat moved, ids, expression, labels, flags, periods and stats kept', () => {
    // Prepare: as DescribeAlarms might report it, with a top-level Period PutMetricAlarm would refuse next to Metrics.
    const alarm = { ...described(failureRateAlarm('6')), Period: 60 };

    // Act
    const input = retargeted(alarm, '7');

    // Assess
    expect(input).toEqual(failureRateAlarm('7'));
    for (const field of [
      'Namespace',
      'MetricName',
      'Dimensions',
      'Period',
      'Unit',
      'Statistic',
      'ExtendedStatistic',
      'AlarmArn',
      'StateValue',
    ] as const) {
      expect(input).not.toHaveProperty(field);
    }
    const versions = (input.Metrics ?? [])
      .flatMap((q) => q.MetricStat?.Metric?.Dimensions ?? [])
      .filter((d) => d.Name === 'ExecutedVersion' || d.Name === 'FunctionVersion');
    expect(versions.map((d) => `${String(d.Name)}=${String(d.Value)}`).sort()).toEqual([
      'ExecutedVersion=7',
      'ExecutedVersion=7',
      'FunctionVersion=7',
    ]);
  });

  it('keeps the actions, description, missing-data treatment and thresholds of the alarm', () => {
    const alarm: MetricAlarm = {
      ...described(failureRateAlarm('6')),
      AlarmActions: ['arn:aws:sns:us-east-1:123456789012:oncall'],
      OKActions: ['arn:aws:sns:us-east-1:123456789012:oncall'],
      InsufficientDataActions: ['arn:aws:sns:us-east-1:123456789012:quiet'],
      TreatMissingData: 'breaching',
      DatapointsToAlarm: 2,
    };

    const input = retargeted(alarm, '9');

    expect(input).toMatchObject({
      AlarmName: 'iris-errors',
      AlarmDescription: alarm.AlarmDescription,
      ActionsEnabled: true,
      AlarmActions: alarm.AlarmActions,
      OKActions: alarm.OKActions,
      InsufficientDataActions: alarm.InsufficientDataActions,
      TreatMissingData: 'breaching',
      Threshold: 5,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
    });
    expect(input.Metrics?.[1]?.MetricStat?.Metric?.Dimensions).toEqual([
      { Name: 'FunctionVersion', Value: '9' },
      { Name: 'Model', Value: 'iris' },
    ]);
  });

  it('a single-metric alarm on an EMF metric has its FunctionVersion moved', () => {
    const alarm: MetricAlarm = {
      AlarmName: 'iris-5xx',
      Namespace: 'OnnxServing',
      MetricName: 'Invocation5XXErrors',
      Statistic: 'Average',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 0.05,
      ComparisonOperator: 'GreaterThanThreshold',
      Dimensions: [
        { Name: 'Model', Value: 'iris' },
        { Name: 'FunctionVersion', Value: '6' },
      ],
    };

    expect(retargeted(alarm, '7')).toEqual({
      ...alarm,
      Dimensions: [
        { Name: 'Model', Value: 'iris' },
        { Name: 'FunctionVersion', Value: '7' },
      ],
    });
  });

  it('alarms with neither ExecutedVersion nor FunctionVersion are left alone', async () => {
    // Prepare: one on the whole function, one metric-math alarm over the alias as a whole, and the per-version one.
    const wholeFunction: MetricAlarm = {
      ...described(latencyAlarm('6')),
      AlarmName: 'iris-all-errors',
      Dimensions: [{ Name: 'FunctionName', Value: FN }],
    };
    const wholeAlias: MetricAlarm = {
      ...described(failureRateAlarm('6')),
      AlarmName: 'iris-alias-rate',
      Metrics: (failureRateAlarm('6').Metrics ?? []).map((q) =>
        q.MetricStat
          ? {
              ...q,
              MetricStat: { ...q.MetricStat, Metric: { ...q.MetricStat.Metric, Dimensions: [{ Name: 'Resource', Value: `${FN}:live` }] } },
            }
          : q,
      ),
    };
    cloudWatchMock.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [wholeFunction, wholeAlias, described(failureRateAlarm('6'))] });
    const { codeDeploy, cloudWatch } = clients();

    // Act
    const moved = await retargetAlarms(TARGET, { codeDeploy, cloudWatch });

    // Assess
    expect(moved).toEqual(['iris-errors']);
    expect(Object.keys(putAlarms())).toEqual(['iris-errors']);
    expect(watchesVersion(wholeFunction)).toBe(false);
    expect(watchesVersion(wholeAlias)).toBe(false);
  });

  it('a group without alarms: nothing is described or written', async () => {
    codeDeployMock.on(GetDeploymentGroupCommand).resolves({ deploymentGroupInfo: { alarmConfiguration: { enabled: false, alarms: [] } } });
    const { codeDeploy, cloudWatch } = clients();

    const moved = await retargetAlarms(TARGET, { codeDeploy, cloudWatch });

    expect(moved).toEqual([]);
    expect(cloudWatchMock.commandCalls(DescribeAlarmsCommand)).toHaveLength(0);
    expect(cloudWatchMock.commandCalls(PutMetricAlarmCommand)).toHaveLength(0);
  });

  it('a refused PutMetricAlarm fails the hook (traffic never moves onto an unwatched version)', async () => {
    cloudWatchMock
      .on(PutMetricAlarmCommand)
      .rejects(
        Object.assign(new Error('The value for parameter Period is not allowed with Metrics'), { name: 'InvalidParameterCombination' }),
      );

    const outcome = await makeHookHandler(deps({ '3': version() }))(EVENT);

    expect(reported()).toBe('Failed');
    expect(outcome).toMatchObject({ status: 'Failed', reason: expect.stringContaining('InvalidParameterCombination') });
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(0);
  });
});

describe('parseAppSpec', () => {
  it('reads the JSON AppSpec the control plane writes', () => {
    expect(parseAppSpec(lambdaAppSpec({ functionName: 'f', alias: 'live' }, '1', '2'))).toEqual({
      functionName: 'f',
      alias: 'live',
      currentVersion: '1',
      targetVersion: '2',
    });
  });

  it('reads a YAML AppSpec too', () => {
    const yaml = [
      'version: 0.0',
      'Resources:',
      '  - f:',
      '      Type: AWS::Lambda::Function',
      '      Properties:',
      '        Name: "f"',
      '        Alias: "live"',
      '        CurrentVersion: "4"',
      '        TargetVersion: "5"',
    ].join('\n');
    expect(parseAppSpec(yaml)).toEqual({ functionName: 'f', alias: 'live', currentVersion: '4', targetVersion: '5' });
  });
});
