/**
 * Every shell example of the README and of docs/ runs as written. The test does what a reader
 * does: one `npm start` (the real one, in a child process, on a fresh data folder), then each
 * ```sh, ```bash and ```console block in turn, in the order the README links the pages (the
 * README first), each in its own `bash` with `set -euo pipefail`, in a working folder that holds
 * what the docs assume: the repository's files (linked, `data/` copied so that outputs written
 * beside it stay out of the clone).
 *
 * What differs from a reader's terminal, and why:
 * - The server listens on a free port, not 3000 (a test must not take a port another process may
 *   hold): `http://127.0.0.1:3000` and `localhost:3000` in a block are replaced by its address,
 *   and `MODELCTL_API` names it, as a reader on port 3000 needs neither.
 * - `DATA_DIR` names the data folder, so `modelctl token` finds its key as it finds `.data/`'s.
 * - `curl` fails on an HTTP status of 400 or more (`--fail-with-body`), as a `modelctl` command
 *   exits non-zero: an example answered with an error fails its block instead of printing it.
 * - A `console` block runs its `$ ` lines (and their `\` continuations); the rest is output.
 *
 * Blocks that cannot run here say so in the Markdown, with a comment on the line before the fence:
 * `<!-- doc-test: aws -->` (it needs an AWS account, or Docker) and `<!-- doc-test: setup -->`
 * (`npm ci`, `npm start`, `npm test`: what this test itself stands for). For those only the
 * syntax is checked (`bash -n`) and that every npm script they name exists. A block that shows
 * output, not commands, is fenced ```text; a fence without a language is refused.
 *
 * A block marked `<!-- doc-test: apart -->` runs as written too, but beside the others instead of
 * after the one before it: it uses neither the server nor anything another block leaves (`npx cdk
 * synth` and `npm run invoke`, which start servers of their own), so it starts as soon as the
 * server is up, and its test, after the others', waits for it. Its minute of bundling then
 * overlaps the other blocks' waits (their `sleep`s, the server's answers) instead of adding to them.
 *
 * Needs bash and curl, nothing else a new user lacks: the NumPy examples read a committed `.npy`
 * file (data/iris-rows.npy) rather than writing one with Python.
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startNpmStart, type NpmStart } from '../fixtures/npm-start.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** The markers a block may carry, and what each means. */
const MARKERS = {
  aws: 'needs an AWS account or Docker',
  setup: 'the commands this test stands for (npm ci, npm start, npm test)',
  apart: 'runs as written, beside the other blocks: it needs neither the server nor what they leave',
} as const;
type Marker = keyof typeof MARKERS;
/** The markers of blocks that do not run here (only their syntax and npm scripts are checked). */
const NOT_RUN: ReadonlySet<Marker> = new Set(['aws', 'setup']);

interface Block {
  /** `README.md:57`: where the fence opens. */
  readonly where: string;
  readonly lang: string;
  readonly text: string;
  readonly marker?: Marker;
}

