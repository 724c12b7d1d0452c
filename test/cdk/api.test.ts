/**
 * The REST API: built from the route table, every non-OPTIONS method authorized by the one JWT
 * REQUEST authorizer except the public routes (health, server metadata), each endpoint model's routes reaching
 * that endpoint's alias `live`, the control-plane routes reaching the control function, stage
 * throttling and logs, per-client usage plans keyed by the authorizer, the gateway's own errors in
 * the product's JSON shape; and the ready-made events in `events/` match routes the API serves.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import { AuthorizationType, TokenAuthorizer } from 'aws-cdk-lib/aws-apigateway';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { Context } from 'aws-lambda';
import type { PredictionService } from '../../functions/core/predict.js';
import { makeHandler as makePredictHandler } from '../../functions/predict/app.js';
import { matchRoute, ROUTES } from '../../functions/shared/routes.js';
import { flattenReference } from '../../lib/nag.js';
import { ServingApi } from '../../lib/serving-api.js';
import { bareServingApi, resourcesOf, synthesize, TWO_ENDPOINTS, type Synthesized, testApp } from './helpers.js';

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize(TWO_ENDPOINTS);
});

interface ApiMethod {
  readonly method: string;
  readonly path: string;
  readonly properties: Record<string, unknown>;
}

/** Every method of the API with its full path, rebuilt from the Resource tree (ids are only followed, never written). */
function apiMethods(template: Template): ApiMethod[] {
  const resources = resourcesOf(template, 'AWS::ApiGateway::Resource');
  const pathOf = (parent: unknown): string => {
    const ref = (parent as { Ref?: string }).Ref;
    if (!ref) return ''; // Fn::GetAtt [api, RootResourceId]
    const resource = resources[ref];
    if (!resource) throw new Error(`unknown resource ${ref}`);
    return `${pathOf(resource.Properties?.['ParentId'])}/${String(resource.Properties?.['PathPart'])}`;
  };
  return Object.values(resourcesOf(template, 'AWS::ApiGateway::Method')).map((method) => ({
    method: String(method.Properties?.['HttpMethod']),
    path: pathOf(method.Properties?.['ResourceId']) || '/',
    properties: method.Properties ?? {},
  }));
}

const key = (m: { method: string; path: string }) => `${m.method} ${m.path}`;

