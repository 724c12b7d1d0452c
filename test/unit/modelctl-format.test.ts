/**
 * How `modelctl stats` prints what the API answers: one row per served version, the production
 * model version marked whichever function version serves it. How `modelctl drift` prints a
 * report (worst first, the thresholds, why columns moved, what capture redacted, a report that
 * judged nothing), `modelctl capture` its settings, `modelctl replay` a replay that compared
 * nothing, and `modelctl profile` a profile with predictions. How the commands that printed the
 * API's JSON before print it now: `predict` (a classifier's labels, a regressor's values),
 * `deployment` (a row per routed version, and how to move a canary), `models` (none yet).
 */
import {
  captureLines,
  deploymentLines,
  driftTable,
  modelsTable,
  predictionsTable,
  profileSummary,
  replayLines,
  statsTable,
} from '../../bin/modelctl.js';
import { profileRows } from '../../functions/core/drift/profile.js';
import { driftReport } from '../../functions/core/drift/report.js';
import type { StoredDriftReport } from '../../functions/core/drift/service.js';
import { ReplayReportBuilder, type ReportContext } from '../../functions/core/replay/compare.js';
import type { Deployment } from '../../functions/core/release.js';
import type { ModelStats, VersionStats } from '../../functions/core/stats.js';

function version(overrides: Partial<VersionStats>): VersionStats {
  return {
    functionVersion: '$LATEST',
    role: 'stable',
    modelVersion: '1',
    pinned: false,
    percent: 100,
    invocations: 10,
    clientErrors: 0,
    serverErrors: 0,
    errorRate: 0,
    latencyMs: { p50: 1, p99: 2, mean: 1.25 },
    healthy: true,
    evidence: 'invocations',
    reasons: [],
    ...overrides,
  } as VersionStats;
}

function stats(versions: VersionStats[], productionVersion: string | null): ModelStats {
  return {
    model: 'iris',
    alias: 'live',
    productionVersion,
    windowMinutes: 60,
    from: '2026-11-30T07:00:00.000Z',
    to: '2026-11-30T08:00:00.000Z',
    thresholds: { maxErrorRate: 0.05, maxMeanLatencyMs: 1_000 },
    healthy: versions.every((v) => v.healthy),
    versions,
  };
}

it('marks the production model version on the pinned function version that serves it after a release', () => {
  // Act
  const table = statsTable(stats([version({ functionVersion: '2', modelVersion: '2', pinned: true })], '2'));

  // Assess
  const row = table.split('\n').find((line) => line.startsWith('2 '));
  expect(row).toMatch(/^2\s+2 \(production\)\s+stable/);
});

it('marks no version when the canary serves a model version that is not production yet', () => {
  // Act
  const table = statsTable(
    stats([version({}), version({ functionVersion: '3', role: 'canary', modelVersion: '2', pinned: true, percent: 10 })], '1'),
  );

  // Assess
  const lines = table.split('\n');
  expect(lines.find((l) => l.startsWith('$LATEST'))).toContain('1 (production)');
  expect(lines.find((l) => l.startsWith('3 '))).not.toContain('production');
});

