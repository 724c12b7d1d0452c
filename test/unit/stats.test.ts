/**
 * The pure logic of `functions/core/stats.ts`: the health verdict and its thresholds, the stats
 * report over a deployment, and reading the prediction log: `since`, `limit` and the cursor that
 * is bound to its model.
 */
import type { ModelRecord } from '../../functions/core/model.js';
import type {
  PredictionLogPage,
  PredictionLogQuery,
  PredictionLogReader,
  PredictionLogRecord,
  VersionMetrics,
} from '../../functions/core/ports.js';
import type { DeployedVersion, Deployment } from '../../functions/core/release.js';
import {
  decodeCursor,
  DEFAULT_HEALTH_THRESHOLDS,
  encodeCursor,
  judgeHealth,
  parseLimit,
  parseSince,
  PredictionLogService,
  StatsService,
} from '../../functions/core/stats.js';
import { refusal as thrown, rejection } from '../fixtures/errors.js';

const NOW = new Date('2025-03-04T05:00:00.000Z');

function metrics(invocations: number, errors: number, clientErrors = 0, mean = 10): VersionMetrics {
  return { invocations, errors, clientErrors, latencyMs: invocations === 0 ? null : { p50: mean, p99: mean * 3, mean } };
}

describe('judgeHealth', () => {
  it('calls a version without invocations healthy, and says there was no evidence', () => {
    expect(judgeHealth(metrics(0, 0), DEFAULT_HEALTH_THRESHOLDS)).toEqual({ healthy: true, evidence: 'none', reasons: [] });
  });

  it('is healthy at exactly 5% errors and unhealthy above, with the numbers in the reason', () => {
    // Act
    const atThreshold = judgeHealth(metrics(100, 5), DEFAULT_HEALTH_THRESHOLDS);
    const above = judgeHealth(metrics(100, 6), DEFAULT_HEALTH_THRESHOLDS);

    // Assess
    expect(atThreshold).toEqual({ healthy: true, evidence: 'invocations', reasons: [] });
    expect(above).toEqual({
      healthy: false,
      evidence: 'invocations',
      reasons: ['error rate 6% (6 of 100 invocations answered 5xx) is above 5%'],
    });
  });

  it("never counts the callers' errors (4xx) against a version", () => {
    expect(judgeHealth(metrics(100, 0, 90), DEFAULT_HEALTH_THRESHOLDS).healthy).toBe(true);
  });

  it('is unhealthy above the mean latency threshold, and gives every broken threshold', () => {
    // Act
    const slow = judgeHealth(metrics(10, 0, 0, 1_000.04), DEFAULT_HEALTH_THRESHOLDS);
    const both = judgeHealth(metrics(10, 1, 0, 2_500), { maxErrorRate: 0.05, maxMeanLatencyMs: 2_000 });

    // Assess: 1000.04 ms rounds to 1000 in the text but is above the threshold.
    expect(slow.reasons).toEqual(['mean latency 1000 ms is above 1000 ms']);
    expect(both.reasons).toEqual([
      'error rate 10% (1 of 10 invocations answered 5xx) is above 5%',
      'mean latency 2500 ms is above 2000 ms',
    ]);
  });
});

describe('StatsService', () => {
  function deployed(
    functionVersion: string,
    percent: number,
    m: VersionMetrics,
    modelVersion: string | null = '1',
    pinned = false,
  ): DeployedVersion {
    return {
      functionVersion,
      modelVersion,
      pinned,
      percent,
      invocations: m.invocations,
      errors: m.errors,
      clientErrors: m.clientErrors,
      latencyMs: m.latencyMs,
    };
  }

  function service(deployment: Deployment, asked: number[] = []) {
    return new StatsService({
      deployments: { deployment: async (_model, minutes) => (asked.push(minutes ?? -1), deployment) },
      thresholds: DEFAULT_HEALTH_THRESHOLDS,
      now: () => NOW,
    });
  }

  it('reports each served version with its counts, error rate, latency and verdict, over the window asked', async () => {
    // Prepare
    const asked: number[] = [];
    const stats = service(
      {
        model: 'iris',
        alias: 'live',
        productionVersion: '1',
        metricsWindowMinutes: 15,
        stable: deployed('$LATEST', 90, metrics(180, 0, 4)),
        canary: deployed('3', 10, metrics(20, 4), '2', true),
      },
      asked,
    );

    // Act
    const report = await stats.stats('iris', 15);

    // Assess
    expect(asked).toEqual([15]);
    expect(report).toMatchObject({
      model: 'iris',
      alias: 'live',
      productionVersion: '1',
      windowMinutes: 15,
      from: '2025-03-04T04:45:00.000Z',
      to: '2025-03-04T05:00:00.000Z',
      thresholds: { maxErrorRate: 0.05, maxMeanLatencyMs: 1_000 },
      healthy: false,
    });
    expect(report.versions).toEqual([
      {
        functionVersion: '$LATEST',
        role: 'stable',
        modelVersion: '1',
        pinned: false,
        percent: 90,
        invocations: 180,
        clientErrors: 4,
        serverErrors: 0,
        errorRate: 0,
        latencyMs: { p50: 10, p99: 30, mean: 10 },
        healthy: true,
        evidence: 'invocations',
        reasons: [],
      },
      {
        functionVersion: '3',
        role: 'canary',
        modelVersion: '2',
        pinned: true,
        percent: 10,
        invocations: 20,
        clientErrors: 0,
        serverErrors: 4,
        errorRate: 0.2,
        latencyMs: { p50: 10, p99: 30, mean: 10 },
        healthy: false,
        evidence: 'invocations',
        reasons: ['error rate 20% (4 of 20 invocations answered 5xx) is above 5%'],
      },
    ]);
  });

  it('gives a version without invocations no error rate and no latency, healthy for lack of evidence', async () => {
    const report = await service({
      model: 'iris',
      alias: 'live',
      productionVersion: '1',
      metricsWindowMinutes: 60,
      stable: deployed('$LATEST', 100, metrics(0, 0)),
    }).stats('iris');

    expect(report.healthy).toBe(true);
    expect(report.windowMinutes).toBe(60);
    expect(report.versions[0]).toMatchObject({ invocations: 0, errorRate: null, latencyMs: null, healthy: true, evidence: 'none' });
  });

  it.each([0, 1_441, 1.5, -5, Number.NaN])('refuses a window of %p minutes with INVALID_WINDOW at query.minutes', async (minutes) => {
    const error = await rejection(
      service({
        model: 'iris',
        alias: 'live',
        productionVersion: null,
        metricsWindowMinutes: 60,
        stable: deployed('$LATEST', 100, metrics(0, 0)),
      }).stats('iris', minutes),
    );

    expect(error).toMatchObject({ status: 400, code: 'INVALID_WINDOW', path: ['query', 'minutes'] });
  });
});