/** The logical id of the function or alias a method's Lambda proxy integration invokes. */
function integrationTarget(method: ApiMethod): string {
  const integration = method.properties['Integration'] as { Type: string; Uri: { 'Fn::Join': [string, unknown[]] } };
  expect(integration.Type).toBe('AWS_PROXY');
  const refs = integration.Uri['Fn::Join'][1].flatMap((part) => {
    if (typeof part !== 'object' || part === null) return [];
    const ref = (part as { Ref?: string }).Ref;
    const getAtt = (part as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
    return ref && !ref.startsWith('AWS::') ? [ref] : getAtt ? [getAtt[0]] : [];
  });
  expect(refs).toHaveLength(1);
  return refs[0] as string;
}

/** The alias `live` logical id of the endpoint serving `model`. */
function liveAliasOf(model: string): string {
  const [fnId] = Object.entries(resourcesOf(synth.template, 'AWS::Lambda::Function')).find(
    ([, fn]) => (fn.Properties?.['Environment'] as { Variables: Record<string, unknown> }).Variables['SERVED_MODEL'] === model,
  ) ?? [''];
  const aliases = Object.entries(resourcesOf(synth.template, 'AWS::Lambda::Alias')).filter(
    ([, alias]) => (alias.Properties?.['FunctionName'] as { Ref?: string }).Ref === fnId && alias.Properties?.['Name'] === 'live',
  );
  expect(aliases).toHaveLength(1);
  return (aliases[0] as [string, unknown])[0];
}

function controlFunctionId(): string {
  const found = Object.entries(resourcesOf(synth.template, 'AWS::Lambda::Function')).filter(([, fn]) => {
    const variables = (fn.Properties?.['Environment'] as { Variables: Record<string, unknown> }).Variables;
    // The control plane is the function that knows the endpoints it releases (the drift function knows them too, for its canary checks, but registers no artifact).
    return 'ENDPOINTS' in variables && 'MAX_ARTIFACT_BYTES' in variables;
  });
  expect(found).toHaveLength(1);
  return (found[0] as [string, unknown])[0];
}

/** The literal route of a model for a route-table template: `/v1/models/{model}/predict` → `/v1/models/iris/predict`. */
const literal = (resource: string, model: string) => resource.replace('{model}', model);

/** The routes the table marks public: the API's OpenAPI document, the health checks and the inference protocol's server metadata. */
const PUBLIC_ROUTES = ['GET /openapi.json', 'GET /v2', 'GET /v2/health/live', 'GET /v2/health/ready'];

/** The logical id of the API's one authorizer (fails unless there is exactly one). */
function authorizerId(): string {
  const authorizers = Object.keys(resourcesOf(synth.template, 'AWS::ApiGateway::Authorizer'));
  expect(authorizers).toHaveLength(1);
  return authorizers[0] as string;
}

describe('authorization', () => {
  it('every non-OPTIONS method is authorized by the one REQUEST authorizer, except the public routes', () => {
    // Prepare
    const authorizer = authorizerId();
    synth.template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'REQUEST',
      IdentitySource: 'method.request.header.Authorization',
    });

    // Act
    const methods = apiMethods(synth.template).filter((m) => m.method !== 'OPTIONS');
    const isHealth = (m: ApiMethod) => PUBLIC_ROUTES.includes(key(m));

    // Assess
    expect(methods.length).toBeGreaterThan(20);
    for (const m of methods.filter((x) => !isHealth(x))) {
      expect({ route: key(m), type: m.properties['AuthorizationType'], id: m.properties['AuthorizerId'] }).toEqual({
        route: key(m),
        type: AuthorizationType.CUSTOM,
        id: { Ref: authorizer },
      });
    }
    const health = methods.filter(isHealth);
    expect(health.map(key).sort()).toEqual(PUBLIC_ROUTES);
    for (const m of health) {
      expect(m.properties['AuthorizationType']).toBe('NONE');
      expect(m.properties['AuthorizerId']).toBeUndefined();
    }
  });

  it('no method is left to IAM or without authorization: the IAM placeholder is gone', () => {
    const types = new Set(apiMethods(synth.template).map((m) => m.properties['AuthorizationType']));
    expect([...types].sort()).toEqual(['CUSTOM', 'NONE']);
  });

  it('the authorizer invokes the authorizer function, which API Gateway may call only as this authorizer', () => {
    // Prepare
    const authorizer = authorizerId();
    const [fnId] = Object.entries(resourcesOf(synth.template, 'AWS::Lambda::Function')).find(
      ([, fn]) => 'JWT_ISSUER' in (fn.Properties?.['Environment'] as { Variables: Record<string, unknown> }).Variables,
    ) ?? [''];

    // Act
    const uri = flattenReference(resourcesOf(synth.template, 'AWS::ApiGateway::Authorizer')[authorizer]?.Properties?.['AuthorizerUri']);
    const permissions = Object.values(resourcesOf(synth.template, 'AWS::Lambda::Permission')).filter(
      (p) => flattenReference(p.Properties?.['FunctionName']) === `<${fnId}.Arn>`,
    );

    // Assess
    expect(uri).toContain(`<${fnId}.Arn>/invocations`);
    expect(permissions).toHaveLength(1);
    expect(permissions[0]?.Properties).toMatchObject({ Action: 'lambda:InvokeFunction', Principal: 'apigateway.amazonaws.com' });
    expect(flattenReference(permissions[0]?.Properties?.['SourceArn'])).toMatch(
      new RegExp(`:execute-api:<AWS::Region>:<AWS::AccountId>:<\\w+>/authorizers/<${authorizer}>$`),
    );
  });

  it('the routes marked public in the route table are exactly the health routes and the server metadata', () => {
    expect(
      ROUTES.filter((r) => r.public)
        .map((r) => `${r.method} ${r.resource}`)
        .sort(),
    ).toEqual(PUBLIC_ROUTES);
  });

  it('CORS is off by default: no OPTIONS methods', () => {
    expect(apiMethods(synth.template).filter((m) => m.method === 'OPTIONS')).toEqual([]);
  });
});

