/**
 * The local emulation of the batch-job state machine (local/batch-runner.ts) against the real
 * local S3 (s3rver behind the local S3 front): the splits file is read from it, the
 * ResultWriter's files are written to it. The batch-steps and batch handlers are stubs written
 * here that record their calls (the real handlers have their own tests); each test gives them
 * the behaviour it needs (a retryable error, a hang, a slow batch).
 */
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { PlanResult, Split, SplitBatchEvent, SplitBatchResult, WorkflowInput } from '../../functions/core/batch-contract.js';
import { JOB_FAILED, LocalBatchRunner, MAX_INPUT_BYTES_PER_BATCH, type LocalBatchRunnerOptions } from '../../local/batch-runner.js';
import { ensureBucket, localClients, startLocalAws, type LocalAws, type LocalClients } from '../../local/aws-servers.js';

const BUCKET = 'batch-runner-jobs';
/** Retry waits of 20, 40, 80 ms instead of 2, 4, 8 s. */
const FAST_RETRY = { intervalMs: 20 } as const;

let aws: LocalAws;
let clients: LocalClients;

beforeAll(async () => {
  aws = await startLocalAws();
  clients = localClients(aws);
  await ensureBucket(clients.s3, BUCKET);
});

afterAll(async () => {
  clients.destroy();
  await aws.stop();
});

// ---------------------------------------------------------------------------------------------
// Fixtures

let jobs = 0;

/** A job whose plan (stubbed) wrote `splits` (or the given lines) as its splits file. */
async function job(
  options: Partial<WorkflowInput['options']> = {},
  splits: { count?: number; lines?: string[]; pad?: number; columns?: string[] | null; splitsPerBatch?: number } = {},
) {
  jobs += 1;
  const jobId = `job-20261130t120501z-test${String(jobs).padStart(4, '0')}`;
  const folder = `out/${jobId}/`;
  const items: Split[] = Array.from({ length: splits.count ?? 0 }, (_, index) => ({
    index,
    file: 0,
    bucket: BUCKET,
    key: 'in/data.csv',
    firstRow: index * 10,
    rows: 10,
    start: 100 + index * 500,
    end: 600 + index * 500,
    firstLine: 2 + index * 10,
    ...(splits.pad ? { pad: 'x'.repeat(splits.pad) } : {}),
  }));
  const lines = splits.lines ?? items.map((s) => JSON.stringify(s));
  const splitsKey = `${folder}_plan/splits.jsonl`;
  await clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: splitsKey, Body: lines.map((l) => `${l}\n`).join('') }));
  const input: WorkflowInput = {
    jobId,
    model: 'iris',
    version: '3',
    format: 'csv',
    files: [{ bucket: BUCKET, key: 'in/data.csv', size: 100 + (splits.count ?? 0) * 500, etag: '"e"' }],
    output: { bucket: BUCKET, prefix: folder },
    options: { rowsPerBatch: 500, maxConcurrency: 10, toleratedFailurePercentage: 0, ...options },
  };
  // `columns: null` leaves the field out, as a broken plan step would (the Map's path then fails).
  const plan = {
    splits: { bucket: BUCKET, key: splitsKey },
    splitCount: lines.length,
    rows: lines.length * 10,
    splitsPerBatch: splits.splitsPerBatch ?? 1,
    mapResultsPrefix: `${folder}_map`,
    ...(splits.columns === null ? {} : { columns: splits.columns ?? ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'] }),
  } as PlanResult;
  return { input, plan, splitsKey, folder };
}

function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

type StepEvent = {
  step: string;
  job: Record<string, unknown>;
  plan?: PlanResult;
  map?: { MapRunArn: string; ResultWriterDetails: { Bucket: string; Key: string } };
  mapError?: { Error: string; Cause: string };
  error?: { Error: string; Cause: string };
};

/** The batch-steps handler: the plan as given (or its error), assemble judges by the map's outcome. */
class StepsStub {
  readonly calls: StepEvent[] = [];
  /** Thrown by the first plan calls, in order, before the plan answers. */
  constructor(
    private readonly plan: PlanResult | Error,
    private readonly planThrowsFirst: Error[] = [],
  ) {}

  readonly handler = async (event: unknown): Promise<unknown> => {
    const e = event as StepEvent;
    this.calls.push(e);
    if (e.step === 'plan') {
      const early = this.planThrowsFirst.shift();
      if (early) throw early;
      if (this.plan instanceof Error) throw this.plan;
      return this.plan;
    }
    if (e.step === 'assemble') return { state: e.map ? 'SUCCEEDED' : 'FAILED', rows: 0, predicted: 0, failed: 0 };
    return { state: 'FAILED' };
  };

  of(step: string): StepEvent[] {
    return this.calls.filter((c) => c.step === step);
  }
}

/** The batch handler: records every call, counts the calls in flight, answers with `behave` (default: a summary). */
class BatchStub {
  readonly calls: Array<{ event: SplitBatchEvent; at: number; first: number }> = [];
  readonly succeeded: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly behave: (event: SplitBatchEvent, attempt: number) => Promise<void> = async () => undefined) {}

  readonly handler = async (event: SplitBatchEvent): Promise<SplitBatchResult> => {
    const first = (event.Items[0] as Split).index;
    const attempt = this.calls.filter((c) => c.first === first).length;
    this.calls.push({ event, at: performance.now(), first });
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.behave(event, attempt);
    } finally {
      this.inFlight -= 1;
    }
    this.succeeded.push(first);
    return summary(event);
  };

  firsts(): number[] {
    return this.calls.map((c) => c.first);
  }
}

