/**
 * Batch jobs on AWS (lib/batch-jobs.ts): the workflow's definition as Step Functions reads it,
 * the functions and the job table, what the control function is told, least-privilege IAM
 * limited to the configured batch locations and, for replays, to the capture bucket's
 * `capture/` and `replays/` prefixes, cdk-nag, and CloudFormation's 500-resource limit. One
 * bundled synth of BATCH_ENDPOINTS (iris and churn with locations of their own, wine without)
 * serves most tests; the others synthesize without bundling (the template is the same, the code
 * assets placeholders).
 */
import { Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BATCH_JOBS_TABLE } from '../../functions/adapters/tables.js';
import { JOB_FILES, partKey } from '../../functions/core/batch-contract.js';
import { REPLAY_ROOT } from '../../functions/core/replay/service.js';
import { flattenReference } from '../../lib/nag.js';
import {
  BATCH_ENDPOINTS,
  grantedPairs,
  onlyResource,
  resourcesOf,
  roleOfResource,
  stateMachineDefinition,
  statementsOfRole,
  synthesize,
  TWO_ENDPOINTS,
  type AslDefinition,
  type AslState,
  type GrantedStatement,
  type Synthesized,
} from './helpers.js';

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize(BATCH_ENDPOINTS, { nag: true });
});

/** The spec's item processor Retry list (/tmp spec, "The state machine"). */
const BATCH_RETRY = [
  'Lambda.ServiceException',
  'Lambda.TooManyRequestsException',
  'Lambda.SdkClientException',
  'Lambda.AWSLambdaException',
  'Sandbox.Timedout',
  'Batch.REGISTRY_UNAVAILABLE',
  'Batch.INTERNAL',
  'Batch.ARTIFACT_UNAVAILABLE',
];
const PLAN_RETRY = ['Lambda.ServiceException', 'Lambda.TooManyRequestsException', 'Lambda.SdkClientException'];
const ASSEMBLE_RETRY = [...PLAN_RETRY, 'Lambda.AWSLambdaException'];
const retry = (errors: string[]) => [{ ErrorEquals: errors, IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2 }];

/** The configured locations as IAM object ARNs (`arn:<partition>:s3:::bucket/prefix*`). */
const objects = (location: string) => `arn:<AWS::Partition>:s3:::${location}*`;
const IRIS_IN = objects('acme-scoring/iris/in/');
const IRIS_OUT = objects('acme-scoring/iris/out/');
const CHURN_IN = [objects('crm-exports/'), objects('crm-archive/daily/')];
const CHURN_OUT = objects('crm-scores/churn/');
const INPUTS = [IRIS_IN, ...CHURN_IN];
const OUTPUTS = [IRIS_OUT, CHURN_OUT];
const bucket = (name: string) => `arn:<AWS::Partition>:s3:::${name}`;

function stateMachine(): [string, Record<string, unknown>] {
  const [id, resource] = onlyResource(synth.template, 'AWS::StepFunctions::StateMachine', {});
  return [id, resource.Properties ?? {}];
}

function definition(): AslDefinition {
  return stateMachineDefinition(stateMachine()[1]);
}

function state(def: AslDefinition, name: string): AslState {
  const found = def.States[name];
  if (!found) throw new Error(`no state ${name} in ${Object.keys(def.States).join(', ')}`);
  return found;
}

/** A function by what its environment holds (and lacks). */
function functionWith(has: Record<string, unknown>, lacks: string[] = []): [string, Record<string, unknown>] {
  const found = Object.entries(resourcesOf(synth.template, 'AWS::Lambda::Function')).filter(([, r]) => {
    const variables = (r.Properties?.['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    return (
      Object.entries(has).every(([k, v]) => (v === undefined ? k in variables : JSON.stringify(variables[k]) === JSON.stringify(v))) &&
      lacks.every((k) => !(k in variables))
    );
  });
  if (found.length !== 1)
    throw new Error(`expected one function with ${JSON.stringify(has)} and without ${lacks.join(', ')}, found ${found.length}`);
  const [id, resource] = found[0] as [string, { Properties?: Record<string, unknown> }];
  return [id, resource.Properties ?? {}];
}

const batchFunction = () => functionWith({ MODEL_CACHE_DIR: undefined, BATCH_JOBS_TABLE: undefined });
const stepsFunction = () => functionWith({ BATCH_JOBS_TABLE: undefined }, ['MODEL_CACHE_DIR', 'ENDPOINTS']);
// The drift function has ENDPOINTS too (its canary checks); only the control function has MAX_ARTIFACT_BYTES.
const controlFunction = () => functionWith({ ENDPOINTS: undefined, MAX_ARTIFACT_BYTES: undefined });
/** The capture bucket (its access logs go under `capture/`): replays read `capture/` and write `replays/` in it. */
const captureBucket = (template = synth.template) =>
  onlyResource(template, 'AWS::S3::Bucket', { LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'capture/' }) })[0];

