/**
 * The REST API, built from the one route table (`functions/shared/routes.ts`).
 *
 * Routing: API Gateway picks a Lambda integration per resource, not per path-parameter value, so
 * a `{model}` resource cannot reach a different function for each model. Each endpoint therefore
 * gets literal resources, `/v1/models/iris/predict`, `/v2/models/iris/infer`, ..., integrated with
 * its alias `live`; the control-plane routes under `{model}` are mirrored there too (a literal
 * sibling takes precedence over `{model}`, so `/v1/models/iris/versions` must exist under the
 * literal branch as well). The `{model}` branch keeps the control-plane routes for every other
 * model. Literal resources reach the handlers with `event.resource` = the literal path and no
 * `model` path parameter; the handlers map them back to the route table (see routes.ts). Other
 * parameters stay parameters under the literal model: `/v2/models/iris/versions/{version}/infer`
 * reaches iris's alias with `version` in `pathParameters`.
 *
 * Authorization is the API's default method option, so no route can be created unprotected by
 * forgetting a second call: the required `authorizer` prop (the JWT Lambda authorizer,
 * `jwt-authorizer.ts`) guards every method. Routes marked `public` in the table (the OpenAPI document, health checks,
 * and `GET /v2`, the inference protocol's server metadata)
 * are the only ones created with `AuthorizationType.NONE`.
 *
 * Errors API Gateway answers itself (no token, a token refused, a scope missing, the authorizer
 * failing, throttling) carry the product's JSON error shape and stable codes, as the functions'
 * own errors do: `{"error":{"code","message","path"},"requestId"}`.
 *
 * Rate limits: the stage throttles every caller together; usage plans throttle per client. The
 * API's keys come from the authorizer (`usageIdentifierKey`), never from an `x-api-key` header, and
 * methods require one only when `apiKeyRequired` is set (the authorizer then has a claim to read
 * it from); without it the plans are attached but idle and only the stage throttles.
 *
 * Request size: API Gateway REST caps payloads at 10 MB and Lambda's synchronous invoke at 6 MB
 * (the serialized event: body, base64 for binary bodies, plus headers and request context; and
 * the serialized result); neither is configurable on the API, so each function enforces its own
 * `MAX_BODY_BYTES` (413 before parsing) and `MAX_ROWS`, and larger tensors go by reference through
 * the payload bucket (`POST /v1/models/{model}/payloads`, `payload-bucket.ts`).
 *
 * Compressed bodies: API Gateway REST decodes a request body sent with `Content-Encoding: gzip`
 * or `deflate` before it invokes the integration, answers 415 for any other coding or for data
 * that is not what the header says, and passes the header on unchanged. `minCompressionSize` is 0
 * so that this applies to bodies of every size (below the threshold API Gateway neither
 * compresses nor decompresses), and with it API Gateway gzips answers for clients that send
 * `Accept-Encoding: gzip`. The functions read such an event as what it is, an inflated body
 * whose header still says gzip, and inflate, capped at `MAX_BODY_BYTES`, only a body that still
 * carries gzip or zlib framing (a direct invoke); see `parseJsonBody` in
 * `functions/shared/http.ts`. The local server does what API Gateway does.
 *
 * Binary bodies: `binaryMediaTypes` is `application/octet-stream` only (`BINARY_MEDIA_TYPES`,
 * `functions/shared/media-types.ts`), the Open Inference Protocol's binary tensor form (a JSON
 * header whose length is in `Inference-Header-Content-Length`, then raw little-endian bytes).
 * A request with that `Content-Type` reaches the function base64-encoded (`isBase64Encoded:
 * true`); JSON stays text, since base64 would make it a third larger against Lambda's 6 MB. On
 * the way back, a function's base64 answer (`isBase64Encoded: true`) is decoded to bytes only for
 * a client whose `Accept` header names the binary type first (`Accept: application/octet-stream`):
 * API Gateway reads only the first media type of `Accept`, and any other client gets the base64
 * text. The local server does the same (`local/server.ts`).
 */
import { RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import {
  AccessLogField,
  AccessLogFormat,
  ApiKeySourceType,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  Period,
  ResponseType,
  RestApi,
  type UsagePlan,
  type IAuthorizer,
  type MethodOptions,
  type RequestValidator,
} from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { BINARY_MEDIA_TYPES } from '../functions/shared/media-types.js';
import { ROUTES, type Route } from '../functions/shared/routes.js';
import type { UsagePlanConfig } from './config.js';
import { acknowledgeNag } from './nag.js';

/** The path parameter that names a model in the route table. */
export const MODEL_PARAMETER = '{model}';

export interface ApiEndpointTarget {
  readonly model: string;
  /** What the model's routes invoke: the endpoint's alias `live`. */
  readonly target: IFunction;
}

export interface ServingApiProps {
  /** @default ROUTES */
  readonly routes?: readonly Route[];
  /** Serves `fn: 'control'` routes. */
  readonly control: IFunction;
  /** One entry per endpoint model; at least one. */
  readonly endpoints: readonly ApiEndpointTarget[];
  /** Serves the model-independent public routes (health, `GET /v2`). @default the first endpoint's target */
  readonly healthTarget?: IFunction;
  /** The authorizer of every non-public method (the API's default method option). */
  readonly authorizer: IAuthorizer;
  /**
   * Per-client usage plans, attached to the stage; clients are the API keys the authorizer
   * returns as `usageIdentifierKey`. @default none
   */
  readonly usagePlans?: readonly UsagePlanConfig[];
  /**
   * Non-public methods require an API key (from the authorizer), so the usage plans apply; a
   * request whose token yields no key of a plan gets 403. @default false: only stage throttling
   */
  readonly apiKeyRequired?: boolean;
  /** @default 'prod' */
  readonly stageName?: string;
  /** @default 100 */
  readonly throttleRateLimit?: number;
  /** @default 200 */
  readonly throttleBurstLimit?: number;
  /** CORS allowed origins. @default none: CORS off */
  readonly corsAllowOrigins?: readonly string[];
  readonly logRetention: RetentionDays;
}

/**
 * @example
 * const jwt = new JwtAuthorizer(this, 'Authorizer', { config: config.auth, logRetention });
 * const api = new ServingApi(this, 'Api', { control: control.function.function, endpoints: [{ model: 'iris', target: iris.alias }],
 *   authorizer: jwt.authorizer, usagePlans: config.auth.usagePlans, logRetention });
 */
export class ServingApi extends Construct {
  readonly api: RestApi;
  readonly accessLogs: LogGroup;
  readonly requestValidator: RequestValidator;
  /** The usage plans, by configured name. */
  readonly usagePlans = new Map<string, UsagePlan>();
  private readonly integrations = new Map<IFunction, LambdaIntegration>();

  constructor(scope: Construct, id: string, props: ServingApiProps) {
    super(scope, id);
    const [firstEndpoint] = props.endpoints;
    if (!firstEndpoint) throw new Error('ServingApi needs at least one endpoint.');
    const routes = props.routes ?? ROUTES;

    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.RETAIN });
    // The authorizer is the default: every route is protected from the moment it is created.
    const defaultMethodOptions: MethodOptions = {
      authorizer: props.authorizer,
      ...(props.apiKeyRequired ? { apiKeyRequired: true } : {}),
    };

    this.api = new RestApi(this, 'Api', {
      description: `ONNX model serving (${Stack.of(this).stackName})`,
      endpointConfiguration: { types: [EndpointType.REGIONAL] },
      defaultMethodOptions,
      // Decode gzip/deflate request bodies of every size (and gzip answers on request); see the file's comment.
      minCompressionSize: Size.bytes(0),
      // Binary tensors (base64 to the function, bytes back for `Accept: application/octet-stream`); JSON stays text.
      binaryMediaTypes: [...BINARY_MEDIA_TYPES],
      // Usage plans key on what the authorizer returns; an x-api-key header counts for nothing.
      apiKeySourceType: ApiKeySourceType.AUTHORIZER,
      // Execution logs need the account-level CloudWatch role; kept if the stack is deleted
      // because it is shared by every API in the account and region.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      ...(props.corsAllowOrigins
        ? {
            defaultCorsPreflightOptions: {
              allowOrigins: [...props.corsAllowOrigins],
              allowMethods: ['GET', 'POST', 'PUT'],
              allowHeaders: ['Authorization', 'Content-Type', 'X-Amz-Date', 'X-Amz-Security-Token'],
            },
          }
        : {}),
      deployOptions: {
        stageName: props.stageName ?? 'prod',
        throttlingRateLimit: props.throttleRateLimit ?? 100,
        throttlingBurstLimit: props.throttleBurstLimit ?? 200,
        accessLogDestination: new LogGroupLogDestination(this.accessLogs),
        accessLogFormat: AccessLogFormat.custom(
          JSON.stringify({
            requestId: AccessLogField.contextRequestId(),
            extendedRequestId: AccessLogField.contextExtendedRequestId(),
            requestTime: AccessLogField.contextRequestTime(),
            ip: AccessLogField.contextIdentitySourceIp(),
            caller: AccessLogField.contextIdentityCaller(),
            user: AccessLogField.contextIdentityUser(),
            principalId: AccessLogField.contextAuthorizerPrincipalId(),
            httpMethod: AccessLogField.contextHttpMethod(),
            resourcePath: AccessLogField.contextResourcePath(),
            path: AccessLogField.contextPath(),
            status: AccessLogField.contextStatus(),
            protocol: AccessLogField.contextProtocol(),
            responseLength: AccessLogField.contextResponseLength(),
            responseLatency: AccessLogField.contextResponseLatency(),
            integrationLatency: AccessLogField.contextIntegrationLatency(),
            integrationStatus: AccessLogField.contextIntegrationStatus(),
            errorType: AccessLogField.contextErrorResponseType(),
            error: AccessLogField.contextErrorMessage(),
          }),
        ),
        // Execution logs at INFO for every method; request/response bodies are NOT logged
        // (dataTrace), since prediction inputs may carry personal data.
        loggingLevel: MethodLoggingLevel.INFO,
        dataTraceEnabled: false,
        metricsEnabled: true,
      },
    });
    acknowledgeNag(
      this.api,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      "API Gateway's account-level CloudWatch role uses the AWS-managed AmazonAPIGatewayPushToCloudWatchLogs policy, the documented role for execution logs.",
    );
    acknowledgeNag(
      this.api,
      'AwsSolutions-APIG3',
      'No WAF yet: the stage is throttled and every model route is authorized; a web ACL is an account-level choice for the platform team.',
    );
    acknowledgeNag(
      this.api,
      'AwsSolutions-COG4',
      'Routes are authorized by the JWT Lambda (REQUEST) authorizer, which verifies the tokens of whichever OAuth/OIDC issuer the auth config names; a Cognito user pool authorizer would tie the product to one identity provider.',
    );

    // Path parameters are required wherever a resource has them; API Gateway checks before invoking.
    this.requestValidator = this.api.addRequestValidator('PathParameters', { validateRequestParameters: true, validateRequestBody: false });
    acknowledgeNag(
      this.api,
      'AwsSolutions-APIG2',
      "Request parameters are validated by API Gateway; bodies are validated by the functions' codec (size, depth, content type, then the model's own signature), which answers with the product's stable error codes and field paths. No API Gateway model can express the per-model request schemas, so body validation there would be a no-op.",
    );

    this.addGatewayResponses();
    this.addUsagePlans(props.usagePlans ?? []);

    const healthTarget = props.healthTarget ?? firstEndpoint.target;
    for (const route of routes) {
      if (route.public) {
        // The API's OpenAPI document is the control plane's; the health checks and `GET /v2` answer
        // from an endpoint, since they say whether a model can serve.
        this.addRoute(route.resource, route, route.fn === 'control' ? props.control : healthTarget, true);
      } else if (route.resource.includes(MODEL_PARAMETER)) {
        // Model routes: the control plane's stay on `{model}`; the predict ones exist only per endpoint.
        if (route.fn === 'control') this.addRoute(route.resource, route, props.control, false);
      } else if (route.fn === 'control') {
        this.addRoute(route.resource, route, props.control, false);
      } else {
        throw new Error(`Route ${route.method} ${route.resource} is served by "${route.fn}" but names no model; no function can serve it.`);
      }
    }
    for (const endpoint of props.endpoints) {
      for (const route of routes) {
        if (route.public || !route.resource.includes(MODEL_PARAMETER)) continue;
        const literal = route.resource.split(MODEL_PARAMETER).join(endpoint.model);
        this.addRoute(literal, route, route.fn === 'predict' ? endpoint.target : props.control, false);
      }
    }
  }

  /** The stage's base URL, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/prod/`. */
  get url(): string {
    return this.api.url;
  }

  /**
   * Errors API Gateway itself answers keep the product's error shape: a stable code, a message,
   * and the request id. The authorizer's outcomes get the codes docs/protocol.md's table gives.
   */
  private addGatewayResponses(): void {
    for (const response of GATEWAY_RESPONSES) {
      this.api.addGatewayResponse(response.id, {
        type: response.type,
        ...(response.statusCode ? { statusCode: response.statusCode } : {}),
        responseHeaders: { 'Content-Type': "'application/json'", ...response.headers },
        templates: { 'application/json': errorTemplate(response.code, response.message) },
      });
    }
  }

  private addUsagePlans(plans: readonly UsagePlanConfig[]): void {
    const stackName = Stack.of(this).stackName;
    for (const plan of plans) {
      const usagePlan = this.api.addUsagePlan(`UsagePlan-${plan.name}`, {
        name: `${stackName}-${plan.name}`,
        description: `Client tier "${plan.name}" of ${stackName}: ${plan.rateLimit} requests/s, bursts of ${plan.burstLimit}${plan.quotaPerDay ? `, ${plan.quotaPerDay} a day` : ''}`,
        throttle: { rateLimit: plan.rateLimit, burstLimit: plan.burstLimit },
        ...(plan.quotaPerDay !== undefined ? { quota: { limit: plan.quotaPerDay, period: Period.DAY } } : {}),
        apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
      });
      this.usagePlans.set(plan.name, usagePlan);
    }
  }

  private integration(target: IFunction): LambdaIntegration {
    let integration = this.integrations.get(target);
    if (!integration) {
      // One invoke permission per function, scoped to this API (any stage, method and path of
      // it), rather than two per method: with every control route mirrored under each
      // endpoint's literal branch, per-method permissions alone cost about 45 resources per
      // endpoint, and three endpoints with batch jobs passed CloudFormation's 500 per stack.
      // API Gateway invokes a function only through the integrations the route table defines,
      // so what the wider scope admits is this API's own methods, all of which are ours.
      integration = new LambdaIntegration(target, { scopePermissionToMethod: false });
      this.integrations.set(target, integration);
    }
    return integration;
  }

  private addRoute(path: string, route: Route, target: IFunction, isPublic: boolean): void {
    const parameters = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] as string);
    const options: MethodOptions = {
      ...(isPublic ? { authorizationType: AuthorizationType.NONE, apiKeyRequired: false } : {}),
      ...(parameters.length > 0
        ? {
            requestValidator: this.requestValidator,
            requestParameters: Object.fromEntries(parameters.map((name) => [`method.request.path.${name}`, true])),
          }
        : {}),
    };
    const method = this.api.root.resourceForPath(path).addMethod(route.method, this.integration(target), options);
    if (isPublic) {
      acknowledgeNag(
        method,
        'AwsSolutions-APIG4',
        `${route.method} ${path} is public (routes.ts marks it so): a health check, the inference protocol's server metadata, or the API's OpenAPI document, none of which names a model or holds data; load balancers, uptime probes and protocol clients call it without credentials.`,
      );
    }
  }
}

