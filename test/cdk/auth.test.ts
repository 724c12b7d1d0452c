/**
 * The JWT authorizer as `cdk deploy` creates it from cdk.json: one REQUEST authorizer reading the
 * Authorization header and caching for the TTL docs/authorization.md states, its function configured from
 * the `auth` config under the names the handler parses and allowed nothing but its own logs, no
 * API key required without a usage-key claim, and a warning while the placeholder issuer stands.
 * An HS256 secret adds the Parameters and Secrets extension and read access to that one secret.
 */
import { jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import { MockIntegration, RestApi } from 'aws-cdk-lib/aws-apigateway';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { loadAuthorizerConfig } from '../../functions/authorizer/config.js';
import { parseAppConfig, PLACEHOLDER_AUTH_HOST, type AppConfigInput } from '../../lib/config.js';
import { JwtAuthorizer } from '../../lib/jwt-authorizer.js';
import { flattenReference } from '../../lib/nag.js';
import { onlyResource, resourcesOf, synthesize, type Synthesized, testApp } from './helpers.js';

let synth: Synthesized;
/** The stack's annotations (reading them synthesizes the app again). */
let annotations: Annotations;
/** What the synthesis printed through `console.error` (the CDK's report of the app's warnings), once per synth. */
let printed: string;

beforeAll(() => {
  const error = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  try {
    synth = synthesize(); // cdk.json as it is
    printed = error.mock.calls.map((args) => args.join(' ')).join('\n');
    annotations = Annotations.fromStack(synth.stack);
  } finally {
    error.mockRestore();
  }
});

/** A page of the documentation, `docs/<name>.md`. */
function docsPage(name: string): string {
  return readFileSync(new URL(`../../docs/${name}.md`, import.meta.url), 'utf8');
}

function authorizerFunction(template: Template): [string, Record<string, unknown>] {
  const [id, resource] = onlyResource(template, 'AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ JWT_ISSUER: Match.anyValue() }) },
  });
  return [id, resource.Properties ?? {}];
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

/** The statements of the policies attached to `roleId`, as `{ actions, resources }` with references flattened. */
function statementsOf(template: Template, roleId: string): { actions: string[]; resources: string[] }[] {
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties?.['Roles']).includes(`"${roleId}"`))
    .flatMap((policy) => (policy.Properties?.['PolicyDocument'] as { Statement: Record<string, unknown>[] }).Statement)
    .map((statement) => {
      expect(statement['Effect']).toBe('Allow');
      return {
        actions: (list(statement['Action']) as string[]).sort(),
        resources: list(statement['Resource']).map(flattenReference).sort(),
      };
    });
}

