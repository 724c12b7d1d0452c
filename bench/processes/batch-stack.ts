/**
 * Child process for section 9 (batch jobs): the local stack as `npm start` runs it
 * (`startLocalStack` with a data folder, the DynamoDB- and S3-compatible servers in a process of
 * their own, the sample model registered and in production, the product's defaults), in a fresh
 * process so that the job shares it with nothing the other sections left behind. Its stdout (the
 * batch functions' log lines) is dropped by the runner.
 *
 * Answers, besides `profileStart` / `profileStop`:
 * - `input {rows}`: writes `bench/iris-<rows>.jsonl` to the batch bucket, iris rows as JSON
 *   objects of the model's four features (row i is row i mod 150 of data/iris.csv).
 * - `job {rows, rowsPerBatch, maxConcurrency}`: submits a job of that input through the stack's
 *   job service and waits for its workflow to end; checks it SUCCEEDED with a prediction per row;
 *   answers a {@link BatchJobRun}: its time, the CPU of this process and of the servers' process,
 *   its phases (from the S3 writes that end each step, seen by a middleware on the stack's S3
 *   client), its batches (from the Distributed Map's ResultWriter output) and the SDK calls made.
 * - `floor {rows, rowsPerBatch}`: the least the same work can cost, written plainly, in this
 *   process, on the same servers: one GetObject of the input, streamed; the lines split and
 *   parsed; a float32 tensor and one raw `session.run` per `rowsPerBatch` rows (the product's
 *   session options); each prediction encoded as the job encodes it (`{"row", "prediction":
 *   {"label", "confidence", "probabilities"}}`, the same bytes); one streamed upload of the
 *   output, with the product's part size and queue.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import * as ort from 'onnxruntime-node';
import type { BatchJob } from '../../functions/core/batch-contract.js';
import { LOCAL_BATCH_BUCKET, startLocalStack } from '../../local/stack.js';
import { serveRunner, type Message } from '../lib/children.js';
import { benchModel, rawSession } from '../lib/models.js';
import { profilerRequests } from '../lib/profile.js';
import { precise, quantile } from '../lib/stats.js';
import { BATCH_JOB_PHASES, type BatchFloorRun, type BatchJobPhase, type BatchJobRun } from '../results.js';
import { float32Json } from '../../functions/core/codec/numbers.js';

/** The product's multipart upload (functions/adapters/s3-data.ts): 8 MiB parts, 4 at once. */
const PART_BYTES = 8 * 1024 * 1024;
const QUEUE_SIZE = 4;

const scratch = process.env.BENCH_SCRATCH;
if (!scratch) throw new Error('BENCH_SCRATCH must name a scratch folder');
const model = benchModel('iris');
const classLabels = (model.metadata as { classLabels?: string[] }).classLabels ?? [];
const stack = await startLocalStack({ dataDir: path.join(scratch, 'data'), servers: 'child-process' });
const s3 = stack.clients.s3;
const session = await rawSession(model);

// ---------------------------------------------------------------------------------------------
// What the stack's SDK clients do during a job

interface Call {
  readonly service: 's3' | 'dynamodb';
  readonly command: string;
  readonly bucket?: string;
  readonly key?: string;
  readonly ranged: boolean;
  readonly table?: string;
  readonly start: number;
  readonly end: number;
}

const calls: Call[] = [];
let tracing = false;

/** Runs one SDK call, noting it while `tracing` is on: from the start of the command to its answer. */
async function timed<T>(service: Call['service'], commandName: string | undefined, input: unknown, call: () => Promise<T>): Promise<T> {
  if (!tracing) return call();
  const start = performance.now();
  try {
    return await call();
  } finally {
    const fields = (input ?? {}) as { Bucket?: unknown; Key?: unknown; Range?: unknown; TableName?: unknown; TransactItems?: unknown };
    const table = typeof fields.TableName === 'string' ? fields.TableName : transactionTable(fields.TransactItems);
    calls.push({
      service,
      command: String(commandName ?? 'unknown').replace(/Command$/, ''),
      ...(typeof fields.Bucket === 'string' ? { bucket: fields.Bucket } : {}),
      ...(typeof fields.Key === 'string' ? { key: fields.Key } : {}),
      ranged: typeof fields.Range === 'string',
      ...(table !== undefined ? { table } : {}),
      start,
      end: performance.now(),
    });
  }
}
/** The table of a transaction's first item (`TransactWriteItems` names no table of its own). */
function transactionTable(items: unknown): string | undefined {
  const first = Array.isArray(items) ? (items[0] as Record<string, { TableName?: unknown } | undefined> | undefined) : undefined;
  const name = Object.values(first ?? {})[0]?.TableName;
  return typeof name === 'string' ? name : undefined;
}