/** The body of an error API Gateway answers itself; `message` is VTL inside a JSON string. */
function errorTemplate(code: string, message: string): string {
  return `{"error":{"code":"${code}","message":${message},"path":""},"requestId":"$context.requestId"}`;
}

interface GatewayResponseSpec {
  readonly id: string;
  readonly type: ResponseType;
  readonly statusCode?: string;
  /** The error code, or VTL giving it. */
  readonly code: string;
  /** A JSON string literal, or VTL giving one. */
  readonly message: string;
  readonly headers?: Record<string, string>;
}

/** `$context.error.messageString` is already a quoted JSON string. */
const API_GATEWAY_MESSAGE = '$context.error.messageString';

export const GATEWAY_RESPONSES: readonly GatewayResponseSpec[] = [
  {
    id: 'Unauthorized',
    type: ResponseType.UNAUTHORIZED,
    statusCode: '401',
    code: 'UNAUTHORIZED',
    message:
      '"This route needs a valid token: send Authorization: Bearer <JWT> (missing, malformed, expired or foreign tokens are refused)."',
    headers: { 'WWW-Authenticate': `'Bearer realm="onnx-serving"'` },
  },
  {
    id: 'AccessDenied',
    type: ResponseType.ACCESS_DENIED,
    statusCode: '403',
    code: 'FORBIDDEN',
    // The context the authorizer cached with the policy: the token's grants, e.g. `predict:iris`.
    message: '"The token does not grant this route (its grants: $context.authorizer.scope)."',
  },
  {
    id: 'InvalidApiKey',
    type: ResponseType.INVALID_API_KEY,
    statusCode: '403',
    code: 'FORBIDDEN',
    message: '"The token names no API key of a usage plan of this API."',
  },
  {
    id: 'AuthorizerFailure',
    type: ResponseType.AUTHORIZER_FAILURE,
    statusCode: '500',
    code: 'AUTHORIZER_FAILURE',
    message: '"The token could not be checked (the authorizer failed); nothing is allowed meanwhile. Retry later."',
  },
  {
    id: 'AuthorizerConfigurationError',
    type: ResponseType.AUTHORIZER_CONFIGURATION_ERROR,
    statusCode: '500',
    code: 'AUTHORIZER_FAILURE',
    message: '"The token could not be checked (the authorizer answered in an unexpected way); nothing is allowed meanwhile."',
  },
  {
    id: 'Throttled',
    type: ResponseType.THROTTLED,
    statusCode: '429',
    code: 'RATE_LIMITED',
    message: '"Too many requests; retry after a second."',
    headers: { 'Retry-After': "'1'" },
  },
  {
    id: 'QuotaExceeded',
    type: ResponseType.QUOTA_EXCEEDED,
    statusCode: '429',
    code: 'RATE_LIMITED',
    message: '"The client\'s daily request quota is spent."',
  },
  {
    // API Gateway's answer to a path or method the API does not have (its "Missing Authentication Token").
    id: 'RouteNotFound',
    type: ResponseType.MISSING_AUTHENTICATION_TOKEN,
    statusCode: '404',
    code: 'ROUTE_NOT_FOUND',
    message:
      '"No route for this method and path (the path may exist with another method). The routes are in the OpenAPI document: GET /openapi.json."',
  },
  {
    id: 'UnsupportedMediaType',
    type: ResponseType.UNSUPPORTED_MEDIA_TYPE,
    statusCode: '415',
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message:
      '"The body\'s Content-Encoding is not one API Gateway decodes, or the body is not what it says: send the JSON uncompressed, or compressed once with gzip or deflate."',
  },
  {
    id: 'RequestTooLarge',
    type: ResponseType.REQUEST_TOO_LARGE,
    statusCode: '413',
    code: 'BODY_TOO_LARGE',
    message: '"The request is larger than API Gateway\'s 10 MB limit."',
  },
  { id: 'Default4xx', type: ResponseType.DEFAULT_4XX, code: '$context.error.responseType', message: API_GATEWAY_MESSAGE },
  { id: 'Default5xx', type: ResponseType.DEFAULT_5XX, code: '$context.error.responseType', message: API_GATEWAY_MESSAGE },
];
