/**
 * Drift detection on AWS (`lib/drift-schedule.ts`): the drift function's environment and grants,
 * one EventBridge rule per scheduled model with its constant input, one alarm per scheduled model
 * on the metric the function emits; the canary gate (a minute rule per gated model, the
 * CanaryPredictionShift alarm in the model's deployment group, left alone by the pre-traffic
 * hook); the `drift` endpoint setting, and cdk-nag. Synthesized without bundling (the function's
 * code is not under test here).
 */
import { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { createMetrics, publishCanaryShiftMetric, publishDriftMetrics } from '../../functions/adapters/emf-metrics.js';
import { CANARY_WINDOW_MINUTES } from '../../functions/drift/app.js';
import { watchesVersion } from '../../functions/release-hook/hook.js';
import { AwsSolutionsChecks } from 'cdk-nag';
import { canaryGateOn, driftScheduleMinutes, parseAppConfig, type AppConfigInput } from '../../lib/config.js';
import { DriftSchedule } from '../../lib/drift-schedule.js';
import { captureOutput, jsonLines } from '../fixtures/output.js';
import {
  endpointFunction,
  errorsAlarmOf,
  grantedPairs,
  joinedText,
  onlyResource,
  resourcesOf,
  roleOfResource,
  statementsOfRole,
  synthesize,
  TWO_ENDPOINTS,
  type Synthesized,
  testApp,
} from './helpers.js';

const NAMESPACE = 'Acme/Models';

/** iris hourly (the default), churn every 15 minutes, both with the canary gate (the default); two endpoints: each takes about 100 of a stack's 500 resources. */
const CONFIG: AppConfigInput = {
  auth: TWO_ENDPOINTS.auth,
  observability: { metricsNamespace: NAMESPACE, logLevel: 'DEBUG' },
  endpoints: [{ model: 'iris' }, { model: 'churn', architecture: 'x86_64', drift: { scheduleMinutes: 15 } }],
};

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize(CONFIG, { bundle: false });
});

type Properties = Record<string, unknown>;
const variablesOf = (fn: Properties): Properties => (fn['Environment'] as { Variables?: Properties } | undefined)?.Variables ?? {};

/** The drift function: the one whose handler's description says so. */
function driftFunction(template = synth.template): [string, Properties] {
  const [id, resource] = onlyResource(template, 'AWS::Lambda::Function', {
    Description: Match.stringLikeRegexp('^Scheduled drift detection'),
  });
  return [id, resource.Properties ?? {}];
}

/** The control function: ENDPOINTS and MAX_ARTIFACT_BYTES (the drift function has ENDPOINTS too, for its canary checks). */
function controlFunction(): Properties {
  const found = Object.values(resourcesOf(synth.template, 'AWS::Lambda::Function')).filter((r) => {
    const variables = variablesOf(r.Properties ?? {});
    return 'ENDPOINTS' in variables && 'MAX_ARTIFACT_BYTES' in variables;
  });
  expect(found).toHaveLength(1);
  return found[0]?.Properties ?? {};
}

function ruleOf(model: string, template = synth.template): [string, Properties] {
  const [id, rule] = onlyResource(template, 'AWS::Events::Rule', { Targets: [Match.objectLike({ Input: JSON.stringify({ model }) })] });
  return [id, rule.Properties ?? {}];
}

function canaryRuleOf(model: string, template = synth.template): [string, Properties] {
  const [id, rule] = onlyResource(template, 'AWS::Events::Rule', {
    Targets: [Match.objectLike({ Input: JSON.stringify({ model, check: 'canary' }) })],
  });
  return [id, rule.Properties ?? {}];
}

/** The CanaryPredictionShift alarm of `model`. */
function canaryAlarmOf(model: string, template = synth.template): [string, Properties] {
  const [id, alarm] = onlyResource(template, 'AWS::CloudWatch::Alarm', {
    MetricName: 'CanaryPredictionShift',
    Dimensions: [{ Name: 'Model', Value: model }],
  });
  return [id, alarm.Properties ?? {}];
}

