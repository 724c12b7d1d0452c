/**
 * Shared by the CDK tests: synthesize the app as `cdk synth` would (cdk.json's context, feature
 * flags included), with the endpoint config a test chooses, and read the template.
 */
import { readFileSync } from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import { createServingApp, type ServingApp, type ServingAppOptions } from '../../lib/app.js';
import { CONFIG_CONTEXT_KEY, type AppConfigInput } from '../../lib/config.js';

const CDK_JSON = new URL('../../cdk.json', import.meta.url);

/** cdk.json's `context`: the feature flags and the default endpoint config. */
export function cdkJsonContext(): Record<string, unknown> {
  const { context } = JSON.parse(readFileSync(CDK_JSON, 'utf8')) as { context: Record<string, unknown> };
  return context;
}

export interface Synthesized extends ServingApp {
  readonly template: Template;
}

/**
 * Builds the app with cdk.json's context, `config` in place of its endpoint config when given,
 * and synthesizes the stack's template (bundling the functions once).
 */
export function synthesize(config?: AppConfigInput, options: Omit<ServingAppOptions, 'context'> = {}): Synthesized {
  const context = { ...cdkJsonContext(), ...(config ? { [CONFIG_CONTEXT_KEY]: config } : {}) };
  const built = createServingApp({ nag: false, ...options, context });
  return { ...built, template: Template.fromStack(built.stack) };
}

/**
 * The config with two endpoints, one per architecture, used where both must be told apart; its
 * auth has two issuers, a usage-key claim and two client tiers (cdk.json's has none of these).
 */
export const TWO_ENDPOINTS: AppConfigInput = {
  auth: {
    issuer: ['https://login.acme.test/', 'https://login-eu.acme.test/'],
    audience: 'onnx-serving',
    jwksUrl: 'https://login.acme.test/.well-known/jwks.json',
    usageKeyClaim: 'api_key',
    usagePlans: [
      { name: 'default', rateLimit: 50, burstLimit: 100 },
      { name: 'gold', rateLimit: 400, burstLimit: 800, quotaPerDay: 1_000_000 },
    ],
  },
  endpoints: [
    { model: 'iris', memoryMb: 2048, architecture: 'arm64', maxRows: 500 },
    {
      model: 'churn',
      memoryMb: 3008,
      architecture: 'x86_64',
      reservedConcurrency: 20,
      provisionedConcurrency: 2,
      alarms: { errors: 3, p99LatencyMs: 800, periodSeconds: 120, evaluationPeriods: 2 },
      // No predefined CodeDeploy configuration shifts this: a custom one is created.
      release: { managed: 'linear', percent: 20, intervalMinutes: 15 },
    },
  ],
};

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; [key: string]: unknown }>;

/** Every resource of a type, keyed by logical id (ids are read, never written in a test). */
export function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

/** The one resource of `type` whose properties contain `match` (fails unless exactly one does). */
export function onlyResource(template: Template, type: string, properties: Record<string, unknown>): [string, Resources[string]] {
  const found = Object.entries(template.findResources(type, { Properties: properties }) as Resources);
  if (found.length !== 1) throw new Error(`expected one ${type} matching ${JSON.stringify(properties)}, found ${found.length}`);
  return found[0] as [string, Resources[string]];
}
