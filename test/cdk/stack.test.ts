/**
 * The synthesized stack with two endpoints (iris on arm64, churn on x86_64): storage settings,
 * functions and their layers, alias `live`, per-version alarms, dashboards, and least-privilege
 * IAM. One synth (one bundle of each function) is shared by every test in the file.
 */
import { Capture, Match } from 'aws-cdk-lib/assertions';
import { PREDICTION_LOG_TABLE, REGISTRY_TABLE, type TableDesign } from '../../functions/adapters/tables.js';
import { maxArtifactBytesFor } from '../../lib/control-plane.js';
import { flattenReference } from '../../lib/nag.js';
import {
  dashboardWidgets,
  errorsAlarmOf,
  graphedExpressions,
  graphedMetrics,
  joinedText,
  liveVersionOf,
  onlyResource,
  queriesById,
  resourcesOf,
  synthesize,
  TWO_ENDPOINTS,
  type Synthesized,
  type TemplateMetricQuery,
} from './helpers.js';

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize(TWO_ENDPOINTS);
});

/** The CloudFormation a table design must become (keys, indexes, TTL), built from the design itself. */
function expectedTable(design: TableDesign) {
  const keys = (pk: { name: string }, sk?: { name: string }) => [
    { AttributeName: pk.name, KeyType: 'HASH' },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' }] : []),
  ];
  return {
    KeySchema: keys(design.partitionKey, design.sortKey),
    GlobalSecondaryIndexes: design.globalSecondaryIndexes.map((index) => ({
      IndexName: index.indexName,
      KeySchema: keys(index.partitionKey, index.sortKey),
      Projection: { ProjectionType: index.projection },
    })),
    BillingMode: 'PAY_PER_REQUEST',
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    SSESpecification: { SSEEnabled: true },
    ...(design.timeToLiveAttribute ? { TimeToLiveSpecification: { AttributeName: design.timeToLiveAttribute, Enabled: true } } : {}),
  };
}

function functionServing(model: string): [string, Record<string, unknown>] {
  const [id, resource] = onlyResource(synth.template, 'AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ SERVED_MODEL: model }) },
  });
  return [id, resource.Properties ?? {}];
}

function controlFunction(): [string, Record<string, unknown>] {
  const found = Object.entries(resourcesOf(synth.template, 'AWS::Lambda::Function')).filter(([, r]) => {
    const variables = (r.Properties?.['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    // The drift function has ENDPOINTS too (its canary checks); only the control plane registers artifacts.
    return 'ENDPOINTS' in variables && 'MAX_ARTIFACT_BYTES' in variables;
  });
  expect(found).toHaveLength(1);
  const [id, resource] = found[0] as [string, { Properties?: Record<string, unknown> }];
  return [id, resource.Properties ?? {}];
}

/** The pre-traffic hook functions (their environment names the registry table only). */
function hookFunctions() {
  return synth.template.findResources('AWS::Lambda::Function', {
    Properties: { Environment: { Variables: Match.objectEquals({ NODE_OPTIONS: Match.anyValue(), REGISTRY_TABLE: Match.anyValue() }) } },
  });
}

/** The post-traffic hook function, by its construct path (`ReleaseHook/PostTrafficHook`). */
function postHookFunction(): [string, Record<string, unknown>] {
  const found = Object.entries(resourcesOf(synth.template, 'AWS::Lambda::Function')).filter(([id]) =>
    id.startsWith('ReleaseHookPostTrafficHookFunction'),
  );
  expect(found).toHaveLength(1);
  const [id, resource] = found[0] as [string, { Properties?: Record<string, unknown> }];
  return [id, resource.Properties ?? {}];
}

function logicalIdOfRef(value: unknown): string {
  const ref = (value as { Ref?: unknown }).Ref;
  if (typeof ref !== 'string') throw new Error(`not a Ref: ${JSON.stringify(value)}`);
  return ref;
}

describe('tables', () => {
  it('the registry table is declared from REGISTRY_TABLE: keys and index as designed, on-demand, PITR, encrypted, retained', () => {
    // Assess: the expected properties come from the design the adapters and the local stack use.
    synth.template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({ ...expectedTable(REGISTRY_TABLE), DeletionProtectionEnabled: true }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('the prediction-log table is declared from PREDICTION_LOG_TABLE, with TTL on its expiry attribute', () => {
    expect(PREDICTION_LOG_TABLE.timeToLiveAttribute).toBe('expiresAt');
    synth.template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike(expectedTable(PREDICTION_LOG_TABLE)),
      DeletionPolicy: 'Retain',
    });
  });

  it('there are exactly three tables: these two and the batch-job table (replays run on the batch workflow; test/cdk/batch-jobs.test.ts)', () => {
    synth.template.resourceCountIs('AWS::DynamoDB::Table', 3);
  });
});

describe('artifact bucket', () => {
  it('is versioned, encrypted, closed to the public, logs its access and is retained', () => {
    const [, logs] = onlyResource(synth.template, 'AWS::S3::Bucket', {
      LifecycleConfiguration: Match.anyValue(),
      OwnershipControls: Match.anyValue(),
      VersioningConfiguration: Match.absent(),
      LoggingConfiguration: Match.absent(),
    });
    expect(logs.Properties).toBeDefined();
    synth.template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LoggingConfiguration: { DestinationBucketName: { Ref: Match.anyValue() }, LogFilePrefix: 'artifacts/' },
      }),
      DeletionPolicy: 'Retain',
    });
  });

  it('expires uploads/ after a day (current and noncurrent versions, incomplete multipart uploads, delete markers) and nothing under models/', () => {
    const [, bucket] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });
    expect(bucket.Properties?.['LifecycleConfiguration']).toEqual({
      Rules: [
        {
          Id: 'ExpireUploads',
          Prefix: 'uploads/',
          Status: 'Enabled',
          ExpirationInDays: 1,
          NoncurrentVersionExpiration: { NoncurrentDays: 1 },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        },
        { Id: 'RemoveUploadDeleteMarkers', Prefix: 'uploads/', Status: 'Enabled', ExpiredObjectDeleteMarker: true },
      ],
    });
  });

  it("the control plane's largest model file is a quarter of its memory, at most 250 MB", () => {
    const [, control] = controlFunction();
    expect((control['Environment'] as { Variables: Record<string, unknown> }).Variables['MAX_ARTIFACT_BYTES']).toBe(String(250_000_000));
    expect(maxArtifactBytesFor(512)).toBe(134_217_728);
    expect(maxArtifactBytesFor(10_240)).toBe(250_000_000);
  });

  it('every bucket (artifacts, payloads, capture, access logs) denies requests without TLS and TLS below 1.2', () => {
    const policies = resourcesOf(synth.template, 'AWS::S3::BucketPolicy');
    expect(Object.keys(policies)).toHaveLength(4);
    for (const policy of Object.values(policies)) {
      expect(policy.Properties?.['PolicyDocument']).toMatchObject({
        Statement: expect.arrayContaining([
          expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      });
    }
  });

  it('the access-log bucket is encrypted, private and expires logs', () => {
    synth.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 365, Status: 'Enabled' })] },
    });
  });
});