describe('modelctl drift table', () => {
  /** A stored report around `driftReport` of a small reference: a numeric feature, a categorical one, a prediction column. */
  function stored(
    live: { x: unknown[]; color?: unknown[]; label: unknown[]; other?: Record<string, unknown[]> },
    extra: Partial<StoredDriftReport> = {},
  ): StoredDriftReport {
    const reference = profileRows(
      Array.from({ length: 200 }, (_, i) => ({ x: i / 10, color: i % 4 === 0 ? 'red' : 'blue' })),
      ['x', 'color'],
    );
    const predictions = profileRows(
      Array.from({ length: 200 }, (_, i) => ({ label: i % 2 === 0 ? 'yes' : 'no' })),
      ['label'],
    ).features;
    const report = driftReport(
      { ...reference, predictions },
      { features: { x: live.x, ...(live.color ? { color: live.color } : {}), ...live.other }, predictions: { label: live.label } },
    );
    return {
      model: 'm',
      modelVersion: '2',
      createdAt: '2026-11-30T12:00:00.000Z',
      trigger: 'schedule',
      window: { from: '2026-11-30T11:00:00.000Z', to: '2026-11-30T12:00:00.000Z', minutes: 60 },
      records: 40,
      capped: false,
      redacted: { dropped: [], hashed: [] },
      // As the drift service decides it: judged when any column was compared.
      judged: report.results.some((r) => r.status === 'compared'),
      ...report,
      ...extra,
    };
  }

  it('puts the header lines with the thresholds first, then a row per column worst first, then why the moved columns moved', () => {
    // Prepare: x moved by half its range, color unchanged, label all "yes"
    const report = stored({
      x: Array.from({ length: 400 }, (_, i) => 10 + (i % 200) / 10),
      color: Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? 'red' : 'blue')),
      label: Array.from({ length: 400 }, () => 'yes'),
    });

    // Act
    const lines = driftTable(report).split('\n');

    // Assess
    expect(lines.slice(0, 3)).toEqual([
      'm v2: DRIFTED (1 of 2 features, 1 of 1 prediction column)',
      'schedule run at 2026-11-30T12:00:00.000Z over 2026-11-30T11:00:00.000Z to 2026-11-30T12:00:00.000Z (60 min): 40 records, 400 rows; reference 200 rows',
      'thresholds: drifted (major) when PSI >= 0.25 and p-value < 0.01; minor from PSI 0.1; judged from 30 live rows',
    ]);
    expect(lines[3]).toMatch(/^COLUMN\s+GROUP\s+KIND\s+STATUS\s+LIVE ROWS\s+PSI\s+TEST\s+P-VALUE\s+SEVERITY$/);
    const rows = lines.slice(4, 7);
    expect(rows.map((row) => row.split(/\s+/)[0])).toEqual(report.results.map((r) => r.name));
    const x = report.results.find((r) => r.name === 'x');
    if (x?.kind !== 'numeric' || x.ks === null || x.psi === null) throw new Error('x is not compared as numeric');
    expect(rows.find((row) => row.startsWith('x '))).toMatch(
      new RegExp(
        `^x\\s+feature\\s+numeric\\s+compared\\s+400\\s+${Number(x.psi.toPrecision(4))}\\s+KS D ${Number(x.ks.statistic.toPrecision(4))}\\s+\\S+\\s+MAJOR \\(drifted\\)$`,
      ),
    );
    expect(rows.find((row) => row.startsWith('label '))).toMatch(
      /^label\s+prediction\s+categorical\s+compared\s+400\s+\S+\s+χ² \S+ df 1\s+\S+\s+MAJOR \(drifted\)$/,
    );
    expect(rows.find((row) => row.startsWith('color '))).toMatch(
      /^color\s+feature\s+categorical\s+compared\s+400\s+0\s+χ² 0 df 1\s+1\s+none$/,
    );
    expect(lines[7]).toBe('');
    expect(lines.slice(8, -1)).toEqual(
      report.results.filter((r) => r.severity !== 'none').map((r) => `${r.name} (${r.group}): ${r.reason}`),
    );
    expect(lines.at(-1)).toBe('');
  });

  it('shows columns it could not judge with dashes, says the report judged nothing, and notes a capped window and what capture redacted', () => {
    // Prepare: 10 live rows (fewer than 30), no color
    const report = stored(
      { x: Array.from({ length: 10 }, (_, i) => i), label: Array.from({ length: 10 }, () => 'no') },
      { capped: true, records: 10_000, redacted: { dropped: ['ssn', 'zip'], hashed: ['email'] } },
    );

    // Act
    const table = driftTable(report);

    // Assess
    expect(report.judged).toBe(false);
    expect(table.split('\n')[0]).toBe(
      'm v2: NOT JUDGED, too few captured rows (10000 records, 10 rows; a column is judged from 30 live rows)',
    );
    expect(table).not.toContain('no drift');
    expect(table).toMatch(/\nx\s+feature\s+numeric\s+too-few-rows\s+10\s+\S+\s+KS D \S+\s+\S+\s+-\n/);
    expect(table).toMatch(/\ncolor\s+feature\s+categorical\s+absent-in-live\s+0\s+-\s+-\s+-\s+-\n/);
    expect(table).toContain('\nMore records were captured in the window than a run reads: the newest 10000 were compared.\n');
    expect(table).toContain('\nDropped by capture, not compared: ssn, zip.\nHashed by capture, not compared: email.\n');
    expect(table).not.toContain('MAJOR');
  });

  it("says no drift when columns were judged, and not judged when none of the profile's columns had the rows", () => {
    // Prepare: 40 rows like the reference; then 40 rows of a column the profile does not have only
    const calm = stored({
      x: Array.from({ length: 40 }, (_, i) => (i * 5) / 10),
      label: Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 'yes' : 'no')),
    });
    const foreign = stored({ x: [], label: [], other: { y: Array.from({ length: 40 }, (_, i) => i) } });

    // Act
    const calmTitle = driftTable(calm).split('\n')[0];
    const foreignTitle = driftTable(foreign).split('\n')[0];

    // Assess
    expect({ calm: calm.judged, foreign: foreign.judged, foreignRows: foreign.liveRows }).toEqual({
      calm: true,
      foreign: false,
      foreignRows: 40,
    });
    expect(calmTitle).toBe('m v2: no drift (0 of 2 features, 0 of 1 prediction column)');
    expect(foreignTitle).toBe('m v2: NOT JUDGED, no column of the profile had 30 live rows (40 records, 40 rows)');
  });

  it('says when every profiled column was redacted by capture, rather than blaming the row count', () => {
    // Prepare: records in the window, but every column dropped or hashed by capture
    const base = stored({ x: [], label: [] }, { redacted: { dropped: ['x', 'color'], hashed: ['label'] } });
    const report: StoredDriftReport = {
      ...base,
      judged: false,
      results: base.results.map((r) => ({ ...r, status: 'absent-in-live' as const })),
    };

    // Act
    const title = driftTable(report).split('\n')[0];

    // Assess
    expect(title).toBe(
      'm v2: NOT JUDGED, every profiled column was dropped or hashed by capture (40 records, 0 rows): nothing left to compare',
    );
  });
});