function table(design: typeof BATCH_JOBS_TABLE): string {
  const [id] = onlyResource(synth.template, 'AWS::DynamoDB::Table', {
    KeySchema: [
      { AttributeName: design.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: design.sortKey?.name, KeyType: 'RANGE' },
    ],
  });
  return id;
}
const jobTable = () => table(BATCH_JOBS_TABLE);
const registryTable = () =>
  onlyResource(synth.template, 'AWS::DynamoDB::Table', { KeySchema: Match.arrayWith([{ AttributeName: 'pk', KeyType: 'HASH' }]) })[0];

describe('the workflow definition', () => {
  it('is STANDARD, logs every event without execution data to its own log group, and traces as observability.tracing says (off)', () => {
    // Act
    const [, props] = stateMachine();

    // Assess
    expect(props['StateMachineType']).toBe('STANDARD');
    expect(props['TracingConfiguration']).toEqual({ Enabled: false });
    const logs = props['LoggingConfiguration'] as {
      Level: string;
      IncludeExecutionData: boolean;
      Destinations: { CloudWatchLogsLogGroup: { LogGroupArn: unknown } }[];
    };
    expect(logs.Level).toBe('ALL');
    expect(logs.IncludeExecutionData).toBe(false);
    const [logGroup] = onlyResource(synth.template, 'AWS::Logs::LogGroup', {
      LogGroupName: '/aws/vendedlogs/states/OnnxServing-batch-jobs',
    });
    expect(flattenReference(logs.Destinations[0]?.CloudWatchLogsLogGroup.LogGroupArn)).toBe(`<${logGroup}.Arn>`);
    synth.template.hasResource('AWS::Logs::LogGroup', {
      Properties: { LogGroupName: '/aws/vendedlogs/states/OnnxServing-batch-jobs', RetentionInDays: 30 },
      DeletionPolicy: 'Retain',
    });
  });

  it('plans with the steps function, keeping the job at $ and the plan at $.plan; a plan failure is recorded, then the job fails', () => {
    // Prepare
    const [steps] = stepsFunction();

    // Act
    const def = definition();
    const plan = state(def, 'Plan');
    const record = state(def, 'RecordPlanFailure');

    // Assess
    expect(def.StartAt).toBe('Plan');
    expect(plan).toMatchObject({
      Type: 'Task',
      Resource: `<${steps}.Arn>`,
      Parameters: { step: 'plan', 'job.$': '$' },
      ResultPath: '$.plan',
      Next: 'PredictSplits',
    });
    expect(plan.Retry).toEqual(retry(PLAN_RETRY));
    expect(plan.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordPlanFailure' }]);
    expect(record).toMatchObject({
      Type: 'Task',
      Resource: `<${steps}.Arn>`,
      Parameters: { step: 'fail', 'job.$': '$', 'error.$': '$.error' },
      ResultPath: null,
      Next: 'JobFailed',
    });
    expect(record.Retry).toEqual(retry(PLAN_RETRY));
    expect(state(def, 'JobFailed')).toMatchObject({ Type: 'Fail', Error: 'BatchJobFailed' });
  });

  it("PredictSplits is a Distributed Map of EXPRESS children over the plan's splits file (JSONL), batched by the plan, bounded by the job's options", () => {
    // Act
    const map = state(definition(), 'PredictSplits');

    // Assess
    expect(map.Type).toBe('Map');
    expect(map.ItemProcessor?.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' });
    expect(map['ItemReader']).toEqual({
      Resource: 'arn:<AWS::Partition>:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSONL' },
      Parameters: { 'Bucket.$': '$.plan.splits.bucket', 'Key.$': '$.plan.splits.key' },
    });
    expect(map['ItemBatcher']).toEqual({
      MaxItemsPerBatchPath: '$.plan.splitsPerBatch',
      MaxInputBytesPerBatch: 262_144,
      BatchInput: {
        'jobId.$': '$.jobId',
        'model.$': '$.model',
        'version.$': '$.version',
        'format.$': '$.format',
        'output.$': '$.output',
        'columns.$': '$.plan.columns',
      },
    });
    expect(map['MaxConcurrencyPath']).toBe('$.options.maxConcurrency');
    expect(map['ToleratedFailurePercentagePath']).toBe('$.options.toleratedFailurePercentage');
    expect(map).not.toHaveProperty('ItemsPath');
    expect(map).not.toHaveProperty('MaxConcurrency');
  });

  it("writes the Map Run's results to the job folder's _map prefix, keeps its output at $.map, and sends any failure to the assembly at $.mapError", () => {
    // Act
    const def = definition();
    const map = state(def, 'PredictSplits');

    // Assess
    expect(map['ResultWriter']).toEqual({
      Resource: 'arn:<AWS::Partition>:states:::s3:putObject',
      Parameters: { 'Bucket.$': '$.output.bucket', 'Prefix.$': '$.plan.mapResultsPrefix' },
    });
    expect(map.ResultPath).toBe('$.map');
    expect(map.Next).toBe('Assemble');
    expect(map.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.mapError', Next: 'AssembleAfterMapFailure' }]);
  });

  it('each batch invokes the batch function with the whole batch ({Items, BatchInput}), answers its payload, and retries only what may pass', () => {
    // Prepare
    const [batch] = batchFunction();

    // Act
    const processor = state(definition(), 'PredictSplits').ItemProcessor;
    const task = processor ? state(processor, processor.StartAt) : undefined;

    // Assess
    expect(Object.keys(processor?.States ?? {})).toHaveLength(1);
    expect(task).toMatchObject({
      Type: 'Task',
      Resource: 'arn:<AWS::Partition>:states:::lambda:invoke',
      Parameters: { FunctionName: `<${batch}.Arn>`, 'Payload.$': '$' },
      OutputPath: '$.Payload',
      End: true,
    });
    expect(task?.Retry).toEqual(retry(BATCH_RETRY));
    // A refused batch (Batch.TOO_MANY_ROWS, Batch.VERSION_NOT_FOUND, Batch.INPUT_CHANGED) is not retried.
    expect(JSON.stringify(task?.Retry)).not.toMatch(/TOO_MANY_ROWS|VERSION_NOT_FOUND|INPUT_CHANGED|States\.ALL/);
  });

  it('assembles after the map either way, with the map output or its error (never a path that may be absent), then ends on the result', () => {
    // Prepare
    const [steps] = stepsFunction();

    // Act
    const def = definition();
    const assemble = state(def, 'Assemble');
    const afterFailure = state(def, 'AssembleAfterMapFailure');
    const ended = state(def, 'JobEnded?');

    // Assess
    expect(assemble).toMatchObject({ Type: 'Task', Resource: `<${steps}.Arn>`, ResultPath: '$.result', Next: 'JobEnded?' });
    expect(assemble.Parameters).toEqual({ step: 'assemble', 'job.$': '$', 'plan.$': '$.plan', 'map.$': '$.map' });
    expect(afterFailure).toMatchObject({ Type: 'Task', Resource: `<${steps}.Arn>`, ResultPath: '$.result', Next: 'JobEnded?' });
    expect(afterFailure.Parameters).toEqual({ step: 'assemble', 'job.$': '$', 'plan.$': '$.plan', 'mapError.$': '$.mapError' });
    for (const task of [assemble, afterFailure]) expect(task.Retry).toEqual(retry(ASSEMBLE_RETRY));
    expect(ended).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.result.state', StringEquals: 'SUCCEEDED', Next: 'JobSucceeded' }],
      Default: 'JobFailed',
    });
    expect(state(def, 'JobSucceeded').Type).toBe('Succeed');
  });

  it('every transition names a state, and every state is reached from Plan', () => {
    // Act
    const def = definition();
    const targets = (s: AslState) =>
      [s.Next, s.Default, ...(s.Catch ?? []).map((c) => c.Next), ...(s.Choices ?? []).map((c) => c['Next'] as string)].filter(
        (t): t is string => t !== undefined,
      );
    const reached = new Set<string>();
    const visit = (name: string) => {
      if (reached.has(name)) return;
      reached.add(name);
      targets(state(def, name)).forEach(visit);
    };
    visit(def.StartAt);

    // Assess
    expect([...reached].sort()).toEqual(Object.keys(def.States).sort());
    expect(Object.keys(def.States).sort()).toEqual([
      'Assemble',
      'AssembleAfterMapFailure',
      'JobEnded?',
      'JobFailed',
      'JobSucceeded',
      'Plan',
      'PredictSplits',
      'RecordPlanFailure',
    ]);
  });

  it('with observability.tracing on, the state machine is traced too', () => {
    // Act
    const traced = synthesize({ ...BATCH_ENDPOINTS, observability: { tracing: true } }, { bundle: false });

    // Assess
    traced.template.hasResourceProperties('AWS::StepFunctions::StateMachine', { TracingConfiguration: { Enabled: true } });
  });
});

