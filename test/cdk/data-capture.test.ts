/**
 * Data capture on AWS (`lib/data-capture.ts`): the capture bucket, the Firehose stream with
 * dynamic partitioning that writes the layout the reader lists, the delivery role, who may put
 * records and who may read them, the `capture` config section, and cdk-nag over the whole app.
 * One synth without bundling (the functions' code is not under test here) is shared by the file.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { captureDate, capturePrefix, captureRecordText, parseCaptureLines } from '../../functions/core/capture.js';
import { NameIndex } from '../../functions/core/codec/limits.js';
import { parseAppConfig, type AppConfigInput } from '../../lib/config.js';
import {
  CAPTURE_DATA_PREFIX,
  CAPTURE_ERROR_OUTPUT_PREFIX,
  CAPTURE_PARTITION_QUERY,
  DataCapture,
  PROFILE_PREFIX,
  REPLAY_PREFIX,
} from '../../lib/data-capture.js';
import { REPLAY_ROOT } from '../../functions/core/replay/service.js';
import { flattenReference } from '../../lib/nag.js';
import { profileKey } from '../../functions/adapters/s3-drift.js';
import {
  endpointFunction,
  grantedPairs,
  onlyResource,
  resourcesOf,
  roleOfResource,
  statementsOfRole,
  synthesize,
  TWO_ENDPOINTS,
  type Synthesized,
  testApp,
} from './helpers.js';

const CONFIG: AppConfigInput = { ...TWO_ENDPOINTS, capture: { retentionDays: 45, bufferSeconds: 120 } };

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize(CONFIG, { bundle: false });
});

type Properties = Record<string, unknown>;

/** The capture bucket: the one whose access logs go under `capture/`. */
function captureBucket(): [string, Properties] {
  const [id, resource] = onlyResource(synth.template, 'AWS::S3::Bucket', {
    LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'capture/' }),
  });
  return [id, resource.Properties ?? {}];
}

function deliveryStream(): [string, Properties & { ExtendedS3DestinationConfiguration: Properties }] {
  const streams = Object.entries(resourcesOf(synth.template, 'AWS::KinesisFirehose::DeliveryStream'));
  expect(streams).toHaveLength(1);
  const [id, resource] = streams[0] as [string, { Properties?: Properties }];
  return [id, resource.Properties as Properties & { ExtendedS3DestinationConfiguration: Properties }];
}

/** The control function (its environment names ENDPOINTS and MAX_ARTIFACT_BYTES; the drift function's has ENDPOINTS too). */
function controlFunction(): [string, Properties] {
  const found = Object.entries(resourcesOf(synth.template, 'AWS::Lambda::Function')).filter(([, r]) => {
    const variables = (r.Properties?.['Environment'] as { Variables?: Properties } | undefined)?.Variables ?? {};
    return 'ENDPOINTS' in variables && 'MAX_ARTIFACT_BYTES' in variables;
  });
  expect(found).toHaveLength(1);
  const [id, resource] = found[0] as [string, { Properties?: Properties }];
  return [id, resource.Properties ?? {}];
}

const variablesOf = (fn: Properties): Properties => (fn['Environment'] as { Variables?: Properties } | undefined)?.Variables ?? {};