/** The deployment group of `model`'s endpoint (its application is `Release<Model>Application...`). */
function groupOf(model: 'Iris' | 'Churn', template = synth.template): Properties {
  return (
    onlyResource(template, 'AWS::CodeDeploy::DeploymentGroup', {
      ApplicationName: { Ref: Match.stringLikeRegexp(`^Release${model}Application`) },
    })[1].Properties ?? {}
  );
}

/** The alarms a deployment group watches, by logical id. */
function groupAlarms(group: Properties): string[] {
  return (group['AlarmConfiguration'] as { Alarms: { Name: { Ref: string } }[] }).Alarms.map((a) => a.Name.Ref).sort();
}

/** The pre-traffic hook (the function whose environment is NODE_OPTIONS and REGISTRY_TABLE only). */
function preTrafficHook(template = synth.template): Properties {
  const found = Object.values(
    template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: Match.objectEquals({ NODE_OPTIONS: Match.anyValue(), REGISTRY_TABLE: Match.anyValue() }) } },
    }),
  ) as { Properties?: Properties }[];
  expect(found).toHaveLength(1);
  return found[0]?.Properties ?? {};
}

/** An alarm of the template as DescribeAlarms reports it (the fields the hook reads). */
function described(name: string, properties: Properties): MetricAlarm {
  return { ...(properties as MetricAlarm), AlarmName: name };
}

function alarmOf(model: string): Properties {
  return (
    onlyResource(synth.template, 'AWS::CloudWatch::Alarm', {
      MetricName: 'DriftedFeatures',
      Dimensions: [{ Name: 'Model', Value: model }],
    })[1].Properties ?? {}
  );
}

