/**
 * How `modelctl stats` prints what the API answers: one row per served version, the production
 * model version marked whichever function version serves it.
 */
import { statsTable } from '../../bin/modelctl.js';
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
