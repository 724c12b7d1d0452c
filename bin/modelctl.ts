/**
 * `modelctl`: the command line for the model registry and predictions, against the local API
 * (`npm start`) or a deployed one. It speaks the public HTTP API only.
 *
 * @example
 * modelctl register iris models/iris/model.onnx --metadata models/iris/metadata.json --production
 * modelctl predict iris --features '{"sepal_length_cm":5.1,"sepal_width_cm":3.5,"petal_length_cm":1.4,"petal_width_cm":0.2}'
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_MODELS_PER_TOKEN, SCOPES } from '../functions/auth/permissions.js';
import type { ModelStats } from '../functions/core/stats.js';
import { MAX_SUBJECT_LENGTH } from '../functions/auth/claims.js';
import { DEFAULT_TOKEN_TTL_SECONDS, LOCAL_MAX_TOKEN_LIFETIME_SECONDS, checkMintOptions, mintToken, readSigningKey, signingKeyPath } from '../local/auth.js';

/** One command of `modelctl`: its synopsis and what it does, as the help shows them. */
interface CommandHelp {
  readonly name: string;
  /** The command and its arguments, after `modelctl `. */
  readonly synopsis: string;
  /** Lines of description. */
  readonly description: readonly string[];
  /** Whether it talks to the API (`--api`, `--token` apply). @default true */
  readonly api?: boolean;
}

const COMMANDS: readonly CommandHelp[] = [
  { name: 'models', synopsis: 'models', description: ['list registered models'] },
  { name: 'versions', synopsis: 'versions <model>', description: ["list a model's versions"] },
  {
    name: 'register', synopsis: 'register <model> <file.onnx> [--metadata meta.json] [--production] [--upload]',
    description: ['upload and register a new version', '(--production: through staging to production;', 'files over 1 MB, or any with --upload, go straight', 'to S3 through a presigned URL, with a progress bar)'],
  },
  {
    name: 'stage', synopsis: 'stage <model> <version> <stage> [--reason TEXT]',
    description: ['move a version: development -> staging -> production,', 'or to archived from any stage'],
  },
  { name: 'set-production', synopsis: 'set-production <model> <version>', description: ['promote a staging version to production'] },
  { name: 'history', synopsis: 'history <model>', description: ["the model's stage changes"] },
  {
    name: 'promote', synopsis: 'promote <model> <version> [--canary PERCENT | --managed canary|linear --percent N --interval MINUTES] [--reason TEXT]',
    description: ['release a staging version on alias "live": a manual', 'canary, a managed release, or (neither) all the traffic'],
  },
  {
    name: 'shift', synopsis: 'shift <model> <percent> [--expect-canary FV [--expect-percent P]]',
    description: ['give the canary this share of the traffic; with', '--expect-canary (and --expect-percent), only if the', 'canary is still function version FV (at P percent), as', '"deployment" showed it (else 409 ALIAS_CHANGED)'],
  },
  {
    name: 'rollback', synopsis: 'rollback <model> [--reason TEXT] [--expect-canary FV [--expect-percent P]]',
    description: ['all the traffic back to the stable version'],
  },
  {
    name: 'finalize', synopsis: 'finalize <model> [--reason TEXT] [--expect-canary FV [--expect-percent P]]',
    description: ['the canary becomes stable and the production version'],
  },
  { name: 'deployment', synopsis: 'deployment <model>', description: ['the alias: versions, model versions, weights, metrics'] },
  {
    name: 'stats', synopsis: 'stats <model> [--minutes N] [--json]',
    description: ['per served version over the last N minutes (default', '60, at most 1440): percent, invocations, 4xx, 5xx,', 'error rate, p50/p99/mean latency, healthy or why not'],
  },
  {
    name: 'logs', synopsis: 'logs <model> [--since 10m] [--limit N] [--follow [--poll SECONDS]] [--json]',
    description: [
      "the model's prediction log, oldest first, one line", 'per request; --since takes an ISO-8601 time or', '90s/10m/2h/1d (default 1h), --limit 1-1000 (default',
      '100); --follow keeps polling (every 2 s, or --poll)', "until Ctrl+C; --json prints the API's JSON (with", '--follow, one record per line)',
    ],
  },
  {
    name: 'predict', synopsis: 'predict <model> (--features JSON | --instances JSON | --body FILE)',
    description: ['call POST /v1/models/<model>/predict'],
  },
  { name: 'infer', synopsis: 'infer <model> --body FILE', description: ['call POST /v2/models/<model>/infer (Open Inference Protocol v2)'] },
  {
    name: 'token', synopsis: 'token --scope SCOPE [--model NAME] [--subject NAME] [--ttl SECONDS] [--data-dir DIR]', api: false,
    description: [
      'print a token for the local API (npm start), signed', "with the data folder's key. --scope and --model repeat",
      'or take comma-separated lists; --model limits every', `scope to those models (at most ${MAX_MODELS_PER_TOKEN}). Scopes: <scope> or`, '<scope>:<model>, <scope> one of',
      `${SCOPES.join(', ')}.`,
      `--subject: 1 to ${MAX_SUBJECT_LENGTH} characters (default local-dev);`,
      `--ttl: 1 to ${LOCAL_MAX_TOKEN_LIFETIME_SECONDS} whole seconds (7 days, the longest the`,
      `local API accepts; default ${DEFAULT_TOKEN_TTL_SECONDS}); --data-dir: default`, '$DATA_DIR or .data',
    ],
  },
];

