/**
 * CPU profiles taken by the bench itself, so that where a target is missed the report can say
 * what the time is spent on with figures from the same run. V8's sampling profiler (through
 * node:inspector, in-process or in a child on request, or `--cpu-prof` for a whole process),
 * summarized as self time per group (a package, a source file of ours, Node.js internals, GC)
 * and per function, as shares of the busy (non-idle) samples.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT } from './paths.js';
import { precise } from './stats.js';

export interface ProfileSummary {
  /** CPU time sampled, idle excluded, ms. */
  readonly busyMs: number;
  /** Largest groups by self time, share of busy time (0..1). */
  readonly groups: ReadonlyArray<{ readonly name: string; readonly share: number }>;
  /** Largest functions by self time. */
  readonly functions: ReadonlyArray<{ readonly name: string; readonly share: number }>;
}

/** The parts of V8's `Profiler.Profile` the summary reads. */
interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
      readonly columnNumber?: number;
    };
    readonly children?: readonly number[];
  }>;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

type Frame = CpuProfile['nodes'][number]['callFrame'];

const REPO_URL = `file://${ROOT}/`;

/**
 * Where each source file starts in an esbuild bundle that is not minified (esbuild heads each
 * module with a `// path/to/file.ts` comment): line numbers, ascending, and the file.
 */
const bundleMaps = new Map<string, Array<{ line: number; file: string }>>();

function sourceFileIn(url: string, line: number): string | undefined {
  let map = bundleMaps.get(url);
  if (!map) {
    const file = url.startsWith('file:') ? fileURLToPath(url) : '';
    const lines = file.endsWith('.mjs') && existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
    map = lines.flatMap((text, i) => {
      const marker = /^\/\/ (\S+\.ts)$/.exec(text);
      return marker?.[1] ? [{ line: i, file: marker[1] }] : [];
    });
    bundleMaps.set(url, map);
  }
  let found: string | undefined;
  for (const entry of map) {
    if (entry.line > line) break;
    found = entry.file;
  }
  return found;
}

/**
 * The source file a position of a minified bundle comes from, through the bundle's source map
 * (`<file>.map` beside it, as the function's bundle has): an absolute path, or undefined.
 */
const sourceMaps = new Map<string, SourceMap | null>();
function mappedSource(url: string, line: number, column: number): string | undefined {
  if (!url.startsWith('file:') || !url.endsWith('.mjs')) return undefined;
  let map = sourceMaps.get(url);
  if (map === undefined) {
    const file = `${fileURLToPath(url)}.map`;
    try {
      map = existsSync(file) ? new SourceMap(JSON.parse(readFileSync(file, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]) : null;
    } catch {
      map = null;
    }
    sourceMaps.set(url, map);
  }
  const entry = map?.findEntry(line, column);
  if (!entry || !('originalSource' in entry)) return undefined;
  const source = entry.originalSource;
  return source.startsWith('file:') ? fileURLToPath(source) : path.resolve(path.dirname(fileURLToPath(url)), source);
}

/** The group of a frame with a script URL: a package, a file of ours, Node.js. */
function groupOfUrl(url: string, line: number, column = 0): string {
  const mapped = url.startsWith('node:') ? undefined : mappedSource(url, line, column);
  return mapped ? groupOfSource(pathToFileURL(mapped).href, 0) : groupOfSource(url, line);
}

function groupOfSource(url: string, line: number): string {
  if (url.startsWith('node:')) return url.startsWith('node:_http') || url.startsWith('node:http') ? 'Node.js http' : 'Node.js internals';
  const packages = url.split('node_modules/');
  if (packages.length > 1) {
    const parts = (packages.at(-1) ?? '').split('/');
    const name = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? '');
    if (name.startsWith('@aws-sdk/') || name.startsWith('@smithy/') || name.startsWith('@aws-crypto/'))
      return 'AWS SDK (@aws-sdk, @smithy)';
    if (name.startsWith('@middy/')) return 'middy';
    return name;
  }
  if (url.startsWith(REPO_URL)) return url.slice(REPO_URL.length).replace(/\?.*$/, '');
  return sourceFileIn(url, line) ?? path.basename(url.replace(/^file:\/\//, ''));
}

/**
 * Self time per group and per function, largest first. Native frames (no script URL: ONNX
 * Runtime's kernels, JSON.parse, socket writes) count towards the code that called them; the
 * profiler's own work (node:inspector) and idle time are left out.
 */
export function summarizeProfile(profile: CpuProfile, top = 8): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  /** The nearest frame at or above `id` that has a script URL. */
  const scripted = (id: number): Frame | undefined => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at);
      if (frame?.url) return frame;
    }
    return undefined;
  };
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  const deltas = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, i) => {
    const frame = byId.get(id);
    if (!frame || frame.functionName === '(idle)') return;
    const caller = frame.url ? frame : scripted(id);
    if (caller?.url.startsWith('node:inspector') || (!frame.url && frame.functionName === 'dispatch')) return;
    let group: string;
    if (frame.functionName === '(garbage collector)') group = 'V8 garbage collector';
    else if (frame.functionName === '(program)' || !caller) group = 'V8 and native, no JavaScript caller';
    else group = groupOfUrl(caller.url, caller.lineNumber, caller.columnNumber ?? 0);
    const delta = deltas[i] ?? 0;
    busy += delta;
    groups.set(group, (groups.get(group) ?? 0) + delta);
    const name = frame.url
      ? `${frame.functionName || '(anonymous)'} (${group})`
      : `${frame.functionName || 'native code'}${caller ? ` (from ${caller.functionName || '(anonymous)'}, ${group})` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + delta);
  });
  const largest = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, share: precise(busy > 0 ? us / busy : 0) }));
  return { busyMs: precise(busy / 1000), groups: largest(groups), functions: largest(functions) };
}

/** Profiles this process while `work` runs. */
export async function profileInProcess(work: () => Promise<void>): Promise<ProfileSummary> {
  const profiler = startProfiler();
  await profiler.ready;
  let profile: CpuProfile;
  try {
    await work();
  } finally {
    profile = await profiler.stopped();
  }
  return summarizeProfile(profile);
}

/** A child's `profileStart` / `profileStop` requests (see children.ts `serveRunner`). */
export function profilerRequests(): Record<string, () => Promise<Record<string, unknown>>> {
  let running: ReturnType<typeof startProfiler> | undefined;
  return {
    profileStart: async () => {
      running = startProfiler();
      await running.ready;
      return {};
    },
    profileStop: async () => {
      if (!running) throw new Error('no profile running');
      const profile = await running.stopped();
      running = undefined;
      return { summary: summarizeProfile(profile) };
    },
  };
}

/** Starts V8's profiler in this process (samples every 100 µs); `stopped()` ends it. */
export function startProfiler(): { ready: Promise<void>; stopped: () => Promise<CpuProfile> } {
  const session = new Session();
  session.connect();
  const ready = (async () => {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
  })();
  let result: Promise<CpuProfile> | undefined;
  return {
    ready,
    stopped() {
      result ??= (async () => {
        await ready;
        const { profile } = await session.post('Profiler.stop');
        session.disconnect();
        return profile as CpuProfile;
      })();
      return result;
    },
  };
}

/** The busiest `.cpuprofile` a `--cpu-prof-dir` holds (the main thread's, not a loader worker's). */
export function readCpuProfDir(dir: string, top = 8): ProfileSummary {
  const summaries = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => summarizeProfile(JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as CpuProfile, top));
  return summaries.sort((a, b) => b.busyMs - a.busyMs)[0] ?? { busyMs: 0, groups: [], functions: [] };
}
