/**
 * What a new user does: `npm start`, paste the printed curl lines (one with a minted token, one
 * that mints its own with modelctl), stop, start again. Runs the real start script in a child
 * process with its own data folder and a free port.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startNpmStart, type NpmStart } from '../fixtures/npm-start.js';

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
  const found = started.output().split('\n').map((l) => l.trim()).find((l) => l.startsWith(prefix));
  if (!found) throw new Error(`no line starting with ${prefix} in:\n${started.output()}`);
  return found;
}

const urlOf = (started: Started) => started.url;

it('prints a curl line (with a real token) that returns a correct prediction, and keeps its state and key across restarts', async () => {
  // Prepare / Act: the first start registers the sample model and creates the signing key.
  const first = await start();
  const curl = line(first, 'curl -s http');
  expect(first.output()).toContain('Registered the sample model "iris" and made it live.');
  expect(curl).toMatch(/-H "authorization: Bearer [\w-]+\.[\w-]+\.[\w-]+"/);
  const { stdout } = await run('sh', ['-c', curl]);
  const reply = JSON.parse(stdout) as { model: string; predictions: { label: string; confidence: number }[] };
  expect(reply.model).toBe('iris');
  expect(reply.predictions[0]?.label).toBe('setosa');
  // The models line mints its own token in a subshell (`npm run -s modelctl -- token ...`).
  const models = await run('sh', ['-c', line(first, 'Models: curl').slice('Models: '.length)]);
  expect((JSON.parse(models.stdout) as { models: { model: string }[] }).models.map((m) => m.model)).toEqual(['iris']);
  // Without the token, the same request is refused.
  const anonymous = await run('sh', ['-c', curl.replace(/-H "authorization: [^"]+" /, '')]);
  expect(JSON.parse(anonymous.stdout)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
  expect(await stop(first)).toBe(0);

  // The second start finds the model and the key in the data folder: the first token still works.
  const second = await start();
  expect(second.output()).toContain('The sample model "iris" is live.');
  const again = await run('sh', ['-c', line(second, 'curl -s http')]);
  expect((JSON.parse(again.stdout) as typeof reply).predictions[0]?.label).toBe('setosa');
  const oldToken = await run('sh', ['-c', curl.replace(urlOf(first), urlOf(second))]);
  expect((JSON.parse(oldToken.stdout) as typeof reply).predictions[0]?.label).toBe('setosa');
  expect(await stop(second)).toBe(0);
  expect((await readdir(dataDir)).sort()).toEqual(['auth', 'dynamodb', 'model-cache', 's3']);
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
