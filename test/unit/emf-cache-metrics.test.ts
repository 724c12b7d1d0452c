/**
 * The prediction cache's EMF metrics (functions/adapters/emf-metrics.ts, `EmfRequestObserver`):
 * a request of a version with a cache publishes `PredictionCacheHits` and
 * `PredictionCacheMisses`, one of them 1 and the other 0, under the same dimensions as
 * `Invocations`; a request of a version without one publishes neither. Read from the EMF line
 * Powertools writes to stdout.
 */
import { describe, expect, it } from '@jest/globals';
import { createMetrics, EmfRequestObserver } from '../../functions/adapters/emf-metrics.js';
import type { RequestObservation } from '../../functions/core/observability.js';
import { captureOutput, jsonLines } from '../fixtures/output.js';

/** One EMF line as Powertools writes it. */
interface EmfLine {
  readonly _aws: {
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string; readonly Unit: string }[];
    }[];
  };
  readonly [key: string]: unknown;
}

const observation: RequestObservation = {
  requestId: 'req-1',
  route: 'POST /v1/models/{model}/predict',
  model: 'churn',
  modelVersion: '3',
  functionVersion: '7',
  statusCode: 200,
  latencyMs: 4,
  modelLatencyMs: 1.5,
  rows: 2,
  coldStart: false,
};

/** The one EMF line `observe` writes for `o`. */
async function lineOf(o: RequestObservation): Promise<EmfLine> {
  const observer = new EmfRequestObserver(createMetrics('OnnxServingTest'));
  const lines = jsonLines(await captureOutput(() => observer.observe(o))).filter(
    (line): line is EmfLine => typeof line['_aws'] === 'object',
  );
  expect(lines).toHaveLength(1);
  return lines[0] as EmfLine;
}

function metricNames(line: EmfLine): string[] {
  return line._aws.CloudWatchMetrics.flatMap((d) => d.Metrics.map((m) => m.Name));
}

describe('prediction cache metrics', () => {
  it.each<['hit' | 'miss', number, number]>([
    ['hit', 1, 0],
    ['miss', 0, 1],
  ])(
    'a cache %s publishes PredictionCacheHits %d and PredictionCacheMisses %d, as Counts beside Invocations',
    async (cache, hits, misses) => {
      // Act
      const line = await lineOf({ ...observation, cache });

      // Assess
      expect(line['PredictionCacheHits']).toBe(hits);
      expect(line['PredictionCacheMisses']).toBe(misses);
      expect(line['Invocations']).toBe(1);
      const [directive] = line._aws.CloudWatchMetrics;
      expect(directive?.Metrics).toEqual(
        expect.arrayContaining([
          { Name: 'PredictionCacheHits', Unit: 'Count' },
          { Name: 'PredictionCacheMisses', Unit: 'Count' },
          { Name: 'Invocations', Unit: 'Count' },
        ]),
      );
      expect(line['Model']).toBe('churn');
      expect(line['FunctionVersion']).toBe('7');
      expect(line['ModelVersion']).toBe('3');
    },
  );

  it('a request of a version without a cache publishes neither metric', async () => {
    // Act
    const line = await lineOf(observation);

    // Assess
    expect(line['Invocations']).toBe(1);
    expect(line).not.toHaveProperty('PredictionCacheHits');
    expect(line).not.toHaveProperty('PredictionCacheMisses');
    expect(metricNames(line)).not.toContain('PredictionCacheHits');
    expect(metricNames(line)).not.toContain('PredictionCacheMisses');
  });
});

describe('model latency of cached answers', () => {
  it('a hit ran no model: it publishes no ModelLatency (a 0 would pull the percentiles down), a miss publishes its own', async () => {
    const hit = await lineOf({ ...observation, cache: 'hit', modelLatencyMs: 0 });
    expect(metricNames(hit)).not.toContain('ModelLatency');
    expect(hit['RowsPerRequest']).toBe(2);
    const miss = await lineOf({ ...observation, cache: 'miss' });
    expect(miss['ModelLatency']).toBe(1.5);
  });
});
