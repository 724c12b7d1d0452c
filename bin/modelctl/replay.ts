/**
 * `modelctl replay`: a model's captured requests of a window re-run against a version (a batch
 * job), and its agreement report.
 */
import type { Command } from 'commander';
import type { BatchJob } from '../../functions/core/batch-contract.js';
import type { ReplayReport } from '../../functions/core/replay/compare.js';
import { TIME, VERSION, VERSIONS, WHOLE } from './args.js';
import { type Call, type Cli, action, apiOptions, command, option, outputOptions } from './command.js';
import { UsageError, clean, differenceText, notComparedNote, plural } from './common.js';
import { INTERVAL_SECONDS, type JobReply, TIMEOUT_SECONDS, jobLines, verdict, waitForJob, waitOptions } from './jobs.js';
import { modelPath } from './models.js';
import { jsonText, tableLines } from './output.js';

interface ReplayOptions {
  readonly version?: string;
  readonly since?: string;
  readonly until?: string;
  readonly sourceVersions?: string[];
  readonly maxRequests?: number;
  readonly rowsPerBatch?: number;
  readonly maxConcurrency?: number;
  readonly wait?: boolean;
  /** Milliseconds. */
  readonly interval?: number;
  /** Milliseconds. */
  readonly timeout?: number;
}

/** `replay`, on `program`. */
export function addReplayCommand(program: Command, cli: Cli): void {
  const replay = command(program, {
    name: 'replay <model>',
    summary: 'run captured requests again on a version',
    group: 'Monitoring:',
    usage: '<model> --version V --since 1h|ISO [options]',
    description:
      "Re-run the model's captured requests of a window against version V (a batch job) and report agreement: the " +
      'share of identical labels, the largest and mean absolute difference per output, the requests that differ ' +
      'most, and the requests that could not be replayed, by reason. Without --wait, the report is in "batch status ' +
      '<model> <job> -o json" once the job has ended. Scope batch:submit (and batch:read or models:read to wait).',
    after: [
      'Exit codes with --wait: as "batch wait" (0 SUCCEEDED; 1 FAILED or CANCELLED; 2 --timeout passed).',
      '',
      'Example:',
      '  modelctl replay iris --version 2 --since 1h --wait',
    ].join('\n'),
  });
  option(replay, '--version <v>', 'the version to replay against (required)', VERSION);
  option(replay, '--since <when>', '90s, 30m, 1h, 2d back from now, or an ISO-8601 time with its zone (required)', TIME);
  option(replay, '--until <when>', 'an ISO-8601 time (default now)', TIME);
  option(
    replay,
    '--source-versions <list>',
    'replay what these versions served: 1,2 (default every version captured in the window)',
    VERSIONS,
  );
  option(replay, '--max-requests <n>', 'the newest N requests of the window (default and at most 100000)', WHOLE);
  option(replay, '--rows-per-batch <n>', 'rows per prediction call', WHOLE);
  option(replay, '--max-concurrency <n>', 'batches at once', WHOLE);
  replay.option('--wait', 'wait for the job as "batch wait" does, then print the report');
  option(replay, '--interval <seconds>', 'with --wait: seconds between reads of the job (default 2)', INTERVAL_SECONDS);
  option(replay, '--timeout <seconds>', 'with --wait: stop waiting after this long', TIMEOUT_SECONDS);
  apiOptions(outputOptions(replay)).action(action(cli, replayCommand));
}

/**
 * Submits a replay (`POST /v1/models/{m}/replays`), and with `--wait` waits for its job as `batch
 * wait` does and prints its agreement report; exit codes as `batch wait` (0 SUCCEEDED, 1 FAILED
 * or CANCELLED, 2 still running when waiting stopped).
 */
async function replayCommand(call: Call<ReplayOptions>): Promise<number> {
  const { io, opts, api } = call;
  const [model = ''] = call.args;
  if (opts.version === undefined || opts.since === undefined)
    throw new UsageError(
      '"replay" needs --version (the version to replay against) and --since (90s, 30m, 1h, 2d, or an ISO-8601 time with its zone).',
    );
  if (!opts.wait && (opts.interval !== undefined || opts.timeout !== undefined))
    throw new UsageError('--interval and --timeout go with --wait.');
  const waiting = opts.wait ? waitOptions(opts) : undefined;
  const sources = opts.sourceVersions ?? [];
  const body = {
    version: opts.version,
    since: opts.since,
    ...(opts.until === undefined ? {} : { until: opts.until }),
    ...(sources.length > 0 ? { sourceVersions: sources } : {}),
    ...(opts.maxRequests === undefined ? {} : { maxRequests: opts.maxRequests }),
    ...(opts.rowsPerBatch === undefined ? {} : { rowsPerBatch: opts.rowsPerBatch }),
    ...(opts.maxConcurrency === undefined ? {} : { maxConcurrency: opts.maxConcurrency }),
  };
  const submitted = (await api.call('POST', `${modelPath(model)}/replays`, body)) as { job: BatchJob };
  const { job } = submitted;
  const what = `Replay ${job.jobId} of ${model}: captured requests of ${plural(job.replay?.sourceVersions.length ?? 0, 'version')} (${(job.replay?.sourceVersions ?? []).join(', ')}) from ${job.replay?.since ?? '?'} to ${job.replay?.until ?? '?'} against version ${job.modelVersion}`;
  if (!waiting) {
    call.print(
      submitted,
      () =>
        `${what}: ${job.state}.\nIts report, once it has ended: modelctl batch wait ${model} ${job.jobId}, then modelctl batch status ${model} ${job.jobId} -o json\n`,
    );
    return 0;
  }
  io.err(
    `${what}.\nWaiting for it${waiting.timeoutMs === undefined ? '' : ` for at most ${waiting.timeoutMs / 1_000} s`} (Ctrl+C stops waiting, not the replay).\n`,
  );
  const { reply, ended } = await waitForJob(api, io, model, job.jobId, waiting);
  const report = (reply as JobReply & { report?: ReplayReport }).report;
  io.out(call.json ? jsonText(reply) : report ? replayLines(report) : jobLines(reply));
  return verdict(io, reply.job, ended, waiting);
}

