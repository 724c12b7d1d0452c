/**
 * Acceptance: the memory test. One local stack process registers, gates and releases six
 * versions of a 40 MB model one after another (each its own file, its own published function
 * version, served right after its release), with the session cache set to 2 sessions / 100 MB.
 * Its resident set stays within the configured bound plus a margin, and stops growing once the
 * bound is reached.
 *
 * RSS is measured in a child process (test/fixtures/memory-child.ts) after a forced GC: jest's own
 * memory comes and goes with the test files around it and would drown the signal.
 *
 * Margins, from runs on the 2-core build machine (bounded: 153-162 MB at rest, 281-297 after the
 * first round, 325-335 from the second round on; with the cache unbounded each round adds 30-45 MB,
 * 486 MB after six):
 * - each cached byte of model file may cost 1.5 bytes of RSS (ONNX Runtime holds the weights,
 *   measured at about 1.05× the file here, plus its per-session working memory);
 * - 150 MB fixed: what the first large load costs once and keeps (ONNX Runtime's thread pool and
 *   arena, the SDK's and the HTTP server's buffers, the V8 heap grown by the 40 MB artifact
 *   buffers, allocator arenas that never shrink), measured at about 100 MB;
 * - once the bound is reached (after round 2), four more rounds may add at most 64 MB in all,
 *   1.5 sessions' worth of allocator noise; without the bound they add about 155 MB.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAX_SESSIONS = 2;
const MAX_BYTES = 100_000_000;
const MB = 1024 * 1024;

interface Round {
  readonly event: 'start' | 'round';
  readonly round?: number;
  readonly rssMb: number;
  readonly sessions?: { readonly sessions: number; readonly bytes: number; readonly busy: number; readonly freed: number };
}

/** Runs the child to its end; its JSON lines with an `event`. */
async function runChild(env: Record<string, string>): Promise<Round[]> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(ROOT, 'test/fixtures/memory-child.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`the memory child exited with ${code}: ${stderr.slice(-2_000)}`);
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{"event"'))
    .map((line) => JSON.parse(line) as Round);
}

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'session-memory-'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

it('six releases of a 40 MB model keep the process within the session bound plus a margin', async () => {
  // Act
  const lines = await runChild({
    MEMORY_DATA_DIR: dataDir,
    MEMORY_VERSIONS: '6',
    MEMORY_MODEL_MB: '40',
    SESSION_CACHE_MAX_SESSIONS: String(MAX_SESSIONS),
    SESSION_CACHE_MAX_BYTES: String(MAX_BYTES),
  });

  // Assess
  const start = lines.find((l) => l.event === 'start');
  const rounds = lines.filter((l) => l.event === 'round');
  expect(rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
  // Structurally: never more than the bound held once a round is over, the evicted ones freed
  for (const [i, round] of rounds.entries()) {
    expect(round.sessions?.sessions).toBe(Math.min(i + 1, MAX_SESSIONS));
    expect(round.sessions?.bytes).toBeLessThanOrEqual(MAX_BYTES);
    expect(round.sessions?.busy).toBe(0);
    expect(round.sessions?.freed).toBe(Math.max(0, i + 1 - MAX_SESSIONS));
  }
  // RSS: within the bound plus the margins explained above
  const last = rounds.at(-1)?.rssMb ?? Number.POSITIVE_INFINITY;
  const atBound = rounds[MAX_SESSIONS - 1]?.rssMb ?? 0;
  expect(last).toBeLessThanOrEqual((start?.rssMb ?? 0) + (1.5 * MAX_BYTES) / MB + 150);
  expect(last - atBound).toBeLessThanOrEqual(64);
}, 300_000);