/** The pages, in the order the README links them (the README first); every docs/ page must be linked. */
function pageOrder(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const linked = [...readme.matchAll(/\]\((docs\/[^)#\s]+\.md)(?:#[^)]*)?\)/g)].map((m) => m[1] as string);
  const all = readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  const unlinked = all.filter((page) => !linked.includes(page));
  if (unlinked.length > 0) throw new Error(`README.md does not link ${unlinked.join(', ')}: link each page of docs/ from it`);
  return ['README.md', ...new Set(linked)];
}

/** Every fenced block of a page (any language), with the marker comment on the line before it. */
function blocks(page: string): Block[] {
  const lines = readFileSync(path.join(ROOT, page), 'utf8').split('\n');
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const end = lines.findIndex((line, j) => j > i && /^```\s*$/.test(line));
    if (end < 0) throw new Error(`${page}:${i + 1}: the fence is never closed`);
    const comment = /^<!--\s*doc-test:\s*(\S+)\s*-->$/.exec((lines[i - 1] ?? '').trim())?.[1];
    if (comment !== undefined && !(comment in MARKERS)) {
      throw new Error(`${page}:${i}: unknown doc-test marker "${comment}" (known: ${Object.keys(MARKERS).join(', ')})`);
    }
    found.push({
      where: `${page}:${i + 1}`,
      lang: open[1] as string,
      text: lines.slice(i + 1, end).join('\n'),
      ...(comment ? { marker: comment as Marker } : {}),
    });
    i = end;
  }
  return found;
}

const SHELL = new Set(['sh', 'bash', 'console']);
const all = pageOrder().flatMap(blocks);
const shell = all.filter((block) => SHELL.has(block.lang));
const notRun = shell.filter((block) => block.marker !== undefined && NOT_RUN.has(block.marker));
const runnable = shell.filter((block) => !notRun.includes(block));

/** A console block's commands: its `$ ` lines and their continuations. */
function commandsOf(block: Block): string {
  if (block.lang !== 'console') return block.text;
  const commands: string[] = [];
  let continued = false;
  for (const line of block.text.split('\n')) {
    if (continued || line.startsWith('$ ')) {
      commands.push(continued ? line : line.slice(2));
      continued = line.endsWith('\\');
    }
  }
  return commands.join('\n');
}

/** The npm scripts a block names: `npm run [-s] X`, `npm start`, `npm test`. */
function scriptsNamed(text: string): string[] {
  const scripts = [...text.matchAll(/\bnpm\s+run(?:-script)?\s+(?:(?:-s|--silent)\s+)?([\w:.-]+)/g)].map((m) => m[1] as string);
  const shorthand = [...text.matchAll(/\bnpm\s+(start|test)\b/g)].map((m) => m[1] as string);
  return [...scripts, ...shorthand];
}

describe('the docs fence every block with a language', () => {
  it('gives each fence a language (text for output), and marks only shell blocks', () => {
    // Act
    const bare = all.filter((block) => block.lang === '').map((block) => block.where);
    const markedOther = all.filter((block) => block.marker !== undefined && !SHELL.has(block.lang)).map((block) => block.where);

    // Assess
    expect(shell.length).toBeGreaterThan(30);
    expect(bare).toEqual([]);
    expect(markedOther).toEqual([]);
  });
});

describe.each(notRun.map((block) => [block.where, block] as const))('the block at %s, which does not run here', (_where, block) => {
  it(`parses, and names only npm scripts that exist (${block.marker}: ${MARKERS[block.marker as Marker]})`, async () => {
    // Prepare
    const scripts = Object.keys((JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: object }).scripts);

    // Act
    const syntax = await bashSyntax(commandsOf(block));

    // Assess
    expect(syntax).toBe('');
    expect(scriptsNamed(commandsOf(block)).filter((script) => !scripts.includes(script))).toEqual([]);
  });
});

/** `bash -n`'s complaint about a script, or '' when it parses. */
function bashSyntax(script: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-n'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.on('close', () => resolve(errors));
    child.stdin.end(script);
  });
}

describe('the shell examples, run against one npm start', () => {
  let server: NpmStart;
  let work: string;
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  /** The `apart` blocks' runs, started once the server is up, by the block's place. */
  const apartRuns = new Map<string, Promise<BlockRun>>();

  /** What running a block gave: bash's exit code, and its stdout and stderr. */
  interface BlockRun {
    readonly code: number;
    readonly output: string;
  }

  /** Runs `block` in its own `bash` in the working folder, as a reader's terminal would; never rejects. */
  function runBlock(block: Block): Promise<BlockRun> {
    // The script as bash runs it
    const { host } = new URL(server.url);
    const script = [
      'set -euo pipefail',
      'curl() { command curl --fail-with-body "$@"; }',
      commandsOf(block).replaceAll('http://127.0.0.1:3000', server.url).replaceAll('localhost:3000', host),
      '',
    ].join('\n');
    // A file per block: an `apart` block's script is still running when the next one is written.
    const file = path.join(work, `.doc-block-${runnable.indexOf(block)}.sh`);
    writeFileSync(file, script);
    return run('bash', [file], { cwd: work, env, maxBuffer: 64 * 1024 * 1024 }).then(
      ({ stdout, stderr }) => ({ code: 0, output: `${stdout}${stderr}` }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: error.code ?? -1,
        output: `${error.stdout ?? ''}${error.stderr ?? ''}`,
      }),
    );
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'docs-examples-data-'));
    work = mkdtempSync(path.join(os.tmpdir(), 'docs-examples-work-'));
    // The working folder: the repository's files as the docs name them; `data/` a copy.
    for (const entry of readdirSync(ROOT)) {
      if (['.git', '.data', 'cdk.out', 'data', 'coverage'].includes(entry)) continue;
      symlinkSync(path.join(ROOT, entry), path.join(work, entry));
    }
    cpSync(path.join(ROOT, 'data'), path.join(work, 'data'), { recursive: true });
    server = await startNpmStart(dataDir);
    const { MODELCTL_TOKEN: _token, ...inherited } = process.env;
    env = { ...inherited, DATA_DIR: dataDir, MODELCTL_API: server.url, npm_config_update_notifier: 'false' };
    for (const block of runnable) if (block.marker === 'apart') apartRuns.set(block.where, runBlock(block));
  }, 120_000);

  afterAll(async () => {
    // An `apart` block whose test gave up waiting still runs in the working folder.
    await Promise.all(apartRuns.values());
    if (server) {
      server.child.kill('SIGINT');
      await server.exited;
    }
    rmSync(work, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }, 300_000);

  it('finds blocks to run on every page that has any', () => {
    expect(runnable.length).toBeGreaterThan(20);
    expect(new Set(runnable.map((block) => block.where.split(':')[0])).size).toBeGreaterThan(5);
  });

  it('runs apart only blocks that name neither the server nor modelctl', () => {
    const named = runnable
      .filter((block) => block.marker === 'apart' && /:3000|modelctl|MODELCTL|\bcurl\b/.test(commandsOf(block)))
      .map((block) => block.where);
    expect(named).toEqual([]);
  });

  // The `apart` blocks' tests last: by then their runs, started with the server, have had the others' time.
  const inTurn = runnable.filter((block) => block.marker !== 'apart');
  it.each([...inTurn, ...runnable.filter((block) => !inTurn.includes(block))].map((block) => [block.where, block] as const))(
    'runs the block at %s',
    async (where, block) => {
      // Act: an `apart` block has been running since the server came up
      const result = await (apartRuns.get(where) ?? runBlock(block));

      // Assess: on failure, the block's place, its exit code and the end of its output
      if (result.code !== 0) {
        const tail = result.output.split('\n').slice(-60).join('\n');
        throw new Error(`${where}: the block exited with ${result.code}. Its output (the end):\n${tail}`);
      }
    },
    300_000,
  );
});