describe('routes', () => {
  it('are the route table: control routes under {model}, and every model route per endpoint model', () => {
    // Prepare: what the route table says the API must have.
    const models = ['iris', 'churn'];
    const expected = [
      ...ROUTES.filter((r) => r.public || r.fn === 'control').map((r) => `${r.method} ${r.resource}`),
      ...models.flatMap((model) =>
        ROUTES.filter((r) => r.resource.includes('{model}')).map((r) => `${r.method} ${literal(r.resource, model)}`),
      ),
    ];

    // Assess
    expect(apiMethods(synth.template).map(key).sort()).toEqual(expected.sort());
  });

  it.each([['iris'], ['churn']])(
    "%s: the model's predict, infer, metadata and ready routes reach its own alias live, and no other model's",
    (model) => {
      // Prepare
      const alias = liveAliasOf(model);
      const methods = apiMethods(synth.template);

      // Assess
      for (const route of ROUTES.filter((r) => r.fn === 'predict' && r.resource.includes('{model}'))) {
        const method = methods.find((m) => key(m) === `${route.method} ${literal(route.resource, model)}`);
        expect(method).toBeDefined();
        expect(integrationTarget(method as ApiMethod)).toBe(alias);
      }
      const reachingAlias = methods.filter((m) => integrationTarget(m) === alias && !PUBLIC_ROUTES.includes(key(m)));
      expect(reachingAlias.length).toBe(ROUTES.filter((r) => r.fn === 'predict' && r.resource.includes('{model}')).length);
      expect(reachingAlias.every((m) => m.path.includes(`/models/${model}`))).toBe(true);
    },
  );

  it("control-plane routes reach the control function, under {model} and under each endpoint's literal model", () => {
    const control = controlFunctionId();
    const methods = apiMethods(synth.template);
    for (const route of ROUTES.filter((r) => r.fn === 'control')) {
      for (const path of [route.resource, literal(route.resource, 'iris'), literal(route.resource, 'churn')]) {
        const method = methods.find((m) => key(m) === `${route.method} ${path}`);
        expect(method).toBeDefined();
        expect(integrationTarget(method as ApiMethod)).toBe(control);
      }
    }
  });

  it('the public routes (health, server metadata) reach the first endpoint (iris) alias live', () => {
    const methods = apiMethods(synth.template);
    for (const path of ['/v2', '/v2/health/live', '/v2/health/ready']) {
      expect(integrationTarget(methods.find((m) => key(m) === `GET ${path}`) as ApiMethod)).toBe(liveAliasOf('iris'));
    }
  });

  it('every literal resource maps back to its route-table template (what the handlers dispatch on)', () => {
    for (const m of apiMethods(synth.template)) {
      const match = matchRoute(m.method, m.path);
      expect(match.route).toBeDefined();
    }
  });

  it('path parameters are required and validated by API Gateway', () => {
    synth.template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestParameters: true });
    for (const m of apiMethods(synth.template).filter((x) => x.path.includes('{'))) {
      const names = [...m.path.matchAll(/\{(\w+)\}/g)].map((x) => `method.request.path.${x[1]}`);
      expect(m.properties['RequestParameters']).toEqual(Object.fromEntries(names.map((n) => [n, true])));
      expect(m.properties['RequestValidatorId']).toEqual({ Ref: expect.any(String) });
    }
  });

  it('invoke permissions: one per integrated function, scoped to this API', () => {
    // The drift schedules' EventBridge permissions aside (test/cdk/drift-schedule.test.ts).
    const permissions = Object.values(resourcesOf(synth.template, 'AWS::Lambda::Permission')).filter(
      (p) =>
        !flattenReference(p.Properties?.['SourceArn']).includes('/authorizers/') && p.Properties?.['Principal'] !== 'events.amazonaws.com',
    );
    // Every method's integration target (an alias `live` or the control function), once each.
    const targets = new Set(apiMethods(synth.template).map(integrationTarget));
    expect(permissions.length).toBe(targets.size);
    const permitted = permissions.map((p) => {
      const name = p.Properties?.['FunctionName'] as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
      return name.Ref ?? name['Fn::GetAtt']?.[0];
    });
    expect(new Set(permitted)).toEqual(targets);
    const [restApi] = Object.keys(resourcesOf(synth.template, 'AWS::ApiGateway::RestApi'));
    for (const permission of permissions) {
      expect(permission.Properties).toMatchObject({ Action: 'lambda:InvokeFunction', Principal: 'apigateway.amazonaws.com' });
      const parts = (permission.Properties?.['SourceArn'] as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
      expect(parts).toContainEqual({ Ref: restApi });
      expect(parts[parts.length - 1]).toBe('/*/*/*');
    }
  });
});

