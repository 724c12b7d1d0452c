/**
 * `npm start` that cannot start says why in plain words, and what to do: a variable of the
 * environment that is malformed (`PORT=abc`) is named with the rule it breaks, never the
 * validation library's wording; a port another process holds is called taken, with PORT to set
 * (PORT=0 for a free one), never a bare `listen EADDRINUSE`. Either way it exits 1 and leaves the
 * data folder unlocked for the next start.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Exit {
  readonly code: number | null;
  readonly output: string;
}

/** Runs `command args` in the project folder with `env` added, until it exits. */
function run(command: string, args: readonly string[], env: Record<string, string>): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, npm_config_update_notifier: 'false', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** The local server's entry point, as `npm start` runs it (`exec node --import tsx local/start.ts`). */
const start = (env: Record<string, string>) => run(process.execPath, ['--import', 'tsx', 'local/start.ts'], env);

/** zod's own wording, which a person starting the server should never have to read. */
const LIBRARY_WORDING = /Invalid input|expected number|received NaN|Too (small|big)/;

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'npm-start-errors-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('a malformed environment', () => {
  it('PORT=abc through npm start: names PORT and the rule, exits 1', async () => {
    // Act
    const exit = await run('npm', ['start'], { PORT: 'abc', DATA_DIR: dataDir });

    // Assess
    expect(exit.code).toBe(1);
    expect(exit.output).toContain('npm start failed: Bad environment: PORT: must be a port number from 0 to 65535 (0 picks a free one)');
    expect(exit.output).not.toMatch(LIBRARY_WORDING);
  }, 120_000);

  it.each([
    ['a port out of range', { PORT: '70000' }, 'PORT: must be a port number from 0 to 65535 (0 picks a free one)'],
    ['a fractional port', { PORT: '80.5' }, 'PORT: must be a port number from 0 to 65535 (0 picks a free one)'],
    ['a rate that is no number', { RATE_LIMIT_RPS: 'fast' }, 'RATE_LIMIT_RPS: must be a number'],
    ['an unknown log level', { LOG_LEVEL: 'loud' }, 'LOG_LEVEL: must be one of: "DEBUG", "INFO", "WARN", "ERROR", "SILENT"'],
  ])(
    '%s: named in plain words',
    async (_case, env, expected) => {
      // Act
      const exit = await start({ PORT: '0', DATA_DIR: dataDir, ...env });

      // Assess
      expect(exit.code).toBe(1);
      expect(exit.output).toContain(`npm start failed: Bad environment: ${expected}`);
      expect(exit.output).not.toMatch(LIBRARY_WORDING);
    },
    120_000,
  );
});

describe('a port another process holds', () => {
  let holder: Server;
  let port: number;

  beforeEach(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    port = (holder.address() as AddressInfo).port;
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  });

  it('is called taken, with PORT to set (PORT=0 for a free one); the data folder is left unlocked', async () => {
    // Act
    const exit = await start({ PORT: String(port), DATA_DIR: dataDir });

    // Assess
    expect(exit.code).toBe(1);
    expect(exit.output).toContain(`npm start failed: port ${port} is taken: another process (an earlier npm start?) is listening on it.`);
    expect(exit.output).toContain('(PORT=0 picks a free one)');
    expect(exit.output).not.toContain('EADDRINUSE');
    expect(existsSync(path.join(dataDir, '.lock'))).toBe(false);
  }, 120_000);
});
