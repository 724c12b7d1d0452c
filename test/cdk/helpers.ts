/**
 * Shared by the CDK tests: synthesize the app as `cdk synth` would (cdk.json's context, feature
 * flags included), with the endpoint config a test chooses, and read the template.
 */
import { jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Stack, type AppProps } from 'aws-cdk-lib';
import { IdentitySource, RequestAuthorizer } from 'aws-cdk-lib/aws-apigateway';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { ServingApi } from '../../lib/serving-api.js';
import { createServingApp, type ServingApp, type ServingAppOptions } from '../../lib/app.js';
import { CONFIG_CONTEXT_KEY, type AppConfigInput } from '../../lib/config.js';
import { flattenReference } from '../../lib/nag.js';

const CDK_JSON = new URL('../../cdk.json', import.meta.url);

let outdir: string | undefined;

/**
 * The synthesis folder of the running test file: one per file, so an asset staged once (the ONNX
 * Runtime layer is 70 MB for two architectures) is reused by every app the file synthesizes, as
 * the CDK does for a long-lived `cdk.out`. `test/cdk/setup.ts` removes it after the file.
 */
export function cdkOutdir(): string {
  outdir ??= mkdtempSync(path.join(os.tmpdir(), 'cdk.out-test-'));
  return outdir;
}

/** Removes the running test file's synthesis folder (after all its tests). */
export function removeCdkOutdir(): void {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
  outdir = undefined;
}

/** An app that synthesizes into the test file's folder, never a new temporary one per app. */
export function testApp(props: AppProps = {}): App {
  return new App({ outdir: cdkOutdir(), ...props });
}

/** cdk.json's `context`: the feature flags and the default endpoint config. */
export function cdkJsonContext(): Record<string, unknown> {
  const { context } = JSON.parse(readFileSync(CDK_JSON, 'utf8')) as { context: Record<string, unknown> };
  return context;
}

/**
 * An identity provider for tests of cdk.json's app that are not about `auth`: cdk.json's
 * placeholder issuer makes every synth print a warning (test/cdk/auth.test.ts checks that one).
 */
export const TEST_AUTH = {
  issuer: 'https://login.acme.test/',
  audience: 'onnx-serving',
  jwksUrl: 'https://login.acme.test/.well-known/jwks.json',
} as const;

/** cdk.json's app config (its `onnxServing` context) with {@link TEST_AUTH} in place of the placeholder `auth`. */
export function cdkJsonConfig(): AppConfigInput {
  return { ...(cdkJsonContext()[CONFIG_CONTEXT_KEY] as AppConfigInput), auth: TEST_AUTH };
}

/** The line the CDK writes to stderr for each asset it bundles, whatever its settings. */
const BUNDLING_PROGRESS = /^Bundling asset (\S+)\.\.\.\n$/;

/**
 * Runs `build` (the CDK bundles an asset when its construct is created) with the CDK's progress
 * line for each bundled asset (`Bundling asset <path>...`) kept out of the test output and
 * recorded instead; anything else written to stderr (esbuild's warnings and errors above all)
 * passes through. Returns what `build` returned and the construct paths of the assets bundled.
 */
export function bundlingQuietly<T>(build: () => T): { built: T; bundled: string[] } {
  const bundled: string[] = [];
  const write = process.stderr.write.bind(process.stderr) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const progress = typeof chunk === 'string' ? BUNDLING_PROGRESS.exec(chunk) : null;
    if (!progress?.[1]) return write(chunk, ...rest);
    bundled.push(progress[1]);
    return true;
  }) as typeof process.stderr.write);
  try {
    return { built: build(), bundled };
  } finally {
    spy.mockRestore();
  }
}

/**
 * The API construct on its own, over stand-in functions (inline code, no bundling): one endpoint
 * for `iris`, a REQUEST authorizer, a week of logs, and `props` on top.
 */
