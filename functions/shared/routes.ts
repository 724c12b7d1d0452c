/**
 * Every HTTP route of the product, in one table. The handlers dispatch on it, the local server
 * matches paths against it, and the CDK app creates API Gateway resources from it, so the three
 * never disagree about a path.
 */

/** Which function serves a route. */
export type FunctionName = 'predict' | 'control';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Route {
  readonly method: HttpMethod;
  /** API Gateway resource template, e.g. `/v1/models/{model}/predict`. */
  readonly resource: string;
  readonly fn: FunctionName;
  /**
   * Served without a token: the health checks, the inference protocol's server metadata
   * (`GET /v2`) and the API's OpenAPI document (`GET /openapi.json`), which name no model and
   * hold no data.
   */
  readonly public?: boolean;
}

export const ROUTES: readonly Route[] = [
  { method: 'POST', resource: '/v1/models/{model}/predict', fn: 'predict' },
  { method: 'POST', resource: '/v1/models/{model}/payloads', fn: 'predict' },
  { method: 'POST', resource: '/v2/models/{model}/infer', fn: 'predict' },
  { method: 'GET', resource: '/v2/models/{model}', fn: 'predict' },
  { method: 'GET', resource: '/v2/models/{model}/ready', fn: 'predict' },
  { method: 'POST', resource: '/v2/models/{model}/versions/{version}/infer', fn: 'predict' },
  { method: 'GET', resource: '/v2/models/{model}/versions/{version}', fn: 'predict' },
  { method: 'GET', resource: '/v2/models/{model}/versions/{version}/ready', fn: 'predict' },
  { method: 'GET', resource: '/v2/health/live', fn: 'predict', public: true },
  { method: 'GET', resource: '/v2/health/ready', fn: 'predict', public: true },
  { method: 'GET', resource: '/v2', fn: 'predict', public: true },
  { method: 'GET', resource: '/openapi.json', fn: 'control', public: true },
  { method: 'GET', resource: '/v1/models', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/versions', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/versions', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/uploads', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/versions/{version}', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/openapi.json', fn: 'control' },
  { method: 'PUT', resource: '/v1/models/{model}/production', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/versions/{version}/stage', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/history', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/versions/{version}/promote', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/deployment', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/deployment/shift', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/deployment/rollback', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/deployment/finalize', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/stats', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/predictions', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/batch-jobs', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/batch-jobs', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/batch-jobs/{job}', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/batch-jobs/{job}/cancel', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/batch-inputs', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/replays', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/capture', fn: 'control' },
  { method: 'PUT', resource: '/v1/models/{model}/capture', fn: 'control' },
  { method: 'DELETE', resource: '/v1/models/{model}/capture', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/drift', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/drift', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/versions/{version}/profile', fn: 'control' },
  { method: 'PUT', resource: '/v1/models/{model}/versions/{version}/profile', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/experiments', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/experiments', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/experiments/{experiment}', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/experiments/{experiment}/stop', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/experiments/{experiment}/promote-winner', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/experiments/{experiment}/outcomes', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/shadow', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/shadow', fn: 'control' },
  { method: 'DELETE', resource: '/v1/models/{model}/shadow', fn: 'control' },
];

/** The key a handler dispatches on: `"POST /v1/models/{model}/predict"`. */
export function routeKey(method: string, resource: string): string {
  return `${method} ${resource}`;
}

/** The path parameters a resource template names, in order: `/v1/models/{model}/versions/{version}` → `['model', 'version']`. */
export function routeParameters(resource: string): string[] {
  return [...resource.matchAll(/\{([^}/]+)\}/g)].map((match) => match[1] as string);
}

export interface RouteMatch {
  readonly route: Route;
  readonly pathParameters: Record<string, string>;
}

/**
 * Matches a concrete path (`/v1/models/iris/predict`) against the table. Parameters are returned
 * still percent-encoded, as API Gateway passes them. `methodAllowed` lists the methods the path
 * has when it exists but not for `method` (a 405).
 */
export function matchRoute(
  method: string,
  path: string,
  routes: readonly Route[] = ROUTES,
): RouteMatch | { readonly route: undefined; readonly methodsAllowed: HttpMethod[] } {
  const segments = withoutTrailingSlashes(path).split('/').slice(1);
  const methodsAllowed: HttpMethod[] = [];
  for (const route of routes) {
    const params = matchSegments(route.resource.split('/').slice(1), segments);
    if (!params) continue;
    if (route.method === method) return { route, pathParameters: params };
    methodsAllowed.push(route.method);
  }
  return { route: undefined, methodsAllowed };
}

/**
 * `path` without its trailing slashes, in one pass from the end (a regex such as `/\/+$/`
 * backtracks quadratically on a path of many slashes followed by anything else).
 */
function withoutTrailingSlashes(path: string): string {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f) end--;
  return end === path.length ? path : path.slice(0, end);
}

function matchSegments(template: readonly string[], segments: readonly string[]): Record<string, string> | undefined {
  if (template.length !== segments.length) return undefined;
  // No prototype: the names come from the table, but the map travels on as the event's pathParameters.
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i < template.length; i++) {
    const part = template[i] as string;
    const segment = segments[i] as string;
    if (part.startsWith('{') && part.endsWith('}')) {
      if (segment === '') return undefined;
      params[part.slice(1, -1)] = segment;
    } else if (part !== segment) {
      return undefined;
    }
  }
  return params;
}
