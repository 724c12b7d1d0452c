/**
 * The project's `.npmrc` holds only settings npm knows: npm itself is asked (offline, `npm config
 * get`, which warns "Unknown project config" for any key it does not know, as every other npm
 * command would). The user's and the global npmrc are replaced by empty files and `npm_config_*`
 * variables are dropped, so only the project's file is judged. A control run on a folder with
 * a made-up key shows that npm still warns about such keys, so the silence is meaningful.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let scratch: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'npmrc-test-'));
  const [user, global] = [path.join(scratch, 'user-npmrc'), path.join(scratch, 'global-npmrc')];
  await Promise.all([writeFile(user, ''), writeFile(global, '')]);
  env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_config_'))),
    npm_config_userconfig: user,
    npm_config_globalconfig: global,
    npm_config_update_notifier: 'false',
  };
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** `npm config get <key>` in `cwd`: its answer and what it printed on stderr. */
async function npmConfigGet(cwd: string, key: string): Promise<{ value: string; stderr: string }> {
  const { stdout, stderr } = await run('npm', ['config', 'get', key], { cwd, env });
  return { value: stdout.trim(), stderr };
}

it("npm reads the project's .npmrc without a warning, and install scripts are off", async () => {
  const { value, stderr } = await npmConfigGet(ROOT, 'ignore-scripts');

  expect(stderr).toBe('');
  expect(value).toBe('true');
});

it('npm still warns about a key it does not know (the control)', async () => {
  const project = path.join(scratch, 'project');
  await mkdir(project);
  await writeFile(path.join(project, 'package.json'), '{"name":"control","version":"1.0.0"}');
  await writeFile(path.join(project, '.npmrc'), 'ignore-scripts=true\nonnxruntime-node-install=skip\n');

  const { stderr } = await npmConfigGet(project, 'ignore-scripts');

  expect(stderr).toMatch(/unknown project config "onnxruntime-node-install"/i);
});