/** The payload bucket: the one bucket whose access logs go under `payloads/`. */
function payloadBucket(): [string, Record<string, unknown>] {
  const [id, resource] = onlyResource(synth.template, 'AWS::S3::Bucket', {
    LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'payloads/' }),
  });
  return [id, resource.Properties ?? {}];
}

describe('payload bucket', () => {
  it("is encrypted, closed to the public, owner-enforced, not versioned, logs its access beside the artifacts' and is retained", () => {
    const [logs] = onlyResource(synth.template, 'AWS::S3::Bucket', {
      LoggingConfiguration: Match.absent(),
      VersioningConfiguration: Match.absent(),
    });
    const [id, bucket] = payloadBucket();
    expect(bucket).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LoggingConfiguration: { DestinationBucketName: { Ref: logs }, LogFilePrefix: 'payloads/' },
    });
    expect(bucket['VersioningConfiguration']).toBeUndefined();
    expect(resourcesOf(synth.template, 'AWS::S3::Bucket')[id]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('expires every object, and every unfinished multipart upload, after a day', () => {
    expect(payloadBucket()[1]['LifecycleConfiguration']).toEqual({
      Rules: [{ Id: 'ExpirePayloads', Status: 'Enabled', ExpirationInDays: 1, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }],
    });
  });

  it('has no auto-delete (no custom resource that may delete every object of a bucket)', () => {
    synth.template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it("is named in every endpoint function's PAYLOAD_BUCKET, and in no other function's environment", () => {
    const [id] = payloadBucket();
    const withIt = Object.entries(resourcesOf(synth.template, 'AWS::Lambda::Function')).filter(([, fn]) =>
      JSON.stringify(fn.Properties?.['Environment'] ?? {}).includes(`"${id}"`),
    );
    expect(withIt.map(([fnId]) => fnId).sort()).toEqual([functionServing('iris')[0], functionServing('churn')[0]].sort());
    for (const [, fn] of withIt) expect(fn.Properties?.['Environment']).toMatchObject({ Variables: { PAYLOAD_BUCKET: { Ref: id } } });
  });

  it('is a stack output', () => {
    const [id] = payloadBucket();
    synth.template.hasOutput('PayloadBucketName', { Value: { Ref: id } });
  });
});

describe('endpoint functions and the ONNX Runtime layer', () => {
  it.each([
    ['iris', 'arm64', 2048, '500'],
    ['churn', 'x86_64', 3008, '1000'],
  ])('%s runs on %s with the layer built for %s, nodejs22.x, ESM bundle and its own config', (model, arch, memory, maxRows) => {
    // Act
    const [, fn] = functionServing(model);

    // Assess
    expect(fn).toMatchObject({
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      Architectures: [arch],
      MemorySize: memory,
      Timeout: 29,
      Environment: {
        Variables: expect.objectContaining({ SERVED_MODEL: model, MAX_ROWS: maxRows, MAX_BODY_BYTES: '6000000', LOG_TTL_DAYS: '30' }),
      },
    });
    const layers = fn['Layers'] as unknown[];
    expect(layers).toHaveLength(1);
    const layer = resourcesOf(synth.template, 'AWS::Lambda::LayerVersion')[logicalIdOfRef(layers[0])];
    expect(layer?.Properties).toMatchObject({ CompatibleArchitectures: [arch], CompatibleRuntimes: ['nodejs22.x'], LicenseInfo: 'MIT' });
  });

  it('there is one layer per architecture in use, each declaring only its own architecture', () => {
    const layers = Object.values(resourcesOf(synth.template, 'AWS::Lambda::LayerVersion')).map(
      (l) => l.Properties?.['CompatibleArchitectures'],
    );
    expect(layers).toEqual(expect.arrayContaining([['arm64'], ['x86_64']]));
    expect(layers).toHaveLength(2);
  });

  it('the control-plane function has the layer too (it loads models at registration) on its own architecture', () => {
    const [, fn] = controlFunction();
    expect(fn['Architectures']).toEqual(['arm64']);
    const layer = resourcesOf(synth.template, 'AWS::Lambda::LayerVersion')[logicalIdOfRef((fn['Layers'] as unknown[])[0])];
    expect(layer?.Properties?.['CompatibleArchitectures']).toEqual(['arm64']);
  });

  it("every serving function's environment names the tables and bucket of this stack (the authorizer's names none)", () => {
    const [registry] = onlyResource(synth.template, 'AWS::DynamoDB::Table', {
      KeySchema: Match.arrayWith([{ AttributeName: 'pk', KeyType: 'HASH' }]),
    });
    const [logs] = onlyResource(synth.template, 'AWS::DynamoDB::Table', { KeySchema: expectedTable(PREDICTION_LOG_TABLE).KeySchema });
    const [bucket] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });
    const [authorizerId, authorizer] = onlyResource(synth.template, 'AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ JWT_ISSUER: Match.anyValue() }) },
    });
    expect(JSON.stringify(authorizer.Properties?.['Environment'])).not.toMatch(/TABLE|BUCKET/);
    const hooks = [...Object.keys(hookFunctions()), postHookFunction()[0]];
    for (const [id, fn] of Object.entries(resourcesOf(synth.template, 'AWS::Lambda::Function'))) {
      if (id === authorizerId || hooks.includes(id)) continue;
      // The batch workflow's functions name what they use (test/cdk/batch-jobs.test.ts).
      if (String(fn.Properties?.['Description']).startsWith('Batch jobs: ')) continue;
      // The scheduled drift function reads no prediction log (test/cdk/drift-schedule.test.ts).
      if (String(fn.Properties?.['Description']).startsWith('Scheduled drift detection')) {
        expect(fn.Properties?.['Environment']).toMatchObject({
          Variables: { REGISTRY_TABLE: { Ref: registry }, ARTIFACT_BUCKET: { Ref: bucket } },
        });
        continue;
      }
      expect(fn.Properties?.['Environment']).toMatchObject({
        Variables: { REGISTRY_TABLE: { Ref: registry }, PREDICTION_LOG_TABLE: { Ref: logs }, ARTIFACT_BUCKET: { Ref: bucket } },
      });
    }
  });

  it('each function logs to its own log group, kept for the configured 30 days', () => {
    const groups = resourcesOf(synth.template, 'AWS::Logs::LogGroup');
    for (const fn of Object.values(resourcesOf(synth.template, 'AWS::Lambda::Function'))) {
      const group = (fn.Properties?.['LoggingConfig'] as { LogGroup?: unknown }).LogGroup;
      expect(groups[logicalIdOfRef(group)]?.Properties).toMatchObject({ RetentionInDays: 30 });
    }
  });

  it('reserved concurrency is set where configured (churn) and only there', () => {
    expect(functionServing('churn')[1]['ReservedConcurrentExecutions']).toBe(20);
    expect(functionServing('iris')[1]['ReservedConcurrentExecutions']).toBeUndefined();
  });
});