describe('the drift function', () => {
  it("runs on the control plane's layer and architecture, with the registry, both buckets, the metrics namespace and log level in its environment, and nothing else", () => {
    // Prepare
    const [registry] = onlyResource(synth.template, 'AWS::DynamoDB::Table', {
      KeySchema: Match.arrayWith([{ AttributeName: 'pk', KeyType: 'HASH' }]),
    });
    const [artifacts] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });
    const [capture] = onlyResource(synth.template, 'AWS::S3::Bucket', {
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'capture/' }),
    });

    // Act
    const [, fn] = driftFunction();

    // Assess
    expect(fn['Layers']).toEqual(controlFunction()['Layers']);
    expect(fn['Architectures']).toEqual(['arm64']);
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', MemorySize: 1024, Timeout: 300 });
    const { ENDPOINTS: endpoints, ...others } = variablesOf(fn);
    expect(others).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      REGISTRY_TABLE: { Ref: registry },
      ARTIFACT_BUCKET: { Ref: artifacts },
      CAPTURE_BUCKET: { Ref: capture },
      METRICS_NAMESPACE: NAMESPACE,
      LOG_LEVEL: 'DEBUG',
    });
    // The gated endpoints' function and alias, as the control plane's ENDPOINTS names them (no CodeDeploy names: it releases nothing).
    expect(JSON.parse(joinedText(endpoints))).toEqual({
      iris: { functionName: `<${endpointFunction(synth.template, 'iris')[0]}>`, alias: 'live' },
      churn: { functionName: `<${endpointFunction(synth.template, 'churn')[0]}>`, alias: 'live' },
    });
  });

  it("reads the registry and writes a canary's history entry, reads captures and profiles, reads and writes drift reports, reads alias live and the versions of the gated endpoints' functions, writes its own logs: nothing else", () => {
    // Prepare
    const [registry] = onlyResource(synth.template, 'AWS::DynamoDB::Table', {
      KeySchema: Match.arrayWith([{ AttributeName: 'pk', KeyType: 'HASH' }]),
    });
    const [iris] = endpointFunction(synth.template, 'iris');
    const [churn] = endpointFunction(synth.template, 'churn');
    const [artifacts] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });
    const [capture] = onlyResource(synth.template, 'AWS::S3::Bucket', {
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'capture/' }),
    });

    // Act
    const statements = statementsOfRole(synth.template, roleOfResource(driftFunction()[1]));
    const pairs = grantedPairs(statements);
    const listings = statements.filter((s) => s.actions.includes('s3:ListBucket'));

    // Assess
    expect(pairs.filter((p) => !p.startsWith('logs:'))).toEqual([
      `dynamodb:GetItem <${registry}.Arn>`,
      `dynamodb:PutItem <${registry}.Arn>`,
      `dynamodb:Query <${registry}.Arn>`,
      `dynamodb:UpdateItem <${registry}.Arn>`,
      `lambda:GetAlias <${churn}.Arn>:live`,
      `lambda:GetAlias <${iris}.Arn>:live`,
      `lambda:GetFunctionConfiguration <${churn}.Arn>:*`,
      `lambda:GetFunctionConfiguration <${iris}.Arn>:*`,
      `s3:GetObject <${artifacts}.Arn>/profiles/*`,
      `s3:GetObject <${capture}.Arn>/capture/*`,
      `s3:GetObject <${capture}.Arn>/drift/*`,
      `s3:ListBucket <${artifacts}.Arn>`,
      `s3:ListBucket <${capture}.Arn>`,
      `s3:PutObject <${capture}.Arn>/drift/*`,
    ]);
    expect(pairs.filter((p) => p.startsWith('logs:'))).toEqual([
      expect.stringMatching(
        /^logs:CreateLogStream arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<DriftRunLogs\w+>:log-stream:\*$/,
      ),
      expect.stringMatching(
        /^logs:PutLogEvents arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<DriftRunLogs\w+>:log-stream:\*$/,
      ),
    ]);
    expect(listings.map((s) => [s.resources, s.condition])).toEqual(
      expect.arrayContaining([
        [[`<${artifacts}.Arn>`], { StringLike: { 's3:prefix': ['profiles/*'] } }],
        [[`<${capture}.Arn>`], { StringLike: { 's3:prefix': ['capture/*', 'drift/*'] } }],
      ]),
    );
    expect(listings).toHaveLength(2);
  });

  it('without any canary gate: the registry read only, no Lambda action, no ENDPOINTS', () => {
    // Act
    const ungated = synthesize(
      { ...CONFIG, endpoints: CONFIG.endpoints.map((e) => ({ ...e, drift: { scheduleMinutes: 30, canaryGate: false } })) },
      { bundle: false },
    );
    const [, fn] = driftFunction(ungated.template);
    const pairs = grantedPairs(statementsOfRole(ungated.template, roleOfResource(fn)));

    // Assess
    const [registry] = onlyResource(ungated.template, 'AWS::DynamoDB::Table', {
      KeySchema: Match.arrayWith([{ AttributeName: 'pk', KeyType: 'HASH' }]),
    });
    expect(pairs.filter((p) => p.startsWith('dynamodb:'))).toEqual([
      `dynamodb:GetItem <${registry}.Arn>`,
      `dynamodb:Query <${registry}.Arn>`,
    ]);
    expect(pairs.filter((p) => p.startsWith('lambda:'))).toEqual([]);
    expect(variablesOf(fn)).not.toHaveProperty('ENDPOINTS');
    ungated.template.resourceCountIs('AWS::CloudWatch::Alarm', 2 * 2 + 2);
    expect(ungated.template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'CanaryPredictionShift' } })).toEqual({});
  });

  it("EventBridge may invoke it from its rules only (the schedules' and the canary checks'), one resource-policy statement per rule", () => {
    // Prepare
    const [fnId] = driftFunction();

    // Act
    const permissions = Object.values(resourcesOf(synth.template, 'AWS::Lambda::Permission')).filter((p) =>
      JSON.stringify(p.Properties?.['FunctionName']).includes(`"${fnId}"`),
    );

    // Assess
    const rules = ['iris', 'churn'].flatMap((model) => [ruleOf(model)[0], canaryRuleOf(model)[0]]);
    expect(permissions.map((p) => p.Properties).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual(
      rules
        .map((rule) => ({
          Action: 'lambda:InvokeFunction',
          FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
          Principal: 'events.amazonaws.com',
          SourceArn: { 'Fn::GetAtt': [rule, 'Arn'] },
        }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
  });

  it('is a stack output', () => {
    synth.template.hasOutput('DriftFunctionName', { Value: { Ref: driftFunction()[0] } });
  });
});

describe('the schedules', () => {
  it.each([
    ['iris', 'rate(1 hour)'],
    ['churn', 'rate(15 minutes)'],
  ])('%s: a rule at %s invokes the drift function with {"model": <its name>}', (model, expression) => {
    // Prepare
    const [fnId] = driftFunction();

    // Act
    const [, rule] = ruleOf(model);

    // Assess
    expect(rule).toMatchObject({ ScheduleExpression: expression, State: 'ENABLED' });
    expect(rule['Targets']).toEqual([{ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, Id: expect.any(String), Input: `{"model":"${model}"}` }]);
  });

  it('one rule and one drift alarm per scheduled endpoint, none for an endpoint with drift: false', () => {
    // Act
    const mixed = synthesize({ ...CONFIG, endpoints: [{ model: 'iris' }, { model: 'wine', drift: false }] }, { bundle: false });

    // Assess
    for (const [template, models] of [
      [synth.template, ['churn', 'iris']],
      [mixed.template, ['iris']],
    ] as const) {
      const inputs = Object.values(resourcesOf(template, 'AWS::Events::Rule')).flatMap((r) =>
        (r.Properties?.['Targets'] as { Input: string }[]).map((t) => t.Input),
      );
      // The schedules' inputs (the canary checks' say "check": "canary").
      expect(inputs.filter((input) => !input.includes('"check"')).sort()).toEqual(models.map((model) => `{"model":"${model}"}`));
      const driftAlarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm')).filter(
        (a) => a.Properties?.['MetricName'] === 'DriftedFeatures',
      );
      expect(driftAlarms.map((a) => (a.Properties?.['Dimensions'] as { Value: string }[])[0]?.Value).sort()).toEqual(models);
    }
  });

  it('without any schedule or canary gate (drift: false; scheduleMinutes: 0 with canaryGate: false) there is no drift function, rule or drift alarm', () => {
    // Act
    const plain = synthesize(
      {
        ...CONFIG,
        endpoints: [
          { model: 'iris', drift: { scheduleMinutes: 0, canaryGate: false } },
          { model: 'wine', drift: false },
        ],
      },
      { bundle: false },
    );

    // Assess
    expect(plain.stack.drift).toBeUndefined();
    plain.template.resourceCountIs('AWS::Events::Rule', 0);
    expect(
      plain.template.findResources('AWS::Lambda::Function', {
        Properties: { Description: Match.stringLikeRegexp('^Scheduled drift detection') },
      }),
    ).toEqual({});
    expect(plain.template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'DriftedFeatures' } })).toEqual({});
    expect(plain.template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'CanaryPredictionShift' } })).toEqual({});
    expect(Object.keys(plain.template.toJSON()['Outputs'] as object)).not.toContain('DriftFunctionName');
  });

  it('a canary gate without a schedule (scheduleMinutes: 0) keeps the drift function for the canary check only: its minute rule and alarm, no schedule, no drift alarm', () => {
    // Act
    const gateOnly = synthesize({ ...CONFIG, endpoints: [{ model: 'iris', drift: { scheduleMinutes: 0 } }] }, { bundle: false });

    // Assess
    expect(gateOnly.stack.drift).toBeDefined();
    const inputs = Object.values(resourcesOf(gateOnly.template, 'AWS::Events::Rule')).flatMap((r) =>
      (r.Properties?.['Targets'] as { Input: string }[]).map((t) => t.Input),
    );
    expect(inputs).toEqual(['{"model":"iris","check":"canary"}']);
    expect(gateOnly.template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'DriftedFeatures' } })).toEqual({});
    expect(canaryAlarmOf('iris', gateOnly.template)[1]['Period']).toBe(60);
    gateOnly.template.hasOutput('DriftFunctionName', { Value: { Ref: driftFunction(gateOnly.template)[0] } });
  });
});