describe('functions, table and outputs', () => {
  it('the batch function: 2048 MB arm64 with the ONNX Runtime layer, 60 s, MAX_ROWS from batch.maxRowsPerBatch, the registry, artifacts and job table named', () => {
    // Prepare
    const [, control] = controlFunction();
    const [bucketId] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });

    // Act
    const [, batch] = batchFunction();

    // Assess
    expect(batch).toMatchObject({ MemorySize: 2048, Timeout: 60, Architectures: ['arm64'] });
    expect(batch['Layers']).toEqual(control['Layers']);
    expect((batch['Environment'] as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      REGISTRY_TABLE: { Ref: registryTable() },
      BATCH_JOBS_TABLE: { Ref: jobTable() },
      ARTIFACT_BUCKET: { Ref: bucketId },
      MAX_ROWS: '2000',
      MODEL_CACHE_DIR: '/tmp/models',
      METRICS_NAMESPACE: 'OnnxServing',
      LOG_LEVEL: 'INFO',
    });
  });

  it('the steps function: 1024 MB, 900 s, the registry and job table named', () => {
    // Act
    const [, steps] = stepsFunction();

    // Assess
    expect(steps).toMatchObject({ MemorySize: 1024, Timeout: 900, Architectures: ['arm64'] });
    expect((steps['Environment'] as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      REGISTRY_TABLE: { Ref: registryTable() },
      BATCH_JOBS_TABLE: { Ref: jobTable() },
    });
  });

  it('the job table is declared from BATCH_JOBS_TABLE: keys, the sparse active index, TTL; no deletion protection (history, like logs), retained', () => {
    synth.template.resourceCountIs('AWS::DynamoDB::Table', 3);
    synth.template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: 'model', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'active',
            KeySchema: [
              { AttributeName: 'activeState', KeyType: 'HASH' },
              { AttributeName: 'submittedAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: false,
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it("the control function is told the table, the state machine, each model's locations (wine has none) and the job limits", () => {
    // Prepare
    const [sm] = stateMachine();

    // Act
    const variables = (controlFunction()[1]['Environment'] as { Variables: Record<string, unknown> }).Variables;

    // Assess
    expect(variables).toMatchObject({
      BATCH_JOBS_TABLE: { Ref: jobTable() },
      BATCH_STATE_MACHINE_ARN: { Ref: sm },
      BATCH_MAX_CONCURRENCY: '50',
      BATCH_MAX_ROWS_PER_BATCH: '2000',
      BATCH_JOB_TTL_DAYS: '30',
    });
    expect(JSON.parse(variables['BATCH_LOCATIONS'] as string)).toEqual({
      iris: { inputs: ['s3://acme-scoring/iris/in/'], outputs: ['s3://acme-scoring/iris/out/'] },
      churn: { inputs: ['s3://crm-exports/', 's3://crm-archive/daily/'], outputs: ['s3://crm-scores/churn/'] },
    });
  });

  it('outputs the state machine ARN and the job table name', () => {
    const [sm] = stateMachine();
    synth.template.hasOutput('BatchStateMachineArn', { Value: { Ref: sm } });
    synth.template.hasOutput('BatchJobsTableName', { Value: { Ref: jobTable() } });
  });

  it("without any endpoint declaring batch locations the workflow is still deployed (replays run on it): the control function is told the table, the state machine and the capture bucket, BATCH_LOCATIONS is {}, and no role may touch S3 outside the product's buckets", () => {
    // Act
    const plain = synthesize(TWO_ENDPOINTS, { bundle: false });

    // Assess
    plain.template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    plain.template.resourceCountIs('AWS::DynamoDB::Table', 3);
    expect(plain.stack.batchJobs.inputs).toEqual([]);
    expect(plain.stack.batchJobs.outputs).toEqual([]);
    const [sm] = onlyResource(plain.template, 'AWS::StepFunctions::StateMachine', {});
    const [, control] = onlyResource(plain.template, 'AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ENDPOINTS: Match.anyValue(), MAX_ARTIFACT_BYTES: Match.anyValue() }) },
    });
    expect((control.Properties?.['Environment'] as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      BATCH_LOCATIONS: '{}',
      BATCH_STATE_MACHINE_ARN: { Ref: sm },
      BATCH_JOBS_TABLE: { Ref: expect.stringMatching(/^TablesBatchJobs/) },
      CAPTURE_BUCKET: { Ref: captureBucket(plain.template) },
    });
    // Every S3 grant names one of the stack's own buckets (a reference), never a literal bucket ARN.
    const roles = Object.keys(resourcesOf(plain.template, 'AWS::IAM::Role'));
    const s3 = roles.flatMap((role) => grantedPairs(statementsOfRole(plain.template, role))).filter((p) => p.startsWith('s3:'));
    expect(s3.length).toBeGreaterThan(0);
    expect(s3.filter((p) => p.includes('arn:<AWS::Partition>:s3:::'))).toEqual([]);
    expect(
      Object.keys(plain.template.toJSON()['Outputs'] as object)
        .filter((k) => k.startsWith('Batch'))
        .sort(),
    ).toEqual(['BatchJobsTableName', 'BatchStateMachineArn']);
  });

  it("refuses to build without the feature flag that keeps the Distributed Map's ResultWriter", () => {
    expect(() =>
      synthesize(BATCH_ENDPOINTS, { bundle: false, context: { '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2': false } }),
    ).toThrow(/Batch jobs need the feature flag "@aws-cdk\/aws-stepfunctions:useDistributedMapResultWriterV2": true/);
  });
});

describe('least privilege: S3 only under the configured batch locations', () => {
  const S3_OBJECT_ACTION = /^s3:(Get|Put|Delete|Abort|ListMultipart)/;
  const WRITE = /^s3:(PutObject|AbortMultipartUpload|ListMultipartUploadParts|Delete)/;

  function s3Pairs(role: string): string[] {
    return grantedPairs(statementsOfRole(synth.template, role)).filter((p) => p.startsWith('s3:'));
  }

  it("the batch function reads inputs, writes outputs, reads the artifacts of the endpoints' models (those with locations, and wine, which may be replayed), and for replays reads capture/ and writes replays/", () => {
    // Prepare
    const [, batch] = batchFunction();
    const [artifacts] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });
    const capture = captureBucket();
    const role = roleOfResource(batch);

    // Act
    const pairs = s3Pairs(role);

    // Assess
    expect(pairs).toEqual(
      [
        ...INPUTS.map((arn) => `s3:GetObject ${arn}`),
        ...OUTPUTS.flatMap((arn) => [`s3:PutObject ${arn}`, `s3:AbortMultipartUpload ${arn}`]),
        ...['iris', 'churn', 'wine'].flatMap((m) => [
          `s3:GetObject <${artifacts}.Arn>/models/${m}/*`,
          `s3:GetObjectVersion <${artifacts}.Arn>/models/${m}/*`,
        ]),
        `s3:GetObject <${capture}.Arn>/capture/*`,
        `s3:PutObject <${capture}.Arn>/replays/*`,
        `s3:ListBucket <${artifacts}.Arn>`,
        `s3:ListBucket <${capture}.Arn>`,
        `s3:ListBucket ${bucket('acme-scoring')}`,
        `s3:ListBucket ${bucket('crm-exports')}`,
        `s3:ListBucket ${bucket('crm-archive')}`,
      ].sort(),
    );
    const lists = statementsOfRole(synth.template, role).filter((s) => s.actions.includes('s3:ListBucket'));
    expect(lists).toEqual(
      expect.arrayContaining([
        { actions: ['s3:ListBucket'], resources: [bucket('acme-scoring')], condition: { StringLike: { 's3:prefix': ['iris/in/*'] } } },
        { actions: ['s3:ListBucket'], resources: [bucket('crm-archive')], condition: { StringLike: { 's3:prefix': ['daily/*'] } } },
        // A whole-bucket location: listing it is not limited to a prefix.
        { actions: ['s3:ListBucket'], resources: [bucket('crm-exports')] },
      ]),
    );
  });

  it('the batch function updates the job table and reads the registry, nothing more in DynamoDB', () => {
    const pairs = grantedPairs(statementsOfRole(synth.template, roleOfResource(batchFunction()[1]))).filter((p) =>
      p.startsWith('dynamodb:'),
    );
    expect(pairs).toEqual([`dynamodb:GetItem <${registryTable()}.Arn>`, `dynamodb:UpdateItem <${jobTable()}.Arn>`]);
  });

  it('the steps function reads inputs and outputs, writes outputs, reads and updates the job table and reads the registry (its replay grants: see "replays")', () => {
    // Act
    const role = roleOfResource(stepsFunction()[1]);
    const pairs = grantedPairs(statementsOfRole(synth.template, role)).filter((p) => !p.includes(`<${captureBucket()}.`));

    // Assess
    expect(pairs.filter((p) => S3_OBJECT_ACTION.test(p))).toEqual(
      [...INPUTS, ...OUTPUTS]
        .map((arn) => `s3:GetObject ${arn}`)
        .concat(OUTPUTS.flatMap((arn) => [`s3:PutObject ${arn}`, `s3:AbortMultipartUpload ${arn}`]))
        .sort(),
    );
    expect(pairs.filter((p) => p.startsWith('s3:ListBucket'))).toEqual(
      ['acme-scoring', 'crm-archive', 'crm-exports', 'crm-scores'].map((b) => `s3:ListBucket ${bucket(b)}`),
    );
    expect(pairs.filter((p) => p.startsWith('dynamodb:'))).toEqual([
      `dynamodb:GetItem <${jobTable()}.Arn>`,
      `dynamodb:GetItem <${registryTable()}.Arn>`,
      `dynamodb:UpdateItem <${jobTable()}.Arn>`,
    ]);
  });

  it('the state machine reads the splits and writes the Map Run results under the outputs only, invokes the two batch functions only, and runs its own child executions', () => {
    // Prepare
    const [sm, props] = stateMachine();
    const [batch] = batchFunction();
    const [steps] = stepsFunction();

    // Act
    const pairs = grantedPairs(statementsOfRole(synth.template, roleOfResource(props)));

    // Assess: the outputs here; the capture bucket's replays/ folders in "replays".
    expect(pairs.filter((p) => p.startsWith('s3:') && !p.includes(`<${captureBucket()}.`))).toEqual(
      OUTPUTS.flatMap((arn) =>
        ['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'].map((a) => `${a} ${arn}`),
      ).sort(),
    );
    expect(pairs.filter((p) => p.startsWith('lambda:'))).toEqual(
      [batch, steps].flatMap((fn) => [`lambda:InvokeFunction <${fn}.Arn>`, `lambda:InvokeFunction <${fn}.Arn>:*`]).sort(),
    );
    const states = pairs.filter((p) => p.startsWith('states:'));
    expect(states).toContain(`states:StartExecution <${sm}>`);
    for (const action of ['states:DescribeExecution', 'states:StopExecution']) {
      expect(states.filter((p) => p.startsWith(`${action} `))).toEqual([expect.stringMatching(new RegExp(`:execution:.*${sm}.*:\\*$`))]);
    }
    // Everything else it holds: log delivery and (with tracing) X-Ray, which have no resource-level permissions.
    expect(pairs.filter((p) => !/^(s3|lambda|states):/.test(p)).every((p) => /^logs:\w+ \*$/.test(p))).toBe(true);
  });

  it('the control function reads inputs (submission checks), writes only presigned uploads under them, reads outputs (links), and drives the state machine only', () => {
    // Prepare
    const [sm] = stateMachine();
    const role = roleOfResource(controlFunction()[1]);

    // Act
    const pairs = grantedPairs(statementsOfRole(synth.template, role));
    const batchS3 = pairs.filter((p) => p.startsWith('s3:') && !p.includes('ArtifactsBucket') && !p.includes('CaptureBucket'));

    // Assess
    expect(batchS3).toEqual(
      [
        ...[...INPUTS, ...OUTPUTS].map((arn) => `s3:GetObject ${arn}`),
        ...['acme-scoring/iris/in/', 'crm-exports/', 'crm-archive/daily/'].map(
          (location) => `s3:PutObject ${objects(`${location}uploads/`)}`,
        ),
        `s3:ListBucket ${bucket('acme-scoring')}`,
        `s3:ListBucket ${bucket('crm-exports')}`,
        `s3:ListBucket ${bucket('crm-archive')}`,
      ].sort(),
    );
    expect(pairs.filter((p) => p.startsWith('states:'))).toEqual([
      `states:DescribeExecution arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${sm}.Name>:*`,
      `states:StartExecution <${sm}>`,
      `states:StopExecution arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${sm}.Name>:*`,
    ]);
    const onJobs = pairs.filter((p) => p.includes(jobTable()));
    expect(onJobs).toEqual(
      ['ConditionCheckItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'].map((a) => `dynamodb:${a} <${jobTable()}.Arn>`),
    );
  });

  it('no role holds an S3 object action on "*" or outside the configured locations (and the artifact and payload buckets), and none may write an input', () => {
    // Prepare: the product's own buckets (their grants are checked in stack.test.ts and data-capture.test.ts) aside.
    const ours = (pair: string) => pair.includes('ArtifactsBucket') || pair.includes('PayloadsBucket') || pair.includes('CaptureBucket');
    const allowed = new Set([...INPUTS, ...OUTPUTS, ...INPUTS.map((arn) => arn.replace(/\*$/, 'uploads/*'))]);
    const uploads = new Set(INPUTS.map((arn) => arn.replace(/\*$/, 'uploads/*')));
    const roles = Object.keys(resourcesOf(synth.template, 'AWS::IAM::Role'));

    // Act
    const pairs = roles.flatMap((role) => grantedPairs(statementsOfRole(synth.template, role)).map((p) => ({ role, pair: p })));
    const objectPairs = pairs.filter(({ pair }) => S3_OBJECT_ACTION.test(pair));

    // Assess
    expect(objectPairs.length).toBeGreaterThan(0);
    for (const { pair } of objectPairs) {
      const resource = pair.split(' ')[1] ?? '';
      expect(resource).not.toBe('*');
      if (!ours(resource)) expect(allowed.has(resource)).toBe(true);
    }
    // Inputs: read only; writing under an input only for the control function's presigned uploads.
    const inputWrites = objectPairs.filter(({ pair }) => WRITE.test(pair) && !ours(pair) && !OUTPUTS.includes(pair.split(' ')[1] ?? ''));
    expect(inputWrites.map(({ pair }) => pair).every((p) => p.startsWith('s3:PutObject ') && uploads.has(p.split(' ')[1] ?? ''))).toBe(
      true,
    );
    expect(new Set(inputWrites.map(({ role }) => role))).toEqual(new Set([roleOfResource(controlFunction()[1])]));
    // Outputs: written by the batch function, the steps function and the state machine.
    for (const props of [batchFunction()[1], stepsFunction()[1], stateMachine()[1]]) {
      const writes = objectPairs.filter(
        ({ role, pair }) => role === roleOfResource(props) && pair.startsWith('s3:PutObject ') && !ours(pair),
      );
      expect(writes.map(({ pair }) => pair.split(' ')[1]).sort()).toEqual([...OUTPUTS].sort());
    }
  });
});