const TRACE = { step: 'initialize', name: 'benchBatchTrace' } as const;
s3.middlewareStack.add((next, context) => (args) => timed('s3', context.commandName, args.input, () => next(args)), TRACE);
stack.clients.dynamo.middlewareStack.add(
  (next, context) => (args) => timed('dynamodb', context.commandName, args.input, () => next(args)),
  TRACE,
);

/**
 * CPU time of the servers' process (user + system), ms, from /proc; 0 where it cannot be read
 * (not Linux, or servers in this process).
 */
function serversCpuMs(): number {
  const pid = (stack.aws as { pid?: number }).pid;
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Linux reports them in USER_HZ ticks, 100 a second on every architecture it runs on.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

function cpuSince(before: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Inputs

const inputs = new Map<number, { key: string; bytes: number }>();

async function writeInput(rows: number): Promise<{ key: string; bytes: number }> {
  const known = inputs.get(rows);
  if (known) return known;
  const distinct = model.rows(150).map((row) => JSON.stringify(Object.fromEntries(model.features.map((name, i) => [name, row[i]]))));
  const lines = Array.from({ length: rows }, (_, i) => distinct[i % distinct.length] as string);
  const body = Buffer.from(`${lines.join('\n')}\n`);
  const key = `bench/iris-${rows}.jsonl`;
  await s3.send(new PutObjectCommand({ Bucket: LOCAL_BATCH_BUCKET, Key: key, Body: body, ContentType: 'application/x-ndjson' }));
  const input = { key, bytes: body.byteLength };
  inputs.set(rows, input);
  return input;
}

function inputOf(rows: number): { key: string; bytes: number } {
  const input = inputs.get(rows);
  if (!input) throw new Error(`no input of ${rows} rows was written`);
  return input;
}

/** Lines and bytes of an object, read streaming; and the row number of its last line. */
async function countLines(bucket: string, key: string): Promise<{ lines: number; bytes: number; lastRow: number | undefined }> {
  const { Body } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  let lines = 0;
  let bytes = 0;
  let tail = Buffer.alloc(0);
  for await (const chunk of (Body ?? []) as AsyncIterable<Uint8Array>) {
    const buffer = Buffer.from(chunk);
    bytes += buffer.length;
    for (let at = buffer.indexOf(0x0a); at !== -1; at = buffer.indexOf(0x0a, at + 1)) lines += 1;
    tail = Buffer.concat([tail, buffer]).subarray(-1_000);
  }
  const last = tail.toString('utf8').trimEnd().split('\n').at(-1);
  const lastRow = last ? (JSON.parse(last) as { row?: number }).row : undefined;
  return { lines, bytes, lastRow };
}

// ---------------------------------------------------------------------------------------------
// The job

let jobCount = 0;

async function runJob(rows: number, rowsPerBatch: number, maxConcurrency: number): Promise<BatchJobRun> {
  const input = inputOf(rows);
  jobCount += 1;
  calls.length = 0;
  tracing = true;
  const servers = serversCpuMs();
  const cpu = process.cpuUsage();
  const started = performance.now();
  let submitted: number;
  let ended: number;
  let job: BatchJob;
  try {
    ({ job } = await stack.jobs.submit({
      model: model.name,
      input: { uri: `s3://${LOCAL_BATCH_BUCKET}/${input.key}` },
      output: { uri: `s3://${LOCAL_BATCH_BUCKET}/jobs/${jobCount}/` },
      rowsPerBatch,
      maxConcurrency,
      caller: 'bench',
    }));
    submitted = performance.now();
    if (!job.executionId) throw new Error(`job ${job.jobId} was not started (state ${job.state})`);
    // The emulated workflow's end: the job's record says SUCCEEDED (or not) by then.
    await stack.batchRunner.settled(job.executionId);
    ended = performance.now();
  } finally {
    tracing = false;
  }
  const cpuMs = cpuSince(cpu);
  const serversMs = serversCpuMs() - servers;

  const done = await stack.jobs.get(model.name, job.jobId);
  if (done.state !== 'SUCCEEDED' || done.rows !== rows || done.progress.predicted !== rows || done.progress.failed !== 0) {
    throw new Error(
      `the job of ${rows} rows ended ${done.state} with ${JSON.stringify({ rows: done.rows, progress: done.progress, failure: done.failure })}`,
    );
  }
  const folder = done.output.uri.replace(`s3://${LOCAL_BATCH_BUCKET}/`, '');
  const predictions = await countLines(LOCAL_BATCH_BUCKET, `${folder}predictions.jsonl`);
  if (predictions.lines !== rows || predictions.lastRow !== rows - 1) {
    throw new Error(`the job's predictions.jsonl has ${predictions.lines} lines (last row ${String(predictions.lastRow)}), not ${rows}`);
  }
  const errors = await countLines(LOCAL_BATCH_BUCKET, `${folder}errors.jsonl`);
  if (errors.lines !== 0) throw new Error(`the job's errors.jsonl has ${errors.lines} lines`);

  const phases = phasesOf(folder, started, submitted, ended);
  return {
    ms: precise(ended - started),
    rowsPerSecond: precise(rows / ((ended - started) / 1000)),
    cpuMs: precise(cpuMs),
    serversCpuMs: precise(serversMs),
    outputBytes: predictions.bytes,
    phases,
    batches: await batchesOf(folder, phases.map),
    calls: callSummary(input.key, folder),
  };
}

const WRITES = new Set(['PutObject', 'CompleteMultipartUpload']);

/** The phases' wall times: each from the end of the write that closed the one before. */
function phasesOf(folder: string, started: number, submitted: number, ended: number): Record<BatchJobPhase, number> {
  const lastWrite = (match: (key: string) => boolean) =>
    calls
      .filter((c) => c.service === 's3' && WRITES.has(c.command) && c.key !== undefined && match(c.key))
      .reduce<number | undefined>((at, c) => Math.max(at ?? 0, c.end), undefined);
  const ends: Record<BatchJobPhase, number | undefined> = {
    submit: submitted,
    plan: lastWrite((key) => key === `${folder}_plan/splits.jsonl`),
    map: lastWrite((key) => key.startsWith(`${folder}_parts/`)),
    resultWriter: lastWrite((key) => key.startsWith(`${folder}_map/`) && key.endsWith('/manifest.json')),
    assemble: ended,
  };
  const phases = {} as Record<BatchJobPhase, number>;
  let from = started;
  for (const phase of BATCH_JOB_PHASES) {
    const to = Math.min(ended, Math.max(from, ends[phase] ?? from));
    phases[phase] = precise(to - from);
    from = to;
  }
  return phases;
}

/** The Distributed Map's children, read from its ResultWriter output (`_map/<run>/SUCCEEDED_0.json`). */
async function batchesOf(folder: string, mapMs: number): Promise<BatchJobRun['batches']> {
  const manifestKey = calls.find(
    (c) => c.command === 'PutObject' && c.key?.startsWith(`${folder}_map/`) && c.key.endsWith('/manifest.json'),
  )?.key;
  if (!manifestKey) throw new Error('the job wrote no map results');
  const text = async (key: string) =>
    (await (await s3.send(new GetObjectCommand({ Bucket: LOCAL_BATCH_BUCKET, Key: key }))).Body?.transformToString()) ?? '';
  const manifest = JSON.parse(await text(manifestKey)) as { ResultFiles?: { SUCCEEDED?: Array<{ Key: string }> } };
  const durations: number[] = [];
  for (const file of manifest.ResultFiles?.SUCCEEDED ?? []) {
    for (const child of JSON.parse(await text(file.Key)) as Array<{ StartDate: string; StopDate: string }>) {
      durations.push(Date.parse(child.StopDate) - Date.parse(child.StartDate));
    }
  }
  if (durations.length === 0) throw new Error('the map results list no batch');
  durations.sort((a, b) => a - b);
  const total = durations.reduce((sum, d) => sum + d, 0);
  return {
    count: durations.length,
    medianMs: precise(quantile(durations, 0.5)),
    p99Ms: precise(quantile(durations, 0.99)),
    meanInFlight: precise(total / Math.max(1, mapMs)),
  };
}

/** The calls by what they touched and command, most time first. */
function callSummary(inputKey: string, folder: string): BatchJobRun['calls'] {
  const targetOf = (c: Call): string => {
    if (c.service === 'dynamodb') {
      if (c.table === stack.config.BATCH_JOBS_TABLE) return 'job table';
      if (c.table === stack.config.REGISTRY_TABLE) return 'registry';
      return c.table ?? 'DynamoDB';
    }
    const key = c.key ?? '';
    if (key === inputKey) return 'input';
    if (key.startsWith(`${folder}_plan/`)) return 'splits file';
    if (key.startsWith(`${folder}_parts/`)) return 'parts';
    if (key.startsWith(`${folder}_map/`)) return 'map results';
    if (key.startsWith(folder)) return 'outputs';
    return c.bucket === LOCAL_BATCH_BUCKET ? 'batch bucket' : `bucket ${c.bucket ?? ''}`;
  };
  const groups = new Map<string, { target: string; command: string; count: number; totalMs: number }>();
  for (const c of calls) {
    const target = targetOf(c);
    const command = c.ranged ? `${c.command} (range)` : c.command;
    const group = groups.get(`${target} ${command}`) ?? { target, command, count: 0, totalMs: 0 };
    group.count += 1;
    group.totalMs += c.end - c.start;
    groups.set(`${target} ${command}`, group);
  }
  return [...groups.values()].sort((a, b) => b.totalMs - a.totalMs).map((g) => ({ ...g, totalMs: precise(g.totalMs) }));
}

// ---------------------------------------------------------------------------------------------
// The floor

let floorCount = 0;

async function runFloor(rows: number, rowsPerBatch: number): Promise<BatchFloorRun> {
  const input = inputOf(rows);
  floorCount += 1;
  const width = model.features.length;
  const classes = classLabels.length;
  const classIndex = new Map(classLabels.map((label, i) => [label, i]));
  const classKeys = classLabels.map((label) => JSON.stringify(label));
  let parseMs = 0;
  let runMs = 0;
  let encodeMs = 0;
  let written = 0;
  let predicted = 0;

  const servers = serversCpuMs();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { Body } = await s3.send(new GetObjectCommand({ Bucket: LOCAL_BATCH_BUCKET, Key: input.key }));
  async function* predictions(): AsyncGenerator<Buffer> {
    const decoder = new TextDecoder();
    let rest = '';
    let records: Array<Record<string, unknown>> = [];
    const predict = async (): Promise<Buffer> => {
      let at = performance.now();
      const count = records.length;
      const data = new Float32Array(count * width);
      for (let r = 0; r < count; r++) {
        const record = records[r] as Record<string, unknown>;
        for (let f = 0; f < width; f++) data[r * width + f] = Number(record[model.features[f] as string]);
      }
      parseMs += performance.now() - at;
      at = performance.now();
      const outputs = await session.run({ [model.inputName]: new ort.Tensor('float32', data, [count, width]) });
      runMs += performance.now() - at;
      at = performance.now();
      const labels = outputs['label']?.data as readonly string[];
      const probabilities = outputs['probabilities']?.data as Float32Array;
      let text = '';
      // float32 values in their shortest digits, as the job writes them (the same bytes).
      for (let r = 0; r < count; r++) {
        const label = labels[r] as string;
        let byClass = '';
        for (let c = 0; c < classes; c++)
          byClass += `${c === 0 ? '' : ','}${classKeys[c] as string}:${float32Json(probabilities[r * classes + c] as number)}`;
        const confidence = float32Json(probabilities[r * classes + (classIndex.get(label) ?? 0)] as number);
        text += `{"row":${predicted + r},"prediction":{"label":${JSON.stringify(label)},"confidence":${confidence},"probabilities":{${byClass}}}}\n`;
      }
      predicted += count;
      records = [];
      const chunk = Buffer.from(text);
      written += chunk.byteLength;
      encodeMs += performance.now() - at;
      return chunk;
    };
    for await (const chunk of (Body ?? []) as AsyncIterable<Uint8Array>) {
      let at = performance.now();
      const lines = (rest + decoder.decode(chunk, { stream: true })).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') continue;
        records.push(JSON.parse(line) as Record<string, unknown>);
        if (records.length === rowsPerBatch) {
          parseMs += performance.now() - at;
          yield await predict();
          at = performance.now();
        }
      }
      parseMs += performance.now() - at;
    }
    if (rest.trim() !== '') records.push(JSON.parse(rest) as Record<string, unknown>);
    if (records.length > 0) yield await predict();
  }
  await new Upload({
    client: s3,
    params: {
      Bucket: LOCAL_BATCH_BUCKET,
      Key: `floor/${floorCount}/predictions.jsonl`,
      Body: Readable.from(predictions()),
      ContentType: 'application/x-ndjson',
    },
    partSize: PART_BYTES,
    queueSize: QUEUE_SIZE,
  }).done();
  const ended = performance.now();
  const cpuMs = cpuSince(cpu);
  const serversMs = serversCpuMs() - servers;
  if (predicted !== rows) throw new Error(`the floor predicted ${predicted} rows, not ${rows}`);
  return {
    ms: precise(ended - started),
    rowsPerSecond: precise(rows / ((ended - started) / 1000)),
    cpuMs: precise(cpuMs),
    serversCpuMs: precise(serversMs),
    outputBytes: written,
    parseMs: precise(parseMs),
    runMs: precise(runMs),
    encodeMs: precise(encodeMs),
  };
}

// ---------------------------------------------------------------------------------------------

const count = (message: Message, name: string): number => {
  const value = message[name];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
};

serveRunner(
  {},
  {
    ...profilerRequests(),
    input: async (message) => writeInput(count(message, 'rows')),
    job: async (message) => ({
      run: await runJob(count(message, 'rows'), count(message, 'rowsPerBatch'), count(message, 'maxConcurrency')),
    }),
    floor: async (message) => ({ run: await runFloor(count(message, 'rows'), count(message, 'rowsPerBatch')) }),
  },
  async () => {
    await session.release();
    await stack.stop();
  },
);
