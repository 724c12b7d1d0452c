/**
 * cdk-nag's AwsSolutions pack over the whole app (two endpoints, both architectures): zero
 * unacknowledged errors, and every acknowledgment names its rule (or exact finding) and a reason.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { synthesize, TWO_ENDPOINTS, type Synthesized } from './helpers.js';

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize(TWO_ENDPOINTS, { nag: true });
});

interface Acknowledgment {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every acknowledgment recorded in the tree with `Validations.of(...).acknowledge`. */
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

describe('cdk-nag AwsSolutions', () => {
  it('finds no unacknowledged error', () => {
    // Act
    const report = new AwsSolutionsChecks(synth.app).validateScope(synth.app);

    // Assess
    const errors = report.violations
      .filter((v) => v.severity === 'error')
      .map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}: ${v.description}`);
    expect(errors).toEqual([]);
  });

  it('leaves no unacknowledged warning either', () => {
    const report = new AwsSolutionsChecks(synth.app).validateScope(synth.app);
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });

  it('synthesizes with the pack registered as a validation plugin, as `cdk synth` runs it', () => {
    expect(() => synth.app.synth({ force: true })).not.toThrow();
  });

  it('acknowledges only these rules, each with its reason', () => {
    // The rules that stand by design, and why (the reasons themselves are in lib/):
    const expected: Record<string, string> = {
      'AwsSolutions-S1': 'the access-log bucket does not log its own access',
      'AwsSolutions-IAM4':
        "API Gateway's account CloudWatch role uses the AWS-managed push-to-logs policy; each CodeDeploy deployment group's role uses AWSCodeDeployRoleForLambdaLimited",
      'AwsSolutions-IAM5':
        'model-prefix artifact keys, own log streams, endpoint function versions, the hook invoke grant, GetMetricData, X-Ray writes when tracing is on (each finding acknowledged one by one)',
      'AwsSolutions-APIG2': 'bodies are validated by the functions, parameters by API Gateway',
      'AwsSolutions-APIG3': 'no WAF yet: throttled and authorized',
      'AwsSolutions-APIG4': 'the public routes: the two health checks and the server metadata (GET /v2)',
      'AwsSolutions-COG4': 'routes are authorized by the JWT Lambda authorizer, for any OIDC issuer, not a Cognito user pool authorizer',
      'AwsSolutions-L1': 'the product targets nodejs22.x',
      'AwsSolutions-SF2':
        'the batch and replay workflow (always deployed: replays run on it) is traced only with observability.tracing, off here',
    };

    // Act
    const acks = acknowledgments(synth.app);

    // Assess
    const rules = new Set(acks.map((a) => a.id.replace(/\[.*\]$/, '')));
    expect([...rules].sort()).toEqual(Object.keys(expected).sort());
    for (const ack of acks) {
      expect(ack.id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(ack.reason.length).toBeGreaterThan(40);
    }
  });

  it('acknowledges IAM5 per finding, never the whole rule', () => {
    const iam5 = acknowledgments(synth.app).filter((a) => a.id.startsWith('AwsSolutions-IAM5'));
    expect(iam5.length).toBeGreaterThan(0);
    for (const ack of iam5) expect(ack.id).toMatch(/^AwsSolutions-IAM5\[Resource::(.+\*|\*)\]$/);
    // "*" itself only on the control plane, for cloudwatch:GetMetricData, and on the batch workflow's role, for log delivery (neither has resource-level permissions).
    const star = iam5.filter((a) => a.id === 'AwsSolutions-IAM5[Resource::*]');
    expect(star.map((a) => a.path).sort()).toEqual(['OnnxServing/BatchJobs/Workflow/Role', 'OnnxServing/ControlPlane/Control/Role']);
    expect(star.find((a) => a.path.startsWith('OnnxServing/ControlPlane'))?.reason).toMatch(
      /GetMetricData has no resource-level permissions/,
    );
    expect(star.find((a) => a.path.startsWith('OnnxServing/BatchJobs'))?.reason).toMatch(
      /Log delivery .* has no resource-level permissions/,
    );
  });

  it('acknowledges COG4 once, on the API, with the Lambda authorizer as its reason', () => {
    const cog4 = acknowledgments(synth.app).filter((a) => a.id === 'AwsSolutions-COG4');
    expect(cog4).toHaveLength(1);
    expect(cog4[0]?.path).toBe('OnnxServing/Api/Api');
    expect(cog4[0]?.reason).toMatch(/JWT Lambda \(REQUEST\) authorizer/);
    expect(cog4[0]?.reason).not.toMatch(/IAM|SigV4|issue 5/);
  });

  it("the authorizer function's only acknowledged findings are its runtime and its own log streams", () => {
    const own = acknowledgments(synth.app).filter((a) => a.path.startsWith('OnnxServing/Authorizer/'));
    expect(own.map((a) => a.id.replace(/<\w+>/g, '<id>')).sort()).toEqual([
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<id>:log-stream:*]',
      'AwsSolutions-L1',
    ]);
  });

  it('acknowledges APIG4 (unauthorized method) only on the public routes: the two health checks, the server metadata and the OpenAPI document', () => {
    const apig4 = acknowledgments(synth.app).filter((a) => a.id === 'AwsSolutions-APIG4');
    expect(apig4.map((a) => a.path.replace(/^.*\/Api\/Default/, '')).sort()).toEqual([
      '/openapi.json/GET',
      '/v2/GET',
      '/v2/health/live/GET',
      '/v2/health/ready/GET',
    ]);
  });

  it('a function cannot be given a wildcard action, nor a wildcard resource without a reason', () => {
    const fn = synth.stack.endpoints[0]?.function;
    expect(() => fn?.allow(['s3:*'], ['arn:aws:s3:::bucket/key'])).toThrow(/wildcard action s3:\* refused/);
    expect(() => fn?.allow(['s3:GetObject'], ['*'])).toThrow(/resource \* has a wildcard; say why/);
  });
});

describe('cdk-nag AwsSolutions with X-Ray tracing on', () => {
  let traced: Synthesized;

  beforeAll(() => {
    traced = synthesize({ ...TWO_ENDPOINTS, observability: { tracing: true } }, { nag: true });
  });

  it('finds no unacknowledged error or warning', () => {
    // Act
    const report = new AwsSolutionsChecks(traced.app).validateScope(traced.app);

    // Assess
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });

  it('acknowledges "*" on each endpoint role for X-Ray alone (no resource-level permissions), and nowhere new for anything else', () => {
    // Act
    const star = acknowledgments(traced.app).filter((a) => a.id === 'AwsSolutions-IAM5[Resource::*]');

    // Assess
    const endpoints = star.filter((a) => /^OnnxServing\/Endpoint\w+\/Predict\/Role$/.test(a.path));
    expect(endpoints.map((a) => a.path).sort()).toEqual([
      'OnnxServing/EndpointChurn/Predict/Role',
      'OnnxServing/EndpointIris/Predict/Role',
    ]);
    for (const ack of endpoints)
      expect(ack.reason).toMatch(/X-Ray.*xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions/);
    for (const ack of star.filter((a) => !endpoints.includes(a))) expect(ack.reason).toMatch(/no resource-level permissions/);
  });
});