describe('the canary gate', () => {
  it.each([['iris'], ['churn']])(
    '%s: a rule every minute invokes the drift function with {"model": <its name>, "check": "canary"}',
    (model) => {
      // Prepare
      const [fnId] = driftFunction();

      // Act
      const [, rule] = canaryRuleOf(model);

      // Assess
      expect(rule).toMatchObject({ ScheduleExpression: 'rate(1 minute)', State: 'ENABLED' });
      expect(rule['Targets']).toEqual([
        { Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, Id: expect.any(String), Input: `{"model":"${model}","check":"canary"}` },
      ]);
    },
  );

  it.each([['iris'], ['churn']])(
    "%s: CanaryPredictionShift >= 1 (Maximum) in one 60 s period of the endpoints' namespace, dimension Model, missing data not breaching",
    (model) => {
      const [, alarm] = canaryAlarmOf(model);
      expect(alarm).toMatchObject({
        Namespace: NAMESPACE,
        MetricName: 'CanaryPredictionShift',
        Dimensions: [{ Name: 'Model', Value: model }],
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(alarm['AlarmDescription']).toContain(`last ${CANARY_WINDOW_MINUTES} min`);
      expect(alarm['AlarmDescription']).toContain(`GET /v1/models/${model}/history`);
      expect(alarm).not.toHaveProperty('AlarmActions');
    },
  );

  it.each([
    ['Iris', 'iris'],
    ['Churn', 'churn'],
  ] as const)(
    "%s's deployment group rolls back on its canary alarm too: the errors, latency and CanaryPredictionShift alarms",
    (construct, model) => {
      // Prepare: the endpoint's own two alarms (they name its function), and its canary alarm.
      const [fnId] = endpointFunction(synth.template, model);
      const own = Object.entries(resourcesOf(synth.template, 'AWS::CloudWatch::Alarm'))
        .filter(([, a]) => JSON.stringify(a.Properties).includes(`"Ref":"${fnId}"`))
        .map(([id]) => id);
      expect(own).toHaveLength(2);

      // Act
      const group = groupOf(construct);

      // Assess
      expect(groupAlarms(group)).toEqual([...own, canaryAlarmOf(model)[0]].sort());
      expect(group['AutoRollbackConfiguration']).toEqual({ Enabled: true, Events: expect.arrayContaining(['DEPLOYMENT_STOP_ON_ALARM']) });
    },
  );

  it('the pre-traffic hook leaves the canary alarm as it is (no version dimension: not retargeted) and moves the per-version ones', () => {
    // Act
    const [canaryId, canary] = canaryAlarmOf('iris');
    const [errorsId, errors] = errorsAlarmOf(synth.template, 'iris');

    // Assess: the hook's own test of each alarm DescribeAlarms returns (functions/release-hook/hook.ts).
    expect(watchesVersion(described(canaryId, canary))).toBe(false);
    expect(watchesVersion(described(errorsId, errors))).toBe(true);
  });

  it("the pre-traffic hook may describe each canary alarm (it describes all of a group's alarms) but never write one", () => {
    // Act
    const pairs = grantedPairs(statementsOfRole(synth.template, roleOfResource(preTrafficHook())));
    const alarmPairs = pairs.filter((p) => p.startsWith('cloudwatch:'));

    // Assess
    const canaries = ['iris', 'churn'].map((model) => canaryAlarmOf(model)[0]);
    expect(alarmPairs.filter((p) => canaries.some((id) => p.includes(`<${id}.Arn>`))).sort()).toEqual(
      canaries.map((id) => `cloudwatch:DescribeAlarms <${id}.Arn>`).sort(),
    );
    expect(
      alarmPairs
        .filter((p) => p.startsWith('cloudwatch:PutMetricAlarm '))
        .every((p) => /<Endpoint(Iris|Churn)(ErrorsAlarm|LatencyP99Alarm)\w+\.Arn>$/.test(p)),
    ).toBe(true);
  });

  it('watches exactly the namespace, name and dimensions of the EMF line the canary check writes', async () => {
    // Act: what the function prints for a shifted canary of iris.
    const printed = await captureOutput(() => publishCanaryShiftMetric(createMetrics(NAMESPACE), 'iris', true));
    const [line] = jsonLines(printed);
    const emf = (line?.['_aws'] as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] })
      .CloudWatchMetrics[0];

    // Assess
    const [, alarm] = canaryAlarmOf('iris');
    expect(emf?.Namespace).toBe(alarm['Namespace']);
    expect(emf?.Dimensions).toEqual([(alarm['Dimensions'] as { Name: string }[]).map((d) => d.Name)]);
    expect(emf?.Metrics.map((m) => m.Name)).toEqual([alarm['MetricName']]);
    expect(line?.['Model']).toBe('iris');
    expect(line?.['CanaryPredictionShift']).toBeGreaterThanOrEqual(alarm['Threshold'] as number);
  });

  it('canaryGate: false on one endpoint: no rule or alarm for it, its group keeps its two alarms, and the drift function may not read its function', () => {
    // Act
    const mixed = synthesize(
      {
        ...CONFIG,
        endpoints: [{ model: 'iris' }, { model: 'churn', architecture: 'x86_64', drift: { scheduleMinutes: 15, canaryGate: false } }],
      },
      { bundle: false },
    );

    // Assess
    const [churnFn] = endpointFunction(mixed.template, 'churn');
    const [irisFn] = endpointFunction(mixed.template, 'iris');
    expect(
      mixed.template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { MetricName: 'CanaryPredictionShift', Dimensions: [{ Name: 'Model', Value: 'churn' }] },
      }),
    ).toEqual({});
    expect(() => canaryRuleOf('churn', mixed.template)).toThrow(/found 0/);
    expect(groupAlarms(groupOf('Churn', mixed.template))).toHaveLength(2);
    expect(groupAlarms(groupOf('Iris', mixed.template))).toContain(canaryAlarmOf('iris', mixed.template)[0]);
    const [, fn] = driftFunction(mixed.template);
    const lambdaPairs = grantedPairs(statementsOfRole(mixed.template, roleOfResource(fn))).filter((p) => p.startsWith('lambda:'));
    expect(lambdaPairs).toEqual([`lambda:GetAlias <${irisFn}.Arn>:live`, `lambda:GetFunctionConfiguration <${irisFn}.Arn>:*`]);
    expect(JSON.stringify(variablesOf(fn)['ENDPOINTS'])).not.toContain(churnFn);
  });
});

