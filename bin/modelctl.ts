/**
 * `modelctl`: the command line for the model registry and predictions, against the local API
 * (`npm start`) or a deployed one. It speaks the public HTTP API only.
 *
 * @example
 * modelctl register iris models/iris/model.onnx --metadata models/iris/metadata.json --production
 * modelctl predict iris --features '{"sepal_length_cm":5.1,"sepal_width_cm":3.5,"petal_length_cm":1.4,"petal_width_cm":0.2}'
 * modelctl batch run iris data/iris.csv
 * modelctl infer segmenter --input image=image.npy --output-dir out/
 * modelctl experiment start iris --variant control=1:50 --variant treatment=2:50 --key-header x-user-id
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { MAX_MODELS_PER_TOKEN, SCOPES } from '../functions/auth/permissions.js';
import { BATCH_FORMATS, FINAL_STATES, JOB_STATES, type BatchFormat, type BatchJob } from '../functions/core/batch-contract.js';
import { formatOfKey } from '../functions/core/batch-jobs.js';
import { NpyError, readNpy, writeNpy } from '../functions/core/codec/npy.js';
import { LAMBDA_SYNC_PAYLOAD_BYTES, base64Length } from '../functions/core/codec/payload-limits.js';
import {
  TensorBytesError,
  checkRawTensor,
  elementCount,
  isWireDatatype,
  jsonToRaw,
  nestedToFlat,
  rawToJson,
  type RawTensor,
  type WireDatatype,
} from '../functions/core/codec/tensor-bytes.js';
import type { ModelStats } from '../functions/core/stats.js';
import type { CaptureStatus } from '../functions/core/registry.js';
import { DEFAULT_MAX_RECORD_BYTES, MAX_RECORD_BYTES, MIN_RECORD_BYTES, MIN_SAMPLE_PERCENT } from '../functions/core/capture.js';
import type { StoredDriftReport } from '../functions/core/drift/service.js';
import type { ReplayReport } from '../functions/core/replay/compare.js';
import { DEFAULT_MINIMUM_SAMPLE, DEFAULT_SIGNIFICANCE_LEVEL, type RecordedOutcome } from '../functions/core/experiments/experiment.js';
import type { ExperimentAnalysis } from '../functions/core/experiments/analysis.js';
import type { ExperimentView } from '../functions/core/experiments/service.js';
import type { PromoteResult } from '../functions/core/release.js';
import { MIN_SHADOW_PERCENT } from '../functions/core/shadow/shadow.js';
import type { ShadowStatus } from '../functions/core/shadow/service.js';
import type { LatencySummary } from '../functions/core/shadow/report.js';
import { AppError } from '../functions/core/errors.js';
import {
  MAX_CATEGORIES,
  MAX_SAMPLE,
  profileCsvStream,
  type FeatureProfile,
  type ReferenceProfile,
} from '../functions/core/drift/profile.js';
import type { ModelMetadata } from '../functions/core/model.js';
import type { Served } from '../functions/core/predict.js';
import { MAX_SUBJECT_LENGTH } from '../functions/auth/claims.js';
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  LOCAL_MAX_TOKEN_LIFETIME_SECONDS,
  checkMintOptions,
  mintToken,
  readSigningKey,
  signingKeyPath,
} from '../local/auth.js';

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

/** Exit code of `modelctl drift` when the report says a column drifted. */
export const DRIFTED_EXIT_CODE = 3;
/**
 * Exit code of `modelctl drift` when the report judged nothing (`judged: false`: no column had
 * enough live rows), so that a script does not read "no drift" into a window with no evidence.
 */
export const NOT_JUDGED_EXIT_CODE = 4;

const COMMANDS: readonly CommandHelp[] = [
  { name: 'models', synopsis: 'models', description: ['list registered models'] },
  { name: 'versions', synopsis: 'versions <model>', description: ["list a model's versions"] },
  {
    name: 'register',
    synopsis: 'register <model> <file.onnx> [--metadata meta.json] [--profile profile.json] [--production] [--upload]',
    description: [
      'upload and register a new version',
      '(--production: through staging to production;',
      'files over 1 MB, or any with --upload, go straight',
      'to S3 through a presigned URL, with a progress bar)',
    ],
  },
  {
    name: 'stage',
    synopsis: 'stage <model> <version> <stage> [--reason TEXT]',
    description: ['move a version: development -> staging -> production,', 'or to archived from any stage'],
  },
  { name: 'set-production', synopsis: 'set-production <model> <version>', description: ['promote a staging version to production'] },
  { name: 'history', synopsis: 'history <model>', description: ["the model's stage changes"] },
  {
    name: 'promote',
    synopsis: 'promote <model> <version> [--canary PERCENT | --managed canary|linear --percent N --interval MINUTES] [--reason TEXT]',
    description: ['release a staging version on alias "live": a manual', 'canary, a managed release, or (neither) all the traffic'],
  },
  {
    name: 'shift',
    synopsis: 'shift <model> <percent> [--expect-canary FV [--expect-percent P]]',
    description: [
      'give the canary this share of the traffic; with',
      '--expect-canary (and --expect-percent), only if the',
      'canary is still function version FV (at P percent), as',
      '"deployment" showed it (else 409 ALIAS_CHANGED)',
    ],
  },
  {
    name: 'rollback',
    synopsis: 'rollback <model> [--reason TEXT] [--expect-canary FV [--expect-percent P]]',
    description: ['all the traffic back to the stable version'],
  },
  {
    name: 'finalize',
    synopsis: 'finalize <model> [--reason TEXT] [--expect-canary FV [--expect-percent P]]',
    description: ['the canary becomes stable and the production version'],
  },
  { name: 'deployment', synopsis: 'deployment <model>', description: ['the alias: versions, model versions, weights, metrics'] },
  {
    name: 'stats',
    synopsis: 'stats <model> [--minutes N] [--json]',
    description: [
      'per served version over the last N minutes (default',
      '60, at most 1440): percent, invocations, 4xx, 5xx,',
      'error rate, p50/p99/mean latency, healthy or why not',
    ],
  },
  {
    name: 'logs',
    synopsis: 'logs <model> [--since 10m] [--limit N] [--follow [--poll SECONDS]] [--json]',
    description: [
      "the model's prediction log, oldest first, one line",
      'per request; --since takes an ISO-8601 time or',
      '90s/10m/2h/1d (default 1h), --limit 1-1000 (default',
      '100); --follow keeps polling (every 2 s, or --poll)',
      "until Ctrl+C; --json prints the API's JSON (with",
      '--follow, one record per line)',
    ],
  },
  {
    name: 'predict',
    synopsis: 'predict <model> (--features JSON | --instances JSON | --body FILE)',
    description: ['call POST /v1/models/<model>/predict'],
  },
  {
    name: 'infer',
    synopsis: 'infer <model> (--input NAME=FILE.npy ... | --body FILE) [--version N] [--output-dir DIR] [--json]',
    description: [
      'call POST /v2/models/<model>/infer (Open Inference',
      'Protocol v2; --version: /versions/N/infer). --input,',
      'once per input: a NumPy .npy file, or @FILE.json or',
      'an inline JSON array (typed as the model declares),',
      'sent as binary tensors; inputs too large for Lambda',
      'go first by reference (a presigned upload). Prints',
      "each output's datatype, shape and first values;",
      '--output-dir: also writes DIR/<output>.npy; --json:',
      'the answer as JSON. --body: a JSON v2 request, as is',
    ],
  },
  {
    name: 'batch',
    synopsis: 'batch <submit|run|status|wait|cancel|list> ...',
    description: [
      'batch jobs: predict every row of CSV, JSON Lines',
      'or Parquet files in S3, or of a local file',
      '("batch run"); modelctl batch --help lists them',
    ],
  },
  {
    name: 'profile',
    synopsis:
      'profile <train.csv> [--features a,b,c] [--model model.onnx [--metadata meta.json]] [--out profile.json] [--upload MODEL@VERSION]',
    description: [
      "a reference profile of a model's training data, for",
      'drift detection: per feature (every column, or those',
      'of --features), numeric or categorical, rows, missing',
      '(empty, NA, NaN); numeric: min, max, mean, std, the',
      `deciles, their 10 bins' shares, ${MAX_SAMPLE} values at most;`,
      `categorical: counts of the ${MAX_CATEGORIES} most frequent categories`,
      '(the rest as __other__). --model: also runs the model',
      '(ONNX Runtime, locally) on every row and profiles its',
      'predictions (label and one probability per class for',
      'a classifier, else each output); its features and',
      'class labels come from --metadata, else from the',
      'version --upload names; the features profiled then',
      'default to the columns the model reads (to those the',
      'version reads with --upload). --out: writes the JSON',
      'there and prints a summary; --upload: PUTs the',
      'profile to that version (scopes models:read and',
      'models:write); with neither, prints the JSON, the',
      'summary on stderr',
    ],
  },
  {
    name: 'capture',
    synopsis: 'capture <model> [--sample PERCENT [--drop a,b] [--hash c,d] [--max-record-bytes N] | --off] [--json]',
    description: [
      "the model's data capture: alone, shows it; --sample:",
      'captures that percent of requests (0-100], inputs and',
      'outputs, to S3 (settings replaced whole: --drop and',
      '--hash name features left out or hashed, --max-record-',
      `bytes bounds a record, ${MIN_RECORD_BYTES} to ${MAX_RECORD_BYTES}, default`,
      `${DEFAULT_MAX_RECORD_BYTES}); --off: stops.`,
      "--json: the API's JSON. Scope models:write to change",
    ],
  },
  {
    name: 'drift',
    synopsis: 'drift <model> [--version V] [--run [--minutes N]] [--json]',
    description: [
      "the model's newest drift report: a row per feature and",
      'prediction column, worst first (PSI, KS or chi-squared',
      'test, p-value, severity), with the thresholds; of',
      'version V (default production, else any version);',
      '--run: runs one now over the last N minutes (default',
      '1440) of captured traffic of version V (default',
      "production); --json: the API's JSON. Exit 0: no column",
      `drifted; ${DRIFTED_EXIT_CODE}: a column drifted; ${NOT_JUDGED_EXIT_CODE}: not judged (too few`,
      'captured rows); 1: the API refused. Scope models:read',
      '(models:write with --run)',
    ],
  },
  {
    name: 'replay',
    synopsis:
      'replay <model> --version V --since 1h|ISO [--until ISO] [--source-versions 1,2] [--max-requests N] [--rows-per-batch N] [--max-concurrency N] [--wait [--interval SECONDS] [--timeout SECONDS]] [--json]',
    description: [
      "re-run the model's captured requests of a window",
      'against version V (a batch job) and report agreement:',
      'the share of identical labels, the largest and mean',
      'absolute difference per output, the requests that',
      'differ most, and the requests that could not be',
      'replayed, by reason. --since: 90s, 30m, 1h, 2d back',
      'from now, or an ISO-8601 time with its zone; --until:',
      'default now; --source-versions: default every version',
      'captured in the window; --max-requests: the newest N',
      '(default and at most 100000). --wait: waits as "batch',
      'wait" does, then prints the report (without it, the',
      'report is in "batch status <model> <job> --json" once',
      "the job has ended); --json: the API's JSON. Scope",
      'batch:submit (and batch:read or models:read to wait)',
    ],
  },
  {
    name: 'experiment',
    synopsis: 'experiment <start|status|stop|promote-winner|outcome> ...',
    description: [
      'A/B experiments: versions serve units (users,',
      'sessions) on live traffic, compared on the outcomes',
      'recorded; modelctl experiment --help lists them',
    ],
  },
  {
    name: 'shadow',
    synopsis: 'shadow <start|status|stop> ...',
    description: [
      'shadow tests: a version also runs on live requests',
      'after the answer, compared with it; modelctl shadow',
      '--help lists them',
    ],
  },
  {
    name: 'token',
    synopsis: 'token --scope SCOPE [--model NAME] [--subject NAME] [--ttl SECONDS] [--data-dir DIR]',
    api: false,
    description: [
      'print a token for the local API (npm start), signed',
      "with the data folder's key. --scope and --model repeat",
      'or take comma-separated lists; --model limits every',
      `scope to those models (at most ${MAX_MODELS_PER_TOKEN}). Scopes: <scope> or`,
      '<scope>:<model>, <scope> one of',
      `${SCOPES.slice(0, 4).join(', ')},`,
      `${SCOPES.slice(4).join(', ')}.`,
      `--subject: 1 to ${MAX_SUBJECT_LENGTH} characters (default local-dev);`,
      `--ttl: 1 to ${LOCAL_MAX_TOKEN_LIFETIME_SECONDS} whole seconds (7 days, the longest the`,
      `local API accepts; default ${DEFAULT_TOKEN_TTL_SECONDS}); --data-dir: default`,
      '$DATA_DIR or .data',
    ],
  },
];

/** Seconds between two reads of a job while waiting for it (`--interval`). */
const DEFAULT_JOB_POLL_SECONDS = 2;

/** The `modelctl batch` commands. */
const BATCH_COMMANDS: readonly CommandHelp[] = [
  {
    name: 'submit',
    synopsis:
      'batch submit <model> --input s3://BUCKET/KEY --output s3://BUCKET/PREFIX/ [--format csv|jsonl|parquet] [--version N] [--rows-per-batch N] [--max-concurrency N] [--tolerate PERCENT] [--client-token T] [--wait [--interval SECONDS] [--timeout SECONDS]] [--json]',
    description: [
      'submit a job over an object, or every object under a',
      'prefix ending in "/"; its files go to <output><job id>/.',
      '--format: default from the extension (.csv, .jsonl,',
      '.ndjson, .parquet); --version: default the production',
      'version; --rows-per-batch: rows per prediction call',
      '(default 500); --max-concurrency: batches at once',
      '(default 10); --tolerate: percent of the rows that may',
      'fail with the job still SUCCEEDED (default 0);',
      '--client-token: a retry with the same token gets the',
      'same job; --wait: then wait as "batch wait" does;',
      "--json: the API's JSON. Scope batch:submit",
    ],
  },
  {
    name: 'run',
    synopsis:
      'batch run <model> <file> [--format csv|jsonl|parquet] [--output-dir DIR] [--output s3://BUCKET/PREFIX/] [--version N] [--rows-per-batch N] [--max-concurrency N] [--tolerate PERCENT] [--client-token T] [--interval SECONDS] [--timeout SECONDS]',
    description: [
      'a local file end to end: upload it (progress bar) to',
      "the model's first batch input location, as",
      '<location>uploads/<id>/<file>; submit it with the',
      'output in the same location, <location>results/ (or',
      '--output, which must be an allowed output location);',
      'wait as "batch wait" does; then download the',
      "job's predictions.jsonl, errors.jsonl and",
      'manifest.json as <file>.predictions.jsonl,',
      '<file>.errors.jsonl and <file>.manifest.json (with',
      '--output-dir: DIR/predictions.jsonl, ...). Exit codes',
      'as "batch wait". Scopes batch:submit and batch:read',
      '(or models:read)',
    ],
  },
  {
    name: 'status',
    synopsis: 'batch status <model> <job> [--json]',
    description: [
      'the job: state, rows read of rows, predicted, failed,',
      'when, where its input and files are, why it failed;',
      "--json: the API's JSON, with download links once the",
      'job has ended. Scope batch:read (or models:read)',
    ],
  },
  {
    name: 'wait',
    synopsis: 'batch wait <model> <job> [--interval SECONDS] [--timeout SECONDS]',
    description: [
      `read the job every ${DEFAULT_JOB_POLL_SECONDS} s (or --interval) until it`,
      'ends, with a progress bar on stderr; then print it.',
      'Exit 0: SUCCEEDED; 1: FAILED or CANCELLED (with the',
      'reason); 2: --timeout passed (the job keeps',
      'running). Scope batch:read (or models:read)',
    ],
  },
  {
    name: 'cancel',
    synopsis: 'batch cancel <model> <job> [--reason TEXT]',
    description: ['stop a job that has not ended; it ends CANCELLED', '(409 JOB_ALREADY_ENDED if it had). Scope batch:submit'],
  },
  {
    name: 'list',
    synopsis: 'batch list <model> [--state STATE] [--limit N] [--json]',
    description: [
      "the model's jobs, newest first; --state: one of",
      `${JOB_STATES.join(', ')};`,
      '--limit: 1 to 100 (default 20). Scope batch:read (or',
      'models:read)',
    ],
  },
];