describe("replays: the capture bucket's capture/ and replays/ only, as the code reads and writes them", () => {
  /** IAM's object-ARN matching: `*` matches any run of characters, `/` included. */
  const matches = (arn: string, key: string) =>
    new RegExp(
      `^${arn
        .split('*')
        .map((part) => part.replace(/[.?+^$()[\]{}|\\]/g, '\\$&'))
        .join('.*')}$`,
    ).test(key);
  /**
   * A role's statements cut to their resources in the capture bucket (minimizePolicies merges
   * statements of the same actions across buckets), the bucket written `<capture>`.
   */
  function capturePairs(role: string): GrantedStatement[] {
    const id = captureBucket();
    return statementsOfRole(synth.template, role)
      .map((st) => ({
        ...st,
        resources: st.resources.filter((r) => r.includes(`<${id}.`)).map((r) => r.replace(`<${id}.Arn>`, '<capture>')),
      }))
      .filter((st) => st.resources.length > 0);
  }

  it('the batch function: GetObject on capture/* (ranged reads of a split), listing limited to capture/ (a vanished file is INPUT_CHANGED, not AccessDenied), PutObject on replays/* (parts)', () => {
    const granted = capturePairs(roleOfResource(batchFunction()[1]));
    expect(grantedPairs(granted)).toEqual([
      's3:GetObject <capture>/capture/*',
      's3:ListBucket <capture>',
      's3:PutObject <capture>/replays/*',
    ]);
    expect(granted.filter((st) => st.actions.includes('s3:ListBucket')).map((st) => st.condition)).toEqual([
      { StringLike: { 's3:prefix': ['capture/*'] } },
    ]);
  });

  it('the steps function: GetObject on capture/* (the plan) and replays/* (assembly, report), listing limited to capture/ and replays/, PutObject and AbortMultipartUpload on replays/* (multipart uploads of splits, comparisons, errors)', () => {
    const granted = capturePairs(roleOfResource(stepsFunction()[1]));
    expect(grantedPairs(granted)).toEqual([
      's3:AbortMultipartUpload <capture>/replays/*',
      's3:GetObject <capture>/capture/*',
      's3:GetObject <capture>/replays/*',
      's3:ListBucket <capture>',
      's3:PutObject <capture>/replays/*',
    ]);
    expect(granted.filter((st) => st.actions.includes('s3:ListBucket')).map((st) => st.condition)).toEqual([
      { StringLike: { 's3:prefix': ['capture/*', 'replays/*'] } },
    ]);
  });

  it("the state machine: GetObject on each replay's _plan/ (the ItemReader's splits file), the ResultWriter's actions on its _map/ only", () => {
    const granted = capturePairs(roleOfResource(stateMachine()[1]));
    expect(grantedPairs(granted)).toEqual(
      [
        's3:GetObject <capture>/replays/*/_plan/*',
        ...['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'].map(
          (a) => `${a} <capture>/replays/*/_map/*`,
        ),
      ].sort(),
    );
  });

  it("the patterns cover the keys a replay's job folder holds (ReplayService's folder, the steps' and workers' file names), and the state machine's reach no other file", () => {
    // Prepare: a replay's folder as ReplayService makes it, and what the workflow writes in it.
    const folder = `${REPLAY_ROOT}iris/job-20261130t120501z-7f3k9q2m1x/`;
    const splits = folder + JOB_FILES.splits;
    const mapManifest = `${folder}${JOB_FILES.mapResults}/0f3c-run/manifest.json`;
    const others = [
      partKey(folder, 42),
      folder + JOB_FILES.comparisons,
      folder + JOB_FILES.errors,
      folder + JOB_FILES.manifest,
      folder + JOB_FILES.replayReport,
    ];

    // Act
    const machine = grantedPairs(capturePairs(roleOfResource(stateMachine()[1])));
    const reads = machine.filter((p) => p.startsWith('s3:GetObject ')).map((p) => (p.split(' ')[1] ?? '').replace('<capture>/', ''));
    const writes = machine.filter((p) => p.startsWith('s3:PutObject ')).map((p) => (p.split(' ')[1] ?? '').replace('<capture>/', ''));

    // Assess
    expect(reads.some((arn) => matches(arn, splits))).toBe(true);
    expect(writes.some((arn) => matches(arn, mapManifest))).toBe(true);
    expect(writes.some((arn) => matches(arn, splits))).toBe(false);
    for (const key of others) expect([...reads, ...writes].some((arn) => matches(arn, key))).toBe(false);
    for (const key of [splits, mapManifest, ...others]) expect(matches('replays/*', key)).toBe(true);
  });

  it('the control function reads replays/ (DataCapture.bindControl, test/cdk/data-capture.test.ts) and writes nothing there', () => {
    const pairs = grantedPairs(capturePairs(roleOfResource(controlFunction()[1])));
    expect(pairs.filter((p) => p.includes('/replays/'))).toEqual(['s3:GetObject <capture>/replays/*']);
  });
});

