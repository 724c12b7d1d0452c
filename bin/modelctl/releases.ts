/**
 * Releases on alias "live": `promote` (a manual canary, a managed release, or all the traffic),
 * `shift`, `rollback`, `finalize`, `deployment`; and `stats`, each served version's health.
 */
import type { Command } from 'commander';
import type { DeployedVersion, Deployment, PromoteResult } from '../../functions/core/release.js';
import type { ModelStats } from '../../functions/core/stats.js';
import { NUMBER, TEXT, VERSION, WHOLE, choice, numberArg, strict, versionArg } from './args.js';
import { type Cli, action, apiOptions, command, option, outputOptions } from './command.js';
import { UsageError, clean, shown } from './common.js';
import { modelPath } from './models.js';
import { table, tableLines } from './output.js';

const RELEASES = 'Releases:';

/** The kinds of managed release. */
const MANAGED_KINDS = ['canary', 'linear'] as const;

/** The options of a release (`promote`, `experiment promote-winner`), as parsed. */
export interface ReleaseOptions {
  readonly canary?: number;
  readonly managed?: (typeof MANAGED_KINDS)[number];
  readonly percent?: number;
  readonly interval?: number;
  readonly reason?: string;
}

/** The options of a release, on `cmd`. */
export function releaseOptions(cmd: Command): Command {
  option(cmd, '--canary <percent>', 'a manual canary: this percent of the traffic (0.01 to 99.99) to the version', NUMBER);
  option(cmd, '--managed <kind>', 'a managed release: canary (one step) or linear (steps), rolled back on alarms', choice(MANAGED_KINDS));
  option(cmd, '--percent <n>', 'with --managed: the percent of each step', NUMBER);
  option(cmd, '--interval <minutes>', 'with --managed: whole minutes between steps', WHOLE);
  return option(cmd, '--reason <text>', 'why, kept in the history', TEXT);
}

/**
 * The body of a release (`promote`, and `experiment promote-winner`, named by `command`):
 * `{canary}`, `{managed: {kind, percent, intervalMinutes}}` or neither (all the traffic), and
 * the reason.
 */
export function promoteBody(opts: ReleaseOptions, command = 'promote'): Record<string, unknown> {
  const reason = opts.reason === undefined ? {} : { reason: opts.reason };
  if (opts.managed !== undefined) {
    if (opts.canary !== undefined) throw new UsageError(`"${command}" takes either --canary or --managed, not both.`);
    if (opts.percent === undefined || opts.interval === undefined)
      throw new UsageError('--managed needs --percent N and --interval MINUTES.');
    return { managed: { kind: opts.managed, percent: opts.percent, intervalMinutes: opts.interval }, ...reason };
  }
  if (opts.percent !== undefined || opts.interval !== undefined) throw new UsageError('--percent and --interval go with --managed.');
  return { ...(opts.canary === undefined ? {} : { canary: opts.canary }), ...reason };
}

interface ExpectOptions {
  readonly reason?: string;
  readonly expectCanary?: string;
  readonly expectPercent?: number;
}

/** A function version as `deployment` shows a canary's: a whole number from 1 (`$LATEST` is never a canary). */
const FUNCTION_VERSION = strict('function version', (value, name) => {
  try {
    return versionArg(value, name);
  } catch {
    throw new UsageError(`${name} is a function version number such as "2", as "deployment" shows the canary's, not ${shown(value)}.`);
  }
});

/** `--expect-canary FV [--expect-percent P]` as the body's `expectedCanary`, or nothing. */
function expectedCanary(opts: ExpectOptions): Record<string, unknown> {
  const version = opts.expectCanary;
  const percent = opts.expectPercent;
  if (version === undefined) {
    if (percent !== undefined) throw new UsageError('--expect-percent goes with --expect-canary.');
    return {};
  }
  return {
    expectedCanary: { functionVersion: version, ...(percent === undefined ? {} : { percent }) },
  };
}

const EXPECT_HELP =
  'With --expect-canary (and --expect-percent), only if the canary is still function version FV (at P percent), ' +
  'as "deployment" showed it; else 409 ALIAS_CHANGED.';