describe('the drift alarms', () => {
  it.each([
    ['iris', 3_600],
    ['churn', 900],
  ])('%s: DriftedFeatures >= 1 (Maximum) in one period of the schedule (%i s), missing data not breaching', (model, period) => {
    expect(alarmOf(model)).toMatchObject({
      Namespace: NAMESPACE,
      MetricName: 'DriftedFeatures',
      Dimensions: [{ Name: 'Model', Value: model }],
      Statistic: 'Maximum',
      Period: period,
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarmOf(model)['AlarmDescription']).toContain(`GET /v1/models/${model}/drift`);
  });

  it('watch exactly the namespace, name and dimensions of the EMF line the drift function writes', async () => {
    // Act: what the function prints for a report with one drifted feature.
    const printed = await captureOutput(() =>
      publishDriftMetrics(createMetrics(NAMESPACE), {
        model: 'churn',
        totals: { driftedFeatures: 1, driftedPredictions: 0, maxPsi: 0.4 },
      } as never),
    );
    const [line] = jsonLines(printed);
    const emf = (line?.['_aws'] as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] })
      .CloudWatchMetrics[0];

    // Assess
    const alarm = alarmOf('churn');
    expect(emf?.Namespace).toBe(alarm['Namespace']);
    expect(emf?.Dimensions).toEqual([(alarm['Dimensions'] as { Name: string }[]).map((d) => d.Name)]);
    expect(emf?.Metrics.map((m) => m.Name)).toContain(alarm['MetricName']);
    expect(line?.['Model']).toBe('churn');
    expect(line?.['DriftedFeatures']).toBeGreaterThanOrEqual(alarm['Threshold'] as number);
  });
});

