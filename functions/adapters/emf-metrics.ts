/**
 * Per-request metrics in CloudWatch Embedded Metric Format, written by Powertools for AWS Lambda's
 * Metrics: one JSON line on stdout per request, which CloudWatch Logs turns into metrics without
 * an API call on the request path
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
 *
 * Each line carries the request's metrics under the dimension sets of `DIMENSION_SETS`:
 * (Model, FunctionVersion), which the canary alarms select, and (Model, ModelVersion), for
 * dashboards by model version. The request id rides along as metadata (a plain property of the
 * line, not a dimension), so Logs Insights can join the metric line to the request's other lines.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  DIMENSION,
  METRIC,
  MODEL_ERROR_CODES,
  isClientError,
  isFailure,
  type RequestObservation,
  type RequestObserver,
} from '../core/observability.js';
import { SERVICE_NAME } from '../shared/logger.js';
import type { StoredDriftReport } from '../core/drift/service.js';

/** The metric the prediction log's fallback counts, per model. */
export const FALLBACK_METRIC = 'PredictionLogFallback';
/** Captured requests that went to the fallback log line (`capture-log.ts`). */
export const CAPTURE_FALLBACK_METRIC = 'CaptureFallback';

/**
 * A Powertools `Metrics` for `namespace`, without the `service` dimension Powertools adds by
 * default: every dimension set is exactly one of ours, so an alarm names all its dimensions.
 */
export function createMetrics(namespace: string): Metrics {
  const metrics = new Metrics({ namespace, serviceName: SERVICE_NAME });
  metrics.clearDefaultDimensions();
  return metrics;
}

/**
 * Publishes every observation as one EMF line. Adding and publishing happen in one synchronous
 * call, so requests served concurrently (the local server) never share a line.
 *
 * @example
 * const observer = new EmfRequestObserver(createMetrics('OnnxServing'));
 * observer.observe({ model: 'iris', functionVersion: '7', statusCode: 500, ... }); // Invocation5XXErrors 1
 */
export class EmfRequestObserver implements RequestObserver {
  constructor(private readonly metrics: Metrics) {}

  observe(o: RequestObservation): void {
    const m = this.metrics;
    // Model is a default dimension for this one line: Powertools puts it in front of each set, so
    // the sets are (Model, FunctionVersion) and (Model, ModelVersion) without naming Model twice
    // (which Powertools would warn about on every request).
    m.setDefaultDimensions({ [DIMENSION.model]: o.model });
    m.addDimensions({ [DIMENSION.functionVersion]: o.functionVersion });
    if (o.modelVersion !== undefined) m.addDimensions({ [DIMENSION.modelVersion]: o.modelVersion });
    m.addMetadata('requestId', o.requestId);
    m.addMetadata('route', o.route);
    m.addMetric(METRIC.invocations, MetricUnit.Count, 1);
    m.addMetric(METRIC.clientErrors, MetricUnit.Count, isClientError(o.statusCode) ? 1 : 0);
    m.addMetric(METRIC.serverErrors, MetricUnit.Count, isFailure(o.statusCode) ? 1 : 0);
    m.addMetric(METRIC.modelErrors, MetricUnit.Count, o.errorCode !== undefined && MODEL_ERROR_CODES.has(o.errorCode) ? 1 : 0);
    m.addMetric(METRIC.overheadLatency, MetricUnit.Milliseconds, round3(Math.max(0, o.latencyMs - o.modelLatencyMs)));
    if (o.rows > 0) {
      // A cache hit ran no model: a 0 would pull the model's latency percentiles down.
      if (o.cache !== 'hit') m.addMetric(METRIC.modelLatency, MetricUnit.Milliseconds, round3(o.modelLatencyMs));
      m.addMetric(METRIC.rows, MetricUnit.Count, o.rows);
    }
    if (o.coldStart) m.addMetric(METRIC.coldStart, MetricUnit.Count, 1);
    if (o.cache !== undefined) {
      m.addMetric(METRIC.cacheHits, MetricUnit.Count, o.cache === 'hit' ? 1 : 0);
      m.addMetric(METRIC.cacheMisses, MetricUnit.Count, o.cache === 'miss' ? 1 : 0);
    }
    m.publishStoredMetrics();
    m.clearDefaultDimensions();
  }
}

/**
 * One EMF line counting `count` prediction-log records of `model` that went to the fallback, under
 * the dimension set (Model).
 */
export function publishFallbackMetric(metrics: Metrics, model: string, count: number, metric: string = FALLBACK_METRIC): void {
  metrics.setDefaultDimensions({ [DIMENSION.model]: model });
  metrics.addMetric(metric, MetricUnit.Count, count);
  metrics.publishStoredMetrics();
  metrics.clearDefaultDimensions();
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The drift function's metrics, per model: what each model's drift alarm watches. */
export const DRIFT_METRICS = {
  driftedFeatures: 'DriftedFeatures',
  driftedPredictions: 'DriftedPredictions',
  maxPsi: 'MaxPSI',
  canaryShift: 'CanaryPredictionShift',
} as const;

/**
 * One EMF line for the distribution gate's check of a model's canary: `CanaryPredictionShift` 1
 * when its predictions shifted from the stable version's, 0 when judged alike, under (Model).
 */
export function publishCanaryShiftMetric(metrics: Metrics, model: string, shifted: boolean): void {
  metrics.setDefaultDimensions({ [DIMENSION.model]: model });
  metrics.addMetric(DRIFT_METRICS.canaryShift, MetricUnit.Count, shifted ? 1 : 0);
  metrics.publishStoredMetrics();
  metrics.clearDefaultDimensions();
}

/**
 * One EMF line for a drift report, under the dimension set (Model): `DriftedFeatures` and
 * `DriftedPredictions` (columns judged drifted), `MaxPSI` (the largest PSI among judged columns,
 * absent when none was judged).
 */
export function publishDriftMetrics(metrics: Metrics, report: Pick<StoredDriftReport, 'model' | 'totals'>): void {
  metrics.setDefaultDimensions({ [DIMENSION.model]: report.model });
  metrics.addMetric(DRIFT_METRICS.driftedFeatures, MetricUnit.Count, report.totals.driftedFeatures);
  metrics.addMetric(DRIFT_METRICS.driftedPredictions, MetricUnit.Count, report.totals.driftedPredictions);
  if (report.totals.maxPsi !== null) metrics.addMetric(DRIFT_METRICS.maxPsi, MetricUnit.NoUnit, round3(report.totals.maxPsi));
  metrics.publishStoredMetrics();
  metrics.clearDefaultDimensions();
}