describe('alias live and its alarms', () => {
  it.each([['iris'], ['churn']])('%s has alias live on the version this deployment publishes', (model) => {
    // Prepare
    const [fnId] = functionServing(model);
    const version = new Capture();

    // Assess
    synth.template.hasResourceProperties('AWS::Lambda::Alias', {
      Name: 'live',
      FunctionName: { Ref: fnId },
      FunctionVersion: { 'Fn::GetAtt': [version, 'Version'] },
    });
    expect(resourcesOf(synth.template, 'AWS::Lambda::Version')[version.asString()]?.Properties).toMatchObject({
      FunctionName: { Ref: fnId },
    });
  });

  it('provisioned concurrency sits on alias live where configured', () => {
    const [churnFn] = functionServing('churn');
    const [irisFn] = functionServing('iris');
    synth.template.hasResourceProperties('AWS::Lambda::Alias', {
      FunctionName: { Ref: churnFn },
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 2 },
    });
    synth.template.hasResourceProperties('AWS::Lambda::Alias', {
      FunctionName: { Ref: irisFn },
      ProvisionedConcurrencyConfig: Match.absent(),
    });
  });

  /** Lambda's dimensions of the traffic alias live sends to the version this deployment publishes. */
  const aliasDimensions = (fnId: string, versionId: string) => [
    { Name: 'ExecutedVersion', Value: { 'Fn::GetAtt': [versionId, 'Version'] } },
    { Name: 'FunctionName', Value: { Ref: fnId } },
    { Name: 'Resource', Value: { 'Fn::Join': ['', [{ Ref: fnId }, ':live']] } },
  ];

  it.each([
    ['iris', 5, 20, 60, 3],
    ['churn', 2.5, 50, 120, 2],
  ])(
    "%s: the errors alarm is the new version's failure rate: answered 5xx (EMF) plus Lambda Errors, in percent of its invocations through alias live, judged from minInvocations on",
    (model, percent, minInvocations, period, periods) => {
      // Prepare: the function and the version alias live points to.
      const [fnId] = functionServing(model);
      const versionId = liveVersionOf(synth.template, fnId);

      // Act
      const [, alarm] = errorsAlarmOf(synth.template, model);
      const queries = queriesById(alarm.Metrics);

      // Assess: one metric-math alarm, nothing at the top level a math alarm may not have.
      expect(alarm).toMatchObject({
        Threshold: percent,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: periods,
        DatapointsToAlarm: periods,
        TreatMissingData: 'notBreaching',
      });
      for (const field of ['Namespace', 'MetricName', 'Dimensions', 'Period', 'Statistic', 'ExtendedStatistic', 'Unit'])
        expect(alarm).not.toHaveProperty(field);
      const returned = alarm.Metrics.filter((q) => q.ReturnData === true);
      expect(returned).toHaveLength(1);
      expect(returned[0]?.Expression).toBe(
        `IF(FILL(invocations, 0) >= ${minInvocations}, 100 * (FILL(serverErrors, 0) + FILL(lambdaErrors, 0)) / FILL(invocations, 0), 0)`,
      );
      expect(queries['serverErrors']).toEqual({
        Id: 'serverErrors',
        ReturnData: false,
        MetricStat: {
          Metric: {
            Namespace: 'OnnxServing',
            MetricName: 'Invocation5XXErrors',
            Dimensions: expect.arrayContaining([
              { Name: 'Model', Value: model },
              { Name: 'FunctionVersion', Value: { 'Fn::GetAtt': [versionId, 'Version'] } },
            ]),
          },
          Period: period,
          Stat: 'Sum',
        },
      });
      expect(queries['serverErrors']?.MetricStat?.Metric.Dimensions).toHaveLength(2);
      for (const [id, metricName] of [
        ['lambdaErrors', 'Errors'],
        ['invocations', 'Invocations'],
      ] as const) {
        expect(queries[id]).toEqual({
          Id: id,
          ReturnData: false,
          MetricStat: {
            Metric: { Namespace: 'AWS/Lambda', MetricName: metricName, Dimensions: aliasDimensions(fnId, versionId) },
            Period: period,
            Stat: 'Sum',
          },
        });
      }
      // The expression reads exactly the three metrics, and nothing else.
      const identifiers = new Set((returned[0]?.Expression ?? '').match(/\b[a-z][A-Za-z0-9_]*\b/g));
      expect(identifiers).toEqual(new Set(['invocations', 'serverErrors', 'lambdaErrors']));
      expect(alarm.Metrics).toHaveLength(4);
    },
  );

  it.each([
    ['iris', 1000, 60, 3],
    ['churn', 800, 120, 2],
  ])(
    "%s: the latency alarm watches Lambda's p99 Duration of the new version through alias live (timeouts included)",
    (model, threshold, period, periods) => {
      const [fnId] = functionServing(model);
      const versionId = liveVersionOf(synth.template, fnId);

      synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Duration',
        ExtendedStatistic: 'p99',
        Statistic: Match.absent(),
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        Period: period,
        EvaluationPeriods: periods,
        DatapointsToAlarm: periods,
        TreatMissingData: 'notBreaching',
        Dimensions: Match.arrayEquals(aliasDimensions(fnId, versionId)),
      });
    },
  );

  it('has exactly two alarms per endpoint, each on the version this deployment publishes (none on the alias as a whole)', () => {
    // Prepare: the release alarms (each model's drift and canary alarms are test/cdk/drift-schedule.test.ts's).
    const alarms = Object.values(resourcesOf(synth.template, 'AWS::CloudWatch::Alarm')).filter(
      (a) => !['DriftedFeatures', 'CanaryPredictionShift'].includes(String(a.Properties?.['MetricName'])),
    );
    const versions = new Set(['iris', 'churn'].map((model) => liveVersionOf(synth.template, functionServing(model)[0])));

    // Act: the version dimensions of each alarm's metric, or of every metric of its math.
    const watched = alarms.map((alarm) => {
      const metrics = (alarm.Properties?.['Metrics'] as TemplateMetricQuery[] | undefined)?.flatMap((q) =>
        q.MetricStat ? [q.MetricStat.Metric.Dimensions] : [],
      );
      const dimensionSets = metrics ?? [alarm.Properties?.['Dimensions'] as { Name: string; Value: unknown }[]];
      return dimensionSets.map((dimensions) => {
        const version = dimensions.filter((d) => d.Name === 'ExecutedVersion' || d.Name === 'FunctionVersion');
        expect(version).toHaveLength(1);
        return (version[0]?.Value as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      });
    });

    // Assess
    expect(alarms).toHaveLength(4);
    for (const ids of watched) {
      expect(new Set(ids).size).toBe(1);
      expect(versions.has(ids[0] ?? '')).toBe(true);
    }
  });
});