function summary(event: SplitBatchEvent): SplitBatchResult {
  const rows = event.Items.reduce((sum, s) => sum + s.rows, 0);
  return { splits: event.Items.map((s) => s.index), rows, predicted: rows, failed: 0 };
}

function runner(steps: StepsStub, batch: BatchStub, extra: Partial<LocalBatchRunnerOptions> = {}): LocalBatchRunner {
  return new LocalBatchRunner({ steps: steps.handler, batch: batch.handler, s3: clients.s3, retry: FAST_RETRY, ...extra });
}

async function runToEnd(r: LocalBatchRunner, input: WorkflowInput) {
  const { executionId } = await r.start(input);
  await r.settled(executionId);
  return { executionId, ...(await r.status(executionId)) };
}

async function json(key: string): Promise<unknown> {
  const object = await clients.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return JSON.parse(await object.Body!.transformToString()) as unknown;
}

async function size(key: string): Promise<number | undefined> {
  return (await clients.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).ContentLength;
}

interface Manifest {
  DestinationBucket: string;
  MapRunArn: string;
  ResultFiles: Record<'FAILED' | 'PENDING' | 'SUCCEEDED', Array<{ Key: string; Size: number }>>;
}
type ResultEntry = Record<string, unknown> & { Input: string; Status: string };

