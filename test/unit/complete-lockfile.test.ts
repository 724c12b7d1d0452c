/**
 * The lock file stays usable by `npm ci` everywhere: every optional platform binary a locked
 * package declares has its own entry (see scripts/complete-lockfile.ts for why some go missing).
 */
import { readFileSync } from 'node:fs';
import { completeLock, platformOf } from '../../scripts/complete-lockfile.js';

it('reads the platform from a binary package name', () => {
  expect(platformOf('@swc/core-darwin-arm64')).toEqual({ os: ['darwin'], cpu: ['arm64'] });
  expect(platformOf('@unrs/resolver-binding-linux-arm-musleabihf')).toEqual({ os: ['linux'], cpu: ['arm'], libc: ['musl'] });
  expect(platformOf('@swc/core-linux-s390x-gnu')).toEqual({ os: ['linux'], cpu: ['s390x'], libc: ['glibc'] });
  expect(platformOf('@swc/core-win32-ia32-msvc')).toEqual({ os: ['win32'], cpu: ['ia32'] });
  expect(platformOf('@swc/counter')).toBeUndefined();
});

it('adds a missing optional binary with its exact version and platform', () => {
  const lock = {
    packages: {
      '': {},
      'node_modules/@swc/core': {
        version: '1.2.3',
        dev: true,
        optionalDependencies: { '@swc/core-darwin-x64': '1.2.3', '@swc/core-linux-x64-gnu': '1.2.3' },
      },
      'node_modules/@swc/core-linux-x64-gnu': { version: '1.2.3', dev: true, optional: true },
    },
  };
  expect(completeLock(lock)).toEqual(['@swc/core-darwin-x64']);
  expect(lock.packages).toHaveProperty(['node_modules/@swc/core-darwin-x64'], {
    version: '1.2.3',
    dev: true,
    optional: true,
    os: ['darwin'],
    cpu: ['x64'],
  });
});

it('the committed package-lock.json lists every optional binary (run `npm run lock:complete` after `npm install`)', () => {
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as Parameters<typeof completeLock>[0];
  expect(completeLock(lock)).toEqual([]);
});
