/**
 * `modelctl shadow`: shadow tests, where a candidate version also runs on a share of live
 * requests after the caller has the answer, and its outputs are compared with it.
 */
import type { Command } from 'commander';
import type { ShadowStatus } from '../../functions/core/shadow/service.js';
import type { LatencySummary } from '../../functions/core/shadow/report.js';
import { MIN_SHADOW_PERCENT } from '../../functions/core/shadow/shadow.js';
import { ID, VERSION, numberArg, strict } from './args.js';
import { type Cli, action, apiOptions, command, option, outputOptions } from './command.js';
import { UsageError, clean, differenceText, notComparedNote, plural, shown } from './common.js';
import { modelPath } from './models.js';
import { tableLines } from './output.js';

/** `shadow start --sample PERCENT`: the API's bounds (`functions/core/shadow/shadow.ts`). */
const SHADOW_PERCENT = strict('percent', (value, name) => {
  const sample = numberArg(value, name);
  if (!(sample >= MIN_SHADOW_PERCENT && sample <= 100))
    throw new UsageError(
      `${name} is the percent of requests also run on the candidate, from ${MIN_SHADOW_PERCENT} to 100, not ${shown(value)}; "shadow stop" stops the test.`,
    );
  return sample;
});

/** `shadow` and its commands, on `program`. */
export function addShadowCommands(program: Command, cli: Cli): void {
  const shadow = command(program, {
    name: 'shadow',
    summary: 'a candidate version shadows live requests',
    group: 'Monitoring:',
    usage: '<command> [options]',
    description:
      "A shadow test runs a share of a model's live requests on a candidate version too, after the caller has the " +
      'answer, and compares the two outputs: what would the candidate have said?',
    after: 'Example:\n  modelctl shadow start iris --version 2 --sample 10',
  });
  const route = (model: string) => `${modelPath(model)}/shadow`;

  const start = command(shadow, {
    name: 'start <model>',
    summary: 'start a shadow test of a version',
    usage: '<model> --version N [options]',
    description:
      "Run --sample percent of the model's requests on version N too, after the caller has its answer (which never " +
      'waits for it or changes with it); both outputs are logged and compared. One at a time per model, and not ' +
      'during an experiment. Scope models:write.',
  });
  option(start, '--version <n>', 'the candidate version (required)', VERSION);
  option(start, '--sample <percent>', `the percent of requests also run on it, ${MIN_SHADOW_PERCENT} to 100 (default 100)`, SHADOW_PERCENT);
  apiOptions(outputOptions(start)).action(
    action<{ version?: string; sample?: number }>(cli, async (call) => {
      const [model = ''] = call.args;
      const { version, sample } = call.opts;
      if (version === undefined)
        throw new UsageError('"shadow start" needs --version N: the candidate version to run beside the one that answers.');
      const body = { version, ...(sample === undefined ? {} : { samplePercent: sample }) };
      call.print((await call.api.call('POST', route(model), body)) as ShadowStatus, shadowLines);
      return 0;
    }),
  );

  const status = command(shadow, {
    name: 'status <model>',
    summary: 'the shadow test and its report',
    description:
      'The running shadow test (else the newest; --id: that one) and its report: requests, compared, failed by code, ' +
      "label agreement, max and mean absolute difference per output, the quantiles and buckets of each request's " +
      'largest difference, and the latency of both versions (p50, p99, mean). Scope models:read.',
  });
  option(status, '--id <id>', 'that shadow test (shadow-...), not the newest', ID);
  apiOptions(outputOptions(status)).action(
    action<{ id?: string }>(cli, async (call) => {
      const [model = ''] = call.args;
      const query = call.opts.id === undefined ? '' : `?${new URLSearchParams({ id: call.opts.id })}`;
      call.print((await call.api.call('GET', `${route(model)}${query}`)) as ShadowStatus, shadowLines);
      return 0;
    }),
  );

  const stop = command(shadow, {
    name: 'stop <model>',
    summary: 'stop the running shadow test and print its report',
    description: 'Stop the running shadow test and print its report, which stays. Scope models:write.',
  });
  apiOptions(outputOptions(stop)).action(
    action(cli, async (call) => {
      const [model = ''] = call.args;
      call.print((await call.api.call('DELETE', route(model))) as ShadowStatus, shadowLines);
      return 0;
    }),
  );
}

/** Milliseconds for the latency table: 3 significant digits; `-` without a value. */
function msText(value: number | null): string {
  return value === null ? '-' : Number(value.toPrecision(3)).toString();
}

