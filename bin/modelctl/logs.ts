/**
 * `modelctl logs`: a model's prediction log, a line per request, one page or followed until
 * Ctrl+C.
 */
import type { Command } from 'commander';
import { TIME, WHOLE, numberArg, strict } from './args.js';
import { type Call, type Cli, action, apiOptions, command, option, outputOptions } from './command.js';
import { UsageError, clean, pause, shown } from './common.js';
import { UnreachableError } from './http.js';
import { modelPath } from './models.js';

/** One record of `GET /v1/models/{m}/predictions`. */
export interface LogRecord {
  readonly requestId: string;
  readonly timestamp: string;
  readonly modelVersion: string;
  readonly functionVersion: string;
  readonly caller: string;
  readonly rows: number;
  readonly latencyMs: number;
  readonly outputs: string;
  readonly truncated: boolean;
}

interface LogsReply {
  readonly since: string;
  readonly records: readonly LogRecord[];
  readonly nextCursor?: string;
}

interface LogsOptions {
  readonly since?: string;
  readonly limit?: number;
  readonly follow?: boolean;
  /** Milliseconds. */
  readonly poll?: number;
}

/** `--poll SECONDS`: a number above 0, as milliseconds. */
const POLL_SECONDS = strict('seconds', (value, name) => {
  const seconds = numberArg(value, name);
  if (!(seconds > 0)) throw new UsageError(`${name} is a number of seconds above 0, not ${shown(value)}.`);
  return seconds * 1_000;
});

/** Characters of a record's outputs shown on its line. */
const OUTPUT_EXCERPT_CHARS = 80;
/**
 * `--follow` reads again from this long before the newest record it printed: the prediction log
 * is written in the background, so a record can land a little after a later one was read.
 * Records already printed are skipped by request id.
 */
const FOLLOW_OVERLAP_MS = 5_000;

/** `logs`, on `program`. */
export function addLogsCommand(program: Command, cli: Cli): void {
  const logs = command(program, {
    name: 'logs <model>',
    summary: 'the prediction log, a line per request',
    group: 'Predictions:',
    description:
      "The model's prediction log, oldest first, one line per request: when, request id, model and function version, " +
      "caller, rows, latency, outputs. With -o json: the API's page as JSON (with --follow, one record per line).",
    after: 'Examples:\n  modelctl logs iris --since 10m --limit 50\n  modelctl logs iris --follow',
  });
  option(logs, '--since <when>', 'an ISO-8601 time, or 90s, 10m, 2h, 1d back from now (default 1h)', TIME);
  option(logs, '--limit <n>', 'records per page, 1 to 1000 (default 100)', WHOLE);
  logs.option('--follow', 'keep polling for new records until Ctrl+C');
  option(logs, '--poll <seconds>', 'with --follow: seconds between polls (default 2)', POLL_SECONDS);
  apiOptions(outputOptions(logs)).action(action(cli, readLogs));
}

/** One prediction-log record as a line: when, which request, what served it, for whom, what it answered. */
export function logLine(record: LogRecord): string {
  const outputs =
    record.outputs.length > OUTPUT_EXCERPT_CHARS || record.truncated ? `${record.outputs.slice(0, OUTPUT_EXCERPT_CHARS)}…` : record.outputs;
  return [
    record.timestamp,
    record.requestId,
    `model=${record.modelVersion}`,
    `function=${record.functionVersion}`,
    `caller=${clean(record.caller)}`,
    `rows=${record.rows}`,
    `${Math.round(record.latencyMs * 10) / 10}ms`,
    clean(outputs),
  ].join(' ');
}

/** `modelctl logs`: one page, or with `--follow` pages until `io.signal` aborts. */
async function readLogs(call: Call<LogsOptions>): Promise<number> {
  const { io, opts, api } = call;
  const [model = ''] = call.args;
  if (opts.poll !== undefined && !opts.follow) throw new UsageError('--poll goes with --follow.');
  const pollMs = opts.poll ?? 2_000;
  const limit = opts.limit === undefined ? undefined : String(opts.limit);
  const path = (query: Record<string, string | undefined>) => {
    const params = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined));
    const text = params.toString();
    return `${modelPath(model)}/predictions${text ? `?${text}` : ''}`;
  };
  if (!opts.follow) {
    const page = (await api.call('GET', path({ since: opts.since, limit }))) as LogsReply;
    call.print(page, (p) => p.records.map((record) => `${logLine(record)}\n`).join(''));
    if (!call.json && page.nextCursor) io.err('(more records follow: raise --limit, narrow --since, or --follow)\n');
    return 0;
  }
  const printed = new Map<string, string>(); // request id → timestamp, for the overlap
  let since = opts.since;
  let cursor: string | undefined;
  let newest: string | undefined;
  let unreachable = false;
  while (!io.signal?.aborted) {
    let page: LogsReply;
    try {
      page = (await api.call('GET', path({ since, limit, cursor }))) as LogsReply;
    } catch (error) {
      // Following outlives a restart of the API: an unreachable server is waited for, said once.
      if (!(error instanceof UnreachableError)) throw error;
      if (!unreachable) io.err(`${error.message} Still following; retrying every ${pollMs / 1_000} s.\n`);
      unreachable = true;
      await pause(pollMs, io.signal);
      continue;
    }
    unreachable = false;
    for (const record of page.records) {
      if (printed.has(record.requestId)) continue;
      printed.set(record.requestId, record.timestamp);
      if (newest === undefined || record.timestamp > newest) newest = record.timestamp;
      io.out(call.json ? `${JSON.stringify(record)}\n` : `${logLine(record)}\n`);
    }
    // The next poll reads from the newest record printed less the overlap (else from where this
    // listing started); what was printed before that can be forgotten.
    const from =
      newest === undefined ? page.since : new Date(Math.max(Date.parse(newest) - FOLLOW_OVERLAP_MS, Date.parse(page.since))).toISOString();
    for (const [requestId, timestamp] of printed) if (timestamp < from) printed.delete(requestId);
    if (page.nextCursor) {
      cursor = page.nextCursor;
      continue;
    }
    cursor = undefined;
    since = from;
    await pause(pollMs, io.signal);
  }
  return 0;
}