describe('usage plans (this config: usage-key claim api_key, tiers default and gold)', () => {
  it('API keys come from the authorizer, never from an x-api-key header', () => {
    synth.template.hasResourceProperties('AWS::ApiGateway::RestApi', { ApiKeySourceType: 'AUTHORIZER' });
  });

  it('every non-public method requires a key (the usage plans apply), the public routes none', () => {
    for (const m of apiMethods(synth.template)) {
      expect({ route: key(m), required: m.properties['ApiKeyRequired'] }).toEqual({
        route: key(m),
        required: !PUBLIC_ROUTES.includes(key(m)),
      });
    }
  });

  it.each<[string, number, number, number | undefined]>([
    ['default', 50, 100, undefined],
    ['gold', 400, 800, 1_000_000],
  ])('plan %s throttles each client at %d rps, bursts of %d, daily quota %s, on the stage', (name, rate, burst, quota) => {
    // Prepare
    const [restApi] = Object.keys(resourcesOf(synth.template, 'AWS::ApiGateway::RestApi'));
    const [stage] = Object.keys(resourcesOf(synth.template, 'AWS::ApiGateway::Stage'));

    // Assess
    synth.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      UsagePlanName: `OnnxServing-${name}`,
      Throttle: { RateLimit: rate, BurstLimit: burst },
      Quota: quota === undefined ? Match.absent() : { Limit: quota, Period: 'DAY' },
      ApiStages: [{ ApiId: { Ref: restApi }, Stage: { Ref: stage } }],
    });
  });

  it('there is one plan per configured tier, and its id is a stack output', () => {
    synth.template.resourceCountIs('AWS::ApiGateway::UsagePlan', 2);
    synth.template.hasOutput('UsagePlanDefaultId', { Value: { Ref: Match.anyValue() } });
    synth.template.hasOutput('UsagePlanGoldId', { Value: { Ref: Match.anyValue() } });
  });
});