export function bareServingApi(props: Partial<ConstructorParameters<typeof ServingApi>[2]> = {}): { stack: Stack; template: Template } {
  const stack = new Stack(testApp(), 'Bare');
  const fn = (id: string) =>
    new LambdaFunction(stack, id, {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => ({})'),
    });
  new ServingApi(stack, 'Api', {
    control: fn('Control'),
    endpoints: [{ model: 'iris', target: fn('Iris') }],
    authorizer: new RequestAuthorizer(stack, 'Jwt', {
      handler: fn('Authorizer'),
      identitySources: [IdentitySource.header('Authorization')],
    }),
    logRetention: RetentionDays.ONE_WEEK,
    ...props,
  });
  return { stack, template: Template.fromStack(stack) };
}

export interface Synthesized extends ServingApp {
  readonly template: Template;
  /** The construct paths of the assets bundled for this app (none with `bundle: false`, or when already staged). */
  readonly bundled: readonly string[];
}

export interface SynthesizeOptions extends Omit<ServingAppOptions, 'context'> {
  /**
   * Bundle the functions (esbuild), as `cdk synth` does. Without it the template is the same but
   * the functions' code assets are placeholders (as in `cdk ls`): for tests of other resources
   * that need not pay for bundling again. @default true
   */
  readonly bundle?: boolean;
  /** Context on top of cdk.json's (feature flags, say). @default none */
  readonly context?: Record<string, unknown>;
}

/**
 * Builds the app with cdk.json's context, `config` in place of its endpoint config when given,
 * and synthesizes the stack's template (bundling the functions once).
 */
export function synthesize(config?: AppConfigInput, options: SynthesizeOptions = {}): Synthesized {
  const { bundle = true, context: extra = {}, ...appOptions } = options;
  const context = {
    ...cdkJsonContext(),
    ...(config ? { [CONFIG_CONTEXT_KEY]: config } : {}),
    // The stacks to bundle: none.
    ...(bundle ? {} : { [BUNDLING_STACKS]: [] }),
    ...extra,
  };
  const { built, bundled } = bundlingQuietly(() => {
    const app = createServingApp({ nag: false, outdir: cdkOutdir(), ...appOptions, context });
    return { ...app, template: Template.fromStack(app.stack) };
  });
  return { ...built, bundled };
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
      alarms: { errorRatePercent: 2.5, minInvocations: 50, p99LatencyMs: 800, periodSeconds: 120, evaluationPeriods: 2 },
      // No predefined CodeDeploy configuration shifts this: a custom one is created.
      release: { managed: 'linear', percent: 20, intervalMinutes: 15 },
    },
  ],
};

/**
 * Batch jobs for two models with locations of their own (iris: a prefix of a shared bucket;
 * churn: a whole bucket and a prefix of another bucket for input, a prefix for output), and a
 * third model without batch locations; job limits below the defaults.
 */
export const BATCH_ENDPOINTS: AppConfigInput = {
  auth: TWO_ENDPOINTS.auth,
  endpoints: [
    { model: 'iris', batch: { inputs: ['s3://acme-scoring/iris/in/'], outputs: ['s3://acme-scoring/iris/out/'] } },
    {
      model: 'churn',
      architecture: 'x86_64',
      batch: { inputs: ['s3://crm-exports', 's3://crm-archive/daily/'], outputs: ['s3://crm-scores/churn/'] },
    },
    { model: 'wine' },
  ],
  batch: { maxConcurrency: 50, jobTtlDays: 30, maxRowsPerBatch: 2000 },
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

/** The endpoint function serving `model` (its environment names SERVED_MODEL). */
export function endpointFunction(template: Template, model: string): [string, Record<string, unknown>] {
  const [id, resource] = onlyResource(template, 'AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ SERVED_MODEL: model }) },
  });
  return [id, resource.Properties ?? {}];
}

/** The logical id of the `AWS::Lambda::Version` that alias `live` of function `fnId` points to. */
export function liveVersionOf(template: Template, fnId: string): string {
  const version = new Capture();
  template.hasResourceProperties('AWS::Lambda::Alias', {
    Name: 'live',
    FunctionName: { Ref: fnId },
    FunctionVersion: { 'Fn::GetAtt': [version, 'Version'] },
  });
  return version.asString();
}

