/**
 * A batch job survives hard kills of `npm start` (issue 11's acceptance): the real `npm start`
 * runs a 200,000-row JSON Lines job (uploaded through the API's presigned URL; small batches, two
 * at a time, so it runs for several seconds). The whole process tree (npm, the API's node
 * process, the AWS servers' child) is SIGKILLed four times, each time restarted on the same data
 * folder: right after the submission (in the plan), early and late in the Distributed Map (at
 * seeded fractions of the rows read), and while the output is assembled. The job must end
 * SUCCEEDED with every input row in exactly one of `predictions.jsonl` and `errors.jsonl`, in
 * input order, the corrupted rows exactly the error records, every prediction the predict
 * route's, and the manifest's and the job's counts exact.
 *
 * A kill is a SIGKILL of every process of the tree in one go, so no handler runs: the next start
 * finds only what was on disk. The test reads the execution's journal (local/batch-runner.ts) to
 * know where each kill landed, and prints it, the job and the servers' output when it fails.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from '@jest/globals';
import type { BatchJob, JobManifest } from '../../functions/core/batch-contract.js';
import { mintToken, readSigningKey, signingKeyPath } from '../../local/auth.js';
import { LOCAL_BATCH_BUCKET } from '../../local/stack.js';
import { irisBatch, irisRows, type Corruption } from '../fixtures/batch-data.js';
import { call, type JsonReply } from '../fixtures/http.js';
import { seededRandom } from '../fixtures/models.js';
import { descendants, isAlive, startNpmStart, waitUntilGone, type NpmStart, type ProcessEntry } from '../fixtures/npm-start.js';

const SEED = 20_261_130;
const ROWS = 200_000;
/** Rows corrupted, spread over the input (0.1%: under the job's tolerance of 1%). */
const CORRUPTED = 200;
/** Small batches, two at a time: the job runs for several seconds, so a kill lands inside it. */
const JOB_OPTIONS = { rowsPerBatch: 500, maxConcurrency: 2, toleratedFailurePercentage: 1 } as const;
/** How long a kill point, then the job's end, may be waited for (ms). */
const WAIT_MS = 60_000;

/** What the execution's journal adds up to (see {@link journal}). */
interface JournalState {
  readonly text: string;
  readonly status?: string;
  readonly phase?: string;
  /** Batches journaled as SUCCEEDED. */
  readonly batches: number;
}

/**
 * The kills, in order: each lands once `due` holds (`rows` drawn per kill from the seeded random
 * source), and the journal must then show the execution RUNNING in one of `phases`.
 */
interface KillPoint {
  readonly name: string;
  /** A fraction of the input's rows, drawn from this range, that `due` may wait for. */
  readonly rows?: { readonly from: number; readonly to: number };
  due(job: BatchJob, journal: JournalState, rows: number): boolean;
  readonly phases: readonly string[];
}
const KILL_POINTS: readonly KillPoint[] = [
  // The plan takes a fraction of a second: the kill lands in it, or just after.
  { name: 'right after the submission', due: () => true, phases: ['Plan', 'PredictSplits'] },
  {
    name: 'early in the map',
    rows: { from: 0.02, to: 0.2 },
    due: (job, _, rows) => job.state === 'RUNNING' && job.progress.rowsRead >= rows,
    phases: ['PredictSplits'],
  },
  {
    name: 'late in the map',
    rows: { from: 0.55, to: 0.8 },
    due: (job, _, rows) => job.state === 'RUNNING' && job.progress.rowsRead >= rows,
    phases: ['PredictSplits'],
  },
  // Assembling 200,000 rows takes a second or two.
  { name: 'while assembling', due: (_, journal) => journal.phase === 'Assemble', phases: ['Assemble'] },
];
/** The iris values repeat every 150 rows (`irisRow(i)` is iris row i mod 150). */
const DISTINCT_ROWS = 150;

