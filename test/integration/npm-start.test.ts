/**
 * What a new user does: `npm start`, paste the printed curl line, stop, start again. Runs the real
 * start script in a child process with its own data folder and a free port.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'npm-start-'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

interface Started {
  readonly child: ChildProcess;
  readonly output: () => string;
}

/** Starts `local/start.ts` as `npm start` does and waits for its ready message. */
async function start(): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
    env: { ...process.env, PORT: '0', DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not get ready:\n${output}`)), 45_000);
    const check = () => {
      if (output.includes('Stop: Ctrl+C')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${output}`));
    });
  });
  return { child, output: () => output };
}

async function stop({ child }: Started): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  return exited;
}

it('prints a curl line that returns a correct prediction, and keeps its state across restarts', async () => {
  // Prepare / Act: the first start registers the sample model.
  const first = await start();
  const curl = first.output().split('\n').find((line) => line.trim().startsWith('curl -s http'));
  expect(first.output()).toContain('Registered the sample model "iris" and made it live.');
  expect(curl).toBeDefined();
  const { stdout } = await run('sh', ['-c', curl as string]);
  const reply = JSON.parse(stdout) as { model: string; predictions: { label: string; confidence: number }[] };
  expect(reply.model).toBe('iris');
  expect(reply.predictions[0]?.label).toBe('setosa');
  expect(await stop(first)).toBe(0);

  // The second start finds the model in the data folder and serves it again.
  const second = await start();
  expect(second.output()).toContain('The sample model "iris" is live.');
  const again = await run('sh', ['-c', second.output().split('\n').find((line) => line.trim().startsWith('curl -s http')) as string]);
  expect((JSON.parse(again.stdout) as typeof reply).predictions[0]?.label).toBe('setosa');
  expect(await stop(second)).toBe(0);
  expect((await readdir(dataDir)).sort()).toEqual(['dynamodb', 'model-cache', 's3']);
}, 120_000);