describe('releases: CodeDeploy on alias live', () => {
  function groupOf(model: 'Iris' | 'Churn'): [string, Record<string, unknown>] {
    const [id, group] = onlyResource(synth.template, 'AWS::CodeDeploy::DeploymentGroup', {
      ApplicationName: { Ref: Match.stringLikeRegexp(`^Release${model}Application`) },
    });
    return [id, group.Properties ?? {}];
  }

  it('one Lambda application and deployment group per endpoint', () => {
    synth.template.resourceCountIs('AWS::CodeDeploy::Application', 2);
    synth.template.resourceCountIs('AWS::CodeDeploy::DeploymentGroup', 2);
    synth.template.hasResourceProperties('AWS::CodeDeploy::Application', { ComputePlatform: 'Lambda' });
  });

  it.each([
    ['Iris', 'iris'],
    ['Churn', 'churn'],
  ] as const)(
    "%s's group watches its endpoint's two per-version alarms and its canary alarm, and rolls back on a failed, stopped or alarmed deployment",
    (construct, model) => {
      // Prepare: the endpoint's alarms (ExecutedVersion on alias live of this model's function).
      const [fnId] = functionServing(model);
      const alarms = Object.entries(resourcesOf(synth.template, 'AWS::CloudWatch::Alarm'))
        .filter(([, a]) => JSON.stringify(a.Properties).includes(`"Ref":"${fnId}"`))
        .map(([id]) => id);
      expect(alarms).toHaveLength(2);
      // The distribution gate's alarm on the model (test/cdk/drift-schedule.test.ts).
      const [canary] = onlyResource(synth.template, 'AWS::CloudWatch::Alarm', {
        MetricName: 'CanaryPredictionShift',
        Dimensions: [{ Name: 'Model', Value: model }],
      });

      // Act
      const [, group] = groupOf(construct);

      // Assess
      expect(group['DeploymentStyle']).toEqual({ DeploymentType: 'BLUE_GREEN', DeploymentOption: 'WITH_TRAFFIC_CONTROL' });
      expect(group['AutoRollbackConfiguration']).toEqual({
        Enabled: true,
        Events: expect.arrayContaining(['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_REQUEST', 'DEPLOYMENT_STOP_ON_ALARM']),
      });
      const watched = group['AlarmConfiguration'] as { Enabled: boolean; Alarms: { Name: { Ref: string } }[] };
      expect(watched.Enabled).toBe(true);
      expect(watched.Alarms.map((a) => a.Name.Ref).sort()).toEqual([...alarms, canary].sort());
    },
  );

  it("iris uses CodeDeploy's predefined canary 10% for 5 minutes (the default); churn's linear 20%/15 min gets its own configuration", () => {
    expect(groupOf('Iris')[1]['DeploymentConfigName']).toBe('CodeDeployDefault.LambdaCanary10Percent5Minutes');
    const [configId, config] = onlyResource(synth.template, 'AWS::CodeDeploy::DeploymentConfig', { ComputePlatform: 'Lambda' });
    expect(config.Properties?.['TrafficRoutingConfig']).toEqual({
      Type: 'TimeBasedLinear',
      TimeBasedLinear: { LinearInterval: 15, LinearPercentage: 20 },
    });
    expect(groupOf('Churn')[1]['DeploymentConfigName']).toEqual({ Ref: configId });
  });

  it.each([
    ['Iris', 'iris'],
    ['Churn', 'churn'],
  ] as const)(
    '%s: CloudFormation changes alias live only through CodeDeploy (UpdatePolicy CodeDeployLambdaAliasUpdate with both hooks), so a later cdk deploy never sets the alias directly',
    (construct, model) => {
      const [fnId] = functionServing(model);
      const [groupId] = groupOf(construct);
      const [hookId] = Object.keys(hookFunctions());
      const [postHookId] = postHookFunction();
      synth.template.hasResource('AWS::Lambda::Alias', {
        Properties: Match.objectLike({ Name: 'live', FunctionName: { Ref: fnId } }),
        UpdatePolicy: {
          CodeDeployLambdaAliasUpdate: {
            ApplicationName: { Ref: Match.stringLikeRegexp(`^Release${construct}Application`) },
            DeploymentGroupName: { Ref: groupId },
            BeforeAllowTrafficHook: { Ref: hookId },
            AfterAllowTrafficHook: { Ref: postHookId },
          },
        },
      });
    },
  );

  it("the control plane's ENDPOINTS names each endpoint's function, alias, application, group, hook and custom configuration", () => {
    const [, control] = controlFunction();
    const endpoints = joinedText((control['Environment'] as { Variables: Record<string, unknown> }).Variables['ENDPOINTS']);
    const parsed = JSON.parse(endpoints) as Record<string, Record<string, unknown>>;
    const [iris] = functionServing('iris');
    const [churnConfig] = onlyResource(synth.template, 'AWS::CodeDeploy::DeploymentConfig', { ComputePlatform: 'Lambda' });
    expect(parsed['iris']).toEqual({
      functionName: `<${iris}>`,
      alias: 'live',
      application: expect.stringMatching(/^<ReleaseIrisApplication\w+>$/),
      deploymentGroup: expect.stringMatching(/^<ReleaseIrisDeploymentGroup\w+>$/),
      preTrafficHook: expect.stringMatching(/^<ReleaseHookPreTrafficHookFunction\w+>$/),
      postTrafficHook: `<${postHookFunction()[0]}>`,
    });
    expect(parsed['churn']?.['customShifts']).toEqual([
      { kind: 'linear', percent: 20, intervalMinutes: 15, configName: `<${churnConfig}>` },
    ]);
  });

  it("one pre-traffic hook function for the stack; its name is no model's (so `invoke iris` means the endpoint)", () => {
    const hooks = Object.keys(hookFunctions());
    expect(hooks).toHaveLength(1);
    expect(hooks[0]).toMatch(/^ReleaseHookPreTrafficHookFunction/);
    expect(hooks[0]?.toLowerCase()).not.toMatch(/iris|churn|control/);
  });

  it("the hook reads the registry and, per endpoint, reads/invokes only that function's versions, reads and reports only on its groups, retargets only the endpoints' alarms", () => {
    // Prepare
    const [[, hook]] = Object.entries(hookFunctions()) as [[string, { Properties?: Record<string, unknown> }]];
    const [iris] = functionServing('iris');
    const [churn] = functionServing('churn');
    const [irisGroup] = groupOf('Iris');
    const [churnGroup] = groupOf('Churn');
    const [registry] = onlyResource(synth.template, 'AWS::DynamoDB::Table', {
      KeySchema: Match.arrayWith([{ AttributeName: 'pk', KeyType: 'HASH' }]),
    });

    // Act
    const granted = statementsOf(roleOf(hook.Properties ?? {}));
    const pairs = granted.flatMap((s) => s.actions.flatMap((a) => s.resources.map((r) => `${a} ${r}`))).sort();

    // Assess
    expect(pairs.filter((p) => p.startsWith('lambda:'))).toEqual(
      [iris, churn].flatMap((fn) => [`lambda:GetFunctionConfiguration <${fn}.Arn>:*`, `lambda:InvokeFunction <${fn}.Arn>:*`]).sort(),
    );
    expect(pairs.filter((p) => p.startsWith('dynamodb:'))).toEqual([
      `dynamodb:GetItem <${registry}.Arn>`,
      `dynamodb:Query <${registry}.Arn>`,
    ]);
    const codedeploy = pairs.filter((p) => p.startsWith('codedeploy:'));
    expect(codedeploy).toHaveLength(6);
    expect(new Set(codedeploy.map((p) => p.split(' ')[0]))).toEqual(
      new Set(['codedeploy:GetDeployment', 'codedeploy:GetDeploymentGroup', 'codedeploy:PutLifecycleEventHookExecutionStatus']),
    );
    for (const p of codedeploy)
      expect(p).toMatch(new RegExp(`:deploymentgroup:<Release(Iris|Churn)Application\\w+>/<(${irisGroup}|${churnGroup})>$`));
    const alarmPairs = pairs.filter((p) => p.startsWith('cloudwatch:'));
    expect(alarmPairs).toHaveLength(10);
    // The per-version alarms it retargets; the canary alarms (per model) it only describes with the group's others.
    for (const p of alarmPairs)
      expect(p).toMatch(
        /^cloudwatch:((DescribeAlarms|PutMetricAlarm) <Endpoint(Iris|Churn)(ErrorsAlarm|LatencyP99Alarm)\w+|DescribeAlarms <DriftCanaryAlarm(Iris|Churn)\w+)\.Arn>$/,
      );
    expect(JSON.stringify(pairs)).not.toMatch(/PredictionLog|Artifacts|ControlPlane/);
  });

  it("the post-traffic hook (one for the stack, on the control plane's layer) reads pins and deployments, reads each endpoint's own artifacts, and writes the registry without Query or Delete", () => {
    // Prepare
    const [postId, post] = postHookFunction();
    const [, control] = controlFunction();
    const [iris] = functionServing('iris');
    const [churn] = functionServing('churn');
    const [irisGroup] = groupOf('Iris');
    const [churnGroup] = groupOf('Churn');
    const [registry] = onlyResource(synth.template, 'AWS::DynamoDB::Table', {
      KeySchema: Match.arrayWith([{ AttributeName: 'pk', KeyType: 'HASH' }]),
    });
    const [bucket] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });

    // Act
    const granted = statementsOf(roleOf(post));
    const pairs = granted.flatMap((s) => s.actions.flatMap((a) => s.resources.map((r) => `${a} ${r}`))).sort();

    // Assess
    expect(postId.toLowerCase()).not.toMatch(/iris|churn|control/);
    expect(post['Layers']).toEqual(control['Layers']);
    expect(post['Environment']).toEqual({
      Variables: {
        NODE_OPTIONS: '--enable-source-maps',
        REGISTRY_TABLE: { Ref: registry },
        ARTIFACT_BUCKET: { Ref: bucket },
        METRIC_BASELINES: '{}',
      },
    });
    expect(pairs.filter((p) => p.startsWith('lambda:'))).toEqual(
      [iris, churn].map((fn) => `lambda:GetFunctionConfiguration <${fn}.Arn>:*`).sort(),
    );
    expect(pairs.filter((p) => p.startsWith('dynamodb:'))).toEqual(
      ['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'].map((a) => `${a} <${registry}.Arn>`),
    );
    const codedeploy = pairs.filter((p) => p.startsWith('codedeploy:'));
    expect(codedeploy).toHaveLength(4);
    expect(new Set(codedeploy.map((p) => p.split(' ')[0]))).toEqual(
      new Set(['codedeploy:GetDeployment', 'codedeploy:PutLifecycleEventHookExecutionStatus']),
    );
    for (const p of codedeploy)
      expect(p).toMatch(new RegExp(`:deploymentgroup:<Release(Iris|Churn)Application\\w+>/<(${irisGroup}|${churnGroup})>$`));
    expect(pairs.filter((p) => p.startsWith('s3:'))).toEqual(
      ['iris', 'churn']
        .flatMap((m) => [
          `s3:GetObject <${bucket}.Arn>/models/${m}/*`,
          `s3:GetObjectVersion <${bucket}.Arn>/models/${m}/*`,
          `s3:ListBucket <${bucket}.Arn>`,
        ])
        .sort(),
    );
    const listConditions = granted.filter((s) => s.actions.includes('s3:ListBucket')).map((s) => s.condition);
    expect(listConditions).toEqual(
      expect.arrayContaining([{ StringLike: { 's3:prefix': ['models/iris/*'] } }, { StringLike: { 's3:prefix': ['models/churn/*'] } }]),
    );
    expect(pairs.filter((p) => !/^(lambda|dynamodb|codedeploy|s3|logs):/.test(p))).toEqual([]);
    expect(JSON.stringify(pairs)).not.toMatch(/PredictionLog|ControlPlane|InvokeFunction|PutMetricAlarm|PutObject|DeleteItem|Query/);
  });
});

