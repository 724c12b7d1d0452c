/**
 * A CloudWatch dashboard per endpoint, in four rows:
 *
 * 1. the canary signal: the failure rate (%) the errors alarm watches, and the alarms' states;
 * 2. by Lambda version: the function's per-request metrics (`functions/core/observability.ts`,
 *    published as EMF under (Model, FunctionVersion)): invocations, 4xx, 5xx and model errors,
 *    model and overhead latency p50/p99, rows per request, cold starts;
 * 3. by model version: the same metrics under (Model, ModelVersion), to follow a model version
 *    across the Lambda versions that served it: invocations, 5xx, model latency p99;
 * 4. Lambda's own view of alias `live` by ExecutedVersion: `Errors` (the failures no EMF line
 *    reports: crashes, timeouts, out of memory) and `Duration` p50/p99 (end to end, cold starts
 *    and timeouts included), and the prediction-log records that went to the fallback.
 *
 * Versions come and go at run time (canaries, pinned releases), so the graphs use SEARCH
 * expressions over a dimension rather than fixed versions, one line per version found
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-search-expressions.html).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import {
  AlarmStatusWidget,
  AlarmWidget,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { FALLBACK_METRIC } from '../functions/adapters/emf-metrics.js';
import { DIMENSION, METRIC, type MetricName } from '../functions/core/observability.js';
import { LIVE_ALIAS, type ModelEndpoint } from './model-endpoint.js';

export interface EndpointDashboardProps {
  readonly endpoint: ModelEndpoint;
  /** @default 1 minute */
  readonly period?: Duration;
}

/**
 * A namespace or dimension name as a SEARCH schema writes it: as it is when it is letters,
 * digits, `_` and `/` (like `AWS/Lambda`), else in double quotes (CloudWatch namespaces cannot
 * hold a double quote, so none needs escaping).
 */
export function searchName(name: string): string {
  return /^[A-Za-z0-9_/]+$/.test(name) ? name : `"${name}"`;
}

/**
 * @example
 * new EndpointDashboard(this, 'IrisDashboard', { endpoint: iris });
 */
export class EndpointDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: EndpointDashboardProps) {
    super(scope, id);
    const { endpoint } = props;
    const period = props.period ?? Duration.minutes(1);
    const seconds = period.toSeconds();
    const functionName = endpoint.function.function.functionName;
    const namespace = searchName(endpoint.metricsNamespace);

    /** One series per value of `dimension` among the model's own metrics, labelled by it. */
    const byOurs = (dimension: string, metricName: MetricName, statistic: string, label: string): IMetric =>
      new MathExpression({
        expression:
          `SEARCH('{${namespace},${DIMENSION.model},${dimension}} MetricName="${metricName}" ` +
          `${DIMENSION.model}="${endpoint.model}"', '${statistic}', ${seconds})`,
        usingMetrics: {},
        label: `${label} v\${PROP('Dim.${dimension}')}`,
        period,
      });
    const byFunctionVersion = (metricName: MetricName, statistic: string, label: string) =>
      byOurs(DIMENSION.functionVersion, metricName, statistic, label);
    const byModelVersion = (metricName: MetricName, statistic: string, label: string) =>
      byOurs(DIMENSION.modelVersion, metricName, statistic, label);

    /** One series per version that alias `live` executed (Lambda's metrics), labelled by it. */
    const byExecutedVersion = (metricName: string, statistic: string, label: string): IMetric =>
      new MathExpression({
        expression:
          `SEARCH('{AWS/Lambda,ExecutedVersion,FunctionName,Resource} MetricName="${metricName}" ` +
          `FunctionName="${functionName}" Resource="${functionName}:${LIVE_ALIAS}"', '${statistic}', ${seconds})`,
        usingMetrics: {},
        label: `${label} v\${PROP('Dim.ExecutedVersion')}`,
        period,
      });

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-${endpoint.model}`,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          `# Model ${endpoint.model}\n` +
          `Alias \`${LIVE_ALIAS}\` of the endpoint function. A request fails when it is answered 500 or more, or never answered ` +
          `(Lambda \`Errors\`: crash, timeout, out of memory). Per-request metrics in namespace \`${endpoint.metricsNamespace}\`.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new AlarmWidget({
        title: 'Canary signal: failure rate of the version under watch (%)',
        alarm: endpoint.errorsAlarm,
        width: 12,
        height: 6,
      }),
      new AlarmStatusWidget({
        title: 'Alarms of the deployed version',
        alarms: [endpoint.errorsAlarm, endpoint.latencyAlarm],
        width: 12,
        height: 6,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Invocations by Lambda version',
        left: [byFunctionVersion(METRIC.invocations, 'Sum', 'invocations')],
        width: 6,
      }),
      new GraphWidget({
        title: 'Errors by Lambda version (answered)',
        left: [
          byFunctionVersion(METRIC.serverErrors, 'Sum', '5xx'),
          byFunctionVersion(METRIC.clientErrors, 'Sum', '4xx'),
          byFunctionVersion(METRIC.modelErrors, 'Sum', 'model errors'),
        ],
        width: 6,
      }),
      new GraphWidget({
        title: 'Model latency p50 / p99 by Lambda version (ms)',
        left: [byFunctionVersion(METRIC.modelLatency, 'p50', 'p50'), byFunctionVersion(METRIC.modelLatency, 'p99', 'p99')],
        width: 6,
      }),
      new GraphWidget({
        title: 'Overhead latency p50 / p99 by Lambda version (ms)',
        left: [byFunctionVersion(METRIC.overheadLatency, 'p50', 'p50'), byFunctionVersion(METRIC.overheadLatency, 'p99', 'p99')],
        width: 6,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Rows per request by Lambda version (average)',
        left: [byFunctionVersion(METRIC.rows, 'Average', 'rows')],
        width: 6,
      }),
      new GraphWidget({
        title: 'Cold starts by Lambda version',
        left: [byFunctionVersion(METRIC.coldStart, 'Sum', 'cold starts')],
        width: 6,
      }),
      new GraphWidget({
        title: 'Invocations and 5xx by model version',
        left: [byModelVersion(METRIC.invocations, 'Sum', 'invocations'), byModelVersion(METRIC.serverErrors, 'Sum', '5xx')],
        width: 6,
      }),
      new GraphWidget({
        title: 'Model latency p99 by model version (ms)',
        left: [byModelVersion(METRIC.modelLatency, 'p99', 'p99')],
        width: 6,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: `Lambda Errors by executed version (unanswered: crash, timeout, out of memory)`,
        left: [byExecutedVersion('Errors', 'Sum', 'errors')],
        width: 6,
      }),
      new GraphWidget({
        title: 'Lambda Duration p50 / p99 by executed version (ms, end to end)',
        left: [byExecutedVersion('Duration', 'p50', 'p50'), byExecutedVersion('Duration', 'p99', 'p99')],
        width: 6,
      }),
      new GraphWidget({
        title: 'Prediction cache hits and misses by Lambda version (versions with a cache)',
        left: [byFunctionVersion(METRIC.cacheHits, 'Sum', 'hits'), byFunctionVersion(METRIC.cacheMisses, 'Sum', 'misses')],
        width: 6,
      }),
      new GraphWidget({
        title: 'Prediction-log records sent to the fallback',
        left: [
          new Metric({
            namespace: endpoint.metricsNamespace,
            metricName: FALLBACK_METRIC,
            dimensionsMap: { [DIMENSION.model]: endpoint.model },
            statistic: 'Sum',
            period,
            label: 'records',
          }),
        ],
        width: 6,
      }),
    );
  }
}