describe('parseSince', () => {
  it.each([
    ['90s', '2025-03-04T04:58:30.000Z'],
    ['10m', '2025-03-04T04:50:00.000Z'],
    ['2h', '2025-03-04T03:00:00.000Z'],
    ['1d', '2025-03-03T05:00:00.000Z'],
    ['2025-03-04T07:00:00+02:00', '2025-03-04T05:00:00.000Z'],
    ['2025-03-04T04:30Z', '2025-03-04T04:30:00.000Z'],
    ['2025-03-04T04:30:15.123456Z', '2025-03-04T04:30:15.123Z'],
    ['2025-03-04', '2025-03-04T00:00:00.000Z'],
  ])('reads %p as %p', (text, expected) => {
    expect(parseSince(text, NOW)).toBe(expected);
  });

  it.each([
    ['a time without a zone', '2025-03-04T05:00:00'],
    ['a day that does not exist', '2025-02-30'],
    ['a month that does not exist', '2025-13-01'],
    ['an hour that does not exist', '2025-03-04T24:00Z'],
    ['a zero duration', '0m'],
    ['a look-back over a year', '366d'],
    ['a unit it does not know', '3w'],
    ['words', 'yesterday'],
    ['an empty value', ''],
  ])('refuses %s with INVALID_SINCE at query.since', (_case, text) => {
    const error = thrown(() => parseSince(text, NOW));

    expect(error).toMatchObject({ status: 400, code: 'INVALID_SINCE', path: ['query', 'since'] });
  });

  it('quotes at most a short excerpt of what it refuses', () => {
    const error = thrown(() => parseSince(`<script>${'x'.repeat(5_000)}`, NOW));

    expect(error.message.length).toBeLessThan(250);
    expect(error.message).toContain('"<script>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…"');
  });
});

describe('parseLimit', () => {
  it('defaults to 100 and takes 1 to 1000', () => {
    expect([parseLimit(undefined), parseLimit('1'), parseLimit('1000')]).toEqual([100, 1, 1_000]);
  });

  it.each(['0', '1001', '-1', '1.5', '1e3', ' 5', 'ten', ''])('refuses %p with INVALID_LIMIT at query.limit', (text) => {
    expect(thrown(() => parseLimit(text))).toMatchObject({ status: 400, code: 'INVALID_LIMIT', path: ['query', 'limit'] });
  });
});

