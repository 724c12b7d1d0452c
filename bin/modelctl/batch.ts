/**
 * `modelctl batch`: jobs that predict every row of CSV, JSON Lines or Parquet files in S3
 * (`submit`, `status`, `wait`, `cancel`, `list`), and a local file end to end (`run`).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { BATCH_FORMATS, JOB_STATES, type BatchFormat, type BatchJob } from '../../functions/core/batch-contract.js';
import { formatOfKey } from '../../functions/core/batch-jobs.js';
import { FILE, FOLDER, ID, S3_URI, TEXT, VERSION, WHOLE, choice, strict } from './args.js';
import { type Call, type Cli, action, apiOptions, command, option, outputOptions } from './command.js';
import { type CliIo, UsageError, clean, formatBytes, shown } from './common.js';
import { ApiError, s3Refusal } from './http.js';
import {
  DEFAULT_JOB_POLL_SECONDS,
  INTERVAL_SECONDS,
  type JobFiles,
  type JobReply,
  RESULT_FILES,
  TIMEOUT_SECONDS,
  jobLines,
  jobPath,
  jobsPath,
  jobsTable,
  runSummary,
  submittedLines,
  verdict,
  waitAndReport,
  waitForJob,
  waitOptions,
} from './jobs.js';
import { modelPath } from './models.js';
import { chunksOf, openFile, putFile, writeWhole } from './uploads.js';

/** The largest object S3 takes in one PUT, which a presigned upload is. */
const MAX_PUT_BYTES = 5 * 1024 ** 3;

/** `POST /v1/models/{model}/batch-inputs`: where to PUT a file, and the input URI it then has. */
interface InputUpload {
  readonly uploadUrl: string;
  readonly uri: string;
  readonly expiresAt: string;
}

/** The job options of `batch submit` and `batch run`, as parsed. */
interface JobOptions {
  readonly format?: BatchFormat;
  readonly version?: string;
  readonly rowsPerBatch?: number;
  readonly maxConcurrency?: number;
  /** Percent of the rows, 0 to 100. */
  readonly tolerate?: number;
  readonly clientToken?: string;
  /** Milliseconds. */
  readonly interval?: number;
  /** Milliseconds. */
  readonly timeout?: number;
}

interface SubmitOptions extends JobOptions {
  readonly input?: string[];
  readonly output?: string;
  readonly wait?: boolean;
}

interface RunOptions extends JobOptions {
  readonly output?: string;
  readonly outputDir?: string;
}

/** `--tolerate PERCENT`: 0 to 100 with at most 6 decimals, a `%` allowed after it. */
const TOLERATE_PERCENT = strict('percent', (value, name) => {
  const percent = /^[0-9]{1,3}(\.[0-9]{1,6})?%?$/.test(value) ? Number(value.replace(/%$/, '')) : Number.NaN;
  if (!(percent >= 0 && percent <= 100)) throw new UsageError(`${name} is a percent of the rows from 0 to 100, not ${shown(value)}.`);
  return percent;
});

const WAIT_EXIT_CODES = [
  'Exit codes:',
  '  0  the job SUCCEEDED',
  '  1  it FAILED or was CANCELLED (with the reason), or the API refused',
  '  2  --timeout passed (the job keeps running), or a usage mistake',
].join('\n');