describe('bad props', () => {
  it.each([
    [[], /give at least one model to schedule or gate/],
    [[{ model: 'iris', minutes: 0 }], /the drift schedule of iris must be a whole number of minutes from 1 to 1440, not 0/],
    [[{ model: 'iris', minutes: 1441 }], /from 1 to 1440, not 1441/],
    [
      [
        { model: 'iris', minutes: 60 },
        { model: 'iris', minutes: 15 },
      ],
      /model iris is scheduled twice/,
    ],
  ])('the construct refuses schedules %j', (schedules, message) => {
    // Prepare: the parts of the synthesized stack; the construct throws before it uses them.
    const { stack } = synth;
    const layer = stack.layers.get('arm64');
    if (!layer) throw new Error('no arm64 layer');
    const scope = new Stack(testApp(), 'Direct');

    // Act, Assess
    expect(
      () =>
        new DriftSchedule(scope, 'Drift', {
          schedules,
          layer,
          tables: stack.tables,
          artifacts: stack.artifacts,
          capture: stack.capture,
          logRetention: RetentionDays.ONE_WEEK,
        }),
    ).toThrow(message);
  });

  it('the construct refuses a model gated twice', () => {
    // Prepare
    const { stack } = synth;
    const layer = stack.layers.get('arm64');
    const [endpoint] = stack.endpoints;
    const [release] = stack.releases;
    if (!layer || !endpoint || !release) throw new Error('no arm64 layer, endpoint or release');
    const scope = new Stack(testApp(), 'Twice');

    // Act, Assess
    expect(
      () =>
        new DriftSchedule(scope, 'Drift', {
          schedules: [],
          canaryGates: [
            { endpoint, release },
            { endpoint, release },
          ],
          layer,
          tables: stack.tables,
          artifacts: stack.artifacts,
          capture: stack.capture,
          logRetention: RetentionDays.ONE_WEEK,
        }),
    ).toThrow(/model iris is gated twice/);
  });
});