/** The manifest the Map Run wrote under the job folder's `_map/`, and its result files' entries. */
async function results(
  folder: string,
): Promise<{ manifestKey: string; manifest: Manifest; entries: Record<'FAILED' | 'PENDING' | 'SUCCEEDED', ResultEntry[]> }> {
  const listed = await clients.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${folder}_map/` }));
  const manifestKey = (listed.Contents ?? []).map((o) => o.Key ?? '').find((k) => k.endsWith('/manifest.json'));
  if (!manifestKey) throw new Error(`no manifest under ${folder}_map/`);
  const manifest = (await json(manifestKey)) as Manifest;
  const entries = { FAILED: [] as ResultEntry[], PENDING: [] as ResultEntry[], SUCCEEDED: [] as ResultEntry[] };
  for (const status of ['FAILED', 'PENDING', 'SUCCEEDED'] as const) {
    for (const file of manifest.ResultFiles[status]) entries[status].push(...((await json(file.Key)) as ResultEntry[]));
  }
  return { manifestKey, manifest, entries };
}

function firstsOf(entries: ResultEntry[]): number[] {
  return entries.map((e) => ((JSON.parse(e.Input) as SplitBatchEvent).Items[0] as Split).index);
}

function ascending(numbers: readonly number[]): number[] {
  return [...numbers].sort((a, b) => a - b);
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open: () => void = () => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// ---------------------------------------------------------------------------------------------

describe('ItemReader and ItemBatcher', () => {
  it('batches splitsPerBatch splits per child with the BatchInput, runs them all, and assembles with the map output', async () => {
    // Prepare
    const { input, plan, folder } = await job({}, { count: 10, splitsPerBatch: 3 });
    const steps = new StepsStub(plan);
    const batch = new BatchStub();

    // Act
    const ended = await runToEnd(runner(steps, batch), input);

    // Assess
    expect(ended.status).toBe('SUCCEEDED');
    expect(batch.calls.map((c) => c.event.Items.map((s) => s.index)).sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0))).toStrictEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6, 7, 8],
      [9],
    ]);
    for (const { event } of batch.calls) {
      expect(event.BatchInput).toStrictEqual({
        jobId: input.jobId,
        model: 'iris',
        version: '3',
        format: 'csv',
        output: input.output,
        columns: plan.columns,
      });
      expect(Object.keys(event)).toStrictEqual(['Items', 'BatchInput']);
    }
    expect(steps.calls.map((c) => c.step)).toStrictEqual(['plan', 'assemble']);
    const [assemble] = steps.of('assemble');
    expect(steps.of('plan')[0]?.job).toStrictEqual(input);
    expect(assemble?.plan).toStrictEqual(plan);
    expect(assemble?.mapError).toBeUndefined();
    expect(assemble?.job).toStrictEqual({ ...input, plan, map: assemble?.map });
    expect(assemble?.map?.MapRunArn).toMatch(/^arn:aws:states:local:000000000000:mapRun:local-batch-jobs\/PredictSplits:[0-9a-f-]{36}$/);
    expect(assemble?.map?.ResultWriterDetails.Bucket).toBe(BUCKET);
    expect(assemble?.map?.ResultWriterDetails.Key).toMatch(new RegExp(`^${folder}_map/[0-9a-f-]{36}/manifest\\.json$`));
  });

  it('closes a batch before the item that would take its input above 262,144 bytes', async () => {
    // Prepare: five splits of about 100 KB each; the count bound (10) never applies.
    const { input, plan } = await job({}, { count: 5, pad: 100_000, splitsPerBatch: 10 });
    const batch = new BatchStub();

    // Act
    const ended = await runToEnd(runner(new StepsStub(plan), batch), input);

    // Assess
    expect(ended.status).toBe('SUCCEEDED');
    const batches = batch.calls.map((c) => c.event).sort((a, b) => (a.Items[0]?.index ?? 0) - (b.Items[0]?.index ?? 0));
    expect(batches.map((e) => e.Items.length)).toStrictEqual([2, 2, 1]);
    for (const [i, event] of batches.entries()) {
      const bytes = Buffer.byteLength(JSON.stringify(event));
      expect(bytes).toBeLessThanOrEqual(MAX_INPUT_BYTES_PER_BATCH);
      const next = batches[i + 1]?.Items[0];
      // Maximal: the next item would not have fitted.
      if (next) expect(bytes + 1 + Buffer.byteLength(JSON.stringify(next))).toBeGreaterThan(MAX_INPUT_BYTES_PER_BATCH);
    }
  });

  it('fails the Map with States.ItemReaderFailed, before any batch, on a line that is not JSON', async () => {
    // Prepare
    const good = (index: number) => JSON.stringify({ index, file: 0, bucket: BUCKET, key: 'in/data.csv', firstRow: index, rows: 1 });
    const { input, plan } = await job({}, { lines: [good(0), good(1), '{"index": 2, oops', good(3)] });
    const steps = new StepsStub(plan);
    const batch = new BatchStub();

    // Act
    const ended = await runToEnd(runner(steps, batch), input);

    // Assess
    expect(batch.calls).toHaveLength(0);
    expect(steps.of('assemble')[0]?.mapError).toStrictEqual({
      Error: 'States.ItemReaderFailed',
      Cause: expect.stringContaining('Line 3 of'),
    });
    expect(steps.of('assemble')[0]?.map).toBeUndefined();
    expect(ended).toMatchObject({ status: 'FAILED', error: 'BatchJobFailed' });
  });

  it('a plan without columns is States.Runtime ($.plan.columns is read by the BatchInput): the execution fails, nothing is caught', async () => {
    // Prepare
    const { input, plan } = await job({}, { count: 2, columns: null });
    const steps = new StepsStub(plan);
    const batch = new BatchStub();

    // Act
    const ended = await runToEnd(runner(steps, batch), input);

    // Assess
    expect(ended).toMatchObject({ status: 'FAILED', error: 'States.Runtime', cause: expect.stringContaining('$.plan.columns') });
    expect(batch.calls).toHaveLength(0);
    expect(steps.calls.map((c) => c.step)).toStrictEqual(['plan']);
  });
});

describe('concurrency', () => {
  it("never runs more batches at once than the job's maxConcurrency", async () => {
    // Prepare
    const { input, plan } = await job({ maxConcurrency: 3 }, { count: 12 });
    const batch = new BatchStub(() => new Promise((resolve) => setTimeout(resolve, 30)));

    // Act
    const ended = await runToEnd(runner(new StepsStub(plan), batch, { concurrencyCap: 10 }), input);

    // Assess
    expect(ended.status).toBe('SUCCEEDED');
    expect(batch.calls).toHaveLength(12);
    expect(batch.maxInFlight).toBe(3);
  });

  it("bounds an unlimited maxConcurrency (0) by the runner's cap", async () => {
    // Prepare
    const { input, plan } = await job({ maxConcurrency: 0 }, { count: 12 });
    const batch = new BatchStub(() => new Promise((resolve) => setTimeout(resolve, 30)));

    // Act
    const ended = await runToEnd(runner(new StepsStub(plan), batch, { concurrencyCap: 4 }), input);

    // Assess
    expect(ended.status).toBe('SUCCEEDED');
    expect(batch.maxInFlight).toBe(4);
  });
});

describe("the item processor's Retry", () => {
  it('retries a retryable error after the interval, and the batch then succeeds', async () => {
    // Prepare
    const { input, plan, folder } = await job({}, { count: 3 });
    const batch = new BatchStub(async (event, attempt) => {
      if (event.Items[0]?.index === 1 && attempt === 0) throw named('Batch.REGISTRY_UNAVAILABLE', 'registry down');
    });

    // Act
    const ended = await runToEnd(runner(new StepsStub(plan), batch), input);

    // Assess
    expect(ended.status).toBe('SUCCEEDED');
    const calls = batch.calls.filter((c) => c.first === 1);
    expect(calls).toHaveLength(2);
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(19);
    const { entries } = await results(folder);
    expect(firstsOf(entries.SUCCEEDED)).toStrictEqual([0, 1, 2]);
    expect(entries.FAILED).toHaveLength(0);
  });

  it('gives up after MaxAttempts (3) retries, backing off by 2, and the batch fails with its error', async () => {
    // Prepare
    const { input, plan, folder } = await job({ toleratedFailurePercentage: 100 }, { count: 2 });
    const batch = new BatchStub(async (event) => {
      if (event.Items[0]?.index === 0) throw named('Batch.INTERNAL', 'The batch failed on our side (INTERNAL); it may be retried.');
    });

    // Act
    const ended = await runToEnd(runner(new StepsStub(plan), batch), input);

    // Assess
    const times = batch.calls.filter((c) => c.first === 0).map((c) => c.at);
    expect(times).toHaveLength(4);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(19);
    expect(gaps[1]).toBeGreaterThanOrEqual(39);
    expect(gaps[2]).toBeGreaterThanOrEqual(79);
    expect(ended.status).toBe('SUCCEEDED'); // 1 of 2 items failed, 100% tolerated
    const { entries } = await results(folder);
    expect(entries.FAILED).toHaveLength(1);
    expect(entries.FAILED[0]).toMatchObject({ Error: 'Batch.INTERNAL', Status: 'FAILED' });
  });

  it('does not retry an error outside the list (Batch.TOO_MANY_ROWS, a plain Error)', async () => {
    // Prepare
    const { input, plan, folder } = await job({ toleratedFailurePercentage: 100 }, { count: 3 });
    const batch = new BatchStub(async (event) => {
      if (event.Items[0]?.index === 0) throw named('Batch.TOO_MANY_ROWS', 'The batch has 600 records; this function takes at most 500.');
      if (event.Items[0]?.index === 1) throw new Error('plain');
    });

    // Act
    await runToEnd(runner(new StepsStub(plan), batch), input);

    // Assess
    expect(batch.firsts().filter((f) => f === 0)).toHaveLength(1);
    expect(batch.firsts().filter((f) => f === 1)).toHaveLength(1);
    const { entries } = await results(folder);
    expect(entries.FAILED.map((e) => e['Error']).sort()).toStrictEqual(['Batch.TOO_MANY_ROWS', 'Error']);
  });
});

describe('ToleratedFailurePercentage', () => {
  it('at the threshold (2 of 10 items failed, 20% tolerated) the Map succeeds and Assemble gets its output', async () => {
    // Prepare: 5 batches of 2 splits; the batch of splits 4 and 5 fails.
    const { input, plan } = await job({ toleratedFailurePercentage: 20, maxConcurrency: 1 }, { count: 10, splitsPerBatch: 2 });
    const steps = new StepsStub(plan);
    const batch = new BatchStub(async (event) => {
      if (event.Items[0]?.index === 4) throw named('Batch.VERSION_NOT_FOUND', 'gone');
    });

    // Act
    const ended = await runToEnd(runner(steps, batch), input);

    // Assess
    expect(batch.firsts()).toStrictEqual([0, 2, 4, 6, 8]);
    expect(steps.of('assemble')[0]?.map).toBeDefined();
    expect(steps.of('assemble')[0]?.mapError).toBeUndefined();
    expect(ended.status).toBe('SUCCEEDED');
  });

  it('above it (4 of 10 items) the Map fails with States.ExceedToleratedFailureThreshold at once: no new batch starts', async () => {
    // Prepare
    const { input, plan, folder } = await job({ toleratedFailurePercentage: 20, maxConcurrency: 1 }, { count: 10, splitsPerBatch: 2 });
    const steps = new StepsStub(plan);
    const batch = new BatchStub(async (event) => {
      if (event.Items[0]?.index === 4 || event.Items[0]?.index === 6) throw named('Batch.VERSION_NOT_FOUND', 'gone');
    });

    // Act
    const ended = await runToEnd(runner(steps, batch), input);

    // Assess
    expect(batch.firsts()).toStrictEqual([0, 2, 4, 6]);
    const [assemble] = steps.of('assemble');
    expect(assemble?.map).toBeUndefined();
    expect(assemble?.mapError).toStrictEqual({
      Error: 'States.ExceedToleratedFailureThreshold',
      Cause: expect.stringContaining('4 of its 10 items failed'),
    });
    expect(assemble?.job).toStrictEqual({ ...input, plan, mapError: assemble?.mapError });
    expect(ended).toMatchObject({ status: 'FAILED', error: 'BatchJobFailed' });
    // The ResultWriter still writes, the batch never started as PENDING.
    const { entries } = await results(folder);
    expect(firstsOf(entries.SUCCEEDED)).toStrictEqual([0, 2]);
    expect(firstsOf(entries.FAILED)).toStrictEqual([4, 6]);
    expect(firstsOf(entries.PENDING)).toStrictEqual([8]);
    expect(entries.PENDING[0]).toStrictEqual({ Input: expect.any(String), InputDetails: { Included: true }, Status: 'PENDING' });
  });
});

describe('ResultWriter', () => {
  it("writes the manifest and one file per status in Step Functions' format", async () => {
    // Prepare
    const { input, plan, folder } = await job({ toleratedFailurePercentage: 50 }, { count: 5, splitsPerBatch: 2 });
    const steps = new StepsStub(plan);
    const batch = new BatchStub(async (event) => {
      if (event.Items[0]?.index === 2) throw named('Batch.TOO_MANY_ROWS', 'too many');
    });

    // Act
    await runToEnd(runner(steps, batch, { now: () => Date.parse('2026-11-30T12:05:01.000Z') }), input);

    // Assess
    const map = steps.of('assemble')[0]?.map;
    const { manifestKey, manifest, entries } = await results(folder);
    expect(map?.ResultWriterDetails.Key).toBe(manifestKey);
    const runFolder = manifestKey.slice(0, -'manifest.json'.length);
    expect(manifest).toStrictEqual({
      DestinationBucket: BUCKET,
      MapRunArn: map?.MapRunArn,
      ResultFiles: {
        FAILED: [{ Key: `${runFolder}FAILED_0.json`, Size: await size(`${runFolder}FAILED_0.json`) }],
        PENDING: [],
        SUCCEEDED: [{ Key: `${runFolder}SUCCEEDED_0.json`, Size: await size(`${runFolder}SUCCEEDED_0.json`) }],
      },
    });
    expect(firstsOf(entries.SUCCEEDED)).toStrictEqual([0, 4]);
    const handed = new Map(batch.calls.map((c) => [c.first, c.event]));
    for (const entry of entries.SUCCEEDED) {
      const event = JSON.parse(entry.Input) as SplitBatchEvent;
      expect(Object.keys(entry)).toStrictEqual([
        'ExecutionArn',
        'Input',
        'InputDetails',
        'Name',
        'Output',
        'OutputDetails',
        'RedriveCount',
        'RedriveStatus',
        'RedriveStatusReason',
        'StartDate',
        'StateMachineArn',
        'Status',
        'StopDate',
      ]);
      expect(event).toStrictEqual(handed.get(event.Items[0]?.index ?? -1));
      expect(JSON.parse(entry['Output'] as string)).toStrictEqual(summary(event));
      expect(entry).toMatchObject({
        ExecutionArn: `arn:aws:states:local:000000000000:execution:local-batch-jobs/PredictSplits:${entry['Name'] as string}`,
        InputDetails: { Included: true },
        OutputDetails: { Included: true },
        RedriveCount: 0,
        RedriveStatus: 'NOT_REDRIVABLE',
        StartDate: '2026-11-30T12:05:01.000Z',
        StopDate: '2026-11-30T12:05:01.000Z',
        StateMachineArn: 'arn:aws:states:local:000000000000:stateMachine:local-batch-jobs/PredictSplits',
        Status: 'SUCCEEDED',
      });
      expect(entry['Name']).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(entries.FAILED).toHaveLength(1);
    const failed = entries.FAILED[0] as ResultEntry;
    expect(failed['Output']).toBeUndefined();
    expect(failed).toMatchObject({ Error: 'Batch.TOO_MANY_ROWS', Status: 'FAILED', InputDetails: { Included: true } });
    // Cause: Lambda's error payload, as Step Functions reports a function error.
    expect(JSON.parse(failed['Cause'] as string)).toMatchObject({ errorType: 'Batch.TOO_MANY_ROWS', errorMessage: 'too many' });
    expect(JSON.parse(failed.Input)).toStrictEqual(handed.get(2));
  });
});

describe('Plan failures', () => {
  it('a plan error goes to RecordPlanFailure (the fail step), and the execution ends in JobFailed', async () => {
    // Prepare
    const { input } = await job({}, { count: 1 });
    const steps = new StepsStub(named('BatchSteps.INPUT_CHANGED', 'The input changed since the job was submitted.'));
    const batch = new BatchStub();

    // Act
    const ended = await runToEnd(runner(steps, batch), input);

    // Assess
    expect(steps.calls.map((c) => c.step)).toStrictEqual(['plan', 'fail']);
    const [fail] = steps.of('fail');
    expect(fail?.error).toStrictEqual({ Error: 'BatchSteps.INPUT_CHANGED', Cause: expect.any(String) });
    expect(JSON.parse(fail?.error?.Cause ?? '{}')).toMatchObject({
      errorType: 'BatchSteps.INPUT_CHANGED',
      errorMessage: 'The input changed since the job was submitted.',
    });
    expect(fail?.job).toStrictEqual({ ...input, error: fail?.error });
    expect(batch.calls).toHaveLength(0);
    expect(ended).toStrictEqual({ executionId: ended.executionId, status: 'FAILED', error: 'BatchJobFailed', cause: JOB_FAILED.cause });
  });
});

describe('Plan retries', () => {
  it('retries the plan on a Lambda service error (its Retry), then runs the job', async () => {
    // Prepare
    const { input, plan } = await job({}, { count: 1 });
    const steps = new StepsStub(plan, [named('Lambda.TooManyRequestsException', 'Rate exceeded')]);

    // Act
    const ended = await runToEnd(runner(steps, new BatchStub()), input);

    // Assess
    expect(steps.calls.map((c) => c.step)).toStrictEqual(['plan', 'plan', 'assemble']);
    expect(ended.status).toBe('SUCCEEDED');
  });
});

describe('start, stop, status', () => {
  it('start is idempotent by job id: the same execution, one plan', async () => {
    // Prepare
    const { input, plan } = await job({}, { count: 2 });
    const steps = new StepsStub(plan);
    const r = runner(steps, new BatchStub());

    // Act
    const [a, b] = await Promise.all([r.start(input), r.start(input)]);
    await r.settled(a.executionId);
    const c = await r.start(input);

    // Assess
    expect(a.executionId).toBe(`arn:aws:states:local:000000000000:execution:local-batch-jobs:${input.jobId}`);
    expect(b).toStrictEqual(a);
    expect(c).toStrictEqual(a);
    expect(steps.of('plan')).toHaveLength(1);
    expect(steps.of('assemble')).toHaveLength(1);
    expect(await r.status('arn:aws:states:local:000000000000:execution:local-batch-jobs:job-unknown')).toStrictEqual({ status: 'UNKNOWN' });
  });

  it('stop aborts at once: the batches in flight finish, no other starts, Assemble never runs', async () => {
    // Prepare
    const { input, plan, folder } = await job({ maxConcurrency: 2 }, { count: 6 });
    const steps = new StepsStub(plan);
    const held = gate();
    const batch = new BatchStub(() => held.wait);
    const r = runner(steps, batch);
    const { executionId } = await r.start(input);
    await until(() => batch.inFlight === 2);

    // Act
    await r.stop(executionId, 'cancelled by the test');
    const whileDraining = await r.status(executionId);
    held.open();
    await r.settled(executionId);

    // Assess
    expect(whileDraining).toStrictEqual({ status: 'ABORTED', cause: 'cancelled by the test' });
    expect(await r.status(executionId)).toStrictEqual({ status: 'ABORTED', cause: 'cancelled by the test' });
    // The two in flight may have started in either order.
    expect(ascending(batch.firsts())).toStrictEqual([0, 1]);
    expect(ascending(batch.succeeded)).toStrictEqual([0, 1]);
    expect(steps.of('assemble')).toHaveLength(0);
    const { entries } = await results(folder);
    expect(firstsOf(entries.SUCCEEDED)).toStrictEqual([0, 1]);
    expect(firstsOf(entries.PENDING)).toStrictEqual([2, 3, 4, 5]);
    await r.stop(executionId, 'again'); // a no-op once ended
    expect(await r.status(executionId)).toMatchObject({ cause: 'cancelled by the test' });
  });
});

describe('restart', () => {
  let stateDir: string;
  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'batch-runner-'));
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('resume redrives the Map Run after a crash: batches that succeeded are not run again, Assemble runs once', async () => {
    // Prepare: a runner that dies (is dropped) while batch 3 hangs, batches 0-2 done.
    const { input, plan, folder } = await job({ maxConcurrency: 1 }, { count: 6 });
    const stepsBefore = new StepsStub(plan);
    const batchBefore = new BatchStub(async (event) => {
      if ((event.Items[0]?.index ?? 0) >= 3) await new Promise(() => undefined);
    });
    const before = runner(stepsBefore, batchBefore, { stateDir });
    const { executionId } = await before.start(input);
    await until(() => batchBefore.calls.length === 4);
    // A kill in the middle of appending batch 3's success would leave a line cut short.
    const journalFile = path.join(stateDir, `${input.jobId}.jsonl`);
    await appendFile(journalFile, '{"batch":{"first":3,"name":"cut-short","status":"SUCC');
    const stepsAfter = new StepsStub(plan);
    const batchAfter = new BatchStub();

    // Act
    const after = runner(stepsAfter, batchAfter, { stateDir });
    const statusAtLoad = await after.status(executionId);
    const resumed = await after.resume();
    const again = await after.resume();
    await after.settled(executionId);

    // Assess
    expect(statusAtLoad).toStrictEqual({ status: 'RUNNING' });
    expect(resumed).toStrictEqual([executionId]);
    expect(again).toStrictEqual([]);
    expect(batchBefore.succeeded).toStrictEqual([0, 1, 2]);
    expect(batchAfter.firsts()).toStrictEqual([3, 4, 5]);
    expect(stepsBefore.calls.map((c) => c.step)).toStrictEqual(['plan']);
    expect(stepsAfter.calls.map((c) => c.step)).toStrictEqual(['assemble']);
    expect(await after.status(executionId)).toStrictEqual({ status: 'SUCCEEDED' });
    const { entries } = await results(folder);
    expect(firstsOf(entries.SUCCEEDED)).toStrictEqual([0, 1, 2, 3, 4, 5]);
    // The journal is compacted to one line once the execution has ended.
    const journal = await readFile(journalFile, 'utf8');
    expect(journal.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(journal)).toMatchObject({ executionId, status: 'SUCCEEDED', phase: 'Ended' });
  });

  it('a journal that cannot be read part-way ends its execution FAILED rather than resuming it on a guess', async () => {
    // Prepare
    const { input, plan } = await job({ maxConcurrency: 1 }, { count: 3 });
    const batchBefore = new BatchStub(async (event) => {
      if (event.Items[0]?.index === 1) await new Promise(() => undefined);
    });
    const { executionId } = await runner(new StepsStub(plan), batchBefore, { stateDir }).start(input);
    await until(() => batchBefore.calls.length === 2);
    await appendFile(path.join(stateDir, `${input.jobId}.jsonl`), 'not json\n{"state":{}}\n');
    const warnings: string[] = [];
    const steps = new StepsStub(plan);
    const batchAfter = new BatchStub();

    // Act
    const after = runner(steps, batchAfter, { stateDir, warn: (text) => warnings.push(text) });
    const resumed = await after.resume();

    // Assess
    expect(resumed).not.toContain(executionId);
    expect(await after.status(executionId)).toStrictEqual({
      status: 'FAILED',
      error: 'Local.JournalUnreadable',
      cause: expect.stringContaining('cannot be resumed'),
    });
    expect(warnings.join('')).toContain(`${input.jobId}.jsonl`);
    expect(batchAfter.calls).toHaveLength(0);
    expect(steps.calls).toHaveLength(0);
  });

  it('close waits for the batches in flight and leaves the execution RUNNING for the next process', async () => {
    // Prepare
    const { input, plan } = await job({ maxConcurrency: 2 }, { count: 6 });
    const steps = new StepsStub(plan);
    const held = gate();
    const batch = new BatchStub(() => held.wait);
    const first = runner(steps, batch, { stateDir });
    const { executionId } = await first.start(input);
    await until(() => batch.inFlight === 2);

    // Act
    let closed = false;
    const closing = first.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 30));
    const closedBeforeRelease = closed;
    held.open();
    await closing;
    const second = runner(new StepsStub(plan), new BatchStub(), { stateDir });
    const statusAfterClose = await second.status(executionId);
    await second.resume();
    await second.settled(executionId);

    // Assess
    expect(closedBeforeRelease).toBe(false);
    expect(ascending(batch.firsts())).toStrictEqual([0, 1]);
    expect(await first.start(input).catch((error: unknown) => error)).toBeInstanceOf(Error);
    expect(statusAfterClose).toStrictEqual({ status: 'RUNNING' });
    expect(await second.status(executionId)).toStrictEqual({ status: 'SUCCEEDED' });
  });

  it('an execution whose splits file is gone cannot be redriven: the Map fails with States.ItemReaderFailed, Assemble records it', async () => {
    // Prepare
    const { input, plan, splitsKey } = await job({ maxConcurrency: 1 }, { count: 3 });
    const batchBefore = new BatchStub(async (event) => {
      if (event.Items[0]?.index === 1) await new Promise(() => undefined);
    });
    const { executionId } = await runner(new StepsStub(plan), batchBefore, { stateDir }).start(input);
    await until(() => batchBefore.calls.length === 2);
    await clients.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: splitsKey }));
    const steps = new StepsStub(plan);
    const batchAfter = new BatchStub();
    const after = runner(steps, batchAfter, { stateDir });

    // Act
    await after.resume();
    await after.settled(executionId);

    // Assess
    expect(batchAfter.calls).toHaveLength(0);
    expect(steps.of('assemble')[0]?.mapError).toStrictEqual({
      Error: 'States.ItemReaderFailed',
      Cause: `The splits file s3://${BUCKET}/${splitsKey} does not exist.`,
    });
    expect(await after.status(executionId)).toMatchObject({ status: 'FAILED', error: 'BatchJobFailed' });
  });
});
