/**
 * Scheduled drift detection on AWS (`lib/drift-schedule.ts`): the drift function's environment
 * and grants, one EventBridge rule per scheduled model with its constant input, one alarm per
 * scheduled model on the metric the function emits, the `drift` endpoint setting, and cdk-nag.
 * Synthesized without bundling (the function's code is not under test here).
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { createMetrics, publishDriftMetrics } from '../../functions/adapters/emf-metrics.js';
import { AwsSolutionsChecks } from 'cdk-nag';
import { driftScheduleMinutes, parseAppConfig, type AppConfigInput } from '../../lib/config.js';
import { DriftSchedule } from '../../lib/drift-schedule.js';
import { captureOutput, jsonLines } from '../fixtures/output.js';
import {
  grantedPairs,
  onlyResource,
  resourcesOf,
  roleOfResource,
  statementsOfRole,
  synthesize,
  TWO_ENDPOINTS,
  type Synthesized,
} from './helpers.js';

const NAMESPACE = 'Acme/Models';

/** iris hourly (the default), churn every 15 minutes (two endpoints: each takes about 125 of a stack's 500 resources). */
const CONFIG: AppConfigInput = {
  auth: TWO_ENDPOINTS.auth,
  observability: { metricsNamespace: NAMESPACE, logLevel: 'DEBUG' },
  endpoints: [
    { model: 'iris' },
    { model: 'churn', architecture: 'x86_64', drift: { scheduleMinutes: 15 } },
  ],
};

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize(CONFIG, { bundle: false });
});

type Properties = Record<string, unknown>;
const variablesOf = (fn: Properties): Properties => ((fn['Environment'] as { Variables?: Properties } | undefined)?.Variables) ?? {};