const folders: string[] = [];
/** Every process tree started, so that none outlives a failed test. */
const trees: ProcessEntry[][] = [];
const runs: NpmStart[] = [];

afterEach(async () => {
  const left = trees.splice(0).flat().filter(isAlive);
  for (const entry of left) process.kill(entry.pid, 'SIGKILL');
  await waitUntilGone(left);
  for (const run of runs.splice(0)) if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
});

afterAll(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

/** `npm start` on `dataDir`, its process tree recorded for the cleanup. */
async function start(dataDir: string): Promise<NpmStart> {
  const started = await startNpmStart(dataDir, { ACCESS_LOG: 'off', LOG_LEVEL: 'WARN' }, 60_000);
  runs.push(started);
  trees.push(descendants(started.child.pid ?? 0));
  return started;
}

/** SIGKILL to npm and every process under it, in one go; resolves once all are gone. */
async function killTree(started: NpmStart): Promise<void> {
  const tree = descendants(started.child.pid ?? 0);
  // Deepest first, all before any can react: none of them runs a handler.
  for (const entry of [...tree].reverse()) process.kill(entry.pid, 'SIGKILL');
  started.child.kill('SIGKILL');
  await started.exited;
  // Gone, or zombies not yet reaped by their new parent: the restart follows at once (the data
  // folder's lock, local/start.ts, takes a zombie holder for a dead one).
  expect(await waitUntilGone(tree)).toEqual([]);
}

/** The execution's journal as `local/batch-runner.ts` keeps it: its text, and the state it adds up to. */
async function journal(dataDir: string, jobId: string): Promise<JournalState> {
  const file = path.join(dataDir, 'batch-executions', `${encodeURIComponent(jobId)}.jsonl`);
  const text = await readFile(file, 'utf8').catch((error: unknown) => `(unreadable: ${String(error)})`);
  const lines = text.split('\n').filter((line) => line !== '');
  const state: { status?: string; phase?: string } = {};
  let batches = 0;
  lines.forEach((line, i) => {
    let parsed: { status?: string; phase?: string; succeeded?: unknown[]; state?: { status?: string; phase?: string }; batch?: unknown };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      return; // a line a kill cut short (the last one)
    }
    const change = i === 0 ? parsed : (parsed.state ?? {});
    if (change.status !== undefined) state.status = change.status;
    if (change.phase !== undefined) state.phase = change.phase;
    if (i === 0) batches += parsed.succeeded?.length ?? 0;
    else if (parsed.batch) batches += 1;
  });
  return { text, ...state, batches };
}

function lines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** 200 rows spread over the input, each corrupted one of the ways JSON Lines allows. */
function corruptions(): Map<number, Corruption> {
  const kinds: Corruption[] = ['wrong-type', 'nan', 'missing-field', 'malformed'];
  const map = new Map<number, Corruption>();
  for (let k = 0; k < CORRUPTED; k++) map.set((k * 104_729 + 13) % ROWS, kinds[k % kinds.length] as Corruption);
  return map;
}

