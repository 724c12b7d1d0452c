/**
 * The job API's core where the workflow misbehaves, which the local emulation never does: a
 * workflow that cannot be started, a job stored but never started (a crash between the two)
 * found again by its client token, and a workflow that ended without recording the job's end
 * (an abort, a timeout, a step that failed after its retries) reconciled when the job is read.
 * The workflow runner here is a stand-in that fails on purpose; the rest is real: the readers,
 * the registry with the sample model, an in-memory S3 and job table with the adapters' semantics.
 */
import { readFileSync } from 'node:fs';
import type { JobRunner, WorkflowInput } from '../../functions/core/batch-contract.js';
import { inspectInput } from '../../functions/core/batch-input.js';
import { BatchJobService } from '../../functions/core/batch-jobs.js';
import type { ModelMetadata } from '../../functions/core/model.js';
import { InMemoryArtifactStore, InMemoryModelRegistry, publishModel } from '../fixtures/in-memory.js';
import { InMemoryDataObjects } from '../fixtures/in-memory-data.js';
import { InMemoryBatchJobStore } from '../fixtures/in-memory-jobs.js';
import { irisBatch } from '../fixtures/batch-data.js';
import { rejection } from '../fixtures/errors.js';

const read = (path: string): Buffer => readFileSync(new URL(`../../${path}`, import.meta.url));
const IRIS_METADATA = JSON.parse(read('models/iris/metadata.json').toString('utf8')) as ModelMetadata;
const SIGNATURE = {
  inputs: [{ name: 'features', type: 'float32' as const, shape: [null, 4] }],
  outputs: [
    { name: 'label', type: 'int64' as const, shape: [null] },
    { name: 'probabilities', type: 'float32' as const, shape: [null, 3] },
  ],
};

/** A workflow runner whose answers the test sets. */
class ScriptedRunner implements JobRunner {
  started: WorkflowInput[] = [];
  failStart = false;
  statusOf: Awaited<ReturnType<JobRunner['status']>> = { status: 'RUNNING' };
  async start(input: WorkflowInput) {
    if (this.failStart) throw new Error('StartExecution: ServiceUnavailable');
    this.started.push(input);
    return { executionId: `arn:aws:states:eu-west-1:123456789012:execution:batch:${input.jobId}` };
  }
  async stop() {}
  async status() {
    return this.statusOf;
  }
}

let store: InMemoryBatchJobStore;
let runner: ScriptedRunner;
let jobs: BatchJobService;
let deps: ConstructorParameters<typeof BatchJobService>[0];

beforeEach(async () => {
  const registry = new InMemoryModelRegistry();
  await publishModel(registry, new InMemoryArtifactStore(), {
    model: 'iris',
    bytes: new Uint8Array([1]),
    signature: SIGNATURE,
    metadata: IRIS_METADATA,
  });
  const objects = new InMemoryDataObjects();
  objects.set({ bucket: 'data', key: 'in/iris.csv' }, irisBatch({ rows: 20, format: 'csv' }).bytes);
  store = new InMemoryBatchJobStore();
  runner = new ScriptedRunner();
  deps = {
    registry,
    store,
    objects,
    runner,
    inspect: inspectInput,
    locations: { iris: { inputs: ['s3://data/in/'], outputs: ['s3://data/out/'] } },
    config: { maxRowsPerBatch: 1000, maxConcurrency: 10 },
  };
  jobs = new BatchJobService(deps);
});

const REQUEST = {
  model: 'iris',
  input: { uri: 's3://data/in/iris.csv' },
  output: { uri: 's3://data/out/' },
  caller: 'alice',
  clientToken: 't-1',
};

it('answers 503 when the workflow cannot start, keeps the job SUBMITTED, and starts it on a retry with its token', async () => {
  runner.failStart = true;

  const error = await rejection(jobs.submit(REQUEST));
  const [stored] = [...store.jobs.values()];
  runner.failStart = false;
  const retried = await jobs.submit(REQUEST);

  expect(error).toMatchObject({ status: 503, code: 'WORKFLOW_START_FAILED' });
  expect(stored).toMatchObject({ state: 'SUBMITTED' });
  expect(stored?.executionId).toBeUndefined();
  expect(retried).toMatchObject({ created: false, job: { jobId: stored?.jobId, state: 'RUNNING' } });
  expect(runner.started.map((s) => s.jobId)).toEqual([stored?.jobId]);
});

it('reads a job never started for 5 minutes as FAILED, and starts it again when its token comes back even then', async () => {
  let now = new Date('2026-11-30T12:00:00.000Z');
  jobs = new BatchJobService({ ...deps, now: () => now });
  runner.failStart = true;
  await rejection(jobs.submit(REQUEST));
  const [stored] = [...store.jobs.values()];
  runner.failStart = false;

  now = new Date('2026-11-30T12:04:59.000Z');
  const early = await jobs.get('iris', stored?.jobId as string);
  now = new Date('2026-11-30T12:05:01.000Z');
  const late = await jobs.get('iris', stored?.jobId as string);
  const retried = await jobs.submit(REQUEST);

  expect(early.state).toBe('SUBMITTED');
  expect(late).toMatchObject({ state: 'FAILED', failure: { code: 'WORKFLOW_START_FAILED' } });
  expect(retried.job).toMatchObject({ state: 'RUNNING', jobId: stored?.jobId });
  expect(retried.job.failure).toBeUndefined();
  expect(retried.job.endedAt).toBeUndefined();
});

it('starts a job stored but never started when its client token comes back', async () => {
  const { job } = await jobs.submit(REQUEST);
  // As if the process had died between storing the job and starting its workflow.
  store.jobs.set(`iris/${job.jobId}`, { ...job, state: 'SUBMITTED', revision: 1 } as never);
  delete (store.jobs.get(`iris/${job.jobId}`) as { executionId?: string }).executionId;
  runner.started = [];

  const again = await jobs.submit(REQUEST);

  expect(runner.started.map((s) => s.jobId)).toEqual([job.jobId]);
  expect(again).toMatchObject({
    created: false,
    job: { jobId: job.jobId, state: 'RUNNING', executionId: expect.stringContaining(job.jobId) },
  });
});

it.each([
  ['FAILED', 'FAILED', 'WORKFLOW_FAILED'],
  ['TIMED_OUT', 'FAILED', 'WORKFLOW_TIMED_OUT'],
  ['ABORTED', 'CANCELLED', 'WORKFLOW_ABORTED'],
] as const)('marks a RUNNING job whose workflow ended %s without a word as %s when it is read', async (status, state, code) => {
  const { job } = await jobs.submit(REQUEST);
  runner.statusOf = { status, error: 'States.TaskFailed', cause: 'the assemble step failed after its retries' };

  const read1 = await jobs.get('iris', job.jobId);
  const read2 = await jobs.get('iris', job.jobId);

  expect(read1).toMatchObject({ state, failure: { code, message: expect.stringContaining('the assemble step failed after its retries') } });
  expect(read2.revision).toBe(read1.revision);
});

it('leaves a RUNNING job alone while its workflow runs', async () => {
  const { job } = await jobs.submit(REQUEST);
  expect((await jobs.get('iris', job.jobId)).state).toBe('RUNNING');
});