/** Where a description starts when the synopsis leaves room for it on the same line. */
const DESCRIPTION_COLUMN = 42;

function commandLines(command: CommandHelp): string {
  const [first = '', ...rest] = command.description;
  const indent = ' '.repeat(DESCRIPTION_COLUMN);
  const head = `  ${command.synopsis}`;
  const lines = head.length < DESCRIPTION_COLUMN - 1
    ? [`${head.padEnd(DESCRIPTION_COLUMN)}${first}`, ...rest.map((line) => `${indent}${line}`)]
    : [head, ...command.description.map((line) => `${indent}${line}`)];
  return lines.join('\n');
}

const OPTIONS = `Options:
  --api URL     the API's base URL (default: $MODELCTL_API, else http://127.0.0.1:3000)
  --token JWT   sent as "Authorization: Bearer JWT" (default: $MODELCTL_TOKEN)
  --help, -h    this help; after a command, that command's help`;

const USAGE = `Usage: modelctl <command> [arguments] [--api URL] [--token JWT]

Commands:
${COMMANDS.map(commandLines).join('\n')}

${OPTIONS}

Example: export MODELCTL_TOKEN=$(npm run -s modelctl -- token --scope predict,models:read,models:write,models:promote)
`;

/** `modelctl <command> --help`: that command only; the general help for anything else. */
function usageOf(name: string | undefined): string {
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) return USAGE;
  const description = command.description.map((line) => `  ${line}`).join('\n');
  return `Usage: modelctl ${command.synopsis}${command.api === false ? '' : ' [--api URL] [--token JWT]'}\n\n${description}\n${command.api === false ? '' : `\n${OPTIONS}\n`}\nAll commands: modelctl --help\n`;
}

export interface CliIo {
  readonly fetch: typeof fetch;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly readFile: (path: string) => Promise<Buffer>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Milliseconds since the epoch, for `token`. @default Date.now */
  readonly now?: () => number;
  /** A file's size and a stream of its bytes, for uploads. @default readFile, whole */
  readonly openFile?: (path: string) => Promise<{ size: number; stream: () => AsyncIterable<Uint8Array> }>;
  /**
   * Whether `err` is a terminal: the upload progress is one bar redrawn in place; otherwise one
   * line per quarter. @default false
   */
  readonly errIsTTY?: boolean;
  /** Ends `logs --follow` (the process aborts it on Ctrl+C); it then exits 0. @default never */
  readonly signal?: AbortSignal;
}

/** Files larger than this are registered through a presigned upload, not inline. */
export const UPLOAD_THRESHOLD_BYTES = 1024 * 1024;

class UsageError extends Error {}

