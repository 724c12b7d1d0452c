/**
 * `npm start`: the API on localhost with the sample model live. State persists under DATA_DIR
 * (default `.data/`); nothing leaves the machine.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { SAMPLE_MODEL, startLocalStack } from './stack.js';

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  DATA_DIR: z.string().min(1).default('.data'),
});

async function main(): Promise<void> {
  const parsed = Env.safeParse(process.env);
  if (!parsed.success) {
    throw new Error(`Bad environment: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const { PORT, DATA_DIR } = parsed.data;
  const dataDir = path.resolve(DATA_DIR);
  const release = lockDataDir(dataDir);
  const stack = await startLocalStack({ dataDir, port: PORT });
  const example = JSON.stringify({
    features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 },
  });
  const lines = [
    `ONNX serving is up at ${stack.url} (data in ${dataDir}).`,
    stack.sample === 'registered'
      ? `Registered the sample model "${SAMPLE_MODEL.name}" and made it live.`
      : `The sample model "${SAMPLE_MODEL.name}" is live.`,
    '',
    'Try it:',
    `  curl -s ${stack.url}/v1/models/${SAMPLE_MODEL.name}/predict -H 'content-type: application/json' -d '${example}'`,
    '',
    `Models: curl -s ${stack.url}/v1/models    Stop: Ctrl+C`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping...\n`);
    stack.stop().then(
      () => {
        release();
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/**
 * One process per data folder: the embedded DynamoDB keeps its files open, and a second process
 * on the same folder would fail deep inside it. Returns the release function.
 */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lock = path.join(dataDir, '.lock');
  try {
    writeFileSync(lock, String(process.pid), { flag: 'wx' });
  } catch {
    const holder = Number(readFileSync(lock, 'utf8'));
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isRunning(holder)) {
      throw new Error(`another npm start (pid ${holder}) is using ${dataDir}; stop it, or give this one its own DATA_DIR.`);
    }
    writeFileSync(lock, String(process.pid));
  }
  return () => rmSync(lock, { force: true });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