describe('the capture bucket', () => {
  it("is encrypted, closed to the public, owner-enforced, not versioned, logs its access beside the others' and is retained", () => {
    // Prepare
    const [logs] = onlyResource(synth.template, 'AWS::S3::Bucket', {
      LoggingConfiguration: Match.absent(),
      VersioningConfiguration: Match.absent(),
    });

    // Act
    const [id, bucket] = captureBucket();

    // Assess
    expect(bucket).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LoggingConfiguration: { DestinationBucketName: { Ref: logs }, LogFilePrefix: 'capture/' },
    });
    expect(bucket['VersioningConfiguration']).toBeUndefined();
    expect(resourcesOf(synth.template, 'AWS::S3::Bucket')[id]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    synth.template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it('denies requests without TLS and with TLS below 1.2', () => {
    const [id] = captureBucket();
    const [, policy] = onlyResource(synth.template, 'AWS::S3::BucketPolicy', { Bucket: { Ref: id } });
    expect(policy.Properties?.['PolicyDocument']).toMatchObject({
      Statement: expect.arrayContaining([
        expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
      ]),
    });
  });

  it("expires captured records (and the records Firehose could not partition) and replays' folders after capture.retentionDays, drift reports after 400 days, unfinished uploads after a day", () => {
    expect(REPLAY_PREFIX).toBe(REPLAY_ROOT);
    expect(captureBucket()[1]['LifecycleConfiguration']).toEqual({
      Rules: [
        { Id: 'ExpireCapture', Prefix: 'capture/', Status: 'Enabled', ExpirationInDays: 45 },
        { Id: 'ExpireCaptureErrors', Prefix: 'capture-errors/', Status: 'Enabled', ExpirationInDays: 45 },
        { Id: 'ExpireDriftReports', Prefix: 'drift/', Status: 'Enabled', ExpirationInDays: 400 },
        { Id: 'ExpireReplays', Prefix: 'replays/', Status: 'Enabled', ExpirationInDays: 45 },
        { Id: 'AbortIncompleteUploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
      ],
    });
  });

  it('is a stack output, and so is the stream', () => {
    synth.template.hasOutput('CaptureBucketName', { Value: { Ref: captureBucket()[0] } });
    synth.template.hasOutput('CaptureStreamName', { Value: { Ref: deliveryStream()[0] } });
  });
});

describe('the Firehose stream', () => {
  it('takes direct puts, encrypted at rest with a key Firehose owns', () => {
    const [, stream] = deliveryStream();
    expect(stream['DeliveryStreamType']).toBe('DirectPut');
    expect(stream['DeliveryStreamEncryptionConfigurationInput']).toEqual({ KeyType: 'AWS_OWNED_CMK' });
  });

  it('writes uncompressed .jsonl objects to the capture bucket, partitioned as capture/model=/version=/date=, failures under capture-errors/', () => {
    // Prepare
    const [bucketId] = captureBucket();
    const [roleId] = onlyResource(synth.template, 'AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'firehose.amazonaws.com' } })] }),
    });

    // Act
    const destination = deliveryStream()[1].ExtendedS3DestinationConfiguration;

    // Assess
    expect(destination).toMatchObject({
      BucketARN: { 'Fn::GetAtt': [bucketId, 'Arn'] },
      RoleARN: { 'Fn::GetAtt': [roleId, 'Arn'] },
      Prefix:
        'capture/model=!{partitionKeyFromQuery:model}/version=!{partitionKeyFromQuery:modelVersion}/date=!{partitionKeyFromQuery:date}/',
      ErrorOutputPrefix: 'capture-errors/!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/',
      CompressionFormat: 'UNCOMPRESSED',
      FileExtension: '.jsonl',
      EncryptionConfiguration: { NoEncryptionConfig: 'NoEncryption' },
      S3BackupMode: 'Disabled',
    });
  });

  it("partitions with a jq 1.6 query of each record's model, modelVersion and UTC date, and adds no delimiter (records end in a line break already)", () => {
    const destination = deliveryStream()[1].ExtendedS3DestinationConfiguration;
    expect(destination['DynamicPartitioningConfiguration']).toEqual({ Enabled: true, RetryOptions: { DurationInSeconds: 300 } });
    expect(destination['ProcessingConfiguration']).toEqual({
      Enabled: true,
      Processors: [
        {
          Type: 'MetadataExtraction',
          Parameters: [
            { ParameterName: 'MetadataExtractionQuery', ParameterValue: '{model:.model,modelVersion:.modelVersion,date:.timestamp[0:10]}' },
            { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
          ],
        },
      ],
    });
  });

  it('buffers each partition 64 MiB (the least dynamic partitioning allows) or capture.bufferSeconds', () => {
    expect(deliveryStream()[1].ExtendedS3DestinationConfiguration['BufferingHints']).toEqual({ IntervalInSeconds: 120, SizeInMBs: 64 });
  });

  it('logs failed deliveries to a log group of its own, kept logRetentionDays', () => {
    // Act
    const logging = deliveryStream()[1].ExtendedS3DestinationConfiguration['CloudWatchLoggingOptions'] as { LogGroupName: { Ref: string } };

    // Assess
    const groupId = logging.LogGroupName.Ref;
    const [streamId] = onlyResource(synth.template, 'AWS::Logs::LogStream', {
      LogGroupName: { Ref: groupId },
      LogStreamName: 'S3Delivery',
    });
    expect(logging).toEqual({ Enabled: true, LogGroupName: { Ref: groupId }, LogStreamName: { Ref: streamId } });
    expect(resourcesOf(synth.template, 'AWS::Logs::LogGroup')[groupId]).toMatchObject({
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: 'Retain',
    });
  });

  it('is created after its role may write to the bucket (Firehose checks its access at creation)', () => {
    const [streamId] = deliveryStream();
    const [policyId] = onlyResource(synth.template, 'AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^CaptureDeliveryRole') }],
    });
    expect(resourcesOf(synth.template, 'AWS::KinesisFirehose::DeliveryStream')[streamId]?.['DependsOn']).toEqual(
      expect.arrayContaining([policyId]),
    );
  });
});