describe('the cursor', () => {
  const SINCE = '2025-03-04T04:00:00.000Z';
  const AFTER = { timestamp: '2025-03-04T04:10:00.000Z', requestId: '6f1c2a4e-0000-4000-8000-000000000001' };
  const forge = (body: unknown) => Buffer.from(JSON.stringify(body)).toString('base64url');

  it('continues the listing it was issued for', () => {
    expect(decodeCursor(encodeCursor('iris', SINCE, AFTER), 'iris')).toEqual({ since: SINCE, after: AFTER });
  });

  it("refuses another model's cursor with CURSOR_MODEL_MISMATCH", () => {
    const error = thrown(() => decodeCursor(encodeCursor('wine', SINCE, AFTER), 'iris'));

    expect(error).toMatchObject({ status: 400, code: 'CURSOR_MODEL_MISMATCH', path: ['query', 'cursor'] });
  });

  it.each([
    ['a cursor with one character changed', () => `${encodeCursor('iris', SINCE, AFTER).slice(0, -3)}AAA`],
    ['characters outside base64url', () => 'abc+/='],
    ['base64 that is not JSON', () => Buffer.from('not json').toString('base64url')],
    ['a key more', () => forge({ m: 'iris', s: SINCE, t: AFTER.timestamp, r: AFTER.requestId, model: 'wine' })],
    ['a position before its since', () => forge({ m: 'iris', s: AFTER.timestamp, t: SINCE, r: AFTER.requestId })],
    ['a timestamp not as stored', () => forge({ m: 'iris', s: SINCE, t: '2025-03-04T04:10:00Z', r: AFTER.requestId })],
    ['a request id with spaces', () => forge({ m: 'iris', s: SINCE, t: AFTER.timestamp, r: 'a b' })],
    ['a model name that is not one', () => forge({ m: '../wine', s: SINCE, t: AFTER.timestamp, r: AFTER.requestId })],
    ['a very long cursor', () => 'A'.repeat(5_000)],
  ])('refuses %s with INVALID_CURSOR, echoing none of it', (_case, make) => {
    const cursor = make();
    const error = thrown(() => decodeCursor(cursor, 'iris'));

    expect(error).toMatchObject({ status: 400, code: 'INVALID_CURSOR', path: ['query', 'cursor'] });
    expect(error.message).not.toContain(cursor.slice(0, 12));
  });
});

describe('PredictionLogService', () => {
  function record(i: number): PredictionLogRecord {
    return {
      requestId: `req-${i}`,
      model: 'iris',
      modelVersion: '1',
      functionVersion: '$LATEST',
      caller: 'alice',
      latencyMs: 2,
      rows: 1,
      inputSha256: 'ab'.repeat(32),
      outputs: '[]',
      truncated: false,
      timestamp: `2025-03-04T04:5${i}:00.000Z`,
      expiresAt: 0,
    };
  }

  /** A reader over fixed records that remembers the queries it was asked. */
  function reader(records: readonly PredictionLogRecord[]): PredictionLogReader & { queries: PredictionLogQuery[] } {
    const queries: PredictionLogQuery[] = [];
    return {
      queries,
      async read(_model, query): Promise<PredictionLogPage> {
        queries.push(query);
        const after = query.after;
        const rest = records.filter((r) => r.timestamp >= query.since && (!after || r.timestamp > after.timestamp));
        return { records: rest.slice(0, query.limit), more: rest.length > query.limit };
      },
    };
  }

  const IRIS: ModelRecord = {
    model: 'iris',
    productionVersion: '1',
    latestVersion: 1,
    revision: 3,
    updatedAt: NOW.toISOString(),
    updatedBy: 'alice',
  };
  const registry = { getModel: async (model: string) => (model === 'iris' ? IRIS : undefined) };

  it('reads from an hour ago by default, 100 at most, and gives a cursor only while more records follow', async () => {
    // Prepare
    const log = reader([record(1), record(2), record(3)]);
    const predictions = new PredictionLogService({ reader: log, registry, now: () => NOW });

    // Act
    const first = await predictions.list({ model: 'iris', limit: '2' });
    const second = await predictions.list({ model: 'iris', cursor: first.nextCursor as string, since: '1m' });
    const whole = await predictions.list({ model: 'iris' });

    // Assess
    expect(first.records.map((r) => r.requestId)).toEqual(['req-1', 'req-2']);
    expect(first.since).toBe('2025-03-04T04:00:00.000Z');
    expect(typeof first.nextCursor).toBe('string');
    // The cursor's since wins over a since given with it; the listing goes on after req-2.
    expect(log.queries[1]).toEqual({
      since: '2025-03-04T04:00:00.000Z',
      limit: 100,
      after: { timestamp: '2025-03-04T04:52:00.000Z', requestId: 'req-2' },
    });
    expect(second.records.map((r) => r.requestId)).toEqual(['req-3']);
    expect(second.nextCursor).toBeUndefined();
    expect(log.queries[2]).toEqual({ since: '2025-03-04T04:00:00.000Z', limit: 100 });
    expect(whole.nextCursor).toBeUndefined();
  });

  it('answers 404 for a model that is not registered and 400 for a name that is not one, reading nothing', async () => {
    // Prepare
    const log = reader([record(1)]);
    const predictions = new PredictionLogService({ reader: log, registry, now: () => NOW });

    // Act
    const missing = await rejection(predictions.list({ model: 'wine' }));
    const invalid = await rejection(predictions.list({ model: 'Not A Name' }));
    const badCursor = await rejection(
      predictions.list({
        model: 'iris',
        cursor: encodeCursor('wine', '2025-03-04T04:00:00.000Z', { timestamp: '2025-03-04T04:10:00.000Z', requestId: 'x' }),
      }),
    );

    // Assess
    expect(missing).toMatchObject({ status: 404, code: 'MODEL_NOT_FOUND' });
    expect(invalid).toMatchObject({ status: 400, code: 'INVALID_MODEL_NAME' });
    expect(badCursor).toMatchObject({ status: 400, code: 'CURSOR_MODEL_MISMATCH' });
    expect(log.queries).toEqual([]);
  });
});