describe('stage', () => {
  it('throttles, logs access as JSON and executions at INFO without request bodies', () => {
    synth.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"') },
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          LoggingLevel: 'INFO',
          DataTraceEnabled: false,
          MetricsEnabled: true,
          ThrottlingRateLimit: 100,
          ThrottlingBurstLimit: 200,
        }),
      ],
    });
  });

  it('the access log group keeps logs for the configured 30 days', () => {
    const stage = Object.values(resourcesOf(synth.template, 'AWS::ApiGateway::Stage'))[0];
    const destination = flattenReference((stage?.Properties?.['AccessLogSetting'] as { DestinationArn: unknown }).DestinationArn);
    const group = /:log-group:<(\w+)>$/.exec(destination)?.[1] ?? '';
    expect(resourcesOf(synth.template, 'AWS::Logs::LogGroup')[group]?.Properties).toMatchObject({ RetentionInDays: 30 });
  });

  it.each<[string, string, string, Record<string, string>]>([
    ['UNAUTHORIZED', '401', 'UNAUTHORIZED', { 'WWW-Authenticate': 'Bearer realm="onnx-serving"' }],
    ['ACCESS_DENIED', '403', 'FORBIDDEN', {}],
    ['INVALID_API_KEY', '403', 'FORBIDDEN', {}],
    ['AUTHORIZER_FAILURE', '500', 'AUTHORIZER_FAILURE', {}],
    ['AUTHORIZER_CONFIGURATION_ERROR', '500', 'AUTHORIZER_FAILURE', {}],
    ['THROTTLED', '429', 'RATE_LIMITED', { 'Retry-After': '1' }],
    ['QUOTA_EXCEEDED', '429', 'RATE_LIMITED', {}],
    // The catch-alls keep the status of the error they answer, and name it as the code.
    ['DEFAULT_4XX', 'its own status', 'BAD_REQUEST_BODY', {}],
    ['DEFAULT_5XX', 'its own status', 'BAD_REQUEST_BODY', {}],
  ])("API Gateway's own %s answers %s with code %s in the product's JSON error shape", (type, status, code, headers) => {
    // Prepare
    const [response, ...others] = Object.values(resourcesOf(synth.template, 'AWS::ApiGateway::GatewayResponse')).filter(
      (r) => r.Properties?.['ResponseType'] === type,
    );
    expect(others).toHaveLength(0);
    const template = (response?.Properties?.['ResponseTemplates'] as Record<string, string>)['application/json'] as string;

    // Act: the body as API Gateway renders it, with sample values for the $context variables.
    const rendered = template
      .replaceAll('$context.requestId', 'req-1')
      .replaceAll('$context.authorizer.scope', 'models:read predict:iris')
      .replaceAll('$context.error.responseType', 'BAD_REQUEST_BODY')
      .replaceAll('$context.error.messageString', '"Invalid request body"');
    const body = JSON.parse(rendered) as { error: { code: string; message: string; path: string }; requestId: string };

    // Assess
    expect(response?.Properties?.['StatusCode']).toBe(/^\d+$/.test(status) ? status : undefined);
    expect(body).toEqual({ error: { code, message: expect.any(String), path: '' }, requestId: 'req-1' });
    expect(body.error.message.length).toBeGreaterThan(10);
    const expectedHeaders = Object.fromEntries(
      Object.entries({ 'Content-Type': 'application/json', ...headers }).map(([name, value]) => [
        `gatewayresponse.header.${name}`,
        `'${value}'`,
      ]),
    );
    expect(response?.Properties?.['ResponseParameters']).toEqual(expectedHeaders);
    if (type === 'ACCESS_DENIED') expect(body.error.message).toContain('models:read predict:iris');
  });

  it('is regional', () => {
    synth.template.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointConfiguration: { Types: ['REGIONAL'] } });
  });
});