/**
 * A replay's agreement report as `modelctl replay --wait` prints it:
 *
 *     iris: replay against version 2 of 10000 requests of version 1: 9982 of 10000 labels identical (99.82%), max abs diff 0.1153
 *     window 2026-11-30T11:00:00.000Z to 2026-11-30T12:00:00.000Z: 10000 captured, 10000 replayed; 10000 compared (10000 rows), 0 not replayable
 *     OUTPUT         KIND     REQUESTS  ELEMENTS  DIFFERING  MAX ABS DIFF  MEAN ABS DIFF
 *     label          exact    10000     10000     18         -             -
 *     probabilities  numeric  10000     30000     29700      0.1153        0.01021
 *
 *     differing most:
 *     ROW   REQUEST                               SOURCE  MAX ABS DIFF  LABELS CHANGED
 *     4711  5b0c…                                 1       0.1153        1
 *
 * A replay that compared no request says why in its first line, its differences unknown (`-`):
 * `iris: replay against version 2 of 5 requests of version 1: nothing compared (no request could
 * be replayed: FEATURE_DROPPED 5), max abs diff -`.
 */
export function replayLines(report: ReplayReport): string {
  const codes = Object.entries(report.notReplayable.byCode);
  const codeCounts = codes.map(([code, n]) => `${clean(code)} ${n}`).join(', ');
  let agreement: string;
  if (report.compared === 0) {
    // Nothing to agree on: the differences are unknown, not 0, and the labels were not compared for want of rows, not of a classifier.
    const why = report.requests === 0 ? 'the window held no captured request to replay' : `no request could be replayed: ${codeCounts}`;
    agreement = `nothing compared (${why}), max abs diff -`;
  } else {
    const labels = report.labels
      ? `${report.labels.identical} of ${report.labels.rows} labels identical${report.labels.share === null ? '' : ` (${Math.round(report.labels.share * 10_000) / 100}%)`}`
      : 'no labels compared (not a classifier on both sides)';
    agreement = `${labels}, max abs diff ${differenceText(report.maxAbsDiff)}`;
  }
  const sources = report.sourceVersions.join(', ');
  const title = `${report.model}: replay against version ${report.targetVersion} of ${plural(report.requests, 'request')} of version${report.sourceVersions.length === 1 ? '' : 's'} ${sources}: ${agreement}`;
  const { capture } = report;
  const window = `window ${report.window.since} to ${report.window.until}: ${capture.inWindow} captured, ${capture.replayed} replayed${capture.capped ? ` (the newest ${capture.maxRequests})` : ''}; ${report.compared} compared (${plural(report.rowsCompared, 'row')}), ${report.notReplayable.total} not replayable`;
  const outputs = tableLines(
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
  );
  const lines = [title, window, ...(Object.keys(report.outputs).length > 0 ? outputs : ['no output compared'])];
  if (report.mostDifferent.length > 0) {
    lines.push(
      '',
      'differing most:',
      ...tableLines(
        ['ROW', 'REQUEST', 'SOURCE', 'MAX ABS DIFF', 'LABELS CHANGED'],
        report.mostDifferent.map((d) => [
          String(d.row),
          clean(d.requestId),
          clean(d.sourceVersion),
          differenceText(d.maxAbsDiff),
          String(d.differingLabels),
        ]),
      ),
    );
  }
  const notes: string[] = [];
  if (codes.length > 0) notes.push(`not replayable: ${codeCounts} (errors.jsonl says why, request by request)`);
  const skipped = notComparedNote(report.outputsNotCompared);
  if (skipped) notes.push(skipped);
  if (report.truncatedRequests > 0)
    notes.push(`${plural(report.truncatedRequests, 'request')} replayed on the rows capture kept (records over their size bound)`);
  if (capture.unreadableLines > 0)
    notes.push(
      `${plural(capture.unreadableLines, 'line')} of the capture files ${capture.unreadableLines === 1 ? 'is' : 'are'} no capture record`,
    );
  return `${[...lines, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')}\n`;
}