function roleOf(fn: Record<string, unknown>): string {
  return (fn['Role'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

describe('the REQUEST authorizer (cdk.json)', () => {
  it('is the one authorizer: REQUEST, identity source the Authorization header, results cached for the TTL the docs state', () => {
    // Prepare: the number docs/authorization.md gives.
    const stated = /authorizer cache TTL is (\d+) s/.exec(docsPage('authorization'))?.[1];
    expect(stated).toBeDefined();

    // Act
    const authorizers = Object.values(resourcesOf(synth.template, 'AWS::ApiGateway::Authorizer'));

    // Assess
    expect(authorizers).toHaveLength(1);
    expect(authorizers[0]?.Properties).toMatchObject({
      Type: 'REQUEST',
      IdentitySource: 'method.request.header.Authorization',
      AuthorizerResultTtlInSeconds: Number(stated),
    });
    expect(synth.config.auth.cacheTtlSeconds).toBe(Number(stated));
  });

  it('guards every method but the two health routes, the server metadata (GET /v2) and the OpenAPI document', () => {
    const methods = Object.values(resourcesOf(synth.template, 'AWS::ApiGateway::Method')).map((m) => m.Properties ?? {});
    const [authorizerId] = Object.keys(resourcesOf(synth.template, 'AWS::ApiGateway::Authorizer'));
    const open = methods.filter((m) => m['AuthorizationType'] !== 'CUSTOM');
    expect(open).toHaveLength(4);
    for (const m of open) expect(m['AuthorizationType']).toBe('NONE');
    // The document is the control plane's, the health checks and `GET /v2` an endpoint's.
    const byTarget = open.map((m) => JSON.stringify(m['Integration']).includes('ControlPlane')).sort();
    expect(byTarget).toEqual([false, false, false, true]);
    for (const m of methods.filter((x) => x['AuthorizationType'] === 'CUSTOM')) expect(m['AuthorizerId']).toEqual({ Ref: authorizerId });
  });

  it('without a usage-key claim no method requires an API key: only stage throttling applies, the default plan waits for keys', () => {
    // Assess
    expect(synth.config.auth.usageKeyClaim).toBeUndefined();
    for (const m of Object.values(resourcesOf(synth.template, 'AWS::ApiGateway::Method')))
      expect(m.Properties?.['ApiKeyRequired']).not.toBe(true);
    expect(authorizerFunction(synth.template)[1]['Environment']).not.toHaveProperty('Variables.AUTH_USAGE_KEY_CLAIM');
    const [stage] = Object.keys(resourcesOf(synth.template, 'AWS::ApiGateway::Stage'));
    synth.template.resourceCountIs('AWS::ApiGateway::UsagePlan', 1);
    synth.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      UsagePlanName: 'OnnxServing-default',
      Throttle: { RateLimit: 50, BurstLimit: 100 },
      ApiStages: [Match.objectLike({ Stage: { Ref: stage } })],
    });
  });
});

describe('the authorizer function (cdk.json)', () => {
  it('is the bundled functions/authorizer/handler.ts on arm64 with 256 MB, without the ONNX Runtime layer', () => {
    // Act
    const [, fn] = authorizerFunction(synth.template);

    // Assess
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler', Architectures: ['arm64'], MemorySize: 256, Timeout: 10 });
    expect(fn['Layers']).toBeUndefined();
    expect(synth.stack.authorizer.function.function.node.path).toBe('OnnxServing/Authorizer/Jwt/Function');
  });

  it("carries cdk.json's issuer, audience and JWKS URL, in variables the authorizer's own parser accepts", () => {
    // Prepare
    const { auth } = synth.config;
    const [, fn] = authorizerFunction(synth.template);

    // Act
    const variables = (fn['Environment'] as { Variables: Record<string, string> }).Variables;
    const parsed = loadAuthorizerConfig(variables);

    // Assess
    expect(variables).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      JWT_ISSUER: `https://${PLACEHOLDER_AUTH_HOST}/`,
      JWT_AUDIENCE: 'onnx-serving',
      JWKS_URL: `https://${PLACEHOLDER_AUTH_HOST}/.well-known/jwks.json`,
    });
    expect(parsed.JWT_ISSUER).toEqual(auth.issuer);
    expect(parsed.JWT_AUDIENCE).toEqual(auth.audience);
    expect(parsed.JWKS_URL?.href).toBe(auth.jwksUrl);
    expect(parsed.algorithms).toEqual(['RS256', 'ES256', 'EdDSA']);
  });

  it('may only write to its own log streams: one statement, no managed policy', () => {
    // Prepare
    const [, fn] = authorizerFunction(synth.template);
    const logGroup = flattenReference((fn['LoggingConfig'] as { LogGroup: unknown }).LogGroup);

    // Act
    const granted = statementsOf(synth.template, roleOf(fn));

    // Assess: the one wildcard, and why: Lambda creates a log stream per execution environment at
    // run time, so their names are unknown; the wildcard stays inside this function's log group.
    expect(granted).toEqual([
      {
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [`arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:${logGroup}:log-stream:*`],
      },
    ]);
    expect(resourcesOf(synth.template, 'AWS::IAM::Role')[roleOf(fn)]?.Properties?.['ManagedPolicyArns']).toBeUndefined();
    expect(resourcesOf(synth.template, 'AWS::Logs::LogGroup')[logGroup.slice(1, -1)]?.Properties).toMatchObject({ RetentionInDays: 30 });
  });

  it("warns at synth while cdk.json's placeholder issuer stands", () => {
    annotations.hasWarning('/OnnxServing/Authorizer', Match.stringLikeRegexp(`placeholder issuer ${PLACEHOLDER_AUTH_HOST}`));
    // As the one warning printed, with what to set and how to acknowledge it.
    expect(printed).toContain(`WARNING auth still names the placeholder issuer ${PLACEHOLDER_AUTH_HOST}`);
    expect(printed).toContain('Set onnxServing.auth in cdk.json');
    expect(printed).toContain("Acknowledge with 'Annotation::onnx-serving:auth-placeholder'");
    expect(printed.match(/^WARNING /gm)).toHaveLength(1);
  });
});