describe('dashboards', () => {
  it.each([['iris'], ['churn']])(
    "%s has a dashboard by Lambda version, by model version and by executed version, with the alarms' states",
    (model) => {
      // Prepare
      const [fnId] = functionServing(model);
      const [errorsAlarm] = errorsAlarmOf(synth.template, model);

      // Act: the body as CloudWatch reads it, references written as <LogicalId>.
      const widgets = dashboardWidgets(synth.template, `OnnxServing-${model}`);
      const expressions = graphedExpressions(widgets);

      // Assess: the function's metrics by FunctionVersion and ModelVersion, Lambda's by ExecutedVersion.
      const ours = (dimension: string, metric: string, statistic: string) =>
        `SEARCH('{OnnxServing,Model,${dimension}} MetricName="${metric}" Model="${model}"', '${statistic}', 60)`;
      const byFunctionVersion: [string, string][] = [
        ['Invocations', 'Sum'],
        ['Invocation4XXErrors', 'Sum'],
        ['Invocation5XXErrors', 'Sum'],
        ['ModelErrors', 'Sum'],
        ['ModelLatency', 'p50'],
        ['ModelLatency', 'p99'],
        ['OverheadLatency', 'p50'],
        ['OverheadLatency', 'p99'],
        ['RowsPerRequest', 'Average'],
        ['ColdStart', 'Sum'],
      ];
      for (const [metric, statistic] of byFunctionVersion) expect(expressions).toContain(ours('FunctionVersion', metric, statistic));
      for (const [metric, statistic] of [
        ['Invocations', 'Sum'],
        ['Invocation5XXErrors', 'Sum'],
        ['ModelLatency', 'p99'],
      ] as const) {
        expect(expressions).toContain(ours('ModelVersion', metric, statistic));
      }
      for (const [metric, statistic] of [
        ['Errors', 'Sum'],
        ['Duration', 'p50'],
        ['Duration', 'p99'],
      ] as const) {
        expect(expressions).toContain(
          `SEARCH('{AWS/Lambda,ExecutedVersion,FunctionName,Resource} MetricName="${metric}" FunctionName="<${fnId}>" Resource="<${fnId}>:live"', '${statistic}', 60)`,
        );
      }
      expect(graphedMetrics(widgets)).toContainEqual({
        namespace: 'OnnxServing',
        metricName: 'PredictionLogFallback',
        dimensions: { Model: model },
        stat: 'Sum',
      });
      const status = widgets.find((w) => w.type === 'alarm');
      expect(status?.properties.alarms).toHaveLength(2);
      expect(status?.properties.alarms).toContain(`<${errorsAlarm}.Arn>`);
      expect(status?.properties.alarms).toContainEqual(expect.stringMatching(/^<Endpoint\w*LatencyP99Alarm\w*\.Arn>$/));
      expect(widgets.some((w) => w.properties.annotations?.alarms?.includes(`<${errorsAlarm}.Arn>`))).toBe(true);
    },
  );
});