describe('modelctl replay lines', () => {
  const context: ReportContext = {
    jobId: 'job-1',
    model: 'iris',
    targetVersion: '2',
    sourceVersions: ['1'],
    window: { since: '2026-11-30T11:00:00.000Z', until: '2026-11-30T12:00:00.000Z' },
    capture: { inWindow: 5, replayed: 5, maxRequests: 100_000, capped: false, outsideWindow: 0, unreadableLines: 0 },
  };

  it('says nothing was compared and why when no request could be replayed, with no difference shown', () => {
    // Prepare: five requests whose records dropped a feature, one no capture record
    const builder = new ReplayReportBuilder();
    for (let i = 0; i < 5; i++) builder.notReplayable('FEATURE_DROPPED');
    builder.notReplayable('INVALID_CAPTURE_RECORD');

    // Act
    const lines = replayLines(builder.report(context)).split('\n');

    // Assess
    expect(lines[0]).toBe(
      'iris: replay against version 2 of 6 requests of version 1: nothing compared (no request could be replayed: FEATURE_DROPPED 5, INVALID_CAPTURE_RECORD 1), max abs diff -',
    );
    expect(lines[1]).toBe(
      'window 2026-11-30T11:00:00.000Z to 2026-11-30T12:00:00.000Z: 5 captured, 5 replayed; 0 compared (0 rows), 6 not replayable',
    );
    expect(lines[2]).toBe('no output compared');
    expect(lines.join('\n')).not.toMatch(/labels compared|max abs diff 0/);
  });

  it('says the window held nothing to replay when it held no request', () => {
    // Act
    const title = replayLines(
      new ReplayReportBuilder().report({ ...context, capture: { ...context.capture, inWindow: 0, replayed: 0 } }),
    ).split('\n')[0];

    // Assess
    expect(title).toBe(
      'iris: replay against version 2 of 0 requests of version 1: nothing compared (the window held no captured request to replay), max abs diff -',
    );
  });
});

describe('modelctl capture lines', () => {
  it('shows the settings, or how to turn capture on', () => {
    // Act
    const on = captureLines({
      model: 'iris',
      enabled: true,
      samplePercent: 12.5,
      drop: ['a', 'b'],
      hash: [],
      maxRecordBytes: 65_536,
      updatedAt: '2026-11-30T12:00:00.000Z',
      updatedBy: 'ci\u001b[31m',
    });
    const off = captureLines({ model: 'iris', enabled: false });

    // Assess
    expect(on).toBe(
      [
        'Capture of iris: on, 12.5% of requests',
        '  drop              a, b',
        '  hash              (none)',
        '  max record bytes  65536',
        '  updated           2026-11-30T12:00:00.000Z by ci?[31m',
        '',
      ].join('\n'),
    );
    expect(off).toBe('Capture of iris: off. Turn it on: modelctl capture iris --sample PERCENT [--drop a,b] [--hash c]\n');
  });
});

