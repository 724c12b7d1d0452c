/**
 * The control plane reads what the endpoints observed: the prediction log through its `byModel`
 * index only (exactly `dynamodb:Query` on the index ARN, nothing on the table, no write), and the
 * endpoints' metrics in the namespace they publish in.
 */
import { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { ControlPlane, type ControlPlaneProps } from '../../lib/control-plane.js';
import { BY_MODEL_INDEX, BY_STUDY_INDEX } from '../../functions/adapters/dynamodb-prediction-log-reader.js';
import { flattenReference } from '../../lib/nag.js';
import { onlyResource, resourcesOf, synthesize, TWO_ENDPOINTS, type Synthesized, testApp } from './helpers.js';

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize(TWO_ENDPOINTS);
});

/** Whether a function's environment is the control plane's: ENDPOINTS and MAX_ARTIFACT_BYTES (the drift function has ENDPOINTS too). */
const isControlPlane = (fn: { Properties?: Record<string, unknown> }): boolean => {
  const variables = (fn.Properties?.['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
  return 'ENDPOINTS' in variables && 'MAX_ARTIFACT_BYTES' in variables;
};

/** The control-plane function. */
function controlPlane(): Record<string, unknown> {
  const found = Object.values(resourcesOf(synth.template, 'AWS::Lambda::Function')).filter(isControlPlane);
  expect(found).toHaveLength(1);
  return found[0]?.Properties ?? {};
}

/** Every `action resource` pair granted to the control plane's role, references flattened. */
function grants(): string[] {
  const role = (controlPlane()['Role'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);
  return Object.values(resourcesOf(synth.template, 'AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties?.['Roles']).includes(`"${role}"`))
    .flatMap((policy) => (policy.Properties?.['PolicyDocument'] as { Statement: Record<string, unknown>[] }).Statement)
    .flatMap((statement) =>
      list(statement['Action']).flatMap((action) =>
        list(statement['Resource']).map((resource) => `${String(action)} ${flattenReference(resource)}`),
      ),
    )
    .sort();
}

function predictionLogTable(): string {
  // The prediction log: the table with the byModel index (the batch-job table has a TTL too).
  const [id] = onlyResource(synth.template, 'AWS::DynamoDB::Table', {
    TimeToLiveSpecification: Match.anyValue(),
    GlobalSecondaryIndexes: Match.arrayWith([Match.objectLike({ IndexName: BY_MODEL_INDEX })]),
  });
  return id;
}

describe('the control plane reads the prediction log', () => {
  it("names the prediction-log table and the endpoints' metrics namespace in its environment", () => {
    // Act
    const variables = (controlPlane()['Environment'] as { Variables: Record<string, unknown> }).Variables;

    // Assess
    expect(variables['PREDICTION_LOG_TABLE']).toEqual({ Ref: predictionLogTable() });
    expect(variables['METRICS_NAMESPACE']).toBe('OnnxServing');
    expect(variables['METRICS_NAMESPACE']).toBe(synth.stack.metricsNamespace);
    expect(variables['LOG_LEVEL']).toBe('INFO');
  });

  it('takes the namespace and the log level from the observability config', () => {
    // Act
    const custom = synthesize({ ...TWO_ENDPOINTS, observability: { metricsNamespace: 'Team/Serving', logLevel: 'DEBUG', tracing: false } });
    const control = Object.values(resourcesOf(custom.template, 'AWS::Lambda::Function')).find(isControlPlane);
    const variables = (control?.Properties?.['Environment'] as { Variables: Record<string, unknown> }).Variables;

    // Assess
    expect([variables['METRICS_NAMESPACE'], variables['LOG_LEVEL']]).toEqual(['Team/Serving', 'DEBUG']);
  });

  it('may Query the byModel and byStudy indexes and GetItem one request, and nothing else on the prediction-log table', () => {
    // Prepare
    const table = predictionLogTable();

    // Act
    const onTable = grants().filter((pair) => pair.includes(`<${table}.`));

    // Assess
    expect(onTable).toEqual([
      `dynamodb:GetItem <${table}.Arn>`,
      `dynamodb:Query <${table}.Arn>/index/${BY_MODEL_INDEX}`,
      `dynamodb:Query <${table}.Arn>/index/${BY_STUDY_INDEX}`,
    ]);
  });

  it('declares the sparse byStudy index of experiments and shadow tests: study and timestamp, every attribute', () => {
    const table = resourcesOf(synth.template, 'AWS::DynamoDB::Table')[predictionLogTable()];
    const indexes = table?.Properties?.['GlobalSecondaryIndexes'] as Array<{ IndexName: string; KeySchema: unknown; Projection: unknown }>;
    expect(indexes.find((index) => index.IndexName === BY_STUDY_INDEX)).toEqual({
      IndexName: BY_STUDY_INDEX,
      KeySchema: [
        { AttributeName: 'study', KeyType: 'HASH' },
        { AttributeName: 'timestamp', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    });
    // One index more than before: CloudFormation adds one per update to an existing table.
    expect(indexes.map((index) => index.IndexName)).toEqual([BY_MODEL_INDEX, BY_STUDY_INDEX]);
  });

  it('reads the endpoints\' metrics with GetMetricData, which IAM grants only on "*"', () => {
    expect(grants().filter((pair) => pair.startsWith('cloudwatch:'))).toEqual(['cloudwatch:GetMetricData *']);
  });
});

describe('a bad metrics namespace', () => {
  it.each([
    ['an AWS namespace', 'AWS/Lambda'],
    ['an empty one', ''],
    ['one with a character CloudWatch refuses', 'no|pipes'],
    ['one of 256 characters', 'x'.repeat(256)],
  ])('%s fails at synth, before anything is created', (_case, metricsNamespace) => {
    // Prepare: the namespace is checked first, so the other props are never read.
    const stack = new Stack(testApp(), 'Bad');
    const props = {
      config: synth.config.controlPlane,
      layer: { architectureName: synth.config.controlPlane.architecture },
      tables: synth.stack.tables,
      artifacts: synth.stack.artifacts,
      logRetention: RetentionDays.ONE_MONTH,
      metricsNamespace,
    } as unknown as ControlPlaneProps;

    // Act / Assess
    expect(() => new ControlPlane(stack, 'Control', props)).toThrow(
      /metricsNamespace ".*" is not a CloudWatch namespace for custom metrics/,
    );
  });
});