/** Every statement of every inline/identity policy in the template, with the role it is attached to. */
function statements(): { roles: string[]; statement: Record<string, unknown> }[] {
  return Object.values(resourcesOf(synth.template, 'AWS::IAM::Policy')).flatMap((policy) => {
    const roles = ((policy.Properties?.['Roles'] ?? []) as unknown[]).map(logicalIdOfRef);
    const document = policy.Properties?.['PolicyDocument'] as { Statement: Record<string, unknown>[] };
    return document.Statement.map((statement) => ({ roles, statement }));
  });
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

function roleOf(fnProps: Record<string, unknown>): string {
  return (fnProps['Role'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

function statementsOf(role: string): { actions: string[]; resources: string[]; condition?: unknown }[] {
  return (
    statements()
      .filter((s) => s.roles.includes(role))
      // Sorted: the minimizePolicies feature flag merges statements and orders their entries.
      .map(({ statement }) => ({
        actions: (list(statement['Action']) as string[]).sort(),
        resources: list(statement['Resource']).map(flattenReference).sort(),
        ...(statement['Condition'] ? { condition: statement['Condition'] } : {}),
      }))
  );
}

describe('least privilege', () => {
  it('no statement has a wildcard action, and only cloudwatch:GetMetricData and the batch workflow\'s log delivery (no resource-level permissions) have resource "*"', () => {
    // Step Functions' log delivery to CloudWatch Logs (the batch workflow's role; test/cdk/batch-jobs.test.ts).
    const logDelivery = new Set([
      'logs:CreateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:DescribeLogGroups',
      'logs:DescribeResourcePolicies',
      'logs:GetLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:UpdateLogDelivery',
    ]);
    for (const { statement } of statements()) {
      for (const action of list(statement['Action'])) expect(action).not.toContain('*');
      if (!list(statement['Resource']).includes('*')) continue;
      const actions = list(statement['Action']) as string[];
      if (actions.length === 1 && actions[0] === 'cloudwatch:GetMetricData') continue;
      expect(actions.every((action) => logDelivery.has(action))).toBe(true);
    }
  });

  it('wildcard resources are only these, each for its reason', () => {
    // Why each one exists:
    const allowed: [RegExp, string][] = [
      [/^<ArtifactsBucket\w+\.Arn>\/models\/iris\/\*$/, "iris's artifacts: keys carry a version and a sha256 known only at registration"],
      [/^<ArtifactsBucket\w+\.Arn>\/models\/churn\/\*$/, "churn's artifacts, same reason"],
      [/^<ArtifactsBucket\w+\.Arn>\/models\/\*$/, 'the control plane registers artifacts of any model'],
      [/^<ArtifactsBucket\w+\.Arn>\/uploads\/\*$/, 'presigned uploads of any model, under random upload ids'],
      [/^<ArtifactsBucket\w+\.Arn>\/profiles\/\*$/, "the control plane stores and reads any model's reference profiles (drift)"],
      [/^<PayloadsBucket\w+\.Arn>\/(inputs|outputs)\/iris\/\*$/, "iris's payloads: keys made per request (payload ids, request ids)"],
      [/^<PayloadsBucket\w+\.Arn>\/(inputs|outputs)\/churn\/\*$/, "churn's payloads, same reason"],
      [
        /^<CaptureBucket\w+\.Arn>\/(capture|capture-errors|drift|replays)\/\*$/,
        "Firehose names the capture objects it writes; the control plane reads any model's captures, drift reports and replays (test/cdk/data-capture.test.ts)",
      ],
      [
        /^<CaptureBucket\w+\.Arn>\/replays\/\*\/(_plan|_map)\/\*$/,
        "the batch workflow reads a replay's splits and writes its Map Run results; job ids are made per replay (test/cdk/batch-jobs.test.ts)",
      ],
      [/^<BatchJobs(Batch|Steps)Function\w+\.Arn>:\*$/, "CDK's LambdaInvoke grants the workflow its two functions' qualified names"],
      [
        /^arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:.+:\*$/,
        "the batch workflow's executions and the Distributed Map's child executions, named at run time",
      ],
      [
        /^arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<\w+>:log-stream:\*$/,
        "log streams are created at run time in the function's own log group",
      ],
      [
        /^<EndpointIrisPredictFunction\w+\.Arn>:\*$/,
        "iris's function versions: numbers allocated at release time (control plane reads pins, hook invokes the target)",
      ],
      [/^<EndpointChurnPredictFunction\w+\.Arn>:\*$/, "churn's function versions, same reason"],
      [/^<ReleaseHookPreTrafficHookFunction\w+\.Arn>:\*$/, "CDK's grantInvoke of the hook to each deployment group's CodeDeploy role"],
      [
        /^<ReleaseHookPostTrafficHookFunction\w+\.Arn>:\*$/,
        "CDK's grantInvoke of the post-traffic hook to each deployment group's CodeDeploy role",
      ],
      [/^\*$/, 'cloudwatch:GetMetricData has no resource-level permissions'],
    ];
    const wild = statements()
      .flatMap(({ statement }) => list(statement['Resource']).map(flattenReference))
      .filter((r) => r.includes('*'));
    expect(wild.length).toBeGreaterThan(0);
    for (const resource of wild) expect(allowed.some(([pattern]) => pattern.test(resource))).toBe(true);
  });

  it('the only managed policies are API Gateway’s account-level CloudWatch role and CodeDeploy’s Lambda role (one per deployment group)', () => {
    const managed = Object.values(resourcesOf(synth.template, 'AWS::IAM::Role')).flatMap(
      (role) => (role.Properties?.['ManagedPolicyArns'] ?? []) as unknown[],
    );
    expect(managed.map(flattenReference).sort()).toEqual([
      'arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited',
      'arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited',
      'arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs',
    ]);
  });

  it.each([['iris'], ['churn']])(
    "%s's function reads the registry, writes logs, reads only its own model's artifacts, and reads and writes only its own model's payloads",
    (model) => {
      // Prepare
      const [, fn] = functionServing(model);
      const [registry] = onlyResource(synth.template, 'AWS::DynamoDB::Table', {
        KeySchema: Match.arrayWith([{ AttributeName: 'pk', KeyType: 'HASH' }]),
      });
      const [logs] = onlyResource(synth.template, 'AWS::DynamoDB::Table', { KeySchema: expectedTable(PREDICTION_LOG_TABLE).KeySchema });
      const [bucket] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });
      const [payloads] = payloadBucket();

      // Act
      const granted = statementsOf(roleOf(fn));

      // Assess: exactly these statements, nothing else.
      expect(granted).toEqual(
        expect.arrayContaining([
          { actions: ['dynamodb:GetItem', 'dynamodb:Query'], resources: [`<${registry}.Arn>`] },
          { actions: ['dynamodb:PutItem'], resources: [`<${logs}.Arn>`] },
          { actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: [`<${bucket}.Arn>/models/${model}/*`] },
          { actions: ['s3:ListBucket'], resources: [`<${bucket}.Arn>`], condition: { StringLike: { 's3:prefix': [`models/${model}/*`] } } },
          { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [expect.stringMatching(/:log-group:<\w+>:log-stream:\*$/)] },
          // Payloads: read inputs and presign their uploads, write outputs and presign their downloads; its own model's prefixes only.
          {
            actions: ['s3:GetObject', 's3:PutObject'],
            resources: [`<${payloads}.Arn>/inputs/${model}/*`, `<${payloads}.Arn>/outputs/${model}/*`],
          },
          {
            actions: ['s3:ListBucket'],
            resources: [`<${payloads}.Arn>`],
            condition: { StringLike: { 's3:prefix': [`inputs/${model}/*`] } },
          },
          // Capture: put record batches to the one stream (test/cdk/data-capture.test.ts).
          { actions: ['firehose:PutRecordBatch'], resources: [expect.stringMatching(/^<CaptureStream\w+\.Arn>$/)] },
        ]),
      );
      expect(granted).toHaveLength(8);
      const other = model === 'iris' ? 'churn' : 'iris';
      for (const prefix of ['models', 'inputs', 'outputs']) expect(JSON.stringify(granted)).not.toContain(`${prefix}/${other}`);
      // Nothing on the payload bucket's objects as a whole.
      expect(granted.flatMap((s) => s.resources)).not.toContain(`<${payloads}.Arn>/*`);
    },
  );

  it('the control plane reads/writes the registry (and its index) and artifacts, and releases only endpoint functions', () => {
    // Prepare
    const [controlId, control] = controlFunction();
    const [registry] = onlyResource(synth.template, 'AWS::DynamoDB::Table', {
      KeySchema: Match.arrayWith([{ AttributeName: 'pk', KeyType: 'HASH' }]),
    });
    const [bucket] = onlyResource(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: Match.anyValue() });
    const [iris] = functionServing('iris');
    const [churn] = functionServing('churn');
    const [irisGroup] = onlyResource(synth.template, 'AWS::CodeDeploy::DeploymentGroup', {
      ApplicationName: { Ref: Match.stringLikeRegexp('^ReleaseIris') },
    });
    const [churnGroup] = onlyResource(synth.template, 'AWS::CodeDeploy::DeploymentGroup', {
      ApplicationName: { Ref: Match.stringLikeRegexp('^ReleaseChurn') },
    });

    // Act
    const granted = statementsOf(roleOf(control));
    // Every (action, resource) pair, whatever statements the minimizePolicies flag merged.
    const pairs = (prefix: string) =>
      granted
        .flatMap((s) => s.actions.flatMap((a) => s.resources.map((r) => `${a} ${r}`)))
        .filter((p) => p.startsWith(prefix))
        .sort();

    // Assess
    // The batch-job table takes the same five actions (jobs and replays; test/cdk/batch-jobs.test.ts): minimizePolicies merges them.
    const [jobs] = onlyResource(synth.template, 'AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'model', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    });
    expect(granted).toEqual(
      expect.arrayContaining([
        {
          actions: ['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
          resources: [`<${jobs}.Arn>`, `<${registry}.Arn>`, `<${registry}.Arn>/index/models`].sort(),
        },
        { actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject'], resources: [`<${bucket}.Arn>/models/*`] },
        {
          actions: ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:GetObject', 's3:PutObject'],
          resources: [`<${bucket}.Arn>/uploads/*`],
        },
        { actions: ['s3:ListBucket'], resources: [`<${bucket}.Arn>`], condition: { StringLike: { 's3:prefix': ['models/*'] } } },
        { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [expect.stringMatching(/:log-group:<\w+>:log-stream:\*$/)] },
      ]),
    );
    // S3 (the artifact bucket; the capture bucket's grants and the profiles' listing condition are test/cdk/data-capture.test.ts's): exactly these pairs; deleting only under uploads/, never an artifact.
    expect(pairs('s3:').filter((p) => !p.includes('<CaptureBucket'))).toEqual([
      `s3:DeleteObject <${bucket}.Arn>/uploads/*`,
      `s3:DeleteObjectVersion <${bucket}.Arn>/uploads/*`,
      `s3:GetObject <${bucket}.Arn>/models/*`,
      `s3:GetObject <${bucket}.Arn>/profiles/*`,
      `s3:GetObject <${bucket}.Arn>/uploads/*`,
      `s3:GetObjectVersion <${bucket}.Arn>/models/*`,
      `s3:ListBucket <${bucket}.Arn>`,
      `s3:ListBucket <${bucket}.Arn>`,
      `s3:PutObject <${bucket}.Arn>/models/*`,
      `s3:PutObject <${bucket}.Arn>/profiles/*`,
      `s3:PutObject <${bucket}.Arn>/uploads/*`,
    ]);
    // Lambda: $LATEST's configuration and publishing, alias live, and reading versions' pins; on endpoint functions only.
    expect(pairs('lambda:')).toEqual(
      [iris, churn]
        .flatMap((fn) => [
          `lambda:GetFunctionConfiguration <${fn}.Arn>`,
          `lambda:UpdateFunctionConfiguration <${fn}.Arn>`,
          `lambda:PublishVersion <${fn}.Arn>`,
          `lambda:GetAlias <${fn}.Arn>:live`,
          `lambda:UpdateAlias <${fn}.Arn>:live`,
          `lambda:GetFunctionConfiguration <${fn}.Arn>:*`,
          `lambda:DeleteFunction <${fn}.Arn>:*`,
        ])
        .sort(),
    );
    // CodeDeploy: deployments of these two groups only (plus the configurations and application revisions CreateDeployment reads).
    const groupArn = (group: string) => expect.stringMatching(new RegExp(`:deploymentgroup:<Release\\w+Application\\w+>/<${group}>$`));
    expect(pairs('codedeploy:CreateDeployment').concat(pairs('codedeploy:GetDeployment '))).toEqual(
      expect.arrayContaining(
        [irisGroup, churnGroup].flatMap((g) => [`codedeploy:CreateDeployment`, `codedeploy:GetDeployment`].map(() => groupArn(g))),
      ),
    );
    for (const p of pairs('codedeploy:CreateDeployment').concat(pairs('codedeploy:GetDeployment ')))
      expect(p).toMatch(new RegExp(`<(${irisGroup}|${churnGroup})>$`));
    expect(pairs('codedeploy:CreateDeployment')).toHaveLength(2);
    expect(pairs('codedeploy:GetDeploymentConfig').every((p) => /:deploymentconfig:(CodeDeployDefault\.Lambda|<)/.test(p))).toBe(true);
    expect(pairs('cloudwatch:')).toEqual(['cloudwatch:GetMetricData *']);
    const lambdaResources = granted.filter((s) => s.actions.some((a) => a.startsWith('lambda:'))).flatMap((s) => s.resources);
    expect(lambdaResources.every((r) => r.startsWith(`<${iris}.`) || r.startsWith(`<${churn}.`))).toBe(true);
    expect(JSON.stringify(lambdaResources)).not.toContain(controlId);
    // The control plane writes no prediction logs: it queries the byModel and byStudy indexes and
    // reads one request by id (the one an outcome names).
    const onLog = granted.filter((s) => JSON.stringify(s.resources).includes('PredictionLog'));
    expect(onLog.map((s) => [s.actions, s.resources])).toEqual([
      [
        ['dynamodb:Query'],
        [expect.stringMatching(/PredictionLog.*\/index\/byModel$/), expect.stringMatching(/PredictionLog.*\/index\/byStudy$/)],
      ],
      [['dynamodb:GetItem'], [expect.stringMatching(/^<\w*PredictionLog\w*\.Arn>$/)]],
    ]);
  });
});