/** Runs one command; resolves to the process exit code. */
export async function modelctl(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        api: { type: 'string' },
        token: { type: 'string' },
        metadata: { type: 'string' },
        production: { type: 'boolean' },
        upload: { type: 'boolean' },
        reason: { type: 'string' },
        features: { type: 'string' },
        instances: { type: 'string' },
        body: { type: 'string' },
        canary: { type: 'string' },
        managed: { type: 'string' },
        percent: { type: 'string' },
        interval: { type: 'string' },
        minutes: { type: 'string' },
        since: { type: 'string' },
        limit: { type: 'string' },
        follow: { type: 'boolean' },
        poll: { type: 'string' },
        json: { type: 'boolean' },
        scope: { type: 'string', multiple: true },
        model: { type: 'string', multiple: true },
        subject: { type: 'string' },
        ttl: { type: 'string' },
        'data-dir': { type: 'string' },
        'expect-canary': { type: 'string' },
        'expect-percent': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    // The command's own help when the first word names one.
    io.err(`${error instanceof Error ? error.message : String(error)}\n\n${usageOf(argv.find((a) => !a.startsWith('-')))}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [first, ...rest] = positionals;
  // `modelctl help [command]` is `modelctl [command] --help`.
  const help = values.help === true || first === 'help';
  const [command, ...args] = first === 'help' ? rest : positionals;
  if (help || !command) {
    if (command !== undefined && !COMMANDS.some((c) => c.name === command)) {
      io.err(`Unknown command "${command.slice(0, 40)}".\n\n${USAGE}`);
      return 2;
    }
    (help ? io.out : io.err)(usageOf(command));
    return help ? 0 : 2;
  }
  if (command === 'token') return token(args, values, io);
  const api = new Api(values.api ?? io.env['MODELCTL_API'] ?? 'http://127.0.0.1:3000', values.token ?? io.env['MODELCTL_TOKEN'], io.fetch);
  try {
    const result = await run(command, args, values, api, io);
    if (result !== PRINTED) io.out(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${usageOf(command)}`);
      return 2;
    }
    if (error instanceof ApiError) {
      io.err(`${error.message}\n`);
      return 1;
    }
    io.err(`modelctl: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

interface TokenFlags {
  readonly scope?: string[];
  readonly model?: string[];
  readonly subject?: string;
  readonly ttl?: string;
  readonly 'data-dir'?: string;
}

/** `modelctl token`: prints only the token, so `$(modelctl token ...)` can be pasted anywhere. */
async function token(args: readonly string[], flags: TokenFlags & Flags, io: CliIo): Promise<number> {
  const split = (values: readonly string[] | undefined) => (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  // Whole decimal seconds only: Number() would also take "1e12", "0x10" or " ".
  const ttl = flags.ttl === undefined ? DEFAULT_TOKEN_TTL_SECONDS : /^[0-9]{1,15}$/.test(flags.ttl) ? Number(flags.ttl) : Number.NaN;
  const models = split(flags.model);
  const options = {
    scopes: split(flags.scope),
    ...(models.length > 0 ? { models } : {}),
    subject: flags.subject ?? 'local-dev',
    ttlSeconds: ttl,
    now: (io.now ?? Date.now)(),
  };
  try {
    if (args.length > 0) throw new Error('"token" takes no arguments, only --scope, --model, --subject, --ttl and --data-dir.');
    const foreign = API_FLAGS.filter((name) => flags[name] !== undefined);
    if (foreign.length > 0) throw new Error(`"token" does not take ${foreign.map((f) => `--${f}`).join(', ')}.`);
    checkMintOptions(options);
  } catch (error) {
    io.err(`${error instanceof Error ? error.message : String(error)}\n\n${usageOf('token')}`);
    return 2;
  }
  const file = signingKeyPath(path.resolve(flags['data-dir'] ?? io.env['DATA_DIR'] ?? '.data'));
  let key;
  try {
    key = await readSigningKey(file, io.readFile);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    io.err(missing
      ? `modelctl: no local signing key at ${file}. Start the local API once (npm start) to create it, or point --data-dir at its data folder.\n`
      : `modelctl: cannot read the signing key at ${file}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  io.out(`${await mintToken(key, options)}\n`);
  return 0;
}

interface Flags {
  readonly metadata?: string;
  readonly production?: boolean;
  readonly upload?: boolean;
  readonly reason?: string;
  readonly features?: string;
  readonly instances?: string;
  readonly body?: string;
  readonly canary?: string;
  readonly managed?: string;
  readonly percent?: string;
  readonly interval?: string;
  readonly minutes?: string;
  readonly since?: string;
  readonly limit?: string;
  readonly follow?: boolean;
  readonly poll?: string;
  readonly json?: boolean;
  readonly 'expect-canary'?: string;
  readonly 'expect-percent'?: string;
}

/** The options of the commands that call the API, which `token` refuses. */
const API_FLAGS = ['metadata', 'production', 'upload', 'reason', 'features', 'instances', 'body', 'canary', 'managed', 'percent', 'interval', 'minutes', 'since', 'limit', 'follow', 'poll', 'json', 'expect-canary', 'expect-percent'] as const;