/** `batch` and its commands, on `program`. */
export function addBatchCommands(program: Command, cli: Cli): void {
  const batch = command(program, {
    name: 'batch',
    summary: 'batch jobs over files in S3, or a local file',
    group: 'Predictions:',
    usage: '<command> [options]',
    description:
      'A batch job predicts every row of CSV, JSON Lines or Parquet files in S3 with one model version and writes ' +
      'predictions.jsonl (one line per predicted row, in input order), errors.jsonl (the rows that could not be ' +
      'predicted, with why) and manifest.json.',
    after: 'Example:\n  modelctl batch run iris data/iris.csv',
  });

  const jobOptions = (cmd: Command) => {
    option(cmd, '--format <format>', `${BATCH_FORMATS.join(', ')} (default: from the extension)`, choice(BATCH_FORMATS));
    option(cmd, '--version <n>', 'the model version (default: the production version)', VERSION);
    option(cmd, '--rows-per-batch <n>', 'rows per prediction call (default 500)', WHOLE);
    option(cmd, '--max-concurrency <n>', 'batches at once (default 10)', WHOLE);
    option(cmd, '--tolerate <percent>', 'percent of the rows that may fail with the job still SUCCEEDED (default 0)', TOLERATE_PERCENT);
    return option(cmd, '--client-token <t>', 'a retry with the same token gets the same job', TEXT);
  };
  const waitFlags = (cmd: Command, what: string) => {
    option(
      cmd,
      '--interval <seconds>',
      `${what}: seconds between reads of the job (default ${DEFAULT_JOB_POLL_SECONDS})`,
      INTERVAL_SECONDS,
    );
    return option(cmd, '--timeout <seconds>', `${what}: stop waiting after this long (the job keeps running)`, TIMEOUT_SECONDS);
  };

  const submit = command(batch, {
    name: 'submit <model>',
    summary: 'submit a job over files in S3',
    usage: '<model> --input s3://BUCKET/KEY --output s3://BUCKET/PREFIX/ [options]',
    description:
      'Submit a job over an object, or every object under a prefix ending in "/"; its files go to <output><job id>/. ' +
      'Scope batch:submit.',
  });
  option(submit, '--input <uri>', 's3://BUCKET/KEY, or a prefix ending in "/"', S3_URI, { repeat: true });
  option(submit, '--output <uri>', "s3://BUCKET/PREFIX/: where the job's files go", S3_URI);
  jobOptions(submit).option('--wait', 'then wait as "batch wait" does');
  waitFlags(submit, 'with --wait');
  apiOptions(outputOptions(submit, true)).action(action(cli, submitJob));

  const run = command(batch, {
    name: 'run <model> <file>',
    summary: 'a local file end to end: upload, submit, wait, download',
    description:
      "Upload a local file (progress bar) to the model's first batch input location, as <location>uploads/<id>/<file>; " +
      'submit it with the output in the same location, <location>results/ (or --output, which must be an allowed ' +
      'output location); wait as "batch wait" does; then download the job\'s predictions.jsonl, errors.jsonl and ' +
      'manifest.json as <file>.predictions.jsonl, <file>.errors.jsonl and <file>.manifest.json (with --output-dir: ' +
      'DIR/predictions.jsonl, ...). Scopes batch:submit and batch:read (or models:read).',
    after: WAIT_EXIT_CODES,
    args: { file: FILE },
  });
  jobOptions(run);
  option(run, '--output <uri>', "s3://BUCKET/PREFIX/: where the job's files go (default: beside the upload)", S3_URI);
  option(run, '--output-dir <dir>', "download the job's files into this folder", FOLDER);
  waitFlags(run, 'waiting');
  apiOptions(outputOptions(run, true)).action(
    action<RunOptions>(cli, async (call) => {
      const [model = '', file = ''] = call.args;
      return runFile(call, model, file);
    }),
  );

  const status = command(batch, {
    name: 'status <model> <job>',
    summary: 'the job: state, counts, where its files are',
    description:
      "The job: state, rows read of rows, predicted, failed, when, where its input and files are, why it failed; with -o json the API's JSON, with download links once the job has ended. Scope batch:read (or models:read).",
    args: { job: ID },
  });
  apiOptions(outputOptions(status)).action(
    action(cli, async (call) => {
      const [model = '', jobId = ''] = call.args;
      call.print((await call.api.call('GET', jobPath(model, jobId))) as JobReply, jobLines);
      return 0;
    }),
  );

  const wait = command(batch, {
    name: 'wait <model> <job>',
    summary: 'wait until the job ends, then print it',
    description: `Read the job every ${DEFAULT_JOB_POLL_SECONDS} s (or --interval) until it ends, with a progress bar on stderr; then print it. Scope batch:read (or models:read).`,
    after: WAIT_EXIT_CODES,
    args: { job: ID },
  });
  waitFlags(wait, 'waiting');
  apiOptions(outputOptions(wait)).action(
    action<{ interval?: number; timeout?: number }>(cli, async (call) => {
      const [model = '', jobId = ''] = call.args;
      return waitAndReport(call.api, call.io, model, jobId, waitOptions(call.opts), call.json);
    }),
  );

  const cancel = command(batch, {
    name: 'cancel <model> <job>',
    summary: 'stop a job that has not ended',
    description: 'Stop a job that has not ended; it ends CANCELLED (409 JOB_ALREADY_ENDED if it had). Scope batch:submit.',
    args: { job: ID },
  });
  option(cancel, '--reason <text>', 'why, kept with the job', TEXT);
  apiOptions(outputOptions(cancel)).action(
    action<{ reason?: string }>(cli, async (call) => {
      const [model = '', jobId = ''] = call.args;
      const body = call.opts.reason === undefined ? {} : { reason: call.opts.reason };
      call.print((await call.api.call('POST', `${jobPath(model, jobId)}/cancel`, body)) as JobReply, jobLines);
      return 0;
    }),
  );

  const list = command(batch, {
    name: 'list <model>',
    summary: "the model's jobs, newest first",
    description: "The model's jobs, newest first. Scope batch:read (or models:read).",
  });
  option(list, '--state <state>', `only jobs in this state: ${JOB_STATES.join(', ')}`, choice(JOB_STATES, { upperCase: true }));
  option(list, '--limit <n>', 'jobs to list, 1 to 100 (default 20)', WHOLE);
  apiOptions(outputOptions(list)).action(
    action<{ state?: string; limit?: number }>(cli, async (call) => {
      const [model = ''] = call.args;
      const { state } = call.opts;
      const query = new URLSearchParams({
        ...(call.opts.limit === undefined ? {} : { limit: String(call.opts.limit) }),
        ...(state === undefined ? {} : { state }),
      }).toString();
      const page = (await call.api.call('GET', `${jobsPath(model)}${query ? `?${query}` : ''}`)) as { jobs: BatchJob[]; cursor?: string };
      call.print(page, (p) =>
        p.jobs.length === 0
          ? `No batch jobs of model ${shown(model)}${state === undefined ? '' : ` in state ${state}`}.\n`
          : jobsTable(p.jobs),
      );
      if (!call.json && page.cursor) call.io.err('(more jobs follow: raise --limit, at most 100, or narrow with --state)\n');
      return 0;
    }),
  );
}