describe('cdk-nag', () => {
  it('finds no unacknowledged error or warning with the drift schedules', () => {
    const report = new AwsSolutionsChecks(synth.app).validateScope(synth.app);
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });
});

describe('the drift setting', () => {
  const base = { auth: TWO_ENDPOINTS.auth };
  const endpoint = (drift: unknown) =>
    parseAppConfig({ ...base, endpoints: [{ model: 'iris', ...(drift === undefined ? {} : { drift }) }] }).endpoints[0];

  it('defaults to every 60 minutes with the canary gate; false turns both off, 0 the schedule only', () => {
    const minutes = (drift: unknown) => {
      const parsed = endpoint(drift);
      if (!parsed) throw new Error('no endpoint');
      return driftScheduleMinutes(parsed);
    };
    const gate = (drift: unknown) => {
      const parsed = endpoint(drift);
      if (!parsed) throw new Error('no endpoint');
      return canaryGateOn(parsed);
    };
    expect(endpoint(undefined)?.drift).toEqual({ scheduleMinutes: 60, canaryGate: true });
    expect(endpoint(false)?.drift).toEqual({ scheduleMinutes: 0, canaryGate: false });
    expect(gate(undefined)).toBe(true);
    expect(gate({ scheduleMinutes: 0 })).toBe(true);
    expect(gate({ canaryGate: false })).toBe(false);
    expect(minutes({ canaryGate: false })).toBe(60);
    expect(minutes(undefined)).toBe(60);
    expect(minutes({})).toBe(60);
    expect(minutes(false)).toBe(0);
    expect(minutes({ scheduleMinutes: 0 })).toBe(0);
    expect(minutes({ scheduleMinutes: 1 })).toBe(1);
    expect(minutes({ scheduleMinutes: 1440 })).toBe(1440);
  });

  it.each([
    [{ scheduleMinutes: 1441 }, /endpoints\[0\]\.drift\.scheduleMinutes: must be at most 1440 minutes \(a day\)/],
    [{ scheduleMinutes: -1 }, /endpoints\[0\]\.drift\.scheduleMinutes: must be 0 \(no schedule\) or more minutes/],
    [{ scheduleMinutes: 7.5 }, /endpoints\[0\]\.drift\.scheduleMinutes: must be a whole number of minutes/],
    [
      true,
      /endpoints\[0\]\.drift: must be false \(no drift schedule, no canary gate\) or \{"scheduleMinutes": <minutes>, "canaryGate": <true\|false>\}/,
    ],
    [{ canaryGate: 'yes' }, /endpoints\[0\]\.drift\.canaryGate: must be true or false/],
    [{ every: 5 }, /endpoints\[0\]\.drift\.every: unknown field/],
    [{ scheduleMinutes: '60' }, /endpoints\[0\]\.drift\.scheduleMinutes: must be a whole number of minutes/],
  ])('refuses %j, naming the field', (drift, message) => {
    expect(() => endpoint(drift)).toThrow(message);
  });
});