describe('the API construct on its own (no bundling)', () => {
  it('an authorizer prop becomes the default of every non-public method', () => {
    // Prepare
    const stack = new Stack(testApp(), 'WithAuthorizer');
    const handler = new LambdaFunction(stack, 'Authorizer', {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => ({})'),
    });
    const target = new LambdaFunction(stack, 'Target', {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => ({})'),
    });

    // Act
    new ServingApi(stack, 'Api', {
      control: target,
      endpoints: [{ model: 'iris', target }],
      authorizer: new TokenAuthorizer(stack, 'Jwt', { handler }),
      logRetention: RetentionDays.ONE_WEEK,
    });
    const methods = apiMethods(Template.fromStack(stack));

    // Assess
    const custom = methods.filter((m) => m.properties['AuthorizationType'] === AuthorizationType.CUSTOM);
    expect(custom.every((m) => m.properties['AuthorizerId'] !== undefined)).toBe(true);
    expect(
      methods
        .filter((m) => m.properties['AuthorizationType'] !== AuthorizationType.CUSTOM)
        .map(key)
        .sort(),
    ).toEqual(['GET /openapi.json', 'GET /v2', 'GET /v2/health/live', 'GET /v2/health/ready']);
  });

  it('CORS, when configured, answers preflights for the configured origins only', () => {
    const { template } = bareServingApi({ corsAllowOrigins: ['https://app.example.com'] });
    const options = apiMethods(template).filter((m) => m.method === 'OPTIONS');
    expect(options.length).toBeGreaterThan(0);
    expect(JSON.stringify(options[0]?.properties)).toContain("'https://app.example.com'");
  });

  it('without apiKeyRequired, no method requires an API key and the usage plans only wait for keys', () => {
    // Act
    const { template } = bareServingApi({ usagePlans: [{ name: 'default', rateLimit: 50, burstLimit: 100 }] });

    // Assess
    for (const m of apiMethods(template)) expect(m.properties['ApiKeyRequired']).not.toBe(true);
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 50, BurstLimit: 100 },
      ApiStages: [Match.objectLike({ Stage: Match.anyValue() })],
    });
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { ApiKeySourceType: 'AUTHORIZER' });
  });

  it('refuses an API with no endpoint', () => {
    expect(() => bareServingApi({ endpoints: [] })).toThrow(/at least one endpoint/);
  });
});

describe('events/', () => {
  const dir = new URL('../../events/', import.meta.url);
  const events = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((file) => [file, JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as APIGatewayProxyEvent] as const);

  it('holds a predict event for iris, a v2 infer event and a control list-models event', () => {
    expect(events.map(([, e]) => `${e.httpMethod} ${e.resource}`).sort()).toEqual([
      'GET /v1/models',
      'POST /v1/models/iris/predict',
      'POST /v2/models/iris/infer',
    ]);
  });

  it.each(events)('%s is what API Gateway sends for a route of the synthesized API', (_file, event) => {
    // Prepare
    const methods = apiMethods(synth.template);
    const method = methods.find((m) => m.method === event.httpMethod && m.path === event.resource);

    // Assess: the route exists, and the event has the proxy shape.
    expect(method).toBeDefined();
    expect(event.path).toBe(event.resource);
    expect(event.requestContext).toMatchObject({ resourcePath: event.resource, httpMethod: event.httpMethod, stage: 'prod' });
    expect(typeof event.requestContext.requestId).toBe('string');
    const route = matchRoute(event.httpMethod, event.resource).route;
    expect(route).toBeDefined();
    const target = integrationTarget(method as ApiMethod);
    expect(target).toBe(route?.fn === 'control' ? controlFunctionId() : liveAliasOf('iris'));
    if (event.body !== null) {
      expect(event.headers['Content-Type']).toBe('application/json');
      expect(() => JSON.parse(event.body as string) as unknown).not.toThrow();
    }
  });

  // The API gives each endpoint model literal resources, so API Gateway sends
  // `resource: "/v1/models/iris/predict"` and no `model` path parameter. The handlers dispatch on
  // the route table's template (`/v1/models/{model}/predict`) and read `pathParameters.model`,
  // which functions/shared/http.ts recovers by matching the literal resource against the table.
  it('the predict handler serves predict-iris.json as API Gateway sends it', async () => {
    // Prepare
    const [, event] = events.find(([file]) => file === 'predict-iris.json') ?? [];
    const predicted: string[] = [];
    const service = {
      predictText: async (model: string) => (predicted.push(model), JSON.stringify({ model })),
    } as unknown as PredictionService;
    const handler = makePredictHandler({ service, limits: { maxBodyBytes: 6_000_000, maxJsonDepth: 32 }, servedModel: 'iris' });

    // Act
    const response = await handler(event as APIGatewayProxyEvent, {} as Context);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(predicted).toEqual(['iris']);
  });
});
