/**
 * What a new user does: `npm start`, paste the printed curl lines (one with a minted token, one
 * that mints its own with modelctl), stop, start again. Then what a process manager does: stop it
 * with SIGTERM or SIGINT, sent to npm or to the node process under it; send the node process
 * any other signal it stops on; kill npm with a signal it does not forward (the server notices
 * its parent is gone); or kill the node process outright. Runs the real `npm start` in a child process with its own data folder and a free port.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { mintToken, readSigningKey, signingKeyPath } from '../../local/auth.js';
import { TRANSACTION_JOURNAL_DIR } from '../../local/aws-servers.js';
import { call } from '../fixtures/http.js';
import { descendants, isAlive, startNpmStart, waitUntilGone, type NpmStart, type ProcessEntry } from '../fixtures/npm-start.js';

const run = promisify(execFile);
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'npm-start-'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

type Started = NpmStart;

/** Starts `local/start.ts` as `npm start` does and waits for its ready message. */
function start(env: Record<string, string> = {}): Promise<Started> {
  return startNpmStart(dataDir, env, 45_000);
}

async function stop({ child, exited }: Started): Promise<number | null> {
  child.kill('SIGINT');
  return exited;
}

/** The printed line that starts with `prefix` (e.g. `curl -s http`), without the prefix's label. */
function line(started: Started, prefix: string): string {
  const found = started
    .output()
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith(prefix));
  if (!found) throw new Error(`no line starting with ${prefix} in:\n${started.output()}`);
  return found;
}

const urlOf = (started: Started) => started.url;

