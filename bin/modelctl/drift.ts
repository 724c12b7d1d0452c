/**
 * `modelctl drift`: a model's newest drift report, or one run now, as a table worst first; its
 * exit code says whether a column drifted, so that scripts can act.
 */
import type { Command } from 'commander';
import type { StoredDriftReport } from '../../functions/core/drift/service.js';
import { VERSION, WHOLE } from './args.js';
import { type Call, type Cli, action, apiOptions, command, option, outputOptions } from './command.js';
import { UsageError, clean, pValueText, plural, statistic } from './common.js';
import { modelPath } from './models.js';
import { tableLines } from './output.js';

/** Exit code of `modelctl drift` when the report says a column drifted. */
export const DRIFTED_EXIT_CODE = 3;
/**
 * Exit code of `modelctl drift` when the report judged nothing (`judged: false`: no column had
 * enough live rows), so that a script does not read "no drift" into a window with no evidence.
 */
export const NOT_JUDGED_EXIT_CODE = 4;

/** Longest column name a table shows whole. */
const NAME_CHARS = 32;

interface DriftOptions {
  readonly version?: string;
  readonly run?: boolean;
  readonly minutes?: number;
}

/** `drift`, on `program`. */
export function addDriftCommand(program: Command, cli: Cli): void {
  const drift = command(program, {
    name: 'drift <model>',
    summary: 'the newest drift report, or one run now',
    group: 'Monitoring:',
    description:
      "The model's newest drift report: a row per feature and prediction column, worst first (PSI, KS or " +
      'chi-squared test, p-value, severity), with the thresholds; of version V (default production, else any ' +
      'version). With --run: runs one now over the last N minutes of captured traffic. Scope models:read ' +
      '(models:write with --run).',
    after: [
      'Exit codes:',
      '  0  no column drifted',
      '  1  the API refused',
      `  ${DRIFTED_EXIT_CODE}  a column drifted`,
      `  ${NOT_JUDGED_EXIT_CODE}  not judged (too few captured rows)`,
      '',
      'Example:',
      '  modelctl drift iris --run --minutes 60',
    ].join('\n'),
  });
  option(drift, '--version <v>', 'the version whose report (or whose traffic, with --run)', VERSION);
  drift.option('--run', 'run a report now');
  option(drift, '--minutes <n>', 'with --run: the captured traffic of the last N minutes (default 1440)', WHOLE);
  apiOptions(outputOptions(drift)).action(action(cli, driftCommand));
}

/**
 * The newest drift report (`GET`, of `--version` when given), or with `--run` a run now (`POST`,
 * over `--minutes` of traffic, of `--version`). Exit {@link DRIFTED_EXIT_CODE} when the report
 * says drifted, {@link NOT_JUDGED_EXIT_CODE} when it judged no column.
 */
async function driftCommand(call: Call<DriftOptions>): Promise<number> {
  const { opts, api } = call;
  const [model = ''] = call.args;
  const route = `${modelPath(model)}/drift`;
  let report: StoredDriftReport;
  if (opts.run) {
    const body = {
      ...(opts.minutes === undefined ? {} : { minutes: opts.minutes }),
      ...(opts.version === undefined ? {} : { version: opts.version }),
    };
    report = (await api.call('POST', route, body)) as StoredDriftReport;
  } else {
    if (opts.minutes !== undefined) throw new UsageError('--minutes goes with --run (without it, the newest report is shown).');
    const query = opts.version === undefined ? '' : `?version=${encodeURIComponent(opts.version)}`;
    report = (await api.call('GET', `${route}${query}`)) as StoredDriftReport;
  }
  call.print(report, driftTable);
  return report.judged === false ? NOT_JUDGED_EXIT_CODE : report.drifted ? DRIFTED_EXIT_CODE : 0;
}

/** Why a report judged nothing: every column redacted by capture, too few captured rows, or none with enough. */
function notJudgedWhy(report: StoredDriftReport, counted: string): string {
  const t = report.thresholds;
  const redacted = (report.redacted?.dropped.length ?? 0) + (report.redacted?.hashed.length ?? 0);
  const open = report.results.filter((r) => r.status !== 'absent-in-live' && r.status !== 'absent-in-reference').length;
  if (report.records > 0 && redacted > 0 && open === 0)
    return `every profiled column was dropped or hashed by capture (${counted}): nothing left to compare`;
  if (report.liveRows < t.minRows) return `too few captured rows (${counted}; a column is judged from ${t.minRows} live rows)`;
  return `no column of the profile had ${t.minRows} live rows (${counted})`;
}