describe('the partition layout is the one the reader lists', () => {
  /** A record as an endpoint builds it: a request served one millisecond before midnight UTC. */
  const line = captureRecordText({
    requestId: 'req-1',
    model: 'churn',
    modelVersion: '12',
    functionVersion: '7',
    timestamp: '2026-11-30T23:59:59.999Z',
    rows: 1,
    layout: { kind: 'inputs', inputs: [{ name: 'x', type: 'float32', shape: [null, 2] }], index: new NameIndex(['x']) },
    feeds: { x: { type: 'float32', shape: [1, 2], data: new Float32Array([0.5, 1.5]) } },
    outputs: { y: { type: 'float32', shape: [1], data: new Float32Array([0.25]) } },
    settings: { drop: [], hash: [], maxRecordBytes: 65_536 },
  });

  it('the query yields exactly the keys the prefix names', () => {
    const queried = [...CAPTURE_PARTITION_QUERY.matchAll(/[{,](\w+):/g)].map((m) => m[1]).sort();
    const named = [...CAPTURE_DATA_PREFIX.matchAll(/!\{partitionKeyFromQuery:(\w+)\}/g)].map((m) => m[1]).sort();
    expect(queried).toEqual(['date', 'model', 'modelVersion']);
    expect(named).toEqual(queried);
  });

  it("the prefix, filled with the record's model, modelVersion and the first 10 characters of its timestamp (what the query reads), is capturePrefix of its model, version and UTC date", () => {
    // Prepare: the record read back as the reader reads it.
    const { records, invalid } = parseCaptureLines(`${line}\n`);
    expect(invalid).toBe(0);
    const [record] = records;
    if (!record) throw new Error('no record');
    const keys: Record<string, string> = { model: record.model, modelVersion: record.modelVersion, date: record.timestamp.slice(0, 10) };

    // Act
    const prefix = CAPTURE_DATA_PREFIX.replace(/!\{partitionKeyFromQuery:(\w+)\}/g, (_, key: string) => keys[key] ?? 'MISSING');

    // Assess: the request's own UTC day, not the day it reached Firehose.
    expect(prefix).toBe(capturePrefix('churn', '12', captureDate(record.timestamp)));
    expect(prefix).toBe('capture/model=churn/version=12/date=2026-11-30/');
  });

  it('the error prefix uses only what Firehose allows there (no partition key)', () => {
    expect(CAPTURE_ERROR_OUTPUT_PREFIX).not.toContain('partitionKeyFrom');
    expect(CAPTURE_ERROR_OUTPUT_PREFIX).toContain('!{firehose:error-output-type}');
    expect(CAPTURE_ERROR_OUTPUT_PREFIX.startsWith('capture/')).toBe(false);
  });
});

describe('least privilege', () => {
  it('the delivery role is assumed by Firehose for this account only, and may write under capture/ and capture-errors/, list the bucket, and log to its one log stream: nothing else', () => {
    // Prepare
    const [bucketId] = captureBucket();
    const [roleId, role] = onlyResource(synth.template, 'AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'firehose.amazonaws.com' } })] }),
    });

    // Act
    const pairs = grantedPairs(statementsOfRole(synth.template, roleId));

    // Assess
    expect(role.Properties?.['AssumeRolePolicyDocument']).toMatchObject({
      Statement: [
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'firehose.amazonaws.com' },
          Condition: { StringEquals: { 'sts:ExternalId': { Ref: 'AWS::AccountId' } } },
        },
      ],
    });
    expect(role.Properties?.['ManagedPolicyArns']).toBeUndefined();
    expect(pairs.filter((p) => !p.startsWith('logs:'))).toEqual([
      `s3:AbortMultipartUpload <${bucketId}.Arn>/capture-errors/*`,
      `s3:AbortMultipartUpload <${bucketId}.Arn>/capture/*`,
      `s3:GetBucketLocation <${bucketId}.Arn>`,
      `s3:ListBucket <${bucketId}.Arn>`,
      `s3:ListBucketMultipartUploads <${bucketId}.Arn>`,
      `s3:PutObject <${bucketId}.Arn>/capture-errors/*`,
      `s3:PutObject <${bucketId}.Arn>/capture/*`,
    ]);
    expect(pairs.filter((p) => p.startsWith('logs:'))).toEqual([
      expect.stringMatching(
        /^logs:PutLogEvents arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<CaptureDeliveryErrors\w+>:log-stream:<CaptureDeliveryErrorStream\w+>$/,
      ),
    ]);
  });

  it.each([['iris'], ['churn']])(
    "%s's function has CAPTURE_STREAM and may put record batches to that stream only, nothing on the capture bucket",
    (model) => {
      // Prepare
      const [streamId] = deliveryStream();
      const [bucketId] = captureBucket();

      // Act
      const [, fn] = endpointFunction(synth.template, model);
      const statements = statementsOfRole(synth.template, roleOfResource(fn));

      // Assess
      expect(variablesOf(fn)['CAPTURE_STREAM']).toEqual({ Ref: streamId });
      expect(variablesOf(fn)).not.toHaveProperty('CAPTURE_BUCKET');
      expect(statements).toContainEqual({ actions: ['firehose:PutRecordBatch'], resources: [`<${streamId}.Arn>`] });
      expect(grantedPairs(statements).filter((p) => p.startsWith('firehose:'))).toEqual([`firehose:PutRecordBatch <${streamId}.Arn>`]);
      expect(JSON.stringify(statements)).not.toContain(bucketId);
    },
  );

  it('the control plane has CAPTURE_BUCKET, reads capture/, reads and writes drift/, reads replays/ (reports, links), lists those three prefixes only; no delete, no write under replays/, nothing on the stream', () => {
    // Prepare
    const [bucketId] = captureBucket();
    const [streamId] = deliveryStream();

    // Act
    const [, control] = controlFunction();
    const statements = statementsOfRole(synth.template, roleOfResource(control));
    // Pairs, not statements: the minimizePolicies flag merges statements with the same actions.
    const onBucket = grantedPairs(statements).filter((p) => p.includes(`<${bucketId}.`));

    // Assess
    expect(variablesOf(control)['CAPTURE_BUCKET']).toEqual({ Ref: bucketId });
    expect(variablesOf(control)).not.toHaveProperty('CAPTURE_STREAM');
    expect(onBucket).toEqual([
      `s3:GetObject <${bucketId}.Arn>/capture/*`,
      `s3:GetObject <${bucketId}.Arn>/drift/*`,
      `s3:GetObject <${bucketId}.Arn>/replays/*`,
      `s3:ListBucket <${bucketId}.Arn>`,
      `s3:PutObject <${bucketId}.Arn>/drift/*`,
    ]);
    const listings = statements.filter((s) => s.actions.includes('s3:ListBucket') && s.resources.includes(`<${bucketId}.Arn>`));
    expect(listings.map((s) => s.condition)).toEqual([{ StringLike: { 's3:prefix': ['capture/*', 'drift/*', 'replays/*'] } }]);
    expect(JSON.stringify(statements)).not.toContain(streamId);
    expect(JSON.stringify(statements)).not.toMatch(/firehose:/);
  });

  it('the control plane reads and writes reference profiles under profiles/ in the artifact bucket (where S3ReferenceProfileStore keeps them), and may list that prefix', () => {
    // Prepare
    const [artifacts] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });
    const [, control] = controlFunction();

    // Act
    const statements = statementsOfRole(synth.template, roleOfResource(control));
    const onProfiles = grantedPairs(statements).filter((p) => p.includes('/profiles/'));
    const listings = statements
      .filter((s) => s.actions.includes('s3:ListBucket') && s.resources.includes(`<${artifacts}.Arn>`))
      .map((s) => s.condition);

    // Assess
    expect(profileKey('iris', '3').startsWith(PROFILE_PREFIX)).toBe(true);
    expect(onProfiles).toEqual([`s3:GetObject <${artifacts}.Arn>/profiles/*`, `s3:PutObject <${artifacts}.Arn>/profiles/*`]);
    expect(listings).toContainEqual({ StringLike: { 's3:prefix': ['profiles/*'] } });
  });

  it("no role but the delivery role, the endpoints', the control plane's, the drift run's and the batch workflow's (replays) may touch the stream or the capture bucket, and no other function is told their names", () => {
    // Prepare
    const [bucketId] = captureBucket();
    const [streamId] = deliveryStream();
    const [deliveryRole] = onlyResource(synth.template, 'AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'firehose.amazonaws.com' } })] }),
    });
    const [irisId, iris] = endpointFunction(synth.template, 'iris');
    const [churnId, churn] = endpointFunction(synth.template, 'churn');
    const [controlId, control] = controlFunction();
    // The scheduled drift run reads captures and writes reports too (test/cdk/drift-schedule.test.ts).
    const [driftId, drift] = onlyResource(synth.template, 'AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Scheduled drift detection'),
    });
    // Replays run on the batch workflow: its batch and steps functions and its state machine (test/cdk/batch-jobs.test.ts).
    const batchRoles = [
      ...Object.values(
        synth.template.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^Batch jobs: ') } }),
      ).map((fn) => roleOfResource(fn.Properties)),
      roleOfResource(onlyResource(synth.template, 'AWS::StepFunctions::StateMachine', {})[1].Properties),
    ];
    expect(batchRoles).toHaveLength(3);
    const allowedRoles = [
      deliveryRole,
      roleOfResource(iris),
      roleOfResource(churn),
      roleOfResource(control),
      roleOfResource(drift.Properties),
      ...batchRoles,
    ].sort();

    // Act
    const touching = Object.values(resourcesOf(synth.template, 'AWS::IAM::Policy'))
      .filter((policy) => {
        const document = JSON.stringify(policy.Properties?.['PolicyDocument']);
        return document.includes(`"${bucketId}"`) || document.includes(`"${streamId}"`);
      })
      .flatMap((policy) => (policy.Properties?.['Roles'] as { Ref: string }[]).map((role) => role.Ref));
    const told = Object.entries(resourcesOf(synth.template, 'AWS::Lambda::Function'))
      .filter(([, fn]) => JSON.stringify(variablesOf(fn.Properties ?? {})).match(new RegExp(`"(${bucketId}|${streamId})"`)))
      .map(([id]) => id);

    // Assess
    expect([...new Set(touching)].sort()).toEqual(allowedRoles);
    expect(told.sort()).toEqual([irisId, churnId, controlId, driftId].sort());
  });
});