it('prints a curl line (with a real token) that returns a correct prediction, and keeps its state and key across restarts', async () => {
  // Prepare / Act: the first start registers the sample model and creates the signing key.
  const first = await start();
  const curl = line(first, 'curl -s http');
  expect(first.output()).toContain('Registered the sample models "iris" (a classifier) and "diabetes" (a regressor) and made them live.');
  expect(curl).toMatch(/-H "authorization: Bearer [\w-]+\.[\w-]+\.[\w-]+"/);
  const { stdout } = await run('sh', ['-c', curl]);
  const reply = JSON.parse(stdout) as { model: string; predictions: { label: string; confidence: number }[] };
  expect(reply.model).toBe('iris');
  expect(reply.predictions[0]?.label).toBe('setosa');
  // The models line mints its own token in a subshell (`npm run -s modelctl -- token ...`).
  const models = await run('sh', ['-c', line(first, 'Models: curl').slice('Models: '.length)]);
  expect((JSON.parse(models.stdout) as { models: { model: string }[] }).models.map((m) => m.model)).toEqual(['diabetes', 'iris']);
  // Without the token, the same request is refused.
  const anonymous = await run('sh', ['-c', curl.replace(/-H "authorization: [^"]+" /, '')]);
  expect(JSON.parse(anonymous.stdout)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
  expect(await stop(first)).toBe(0);

  // The second start finds the model and the key in the data folder: the first token still works.
  const second = await start();
  expect(second.output()).toContain('The sample models "iris" (a classifier) and "diabetes" (a regressor) are live.');
  const again = await run('sh', ['-c', line(second, 'curl -s http')]);
  expect((JSON.parse(again.stdout) as typeof reply).predictions[0]?.label).toBe('setosa');
  const oldToken = await run('sh', ['-c', curl.replace(urlOf(first), urlOf(second))]);
  expect((JSON.parse(oldToken.stdout) as typeof reply).predictions[0]?.label).toBe('setosa');
  expect(await stop(second)).toBe(0);
  // What the README lists (the lock is released); the local DynamoDB's transaction journal may be there too.
  expect((await readdir(dataDir)).filter((entry) => entry !== TRANSACTION_JOURNAL_DIR).sort()).toEqual([
    'auth',
    'batch-executions',
    'dynamodb',
    'model-cache',
    's3',
  ]);
}, 120_000);

it('says at every start that authorization is off in the insecure mode', async () => {
  const insecure = await start({ LOCAL_AUTH: 'insecure' });
  const curl = line(insecure, 'curl -s http');
  const { stdout } = await run('sh', ['-c', curl]);

  expect(insecure.output()).toContain('WARNING: authorization is OFF');
  expect(curl).not.toContain('authorization');
  expect((JSON.parse(stdout) as { model: string }).model).toBe('iris');
  expect(await stop(insecure)).toBe(0);
}, 120_000);

describe('stopping npm start', () => {
  const FEATURES = { sepal_length_cm: 5.9, sepal_width_cm: 3.0, petal_length_cm: 5.1, petal_width_cm: 1.8 };

  /** Whether something accepts connections on the port of `url`. */
  function listening(url: string): Promise<boolean> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve) => {
      const socket = connect(Number(port), hostname);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }

  /** npm start's process tree, and in it the API server: the deepest process running local/start.ts. */
  function processTree(started: Started): { tree: ProcessEntry[]; server: ProcessEntry | undefined } {
    const tree = descendants(started.child.pid ?? 0);
    return { tree, server: tree.filter((p) => /local\/start\.ts/.test(p.command)).at(-1) };
  }

  /** Processes of these trees still running when a test ends (it failed) are killed, so none outlives the run. */
  const trees: ProcessEntry[][] = [];
  afterEach(async () => {
    const left = trees.splice(0).flat().filter(isAlive);
    for (const entry of left) process.kill(entry.pid, 'SIGKILL');
    await waitUntilGone(left);
  });

  /** One prediction with the token npm start printed; its request id. */
  async function predictOnce(started: Started): Promise<string> {
    const token = /authorization: Bearer ([\w-]+\.[\w-]+\.[\w-]+)/.exec(started.output())?.[1] ?? '';
    const reply = await call(started.url, 'POST', '/v1/models/iris/predict', { features: FEATURES }, { authorization: `Bearer ${token}` });
    expect(reply.status).toBe(200);
    return (reply.body as { requestId: string }).requestId;
  }

  /** The request ids of the sample model's prediction log, read through the API of a running npm start. */
  async function loggedRequestIds(started: Started): Promise<string[]> {
    const key = await readSigningKey(signingKeyPath(dataDir));
    const token = await mintToken(key, { subject: 'stop-test', scopes: ['models:read'] });
    const reply = await call(started.url, 'GET', '/v1/models/iris/predictions?since=1d&limit=1000', undefined, {
      authorization: `Bearer ${token}`,
    });
    expect(reply.status).toBe(200);
    return (reply.body as { records: { requestId: string }[] }).records.map((r) => r.requestId);
  }

  /**
   * The predictions answered just before a stop, not yet looked for after a restart. Every test
   * below starts npm start on the same data folder: that start is the restart after the test
   * before it, and looks for that test's prediction in the log (one start fewer per test than a
   * restart of its own); `afterAll` restarts once more for the last one.
   */
  const flushedBefore: Array<{ stop: string; requestId: string }> = [];

  /** Finds in the log of a (re)started npm start every prediction answered before the stops since the last restart. */
  async function expectFlushedBefore(started: Started): Promise<void> {
    const logged = await loggedRequestIds(started);
    for (const { stop, requestId } of flushedBefore.splice(0)) {
      expect({ stop, logged: logged.includes(requestId) }).toEqual({ stop, logged: true });
    }
  }

  /** `start()`, its process tree in `trees`, then {@link expectFlushedBefore}: the restart after the test before. */
  async function restart(): Promise<Started> {
    const started = await start();
    trees.push(processTree(started).tree);
    await expectFlushedBefore(started);
    return started;
  }

  afterAll(async () => {
    if (flushedBefore.length === 0) return;
    const again = await start();
    try {
      await expectFlushedBefore(again);
    } finally {
      again.child.kill('SIGINT');
      await again.exited;
    }
  }, 120_000);

  it.each([
    ['SIGTERM', 'npm'],
    ['SIGINT', 'npm'],
    ['SIGTERM', 'node'],
    ['SIGINT', 'node'],
    // A closed terminal sends SIGHUP to each process of its group; npm does not forward it.
    ['SIGHUP', 'node'],
    // Ctrl+\, and what restarters such as nodemon send.
    ['SIGQUIT', 'node'],
    ['SIGUSR2', 'node'],
  ] as const)(
    '%s to the %s process stops everything, flushing the prediction and access logs',
    async (signal, target) => {
      // Prepare: npm start answers one prediction; its process tree: npm, node, the AWS servers' child
      const started = await restart();
      const requestId = await predictOnce(started);
      const npmPid = started.child.pid ?? 0;
      const { tree, server } = processTree(started);
      expect(server).toBeDefined();
      expect(tree.some((p) => /aws-process/.test(p.command))).toBe(true);

      // Act
      process.kill(target === 'npm' ? npmPid : (server?.pid ?? 0), signal);
      const code = await started.exited;

      // Assess: a clean exit, the port closed, no process of the tree left, the access line printed
      expect(code).toBe(0);
      expect(started.output()).toContain(`${signal}: stopping...`);
      expect(await listening(started.url)).toBe(false);
      expect(await waitUntilGone(tree)).toEqual([]);
      expect(started.output()).toMatch(/^POST \/v1\/models\/\{model\}\/predict 200 /m);
      // ...and the record of the prediction answered just before is in the log after a restart
      // (the next start, see `restart`).
      flushedBefore.push({ stop: `${signal} to ${target}`, requestId });
    },
    120_000,
  );

  it.each(['SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGKILL'] as const)(
    'npm killed by %s (which it does not forward) leaves no server behind: it stops cleanly, flushing its logs',
    async (signal) => {
      // Prepare: npm start answers one prediction
      const started = await restart();
      const requestId = await predictOnce(started);
      const npmPid = started.child.pid ?? 0;
      const { tree, server } = processTree(started);
      expect(server).toBeDefined();

      // Act: only npm gets the signal; it dies of it without telling its child
      process.kill(npmPid, signal);
      const code = await started.exited;

      // Assess: npm is gone, and the server under it noticed and stopped as on SIGTERM
      expect(code).not.toBe(0);
      expect(await waitUntilGone(tree)).toEqual([]);
      expect(started.output()).toContain(`npm (pid ${npmPid}) exited: stopping...`);
      expect(await listening(started.url)).toBe(false);
      expect(started.output()).toMatch(/^POST \/v1\/models\/\{model\}\/predict 200 /m);
      // ...and its record is in the log after a restart (the next start, see `restart`).
      flushedBefore.push({ stop: `npm killed by ${signal}`, requestId });
    },
    120_000,
  );

  it("SIGKILL of the node server process takes the embedded AWS servers' process down with it", async () => {
    // Prepare
    const started = await restart();
    const { tree, server } = processTree(started);
    const aws = tree.filter((p) => /aws-process/.test(p.command));
    expect(server).toBeDefined();
    expect(aws).toHaveLength(1);

    // Act: no handler runs, no message is sent; only the IPC channel closes
    process.kill(server?.pid ?? 0, 'SIGKILL');
    await started.exited;

    // Assess: the child notices and exits (no orphan holds the data folder), and the next start works
    expect(await waitUntilGone(tree)).toEqual([]);
    const again = await start();
    trees.push(processTree(again).tree);
    expect(await listening(again.url)).toBe(true);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  }, 120_000);
});
