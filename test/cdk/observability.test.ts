/**
 * The `observability` config on AWS: the endpoint functions publish their per-request metrics in
 * the namespace their alarms and dashboards read, log at the configured level, and are traced
 * with X-Ray only when asked (then with exactly X-Ray's two write actions). Two synths of the
 * two-endpoint app: with the defaults, and with a namespace of its own, DEBUG and tracing on.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { loadConfig } from '../../functions/shared/config.js';
import { METRIC } from '../../functions/core/observability.js';
import { flattenReference } from '../../lib/nag.js';
import {
  dashboardWidgets,
  endpointFunction,
  errorsAlarmOf,
  graphedExpressions,
  graphedMetrics,
  queriesById,
  resourcesOf,
  synthesize,
  TWO_ENDPOINTS,
  type Synthesized,
} from './helpers.js';

const CUSTOM = { metricsNamespace: 'Acme Serving/Models', logLevel: 'DEBUG', tracing: true } as const;

let defaults: Synthesized;
let custom: Synthesized;

beforeAll(() => {
  defaults = synthesize(TWO_ENDPOINTS);
  custom = synthesize({ ...TWO_ENDPOINTS, observability: CUSTOM });
});

const MODELS = ['iris', 'churn'] as const;

/** A function's environment with every reference written as `<LogicalId>` (what loadConfig parses). */
function environmentOf(fn: Record<string, unknown>): Record<string, string> {
  const variables = (fn['Environment'] as { Variables: Record<string, unknown> }).Variables;
  return Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, flattenReference(value)]));
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