/** The `modelctl experiment` commands. */
const EXPERIMENT_COMMANDS: readonly CommandHelp[] = [
  {
    name: 'start',
    synopsis:
      'experiment start <model> --variant NAME=VERSION:WEIGHT --variant ... [--key-header HEADER] [--metric conversion|value] [--goal maximize|minimize] [--alpha A] [--min-sample N] [--starts-at ISO] [--ends-at ISO] [--name TEXT] [--json]',
    description: [
      'start an experiment: each --variant is a version and',
      'its percent of the units (control=1:50; the first is',
      'the control, the weights sum to 100). A unit is the',
      "token's subject, or with --key-header the value of",
      'that request header (e.g. x-user-id; a request',
      'without it is served as if no experiment ran).',
      '--metric: conversion (0 or 1 per unit, the default)',
      'or value (a number per outcome); --goal: default',
      `maximize; --alpha: the test's level (default ${DEFAULT_SIGNIFICANCE_LEVEL});`,
      '--min-sample: observations every variant needs',
      `before a winner (default ${DEFAULT_MINIMUM_SAMPLE}); --starts-at, --ends-at:`,
      'ISO-8601 UTC (default now, and until stopped).',
      "Prints its id and state; --json: the API's JSON.",
      'Scope models:promote',
    ],
  },
  {
    name: 'status',
    synopsis: 'experiment status <model> [<experiment>] [--json]',
    description: [
      "without an experiment: the model's experiments,",
      'newest first (id, state, variants, created); with',
      'one: its analysis, a row per variant (version,',
      'weight, requests, units, outcomes, mean and its',
      'confidence interval, the difference to the control,',
      'p-value, significant), then the winner and why, or',
      "why there is none. --json: the API's JSON. Exit 0",
      'with a winner or without one. Scope models:read',
    ],
  },
  {
    name: 'stop',
    synopsis: 'experiment stop <model> <experiment> [--reason TEXT] [--json]',
    description: [
      "stop assigning requests (within the endpoints'",
      'pointer cache time); outcomes may still be',
      'recorded. Scope models:promote',
    ],
  },
  {
    name: 'promote-winner',
    synopsis:
      'experiment promote-winner <model> <experiment> [--canary PERCENT | --managed canary|linear --percent N --interval MINUTES] [--reason TEXT] [--json]',
    description: [
      'stop the experiment (if it still runs) and release',
      'its winner as "promote" does: a manual canary, a',
      'managed release, or (neither) all the traffic; no',
      'release when the winner is the production version.',
      'Without a winner: 409 NO_WINNER (exit 1), with why.',
      'Scope models:promote',
    ],
  },
  {
    name: 'outcome',
    synopsis: 'experiment outcome <model> <experiment> (--request-id ID | --key KEY [--outcome-id ID]) --value N [--json]',
    description: [
      'record an outcome for a request the experiment',
      'served (--request-id: its requestId) or for a unit',
      '(--key: its assignment key; --outcome-id names each',
      'further outcome of the unit). --value: 0 or 1 for a',
      'conversion, any number for a value. Recorded once:',
      'the same again is accepted (exit 0), another value',
      'is 409 OUTCOME_CONFLICT (exit 1). Scope',
      'experiments:outcomes',
    ],
  },
];

/** The `modelctl shadow` commands. */
const SHADOW_COMMANDS: readonly CommandHelp[] = [
  {
    name: 'start',
    synopsis: 'shadow start <model> --version N [--sample PERCENT] [--json]',
    description: [
      "run --sample percent of the model's requests (from",
      `${MIN_SHADOW_PERCENT} to 100, default 100) on version N too, after the`,
      'caller has its answer (which never waits for it or',
      'changes with it); both outputs are logged and',
      'compared. One at a time per model, and not during an',
      'experiment. Scope models:write',
    ],
  },
  {
    name: 'status',
    synopsis: 'shadow status <model> [--id shadow-...] [--json]',
    description: [
      'the running shadow test (else the newest; --id:',
      'that one) and its report: requests, compared, failed',
      'by code, label agreement, max and mean absolute',
      'difference per output, the quantiles and buckets of',
      "each request's largest difference, and the latency",
      "of both versions (p50, p99, mean); --json: the API's",
      'JSON. Scope models:read',
    ],
  },
  {
    name: 'stop',
    synopsis: 'shadow stop <model> [--json]',
    description: ['stop the running shadow test and print its report,', 'which stays. Scope models:write'],
  },
];

/** Where a description starts when the synopsis leaves room for it on the same line. */
const DESCRIPTION_COLUMN = 42;

function commandLines(command: CommandHelp): string {
  const [first = '', ...rest] = command.description;
  const indent = ' '.repeat(DESCRIPTION_COLUMN);
  const head = `  ${command.synopsis}`;
  const lines =
    head.length < DESCRIPTION_COLUMN - 1
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

Example: export MODELCTL_TOKEN=$(npm run -s modelctl -- token --scope predict,models:read,models:write,models:promote,batch:submit,batch:read)
`;

const BATCH_USAGE = `Usage: modelctl batch <command> <model> [arguments] [--api URL] [--token JWT]

A batch job predicts every row of CSV, JSON Lines or Parquet files in S3 with one model
version and writes predictions.jsonl (one line per predicted row, in input order),
errors.jsonl (the rows that could not be predicted, with why) and manifest.json.

Commands:
${BATCH_COMMANDS.map(commandLines).join('\n')}

${OPTIONS}

Example: modelctl batch run iris data/iris.csv

All commands: modelctl --help
`;

const EXPERIMENT_USAGE = `Usage: modelctl experiment <command> <model> [arguments] [--api URL] [--token JWT]

An experiment (an A/B test) serves each unit (a user, a session: the value of a request header,
or the token's subject) by the version of the variant it is assigned to, the same one every
time, and compares the variants on the outcomes recorded for them: a winner only once every
variant has the minimum sample and a difference is significant.

Commands:
${EXPERIMENT_COMMANDS.map(commandLines).join('\n')}

${OPTIONS}

Example: modelctl experiment start iris --variant control=1:50 --variant treatment=2:50 --key-header x-user-id

All commands: modelctl --help
`;

const SHADOW_USAGE = `Usage: modelctl shadow <command> <model> [arguments] [--api URL] [--token JWT]

A shadow test runs a share of a model's live requests on a candidate version too, after the
caller has the answer, and compares the two outputs: what would the candidate have said?

Commands:
${SHADOW_COMMANDS.map(commandLines).join('\n')}

${OPTIONS}

Example: modelctl shadow start iris --version 2 --sample 10

All commands: modelctl --help
`;

/** A command with commands of its own (`modelctl batch submit ...`): those, and its help. */
interface CommandGroup {
  readonly name: string;
  readonly commands: readonly CommandHelp[];
  readonly usage: string;
}

const BATCH_GROUP: CommandGroup = { name: 'batch', commands: BATCH_COMMANDS, usage: BATCH_USAGE };
const EXPERIMENT_GROUP: CommandGroup = { name: 'experiment', commands: EXPERIMENT_COMMANDS, usage: EXPERIMENT_USAGE };
const SHADOW_GROUP: CommandGroup = { name: 'shadow', commands: SHADOW_COMMANDS, usage: SHADOW_USAGE };
const GROUPS: readonly CommandGroup[] = [BATCH_GROUP, EXPERIMENT_GROUP, SHADOW_GROUP];

function groupOf(name: string | undefined): CommandGroup | undefined {
  return GROUPS.find((g) => g.name === name);
}

/**
 * `modelctl <command> --help`: that command only (`batch <command>`: that batch command only,
 * `batch` alone: the batch commands; `experiment` and `shadow` alike); the general help for
 * anything else.
 */
function usageOf(name: string | undefined, sub?: string): string {
  const group = groupOf(name);
  if (group) {
    const groupCommand = group.commands.find((c) => c.name === sub);
    return groupCommand ? commandUsage(groupCommand, `All ${group.name} commands: modelctl ${group.name} --help`) : group.usage;
  }
  const command = COMMANDS.find((c) => c.name === name);
  return command ? commandUsage(command, 'All commands: modelctl --help') : USAGE;
}

/**
 * After a mistake in a command of a group (`batch`, `experiment`, `shadow`): its synopsis and
 * where its help is (its whole help is long); the group's commands when the command is not one
 * of them.
 */
function usageHint(name: string | undefined, sub: string | undefined): string {
  const groupCommand = groupOf(name)?.commands.find((c) => c.name === sub);
  if (!groupCommand) return usageOf(name, sub);
  return `Usage: modelctl ${groupCommand.synopsis}\nHelp:  modelctl ${name} ${groupCommand.name} --help\n`;
}

function commandUsage(command: CommandHelp, more: string): string {
  const description = command.description.map((line) => `  ${line}`).join('\n');
  return `Usage: modelctl ${command.synopsis}${command.api === false ? '' : ' [--api URL] [--token JWT]'}\n\n${description}\n${command.api === false ? '' : `\n${OPTIONS}\n`}\n${more}\n`;
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
  /**
   * Ends `logs --follow` (the process aborts it on Ctrl+C; it then exits 0) and stops waiting
   * for a batch job (exit 2, as a timeout). @default never
   */
  readonly signal?: AbortSignal;
  /**
   * Writes a downloaded file (`batch run`'s results) from a stream of its bytes, creating its
   * folder. @default node:fs: into `<path>.part`, renamed to `path` once whole
   */
  readonly writeFile?: (path: string, chunks: AsyncIterable<Uint8Array>) => Promise<void>;
}

/** Files larger than this are registered through a presigned upload, not inline. */
export const UPLOAD_THRESHOLD_BYTES = 1024 * 1024;

class UsageError extends Error {}

/** Every option of every command (`parseArgs`); each command refuses the ones it does not take. */
const OPTION_TABLE = {
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
  input: { type: 'string', multiple: true },
  output: { type: 'string' },
  format: { type: 'string' },
  version: { type: 'string' },
  'rows-per-batch': { type: 'string' },
  'max-concurrency': { type: 'string' },
  tolerate: { type: 'string' },
  'client-token': { type: 'string' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  state: { type: 'string' },
  'output-dir': { type: 'string' },
  out: { type: 'string' },
  sample: { type: 'string' },
  drop: { type: 'string' },
  hash: { type: 'string' },
  'max-record-bytes': { type: 'string' },
  off: { type: 'boolean' },
  run: { type: 'boolean' },
  until: { type: 'string' },
  'source-versions': { type: 'string' },
  'max-requests': { type: 'string' },
  profile: { type: 'string' },
  variant: { type: 'string', multiple: true },
  'key-header': { type: 'string' },
  metric: { type: 'string' },
  goal: { type: 'string' },
  alpha: { type: 'string' },
  'min-sample': { type: 'string' },
  'starts-at': { type: 'string' },
  'ends-at': { type: 'string' },
  name: { type: 'string' },
  'request-id': { type: 'string' },
  key: { type: 'string' },
  'outcome-id': { type: 'string' },
  value: { type: 'string' },
  id: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `profile` reads `--upload MODEL@VERSION` and `--model FILE` as single values (`register
 * --upload` is a switch, `token --model` repeats).
 */
const PROFILE_OPTION_TABLE = { ...OPTION_TABLE, upload: { type: 'string' }, model: { type: 'string' } } as const;

/**
 * The command line parsed with the table of its command: `profile`'s own when the first word
 * is `profile` (whether or not the general table could read the line), else the general one.
 */
function parseCommandLine(argv: readonly string[]): { values: CommandFlags; positionals: string[] } {
  let general;
  let failure: unknown;
  try {
    general = parseArgs({ args: [...argv], allowPositionals: true, options: OPTION_TABLE });
  } catch (error) {
    failure = error;
  }
  const first = general ? general.positionals[0] : argv.find((a) => !a.startsWith('-'));
  if (first === 'profile') {
    const parsed = parseArgs({ args: [...argv], allowPositionals: true, options: PROFILE_OPTION_TABLE });
    // `profile` reads these as ProfileFlags (its --upload and --model are single strings).
    return { values: parsed.values as unknown as CommandFlags, positionals: parsed.positionals };
  }
  if (!general) throw failure;
  return { values: general.values, positionals: general.positionals };
}

/** What a command line's options may hold (`profile`'s: {@link ProfileFlags}). */
type CommandFlags = Flags & TokenFlags & { readonly api?: string; readonly token?: string; readonly help?: boolean };

/** Runs one command; resolves to the process exit code. */
export async function modelctl(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    // The command's own help when the first words name one (a guess: an option's value is a word too).
    const words = argv.filter((a) => !a.startsWith('-'));
    const [name, sub] = words[0] === 'help' ? words.slice(1) : words;
    io.err(`${error instanceof Error ? error.message : String(error)}\n\n${usageHint(name, sub)}`);
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
    const group = groupOf(command);
    const sub = group ? args[0] : undefined;
    if (group && sub !== undefined && !group.commands.some((c) => c.name === sub)) {
      io.err(`Unknown ${group.name} command "${sub.slice(0, 40)}".\n\n${group.usage}`);
      return 2;
    }
    (help ? io.out : io.err)(usageOf(command, sub));
    return help ? 0 : 2;
  }
  if (command === 'token') return token(args, values, io);
  if (command === 'profile') return profile(args, values as unknown as ProfileFlags, io);
  const api = new Api(values.api ?? io.env['MODELCTL_API'] ?? 'http://127.0.0.1:3000', values.token ?? io.env['MODELCTL_TOKEN'], io.fetch);
  try {
    const result = await run(command, args, values, api, io);
    if (result instanceof Exit) return result.code;
    if (result !== PRINTED) io.out(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${usageHint(command, args[0])}`);
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
  const split = (values: readonly string[] | undefined) =>
    (values ?? [])
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean);
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
    const foreign = [...API_FLAGS, 'out' as const].filter((name) => flags[name] !== undefined);
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
    io.err(
      missing
        ? `modelctl: no local signing key at ${file}. Start the local API once (npm start) to create it, or point --data-dir at its data folder.\n`
        : `modelctl: cannot read the signing key at ${file}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  }
  io.out(`${await mintToken(key, options)}\n`);
  return 0;
}

/** `profile`'s options: `--upload MODEL@VERSION` and `--model FILE` are single strings there. */
interface ProfileFlags extends Omit<Flags, 'upload'> {
  readonly upload?: string;
  readonly model?: string;
  readonly api?: string;
  readonly token?: string;
}

/** The options of the API commands that `profile` takes too. */
const PROFILE_FLAGS: readonly string[] = ['features', 'metadata', 'upload'];

/** The runtime opens `--model` from its bytes; no registered artifact is ever read. */
const NO_ARTIFACTS = {
  bucket: 'none',
  put: () => Promise.reject(new Error('modelctl profile reads no artifact store')),
  get: () => Promise.reject(new Error('modelctl profile reads no artifact store')),
};

/** `--upload MODEL@VERSION`, split. */
function uploadTarget(value: string): { model: string; version: string } {
  const at = value.lastIndexOf('@');
  if (at < 1 || at === value.length - 1) throw new Error(`--upload is MODEL@VERSION (e.g. iris@3), not ${shown(value)}.`);
  return { model: value.slice(0, at), version: value.slice(at + 1) };
}

/** Why a file of `profile` could not be used, as one line on stderr. */
function profileFailure(io: CliIo, file: string, error: unknown): number {
  const code = (error as NodeJS.ErrnoException).code;
  if (error instanceof ApiError) io.err(`${error.message}\n`);
  else if (error instanceof UsageError) io.err(`modelctl: ${error.message}\n`);
  else if (error instanceof AppError) io.err(`modelctl: ${file}: ${error.code}: ${error.message}\n`);
  else if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES')
    io.err(
      `modelctl: cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : 'permission denied'}.\n`,
    );
  else io.err(`modelctl: cannot profile ${file}: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}

/**
 * `modelctl profile`: the reference profile of a CSV file (`functions/core/drift/profile.ts`),
 * read as a stream. With `--model`, the model file also runs on every row and its predictions are
 * profiled (`profile-predictions.ts`); its features and class labels come from `--metadata`, else
 * from the version `--upload` names, else the model has none (rows are keyed by input name), and
 * the features profiled default to the columns the model reads. With `--upload MODEL@VERSION` the
 * profile is PUT to that version (after a GET of it, so a wrong target fails before the work).
 *
 * Output: with `--out` the JSON goes to that file (written whole or not at all); with `--out` or
 * `--upload`, a summary to stdout; with neither, the JSON to stdout and the summary to stderr, so
 * it can be piped. Exit 0; 1 when a file cannot be read or profiled, or the API refuses; 2 for a
 * usage mistake.
 */