/**
 * A drift report as `modelctl drift` prints it: what was compared and the thresholds, a row per
 * column worst first, then why each column that moved was graded so:
 *
 *     iris v1: DRIFTED (1 of 4 features, 0 of 4 prediction columns)
 *     on-demand run at 2026-11-30T12:00:00.000Z over 2026-11-30T11:00:00.000Z to 2026-11-30T12:00:00.000Z (60 min): 20 records, 2000 rows; reference 120 rows
 *     thresholds: drifted (major) when PSI >= 0.25 and p-value < 0.01; minor from PSI 0.1; judged from 30 live rows
 *     COLUMN           GROUP    KIND     STATUS    LIVE ROWS  PSI    TEST        P-VALUE  SEVERITY
 *     petal_length_cm  feature  numeric  compared  2000       2.764  KS D 0.566  1.2e-31  MAJOR (drifted)
 *     ...
 *     petal_length_cm: values shifted: PSI 2.764 ≥ 0.25 and KS p-value … < 0.01 (D 0.566)
 *     Dropped by capture, not compared: sepal_width_cm.
 *
 * A report that judged no column (`judged: false`) says so in its first line instead of the
 * verdict: `iris v1: NOT JUDGED, too few captured rows (2 records, 10 rows; a column is judged
 * from 30 live rows)`.
 */
export function driftTable(report: StoredDriftReport): string {
  const t = report.thresholds;
  const { totals } = report;
  const counted = `${plural(report.records, 'record')}, ${plural(report.liveRows, 'row')}`;
  const title =
    report.judged === false
      ? `${report.model} v${report.modelVersion}: NOT JUDGED, ${notJudgedWhy(report, counted)}`
      : `${report.model} v${report.modelVersion}: ${report.drifted ? 'DRIFTED' : 'no drift'} (${totals.driftedFeatures} of ${plural(totals.features, 'feature')}, ${totals.driftedPredictions} of ${plural(totals.predictions, 'prediction column')})`;
  const window = `${report.trigger} run at ${report.createdAt} over ${report.window.from} to ${report.window.to} (${report.window.minutes} min): ${plural(report.records, 'record')}, ${plural(report.liveRows, 'row')}; reference ${plural(report.referenceRows, 'row')}`;
  const rule = `thresholds: drifted (major) when PSI >= ${t.psiMajor} and p-value < ${t.pValue}; minor from PSI ${t.psiMinor}; judged from ${t.minRows} live rows`;
  const header = ['COLUMN', 'GROUP', 'KIND', 'STATUS', 'LIVE ROWS', 'PSI', 'TEST', 'P-VALUE', 'SEVERITY'];
  const rows = report.results.map((r) => {
    const test =
      r.kind === 'numeric'
        ? r.ks
          ? `KS D ${statistic(r.ks.statistic)}`
          : '-'
        : r.chiSquared
          ? `χ² ${statistic(r.chiSquared.statistic)} df ${r.chiSquared.degreesOfFreedom}`
          : '-';
    const p = r.kind === 'numeric' ? r.ks?.pValue : r.chiSquared?.pValue;
    const severity = r.status !== 'compared' ? '-' : r.drifted ? 'MAJOR (drifted)' : r.severity;
    return [
      clean(r.name.length > NAME_CHARS ? `${r.name.slice(0, NAME_CHARS - 1)}…` : r.name),
      r.group,
      r.kind,
      r.status,
      String(r.counts.live.rows),
      r.psi === null ? '-' : statistic(r.psi),
      test,
      p === undefined ? '-' : pValueText(p),
      severity,
    ];
  });
  const notes = report.results
    .filter((r) => r.status === 'compared' && r.severity !== 'none')
    .map((r) => `${clean(r.name)} (${r.group}): ${clean(r.reason)}`);
  if (report.capped) notes.push(`More records were captured in the window than a run reads: the newest ${report.records} were compared.`);
  if (report.redacted.dropped.length > 0) notes.push(`Dropped by capture, not compared: ${clean(report.redacted.dropped.join(', '))}.`);
  if (report.redacted.hashed.length > 0) notes.push(`Hashed by capture, not compared: ${clean(report.redacted.hashed.join(', '))}.`);
  return `${[title, window, rule, ...tableLines(header, rows), ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')}\n`;
}