describe('cdk-nag', () => {
  interface Acknowledgment {
    readonly path: string;
    readonly id: string;
    readonly reason: string;
  }

  function acknowledgments(root: IConstruct): Acknowledgment[] {
    return root.node.findAll().flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) =>
          Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
            path: construct.node.path,
            id: id.replace(/^annotation::/i, ''),
            reason,
          })),
        ),
    );
  }

  it('finds no unacknowledged error or warning in the app with data capture', () => {
    // Act
    const report = new AwsSolutionsChecks(synth.app).validateScope(synth.app);

    // Assess
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });

  it('acknowledges on the capture resources only the two object prefixes the delivery role writes, and on the control role only its capture/, drift/, replays/ and profiles/ grants', () => {
    // Act
    const acks = acknowledgments(synth.app);
    const delivery = acks.filter((a) => a.path.startsWith('OnnxServing/Capture/'));
    const control = acks.filter((a) => a.path === 'OnnxServing/ControlPlane/Control/Role' && /capture|drift|replays|profiles/.test(a.id));

    // Assess
    expect(delivery.map((a) => [a.path, a.id.replace(/<[\w.]+>/g, '<id>')]).sort()).toEqual([
      ['OnnxServing/Capture/DeliveryPolicy', 'AwsSolutions-IAM5[Resource::<id>/capture-errors/*]'],
      ['OnnxServing/Capture/DeliveryPolicy', 'AwsSolutions-IAM5[Resource::<id>/capture/*]'],
    ]);
    expect(control.map((a) => a.id.replace(/<[\w.]+>/g, '<id>')).sort()).toEqual([
      'AwsSolutions-IAM5[Resource::<id>/capture/*]',
      'AwsSolutions-IAM5[Resource::<id>/drift/*]',
      'AwsSolutions-IAM5[Resource::<id>/profiles/*]',
      'AwsSolutions-IAM5[Resource::<id>/replays/*]',
    ]);
    for (const ack of [...delivery, ...control]) expect(ack.reason.length).toBeGreaterThan(40);
  });
});