it('a job survives SIGKILLs of the whole npm start tree (in its plan, early and late in its map, in its assembly): it ends SUCCEEDED with every row exactly once', async () => {
  // Prepare: npm start on a fresh data folder, a token signed by that folder's key.
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'batch-kill-'));
  folders.push(dataDir);
  const random = seededRandom(SEED);
  let npm = await start(dataDir);
  const outputs: string[] = [];
  const token = await mintToken(await readSigningKey(signingKeyPath(dataDir)), {
    subject: 'batch-kill',
    scopes: ['predict', 'batch:submit', 'batch:read'],
  });
  const api = (method: string, route: string, body?: unknown): Promise<JsonReply> =>
    call(npm.url, method, route, body, { authorization: `Bearer ${token}` });
  // The predict route's answers for the distinct rows, which every row of the input repeats.
  const predicted = await api('POST', '/v1/models/iris/predict', { instances: irisRows(DISTINCT_ROWS) });
  expect(predicted.status).toBe(200);
  const viaApi = (predicted.body as { predictions: unknown[] }).predictions;
  expect(viaApi).toHaveLength(DISTINCT_ROWS);
  // The input, uploaded as a user would: an upload URL from the API, then a PUT.
  const data = irisBatch({ rows: ROWS, format: 'jsonl', corrupt: corruptions() });
  const upload = await api('POST', '/v1/models/iris/batch-inputs', { fileName: 'kill.jsonl' });
  expect(upload.status).toBe(201);
  const { uploadUrl, uri } = upload.body as { uploadUrl: string; uri: string };
  expect((await fetch(uploadUrl, { method: 'PUT', body: Buffer.from(data.bytes) })).status).toBe(200);

  // Act: submit; at each kill point, SIGKILL the whole tree and restart it on the same folder.
  const submitted = await api('POST', '/v1/models/iris/batch-jobs', {
    input: { uri },
    output: { uri: `s3://${LOCAL_BATCH_BUCKET}/results/` },
    ...JOB_OPTIONS,
  });
  expect(submitted.status).toBe(202);
  const jobId = (submitted.body as { job: BatchJob }).job.jobId;
  const route = `/v1/models/iris/batch-jobs/${jobId}`;
  const kills: Array<{ name: string; rows: number; rowsRead: number; journal: Omit<JournalState, 'text'> }> = [];
  const journals: string[] = [];
  for (const point of KILL_POINTS) {
    const rows = point.rows ? Math.round(ROWS * (point.rows.from + random() * (point.rows.to - point.rows.from))) : 0;
    const waitUntil = Date.now() + WAIT_MS;
    let job: BatchJob;
    for (;;) {
      const reply = await api('GET', route);
      expect(reply.status).toBe(200);
      job = (reply.body as { job: BatchJob }).job;
      const now = await journal(dataDir, jobId);
      if (point.due(job, now, rows)) break;
      if (!['SUBMITTED', 'RUNNING'].includes(job.state) || Date.now() > waitUntil) {
        throw new Error(
          `The kill ${point.name} never came due: the job is ${JSON.stringify(job)}\njournal:\n${now.text.slice(0, 4_000)}\nnpm start printed:\n${npm.output().slice(-6_000)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await killTree(npm);
    outputs.push(npm.output());
    const { text, ...atKill } = await journal(dataDir, jobId);
    journals.push(text);
    kills.push({ name: point.name, rows, rowsRead: job.progress.rowsRead, journal: atKill });
    npm = await start(dataDir);
  }
  const deadline = Date.now() + WAIT_MS;
  let done: { job: BatchJob; links?: { predictions: string; errors: string; manifest: string } };
  for (;;) {
    const reply = await api('GET', route);
    expect(reply.status).toBe(200);
    done = reply.body as typeof done;
    if (!['SUBMITTED', 'RUNNING'].includes(done.job.state) || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const fetchText = async (url: string | undefined) => (url ? (await fetch(url)).text() : '');
  const [predictionsText, errorsText, manifestText] = await Promise.all([
    fetchText(done.links?.predictions),
    fetchText(done.links?.errors),
    fetchText(done.links?.manifest),
  ]);
  // A clean stop waits for the execution's run to return, so its journal is final after it.
  npm.child.kill('SIGINT');
  const stopped = await npm.exited;
  outputs.push(npm.output());
  const finalJournal = await journal(dataDir, jobId);

  // Assess
  try {
    // Each kill hit the job mid-way: the journal had its execution RUNNING in the phase aimed at;
    // in the map, with some batches done and not all.
    expect(kills.map((kill) => ({ name: kill.name, status: kill.journal.status, phase: kill.journal.phase }))).toEqual(
      KILL_POINTS.map((point) => ({
        name: point.name,
        status: 'RUNNING',
        phase: expect.stringMatching(new RegExp(`^(${point.phases.join('|')})$`)),
      })),
    );
    for (const kill of kills.filter((k) => k.rows > 0)) {
      expect(kill.rowsRead).toBeGreaterThanOrEqual(kill.rows);
      expect(kill.rowsRead).toBeLessThan(ROWS);
      expect(kill.journal.batches).toBeGreaterThan(0);
      expect(kill.journal.batches).toBeLessThan(ROWS / JOB_OPTIONS.rowsPerBatch);
    }
    // The job ended, SUCCEEDED, with exact counts; the execution ended with it.
    expect({ state: done.job.state, failure: done.job.failure }).toEqual({ state: 'SUCCEEDED' });
    const bad = data.corrupted.length;
    expect(bad).toBe(CORRUPTED);
    expect(done.job).toMatchObject({ rows: ROWS, progress: { rowsRead: ROWS, predicted: ROWS - bad, failed: bad } });
    expect({ status: finalJournal.status, phase: finalJournal.phase }).toEqual({ status: 'SUCCEEDED', phase: 'Ended' });
    expect(stopped).toBe(0);
    // Every row in exactly one file, in input order within each.
    const predictions = lines(predictionsText);
    const errors = lines(errorsText);
    const predictionRows = predictions.map((line) => line['row'] as number);
    const errorRows = errors.map((line) => line['row'] as number);
    expect(predictionRows.every((row, i) => i === 0 || row > (predictionRows[i - 1] as number))).toBe(true);
    expect(errorRows.every((row, i) => i === 0 || row > (errorRows[i - 1] as number))).toBe(true);
    const seen = new Uint8Array(ROWS);
    const outside: number[] = [];
    for (const row of [...predictionRows, ...errorRows]) {
      if (Number.isInteger(row) && row >= 0 && row < ROWS) seen[row] = (seen[row] as number) + 1;
      else outside.push(row);
    }
    const missing = [...seen.keys()].filter((row) => seen[row] === 0);
    const duplicated = [...seen.keys()].filter((row) => (seen[row] as number) > 1);
    expect({
      missing: missing.slice(0, 20),
      missingCount: missing.length,
      duplicated: duplicated.slice(0, 20),
      duplicatedCount: duplicated.length,
      outside,
    }).toEqual({
      missing: [],
      missingCount: 0,
      duplicated: [],
      duplicatedCount: 0,
      outside: [],
    });
    expect(predictions.length + errors.length).toBe(ROWS);
    // The corrupted rows, and only they, are the error records, with the codes their corruption gives.
    expect(errors.map((e) => ({ row: e['row'], code: e['code'] }))).toEqual(data.corrupted.map(({ row, code }) => ({ row, code })));
    // Every prediction is the predict route's for the same values.
    const wrong = predictions.filter(
      (line) => JSON.stringify(line['prediction']) !== JSON.stringify(viaApi[(line['row'] as number) % DISTINCT_ROWS]),
    );
    expect(wrong.slice(0, 5)).toEqual([]);
    // The manifest agrees.
    const manifest = JSON.parse(manifestText) as JobManifest;
    expect(manifest).toMatchObject({
      jobId,
      model: 'iris',
      modelVersion: done.job.modelVersion,
      state: 'SUCCEEDED',
      rows: ROWS,
      predicted: ROWS - bad,
      failed: bad,
      failedInBatches: 0,
    });
  } catch (error) {
    process.stderr.write(
      `${[
        `batch-kill: what happened to job ${jobId}`,
        `kills: ${JSON.stringify(kills)}`,
        `job: ${JSON.stringify(done.job, null, 2)}`,
        ...journals.map((text, i) => `journal at kill ${i + 1} (${text.length} chars):\n${text.slice(0, 4_000)}`),
        `journal at the end:\n${finalJournal.text.slice(0, 4_000)}`,
        ...outputs.map((text, i) => `npm start #${i + 1} printed:\n${text.slice(-6_000)}`),
      ].join('\n\n')}\n`,
    );
    throw error;
  }
}, 150_000);