/** One query of a metric-math alarm, as the template holds it. */
export interface TemplateMetricQuery {
  readonly Id: string;
  readonly Expression?: string;
  readonly Label?: string;
  readonly ReturnData?: boolean;
  readonly MetricStat?: {
    readonly Metric: {
      readonly Namespace: string;
      readonly MetricName: string;
      readonly Dimensions: readonly { readonly Name: string; readonly Value: unknown }[];
    };
    readonly Period: number;
    readonly Stat: string;
  };
}

/**
 * The errors alarm of `model`'s endpoint: the metric-math alarm one of whose metrics has the
 * dimension Model = `model` (the function's EMF metrics). Fails unless exactly one does.
 */
export function errorsAlarmOf(template: Template, model: string): [string, Record<string, unknown> & { Metrics: TemplateMetricQuery[] }] {
  const [id, alarm] = onlyResource(template, 'AWS::CloudWatch::Alarm', {
    Metrics: Match.arrayWith([
      Match.objectLike({
        MetricStat: Match.objectLike({ Metric: Match.objectLike({ Dimensions: Match.arrayWith([{ Name: 'Model', Value: model }]) }) }),
      }),
    ]),
  });
  return [id, alarm.Properties as Record<string, unknown> & { Metrics: TemplateMetricQuery[] }];
}

/** The metric-math alarm's queries by id. */
export function queriesById(metrics: readonly TemplateMetricQuery[]): Record<string, TemplateMetricQuery> {
  return Object.fromEntries(metrics.map((query) => [query.Id, query]));
}

/** One widget of a dashboard body (the fields the tests read). */
export interface DashboardWidget {
  readonly type: string;
  readonly properties: {
    readonly title?: string;
    readonly markdown?: string;
    /** Graphs: `[namespace, name, dim, value, ..., options]` per metric, `[{ expression, label }]` per expression. */
    readonly metrics?: unknown[][];
    /** Alarm status widgets. */
    readonly alarms?: string[];
    /** Alarm widgets. */
    readonly annotations?: { readonly alarms?: string[] };
  };
}

/** A graphed metric of a dashboard, read from its `[namespace, name, dim, value, ..., options]` form. */
export interface GraphedMetric {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Record<string, string>;
  readonly stat?: string;
}

/**
 * The widgets of the dashboard named `name`, from its body: the Fn::Join resolved, references
 * written as `<LogicalId>` (and `<LogicalId.Attribute>`), then parsed as the JSON CloudWatch reads.
 */
export function dashboardWidgets(template: Template, name: string): DashboardWidget[] {
  const [, dashboard] = onlyResource(template, 'AWS::CloudWatch::Dashboard', { DashboardName: name });
  const body = JSON.parse(joinedText(dashboard.Properties?.['DashboardBody'])) as { widgets: DashboardWidget[] };
  return body.widgets;
}

/**
 * A Fn::Join of literal text and references as one string: the literal parts untouched (a
 * dashboard body's braces and `${PROP(...)}` labels stay), each reference as cdk-nag prints it.
 */
export function joinedText(node: unknown): string {
  if (typeof node === 'string') return node;
  const join = (node as { 'Fn::Join'?: [string, unknown[]] } | null)?.['Fn::Join'];
  if (join) return join[1].map(joinedText).join(join[0]);
  return flattenReference(node);
}

/** Every expression (SEARCH, math) the widgets graph. */
export function graphedExpressions(widgets: readonly DashboardWidget[]): string[] {
  return widgets
    .flatMap((w) => w.properties.metrics ?? [])
    .flatMap((m) => {
      const first = m[0] as { expression?: unknown } | undefined;
      return m.length === 1 && typeof first?.expression === 'string' ? [first.expression] : [];
    });
}