describe('the authorizer construct on its own', () => {
  const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:onnx-serving/hs256-AbC123';

  function bareAuthorizer(auth: AppConfigInput['auth']): { stack: Stack; template: Template } {
    const stack = new Stack(testApp(), 'Bare');
    const jwt = new JwtAuthorizer(stack, 'Authorizer', {
      config: parseAppConfig({ endpoints: [{ model: 'iris' }], auth }).auth,
      logRetention: RetentionDays.ONE_WEEK,
    });
    // A RequestAuthorizer exists only on an API.
    new RestApi(stack, 'Api', { defaultMethodOptions: { authorizer: jwt.authorizer } }).root.addMethod('GET', new MockIntegration());
    return { stack, template: Template.fromStack(stack) };
  }

  it('with an HS256 secret: the Parameters and Secrets extension layer, the secret named, read access to that secret only', () => {
    // Act
    const { template } = bareAuthorizer({
      issuer: 'https://login.acme.test/',
      audience: 'onnx-serving',
      jwksUrl: 'https://login.acme.test/jwks',
      algorithms: ['RS256', 'HS256'],
      hs256SecretArn: SECRET_ARN,
    });
    const [, fn] = authorizerFunction(template);

    // Assess
    const variables = (fn['Environment'] as { Variables: Record<string, string> }).Variables;
    expect(variables).toMatchObject({
      JWT_HS256_SECRET_ARN: SECRET_ARN,
      JWT_ALGORITHMS: 'RS256',
      PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: '2773',
    });
    expect(loadAuthorizerConfig(variables).JWT_HS256_SECRET_ARN).toBe(SECRET_ARN);
    const layers = fn['Layers'] as { 'Fn::FindInMap': [string, unknown, string] }[];
    expect(layers).toHaveLength(1);
    const [map, , key] = layers[0]?.['Fn::FindInMap'] ?? [];
    expect(JSON.stringify(template.toJSON()['Mappings'][map as string])).toContain(
      ':layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:',
    );
    expect(key).toMatch(/arm64$/);
    expect(statementsOf(template, roleOf(fn))).toEqual([
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [expect.stringMatching(/:log-group:<\w+>:log-stream:\*$/)] },
      { actions: ['secretsmanager:GetSecretValue'], resources: [SECRET_ARN] },
    ]);
  });

  it('without a secret: no extension layer and no secret access; the cache TTL from config, 0 included; no placeholder warning', () => {
    const { stack, template } = bareAuthorizer({
      issuer: 'https://login.acme.test/',
      audience: 'onnx-serving',
      jwksUrl: 'https://login.acme.test/jwks',
      cacheTtlSeconds: 0,
    });
    const [, fn] = authorizerFunction(template);
    expect(fn['Layers']).toBeUndefined();
    expect(JSON.stringify(statementsOf(template, roleOf(fn)))).not.toContain('secretsmanager');
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      AuthorizerResultTtlInSeconds: 0,
      IdentitySource: 'method.request.header.Authorization',
    });
    Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
  });
});
