/**
 * The authorizer's decision as an IAM policy, and how API Gateway evaluates it.
 *
 * API Gateway caches an authorizer's answer per token (its identity source) and applies the
 * cached policy to every later request with that token, whatever the route. So the policy never
 * describes "this request": it lists every method ARN the token's grants open, computed from the
 * route table, e.g. `arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/POST/v1/models/iris/predict`.
 * Whichever route the token calls next, evaluating the cached policy against that route's ARN
 * gives the same answer the authorizer would have given. `test/unit/auth/policy.test.ts` checks
 * this for every route of the table, every grant shape and several models.
 *
 * @example
 * const policy = policyFor(grants, event.methodArn);
 * evaluatePolicy(policy, 'arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/v1/models'); // 'Allow' | 'Deny'
 */
import type { PolicyDocument } from 'aws-lambda';
import { ROUTES, type Route } from '../shared/routes.js';
import { MODEL_PARAMETER, routeNamesModel, scopesOf, type Grants } from './permissions.js';

export interface MethodArn {
  /** `arn:aws:execute-api:<region>:<account>:<api id>` */
  readonly api: string;
  readonly stage: string;
  readonly method: string;
  /** The request path, `/v1/models/iris/predict` (`/` for the root). */
  readonly path: string;
}

const METHOD_ARN = /^(arn:[a-z0-9-]+:execute-api:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9]+)\/([^/]+)\/([A-Z*]+)(\/.*)?$/;

/** Splits an API Gateway method ARN; throws on anything else (a configuration error, 500). */
export function parseMethodArn(arn: string): MethodArn {
  const match = METHOD_ARN.exec(arn);
  if (!match) throw new Error(`Not an API Gateway method ARN: ${JSON.stringify(arn.slice(0, 200))}`);
  return { api: match[1] as string, stage: match[2] as string, method: match[3] as string, path: match[4] ?? '/' };
}

export function formatMethodArn(arn: MethodArn): string {
  return `${arn.api}/${arn.stage}/${arn.method}${arn.path === '/' ? '/' : arn.path}`;
}

/**
 * The path of `route` in a policy resource: `{model}` becomes `model` (or `*` for every model),
 * every other parameter `*`.
 */
export function policyPath(route: Route, model: string | undefined): string {
  return route.resource.replace(/\{([^}]+)\}/g, (_, name: string) => (name === MODEL_PARAMETER && model !== undefined ? model : '*'));
}

/**
 * The policy for a token with `grants`, valid for every route of the API: Allow on exactly the
 * method ARNs the grants open (a Deny on the whole stage when they open none). `methodArn` only
 * supplies the API id and stage.
 */
export function policyFor(grants: Grants, methodArn: string, routes: readonly Route[] = ROUTES): PolicyDocument {
  const { api, stage } = parseMethodArn(methodArn);
  const resources = new Set<string>();
  for (const route of routes) {
    const arn = (model: string | undefined) => formatMethodArn({ api, stage, method: route.method, path: policyPath(route, model) });
    for (const scope of scopesOf(route)) {
      const held = grants.get(scope);
      if (held === undefined) continue;
      if (held === 'all') resources.add(arn(undefined));
      else if (routeNamesModel(route)) for (const model of [...held].sort()) resources.add(arn(model));
    }
  }
  if (resources.size === 0) {
    return { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: `${api}/${stage}/*` }] };
  }
  return { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: [...resources] }] };
}

/**
 * Evaluates a policy against one method ARN as API Gateway does: an explicit Deny wins, then an
 * Allow, else the request is denied. Resources match with IAM wildcards (`*` any run of
 * characters, `/` included; `?` one character), case-sensitively.
 */
export function evaluatePolicy(policy: PolicyDocument, methodArn: string): 'Allow' | 'Deny' {
  let allowed = false;
  for (const statement of policy.Statement as readonly unknown[]) {
    if (typeof statement !== 'object' || statement === null) continue;
    const { Effect, Action, Resource } = statement as { Effect?: unknown; Action?: unknown; Resource?: unknown };
    if (!asList(Action).some((action) => ['execute-api:Invoke', 'execute-api:*', '*'].includes(action))) continue;
    if (!asList(Resource).some((pattern) => globMatches(pattern, methodArn))) continue;
    if (Effect === 'Deny') return 'Deny';
    if (Effect === 'Allow') allowed = true;
  }
  return allowed ? 'Allow' : 'Deny';
}

function asList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function globMatches(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's').test(value);
}