/** The release commands, on `program`. */
export function addReleaseCommands(program: Command, cli: Cli): void {
  const promote = command(program, {
    name: 'promote <model> <version>',
    summary: 'release a staging version on alias "live"',
    group: RELEASES,
    description:
      'Release a staging version on alias "live": a manual canary (--canary), a managed release (--managed, with ' +
      '--percent and --interval), or, with neither, all the traffic at once. The gates run first.',
    after: 'Examples:\n  modelctl promote iris 3 --canary 10\n  modelctl promote iris 3 --managed linear --percent 10 --interval 5',
    args: { version: VERSION },
  });
  apiOptions(outputOptions(releaseOptions(promote))).action(
    action<ReleaseOptions>(cli, async (call) => {
      const [model = '', version = ''] = call.args;
      const path = `${modelPath(model)}/versions/${encodeURIComponent(version)}/promote`;
      call.print((await call.api.call('POST', path, promoteBody(call.opts))) as PromoteResult, promoteLines);
      return 0;
    }),
  );

  const expectOptions = (cmd: Command) => {
    option(cmd, '--expect-canary <fv>', 'only if the canary is this function version', FUNCTION_VERSION);
    return option(cmd, '--expect-percent <p>', 'with --expect-canary: only if the canary has this percent', NUMBER);
  };

  const shift = command(program, {
    name: 'shift <model> <percent>',
    summary: 'give the canary this share of the traffic',
    group: RELEASES,
    description: `Give the canary this percent of the traffic. ${EXPECT_HELP}`,
    after: 'Example:\n  modelctl shift iris 50 --expect-canary 2 --expect-percent 10',
    args: { percent: NUMBER },
  });
  apiOptions(outputOptions(expectOptions(shift))).action(
    action<ExpectOptions>(cli, async (call) => {
      const [model = '', percent = ''] = call.args;
      const body = { percent: numberArg(percent, '<percent>'), ...expectedCanary(call.opts) };
      const deployment = (await call.api.call('POST', `${modelPath(model)}/deployment/shift`, body)) as Deployment;
      call.print(deployment, (d) => deploymentLines(d, `Shifted: the canary has ${d.canary?.percent ?? 0}% of the traffic.`));
      return 0;
    }),
  );

  for (const [name, summary, done] of [
    ['rollback', 'all the traffic back to the stable version', 'Rolled back: the stable version has all the traffic.'],
    ['finalize', 'make the canary stable and production', 'Finalized: the canary is the stable and production version.'],
  ] as const) {
    const cmd = command(program, {
      name: `${name} <model>`,
      summary,
      group: RELEASES,
      description: `${summary[0]?.toUpperCase()}${summary.slice(1)}. ${EXPECT_HELP}`,
    });
    option(cmd, '--reason <text>', 'why, kept in the history', TEXT);
    apiOptions(outputOptions(expectOptions(cmd))).action(
      action<ExpectOptions>(cli, async (call) => {
        const [model = ''] = call.args;
        const body = { ...(call.opts.reason === undefined ? {} : { reason: call.opts.reason }), ...expectedCanary(call.opts) };
        const deployment = (await call.api.call('POST', `${modelPath(model)}/deployment/${name}`, body)) as Deployment;
        call.print(deployment, (d) => deploymentLines(d, done));
        return 0;
      }),
    );
  }

  const deployment = command(program, {
    name: 'deployment <model>',
    summary: 'the alias: versions, weights, metrics',
    group: RELEASES,
    description: 'What alias "live" routes: the stable version and the canary, if any, with their share, requests, errors and latency.',
  });
  apiOptions(outputOptions(deployment)).action(
    action(cli, async (call) => {
      const [model = ''] = call.args;
      call.print((await call.api.call('GET', `${modelPath(model)}/deployment`)) as Deployment, (d) => deploymentLines(d));
      return 0;
    }),
  );

  const stats = command(program, {
    name: 'stats <model>',
    summary: "each served version's health, last N minutes",
    group: RELEASES,
    description:
      'Per served version over the last N minutes: percent, invocations, 4xx, 5xx, error rate, p50/p99/mean latency, ' +
      'healthy or why not.',
  });
  option(stats, '--minutes <n>', 'the window, 1 to 1440 (default 60)', WHOLE);
  apiOptions(outputOptions(stats)).action(
    action<{ minutes?: number }>(cli, async (call) => {
      const [model = ''] = call.args;
      const query = call.opts.minutes === undefined ? '' : `?${new URLSearchParams({ minutes: String(call.opts.minutes) })}`;
      call.print((await call.api.call('GET', `${modelPath(model)}/stats${query}`)) as ModelStats, statsTable);
      return 0;
    }),
  );
}

/** Milliseconds with one decimal; `-` without a value. */
function msText(value: number | null | undefined): string {
  return value === undefined || value === null ? '-' : value.toFixed(1);
}

/**
 * What the alias routes, as `deployment` (and `shift`, `rollback`, `finalize` after `headline`)
 * print it:
 *
 *     iris on alias live: production version 1; canary version 2 on 10% (metrics of the last 15 min)
 *     ROLE    FUNCTION  MODEL  PINNED  PERCENT  INVOCATIONS  5XX  4XX  P50 MS  P99 MS  MEAN MS
 *     stable  $LATEST   1      no      90       180          0    0    1.2     3.4     1.4
 *     canary  3         2      yes     10       20           0    0    1.3     3.1     1.5
 *     Move the canary: modelctl shift iris 50 --expect-canary 3 --expect-percent 10 (or finalize, or rollback)
 */