describe('modelctl profile summary', () => {
  it('lists the prediction columns after the features, aligned with them', () => {
    // Prepare
    const features = profileRows([{ a: 1 }, { a: 2 }, { a: 3 }], ['a']);
    const predictions = profileRows(
      [
        { label: 'x', 'probability[x]': 0.75 },
        { label: 'y', 'probability[x]': 0.25 },
        { label: 'x', 'probability[x]': 0.5 },
      ],
      ['label', 'probability[x]'],
    ).features;

    // Act
    const lines = profileSummary({ ...features, predictions }, 'train.csv', 'model.onnx').split('\n');

    // Assess
    expect(lines).toEqual([
      'Profiled 3 rows of train.csv, 1 feature:',
      'feature         kind         missing  summary',
      'a               numeric            0  min 1, median 2, max 3, mean 2, std 1',
      'Predictions of model.onnx on those rows, 2 columns:',
      'label           categorical        0  2 categories: "x" 2, "y" 1',
      'probability[x]  numeric            0  min 0.25, median 0.5, max 0.75, mean 0.5, std 0.25',
      '',
    ]);
  });
});

describe('modelctl predict, deployment and models', () => {
  const served = {
    requestId: 'r-1',
    modelVersion: '2',
    functionVersion: '$LATEST',
    processingTimeMs: 1.5,
    timestamp: '2026-11-30T12:00:00.000Z',
  };

  it("prints a classifier's label, confidence and each class's probability, a row per record", () => {
    // Act
    const text = predictionsTable({
      ...served,
      model: 'iris',
      predictions: [{ label: 'setosa', confidence: 0.97921, probabilities: { setosa: 0.97921, versicolor: 0.02, virginica: 'NaN' } }],
    });

    // Assess
    expect(text.split('\n')).toEqual([
      'iris v2 (request r-1, function $LATEST, 1.5 ms)',
      'ROW  LABEL   CONFIDENCE  PROBABILITIES',
      '0    setosa  0.9792      setosa 0.9792, versicolor 0.02, virginica NaN',
      '',
    ]);
  });

  it("prints any other model's outputs as columns, arrays as compact JSON", () => {
    // Act
    const text = predictionsTable({
      ...served,
      model: 'diabetes',
      predictions: [{ progression: 151.25 }, { progression: 80, extra: [1, 2] }],
    });

    // Assess
    expect(text.split('\n').slice(1)).toEqual(['ROW  PROGRESSION  EXTRA', '0    151.25       -', '1    80           [1,2]', '']);
  });

  it('prints the routed versions and, with a canary, how to move it', () => {
    // Prepare
    const version = { pinned: true, invocations: 20, errors: 1, clientErrors: 0, latencyMs: { p50: 1.25, p99: 3, mean: 1.5 } };
    const deployment: Deployment = {
      model: 'iris',
      alias: 'live',
      productionVersion: '1',
      stable: { ...version, functionVersion: '2', modelVersion: '1', percent: 90 },
      canary: { ...version, functionVersion: '3', modelVersion: '2', percent: 10, latencyMs: null },
      metricsWindowMinutes: 15,
    };

    // Act
    const lines = deploymentLines(deployment, 'Shifted.').split('\n');

    // Assess
    expect(lines).toEqual([
      'Shifted.',
      'iris on alias live: production version 1; canary version 2 on 10% (metrics of the last 15 min)',
      'ROLE    FUNCTION  MODEL  PINNED  PERCENT  INVOCATIONS  5XX  4XX  P50 MS  P99 MS  MEAN MS',
      'stable  2         1      yes     90       20           1    0    1.3     3.0     1.5',
      'canary  3         2      yes     10       20           1    0    -       -       -',
      'Move the canary: modelctl shift iris <percent> --expect-canary 3 --expect-percent 10 (or finalize, or rollback)',
      '',
    ]);
  });

  it('says how to register a model when there is none', () => {
    expect(modelsTable([])).toBe('No models registered. Register one: modelctl register <model> <file.onnx> --metadata meta.json\n');
  });
});
