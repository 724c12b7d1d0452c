/**
 * How `modelctl stats` prints what the API answers: one row per served version, the production
 * model version marked whichever function version serves it. How `modelctl drift` prints a
 * report (worst first, the thresholds, why columns moved), `modelctl capture` its settings, and
 * `modelctl profile` a profile with predictions.
 */
import { captureLines, driftTable, profileSummary, statsTable } from '../../bin/modelctl.js';
import { profileRows } from '../../functions/core/drift/profile.js';
import { driftReport } from '../../functions/core/drift/report.js';
import type { StoredDriftReport } from '../../functions/core/drift/service.js';
import type { ModelStats, VersionStats } from '../../functions/core/stats.js';

function version(overrides: Partial<VersionStats>): VersionStats {
  return {
    functionVersion: '$LATEST', role: 'stable', modelVersion: '1', pinned: false, percent: 100,
    invocations: 10, clientErrors: 0, serverErrors: 0, errorRate: 0, latencyMs: { p50: 1, p99: 2, mean: 1.25 },
    healthy: true, evidence: 'invocations', reasons: [],
    ...overrides,
  } as VersionStats;
}

function stats(versions: VersionStats[], productionVersion: string | null): ModelStats {
  return {
    model: 'iris', alias: 'live', productionVersion, windowMinutes: 60, from: '2026-11-30T07:00:00.000Z', to: '2026-11-30T08:00:00.000Z',
    thresholds: { maxErrorRate: 0.05, maxMeanLatencyMs: 1_000 }, healthy: versions.every((v) => v.healthy), versions,
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
  const table = statsTable(stats([version({}), version({ functionVersion: '3', role: 'canary', modelVersion: '2', pinned: true, percent: 10 })], '1'));

  // Assess
  const lines = table.split('\n');
  expect(lines.find((l) => l.startsWith('$LATEST'))).toContain('1 (production)');
  expect(lines.find((l) => l.startsWith('3 '))).not.toContain('production');
});

describe('modelctl drift table', () => {
  /** A stored report around `driftReport` of a small reference: a numeric feature, a categorical one, a prediction column. */
  function stored(live: { x: unknown[]; color?: unknown[]; label: unknown[] }, extra: Partial<StoredDriftReport> = {}): StoredDriftReport {
    const reference = profileRows(
      Array.from({ length: 200 }, (_, i) => ({ x: i / 10, color: i % 4 === 0 ? 'red' : 'blue' })),
      ['x', 'color'],
    );
    const predictions = profileRows(Array.from({ length: 200 }, (_, i) => ({ label: i % 2 === 0 ? 'yes' : 'no' })), ['label']).features;
    const report = driftReport({ ...reference, predictions }, { features: { x: live.x, ...(live.color ? { color: live.color } : {}) }, predictions: { label: live.label } });
    return {
      model: 'm', modelVersion: '2', createdAt: '2026-11-30T12:00:00.000Z', trigger: 'schedule',
      window: { from: '2026-11-30T11:00:00.000Z', to: '2026-11-30T12:00:00.000Z', minutes: 60 },
      records: 40, capped: false, hashedFeatures: [], ...report, ...extra,
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
    expect(rows.find((row) => row.startsWith('x '))).toMatch(new RegExp(`^x\\s+feature\\s+numeric\\s+compared\\s+400\\s+${Number(x.psi.toPrecision(4))}\\s+KS D ${Number(x.ks.statistic.toPrecision(4))}\\s+\\S+\\s+MAJOR \\(drifted\\)$`));
    expect(rows.find((row) => row.startsWith('label '))).toMatch(/^label\s+prediction\s+categorical\s+compared\s+400\s+\S+\s+χ² \S+ df 1\s+\S+\s+MAJOR \(drifted\)$/);
    expect(rows.find((row) => row.startsWith('color '))).toMatch(/^color\s+feature\s+categorical\s+compared\s+400\s+0\s+χ² 0 df 1\s+1\s+none$/);
    expect(lines[7]).toBe('');
    expect(lines.slice(8, -1)).toEqual(report.results.filter((r) => r.severity !== 'none').map((r) => `${r.name} (${r.group}): ${r.reason}`));
    expect(lines.at(-1)).toBe('');
  });

  it('shows columns it could not judge with dashes, says no drift, and notes a capped window and hashed features', () => {
    // Prepare: 10 live rows (fewer than 30), no color
    const report = stored({ x: Array.from({ length: 10 }, (_, i) => i), label: Array.from({ length: 10 }, () => 'no') }, { capped: true, records: 10_000, hashedFeatures: ['email'] });

    // Act
    const table = driftTable(report);

    // Assess
    expect(table.split('\n')[0]).toBe('m v2: no drift (0 of 2 features, 0 of 1 prediction column)');
    expect(table).toMatch(/\nx\s+feature\s+numeric\s+too-few-rows\s+10\s+\S+\s+KS D \S+\s+\S+\s+-\n/);
    expect(table).toMatch(/\ncolor\s+feature\s+categorical\s+absent-in-live\s+0\s+-\s+-\s+-\s+-\n/);
    expect(table).toContain('\nMore records were captured in the window than a run reads: the newest 10000 were compared.\n');
    expect(table).toContain('\nHashed by capture, not compared: email.\n');
    expect(table).not.toContain('MAJOR');
  });
});

describe('modelctl capture lines', () => {
  it('shows the settings, or how to turn capture on', () => {
    // Act
    const on = captureLines({
      model: 'iris', enabled: true, samplePercent: 12.5, drop: ['a', 'b'], hash: [], maxRecordBytes: 65_536,
      updatedAt: '2026-11-30T12:00:00.000Z', updatedBy: 'ci\u001b[31m',
    });
    const off = captureLines({ model: 'iris', enabled: false });

    // Assess
    expect(on).toBe([
      'Capture of iris: on, 12.5% of requests',
      '  drop              a, b',
      '  hash              (none)',
      '  max record bytes  65536',
      '  updated           2026-11-30T12:00:00.000Z by ci?[31m',
      '',
    ].join('\n'));
    expect(off).toBe('Capture of iris: off. Turn it on: modelctl capture iris --sample PERCENT [--drop a,b] [--hash c]\n');
  });
});

describe('modelctl profile summary', () => {
  it('lists the prediction columns after the features, aligned with them', () => {
    // Prepare
    const features = profileRows([{ a: 1 }, { a: 2 }, { a: 3 }], ['a']);
    const predictions = profileRows([{ label: 'x', 'probability[x]': 0.75 }, { label: 'y', 'probability[x]': 0.25 }, { label: 'x', 'probability[x]': 0.5 }], ['label', 'probability[x]']).features;

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