/** `--expect-canary FV [--expect-percent P]` as the body's `expectedCanary`, or nothing. */
function expectedCanary(flags: Flags): Record<string, unknown> {
  const version = flags['expect-canary'];
  const percent = flags['expect-percent'];
  if (version === undefined) {
    if (percent !== undefined) throw new UsageError('--expect-percent goes with --expect-canary.');
    return {};
  }
  return { expectedCanary: { functionVersion: version, ...(percent === undefined ? {} : { percent: numberArg(percent, '--expect-percent') }) } };
}

/** What `run` returns when the command printed its own output. */
const PRINTED = Symbol('printed');

/** A number argument, or a usage error that names it. */
function numberArg(value: string, name: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) throw new UsageError(`${name} must be a number, not "${value}".`);
  return number;
}

function promoteBody(flags: Flags): Record<string, unknown> {
  const reason = flags.reason === undefined ? {} : { reason: flags.reason };
  if (flags.managed !== undefined) {
    if (flags.canary !== undefined) throw new UsageError('"promote" takes either --canary or --managed, not both.');
    if (flags.managed !== 'canary' && flags.managed !== 'linear') throw new UsageError('--managed is "canary" or "linear".');
    if (flags.percent === undefined || flags.interval === undefined) throw new UsageError('--managed needs --percent N and --interval MINUTES.');
    return { managed: { kind: flags.managed, percent: numberArg(flags.percent, '--percent'), intervalMinutes: numberArg(flags.interval, '--interval') }, ...reason };
  }
  if (flags.percent !== undefined || flags.interval !== undefined) throw new UsageError('--percent and --interval go with --managed.');
  return { ...(flags.canary === undefined ? {} : { canary: numberArg(flags.canary, '--canary') }), ...reason };
}