export function deploymentLines(d: Deployment, headline?: string): string {
  const row = (role: string, v: DeployedVersion) => [
    role,
    v.functionVersion,
    v.modelVersion ?? '-',
    v.pinned ? 'yes' : 'no',
    String(v.percent),
    String(v.invocations),
    String(v.errors),
    String(v.clientErrors),
    msText(v.latencyMs?.p50),
    msText(v.latencyMs?.p99),
    msText(v.latencyMs?.mean),
  ];
  const canary = d.canary ? `; canary version ${d.canary.modelVersion ?? '-'} on ${d.canary.percent}%` : '';
  const title = `${d.model} on alias ${d.alias}: production version ${d.productionVersion ?? '-'}${canary} (metrics of the last ${d.metricsWindowMinutes} min)`;
  const lines = [
    ...(headline ? [headline] : []),
    clean(title),
    ...tableLines(
      ['ROLE', 'FUNCTION', 'MODEL', 'PINNED', 'PERCENT', 'INVOCATIONS', '5XX', '4XX', 'P50 MS', 'P99 MS', 'MEAN MS'],
      [row('stable', d.stable), ...(d.canary ? [row('canary', d.canary)] : [])],
    ),
  ];
  if (d.canary)
    lines.push(
      `Move the canary: modelctl shift ${d.model} <percent> --expect-canary ${d.canary.functionVersion} --expect-percent ${d.canary.percent} (or finalize, or rollback)`,
    );
  return `${lines.join('\n')}\n`;
}

/** `promote`'s answer: what started, then the deployment. */
export function promoteLines(result: PromoteResult): string {
  const r = result.release;
  const what =
    r.mode === 'direct'
      ? `Released version ${r.modelVersion}: it takes all the traffic (function version ${r.functionVersion}).`
      : r.mode === 'manual'
        ? `Started a canary of version ${r.modelVersion} (function version ${r.functionVersion}).`
        : `Started a managed release of version ${r.modelVersion} (function version ${r.functionVersion}${r.deploymentId === undefined ? '' : `, deployment ${r.deploymentId}`}); modelctl deployment ${result.deployment.model} follows it.`;
  return deploymentLines(result.deployment, what);
}

/**
 * `modelctl stats` as a table, one row per served version:
 *
 *     iris, last 60 min: UNHEALTHY (thresholds: error rate above 5%, mean latency above 1000 ms)
 *     FUNCTION  MODEL  ROLE    PERCENT  INVOCATIONS  4XX  5XX  ERROR RATE  P50 MS  P99 MS  MEAN MS  HEALTH
 *     $LATEST   1      stable  90       180          0    0    0%          1.2     3.4     1.4      healthy
 *     3         2      canary  10       20           0    4    20%         1.3     3.1     1.5      UNHEALTHY: error rate 20% (4 of 20 invocations answered 5xx) is above 5%
 */
export function statsTable(stats: ModelStats): string {
  const header = [
    'FUNCTION',
    'MODEL',
    'ROLE',
    'PERCENT',
    'INVOCATIONS',
    '4XX',
    '5XX',
    'ERROR RATE',
    'P50 MS',
    'P99 MS',
    'MEAN MS',
    'HEALTH',
  ];
  const rows = stats.versions.map((v) => [
    v.functionVersion,
    `${v.modelVersion ?? '-'}${v.modelVersion !== null && v.modelVersion === stats.productionVersion ? ' (production)' : ''}`,
    v.role,
    String(v.percent),
    String(v.invocations),
    String(v.clientErrors),
    String(v.serverErrors),
    v.errorRate === null ? '-' : `${Math.round(v.errorRate * 10_000) / 100}%`,
    msText(v.latencyMs?.p50),
    msText(v.latencyMs?.p99),
    msText(v.latencyMs?.mean),
    v.healthy ? (v.evidence === 'none' ? 'healthy (no traffic)' : 'healthy') : `UNHEALTHY: ${v.reasons.join('; ')}`,
  ]);
  const { maxErrorRate, maxMeanLatencyMs } = stats.thresholds;
  const title = `${stats.model}, last ${stats.windowMinutes} min: ${stats.healthy ? 'healthy' : 'UNHEALTHY'} (thresholds: error rate above ${Math.round(maxErrorRate * 10_000) / 100}%, mean latency above ${maxMeanLatencyMs} ms)`;
  return `${title}\n${table(header, rows)}`;
}