/** The job options of `batch submit` and `batch run`, as the body's fields. */
function jobBody(opts: JobOptions): Record<string, unknown> {
  return {
    ...(opts.version === undefined ? {} : { version: opts.version }),
    ...(opts.rowsPerBatch === undefined ? {} : { rowsPerBatch: opts.rowsPerBatch }),
    ...(opts.maxConcurrency === undefined ? {} : { maxConcurrency: opts.maxConcurrency }),
    ...(opts.tolerate === undefined ? {} : { toleratedFailurePercentage: opts.tolerate }),
    ...(opts.clientToken === undefined ? {} : { clientToken: opts.clientToken }),
  };
}

/** `batch submit`: the job, or with `--wait` the job once it has ended (exit codes as `batch wait`). */
async function submitJob(call: Call<SubmitOptions>): Promise<number> {
  const { opts, api, io } = call;
  const [model = ''] = call.args;
  if (opts.input === undefined || opts.output === undefined)
    throw new UsageError('"batch submit" needs --input s3://BUCKET/KEY (or a prefix ending in "/") and --output s3://BUCKET/PREFIX/.');
  if (opts.input.length > 1) throw new UsageError('"batch submit" takes one --input (a prefix ending in "/" reads every object under it).');
  if (!opts.wait && (opts.interval !== undefined || opts.timeout !== undefined))
    throw new UsageError('--interval and --timeout go with --wait.');
  const waiting = opts.wait ? waitOptions(opts) : undefined;
  const { format } = opts;
  const body = {
    input: { uri: opts.input[0] as string, ...(format === undefined ? {} : { format }) },
    output: { uri: opts.output },
    ...jobBody(opts),
  };
  const { status, json } = await api.request('POST', jobsPath(model), body);
  const { job } = json as { job: BatchJob };
  if (!waiting) {
    call.print(json, () => submittedLines(job, status === 200));
    return 0;
  }
  if (!call.json) io.out(submittedLines(job, status === 200));
  return waitAndReport(api, io, model, job.jobId, waiting, call.json);
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
async function runFile(call: Call<RunOptions>, model: string, file: string): Promise<number> {
  const { opts, api, io } = call;
  const waiting = waitOptions(opts);
  const givenOutput = opts.output;
  const options = jobBody(opts);
  const targets = resultPaths(file, opts.outputDir);
  // What can be told of the file here is told before anything is uploaded.
  const opened = await openFile(io, file, 'Give one file (or put the files in S3 under one prefix and use "modelctl batch submit").');
  if (opened.size === 0) throw new Error(`${file} is empty: there is nothing to predict.`);
  const fileName = uploadName(path.basename(file));
  const format = opts.format ?? formatOfKey(fileName);
  if (format === undefined)
    throw new UsageError(
      `Cannot tell the format of ${shown(path.basename(file))} from its extension; give --format ${BATCH_FORMATS.join('|')}.`,
    );
  if (opened.size > MAX_PUT_BYTES) {
    throw new ApiError(
      `${file} is ${formatBytes(opened.size)}; one upload takes at most 5 GB. Put it in S3 in parts (aws s3 cp), then "modelctl batch submit".`,
    );
  }

  const ticket = (await api.call('POST', `${modelPath(model)}/batch-inputs`, { fileName })) as InputUpload;
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
  call.print(reply, () => runSummary(reply.job, downloaded));
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
