/**
 * A CloudWatch dashboard per endpoint: invocations, errors and p50/p99 latency of alias `live`,
 * one line per Lambda version it routes to. Versions come and go at run time (canaries), so the
 * graphs use SEARCH expressions over the ExecutedVersion dimension rather than fixed versions.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import { AlarmStatusWidget, Dashboard, GraphWidget, MathExpression, TextWidget, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { LIVE_ALIAS, type ModelEndpoint } from './model-endpoint.js';

export interface EndpointDashboardProps {
  readonly endpoint: ModelEndpoint;
  /** @default 1 minute */
  readonly period?: Duration;
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
    const functionName = endpoint.function.function.functionName;

    /** One series per version that alias `live` executed, labelled by the version. */
    const byVersion = (metricName: string, statistic: string, label: string): IMetric =>
      new MathExpression({
        expression:
          `SEARCH('{AWS/Lambda,ExecutedVersion,FunctionName,Resource} MetricName="${metricName}" ` +
          `FunctionName="${functionName}" Resource="${functionName}:${LIVE_ALIAS}"', '${statistic}', ${period.toSeconds()})`,
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
        markdown: `# Model ${endpoint.model}\nAlias \`${LIVE_ALIAS}\` of the endpoint function, one line per Lambda version it routes to.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Invocations by version', left: [byVersion('Invocations', 'Sum', 'invocations')], width: 8 }),
      new GraphWidget({ title: 'Errors by version', left: [byVersion('Errors', 'Sum', 'errors')], width: 8 }),
      new GraphWidget({
        title: 'Latency p50 / p99 by version (ms)',
        left: [byVersion('Duration', 'p50', 'p50'), byVersion('Duration', 'p99', 'p99')],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: 'Alarms of the deployed version', alarms: [endpoint.errorsAlarm, endpoint.latencyAlarm], width: 24, height: 3 }),
    );
  }
}