describe('the capture config', () => {
  const base = { auth: TWO_ENDPOINTS.auth, endpoints: [{ model: 'iris' }] };

  it('defaults to 30 days of retention and 60 s of buffering', () => {
    expect(parseAppConfig(base).capture).toEqual({ retentionDays: 30, bufferSeconds: 60 });
  });

  it('accepts the bounds: 1 and 3650 days, 60 and 900 s', () => {
    expect(parseAppConfig({ ...base, capture: { retentionDays: 1, bufferSeconds: 60 } }).capture).toEqual({
      retentionDays: 1,
      bufferSeconds: 60,
    });
    expect(parseAppConfig({ ...base, capture: { retentionDays: 3650, bufferSeconds: 900 } }).capture).toEqual({
      retentionDays: 3650,
      bufferSeconds: 900,
    });
  });

  it.each([
    [{ retentionDays: 0 }, /capture\.retentionDays: must be 1 or more days/],
    [{ retentionDays: 3651 }, /capture\.retentionDays: must be at most 3650 days/],
    [{ retentionDays: 1.5 }, /capture\.retentionDays: must be a whole number of days/],
    [{ retentionDays: '30' }, /capture\.retentionDays: must be a whole number of days/],
    [
      { bufferSeconds: 59 },
      /capture\.bufferSeconds: must be at least 60 seconds \(Firehose's least buffering interval with dynamic partitioning\)/,
    ],
    [{ bufferSeconds: 901 }, /capture\.bufferSeconds: must be at most 900 seconds/],
    [{ enabled: false }, /capture\.enabled: unknown field/],
  ])('refuses %j, naming the field', (capture, message) => {
    expect(() => parseAppConfig({ ...base, capture })).toThrow(message);
  });

  it('the construct refuses the same bad values when built directly', () => {
    // Prepare
    const stack = new Stack(testApp(), 'Direct');
    const accessLogs = new Bucket(stack, 'Logs');
    const build = (id: string, config: { retentionDays: number; bufferSeconds: number }) => () =>
      new DataCapture(stack, id, { config, accessLogs, logRetention: RetentionDays.ONE_WEEK });

    // Assess
    expect(build('A', { retentionDays: 30, bufferSeconds: 30 })).toThrow(/bufferSeconds must be a whole number of seconds from 60 to 900/);
    expect(build('B', { retentionDays: 0, bufferSeconds: 60 })).toThrow(/retentionDays must be a whole number of days from 1 to 3650/);
    expect(build('C', { retentionDays: 7, bufferSeconds: 900 })).not.toThrow();
    expect(
      flattenReference(
        stack.resolve(
          new DataCapture(stack, 'D', { config: { retentionDays: 7, bufferSeconds: 61 }, accessLogs, logRetention: RetentionDays.ONE_WEEK })
            .streamName,
        ),
      ),
    ).toMatch(/^<DStream\w+>$/);
  });
});