/** `action resource` for every statement of the policies attached to the role of `fn`. */
function grantsOf(synth: Synthesized, fn: Record<string, unknown>): string[] {
  const role = (fn['Role'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return Object.values(resourcesOf(synth.template, 'AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties?.['Roles']).includes(`"${role}"`))
    .flatMap((policy) => (policy.Properties?.['PolicyDocument'] as { Statement: Record<string, unknown>[] }).Statement)
    .flatMap((statement) =>
      list(statement['Action']).flatMap((action) =>
        list(statement['Resource']).map((resource) => `${String(action)} ${flattenReference(resource)}`),
      ),
    )
    .sort();
}

describe('metrics namespace and log level', () => {
  it.each([
    ['the defaults', () => defaults, 'OnnxServing', 'INFO'],
    ['its own namespace and DEBUG', () => custom, CUSTOM.metricsNamespace, 'DEBUG'],
  ] as const)(
    'with %s, each endpoint function publishes in the namespace its errors alarm reads, at the configured level',
    (_case, synth, namespace, level) => {
      for (const model of MODELS) {
        // Prepare
        const [, fn] = endpointFunction(synth().template, model);
        const [, alarm] = errorsAlarmOf(synth().template, model);

        // Act: the environment as the function's own config parses it.
        const config = loadConfig(environmentOf(fn));

        // Assess
        expect(environmentOf(fn)).toMatchObject({ METRICS_NAMESPACE: namespace, LOG_LEVEL: level });
        expect(config.METRICS_NAMESPACE).toBe(namespace);
        expect(config.LOG_LEVEL).toBe(level);
        expect(queriesById(alarm.Metrics)['serverErrors']?.MetricStat?.Metric.Namespace).toBe(config.METRICS_NAMESPACE);
      }
    },
  );

  it('the stack and each endpoint expose the namespace, for whatever reads the metrics back (the control plane)', () => {
    expect(defaults.stack.metricsNamespace).toBe('OnnxServing');
    expect(custom.stack.metricsNamespace).toBe(CUSTOM.metricsNamespace);
    expect(custom.stack.endpoints.map((e) => e.metricsNamespace)).toEqual([CUSTOM.metricsNamespace, CUSTOM.metricsNamespace]);
  });
});

describe('X-Ray tracing', () => {
  it('is off by default: no function traces, no role may write to X-Ray, no endpoint is told TRACING', () => {
    // Act
    const functions = Object.values(resourcesOf(defaults.template, 'AWS::Lambda::Function'));
    const policies = JSON.stringify(resourcesOf(defaults.template, 'AWS::IAM::Policy'));

    // Assess
    expect(functions.length).toBeGreaterThan(2);
    for (const fn of functions) expect(fn.Properties?.['TracingConfig']).toBeUndefined();
    expect(policies).not.toContain('xray:');
    for (const model of MODELS) {
      const [, fn] = endpointFunction(defaults.template, model);
      expect(environmentOf(fn)).not.toHaveProperty('TRACING');
      expect(loadConfig(environmentOf(fn)).TRACING).toBe(false);
    }
  });

  it.each(MODELS)(
    'when configured, %s traces actively, is told TRACING=true, and may write exactly PutTraceSegments and PutTelemetryRecords on "*"',
    (model) => {
      // Prepare
      const [, fn] = endpointFunction(custom.template, model);
      const [, untraced] = endpointFunction(defaults.template, model);

      // Act
      const grants = grantsOf(custom, fn);

      // Assess
      expect(fn['TracingConfig']).toEqual({ Mode: 'Active' });
      expect(environmentOf(fn)).toMatchObject({ TRACING: 'true' });
      expect(loadConfig(environmentOf(fn)).TRACING).toBe(true);
      expect(grants.filter((g) => g.startsWith('xray:'))).toEqual(['xray:PutTelemetryRecords *', 'xray:PutTraceSegments *']);
      expect(grants.filter((g) => g.endsWith(' *'))).toEqual(['xray:PutTelemetryRecords *', 'xray:PutTraceSegments *']);
      // Nothing else changes: the traced role is the untraced one plus X-Ray.
      expect(grants.filter((g) => !g.startsWith('xray:')).map((g) => g.replace(/<\w+>/g, '<id>'))).toEqual(
        grantsOf(defaults, untraced).map((g) => g.replace(/<\w+>/g, '<id>')),
      );
    },
  );
});

describe('the dashboard reads the namespace the functions publish in', () => {
  it.each(MODELS)(
    "%s's dashboard searches the configured namespace (quoted, it has a space) by FunctionVersion and ModelVersion, and graphs its prediction-log fallback",
    (model) => {
      // Act
      const widgets = dashboardWidgets(custom.template, `OnnxServing-${model}`);
      const expressions = graphedExpressions(widgets);

      // Assess
      const byFunctionVersion = expressions.filter((e) => e.startsWith(`SEARCH('{"${CUSTOM.metricsNamespace}",Model,FunctionVersion} `));
      const byModelVersion = expressions.filter((e) => e.startsWith(`SEARCH('{"${CUSTOM.metricsNamespace}",Model,ModelVersion} `));
      expect(byFunctionVersion.length).toBeGreaterThanOrEqual(10);
      expect(byModelVersion).toHaveLength(3);
      for (const expression of [...byFunctionVersion, ...byModelVersion]) expect(expression).toContain(` Model="${model}"'`);
      expect(expressions.filter((e) => e.includes('OnnxServing'))).toEqual([]);
      // Every metric the function publishes is on the dashboard.
      for (const metric of Object.values(METRIC)) expect(byFunctionVersion.some((e) => e.includes(`MetricName="${metric}"`))).toBe(true);
      expect(graphedMetrics(widgets)).toContainEqual({
        namespace: CUSTOM.metricsNamespace,
        metricName: 'PredictionLogFallback',
        dimensions: { Model: model },
        stat: 'Sum',
      });
    },
  );

  it('the errors alarm of each endpoint reads the configured namespace too', () => {
    for (const model of MODELS) {
      custom.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: Match.arrayWith([
          Match.objectLike({
            Id: 'serverErrors',
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({
                Namespace: CUSTOM.metricsNamespace,
                Dimensions: Match.arrayWith([{ Name: 'Model', Value: model }]),
              }),
            }),
          }),
        ]),
      });
    }
  });
});