describe('CloudFormation limits', () => {
  it('the three-endpoint stack (batch locations, replays, drift schedules and canary gates on each) stays under 500 resources', () => {
    const resources = Object.keys(synth.template.toJSON()['Resources'] as object);
    expect(resources.length).toBeLessThan(500);
  });
});

describe('cdk-nag', () => {
  it('finds no unacknowledged error or warning with batch jobs deployed', () => {
    // Act
    const report = new AwsSolutionsChecks(synth.app).validateScope(synth.app);

    // Assess
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });

  it('acknowledges on the workflow only its exact wildcard findings, "*" for log delivery, and X-Ray being off (SF2)', () => {
    // Act
    const acks = synth.app.node
      .findAll()
      .filter((c) => c.node.path.startsWith('OnnxServing/BatchJobs/Workflow'))
      .flatMap((c) =>
        c.node.metadata
          .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((entry) =>
            Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ id: id.replace(/^annotation::/i, ''), reason })),
          ),
      );

    // Assess
    // Logical ids (hashed) as <id>; the state machine's name as CDK cuts it from its ARN as <name>.
    const ids = acks.map((a) => a.id.replace(/<[A-Za-z0-9]+(\.[A-Za-z]+)?>/g, '<id>').replace(/\{"Fn::Select".*\}/, '<name>')).sort();
    expect(ids).toEqual(
      [
        'AwsSolutions-IAM5[Resource::*]',
        'AwsSolutions-IAM5[Resource::<id>:*]',
        'AwsSolutions-IAM5[Resource::<id>:*]',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<name>/*:*]',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<name>:*]',
        ...OUTPUTS.map((arn) => `AwsSolutions-IAM5[Resource::${arn}]`),
        'AwsSolutions-IAM5[Resource::<id>/replays/*/_map/*]',
        'AwsSolutions-IAM5[Resource::<id>/replays/*/_plan/*]',
        'AwsSolutions-SF2',
      ].sort(),
    );
    expect(acks.find((a) => a.id === 'AwsSolutions-IAM5[Resource::*]')?.reason).toMatch(/no resource-level permissions/);
    for (const ack of acks) expect(ack.reason.length).toBeGreaterThan(40);
  });
});