/**
 * A shadow test and its report as `modelctl shadow` prints them:
 *
 *     Shadow test shadow-20261130t120000000z-7f3k9q2m of iris: running, version 2 on 10% of requests
 *       started  2026-11-30T12:00:00.000Z by cli-user
 *     requests 120 (answered by version 1, run on version 2): 118 compared (118 rows), 2 failed (SHADOW_TIMEOUT 2)
 *     labels: 117 of 118 identical (99.15%); max abs diff 0.1153
 *     OUTPUT         KIND     REQUESTS  ELEMENTS  DIFFERING  MAX ABS DIFF  MEAN ABS DIFF
 *     label          exact    118       118       1          -             -
 *     probabilities  numeric  118       354       351        0.1153        0.01021
 *     largest difference per request (118 compared): p50 0.0081, p90 0.031, p99 0.1, max 0.1153
 *       buckets: 0: 3; (0, 1e-6]: 0; (1e-6, 1e-3]: 12; (1e-3, 0.1]: 102; > 0.1: 1
 *     LATENCY MS  REQUESTS  P50   P99   MEAN
 *     primary     118       1.21  3.4   1.5
 *     candidate   118       0.52  1.1   0.6
 *
 * then the requests that differ most, and notes (outputs not compared, a capped read).
 */
export function shadowLines(status: ShadowStatus): string {
  const test = status.shadow;
  if (!test) return `No shadow test of ${status.model}. Start one: modelctl shadow start ${status.model} --version N [--sample PERCENT]\n`;
  const lines = [
    `Shadow test ${test.id} of ${test.model}: ${test.state}, version ${test.version} on ${test.samplePercent}% of requests`,
    `  started  ${test.startedAt} by ${clean(test.startedBy)}`,
    ...(test.stoppedAt === undefined ? [] : [`  stopped  ${test.stoppedAt} by ${clean(test.stoppedBy ?? '?')}`]),
  ];
  const report = status.report;
  if (!report)
    return `${[...lines, `Its report: modelctl shadow status ${test.model}${test.state === 'running' ? '' : ` --id ${test.id}`}`].join('\n')}\n`;
  const versions = (list: readonly string[]) => `version${list.length === 1 ? '' : 's'} ${list.length === 0 ? '-' : list.join(', ')}`;
  const codes = Object.entries(report.failed.byCode)
    .map(([code, n]) => `${clean(code)} ${n}`)
    .join(', ');
  lines.push(
    `requests ${report.requests} (answered by ${versions(report.primaryVersions)}, run on ${versions(report.candidateVersions)}): ${report.compared} compared (${plural(report.rowsCompared, 'row')}), ${report.failed.total} failed${codes === '' ? '' : ` (${codes})`}`,
  );
  if (report.compared === 0) {
    lines.push(
      report.requests === 0
        ? 'Nothing shadowed yet: no request was run on the candidate, or its log records are not written yet.'
        : 'Nothing compared: every request run on the candidate failed there.',
    );
  } else {
    const { labels } = report;
    const agreement = labels
      ? `labels: ${labels.identical} of ${labels.rows} identical${labels.share === null ? '' : ` (${Math.round(labels.share * 10_000) / 100}%)`}`
      : 'labels: not compared (not a classifier on both sides)';
    lines.push(`${agreement}; max abs diff ${differenceText(report.maxAbsDiff)}`);
    lines.push(
      ...tableLines(
        ['OUTPUT', 'KIND', 'REQUESTS', 'ELEMENTS', 'DIFFERING', 'MAX ABS DIFF', 'MEAN ABS DIFF'],
        Object.entries(report.outputs).map(([name, o]) => [
          clean(name),
          o.kind,
          String(o.requests),
          String(o.elements),
          String(o.differing),
          differenceText(o.maxAbsDiff),
          differenceText(o.meanAbsDiff),
        ]),
      ),
    );
    const d = report.differences;
    const sampled = d.exact ? '' : `; quantiles over a uniform sample of ${d.samples}`;
    lines.push(
      `largest difference per request (${d.n} compared${sampled}): p50 ${differenceText(d.p50 ?? undefined)}, p90 ${differenceText(d.p90 ?? undefined)}, p99 ${differenceText(d.p99 ?? undefined)}, max ${differenceText(d.max ?? undefined)}`,
    );
    lines.push(
      `  buckets: ${Object.entries(d.buckets)
        .map(([bucket, n]) => `${bucket}: ${n}`)
        .join('; ')}`,
    );
    const latency = (name: string, l: LatencySummary) => [name, String(l.n), msText(l.p50), msText(l.p99), msText(l.mean)];
    lines.push(
      ...tableLines(
        ['LATENCY MS', 'REQUESTS', 'P50', 'P99', 'MEAN'],
        [latency('primary', report.latencyMs.primary), latency('candidate', report.latencyMs.candidate)],
      ),
    );
  }
  if (report.mostDifferent.length > 0) {
    lines.push(
      '',
      'differing most:',
      ...tableLines(
        ['REQUEST', 'PRIMARY', 'CANDIDATE', 'MAX ABS DIFF', 'LABELS CHANGED', 'ELEMENTS DIFFERING'],
        report.mostDifferent.map((r) => [
          clean(r.requestId),
          clean(r.primaryVersion),
          clean(r.candidateVersion),
          differenceText(r.maxAbsDiff),
          String(r.differingLabels),
          String(r.differingElements),
        ]),
      ),
    );
  }
  const notes: string[] = [];
  const skipped = notComparedNote(report.outputsNotCompared);
  if (skipped) notes.push(skipped);
  if (status.capped) notes.push('More requests were shadowed than one report reads: the oldest were summed.');
  return `${[...lines, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')}\n`;
}