/** Every plain metric the widgets graph. */
export function graphedMetrics(widgets: readonly DashboardWidget[]): GraphedMetric[] {
  return widgets
    .flatMap((w) => w.properties.metrics ?? [])
    .flatMap((m) => {
      if (typeof m[0] !== 'string') return [];
      const last = m.at(-1);
      const options = typeof last === 'object' && last !== null ? (last as { stat?: string }) : undefined;
      const parts = (options ? m.slice(0, -1) : m) as string[];
      const [namespace = '', metricName = '', ...pairs] = parts;
      const dimensions: Record<string, string> = {};
      for (let i = 0; i + 1 < pairs.length; i += 2) dimensions[pairs[i] as string] = pairs[i + 1] as string;
      return [{ namespace, metricName, dimensions, ...(options?.stat ? { stat: options.stat } : {}) }];
    });
}

/** A state of an Amazon States Language definition (the fields the tests read). */
export interface AslState {
  readonly Type: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Default?: string;
  readonly Resource?: string;
  readonly Parameters?: Record<string, unknown>;
  readonly ResultPath?: string | null;
  readonly OutputPath?: string;
  readonly Retry?: readonly { ErrorEquals: string[]; IntervalSeconds?: number; MaxAttempts?: number; BackoffRate?: number }[];
  readonly Catch?: readonly { ErrorEquals: string[]; ResultPath?: string; Next: string }[];
  readonly Choices?: readonly Record<string, unknown>[];
  readonly ItemProcessor?: AslDefinition & { readonly ProcessorConfig?: Record<string, unknown> };
  readonly [field: string]: unknown;
}

export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Record<string, AslState>;
}

/**
 * A state machine's definition as Step Functions reads it: its DefinitionString (a Fn::Join of
 * JSON text and references) joined, each reference written as `<LogicalId>` or
 * `<LogicalId.Attribute>` (see {@link joinedText}), then parsed.
 */
export function stateMachineDefinition(properties: Record<string, unknown> | undefined): AslDefinition {
  return JSON.parse(joinedText(properties?.['DefinitionString'])) as AslDefinition;
}

/** One IAM statement of a role's policies, its actions and resources sorted, references flattened. */
export interface GrantedStatement {
  readonly actions: string[];
  readonly resources: string[];
  readonly condition?: unknown;
}

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

/** Every statement of every policy attached to the role `roleId` (a logical id read from the template). */
export function statementsOfRole(template: Template, roleId: string): GrantedStatement[] {
  // The role's default policy, and the managed policies CDK moves statements to when the inline
  // policy would pass IAM's size limit (`<Role>OverflowPolicy<n>`).
  return [...Object.values(resourcesOf(template, 'AWS::IAM::Policy')), ...Object.values(resourcesOf(template, 'AWS::IAM::ManagedPolicy'))]
    .filter((policy) => asList(policy.Properties?.['Roles']).some((role) => (role as { Ref?: unknown }).Ref === roleId))
    .flatMap((policy) => (policy.Properties?.['PolicyDocument'] as { Statement: Record<string, unknown>[] }).Statement)
    .map((statement) => ({
      actions: (asList(statement['Action']) as string[]).sort(),
      resources: asList(statement['Resource']).map(flattenReference).sort(),
      ...(statement['Condition'] ? { condition: statement['Condition'] } : {}),
    }));
}

/** The statements as `action resource` pairs, sorted (whatever statements minimizePolicies merged). */
export function grantedPairs(statements: readonly GrantedStatement[]): string[] {
  return statements.flatMap((s) => s.actions.flatMap((a) => s.resources.map((r) => `${a} ${r}`))).sort();
}

/** The logical id of the role a function (or state machine) runs with, from its properties. */
export function roleOfResource(properties: Record<string, unknown> | undefined): string {
  const role = (properties?.['Role'] ?? properties?.['RoleArn']) as { 'Fn::GetAtt'?: [string, string] } | undefined;
  const id = role?.['Fn::GetAtt']?.[0];
  if (!id) throw new Error(`no role in ${JSON.stringify(properties).slice(0, 200)}`);
  return id;
}
