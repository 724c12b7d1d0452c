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
  /** Served without a token (health checks only). */
  readonly public?: boolean;
}

export const ROUTES: readonly Route[] = [
  { method: 'POST', resource: '/v1/models/{model}/predict', fn: 'predict' },
  { method: 'POST', resource: '/v2/models/{model}/infer', fn: 'predict' },
  { method: 'GET', resource: '/v2/models/{model}', fn: 'predict' },
  { method: 'GET', resource: '/v2/models/{model}/ready', fn: 'predict' },
  { method: 'GET', resource: '/v2/health/live', fn: 'predict', public: true },
  { method: 'GET', resource: '/v2/health/ready', fn: 'predict', public: true },
  { method: 'GET', resource: '/v1/models', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/versions', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/versions', fn: 'control' },
  { method: 'POST', resource: '/v1/models/{model}/uploads', fn: 'control' },
  { method: 'GET', resource: '/v1/models/{model}/versions/{version}', fn: 'control' },
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
];

/** The key a handler dispatches on: `"POST /v1/models/{model}/predict"`. */
export function routeKey(method: string, resource: string): string {
  return `${method} ${resource}`;
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
  const segments = path.replace(/\/+$/, '').split('/').slice(1);
  const methodsAllowed: HttpMethod[] = [];
  for (const route of routes) {
    const params = matchSegments(route.resource.split('/').slice(1), segments);
    if (!params) continue;
    if (route.method === method) return { route, pathParameters: params };
    methodsAllowed.push(route.method);
  }
  return { route: undefined, methodsAllowed };
}

function matchSegments(template: readonly string[], segments: readonly string[]): Record<string, string> | undefined {
  if (template.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
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