/** The drift function: the one whose handler's description says so. */
function driftFunction(template = synth.template): [string, Properties] {
  const [id, resource] = onlyResource(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Scheduled drift detection') });
  return [id, resource.Properties ?? {}];
}

function controlFunction(): Properties {
  const found = Object.values(resourcesOf(synth.template, 'AWS::Lambda::Function')).filter((r) => 'ENDPOINTS' in variablesOf(r.Properties ?? {}));
  expect(found).toHaveLength(1);
  return found[0]?.Properties ?? {};
}

function ruleOf(model: string): [string, Properties] {
  const [id, rule] = onlyResource(synth.template, 'AWS::Events::Rule', { Targets: [Match.objectLike({ Input: JSON.stringify({ model }) })] });
  return [id, rule.Properties ?? {}];
}

function alarmOf(model: string): Properties {
  return onlyResource(synth.template, 'AWS::CloudWatch::Alarm', { MetricName: 'DriftedFeatures', Dimensions: [{ Name: 'Model', Value: model }] })[1].Properties ?? {};
}

describe('the drift function', () => {
  it("runs on the control plane's layer and architecture, with the registry, both buckets, the metrics namespace and log level in its environment, and nothing else", () => {
    // Prepare
    const [registry] = onlyResource(synth.template, 'AWS::DynamoDB::Table', { KeySchema: Match.arrayWith([{ AttributeName: 'pk', KeyType: 'HASH' }]) });
    const [artifacts] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });
    const [capture] = onlyResource(synth.template, 'AWS::S3::Bucket', { LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'capture/' }) });

    // Act
    const [, fn] = driftFunction();

    // Assess
    expect(fn['Layers']).toEqual(controlFunction()['Layers']);
    expect(fn['Architectures']).toEqual(['arm64']);
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', MemorySize: 1024, Timeout: 300 });
    expect(variablesOf(fn)).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      REGISTRY_TABLE: { Ref: registry },
      ARTIFACT_BUCKET: { Ref: artifacts },
      CAPTURE_BUCKET: { Ref: capture },
      METRICS_NAMESPACE: NAMESPACE,
      LOG_LEVEL: 'DEBUG',
    });
  });

  it('reads the registry, reads captures and profiles, reads and writes drift reports, writes its own logs: nothing else', () => {
    // Prepare
    const [registry] = onlyResource(synth.template, 'AWS::DynamoDB::Table', { KeySchema: Match.arrayWith([{ AttributeName: 'pk', KeyType: 'HASH' }]) });
    const [artifacts] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });
    const [capture] = onlyResource(synth.template, 'AWS::S3::Bucket', { LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'capture/' }) });

    // Act
    const statements = statementsOfRole(synth.template, roleOfResource(driftFunction()[1]));
    const pairs = grantedPairs(statements);
    const listings = statements.filter((s) => s.actions.includes('s3:ListBucket'));

    // Assess
    expect(pairs.filter((p) => !p.startsWith('logs:'))).toEqual([
      `dynamodb:GetItem <${registry}.Arn>`,
      `dynamodb:Query <${registry}.Arn>`,
      `s3:GetObject <${artifacts}.Arn>/profiles/*`,
      `s3:GetObject <${capture}.Arn>/capture/*`,
      `s3:GetObject <${capture}.Arn>/drift/*`,
      `s3:ListBucket <${artifacts}.Arn>`,
      `s3:ListBucket <${capture}.Arn>`,
      `s3:PutObject <${capture}.Arn>/drift/*`,
    ]);
    expect(pairs.filter((p) => p.startsWith('logs:'))).toEqual([
      expect.stringMatching(/^logs:CreateLogStream arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<DriftRunLogs\w+>:log-stream:\*$/),
      expect.stringMatching(/^logs:PutLogEvents arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<DriftRunLogs\w+>:log-stream:\*$/),
    ]);
    expect(listings.map((s) => [s.resources, s.condition])).toEqual(expect.arrayContaining([
      [[`<${artifacts}.Arn>`], { StringLike: { 's3:prefix': ['profiles/*'] } }],
      [[`<${capture}.Arn>`], { StringLike: { 's3:prefix': ['capture/*', 'drift/*'] } }],
    ]));
    expect(listings).toHaveLength(2);
  });

  it('EventBridge may invoke it from the schedules\' rules only, one resource-policy statement per rule', () => {
    // Prepare
    const [fnId] = driftFunction();

    // Act
    const permissions = Object.values(resourcesOf(synth.template, 'AWS::Lambda::Permission')).filter((p) => JSON.stringify(p.Properties?.['FunctionName']).includes(`"${fnId}"`));

    // Assess
    expect(permissions.map((p) => p.Properties).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual(
      ['iris', 'churn']
        .map((model) => ({ Action: 'lambda:InvokeFunction', FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] }, Principal: 'events.amazonaws.com', SourceArn: { 'Fn::GetAtt': [ruleOf(model)[0], 'Arn'] } }))
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
    for (const [template, models] of [[synth.template, ['churn', 'iris']], [mixed.template, ['iris']]] as const) {
      const inputs = Object.values(resourcesOf(template, 'AWS::Events::Rule')).flatMap((r) => (r.Properties?.['Targets'] as { Input: string }[]).map((t) => t.Input));
      expect(inputs.sort()).toEqual(models.map((model) => `{"model":"${model}"}`));
      const driftAlarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm')).filter((a) => a.Properties?.['MetricName'] === 'DriftedFeatures');
      expect(driftAlarms.map((a) => (a.Properties?.['Dimensions'] as { Value: string }[])[0]?.Value).sort()).toEqual(models);
    }
  });

  it('without any schedule (drift: false, scheduleMinutes: 0) there is no drift function, rule or drift alarm', () => {
    // Act
    const plain = synthesize({ ...CONFIG, endpoints: [{ model: 'iris', drift: { scheduleMinutes: 0 } }, { model: 'wine', drift: false }] }, { bundle: false });

    // Assess
    expect(plain.stack.drift).toBeUndefined();
    plain.template.resourceCountIs('AWS::Events::Rule', 0);
    expect(plain.template.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^Scheduled drift detection') } })).toEqual({});
    expect(plain.template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'DriftedFeatures' } })).toEqual({});
    expect(Object.keys(plain.template.toJSON()['Outputs'] as object)).not.toContain('DriftFunctionName');
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

  it("watch exactly the namespace, name and dimensions of the EMF line the drift function writes", async () => {
    // Act: what the function prints for a report with one drifted feature.
    const printed = await captureOutput(() => publishDriftMetrics(createMetrics(NAMESPACE), { model: 'churn', totals: { driftedFeatures: 1, driftedPredictions: 0, maxPsi: 0.4 } } as never));
    const [line] = jsonLines(printed);
    const emf = (line?.['_aws'] as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] }).CloudWatchMetrics[0];

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
    [[], /give at least one model to schedule/],
    [[{ model: 'iris', minutes: 0 }], /the drift schedule of iris must be a whole number of minutes from 1 to 1440, not 0/],
    [[{ model: 'iris', minutes: 1441 }], /from 1 to 1440, not 1441/],
    [[{ model: 'iris', minutes: 60 }, { model: 'iris', minutes: 15 }], /model iris is scheduled twice/],
  ])('the construct refuses schedules %j', (schedules, message) => {
    // Prepare: the parts of the synthesized stack; the construct throws before it uses them.
    const { stack } = synth;
    const layer = stack.layers.get('arm64');
    if (!layer) throw new Error('no arm64 layer');
    const scope = new Stack(new App(), 'Direct');

    // Act, Assess
    expect(() => new DriftSchedule(scope, 'Drift', { schedules, layer, tables: stack.tables, artifacts: stack.artifacts, capture: stack.capture, logRetention: RetentionDays.ONE_WEEK })).toThrow(message);
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
  const endpoint = (drift: unknown) => parseAppConfig({ ...base, endpoints: [{ model: 'iris', ...(drift === undefined ? {} : { drift }) }] }).endpoints[0];

  it('defaults to every 60 minutes; false and 0 turn it off', () => {
    const minutes = (drift: unknown) => {
      const parsed = endpoint(drift);
      if (!parsed) throw new Error('no endpoint');
      return driftScheduleMinutes(parsed);
    };
    expect(endpoint(undefined)?.drift).toEqual({ scheduleMinutes: 60 });
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
    [true, /endpoints\[0\]\.drift: must be false \(no schedule\) or \{"scheduleMinutes": <minutes>\}/],
    [{ every: 5 }, /endpoints\[0\]\.drift\.every: unknown field/],
    [{ scheduleMinutes: '60' }, /endpoints\[0\]\.drift\.scheduleMinutes: must be a whole number of minutes/],
  ])('refuses %j, naming the field', (drift, message) => {
    expect(() => endpoint(drift)).toThrow(message);
  });
});