async function run(command: string, args: readonly string[], flags: Flags, api: Api, io: CliIo): Promise<unknown> {
  if (command !== 'logs' && (flags.since !== undefined || flags.limit !== undefined || flags.follow || flags.poll !== undefined)) {
    throw new UsageError('--since, --limit, --follow and --poll go with "logs".');
  }
  if (command !== 'stats' && flags.minutes !== undefined) throw new UsageError('--minutes goes with "stats".');
  if (flags.json && command !== 'stats' && command !== 'logs') throw new UsageError('--json goes with "stats" and "logs" (the other commands print JSON anyway).');
  if (!['shift', 'rollback', 'finalize'].includes(command) && (flags['expect-canary'] !== undefined || flags['expect-percent'] !== undefined)) {
    throw new UsageError('--expect-canary and --expect-percent go with "shift", "rollback" and "finalize".');
  }
  const need = (count: number, names: string): string[] => {
    if (args.length !== count) throw new UsageError(`"${command}" takes ${names}.`);
    return args.map((a) => encodeURIComponent(a));
  };
  switch (command) {
    case 'models':
      need(0, 'no arguments');
      return api.call('GET', '/v1/models');
    case 'versions': {
      const [model] = need(1, '<model>');
      return api.call('GET', `/v1/models/${model}/versions`);
    }
    case 'register': {
      const [model] = need(2, '<model> <file.onnx>');
      const file = args[1] as string;
      const metadata = flags.metadata ? parseJson(await io.readFile(flags.metadata), flags.metadata) : undefined;
      const opened = await openFile(io, file);
      const source = flags.upload || opened.size > UPLOAD_THRESHOLD_BYTES
        ? { uploadId: await upload(api, io, model as string, file, opened) }
        : { modelBase64: Buffer.from(await io.readFile(file)).toString('base64') };
      const version = (await api.call('POST', `/v1/models/${model}/versions`, {
        ...source,
        ...(metadata === undefined ? {} : { metadata }),
      })) as { version: string };
      if (!flags.production) return version;
      await api.call('POST', `/v1/models/${model}/versions/${version.version}/stage`, { to: 'staging', reason: 'modelctl register --production' });
      const record = await api.call('PUT', `/v1/models/${model}/production`, { version: version.version, reason: 'modelctl register --production' });
      return { version, model: record };
    }
    case 'stage': {
      const [model, version, to] = need(3, '<model> <version> <development|staging|production|archived>');
      return api.call('POST', `/v1/models/${model}/versions/${version}/stage`, { to: decodeURIComponent(to as string), ...(flags.reason ? { reason: flags.reason } : {}) });
    }
    case 'history': {
      const [model] = need(1, '<model>');
      return api.call('GET', `/v1/models/${model}/history`);
    }
    case 'set-production': {
      const [model] = need(2, '<model> <version>');
      return api.call('PUT', `/v1/models/${model}/production`, { version: args[1] });
    }
    case 'promote': {
      const [model, version] = need(2, '<model> <version>');
      return api.call('POST', `/v1/models/${model}/versions/${version}/promote`, promoteBody(flags));
    }
    case 'shift': {
      const [model] = need(2, '<model> <percent>');
      return api.call('POST', `/v1/models/${model}/deployment/shift`, { percent: numberArg(args[1] as string, '<percent>'), ...expectedCanary(flags) });
    }
    case 'rollback':
    case 'finalize': {
      const [model] = need(1, '<model>');
      return api.call('POST', `/v1/models/${model}/deployment/${command}`, { ...(flags.reason === undefined ? {} : { reason: flags.reason }), ...expectedCanary(flags) });
    }
    case 'deployment': {
      const [model] = need(1, '<model>');
      return api.call('GET', `/v1/models/${model}/deployment`);
    }
    case 'stats': {
      const [model] = need(1, '<model>');
      const query = flags.minutes === undefined ? '' : `?${new URLSearchParams({ minutes: flags.minutes })}`;
      const stats = (await api.call('GET', `/v1/models/${model}/stats${query}`)) as StatsReply;
      if (flags.json) return stats;
      io.out(statsTable(stats));
      return PRINTED;
    }
    case 'logs': {
      const [model] = need(1, '<model>');
      await logs(model as string, flags, api, io);
      return PRINTED;
    }
    case 'predict': {
      const [model] = need(1, '<model>');
      const given = [flags.features, flags.instances, flags.body].filter((v) => v !== undefined).length;
      if (given !== 1) throw new UsageError('"predict" takes exactly one of --features, --instances or --body.');
      let body: unknown;
      if (flags.features !== undefined) body = { features: parseJson(flags.features, '--features') };
      else if (flags.instances !== undefined) body = { instances: parseJson(flags.instances, '--instances') };
      else body = parseJson(await io.readFile(flags.body as string), flags.body as string);
      return api.call('POST', `/v1/models/${model}/predict`, body);
    }
    case 'infer': {
      const [model] = need(1, '<model>');
      if (flags.body === undefined) throw new UsageError('"infer" takes --body FILE with a v2 inference request.');
      return api.call('POST', `/v2/models/${model}/infer`, parseJson(await io.readFile(flags.body), flags.body));
    }
    default:
      throw new UsageError(`Unknown command "${command}".`);
  }
}

/** `GET /v1/models/{m}/stats` as the API answers it (the control plane's own type). */
type StatsReply = ModelStats;

/**
 * `modelctl stats` as a table, one row per served version:
 *
 *     iris, last 60 min: UNHEALTHY (thresholds: error rate above 5%, mean latency above 1000 ms)
 *     FUNCTION  MODEL  ROLE    PERCENT  INVOCATIONS  4XX  5XX  ERROR RATE  P50 MS  P99 MS  MEAN MS  HEALTH
 *     $LATEST   1      stable  90       180          0    0    0%          1.2     3.4     1.4      healthy
 *     3         2      canary  10       20           0    4    20%         1.3     3.1     1.5      UNHEALTHY: error rate 20% (4 of 20 invocations answered 5xx) is above 5%
 */