async function profile(args: readonly string[], flags: ProfileFlags, io: CliIo): Promise<number> {
  let file: string;
  let features: string[] | undefined;
  let target: { model: string; version: string } | undefined;
  try {
    if (args.length !== 1 || args[0] === undefined) throw new Error('"profile" takes one file: the training data as CSV.');
    file = args[0];
    const foreign = API_FLAGS.filter((name) => !PROFILE_FLAGS.includes(name) && flags[name] !== undefined);
    if (foreign.length > 0) throw new Error(`"profile" does not take ${foreign.map((f) => `--${f}`).join(', ')}.`);
    features = flags.features?.split(',').map((name) => name.trim());
    if (flags.out === '') throw new Error('--out needs a file name.');
    if (flags.model === '') throw new Error('--model needs an ONNX file.');
    if (flags.metadata !== undefined && flags.model === undefined)
      throw new Error("--metadata goes with --model: the model's features and class labels.");
    target = flags.upload === undefined ? undefined : uploadTarget(flags.upload);
  } catch (error) {
    io.err(`${error instanceof Error ? error.message : String(error)}\n\n${usageOf('profile')}`);
    return 2;
  }
  const api = target
    ? new Api(flags.api ?? io.env['MODELCTL_API'] ?? 'http://127.0.0.1:3000', flags.token ?? io.env['MODELCTL_TOKEN'], io.fetch)
    : undefined;
  const versionPath = target ? `/v1/models/${encodeURIComponent(target.model)}/versions/${encodeURIComponent(target.version)}` : '';

  // The version to upload to first: a wrong target fails before any work.
  let registered: RegisteredVersion | undefined;
  if (api) {
    try {
      registered = (await api.call('GET', versionPath)) as RegisteredVersion;
    } catch (error) {
      return profileFailure(io, file, error);
    }
  }

  let opened: { readonly target: Served; release(): void } | undefined;
  if (flags.model !== undefined) {
    let where = flags.model;
    try {
      const bytes = await io.readFile(flags.model);
      let metadata: ModelMetadata = registered?.metadata ?? {};
      if (flags.metadata !== undefined) {
        where = flags.metadata;
        const { parseMetadata } = await import('../functions/core/registry.js');
        metadata = parseMetadata(parseJson(await io.readFile(flags.metadata), flags.metadata));
        // From here a refusal may be the file's or the metadata's (features that do not fit it).
        where = `${flags.model} with ${flags.metadata}`;
      }
      const [{ OnnxRuntime }, { openProfileTarget, modelColumns }] = await Promise.all([
        import('../functions/adapters/onnx-runtime.js'),
        import('../functions/core/drift/profile-predictions.js'),
      ]);
      opened = await openProfileTarget(new OnnxRuntime(NO_ARTIFACTS), bytes, metadata, target?.model);
      features ??= modelColumns(opened.target.layout).map((c) => c.name);
      const sha256 = opened.target.version.artifact.sha256;
      if (registered && target && sha256 !== registered.artifact.sha256) {
        io.err(
          `modelctl: warning: ${flags.model} is not the file registered as ${target.model} v${target.version} (sha256 ${sha256.slice(0, 12)}…, registered ${registered.artifact.sha256.slice(0, 12)}…): the predictions profiled are this file's.\n`,
        );
      }
    } catch (error) {
      return profileFailure(io, where, error);
    }
  }

  // Uploading: the columns the version reads, unless told (a CSV's other columns would be refused).
  if (registered && features === undefined) {
    const declared = registered.metadata.features ?? [];
    features = declared.length > 0 ? [...declared] : registered.signature.inputs.map((input) => input.name);
  }
  let result: ReferenceProfile;
  try {
    const data = await openFile(io, file);
    result = await profileCsvStream(data.stream(), features === undefined ? {} : { features });
    if (opened) {
      const { DEFAULT_PREDICTION_BATCH_ROWS, predictionProfileCsv } = await import('../functions/core/drift/profile-predictions.js');
      const predictions = await predictionProfileCsv(opened.target, data.stream(), DEFAULT_PREDICTION_BATCH_ROWS);
      if (Object.keys(predictions).length > 0) result = { ...result, predictions };
    }
  } catch (error) {
    return profileFailure(io, file, error);
  } finally {
    opened?.release();
  }

  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (flags.out === undefined && !api) {
    io.out(json);
    io.err(profileSummary(result, file, flags.model));
    return 0;
  }
  let done = profileSummary(result, file, flags.model);
  if (flags.out !== undefined) {
    const write = io.writeFile ?? writeWhole;
    try {
      await write(
        flags.out,
        (async function* () {
          yield Buffer.from(json);
        })(),
      );
    } catch (error) {
      io.err(`modelctl: cannot write ${flags.out}: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    done += `Wrote ${flags.out}.\n`;
  }
  if (api && target) {
    let stored: { rows: number; features: readonly string[]; predictions: readonly string[] };
    try {
      stored = (await api.call('PUT', `${versionPath}/profile`, result)) as typeof stored;
    } catch (error) {
      io.out(done);
      return profileFailure(io, file, error);
    }
    done += `Uploaded to ${target.model} v${target.version}: ${plural(stored.rows, 'row')}, ${plural(stored.features.length, 'feature')}, ${plural(stored.predictions.length, 'prediction column')}.\n`;
  }
  io.out(done);
  return 0;
}

/** What `profile --upload` reads of the version it uploads to. */
interface RegisteredVersion {
  readonly metadata: ModelMetadata;
  readonly signature: { readonly inputs: readonly { readonly name: string }[] };
  readonly artifact: { readonly sha256: string };
}

/** Longest feature name a profile summary shows whole. */
const SUMMARY_NAME_CHARS = 32;
/** Categories a profile summary shows per feature. */
const SUMMARY_CATEGORIES = 3;

/** A few significant digits of a statistic, for the summary only (the JSON keeps every digit). */
function statistic(value: number): string {
  return Number(value.toPrecision(4)).toString();
}

/**
 * `modelctl profile`'s summary: rows, then a line per feature; with predictions (`--model`,
 * named by `modelFile`), a line per prediction column.
 */
export function profileSummary(profile: ReferenceProfile, file: string, modelFile?: string): string {
  const entries = Object.entries(profile.features);
  const predictions = Object.entries(profile.predictions ?? {});
  const name = (text: string) => (text.length > SUMMARY_NAME_CHARS ? `${text.slice(0, SUMMARY_NAME_CHARS - 1)}…` : text);
  const width = Math.max(7, ...[...entries, ...predictions].map(([feature]) => name(feature).length));
  const line = ([feature, f]: [string, FeatureProfile]) => {
    const head = `${name(feature).padEnd(width)}  ${f.kind.padEnd(11)}  ${String(f.missing).padStart(7)}  `;
    if (f.kind === 'numeric') {
      return `${head}min ${statistic(f.min)}, median ${statistic(f.quantileEdges[4] as number)}, max ${statistic(f.max)}, mean ${statistic(f.mean)}, std ${statistic(f.std)}`;
    }
    const categories = Object.entries(f.categories);
    const shown = categories
      .slice(0, SUMMARY_CATEGORIES)
      .map(([category, count]) => `${JSON.stringify(category.slice(0, 24))} ${count}`)
      .join(', ');
    return `${head}${plural(categories.length, 'category', 'categories')}${categories.length > 0 ? `: ${shown}${categories.length > SUMMARY_CATEGORIES ? ', ...' : ''}` : ''}`;
  };
  const predictionLines =
    predictions.length === 0
      ? []
      : [`Predictions of ${modelFile ?? 'the model'} on those rows, ${plural(predictions.length, 'column')}:`, ...predictions.map(line)];
  return [
    `Profiled ${plural(profile.rows, 'row')} of ${file}, ${plural(entries.length, 'feature')}:`,
    `${'feature'.padEnd(width)}  ${'kind'.padEnd(11)}  ${'missing'.padStart(7)}  summary`,
    ...entries.map(line),
    ...predictionLines,
    '',
  ].join('\n');
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
  readonly input?: string[];
  readonly output?: string;
  readonly format?: string;
  readonly version?: string;
  readonly 'rows-per-batch'?: string;
  readonly 'max-concurrency'?: string;
  readonly tolerate?: string;
  readonly 'client-token'?: string;
  readonly wait?: boolean;
  readonly timeout?: string;
  readonly state?: string;
  readonly 'output-dir'?: string;
  readonly out?: string;
  readonly sample?: string;
  readonly drop?: string;
  readonly hash?: string;
  readonly 'max-record-bytes'?: string;
  readonly off?: boolean;
  readonly run?: boolean;
  readonly until?: string;
  readonly 'source-versions'?: string;
  readonly 'max-requests'?: string;
  /** `register --profile profile.json`: the version's reference profile, sent with the file. */
  readonly profile?: string;
  /** `experiment start --variant NAME=VERSION:WEIGHT`, once per variant. */
  readonly variant?: string[];
  readonly 'key-header'?: string;
  readonly metric?: string;
  readonly goal?: string;
  readonly alpha?: string;
  readonly 'min-sample'?: string;
  readonly 'starts-at'?: string;
  readonly 'ends-at'?: string;
  readonly name?: string;
  readonly 'request-id'?: string;
  readonly key?: string;
  readonly 'outcome-id'?: string;
  readonly value?: string;
  /** `shadow status --id shadow-...`. */
  readonly id?: string;
}

/** The options only `replay` takes. */
const REPLAY_ONLY_FLAGS = ['until', 'source-versions', 'max-requests'] as const;

/** The options only the batch commands take. */
const BATCH_ONLY_FLAGS = [
  'input',
  'output',
  'format',
  'version',
  'rows-per-batch',
  'max-concurrency',
  'tolerate',
  'client-token',
  'wait',
  'timeout',
  'state',
  'output-dir',
] as const;

/** The options only `capture` takes. */
const CAPTURE_FLAGS = ['sample', 'drop', 'hash', 'max-record-bytes', 'off'] as const;

/** The options only the experiment commands take. */
const EXPERIMENT_ONLY_FLAGS = [
  'variant',
  'key-header',
  'metric',
  'goal',
  'alpha',
  'min-sample',
  'starts-at',
  'ends-at',
  'name',
  'request-id',
  'key',
  'outcome-id',
  'value',
] as const;

/** The options only the shadow commands take. */
const SHADOW_ONLY_FLAGS = ['id'] as const;

/** The options of the commands that call the API, which `token` refuses. */
const API_FLAGS = [
  'metadata',
  'production',
  'upload',
  'reason',
  'features',
  'instances',
  'body',
  'canary',
  'managed',
  'percent',
  'interval',
  'minutes',
  'since',
  'limit',
  'follow',
  'poll',
  'json',
  'expect-canary',
  'expect-percent',
  'run',
  'profile',
  ...CAPTURE_FLAGS,
  ...BATCH_ONLY_FLAGS,
  ...REPLAY_ONLY_FLAGS,
  ...EXPERIMENT_ONLY_FLAGS,
  ...SHADOW_ONLY_FLAGS,
] as const;

/** `--expect-canary FV [--expect-percent P]` as the body's `expectedCanary`, or nothing. */
function expectedCanary(flags: Flags): Record<string, unknown> {
  const version = flags['expect-canary'];
  const percent = flags['expect-percent'];
  if (version === undefined) {
    if (percent !== undefined) throw new UsageError('--expect-percent goes with --expect-canary.');
    return {};
  }
  return {
    expectedCanary: { functionVersion: version, ...(percent === undefined ? {} : { percent: numberArg(percent, '--expect-percent') }) },
  };
}

/** What `run` returns when the command printed its own output. */
const PRINTED = Symbol('printed');

/** What `run` returns when the command printed its own output and exits with `code`. */
class Exit {
  constructor(readonly code: number) {}
}

/** A number argument, or a usage error that names it. */
/** A decimal number as people write it (`10`, `-2.5`, `1e-3`); not `0x10`, ` 10`, `Infinity` or `` (which `Number` would take). */
const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function numberArg(value: string, name: string): number {
  const number = Number(value);
  if (!DECIMAL.test(value) || !Number.isFinite(number)) throw new UsageError(`${name} must be a number, not "${value}".`);
  return number;
}

/**
 * The body of a release (`promote`, and `experiment promote-winner`, named by `command`):
 * `{canary}`, `{managed: {kind, percent, intervalMinutes}}` or neither (all the traffic), and
 * the reason.
 */
function promoteBody(flags: Flags, command = 'promote'): Record<string, unknown> {
  const reason = flags.reason === undefined ? {} : { reason: flags.reason };
  if (flags.managed !== undefined) {
    if (flags.canary !== undefined) throw new UsageError(`"${command}" takes either --canary or --managed, not both.`);
    if (flags.managed !== 'canary' && flags.managed !== 'linear') throw new UsageError('--managed is "canary" or "linear".');
    if (flags.percent === undefined || flags.interval === undefined)
      throw new UsageError('--managed needs --percent N and --interval MINUTES.');
    return {
      managed: {
        kind: flags.managed,
        percent: numberArg(flags.percent, '--percent'),
        intervalMinutes: numberArg(flags.interval, '--interval'),
      },
      ...reason,
    };
  }
  if (flags.percent !== undefined || flags.interval !== undefined) throw new UsageError('--percent and --interval go with --managed.');
  return { ...(flags.canary === undefined ? {} : { canary: numberArg(flags.canary, '--canary') }), ...reason };
}

async function run(command: string, args: readonly string[], flags: Flags, api: Api, io: CliIo): Promise<unknown> {
  if (flags.out !== undefined) throw new UsageError('--out goes with "profile".');
  if (command === 'batch') return batch(args, flags, api, io);
  if (command === 'infer') return infer(args, flags, api, io);
  if (command === 'capture') return capture(args, flags, api, io);
  if (command === 'drift') return drift(args, flags, api, io);
  if (command === 'replay') return replay(args, flags, api, io);
  if (command === 'experiment') return experiment(args, flags, api, io);
  if (command === 'shadow') return shadow(args, flags, api, io);
  const experimentOnly = EXPERIMENT_ONLY_FLAGS.filter((name) => flags[name] !== undefined);
  if (experimentOnly.length > 0)
    throw new UsageError(
      `${experimentOnly.map((f) => `--${f}`).join(', ')} ${experimentOnly.length === 1 ? 'goes' : 'go'} with the "experiment" commands (modelctl experiment --help).`,
    );
  if (flags.id !== undefined) throw new UsageError('--id goes with "shadow status".');
  const replayOnly = REPLAY_ONLY_FLAGS.filter((name) => flags[name] !== undefined);
  if (replayOnly.length > 0)
    throw new UsageError(`${replayOnly.map((f) => `--${f}`).join(', ')} ${replayOnly.length === 1 ? 'goes' : 'go'} with "replay".`);
  const captureOnly = CAPTURE_FLAGS.filter((name) => flags[name] !== undefined);
  if (captureOnly.length > 0)
    throw new UsageError(`${captureOnly.map((f) => `--${f}`).join(', ')} ${captureOnly.length === 1 ? 'goes' : 'go'} with "capture".`);
  if (flags.run !== undefined) throw new UsageError('--run goes with "drift".');
  if (flags.profile !== undefined && command !== 'register')
    throw new UsageError('--profile goes with "register" (modelctl profile --upload sends one for a version registered already).');
  const batchOnly = BATCH_ONLY_FLAGS.filter((name) => flags[name] !== undefined);
  if (batchOnly.length > 0)
    throw new UsageError(
      `${batchOnly.map((f) => `--${f}`).join(', ')} ${batchOnly.length === 1 ? 'goes' : 'go'} with the "batch" commands (modelctl batch --help).`,
    );
  if (command !== 'logs' && (flags.since !== undefined || flags.limit !== undefined || flags.follow || flags.poll !== undefined)) {
    throw new UsageError('--since, --limit, --follow and --poll go with "logs".');
  }
  if (command !== 'stats' && flags.minutes !== undefined) throw new UsageError('--minutes goes with "stats" and "drift --run".');
  if (flags.json && command !== 'stats' && command !== 'logs')
    throw new UsageError(
      '--json goes with "stats", "logs", "capture", "drift", "infer", "replay", "batch submit", "batch status", "batch list" and the "experiment" and "shadow" commands (the other commands print JSON anyway).',
    );
  if (
    !['shift', 'rollback', 'finalize'].includes(command) &&
    (flags['expect-canary'] !== undefined || flags['expect-percent'] !== undefined)
  ) {
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
      const profile = flags.profile ? parseJson(await io.readFile(flags.profile), flags.profile) : undefined;
      const opened = await openFile(io, file);
      const source =
        flags.upload || opened.size > UPLOAD_THRESHOLD_BYTES
          ? { uploadId: await upload(api, io, model as string, file, opened) }
          : { modelBase64: Buffer.from(await io.readFile(file)).toString('base64') };
      const version = (await api.call('POST', `/v1/models/${model}/versions`, {
        ...source,
        ...(metadata === undefined ? {} : { metadata }),
        ...(profile === undefined ? {} : { profile }),
      })) as { version: string };
      if (!flags.production) return version;
      await api.call('POST', `/v1/models/${model}/versions/${version.version}/stage`, {
        to: 'staging',
        reason: 'modelctl register --production',
      });
      const record = await api.call('PUT', `/v1/models/${model}/production`, {
        version: version.version,
        reason: 'modelctl register --production',
      });
      return { version, model: record };
    }
    case 'stage': {
      const [model, version, to] = need(3, '<model> <version> <development|staging|production|archived>');
      return api.call('POST', `/v1/models/${model}/versions/${version}/stage`, {
        to: decodeURIComponent(to as string),
        ...(flags.reason ? { reason: flags.reason } : {}),
      });
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
      return api.call('POST', `/v1/models/${model}/deployment/shift`, {
        percent: numberArg(args[1] as string, '<percent>'),
        ...expectedCanary(flags),
      });
    }
    case 'rollback':
    case 'finalize': {
      const [model] = need(1, '<model>');
      return api.call('POST', `/v1/models/${model}/deployment/${command}`, {
        ...(flags.reason === undefined ? {} : { reason: flags.reason }),
        ...expectedCanary(flags),
      });
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
    ms(v.latencyMs?.p50),
    ms(v.latencyMs?.p99),
    ms(v.latencyMs?.mean),
    v.healthy ? (v.evidence === 'none' ? 'healthy (no traffic)' : 'healthy') : `UNHEALTHY: ${v.reasons.join('; ')}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
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

// ---------------------------------------------------------------------------------------------
// modelctl capture, modelctl drift
// ---------------------------------------------------------------------------------------------

/** The options `capture` takes; any other is a usage error. */
const CAPTURE_COMMAND_FLAGS: readonly (keyof Flags)[] = [...CAPTURE_FLAGS, 'json'];
/** The options `drift` takes; any other is a usage error. */
const DRIFT_COMMAND_FLAGS: readonly (keyof Flags)[] = ['run', 'minutes', 'version', 'json'];

/**
 * A comma-separated list option (`--drop a,b`), names trimmed. An empty name (`--drop ''`,
 * `--drop a,,b`, `--hash ' '`) or a name given twice is a usage error naming the option: an empty
 * shell variable must not silently mean "none" (no redaction, every version).
 */
function listArg(value: string, option: string): string[] {
  const names = value.split(',').map((name) => name.trim());
  if (names.some((name) => name === '')) {
    const why = names.every((name) => name === '') ? 'it names nothing (leave the option out to name none)' : 'a name in it is empty';
    throw new UsageError(`${option} is a comma-separated list of names, not ${shown(value)}: ${why}.`);
  }
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new UsageError(`${option} names ${shown(twice)} twice.`);
  return names;
}

/** `--max-record-bytes`: whole bytes within the API's bounds (`functions/core/capture.ts`). */
function recordBytesArg(value: string): number {
  const bytes = /^[0-9]{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(bytes >= MIN_RECORD_BYTES && bytes <= MAX_RECORD_BYTES)) {
    throw new UsageError(
      `--max-record-bytes is a whole number of bytes from ${MIN_RECORD_BYTES} to ${MAX_RECORD_BYTES} (1,000 KiB, a Firehose record's limit), not ${shown(value)}.`,
    );
  }
  return bytes;
}

/**
 * `modelctl capture <model>`: shows the model's capture settings; with `--sample`, sets them
 * (`PUT`, replacing the settings whole: `--drop`, `--hash`, `--max-record-bytes` go with it);
 * with `--off`, turns capture off (`DELETE`). Prints them as lines, or the API's JSON (`--json`).
 */
async function capture(args: readonly string[], flags: Flags, api: Api, io: CliIo): Promise<unknown> {
  const foreign = API_FLAGS.filter((flag) => flags[flag] !== undefined && !CAPTURE_COMMAND_FLAGS.includes(flag));
  if (foreign.length > 0) throw new UsageError(`"capture" does not take ${foreign.map((f) => `--${f}`).join(', ')}.`);
  if (args.length !== 1) throw new UsageError('"capture" takes <model>.');
  const route = `/v1/models/${encodeURIComponent(args[0] as string)}/capture`;
  const settings = flags.drop !== undefined || flags.hash !== undefined || flags['max-record-bytes'] !== undefined;
  let status: CaptureStatus;
  if (flags.off) {
    if (flags.sample !== undefined || settings)
      throw new UsageError('--off turns capture off; it goes without --sample, --drop, --hash and --max-record-bytes.');
    status = (await api.call('DELETE', route)) as CaptureStatus;
  } else if (flags.sample !== undefined) {
    const sample = numberArg(flags.sample, '--sample');
    if (!(sample >= MIN_SAMPLE_PERCENT && sample <= 100))
      throw new UsageError(
        `--sample is the percent of requests captured, from ${MIN_SAMPLE_PERCENT} to 100, not ${shown(flags.sample)}; --off turns capture off.`,
      );
    const body = {
      samplePercent: sample,
      drop: flags.drop === undefined ? [] : listArg(flags.drop, '--drop'),
      hash: flags.hash === undefined ? [] : listArg(flags.hash, '--hash'),
      ...(flags['max-record-bytes'] === undefined ? {} : { maxRecordBytes: recordBytesArg(flags['max-record-bytes']) }),
    };
    status = (await api.call('PUT', route, body)) as CaptureStatus;
  } else {
    if (settings) throw new UsageError('--drop, --hash and --max-record-bytes go with --sample: the settings are set whole.');
    status = (await api.call('GET', route)) as CaptureStatus;
  }
  if (flags.json) return status;
  io.out(captureLines(status));
  return PRINTED;
}

/**
 * A model's capture settings as `modelctl capture` prints them:
 *
 *     Capture of iris: on, 10% of requests
 *       drop              sepal_width_cm
 *       hash              (none)
 *       max record bytes  65536
 *       updated           2026-11-30T12:00:00.000Z by cli-user
 */
export function captureLines(status: CaptureStatus): string {
  if (!status.enabled)
    return `Capture of ${status.model}: off. Turn it on: modelctl capture ${status.model} --sample PERCENT [--drop a,b] [--hash c]\n`;
  const names = (list: readonly string[]) => (list.length === 0 ? '(none)' : clean(list.join(', ')));
  return [
    `Capture of ${status.model}: on, ${status.samplePercent}% of requests`,
    `  drop              ${names(status.drop)}`,
    `  hash              ${names(status.hash)}`,
    `  max record bytes  ${status.maxRecordBytes}`,
    `  updated           ${status.updatedAt} by ${clean(status.updatedBy)}`,
    '',
  ].join('\n');
}

/**
 * `modelctl drift <model>`: the newest drift report (`GET`, of `--version` when given), or with
 * `--run` a run now (`POST`, over `--minutes` of traffic, of `--version`), as a table worst first,
 * or the API's JSON (`--json`). Exit {@link DRIFTED_EXIT_CODE} when the report says drifted,
 * {@link NOT_JUDGED_EXIT_CODE} when it judged no column, so scripts can act.
 */
async function drift(args: readonly string[], flags: Flags, api: Api, io: CliIo): Promise<unknown> {
  const foreign = API_FLAGS.filter((flag) => flags[flag] !== undefined && !DRIFT_COMMAND_FLAGS.includes(flag));
  if (foreign.length > 0) throw new UsageError(`"drift" does not take ${foreign.map((f) => `--${f}`).join(', ')}.`);
  if (args.length !== 1) throw new UsageError('"drift" takes <model>.');
  const route = `/v1/models/${encodeURIComponent(args[0] as string)}/drift`;
  let report: StoredDriftReport;
  if (flags.run) {
    const body = {
      ...(flags.minutes === undefined ? {} : { minutes: numberArg(flags.minutes, '--minutes') }),
      ...(flags.version === undefined ? {} : { version: flags.version }),
    };
    report = (await api.call('POST', route, body)) as StoredDriftReport;
  } else {
    if (flags.minutes !== undefined) throw new UsageError('--minutes goes with --run (without it, the newest report is shown).');
    report = (await api.call(
      'GET',
      flags.version === undefined ? route : `${route}?version=${encodeURIComponent(flags.version)}`,
    )) as StoredDriftReport;
  }
  io.out(flags.json ? `${JSON.stringify(report, null, 2)}\n` : driftTable(report));
  return new Exit(report.judged === false ? NOT_JUDGED_EXIT_CODE : report.drifted ? DRIFTED_EXIT_CODE : 0);
}

/** A p-value for the table: 3 significant digits, small ones in exponent form. */
function pValueText(p: number): string {
  if (p === 0) return '0';
  return p < 1e-3 ? p.toExponential(1) : Number(p.toPrecision(3)).toString();
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
      clean(r.name.length > SUMMARY_NAME_CHARS ? `${r.name.slice(0, SUMMARY_NAME_CHARS - 1)}…` : r.name),
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
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const notes = report.results
    .filter((r) => r.status === 'compared' && r.severity !== 'none')
    .map((r) => `${clean(r.name)} (${r.group}): ${clean(r.reason)}`);
  if (report.capped) notes.push(`More records were captured in the window than a run reads: the newest ${report.records} were compared.`);
  if (report.redacted.dropped.length > 0) notes.push(`Dropped by capture, not compared: ${clean(report.redacted.dropped.join(', '))}.`);
  if (report.redacted.hashed.length > 0) notes.push(`Hashed by capture, not compared: ${clean(report.redacted.hashed.join(', '))}.`);
  return `${[title, window, rule, line(header), ...rows.map(line), ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// modelctl replay
// ---------------------------------------------------------------------------------------------

/** The options `replay` takes; any other is a usage error. */
const REPLAY_COMMAND_FLAGS: readonly (keyof Flags)[] = [
  ...REPLAY_ONLY_FLAGS,
  'version',
  'since',
  'rows-per-batch',
  'max-concurrency',
  'wait',
  'interval',
  'timeout',
  'json',
];

/**
 * `modelctl replay <model>`: submits a replay (`POST /v1/models/{m}/replays`), and with `--wait`
 * waits for its job as `batch wait` does and prints its agreement report; exit codes as `batch
 * wait` (0 SUCCEEDED, 1 FAILED or CANCELLED, 2 still running when waiting stopped).
 */
async function replay(args: readonly string[], flags: Flags, api: Api, io: CliIo): Promise<unknown> {
  const foreign = API_FLAGS.filter((flag) => flags[flag] !== undefined && !REPLAY_COMMAND_FLAGS.includes(flag));
  if (foreign.length > 0) throw new UsageError(`"replay" does not take ${foreign.map((f) => `--${f}`).join(', ')}.`);
  if (args.length !== 1) throw new UsageError('"replay" takes <model>.');
  if (flags.version === undefined || flags.since === undefined)
    throw new UsageError(
      '"replay" needs --version (the version to replay against) and --since (90s, 30m, 1h, 2d, or an ISO-8601 time with its zone).',
    );
  if (!flags.wait && (flags.interval !== undefined || flags.timeout !== undefined))
    throw new UsageError('--interval and --timeout go with --wait.');
  const waiting = flags.wait ? waitOptions(flags) : undefined;
  const model = args[0] as string;
  const sources = flags['source-versions'] === undefined ? [] : listArg(flags['source-versions'], '--source-versions');
  const body = {
    version: flags.version,
    since: flags.since,
    ...(flags.until === undefined ? {} : { until: flags.until }),
    ...(sources.length > 0 ? { sourceVersions: sources } : {}),
    ...(flags['max-requests'] === undefined ? {} : { maxRequests: wholeArg(flags['max-requests'], '--max-requests') }),
    ...(flags['rows-per-batch'] === undefined ? {} : { rowsPerBatch: wholeArg(flags['rows-per-batch'], '--rows-per-batch') }),
    ...(flags['max-concurrency'] === undefined ? {} : { maxConcurrency: wholeArg(flags['max-concurrency'], '--max-concurrency') }),
  };
  const submitted = (await api.call('POST', `/v1/models/${encodeURIComponent(model)}/replays`, body)) as { job: BatchJob };
  const { job } = submitted;
  const what = `Replay ${job.jobId} of ${model}: captured requests of ${plural(job.replay?.sourceVersions.length ?? 0, 'version')} (${(job.replay?.sourceVersions ?? []).join(', ')}) from ${job.replay?.since ?? '?'} to ${job.replay?.until ?? '?'} against version ${job.modelVersion}`;
  if (!waiting) {
    if (flags.json) return submitted;
    io.out(
      `${what}: ${job.state}.\nIts report, once it has ended: modelctl batch wait ${model} ${job.jobId}, then modelctl batch status ${model} ${job.jobId} --json\n`,
    );
    return PRINTED;
  }
  io.err(
    `${what}.\nWaiting for it${waiting.timeoutMs === undefined ? '' : ` for at most ${waiting.timeoutMs / 1_000} s`} (Ctrl+C stops waiting, not the replay).\n`,
  );
  const { reply, ended } = await waitForJob(api, io, model, job.jobId, waiting);
  const report = (reply as JobReply & { report?: ReplayReport }).report;
  io.out(flags.json ? `${JSON.stringify(reply, null, 2)}\n` : report ? replayLines(report) : jobLines(reply));
  return new Exit(verdict(io, reply.job, ended, waiting));
}

/** A difference for the report's tables: 4 significant digits, tiny ones in exponent form. */
function differenceText(value: number | undefined): string {
  if (value === undefined) return '-';
  if (value === 0) return '0';
  return value < 1e-3 ? value.toExponential(2) : Number(value.toPrecision(4)).toString();
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
  const table = tableLines;
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
  const outputs = table(
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
      ...table(
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
  const skipped = Object.entries(report.outputsNotCompared);
  if (skipped.length > 0)
    notes.push(
      `outputs not compared: ${skipped
        .map(
          ([name, reasons]) =>
            `${clean(name)} (${Object.entries(reasons)
              .map(([why, n]) => `${why} ${n}`)
              .join(', ')})`,
        )
        .join('; ')}`,
    );
  if (report.truncatedRequests > 0)
    notes.push(`${plural(report.truncatedRequests, 'request')} replayed on the rows capture kept (records over their size bound)`);
  if (capture.unreadableLines > 0)
    notes.push(
      `${plural(capture.unreadableLines, 'line')} of the capture files ${capture.unreadableLines === 1 ? 'is' : 'are'} no capture record`,
    );
  return `${[...lines, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')}\n`;
}

/** A header and rows as lines, each column as wide as its widest cell (the last one unpadded), two spaces apart. */
function tableLines(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

// ---------------------------------------------------------------------------------------------
// modelctl experiment, modelctl shadow
// ---------------------------------------------------------------------------------------------

type ExperimentCommand = 'start' | 'status' | 'stop' | 'promote-winner' | 'outcome';

/** The options each experiment command takes; any other is a usage error. */
const EXPERIMENT_FLAGS: Readonly<Record<ExperimentCommand, readonly (keyof Flags)[]>> = {
  start: ['variant', 'key-header', 'metric', 'goal', 'alpha', 'min-sample', 'starts-at', 'ends-at', 'name', 'json'],
  status: ['json'],
  stop: ['reason', 'json'],
  'promote-winner': ['canary', 'managed', 'percent', 'interval', 'reason', 'json'],
  outcome: ['request-id', 'key', 'outcome-id', 'value', 'json'],
};

type ShadowCommand = 'start' | 'status' | 'stop';

/** The options each shadow command takes; any other is a usage error. */
const SHADOW_FLAGS: Readonly<Record<ShadowCommand, readonly (keyof Flags)[]>> = {
  start: ['version', 'sample', 'json'],
  status: ['id', 'json'],
  stop: ['json'],
};

/** `GET /v1/models/{m}/experiments` as the API answers it: newest first. */
interface ExperimentList {
  readonly model: string;
  readonly experiments: readonly ExperimentView[];
}

/** `POST /v1/models/{m}/experiments/{e}/promote-winner` as the API answers it. */
interface WinnerReply {
  readonly analysis: ExperimentAnalysis;
  /** Whether this call stopped the experiment (it was still running or scheduled). */
  readonly stopped: boolean;
  /** The release of the winner; `null` when it is the production version already. */
  readonly release: PromoteResult['release'] | null;
}

/** `POST /v1/models/{m}/experiments/{e}/outcomes` as the API answers it (`created: false`: recorded before, the same). */
interface OutcomeReply {
  readonly created: boolean;
  readonly outcome: RecordedOutcome;
}

function experimentsPath(model: string): string {
  return `/v1/models/${encodeURIComponent(model)}/experiments`;
}

function experimentPath(model: string, id: string): string {
  return `${experimentsPath(model)}/${encodeURIComponent(id)}`;
}

/**
 * `--variant NAME=VERSION:WEIGHT` (`control=1:50`: version 1 serves 50% of the units) as the
 * API's variant. The weight is a number as {@link numberArg} reads it, from 0.001 and below 100
 * (the API's bounds); the API checks the name, the version and that the weights sum to 100.
 */
export function variantArg(value: string): { name: string; version: string; weight: number } {
  const match = /^([^=]+)=([^:]+):(.*)$/.exec(value);
  if (!match)
    throw new UsageError(`--variant is NAME=VERSION:WEIGHT (e.g. control=1:50, the weight a percent of the units), not ${shown(value)}.`);
  const [, name = '', version = '', weightText = ''] = match;
  const weight = numberArg(weightText, `The weight in --variant ${value}`);
  if (!(weight >= 0.001 && weight < 100))
    throw new UsageError(`The weight in --variant ${value} is a percent of the units, from 0.001 to below 100, not ${shown(weightText)}.`);
  return { name, version, weight };
}

/** The body of `POST /v1/models/{m}/experiments` from `experiment start`'s options. */
function experimentBody(flags: Flags): Record<string, unknown> {
  const variants = (flags.variant ?? []).map(variantArg);
  if (variants.length < 2) {
    throw new UsageError(
      `"experiment start" needs a --variant NAME=VERSION:WEIGHT per variant, two or more, the control first (e.g. --variant control=1:50 --variant treatment=2:50); ${variants.length === 0 ? 'none was' : 'one was'} given.`,
    );
  }
  const { metric, goal } = flags;
  if (metric !== undefined && metric !== 'conversion' && metric !== 'value')
    throw new UsageError(`--metric is "conversion" (0 or 1 per unit) or "value" (a number per outcome), not ${shown(metric)}.`);
  if (goal !== undefined && goal !== 'maximize' && goal !== 'minimize')
    throw new UsageError(`--goal is "maximize" or "minimize", not ${shown(goal)}.`);
  let alpha: number | undefined;
  if (flags.alpha !== undefined) {
    alpha = numberArg(flags.alpha, '--alpha');
    if (!(alpha > 0 && alpha <= 0.5))
      throw new UsageError(`--alpha is the test's level, above 0 and at most 0.5 (e.g. 0.05), not ${shown(flags.alpha)}.`);
  }
  return {
    variants,
    ...(flags['key-header'] === undefined ? {} : { assignmentKey: { source: 'header', header: flags['key-header'] } }),
    ...(metric === undefined ? {} : { metric }),
    ...(goal === undefined ? {} : { goal }),
    ...(alpha === undefined ? {} : { significanceLevel: alpha }),
    ...(flags['min-sample'] === undefined ? {} : { minimumSample: wholeArg(flags['min-sample'], '--min-sample') }),
    ...(flags['starts-at'] === undefined ? {} : { startsAt: flags['starts-at'] }),
    ...(flags['ends-at'] === undefined ? {} : { endsAt: flags['ends-at'] }),
    ...(flags.name === undefined ? {} : { name: flags.name }),
  };
}

/** The body of `POST .../outcomes` from `experiment outcome`'s options. */
function outcomeBody(flags: Flags): Record<string, unknown> {
  const requestId = flags['request-id'];
  const { key } = flags;
  if (requestId !== undefined && key !== undefined)
    throw new UsageError('"experiment outcome" takes --request-id or --key, not both: an outcome is for one request or for one unit.');
  if (requestId === undefined && key === undefined)
    throw new UsageError(
      '"experiment outcome" needs --request-id ID (a request the experiment served) or --key KEY (a unit\'s assignment key).',
    );
  if (flags['outcome-id'] !== undefined && key === undefined)
    throw new UsageError('--outcome-id goes with --key (a request id names its outcome already).');
  if (flags.value === undefined)
    throw new UsageError('"experiment outcome" needs --value N: 0 or 1 for a conversion, any number for a value.');
  return {
    ...(requestId === undefined ? { key } : { requestId }),
    ...(flags['outcome-id'] === undefined ? {} : { outcomeId: flags['outcome-id'] }),
    value: numberArg(flags.value, '--value'),
  };
}

/**
 * `modelctl experiment <command>`: start, status (the model's experiments, or one's analysis),
 * stop, promote-winner, outcome. Each prints lines or a table, or the API's JSON (`--json`);
 * exit 0, 1 when the API refuses (with its code: `409 NO_WINNER`, `409 OUTCOME_CONFLICT`, ...),
 * 2 for a usage mistake. `status` exits 0 with a winner or without one.
 */
async function experiment(args: readonly string[], flags: Flags, api: Api, io: CliIo): Promise<unknown> {
  const { command, rest } = groupCommand<ExperimentCommand>(EXPERIMENT_GROUP, EXPERIMENT_FLAGS, args, flags);
  const need = (names: readonly string[]): string[] => groupArgs('experiment', command, rest, names);
  switch (command) {
    case 'start': {
      const [model = ''] = need(['<model>']);
      const view = (await api.call('POST', experimentsPath(model), experimentBody(flags))) as ExperimentView;
      if (flags.json) return view;
      io.out(`${experimentLines(view)}Its analysis: modelctl experiment status ${view.model} ${view.id}\n`);
      return PRINTED;
    }
    case 'status': {
      if (rest.length !== 1 && rest.length !== 2) throw new UsageError('"experiment status" takes <model> [<experiment>].');
      const [model = '', id] = rest;
      if (id === undefined) {
        const list = (await api.call('GET', experimentsPath(model))) as ExperimentList;
        if (flags.json) return list;
        io.out(list.experiments.length === 0 ? `No experiments of model ${shown(model)}.\n` : experimentsTable(list.experiments));
        return PRINTED;
      }
      const analysis = (await api.call('GET', experimentPath(model, id))) as ExperimentAnalysis;
      if (flags.json) return analysis;
      io.out(analysisLines(analysis));
      return PRINTED;
    }
    case 'stop': {
      const [model = '', id = ''] = need(['<model>', '<experiment>']);
      const view = (await api.call(
        'POST',
        `${experimentPath(model, id)}/stop`,
        flags.reason === undefined ? {} : { reason: flags.reason },
      )) as ExperimentView;
      if (flags.json) return view;
      io.out(experimentLines(view));
      return PRINTED;
    }
    case 'promote-winner': {
      const [model = '', id = ''] = need(['<model>', '<experiment>']);
      const reply = (await api.call(
        'POST',
        `${experimentPath(model, id)}/promote-winner`,
        promoteBody(flags, 'experiment promote-winner'),
      )) as WinnerReply;
      if (flags.json) return reply;
      io.out(winnerLines(reply));
      return PRINTED;
    }
    case 'outcome': {
      const [model = '', id = ''] = need(['<model>', '<experiment>']);
      const reply = (await api.call('POST', `${experimentPath(model, id)}/outcomes`, outcomeBody(flags))) as OutcomeReply;
      if (flags.json) return reply;
      io.out(outcomeLine(id, reply, flags));
      return PRINTED;
    }
  }
}

/** Variants as `--variant` takes them: `control=1:50, treatment=2:50`. */
function variantsText(variants: readonly { name: string; version: string; weight: number }[]): string {
  return variants.map((v) => `${v.name}=${v.version}:${v.weight}`).join(', ');
}

/**
 * An experiment as `experiment start` and `experiment stop` print it:
 *
 *     Experiment exp-20261130t120000000z-3k9q2m1x of iris: running
 *       name      checkout button
 *       variants  control=1:50, treatment=2:50 (the first is the control)
 *       units     the request header x-user-id (a request without it is not assigned)
 *       metric    conversion, maximize; alpha 0.05; a winner needs 100 units per variant
 *       starts    2026-11-30T12:00:00.000Z
 *       ends      when stopped
 *       created   2026-11-30T12:00:00.000Z by cli-user
 */
export function experimentLines(view: ExperimentView): string {
  const units =
    view.assignmentKey.source === 'header'
      ? `the request header ${view.assignmentKey.header} (a request without it is not assigned)`
      : "the token's subject";
  const fields: [string, string][] = [
    ...(view.name === undefined ? [] : [['name', view.name] as [string, string]]),
    ['variants', `${variantsText(view.variants)} (the first is the control)`],
    ['units', units],
    [
      'metric',
      `${view.metric}, ${view.goal}; alpha ${view.significanceLevel}; a winner needs ${view.minimumSample} ${view.metric === 'conversion' ? 'units' : 'outcomes'} per variant`,
    ],
    ['starts', view.startsAt],
    ['ends', view.endsAt ?? 'when stopped'],
    ['created', `${view.createdAt} by ${view.createdBy}`],
    ...(view.stoppedAt === undefined
      ? []
      : [
          ['stopped', `${view.stoppedAt} by ${view.stoppedBy ?? '?'}${view.stopReason === undefined ? '' : `: ${view.stopReason}`}`] as [
            string,
            string,
          ],
        ]),
  ];
  return `${[`Experiment ${view.id} of ${view.model}: ${view.state}`, ...fields.map(([name, value]) => `  ${name.padEnd(8)}  ${clean(value)}`)].join('\n')}\n`;
}

/**
 * `experiment status <model>` as a table, newest first:
 *
 *     ID                                   STATE    NAME  VARIANTS                       CREATED
 *     exp-20261130t120000000z-3k9q2m1x     running  -     control=1:50, treatment=2:50   2026-11-30T12:00:00.000Z
 */
export function experimentsTable(experiments: readonly ExperimentView[]): string {
  const rows = experiments.map((e) => [e.id, e.state, e.name ?? '-', variantsText(e.variants), e.createdAt].map(clean));
  return `${tableLines(['ID', 'STATE', 'NAME', 'VARIANTS', 'CREATED'], rows).join('\n')}\n`;
}

/** An interval as `[low, high]`, 4 significant digits; `-` when there is none. */
function intervalText(ci: { low: number; high: number } | null | undefined): string {
  return ci ? `[${statistic(ci.low)}, ${statistic(ci.high)}]` : '-';
}

/**
 * An experiment's analysis as `experiment status <model> <experiment>` prints it: what is
 * compared and how, a row per variant (the control first), then the winner and the decision:
 *
 *     Experiment exp-20261130t120000000z-3k9q2m1x of iris: running
 *     metric conversion (maximize); treatment compared with control at p < 0.05; a winner needs 100 units per variant
 *     VARIANT    VERSION  WEIGHT  REQUESTS  UNITS  OUTCOMES  MEAN    CI 95%            DIFFERENCE (CI 95%)         P-VALUE  SIGNIFICANT
 *     control    1        50%     1210      1002   101       0.1008  [0.08361, 0.121]  (control)                   -        -
 *     treatment  2        50%     1190      998    160       0.1603  [0.1388, 0.1844]  +0.0595 [0.03, 0.08899]     4.1e-5   yes
 *     winner: treatment (version 2). treatment is better than control: difference 0.059527, p = 0.000041 < 0.05.
 *     Promote it: modelctl experiment promote-winner iris exp-20261130t120000000z-3k9q2m1x
 */
export function analysisLines(analysis: ExperimentAnalysis): string {
  const e = analysis.experiment;
  const [control, ...treatments] = analysis.variants;
  const level = Number(analysis.comparisonLevel.toPrecision(4));
  const confidence = `${Number(((1 - analysis.comparisonLevel) * 100).toPrecision(4))}%`;
  const compared =
    treatments.length === 1 ? `${treatments[0]?.name ?? 'the treatment'} compared` : `each of ${treatments.length} treatments compared`;
  const corrected = treatments.length > 1 ? ` (alpha ${e.significanceLevel} over ${treatments.length} comparisons)` : '';
  const lines = [
    `Experiment ${e.id} of ${e.model}${e.name === undefined ? '' : ` (${e.name})`}: ${e.state}`,
    `metric ${analysis.metric} (${analysis.goal}); ${compared} with ${control?.name ?? 'the control'} at p < ${level}${corrected}; a winner needs ${e.minimumSample} ${analysis.metric === 'conversion' ? 'units' : 'outcomes'} per variant`,
    ...tableLines(
      [
        'VARIANT',
        'VERSION',
        'WEIGHT',
        'REQUESTS',
        'UNITS',
        'OUTCOMES',
        'MEAN',
        `CI ${confidence}`,
        `DIFFERENCE (CI ${confidence})`,
        'P-VALUE',
        'SIGNIFICANT',
      ],
      analysis.variants.map((v, i) => {
        const c = v.comparison;
        const difference =
          i === 0 ? '(control)' : c ? `${c.difference > 0 ? '+' : ''}${statistic(c.difference)} ${intervalText(c.ci)}` : '-';
        return [
          clean(v.name),
          v.version,
          `${v.weight}%`,
          String(v.requests),
          String(v.units),
          String(v.outcomes),
          v.mean === null ? '-' : statistic(v.mean),
          intervalText(v.ci),
          difference,
          c ? pValueText(c.pValue) : '-',
          c ? (c.significant ? 'yes' : 'no') : '-',
        ];
      }),
    ),
    analysis.winner
      ? `winner: ${clean(analysis.winner.variant)} (version ${analysis.winner.version}). ${clean(analysis.decision)}`
      : `winner: none. ${clean(analysis.decision)}`,
  ];
  if (analysis.winner) lines.push(`Promote it: modelctl experiment promote-winner ${e.model} ${e.id}`);
  const notes: string[] = [];
  if (analysis.unmatchedOutcomes > 0)
    notes.push(`${plural(analysis.unmatchedOutcomes, 'outcome')} of no variant, or of a unit the experiment never served: not counted.`);
  if (analysis.capped) notes.push('The prediction log or the outcomes held more than one analysis reads: the oldest were analyzed.');
  return `${[...lines, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')}\n`;
}

/**
 * `experiment promote-winner` as lines: the winner and why, whether this stopped the
 * experiment, and the release it started (or none: the winner is the production version).
 */
export function winnerLines(reply: WinnerReply): string {
  const e = reply.analysis.experiment;
  const winner = reply.analysis.winner;
  const release = reply.release;
  let released: string;
  if (!release) released = `none: version ${winner?.version ?? '?'} is the production version already`;
  else if (release.mode === 'direct')
    released = `version ${release.modelVersion} takes all the traffic (function version ${release.functionVersion})`;
  else if (release.mode === 'manual')
    released = `a canary of version ${release.modelVersion} (function version ${release.functionVersion}); move it with modelctl shift, finalize or rollback ${e.model}`;
  else
    released = `a managed release of version ${release.modelVersion} (function version ${release.functionVersion}${release.deploymentId === undefined ? '' : `, deployment ${release.deploymentId}`}); modelctl deployment ${e.model} follows it`;
  return [
    `Winner of experiment ${e.id} of ${e.model}: ${clean(winner?.variant ?? '?')} (version ${winner?.version ?? '?'})`,
    `  decision  ${clean(reply.analysis.decision)}`,
    `  stopped   ${reply.stopped ? 'yes: requests are no longer assigned' : `no: it had ${e.state === 'ended' ? 'ended' : 'been stopped'} already`}`,
    `  release   ${released}`,
    '',
  ].join('\n');
}

/** `experiment outcome`'s line: what was recorded, for which variant, and whether it was recorded before. */
function outcomeLine(id: string, reply: OutcomeReply, flags: Flags): string {
  const { outcome } = reply;
  const of =
    outcome.requestId !== undefined
      ? `request ${outcome.requestId}`
      : `key ${shown(flags.key ?? '')}${flags['outcome-id'] === undefined ? '' : `, outcome id ${shown(flags['outcome-id'])}`}`;
  const what = `outcome ${outcome.value} for variant ${outcome.variant} of ${id} (${clean(of)})`;
  return reply.created
    ? `Recorded ${what}.\n`
    : `Already recorded: ${what}, at ${outcome.recordedAt} by ${clean(outcome.recordedBy)}; nothing changed.\n`;
}

/**
 * `modelctl shadow <command> <model>`: start (`POST`, `--version`, `--sample`), status (`GET`,
 * `--id`), stop (`DELETE`); each prints the test and its report (`shadowLines`), or the API's
 * JSON (`--json`).
 */
async function shadow(args: readonly string[], flags: Flags, api: Api, io: CliIo): Promise<unknown> {
  const { command, rest } = groupCommand<ShadowCommand>(SHADOW_GROUP, SHADOW_FLAGS, args, flags);
  const [model = ''] = groupArgs('shadow', command, rest, ['<model>']);
  const route = `/v1/models/${encodeURIComponent(model)}/shadow`;
  let status: ShadowStatus;
  if (command === 'start') {
    if (flags.version === undefined)
      throw new UsageError('"shadow start" needs --version N: the candidate version to run beside the one that answers.');
    let sample: number | undefined;
    if (flags.sample !== undefined) {
      sample = numberArg(flags.sample, '--sample');
      if (!(sample >= MIN_SHADOW_PERCENT && sample <= 100))
        throw new UsageError(
          `--sample is the percent of requests also run on the candidate, from ${MIN_SHADOW_PERCENT} to 100, not ${shown(flags.sample)}; "shadow stop" stops the test.`,
        );
    }
    status = (await api.call('POST', route, {
      version: flags.version,
      ...(sample === undefined ? {} : { samplePercent: sample }),
    })) as ShadowStatus;
  } else if (command === 'status') {
    status = (await api.call('GET', flags.id === undefined ? route : `${route}?${new URLSearchParams({ id: flags.id })}`)) as ShadowStatus;
  } else {
    status = (await api.call('DELETE', route)) as ShadowStatus;
  }
  if (flags.json) return status;
  io.out(shadowLines(status));
  return PRINTED;
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
  const skipped = Object.entries(report.outputsNotCompared);
  if (skipped.length > 0)
    notes.push(
      `outputs not compared: ${skipped
        .map(
          ([name, reasons]) =>
            `${clean(name)} (${Object.entries(reasons)
              .map(([why, n]) => `${why} ${n}`)
              .join(', ')})`,
        )
        .join('; ')}`,
    );
  if (status.capped) notes.push('More requests were shadowed than one report reads: the oldest were summed.');
  return `${[...lines, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// modelctl infer
// ---------------------------------------------------------------------------------------------

/** The options `infer` takes; any other is a usage error. */
const INFER_FLAGS: readonly (keyof Flags)[] = ['body', 'input', 'version', 'output-dir', 'json'];

/**
 * Room kept below Lambda's synchronous limit for what is not the body (the request's headers,
 * the event's envelope): a request whose body, once base64-encoded (as API Gateway hands binary
 * bodies to Lambda), passes `LAMBDA_SYNC_PAYLOAD_BYTES - INLINE_MARGIN_BYTES` sends its largest
 * inputs by reference until the rest fits.
 */
export const INLINE_MARGIN_BYTES = 64 * 1024;

/** Values of each output the summary shows. */
const SUMMARY_VALUES = 8;
/** Characters of a BYTES value the summary shows. */
const SUMMARY_STRING_CHARS = 40;

/** One `--input` of `infer`, read: its name and tensor. */
export interface InferInput {
  readonly name: string;
  readonly tensor: RawTensor;
}

/** One output of an inference answer, with the parameters it came with. */
export interface InferOutput extends RawTensor {
  readonly name: string;
  readonly parameters?: Record<string, unknown>;
}

/** An inference answer: its JSON header without the outputs, and the outputs, whole. */
export interface InferReply {
  readonly header: Record<string, unknown>;
  readonly outputs: readonly InferOutput[];
}

/** `POST /v1/models/{m}/payloads`: where to PUT an input's bytes, and the id that then names them. */
interface PayloadTicket {
  readonly payloadId: string;
  readonly url: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly expiresAt?: string;
}

/**
 * `modelctl infer`: with `--input`s, one binary request (Open Inference Protocol binary tensor
 * data extension) asking for binary outputs; inputs that would take the request past Lambda's
 * limit are uploaded first and sent by reference. With `--body`, the JSON request as it is.
 */
async function infer(args: readonly string[], flags: Flags, api: Api, io: CliIo): Promise<unknown> {
  const foreign = API_FLAGS.filter((flag) => flags[flag] !== undefined && !INFER_FLAGS.includes(flag));
  if (foreign.length > 0) throw new UsageError(`"infer" does not take ${foreign.map((f) => `--${f}`).join(', ')}.`);
  if (args.length !== 1) throw new UsageError('"infer" takes <model>.');
  const model = args[0] as string;
  const base = `/v2/models/${encodeURIComponent(model)}${flags.version === undefined ? '' : `/versions/${encodeURIComponent(flags.version)}`}`;
  if (flags.body !== undefined) {
    if (flags.input !== undefined || flags['output-dir'] !== undefined || flags.json) {
      throw new UsageError(
        '--body sends a JSON request as it is and prints the JSON answer; it goes without --input, --output-dir and --json.',
      );
    }
    return api.call('POST', `${base}/infer`, parseJson(await io.readFile(flags.body), flags.body));
  }
  if (flags.input === undefined)
    throw new UsageError('"infer" takes --input NAME=FILE.npy (once per input), or --body FILE with a JSON v2 request.');
  const inputs = await inferInputs(flags.input, base, api, io);

  const remote = byReference(
    inputs.map((i) => ({ name: i.name, bytes: i.tensor.data.byteLength })),
    requestHeader(inputs, new Map()).byteLength,
  );
  // Before anything is uploaded, what the model's metadata can refuse is checked here.
  if (remote.size > 0) checkAgainstMetadata(inputs, await api.call('GET', base));
  const refs = new Map<string, string>();
  for (const input of inputs) if (remote.has(input.name)) refs.set(input.name, await uploadPayload(api, io, model, input));
  const header = requestHeader(inputs, refs);
  const response = await api.send('POST', `${base}/infer`, requestBody(header, inputs, refs), {
    'content-type': 'application/octet-stream',
    'inference-header-content-length': String(header.byteLength),
    accept: 'application/octet-stream',
  });
  const reply = await readInferReply(response, io.fetch);

  const dir = flags['output-dir'];
  const files = dir === undefined ? undefined : outputFileNames(reply.outputs.map((o) => o.name)).map((name) => path.join(dir, name));
  if (files) {
    const write = io.writeFile ?? writeWhole;
    for (const [i, output] of reply.outputs.entries()) {
      const npy = writeNpy(output);
      await write(
        files[i] as string,
        (async function* () {
          yield npy;
        })(),
      );
    }
  }
  if (flags.json) {
    io.out(`${JSON.stringify(replyJson(reply), null, 2)}\n`);
    if (files) io.err(files.map((f) => `Wrote ${f}\n`).join(''));
  } else io.out(inferSummary(reply, files));
  return PRINTED;
}

/** The `--input`s, read: `.npy` files as they are; JSON arrays typed as the model declares the input. */
async function inferInputs(specs: readonly string[], base: string, api: Api, io: CliIo): Promise<InferInput[]> {
  // Every --input's form first: nothing is read or asked before they all make sense.
  const given = specs.map((spec) => {
    const eq = spec.indexOf('=');
    if (eq < 1) throw new UsageError(`--input is NAME=FILE.npy, NAME=@FILE.json or NAME='[JSON array]', not ${shown(spec)}.`);
    const name = spec.slice(0, eq);
    const value = spec.slice(eq + 1);
    return { name, value, inline: value.trimStart().startsWith('[') ? parseJson(value, `--input ${name}`) : undefined };
  });
  const twice = given.find((g, i) => given.findIndex((other) => other.name === g.name) !== i);
  if (twice) throw new UsageError(`--input ${shown(twice.name)} is given twice.`);
  let declared: Promise<Map<string, string>> | undefined;
  const inputs: InferInput[] = [];
  for (const { name, value, inline } of given) {
    if (inline === undefined && !value.startsWith('@')) {
      const file = await readInput(io, value);
      try {
        inputs.push({ name, tensor: readNpy(file, { name: value }) });
      } catch (error) {
        if (error instanceof NpyError) throw new Error(error.message);
        throw error;
      }
      continue;
    }
    const where = inline === undefined ? value.slice(1) : `--input ${name}`;
    const json = inline ?? parseJson(await readInput(io, value.slice(1)), where);
    declared ??= declaredDatatypes(api, base);
    const datatype = (await declared).get(name);
    if (datatype === undefined) {
      throw new ApiError(
        `The model has no input ${shown(name)} (its inputs: ${[...(await declared).keys()].map(shown).join(', ')}); a JSON --input takes the datatype the model declares.`,
      );
    }
    if (!isWireDatatype(datatype))
      throw new ApiError(`The model declares input ${shown(name)} as ${shown(datatype)}, which modelctl cannot send.`);
    try {
      const { shape, values } = nestedToFlat(json);
      inputs.push({ name, tensor: { datatype, shape, data: jsonToRaw(datatype, values) } });
    } catch (error) {
      if (error instanceof TensorBytesError) throw new Error(`${where}: ${error.message}`);
      throw error;
    }
  }
  return inputs;
}

/**
 * The inputs against the model's metadata (`GET /v2/models/{m}`): each a declared input, of its
 * declared datatype, with no more rows than `parameters.max_rows`. The server checks all of it
 * again; here it spares an upload the server would refuse.
 */
export function checkAgainstMetadata(inputs: readonly InferInput[], metadata: unknown): void {
  const described = (metadata ?? {}) as {
    inputs?: { name?: unknown; datatype?: unknown; shape?: unknown }[];
    parameters?: { max_rows?: unknown };
  };
  const declared = new Map((described.inputs ?? []).filter((i) => typeof i.name === 'string').map((i) => [i.name as string, i]));
  const maxRows = described.parameters?.max_rows;
  for (const { name, tensor } of inputs) {
    const input = declared.get(name);
    if (!input) throw new ApiError(`The model has no input ${shown(name)} (its inputs: ${[...declared.keys()].map(shown).join(', ')}).`);
    if (typeof input.datatype === 'string' && input.datatype !== tensor.datatype) {
      const hint = tensor.datatype === 'FP64' && input.datatype === 'FP32' ? " Convert it first: NumPy's arr.astype('float32')." : '';
      throw new ApiError(`Input ${shown(name)} is ${input.datatype}; the file holds ${tensor.datatype}.${hint}`);
    }
    const shape = Array.isArray(input.shape) ? input.shape : [];
    const rows = tensor.shape[0];
    if (typeof maxRows === 'number' && shape.length > 0 && shape[0] === -1 && rows !== undefined && rows > maxRows) {
      throw new ApiError(
        `Input ${shown(name)} has ${rows} rows; this endpoint takes at most ${maxRows} per request. Split it, or run the rows as a batch job.`,
      );
    }
  }
}

/** A file's bytes; a missing file or a directory said plainly. */
async function readInput(io: CliIo, file: string): Promise<Buffer> {
  try {
    return await io.readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`no file at ${file}.`);
    if (code === 'EISDIR') throw new Error(`${file} is a directory; give a .npy file.`);
    throw error;
  }
}

/** The model's inputs and their declared datatypes (`GET /v2/models/{m}[/versions/{v}]`). */
async function declaredDatatypes(api: Api, base: string): Promise<Map<string, string>> {
  const metadata = (await api.call('GET', base)) as { inputs?: { name?: unknown; datatype?: unknown }[] } | undefined;
  const declared = new Map<string, string>();
  for (const input of metadata?.inputs ?? [])
    if (typeof input.name === 'string' && typeof input.datatype === 'string') declared.set(input.name, input.datatype);
  return declared;
}

/**
 * The inputs to send by reference: none when the body (`headerBytes` and every input's bytes)
 * fits inline once base64-encoded, with {@link INLINE_MARGIN_BYTES} to spare, below Lambda's
 * synchronous limit; else the largest ones, one by one, until the rest fits.
 */
export function byReference(inputs: readonly { name: string; bytes: number }[], headerBytes: number): Set<string> {
  const limit = LAMBDA_SYNC_PAYLOAD_BYTES - INLINE_MARGIN_BYTES;
  let total = inputs.reduce((sum, i) => sum + i.bytes, headerBytes);
  const chosen = new Set<string>();
  for (const input of [...inputs].sort((a, b) => b.bytes - a.bytes)) {
    if (base64Length(total) <= limit) break;
    chosen.add(input.name);
    total -= input.bytes;
  }
  return chosen;
}

/**
 * The JSON header of a binary request: each input's name, shape and datatype, with
 * `binary_data_size` (its bytes follow the header) or `data_ref` (uploaded before), and
 * `binary_data_output` to ask for the outputs in binary.
 */
export function requestHeader(inputs: readonly InferInput[], refs: ReadonlyMap<string, string>): Uint8Array {
  const header = {
    inputs: inputs.map(({ name, tensor }) => {
      const ref = refs.get(name);
      return {
        name,
        shape: tensor.shape,
        datatype: tensor.datatype,
        parameters: ref === undefined ? { binary_data_size: tensor.data.byteLength } : { data_ref: ref },
      };
    }),
    parameters: { binary_data_output: true },
  };
  return new TextEncoder().encode(JSON.stringify(header));
}

/** The header, then the bytes of each input sent inline, in the order the header lists them. */
function requestBody(header: Uint8Array, inputs: readonly InferInput[], refs: ReadonlyMap<string, string>): Uint8Array {
  const inline = inputs.filter((i) => !refs.has(i.name)).map((i) => i.tensor.data);
  const body = new Uint8Array(inline.reduce((sum, d) => sum + d.byteLength, header.byteLength));
  body.set(header, 0);
  let offset = header.byteLength;
  for (const data of inline) {
    body.set(data, offset);
    offset += data.byteLength;
  }
  return body;
}

/** Uploads an input's bytes through a presigned URL (progress on stderr); the payload id naming them. */
async function uploadPayload(api: Api, io: CliIo, model: string, input: InferInput): Promise<string> {
  const { data } = input.tensor;
  const ticket = (await api.call('POST', `/v1/models/${encodeURIComponent(model)}/payloads`, { bytes: data.byteLength })) as
    | Partial<PayloadTicket>
    | undefined;
  if (typeof ticket?.payloadId !== 'string' || typeof ticket.url !== 'string')
    throw new ApiError('POST /v1/models/{model}/payloads answered without a payloadId and a url.');
  io.err(
    `Input ${input.name} is ${formatBytes(data.byteLength)}: too large for Lambda's 6 MB inline, so it is uploaded first and sent by reference.\n`,
  );
  await putFile(io, { url: ticket.url, method: ticket.method ?? 'PUT', headers: ticket.headers ?? {} }, input.name, {
    size: data.byteLength,
    stream: async function* () {
      yield data;
    },
  });
  return ticket.payloadId;
}

/** The API's answer was not the inference answer it should be; says what is wrong. */
function badReply(message: string): ApiError {
  return new ApiError(`The inference answer cannot be read: ${message}`);
}

/**
 * Reads an inference answer: binary (`application/octet-stream`: a JSON header of
 * `Inference-Header-Content-Length` bytes, then each output's bytes in order) or JSON. Each
 * output comes with `parameters.binary_data_size` (its bytes are in the body), with
 * `parameters.data_url` (downloaded from there with `fetchFn`, no token sent: the URL is
 * presigned; its length checked against `data_bytes` or `binary_data_size` when given), or with
 * `data` (JSON values). Every output is checked against its shape, and the
 * body must hold nothing after the last output's bytes.
 */
export async function readInferReply(response: Response, fetchFn: typeof fetch): Promise<InferReply> {
  const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  const body = new Uint8Array(await response.arrayBuffer());
  let headerLength = body.byteLength;
  if (type === 'application/octet-stream') {
    const announced = response.headers.get('inference-header-content-length');
    if (announced === null || !/^[0-9]{1,10}$/.test(announced.trim()))
      throw badReply('it is binary but has no Inference-Header-Content-Length header.');
    headerLength = Number(announced.trim());
    if (headerLength > body.byteLength)
      throw badReply(`its header is announced as ${headerLength} bytes, but the body has ${body.byteLength}.`);
  } else if (type !== 'application/json')
    throw badReply(`its Content-Type is ${shown(type ?? '')}, neither application/json nor application/octet-stream.`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(0, headerLength)));
  } catch {
    throw badReply('its header is not JSON.');
  }
  if (header === null || typeof header !== 'object' || !Array.isArray((header as { outputs?: unknown }).outputs))
    throw badReply('it has no "outputs" list.');
  const { outputs: entries, ...rest } = header as { outputs: unknown[] };
  let offset = headerLength;
  const outputs: InferOutput[] = [];
  for (const [i, entry] of entries.entries()) {
    if (entry === null || typeof entry !== 'object') throw badReply(`output ${i} is not an object.`);
    const { name, datatype, shape, data, parameters } = entry as Record<string, unknown>;
    if (typeof name !== 'string') throw badReply(`output ${i} has no name.`);
    if (!isWireDatatype(datatype))
      throw badReply(`output ${shown(name)} has the datatype ${shown(String(datatype))}, which modelctl cannot read.`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
      throw badReply(`output ${shown(name)} has no shape of whole numbers.`);
    const params =
      parameters !== null && typeof parameters === 'object' && !Array.isArray(parameters)
        ? (parameters as Record<string, unknown>)
        : undefined;
    const size = params?.['binary_data_size'];
    const url = params?.['data_url'];
    let bytes: Uint8Array;
    if (typeof url === 'string') {
      bytes = await downloadOutput(fetchFn, name, url);
      const announced = params?.['data_bytes'] ?? size;
      if (typeof announced === 'number' && announced !== bytes.byteLength)
        throw badReply(`output ${shown(name)} is announced as ${announced} bytes; its download has ${bytes.byteLength}.`);
    } else if (typeof size === 'number') {
      if (!Number.isSafeInteger(size) || size < 0 || size > body.byteLength - offset) {
        throw badReply(`output ${shown(name)} is announced as ${size} bytes, but ${body.byteLength - offset} are left in the body.`);
      }
      bytes = body.subarray(offset, offset + size);
      offset += size;
    } else if (Array.isArray(data)) {
      try {
        bytes = jsonToRaw(datatype, nestedToFlat(data).values);
      } catch (error) {
        if (error instanceof TensorBytesError) throw badReply(`output ${shown(name)}: ${error.message}`);
        throw error;
      }
    } else throw badReply(`output ${shown(name)} has neither data, binary_data_size nor data_url.`);
    const output: InferOutput = {
      name,
      datatype,
      shape: shape as number[],
      data: bytes,
      ...(params === undefined ? {} : { parameters: params }),
    };
    try {
      checkRawTensor(output);
    } catch (error) {
      if (error instanceof TensorBytesError) throw badReply(`output ${shown(name)}: ${error.message}`);
      throw error;
    }
    outputs.push(output);
  }
  if (offset !== body.byteLength) throw badReply(`${body.byteLength - offset} bytes follow the last output's.`);
  return { header: rest, outputs };
}

/** An output the API left in S3: its raw bytes from the presigned URL. */
async function downloadOutput(fetchFn: typeof fetch, name: string, url: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetchFn(url);
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new ApiError(`Cannot download output ${shown(name)} from ${new URL(url).origin}${cause}.`);
  }
  if (!response.ok) throw new ApiError(`The download of output ${shown(name)} was refused: ${await s3Refusal(response)}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * A file name for each output, `<name>.npy`: characters other than letters, digits, `.`, `_`
 * and `-` become `_` (a name from the API never leaves the folder), and names that would meet
 * (on a case-insensitive file system too) get `-2`, `-3`, ...
 */
export function outputFileNames(names: readonly string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    let base = name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200);
    if (/^\.*$/.test(base)) base = `output${base.length > 0 ? '_' : ''}`;
    let candidate = base;
    for (let n = 2; used.has(candidate.toLowerCase()); n += 1) candidate = `${base}-${n}`;
    used.add(candidate.toLowerCase());
    return `${candidate}.npy`;
  });
}

/** One element as the summary shows it: numbers and words as they are, strings quoted and cut. */
function summaryValue(datatype: WireDatatype, value: string | number | boolean): string {
  if (datatype !== 'BYTES' || typeof value !== 'string') return String(value);
  return JSON.stringify(value.length > SUMMARY_STRING_CHARS ? `${value.slice(0, SUMMARY_STRING_CHARS)}…` : value);
}

/**
 * `infer`'s summary, an output a line (its first values, and the file it was written to):
 *
 *     segmenter v1 (request 6f1c…)
 *       mask  FP32  [1, 1, 512, 512]  0.25, 0.5, 0.75, 1, 0, 0, 0, 0, …  -> out/mask.npy
 */
export function inferSummary(reply: InferReply, files?: readonly string[]): string {
  const { model_name: name, model_version: version, id } = reply.header;
  const head = `${typeof name === 'string' ? name : 'model'}${typeof version === 'string' ? ` v${version}` : ''}${typeof id === 'string' ? ` (request ${id})` : ''}`;
  const rows = reply.outputs.map((output, i) => {
    const values = rawToJson(output, SUMMARY_VALUES).map((v) => summaryValue(output.datatype, v));
    const more = values.length < elementCount(output.shape) ? ', …' : '';
    return [
      output.name,
      output.datatype,
      `[${output.shape.join(', ')}]`,
      `${values.join(', ')}${more}`,
      files?.[i] === undefined ? '' : `-> ${files[i]}`,
    ];
  });
  const widths = [0, 1, 2].map((c) => Math.max(0, ...rows.map((r) => (r[c] ?? '').length)));
  const lines = rows.map((r) =>
    clean(
      r
        .map((cell, c) => (c < 3 ? cell.padEnd(widths[c] ?? 0) : cell))
        .join('  ')
        .trimEnd(),
    ),
  );
  return `${[clean(head), ...lines.map((l) => `  ${l}`)].join('\n')}\n`;
}

/** `infer --json`: the answer's header with each output's values as JSON `data`. */
function replyJson(reply: InferReply): Record<string, unknown> {
  return {
    ...reply.header,
    outputs: reply.outputs.map((output) => {
      const {
        binary_data_size: _size,
        data_url: _url,
        data_bytes: _bytes,
        data_expires_at: _expires,
        binary_data: _binary,
        ...parameters
      } = output.parameters ?? {};
      return {
        name: output.name,
        datatype: output.datatype,
        shape: output.shape,
        ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
        data: rawToJson(output),
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// modelctl batch
// ---------------------------------------------------------------------------------------------

/** `GET /v1/models/{model}/batch-jobs/{job}` as the API answers it. */
export interface JobReply {
  readonly job: BatchJob;
  /** Presigned GET URLs of the job's files, once it has ended SUCCEEDED or FAILED. */
  readonly links?: JobFiles<string>;
}

/** Something for each of a job's result files. */
export interface JobFiles<T> {
  readonly predictions: T;
  readonly errors: T;
  readonly manifest: T;
}

const RESULT_FILES = ['predictions', 'errors', 'manifest'] as const;

/** `POST /v1/models/{model}/batch-inputs`: where to PUT a file, and the input URI it then has. */
interface InputUpload {
  readonly uploadUrl: string;
  readonly uri: string;
  readonly expiresAt: string;
}

type BatchCommand = 'submit' | 'run' | 'status' | 'wait' | 'cancel' | 'list';

/** The options each batch command takes; any other is a usage error. */
const BATCH_FLAGS: Readonly<Record<BatchCommand, readonly (keyof Flags)[]>> = {
  submit: [
    'input',
    'output',
    'format',
    'version',
    'rows-per-batch',
    'max-concurrency',
    'tolerate',
    'client-token',
    'wait',
    'interval',
    'timeout',
    'json',
  ],
  run: [
    'format',
    'output',
    'output-dir',
    'version',
    'rows-per-batch',
    'max-concurrency',
    'tolerate',
    'client-token',
    'interval',
    'timeout',
  ],
  status: ['json'],
  wait: ['interval', 'timeout'],
  cancel: ['reason'],
  list: ['state', 'limit', 'json'],
};

/** Off a terminal, waiting writes a line per change of the job at most this often. */
const JOB_LINE_EVERY_MS = 5_000;
/** The largest object S3 takes in one PUT, which a presigned upload is. */
const MAX_PUT_BYTES = 5 * 1024 ** 3;
/** Characters of a model name on the progress bar. */
const BAR_LABEL_CHARS = 24;

/** How long to wait for a job, and how often to read it (milliseconds). */
interface WaitOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number | undefined;
}

function jobsPath(model: string): string {
  return `/v1/models/${encodeURIComponent(model)}/batch-jobs`;
}

function jobPath(model: string, jobId: string): string {
  return `${jobsPath(model)}/${encodeURIComponent(jobId)}`;
}

/**
 * The command of a group (`batch submit`, `experiment start`, ...) that `args` start with, and
 * the arguments after it; a usage error when it is missing or unknown, or when an option is
 * given that it does not take (`allowed`: each command's options).
 */
function groupCommand<C extends string>(
  group: CommandGroup,
  allowed: Readonly<Record<C, readonly (keyof Flags)[]>>,
  args: readonly string[],
  flags: Flags,
): { command: C; rest: string[] } {
  const [name, ...rest] = args;
  if (name === undefined) throw new UsageError(`"${group.name}" takes a command: ${group.commands.map((c) => c.name).join(', ')}.`);
  if (!Object.hasOwn(allowed, name)) throw new UsageError(`Unknown ${group.name} command ${shown(name)}.`);
  const command = name as C;
  const foreign = API_FLAGS.filter((flag) => flags[flag] !== undefined && !allowed[command].includes(flag));
  if (foreign.length > 0) throw new UsageError(`"${group.name} ${command}" does not take ${foreign.map((f) => `--${f}`).join(', ')}.`);
  return { command, rest };
}

/** The arguments of a group's command, when there are as many as `names`; else a usage error listing them. */
function groupArgs(group: string, command: string, rest: readonly string[], names: readonly string[]): string[] {
  if (rest.length !== names.length) throw new UsageError(`"${group} ${command}" takes ${names.join(' ')}.`);
  return [...rest];
}

/** `modelctl batch <command>`. */
async function batch(args: readonly string[], flags: Flags, api: Api, io: CliIo): Promise<unknown> {
  const { command, rest } = groupCommand<BatchCommand>(BATCH_GROUP, BATCH_FLAGS, args, flags);
  const need = (names: readonly string[]): string[] => groupArgs('batch', command, rest, names);
  switch (command) {
    case 'submit': {
      const [model = ''] = need(['<model>']);
      if (flags.input === undefined || flags.output === undefined) {
        throw new UsageError('"batch submit" needs --input s3://BUCKET/KEY (or a prefix ending in "/") and --output s3://BUCKET/PREFIX/.');
      }
      if (flags.input.length > 1)
        throw new UsageError('"batch submit" takes one --input (a prefix ending in "/" reads every object under it).');
      if (!flags.wait && (flags.interval !== undefined || flags.timeout !== undefined))
        throw new UsageError('--interval and --timeout go with --wait.');
      const waiting = flags.wait ? waitOptions(flags) : undefined;
      const format = formatArg(flags.format);
      const body = {
        input: { uri: s3Arg(flags.input[0] as string, '--input'), ...(format === undefined ? {} : { format }) },
        output: { uri: s3Arg(flags.output, '--output') },
        ...jobOptions(flags),
      };
      const { status, json } = await api.request('POST', jobsPath(model), body);
      const { job } = json as { job: BatchJob };
      if (!waiting) {
        if (flags.json) return json;
        io.out(submittedLines(job, status === 200));
        return PRINTED;
      }
      if (!flags.json) io.out(submittedLines(job, status === 200));
      return new Exit(await waitAndReport(api, io, model, job.jobId, waiting, flags.json === true));
    }
    case 'run': {
      const [model = '', file = ''] = need(['<model>', '<file>']);
      return new Exit(await runFile(api, io, model, file, flags));
    }
    case 'status': {
      const [model = '', jobId = ''] = need(['<model>', '<job>']);
      const reply = (await api.call('GET', jobPath(model, jobId))) as JobReply;
      if (flags.json) return reply;
      io.out(jobLines(reply));
      return PRINTED;
    }
    case 'wait': {
      const [model = '', jobId = ''] = need(['<model>', '<job>']);
      return new Exit(await waitAndReport(api, io, model, jobId, waitOptions(flags), false));
    }
    case 'cancel': {
      const [model = '', jobId = ''] = need(['<model>', '<job>']);
      const { job } = (await api.call(
        'POST',
        `${jobPath(model, jobId)}/cancel`,
        flags.reason === undefined ? {} : { reason: flags.reason },
      )) as { job: BatchJob };
      io.out(jobLines({ job }));
      return PRINTED;
    }
    case 'list': {
      const [model = ''] = need(['<model>']);
      const state = flags.state?.toUpperCase();
      if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state))
        throw new UsageError(`--state is one of ${JOB_STATES.join(', ')}.`);
      const query = new URLSearchParams({
        ...(flags.limit === undefined ? {} : { limit: flags.limit }),
        ...(state === undefined ? {} : { state }),
      }).toString();
      const page = (await api.call('GET', `${jobsPath(model)}${query ? `?${query}` : ''}`)) as { jobs: BatchJob[]; cursor?: string };
      if (flags.json) return page;
      io.out(
        page.jobs.length === 0
          ? `No batch jobs of model ${shown(model)}${state === undefined ? '' : ` in state ${state}`}.\n`
          : jobsTable(page.jobs),
      );
      if (page.cursor) io.err('(more jobs follow: raise --limit, at most 100, or narrow with --state)\n');
      return PRINTED;
    }
  }
}

/** A value of the caller's in a message: quoted, at most 40 characters. */
function shown(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** Control characters of text the API relays (messages with excerpts of input) shown as `?`. */
function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, '?');
}

function formatArg(value: string | undefined): BatchFormat | undefined {
  if (value === undefined) return undefined;
  if (!(BATCH_FORMATS as readonly string[]).includes(value))
    throw new UsageError(`--format is one of ${BATCH_FORMATS.join(', ')}, not ${shown(value)}.`);
  return value as BatchFormat;
}

/** An S3 URI option; the API judges the rest (its form, and whether the model may use it). */
function s3Arg(value: string, name: string): string {
  if (!value.startsWith('s3://')) throw new UsageError(`${name} is an S3 URI (s3://BUCKET/KEY), not ${shown(value)}.`);
  return value;
}

/** A whole number from 1 (the API bounds it further, and says so). */
function wholeArg(value: string, name: string): number {
  if (!/^[0-9]{1,9}$/.test(value) || Number(value) < 1) throw new UsageError(`${name} is a whole number from 1, not ${shown(value)}.`);
  return Number(value);
}

/** The job options of `batch submit` and `batch run`, as the body's fields. */
function jobOptions(flags: Flags): Record<string, unknown> {
  const tolerate = flags.tolerate;
  let tolerated: number | undefined;
  if (tolerate !== undefined) {
    tolerated = /^[0-9]{1,3}(\.[0-9]{1,6})?%?$/.test(tolerate) ? Number(tolerate.replace(/%$/, '')) : Number.NaN;
    if (!(tolerated >= 0 && tolerated <= 100))
      throw new UsageError(`--tolerate is a percent of the rows from 0 to 100, not ${shown(tolerate)}.`);
  }
  return {
    ...(flags.version === undefined ? {} : { version: flags.version }),
    ...(flags['rows-per-batch'] === undefined ? {} : { rowsPerBatch: wholeArg(flags['rows-per-batch'], '--rows-per-batch') }),
    ...(flags['max-concurrency'] === undefined ? {} : { maxConcurrency: wholeArg(flags['max-concurrency'], '--max-concurrency') }),
    ...(tolerated === undefined ? {} : { toleratedFailurePercentage: tolerated }),
    ...(flags['client-token'] === undefined ? {} : { clientToken: flags['client-token'] }),
  };
}

/** `--interval SECONDS` (at least 0.1, default 2) and `--timeout SECONDS` (0 or more, default none). */
function waitOptions(flags: Flags): WaitOptions {
  const seconds = (value: string, name: string, min: number): number => {
    const number = /^[0-9]{1,7}(\.[0-9]{1,3})?$/.test(value) ? Number(value) : Number.NaN;
    if (!(number >= min)) throw new UsageError(`${name} is a number of seconds from ${min}, not ${shown(value)}.`);
    return number * 1_000;
  };
  return {
    intervalMs: flags.interval === undefined ? DEFAULT_JOB_POLL_SECONDS * 1_000 : seconds(flags.interval, '--interval', 0.1),
    timeoutMs: flags.timeout === undefined ? undefined : seconds(flags.timeout, '--timeout', 0),
  };
}

/** Answers worth reading again while waiting: the API unreachable, throttled or briefly unavailable. */
function transient(error: unknown): error is ApiError {
  return error instanceof UnreachableError || (error instanceof ApiError && [429, 502, 503, 504].includes(error.status ?? 0));
}

/**
 * Reads the job every `intervalMs` until it ends (`ended: true`), `timeoutMs` passes or
 * `io.signal` aborts, drawing its progress on stderr. An unreachable, throttled or unavailable
 * API is read again (said once); any other refusal is thrown.
 */
async function waitForJob(
  api: Api,
  io: CliIo,
  model: string,
  jobId: string,
  options: WaitOptions,
): Promise<{ reply: JobReply; ended: boolean }> {
  const now = io.now ?? Date.now;
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : now() + options.timeoutMs;
  const label = model.length > BAR_LABEL_CHARS ? `${model.slice(0, BAR_LABEL_CHARS - 1)}…` : model;
  // Made on the first answer: what it counts (rows, or a replay's requests) comes with the job.
  let progress: Progress | undefined;
  let reply: JobReply | undefined;
  let failing: ApiError | undefined;
  try {
    for (;;) {
      try {
        reply = (await api.call('GET', jobPath(model, jobId))) as JobReply;
        failing = undefined;
        const { job } = reply;
        progress ??= new Progress(io, label, undefined, { unit: jobUnit(job), lineEveryMs: JOB_LINE_EVERY_MS, now });
        progress.update(job.progress.rowsRead, job.rows, job.state);
        if (FINAL_STATES.includes(job.state)) return { reply, ended: true };
      } catch (error) {
        if (!transient(error)) throw error;
        if (!failing) {
          progress?.interrupt();
          io.err(`${error.message} Still waiting; reading the job again every ${options.intervalMs / 1_000} s.\n`);
        }
        failing = error;
      }
      const left = deadline - now();
      if (left <= 0 || io.signal?.aborted) {
        if (!reply) throw failing ?? new ApiError(`Job ${jobId} could not be read.`);
        return { reply, ended: false };
      }
      await pause(Math.min(options.intervalMs, left), io.signal);
    }
  } finally {
    progress?.finish();
  }
}

/** `batch wait` (and `batch submit --wait`): waits, prints the job (or its JSON), says how it ended; the exit code. */
async function waitAndReport(api: Api, io: CliIo, model: string, jobId: string, options: WaitOptions, json: boolean): Promise<number> {
  io.err(
    `Waiting for job ${jobId} of ${model}${options.timeoutMs === undefined ? '' : ` for at most ${options.timeoutMs / 1_000} s`} (Ctrl+C stops waiting, not the job).\n`,
  );
  const { reply, ended } = await waitForJob(api, io, model, jobId, options);
  io.out(json ? `${JSON.stringify(reply, null, 2)}\n` : jobLines(reply));
  return verdict(io, reply.job, ended, options);
}

/**
 * How waiting ended, on stderr unless the job succeeded, as the exit code: 0 SUCCEEDED, 1 FAILED
 * or CANCELLED (with the reason), 2 still running when the wait stopped.
 */
function verdict(io: CliIo, job: BatchJob, ended: boolean, options: WaitOptions): number {
  if (!ended) {
    const why =
      io.signal?.aborted || options.timeoutMs === undefined
        ? 'Stopped waiting'
        : `Stopped waiting after ${options.timeoutMs / 1_000} s (--timeout)`;
    io.err(`${why}: job ${job.jobId} is ${job.state} and keeps running. Wait again: modelctl batch wait ${job.model} ${job.jobId}\n`);
    return 2;
  }
  if (job.state === 'SUCCEEDED') return 0;
  const reason = job.failure ? `${job.failure.code}: ${clean(job.failure.message)}` : 'no reason recorded';
  io.err(`Job ${job.jobId} ${job.state === 'CANCELLED' ? 'was CANCELLED' : 'FAILED'}: ${reason}\n`);
  return 1;
}

/**
 * The file name a local file is uploaded as: the API takes 1-200 of letters, digits, `.`, `_`
 * and `-`; others become `_`, and the extension (which tells the format) is kept.
 */
export function uploadName(base: string): string {
  const safe = base.replace(/[^A-Za-z0-9._-]/g, '_');
  const extension = path.extname(safe).slice(0, 20);
  const name = safe.length > 200 ? `${safe.slice(0, 200 - extension.length)}${extension}` : safe;
  return name === '' || name === '.' || name === '..' ? `input${extension}` : name;
}

/**
 * Where `batch run` puts the job's folder when `--output` is not given: in the location the API
 * uploaded the file to. The API uploads to the model's first batch input location, as
 * `<location>uploads/<id>/<file>`; the output is `<location>results/`. That is an allowed output
 * wherever the location is allowed for outputs too, as locally (`s3://onnx-batch/` for every
 * model); where inputs and outputs are apart, `--output` names an allowed output location.
 */
export function resultsLocation(uploadUri: string): string {
  const match = /^(s3:\/\/[^/]+\/(?:.*\/)?)uploads\/[^/]+\/[^/]+$/.exec(uploadUri);
  if (!match)
    throw new ApiError(
      `The API placed the upload at ${clean(uploadUri)}, not at <location>uploads/<id>/<file>; give --output s3://BUCKET/PREFIX/.`,
    );
  return `${match[1]}results/`;
}

/** Where `batch run` downloads the job's files: beside the input (`<file>.predictions.jsonl`, ...), or into `dir`. */
function resultPaths(file: string, dir: string | undefined): JobFiles<string> {
  if (dir !== undefined)
    return {
      predictions: path.join(dir, 'predictions.jsonl'),
      errors: path.join(dir, 'errors.jsonl'),
      manifest: path.join(dir, 'manifest.json'),
    };
  return { predictions: `${file}.predictions.jsonl`, errors: `${file}.errors.jsonl`, manifest: `${file}.manifest.json` };
}

/**
 * `batch run`: uploads a local file, submits a job over it, waits, downloads its files; the exit
 * code as `batch wait`'s. Every option is checked before the upload.
 */
async function runFile(api: Api, io: CliIo, model: string, file: string, flags: Flags): Promise<number> {
  const waiting = waitOptions(flags);
  const givenOutput = flags.output === undefined ? undefined : s3Arg(flags.output, '--output');
  const options = jobOptions(flags);
  const targets = resultPaths(file, flags['output-dir']);
  // What can be told of the file here is told before anything is uploaded.
  let opened: OpenedFile;
  try {
    opened = await openFile(io, file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`no file at ${file}.`);
    if (code === 'EISDIR')
      throw new Error(`${file} is a directory; give one file (or put the files in S3 under one prefix and use "modelctl batch submit").`);
    throw error;
  }
  if (opened.size === 0) throw new Error(`${file} is empty: there is nothing to predict.`);
  const fileName = uploadName(path.basename(file));
  const format = formatArg(flags.format) ?? formatOfKey(fileName);
  if (format === undefined)
    throw new UsageError(
      `Cannot tell the format of ${shown(path.basename(file))} from its extension; give --format ${BATCH_FORMATS.join('|')}.`,
    );
  if (opened.size > MAX_PUT_BYTES) {
    throw new ApiError(
      `${file} is ${formatBytes(opened.size)}; one upload takes at most 5 GB. Put it in S3 in parts (aws s3 cp), then "modelctl batch submit".`,
    );
  }

  const ticket = (await api.call('POST', `/v1/models/${encodeURIComponent(model)}/batch-inputs`, { fileName })) as InputUpload;
  await putFile(io, { url: ticket.uploadUrl, method: 'PUT', headers: {} }, file, opened);
  io.err(`Uploaded ${file} to ${ticket.uri}\n`);
  const output = givenOutput ?? resultsLocation(ticket.uri);
  let job: BatchJob;
  try {
    ({ job } = (await api.call('POST', jobsPath(model), { input: { uri: ticket.uri, format }, output: { uri: output }, ...options })) as {
      job: BatchJob;
    });
  } catch (error) {
    if (givenOutput !== undefined || !(error instanceof ApiError) || error.status !== 403) throw error;
    throw new ApiError(
      `${error.message}\n"batch run" put the output beside the upload, at ${output}; give --output with an output location the model may use.`,
      error.status,
    );
  }
  io.err(`Submitted job ${job.jobId} (${job.model} v${job.modelVersion}); its files go to ${job.output.uri}\n`);

  const { reply, ended } = await waitForJob(api, io, model, job.jobId, waiting);
  const downloaded = ended && reply.links ? await download(io, reply.links, targets) : undefined;
  io.out(runSummary(reply.job, downloaded));
  return verdict(io, reply.job, ended, waiting);
}

/** Downloads each of the job's files to its path; a file the job did not write (404) is `undefined`. */
async function download(io: CliIo, links: JobFiles<string>, targets: JobFiles<string>): Promise<JobFiles<string | undefined>> {
  const write = io.writeFile ?? writeWhole;
  const result: Partial<Record<keyof JobFiles<string>, string | undefined>> = {};
  for (const name of RESULT_FILES) {
    let response: Response;
    try {
      response = await io.fetch(links[name]);
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      throw new ApiError(`Cannot download the job's ${name} from ${new URL(links[name]).origin}${cause}.`);
    }
    if (response.status === 404) {
      await response.arrayBuffer();
      result[name] = undefined;
      continue;
    }
    if (!response.ok || !response.body) throw new ApiError(`The download of the job's ${name} was refused: ${await s3Refusal(response)}`);
    await write(targets[name], chunksOf(response.body));
    result[name] = targets[name];
  }
  return { predictions: result.predictions, errors: result.errors, manifest: result.manifest };
}

async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Writes a file whole or not at all: into `<path>.part`, renamed once complete. */
async function writeWhole(file: string, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const part = `${file}.part`;
  try {
    await pipeline(Readable.from(chunks), createWriteStream(part));
    await rename(part, file);
  } catch (error) {
    await rm(part, { force: true });
    throw error;
  }
}

/** `batch run`'s result: how the job ended, its counts, where its files are. */
function runSummary(job: BatchJob, files: JobFiles<string | undefined> | undefined): string {
  const { rowsRead, predicted, failed } = job.progress;
  const rows = job.rows === undefined ? `${rowsRead} rows read` : `${job.rows} rows`;
  const head = `Job ${job.jobId} of ${job.model} v${job.modelVersion} ${job.state}: ${rows}, ${predicted} predicted, ${failed} failed.`;
  if (!files) {
    const why = FINAL_STATES.includes(job.state) ? 'a cancelled job has no result files' : 'the job has not ended';
    return `${head}\nNothing downloaded: ${why}.\n`;
  }
  const lines = RESULT_FILES.map(
    (name) => `  ${name.padEnd(12)} ${files[name] ?? '(not written: the job failed before assembling its results)'}`,
  );
  return `${[head, ...lines].join('\n')}\n`;
}

/** `batch submit`'s answer: the job's id and state, where it reads and writes, how to follow it. */
function submittedLines(job: BatchJob, existing: boolean): string {
  const head = existing
    ? `Job ${job.jobId} was submitted before with this client token: ${job.state}`
    : `Submitted job ${job.jobId}: ${job.state}`;
  return [
    head,
    `  model   ${job.model} v${job.modelVersion}`,
    `  input   ${clean(inputSummary(job))}`,
    `  output  ${clean(job.output.uri)}`,
    `Follow it: modelctl batch wait ${job.model} ${job.jobId}`,
    '',
  ].join('\n');
}

function inputSummary(job: BatchJob): string {
  const files = job.input.files;
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  return `${job.input.uri} (${job.input.format}, ${files.length} ${files.length === 1 ? 'file' : 'files'}, ${formatBytes(bytes)})`;
}

/** What a job's progress (`rowsRead`, `rows`) counts: rows, or a replay's captured requests. */
function jobUnit(job: Pick<BatchJob, 'input'>): 'rows' | 'requests' {
  return job.input.format === 'capture' ? 'requests' : 'rows';
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

function duration(fromIso: string, toIso: string): string {
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  if (!Number.isFinite(ms)) return '';
  if (ms < 120_000) return ` (${(ms / 1_000).toFixed(1)} s)`;
  return ` (${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s)`;
}

/**
 * `batch status` (and the end of `batch wait`): the job, a field a line.
 *
 *     Job job-20261130t120501z-7f3k9q2m1x: FAILED
 *       model        iris v1
 *       rows         150 read of 150 (100%)
 *       predicted    140
 *       failed       10
 *       ...
 *       reason       ROW_FAILURES: 10 of 150 rows (6.67%) failed; the job tolerates 0%.
 *       error sample (10 of 10 failed rows):
 *         row 3, line 5: WRONG_TYPE: "wide" is not a number (at petal_length_cm)
 */
export function jobLines(reply: JobReply): string {
  const { job } = reply;
  const { rowsRead, predicted, failed } = job.progress;
  // A replay's progress counts captured requests (one capture record each, whatever rows it holds).
  const replay = job.input.format === 'capture';
  const unit = jobUnit(job);
  const rows =
    job.rows === undefined
      ? `${rowsRead} read (the total is known once the job is planned)`
      : `${rowsRead} read of ${job.rows}${job.rows > 0 ? ` (${Math.floor((rowsRead / job.rows) * 100)}%)` : ''}`;
  const { rowsPerBatch, maxConcurrency, toleratedFailurePercentage } = job.options;
  const fields: [string, string][] = [
    ['model', `${job.model} v${job.modelVersion}`],
    [unit, rows],
    [replay ? 'compared' : 'predicted', String(predicted)],
    [replay ? 'unreplayable' : 'failed', String(failed)],
    ['submitted', `${job.submittedAt} by ${job.submittedBy}`],
    ['started', job.startedAt ?? '-'],
    ['ended', job.endedAt === undefined ? '-' : `${job.endedAt}${job.startedAt === undefined ? '' : duration(job.startedAt, job.endedAt)}`],
    ['input', inputSummary(job)],
    ...(job.input.ignoredColumns.length > 0
      ? [
          [
            'ignored',
            `${job.input.ignoredColumns.join(', ')}${job.input.ignoredColumnCount > job.input.ignoredColumns.length ? ` and ${job.input.ignoredColumnCount - job.input.ignoredColumns.length} more` : ''} (columns the model does not take)`,
          ] as [string, string],
        ]
      : []),
    ['output', job.output.uri],
    ['predictions', job.output.predictions],
    ['errors', job.output.errors],
    ['manifest', job.output.manifest],
    [
      'options',
      `${plural(rowsPerBatch, unit.slice(0, -1))} per batch, at most ${plural(maxConcurrency, 'batch', 'batches')} at once, ${toleratedFailurePercentage}% of the ${unit} may fail`,
    ],
    ...(reply.links ? [['downloads', `presigned links: modelctl batch status ${job.model} ${job.jobId} --json`] as [string, string]] : []),
    ...(job.failure ? [['reason', `${job.failure.code}: ${job.failure.message}`] as [string, string]] : []),
  ];
  const lines = [`Job ${job.jobId}: ${job.state}`, ...fields.map(([name, value]) => `  ${name.padEnd(12)} ${clean(value)}`)];
  const sample = job.failure?.errorSample ?? [];
  if (sample.length > 0) {
    lines.push(`  error sample (${sample.length} of ${failed} failed ${unit}):`);
    for (const error of sample) {
      // The file is named when the input is several files.
      const file = error.file !== undefined && job.input.files.length > 1 ? ` of ${error.file}` : '';
      const where = error.line === undefined ? file : `, line ${error.line}${file}`;
      const at = error.path.length > 0 ? ` (at ${error.path.join('.')})` : '';
      lines.push(`    ${clean(`row ${error.row}${where}: ${error.code}: ${error.message}${at}`)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `batch list` as a table, newest first:
 *
 *     ID                                  STATE      VERSION  ROWS  PREDICTED  FAILED  SUBMITTED
 *     job-20261130t120501z-7f3k9q2m1x     SUCCEEDED  1        150   150        0       2026-11-30T12:05:01.000Z
 */
export function jobsTable(jobs: readonly BatchJob[]): string {
  const header = ['ID', 'STATE', 'VERSION', 'ROWS', 'PREDICTED', 'FAILED', 'SUBMITTED'];
  const rows = jobs.map((job) =>
    [
      job.jobId,
      job.state,
      job.modelVersion,
      job.rows === undefined ? '-' : String(job.rows),
      String(job.progress.predicted),
      String(job.progress.failed),
      job.submittedAt,
    ].map(clean),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

interface OpenedFile {
  readonly size: number;
  stream(): AsyncIterable<Uint8Array>;
}

async function openFile(io: CliIo, file: string): Promise<OpenedFile> {
  if (io.openFile) return io.openFile(file);
  const bytes = await io.readFile(file);
  return {
    size: bytes.byteLength,
    stream: async function* () {
      yield bytes;
    },
  };
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
  await putFile(io, { url: ticket.url, method: ticket.method, headers: ticket.headers }, file, opened);
  return ticket.uploadId;
}

/**
 * Streams a file to a presigned URL (S3 answers a refusal in XML), drawing progress on stderr:
 * the bytes are pulled from the file as the connection takes them, never held whole.
 */
async function putFile(
  io: CliIo,
  target: { url: string; method: string; headers: Record<string, string> },
  file: string,
  opened: OpenedFile,
): Promise<void> {
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
    response = await io.fetch(target.url, {
      method: target.method,
      // S3 takes no chunked uploads: the length goes first, the bytes stream behind it.
      headers: { ...target.headers, 'content-length': String(opened.size) },
      body,
      duplex: 'half',
    } as RequestInit);
  } catch (error) {
    progress.abort();
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new ApiError(`Cannot upload to ${new URL(target.url).origin}${cause}.`);
  }
  if (!response.ok) {
    progress.abort();
    throw new ApiError(`The upload was refused: ${await s3Refusal(response)}`);
  }
  await response.arrayBuffer();
}

/** `403 AccessDenied: Request has expired` from S3's XML error body. */
async function s3Refusal(response: Response): Promise<string> {
  const text = await response.text();
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? 'ERROR';
  const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? text.slice(0, 200);
  return `${response.status} ${code}: ${message}`;
}

const BAR_WIDTH = 30;

/** How a {@link Progress} counts and reports off a terminal. */
export interface ProgressOptions {
  /** What is counted: bytes (an upload, which ends with its last byte), rows (a batch job) or requests (a replay). @default 'bytes' */
  readonly unit?: 'bytes' | 'rows' | 'requests';
  /**
   * Off a terminal: a line whenever what is shown changes, at most one per `lineEveryMs` (a
   * batch job: its total arrives late, its state matters); without it, one line per quarter.
   */
  readonly lineEveryMs?: number;
  /** Milliseconds, for `lineEveryMs`. @default Date.now */
  readonly now?: () => number;
}

/**
 * Progress on stderr: on a terminal one bar redrawn in place
 * (`model.onnx [#######.......] 25%  1.2 MB / 4.8 MB`, `iris [###....]  10%  15 / 150 rows  RUNNING`);
 * otherwise (logs, CI) one line per quarter (`Uploading model.onnx: 25% (...)`), or with
 * `lineEveryMs` one line per change at most that often (`iris: 15 / 150 rows (10%)  RUNNING`).
 * The total may be unknown at first (`?%`, `15 rows`), and given with a later update.
 */
export class Progress {
  private lastQuarter = -1;
  /** On a terminal: what the bar shows (the percent of bytes; the whole line of rows), and its width. */
  private lastKey: string | undefined;
  private lastWidth = 0;
  /** Off a terminal, with `lineEveryMs`: the last line written, when, and the newest one not written. */
  private lastLine: string | undefined;
  private lastLineAt = Number.NEGATIVE_INFINITY;
  private pending: string | undefined;
  private finished = false;
  private readonly unit: 'bytes' | 'rows' | 'requests';

  constructor(
    private readonly io: Pick<CliIo, 'err' | 'errIsTTY'>,
    private readonly name: string,
    private total: number | undefined,
    private readonly options: ProgressOptions = {},
  ) {
    this.unit = options.unit ?? 'bytes';
  }

  /** Shows `done` of the total (`total` replaces the one known so far), with `state` after the counts. */
  update(done: number, total: number | undefined = this.total, state?: string): void {
    if (this.finished) return;
    this.total = total;
    const percent = total === undefined ? undefined : total === 0 ? 100 : Math.min(100, Math.floor((done / total) * 100));
    if (this.io.errIsTTY) this.draw(done, percent, state);
    else if (this.options.lineEveryMs === undefined) this.quarterLine(done, percent);
    else this.changeLine(done, percent, state);
    if (this.unit === 'bytes' && percent !== undefined && percent >= 100) this.finish();
  }

  /** Ends the bar's line so that a message starts on a line of its own; later updates draw a new bar. */
  interrupt(): void {
    if (this.io.errIsTTY && this.lastWidth > 0) this.io.err('\n');
    this.lastKey = undefined;
    this.lastWidth = 0;
  }

  /** The end: the bar's line is ended; off a terminal, the newest state not written yet is. */
  finish(): void {
    if (this.finished) return;
    if (this.pending !== undefined) this.io.err(this.pending);
    this.abort();
  }

  /** Ends the bar's line so that an error message starts on a line of its own. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.interrupt();
  }

  private amounts(done: number): string {
    const total = this.total;
    if (this.unit === 'bytes') return total === undefined ? formatBytes(done) : `${formatBytes(done)} / ${formatBytes(total)}`;
    return total === undefined ? `${done} ${this.unit}` : `${done} / ${total} ${this.unit}`;
  }

  private draw(done: number, percent: number | undefined, state: string | undefined): void {
    const filled = percent === undefined ? 0 : Math.round((percent / 100) * BAR_WIDTH);
    const shown = percent === undefined ? '  ?' : String(percent).padStart(3);
    const line = `${this.name} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${shown}%  ${this.amounts(done)}${state ? `  ${state}` : ''}`;
    // Bytes move on every chunk: the bar is redrawn when its percent moves.
    const key = this.unit === 'bytes' ? shown : line;
    if (key === this.lastKey) return;
    this.lastKey = key;
    // A shorter line than the last one blanks the rest of it.
    this.io.err(`\r${line.padEnd(this.lastWidth)}`);
    this.lastWidth = line.length;
  }

  private quarterLine(done: number, percent: number | undefined): void {
    if (percent === undefined) return;
    const quarter = Math.floor(percent / 25);
    if (quarter <= this.lastQuarter || quarter === 0) return;
    this.lastQuarter = quarter;
    const what = this.unit === 'bytes' ? `Uploading ${this.name}` : this.name;
    this.io.err(`${what}: ${quarter * 25}% (${done} of ${this.total} ${this.unit})\n`);
  }

  private changeLine(done: number, percent: number | undefined, state: string | undefined): void {
    const line = `${this.name}: ${this.amounts(done)}${percent === undefined ? '' : ` (${percent}%)`}${state ? `  ${state}` : ''}\n`;
    if (line === this.lastLine) {
      this.pending = undefined;
      return;
    }
    const now = (this.options.now ?? Date.now)();
    if (now - this.lastLineAt < (this.options.lineEveryMs ?? 0)) {
      this.pending = line;
      return;
    }
    this.io.err(line);
    this.lastLine = line;
    this.lastLineAt = now;
    this.pending = undefined;
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

class ApiError extends Error {
  /** The API's answer, when it answered. */
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The API could not be reached at all (no answer, refused connection). */
class UnreachableError extends ApiError {}

class Api {
  constructor(
    private readonly base: string,
    private readonly token: string | undefined,
    private readonly fetchFn: typeof fetch,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    return (await this.request(method, path, body)).json;
  }

  /** The answer's status and JSON body; an answer from 400 up is an `ApiError` with its code and message. */
  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const url = this.url(path);
    const response = await this.fetch(url, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...this.authorization(),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(`${method} ${url} answered ${response.status} with a body that is not JSON.`);
    }
    if (!response.ok) throw refusal(response.status, json, text);
    return { status: response.status, json };
  }

  /**
   * Sends `body` as it is, with `headers` (and the token); the answer unread once its status is
   * below 400. An answer from 400 up is an `ApiError` with its code and message, as `request`'s.
   */
  async send(method: string, path: string, body: Uint8Array, headers: Record<string, string>): Promise<Response> {
    const url = this.url(path);
    const response = await this.fetch(url, { method, headers: { ...headers, ...this.authorization() }, body });
    if (response.ok) return response;
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(`${method} ${url} answered ${response.status} with a body that is not JSON.`, response.status);
    }
    throw refusal(response.status, json, text);
  }

  private url(path: string): string {
    return `${this.base.replace(/\/+$/, '')}${path}`;
  }

  private authorization(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /** `fetch`, with no answer at all an `UnreachableError` that says what to check. */
  private async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchFn(url, init);
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      throw new UnreachableError(`Cannot reach ${url}${cause}. Is the API running (npm start), and is --api right?`);
    }
  }
}

/**
 * An answer from 400 up as `STATUS CODE: message (at path)`, and for a 5xx the request id it is
 * logged under, so it can be found.
 */
function refusal(status: number, json: unknown, text: string): ApiError {
  const reply = json as { error?: { code?: string; message?: string; path?: string }; requestId?: string } | undefined;
  const error = reply?.error;
  const where = error?.path ? ` (at ${error.path})` : '';
  const id = status >= 500 && reply?.requestId ? ` [request id ${reply.requestId}]` : '';
  return new ApiError(`${status} ${error?.code ?? 'ERROR'}: ${error?.message ?? text}${where}${id}`, status);
}
