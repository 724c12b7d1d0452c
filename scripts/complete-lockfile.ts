/**
 * `npm run lock:complete`: puts back the lock entries of other platforms' optional binaries.
 *
 * Why: the npm registry mirror on our build machines serves only some platforms' builds of
 * packages such as @swc/core and unrs-resolver, so `npm install` there leaves the other
 * platforms' optional packages out of package-lock.json, and `npm ci` then refuses the lock
 * ("Missing: @swc/core-darwin-arm64@ from lock file"). This adds, for every optional dependency a
 * locked package declares but the lock lacks, an entry with its exact version and the os, cpu and
 * libc its name states, so npm skips it on other platforms and fetches it on its own.
 * Run it after any `npm install` that changes the lock.
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  optionalDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  libc?: string[];
}

const OS = ['darwin', 'linux', 'win32', 'android', 'freebsd', 'openharmony', 'sunos', 'aix', 'netbsd', 'openbsd'];
const CPU = ['arm64', 'x64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'];
const EXACT = /^\d+\.\d+\.\d+(-[\w.]+)?$/;

/** The platform a binary package's name states, e.g. `core-linux-arm-musleabihf` → linux, arm, musl. */
export function platformOf(name: string): Pick<LockEntry, 'os' | 'cpu' | 'libc'> | undefined {
  const parts = (name.split('/').pop() ?? '').split('-');
  const os = parts.filter((p) => OS.includes(p));
  const cpu = parts.filter((p) => CPU.includes(p));
  if (os.length !== 1 || cpu.length !== 1) return undefined;
  const libc = parts.some((p) => p.startsWith('musl'))
    ? ['musl']
    : os[0] === 'linux' && parts.some((p) => p.startsWith('gnu'))
      ? ['glibc']
      : undefined;
  return { os, cpu, ...(libc ? { libc } : {}) };
}

/** Adds the missing entries to a parsed lock; returns their names. */
export function completeLock(lock: { packages: Record<string, LockEntry> }): string[] {
  const added: string[] = [];
  for (const entry of Object.values({ ...lock.packages })) {
    for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
      const key = `node_modules/${name}`;
      const platform = platformOf(name);
      if (lock.packages[key] || !platform || !EXACT.test(version)) continue;
      lock.packages[key] = { version, ...(entry.dev ? { dev: true } : {}), optional: true, ...platform };
      added.push(name);
    }
  }
  lock.packages = Object.fromEntries(
    Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)),
  );
  return added;
}

if (process.argv[1]?.endsWith('complete-lockfile.ts')) {
  const file = process.argv[2] ?? 'package-lock.json';
  const lock = JSON.parse(readFileSync(file, 'utf8')) as { packages: Record<string, LockEntry> };
  const added = completeLock(lock);
  writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  process.stdout.write(
    added.length > 0 ? `added ${added.length} entries: ${added.join(', ')}\n` : 'the lock already lists every optional binary\n',
  );
}