export function statsTable(stats: StatsReply): string {
  const ms = (value: number | undefined) => (value === undefined ? '-' : value.toFixed(1));
  const header = ['FUNCTION', 'MODEL', 'ROLE', 'PERCENT', 'INVOCATIONS', '4XX', '5XX', 'ERROR RATE', 'P50 MS', 'P99 MS', 'MEAN MS', 'HEALTH'];
  const rows = stats.versions.map((v) => [
    v.functionVersion,
    `${v.modelVersion ?? '-'}${v.modelVersion !== null && v.modelVersion === stats.productionVersion ? ' (production)' : ''}`,
    v.role,
    String(v.percent),
    String(v.invocations),
    String(v.clientErrors),
    String(v.serverErrors),
    v.errorRate === null ? '-' : `${Math.round(v.errorRate * 10_000) / 100}%`,
    ms(v.latencyMs?.p50),
    ms(v.latencyMs?.p99),
    ms(v.latencyMs?.mean),
    v.healthy ? (v.evidence === 'none' ? 'healthy (no traffic)' : 'healthy') : `UNHEALTHY: ${v.reasons.join('; ')}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  const { maxErrorRate, maxMeanLatencyMs } = stats.thresholds;
  const title = `${stats.model}, last ${stats.windowMinutes} min: ${stats.healthy ? 'healthy' : 'UNHEALTHY'} (thresholds: error rate above ${Math.round(maxErrorRate * 10_000) / 100}%, mean latency above ${maxMeanLatencyMs} ms)`;
  return `${[title, line(header), ...rows.map(line)].join('\n')}\n`;
}

interface LogRecord {
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

/** Characters of a record's outputs shown on its line. */
const OUTPUT_EXCERPT_CHARS = 80;
/**
 * `--follow` reads again from this long before the newest record it printed: the prediction log
 * is written in the background, so a record can land a little after a later one was read.
 * Records already printed are skipped by request id.
 */
const FOLLOW_OVERLAP_MS = 5_000;

/** One prediction-log record as a line: when, which request, what served it, for whom, what it answered. */
export function logLine(record: LogRecord): string {
  const clean = (text: string) => text.replace(/[\u0000-\u001f\u007f]/g, '?');
  const outputs = record.outputs.length > OUTPUT_EXCERPT_CHARS || record.truncated ? `${record.outputs.slice(0, OUTPUT_EXCERPT_CHARS)}…` : record.outputs;
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
async function logs(model: string, flags: Flags, api: Api, io: CliIo): Promise<void> {
  const pollMs = flags.poll === undefined ? 2_000 : numberArg(flags.poll, '--poll') * 1_000;
  if (!(pollMs > 0)) throw new UsageError('--poll is a number of seconds above 0.');
  if (flags.poll !== undefined && !flags.follow) throw new UsageError('--poll goes with --follow.');
  const path = (query: Record<string, string | undefined>) => {
    const params = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined));
    const text = params.toString();
    return `/v1/models/${encodeURIComponent(model)}/predictions${text ? `?${text}` : ''}`;
  };
  if (!flags.follow) {
    const page = (await api.call('GET', path({ since: flags.since, limit: flags.limit }))) as LogsReply;
    if (flags.json) {
      io.out(`${JSON.stringify(page, null, 2)}\n`);
      return;
    }
    for (const record of page.records) io.out(`${logLine(record)}\n`);
    if (page.nextCursor) io.err(`(more records follow: raise --limit, narrow --since, or --follow)\n`);
    return;
  }
  const printed = new Map<string, string>(); // request id → timestamp, for the overlap
  let since = flags.since;
  let cursor: string | undefined;
  let newest: string | undefined;
  let unreachable = false;
  while (!io.signal?.aborted) {
    let page: LogsReply;
    try {
      page = (await api.call('GET', path({ since, limit: flags.limit, cursor }))) as LogsReply;
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
      io.out(flags.json ? `${JSON.stringify(record)}\n` : `${logLine(record)}\n`);
    }
    // The next poll reads from the newest record printed less the overlap (else from where this
    // listing started); what was printed before that can be forgotten.
    const from = newest === undefined ? page.since : new Date(Math.max(Date.parse(newest) - FOLLOW_OVERLAP_MS, Date.parse(page.since))).toISOString();
    for (const [requestId, timestamp] of printed) if (timestamp < from) printed.delete(requestId);
    if (page.nextCursor) {
      cursor = page.nextCursor;
      continue;
    }
    cursor = undefined;
    since = from;
    await pause(pollMs, io.signal);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

interface OpenedFile {
  readonly size: number;
  stream(): AsyncIterable<Uint8Array>;
}

async function openFile(io: CliIo, file: string): Promise<OpenedFile> {
  if (io.openFile) return io.openFile(file);
  const bytes = await io.readFile(file);
  return { size: bytes.byteLength, stream: async function* () { yield bytes; } };
}

interface UploadTicket {
  readonly uploadId: string;
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly maxBytes: number;
}

/** Asks for a presigned upload and streams the file to it, drawing progress on stderr. */
async function upload(api: Api, io: CliIo, model: string, file: string, opened: OpenedFile): Promise<string> {
  const ticket = (await api.call('POST', `/v1/models/${model}/uploads`, {})) as UploadTicket;
  if (opened.size > ticket.maxBytes) {
    throw new ApiError(`${file} is ${opened.size} bytes; the API registers files of at most ${ticket.maxBytes} bytes.`);
  }
  const progress = new Progress(io, path.basename(file), opened.size);
  const chunks = opened.stream()[Symbol.asyncIterator]();
  let sent = 0;
  progress.update(0);
  // Pulled one chunk at a time as the connection takes them, so the count follows the upload
  // (give or take the socket's buffer) and the file is never held whole in memory.
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) {
        controller.close();
        return;
      }
      sent += next.value.byteLength;
      controller.enqueue(next.value);
      progress.update(sent);
    },
  });
  let response: Response;
  try {
    response = await io.fetch(ticket.url, {
      method: ticket.method,
      // S3 takes no chunked uploads: the length goes first, the bytes stream behind it.
      headers: { ...ticket.headers, 'content-length': String(opened.size) },
      body,
      duplex: 'half',
    } as RequestInit);
  } catch (error) {
    progress.abort();
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new ApiError(`Cannot upload to ${new URL(ticket.url).origin}${cause}.`);
  }
  if (!response.ok) {
    progress.abort();
    const text = await response.text();
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? 'ERROR';
    const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? text.slice(0, 200);
    throw new ApiError(`The upload was refused: ${response.status} ${code}: ${message}`);
  }
  await response.arrayBuffer();
  return ticket.uploadId;
}

const BAR_WIDTH = 30;

/**
 * Upload progress on stderr: on a terminal one bar redrawn in place
 * (`model.onnx [#######.......] 25%  1.2 MB / 4.8 MB`); otherwise (logs, CI) one line per quarter.
 */
export class Progress {
  private lastQuarter = -1;
  private lastDrawn = -1;
  private finished = false;

  constructor(
    private readonly io: Pick<CliIo, 'err' | 'errIsTTY'>,
    private readonly name: string,
    private readonly total: number,
  ) {}

  update(sent: number): void {
    if (this.finished) return;
    const percent = this.total === 0 ? 100 : Math.floor((sent / this.total) * 100);
    const bytes = `${formatBytes(sent)} / ${formatBytes(this.total)}`;
    if (this.io.errIsTTY) {
      if (percent === this.lastDrawn) return;
      this.lastDrawn = percent;
      const filled = Math.round((percent / 100) * BAR_WIDTH);
      this.io.err(`\r${this.name} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${String(percent).padStart(3)}%  ${bytes}`);
    } else {
      const quarter = Math.floor(percent / 25);
      if (quarter <= this.lastQuarter || quarter === 0) return;
      this.lastQuarter = quarter;
      this.io.err(`Uploading ${this.name}: ${quarter * 25}% (${sent} of ${this.total} bytes)\n`);
    }
    if (percent >= 100) this.done();
  }

  /** Ends the bar's line so that an error message starts on a line of its own. */
  abort(): void {
    this.done();
  }

  private done(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.io.errIsTTY && this.lastDrawn >= 0) this.io.err('\n');
  }
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function parseJson(text: string | Buffer, where: string): unknown {
  try {
    return JSON.parse(text.toString());
  } catch (error) {
    throw new UsageError(`${where} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

class ApiError extends Error {}

/** The API could not be reached at all (no answer, refused connection). */
class UnreachableError extends ApiError {}

class Api {
  constructor(
    private readonly base: string,
    private readonly token: string | undefined,
    private readonly fetchFn: typeof fetch,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = `${this.base.replace(/\/+$/, '')}${path}`;
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      throw new UnreachableError(`Cannot reach ${url}${cause}. Is the API running (npm start), and is --api right?`);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(`${method} ${url} answered ${response.status} with a body that is not JSON.`);
    }
    if (!response.ok) {
      const reply = json as { error?: { code?: string; message?: string; path?: string }; requestId?: string } | undefined;
      const error = reply?.error;
      const where = error?.path ? ` (at ${error.path})` : '';
      // A 5xx is logged on the server under its request id: say which, so it can be found.
      const id = response.status >= 500 && reply?.requestId ? ` [request id ${reply.requestId}]` : '';
      throw new ApiError(`${response.status} ${error?.code ?? 'ERROR'}: ${error?.message ?? text}${where}${id}`);
    }
    return json;
  }
}
