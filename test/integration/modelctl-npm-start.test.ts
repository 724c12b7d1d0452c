/**
 * `modelctl` beside the real `npm start` on a port other than modelctl's default (3000): the
 * banner prints the `export MODELCTL_API=...` line, and pasted as printed it points modelctl at
 * this server; after the banner, the server prints one line per request it answers.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startNpmStart, type NpmStart } from '../fixtures/npm-start.js';

const run = promisify(execFile);
let dataDir: string;
let started: NpmStart | undefined;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'modelctl-npm-start-'));
});

afterAll(async () => {
  if (started && started.child.exitCode === null) {
    started.child.kill('SIGINT');
    await started.exited;
  }
  await rm(dataDir, { recursive: true, force: true });
});

/** Resolves once the server's output holds `text` (the request log is written a moment after the answer). */
async function printed(server: NpmStart, text: string): Promise<string> {
  while (!server.output().includes(text)) await new Promise((resolve) => setTimeout(resolve, 50));
  return server.output();
}

it('prints the MODELCTL_API line for its port; pasted, modelctl calls this server; then one line per request', async () => {
  // Prepare: PORT 0, a free port that is not 3000.
  started = await startNpmStart(dataDir, { LOCAL_AUTH: 'insecure' }, 45_000);
  const lines = started.output().split('\n');
  const exportLine = lines.map((l) => l.trim()).find((l) => l.startsWith('export MODELCTL_API='));
  const { MODELCTL_API: _unset, ...env } = process.env;

  // Act: the line pasted before modelctl, as a person would in their shell.
  const json = await run('sh', ['-c', `${exportLine}; node bin/modelctl-bin.mjs models -o json`], { env });
  const table = await run('sh', ['-c', `${exportLine}; node bin/modelctl-bin.mjs models`], { env });
  const output = await printed(started, 'GET /v1/models 200');

  // Assess
  expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(started.url).not.toBe('http://127.0.0.1:3000');
  expect(exportLine).toBe(`export MODELCTL_API=${started.url}`);
  expect(lines).toContain('modelctl calls http://127.0.0.1:3000 unless told; for this server:');
  const api = (await (await fetch(`${started.url}/v1/models`)).json()) as { models: { model: string }[] };
  expect(JSON.parse(json.stdout)).toEqual(api);
  expect(api.models.map((m) => m.model)).toContain('iris');
  expect(table.stdout).toMatch(/^MODEL +PRODUCTION +LATEST +UPDATED +BY +ACTIVE\n/);
  expect(table.stdout).toMatch(/^iris +1 +1 /m);
  // The banner says what follows it; each request is a line after it: method, route, status, time.
  const banner = output.indexOf('Requests, one line each as they are answered (ACCESS_LOG=off turns this off):');
  expect(banner).toBeGreaterThan(0);
  expect(output.indexOf('GET /v1/models 200 ')).toBeGreaterThan(banner);
  expect(output).toMatch(/^GET \/v1\/models 200 \d+\.\dms$/m);

  started.child.kill('SIGINT');
  expect(await started.exited).toBe(0);
}, 120_000);
