/**
 * `modelctl` against the local API over real HTTP: mint a token with the data folder's key,
 * register a model file with its metadata, make it live, predict with it; tables by default and
 * the API's own JSON with `-o json`; each command's help alone, `--version`; and the errors a
 * person sees when something is wrong: one line saying what, one saying which help to read, exit 2.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { MAX_SUBJECT_LENGTH } from '../../functions/auth/claims.js';
import { MAX_MODELS_PER_TOKEN } from '../../functions/auth/permissions.js';
import { LOCAL_MAX_TOKEN_LIFETIME_SECONDS } from '../../local/auth.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../fixtures/stack-log.js';
import { runModelctl } from '../fixtures/modelctl.js';

let stack: LocalStack;
let dataDir: string;
/** Every scope, minted by `modelctl token` itself. */
let token: string;
/** Requests modelctl made (every one, through `fetch`). */
let requests: string[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'modelctl-'));
  stack = await startTestStack({ seedSampleModel: false, dataDir });
  const minted = await run(
    'token',
    '--scope',
    'predict,models:read',
    '--scope',
    'models:write',
    '--scope',
    'models:promote',
    '--data-dir',
    dataDir,
    '--subject',
    'cli-user',
  );
  expect(minted.code).toBe(0);
  token = minted.out.trim();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

beforeEach(() => {
  requests = [];
});

/** Runs modelctl in-process with real fetch and files, capturing what it prints and the requests it makes. */
function run(...argv: string[]): Promise<{ code: number; out: string; err: string; json: unknown }> {
  return runAt(undefined, ...argv);
}

/** The same, on a frozen clock when `now` is given; `json` is the output parsed, when it is JSON. */
async function runAt(now: number | undefined, ...argv: string[]): Promise<{ code: number; out: string; err: string; json: unknown }> {
  const recording: typeof fetch = (input, init) => {
    requests.push(`${init?.method ?? 'GET'} ${String(input)}`);
    return fetch(input, init);
  };
  const result = await runModelctl({ url: stack?.url, token, fetch: recording, ...(now === undefined ? {} : { now }) }, argv);
  let json: unknown;
  try {
    json = result.out ? (JSON.parse(result.out) as unknown) : undefined;
  } catch {
    json = undefined;
  }
  return { ...result, json };
}

/** The API's own answer to `GET path`, with the token. */
async function apiJson(route: string): Promise<unknown> {
  const response = await fetch(`${stack.url}${route}`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  return response.json();
}

it('registers a model file with metadata, makes it live and predicts with it', async () => {
  // Act
  const registered = await run(
    'register',
    'flowers',
    'models/iris/model.onnx',
    '--metadata',
    'models/iris/metadata.json',
    '--production',
    '-o',
    'json',
  );
  const predicted = await run('predict', 'flowers', '--instances', '[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]', '-o', 'json');
  const one = await run(
    'predict',
    'flowers',
    '--features',
    '{"sepal_length_cm":5.9,"sepal_width_cm":3.0,"petal_length_cm":4.2,"petal_width_cm":1.5}',
    '--json',
  );
  const versions = await run('versions', 'flowers', '--output', 'json');

  // Assess
  expect(registered).toMatchObject({
    code: 0,
    json: { version: { model: 'flowers', version: '1', stage: 'production' }, model: { productionVersion: '1' } },
  });
  expect(predicted.code).toBe(0);
  expect((predicted.json as { predictions: { label: string }[] }).predictions.map((p) => p.label)).toEqual(['setosa', 'virginica']);
  expect((one.json as { predictions: { label: string }[] }).predictions[0]?.label).toBe('versicolor');
  expect((versions.json as { versions: { stage: string; registeredBy: string }[] }).versions.map((v) => [v.stage, v.registeredBy])).toEqual(
    [['production', 'cli-user']],
  );
});

it('register --production prints the stage after the promotion, production, in text and in JSON', async () => {
  // Act
  const text = await run('register', 'petals', 'models/iris/model.onnx', '--metadata', 'models/iris/metadata.json', '--production');
  const json = await run(
    'register',
    'petals',
    'models/iris/model.onnx',
    '--metadata',
    'models/iris/metadata.json',
    '--production',
    '-o',
    'json',
  );
  const plain = await run('register', 'petals', 'models/iris/model.onnx', '--metadata', 'models/iris/metadata.json');

  // Assess
  expect(text.code).toBe(0);
  expect(text.out.split('\n')[0]).toBe('Registered petals v1: production (development -> staging -> production)');
  expect(text.out).not.toMatch(/development\n/);
  expect(json).toMatchObject({ code: 0, json: { version: { version: '2', stage: 'production' }, model: { productionVersion: '2' } } });
  expect(plain.out.split('\n')[0]).toBe('Registered petals v3: development');
  expect(plain.out).toContain('\nNext: modelctl stage petals 3 staging\n');
});

it('says what a change of the production version did, and that serving follows within the pointer cache', async () => {
  // Prepare
  const note =
    'Endpoints follow within their pointer cache (POINTER_CACHE_MS, 5 s by default): a prediction sent sooner may still get the version before.';
  const register = (...more: string[]) =>
    run('register', 'lilies', 'models/iris/model.onnx', '--metadata', 'models/iris/metadata.json', ...more);

  // Act
  const first = await register('--production');
  const second = await register('--production');
  await register();
  const staged = await run('stage', 'lilies', '3', 'staging');
  const setProduction = await run('set-production', 'lilies', '3');
  await register();
  await run('stage', 'lilies', '4', 'staging');
  const staged4 = await run('stage', 'lilies', '4', 'production');

  // Assess: the first version had nothing before it to serve in its place.
  expect(first).toMatchObject({ code: 0, err: '' });
  expect(first.out).not.toContain('pointer cache');
  expect(second).toMatchObject({ code: 0, err: '' });
  expect(second.out.endsWith(`\n${note}\n`)).toBe(true);
  expect(staged).toMatchObject({ code: 0, err: '', out: 'Version 3 of lilies is in staging. The production version is 2.\n' });
  expect(setProduction).toMatchObject({ code: 0, err: '', out: `Version 3 of lilies is now the production version.\n${note}\n` });
  expect(staged4).toMatchObject({
    code: 0,
    err: '',
    out: `Version 4 of lilies is in production. The production version is 4.\n${note}\n`,
  });
});

describe('output', () => {
  it('prints models and versions as tables by default', async () => {
    // Prepare
    await run('register', 'tabled', 'models/iris/model.onnx', '--metadata', 'models/iris/metadata.json', '--production');

    // Act
    const models = await run('models');
    const versions = await run('versions', 'tabled');

    // Assess
    expect(models.code).toBe(0);
    const modelLines = models.out.trimEnd().split('\n');
    expect(modelLines[0]).toMatch(/^MODEL +PRODUCTION +LATEST +UPDATED +BY +ACTIVE$/);
    expect(modelLines.find((l) => l.startsWith('tabled '))).toMatch(/^tabled +1 +1 +\d{4}-\d\d-\d\dT[\d:.]+Z +cli-user +-$/);
    expect(versions.code).toBe(0);
    const versionLines = versions.out.trimEnd().split('\n');
    expect(versionLines[0]).toMatch(/^VERSION +STAGE +REGISTERED +BY +FRAMEWORK +ALGORITHM +FEATURES +SHA256$/);
    expect(versionLines.slice(1).map((l) => l.split(/ {2,}/))).toEqual([
      [
        '1',
        'production',
        expect.stringMatching(/^\d{4}-/) as unknown,
        'cli-user',
        expect.any(String),
        expect.any(String),
        '4',
        expect.stringMatching(/^[0-9a-f]{12}$/) as unknown,
      ],
    ]);
  });

  it("prints the API's own JSON with -o json, --output json and --json", async () => {
    // Act
    const forms = [await run('models', '-o', 'json'), await run('models', '--output', 'json'), await run('models', '--json')];
    const versions = await run('versions', 'flowers', '-o', 'json');
    const history = await run('history', 'flowers', '-o', 'json');

    // Assess
    const api = await apiJson('/v1/models');
    for (const form of forms) expect(form).toMatchObject({ code: 0, err: '', json: api });
    expect(forms[0]?.out).toBe(`${JSON.stringify(api, null, 2)}\n`);
    expect(versions.json).toEqual(await apiJson('/v1/models/flowers/versions'));
    expect(history.json).toEqual(await apiJson('/v1/models/flowers/history'));
  });

  it('prints a prediction as a row per record, and the history as a table', async () => {
    // Act
    const predicted = await run('predict', 'flowers', '--instances', '[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]');
    const history = await run('history', 'flowers');

    // Assess
    const lines = predicted.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^flowers v1 \(request [0-9a-f-]{36}, function \$LATEST, [\d.]+ ms\)$/);
    expect(lines[1]).toMatch(/^ROW +LABEL +CONFIDENCE +PROBABILITIES$/);
    expect(lines.slice(2).map((l) => l.split(/ +/).slice(0, 2))).toEqual([
      ['0', 'setosa'],
      ['1', 'virginica'],
    ]);
    expect(lines[2]).toMatch(/setosa 0\.\d+, versicolor [\d.e-]+, virginica [\d.e-]+$/);
    expect(history.out.split('\n').slice(0, 3)).toEqual([
      expect.stringMatching(/^AT +VERSION +FROM +TO +BY +REASON$/) as unknown,
      expect.stringMatching(/^\S+ +1 +development +staging +cli-user +modelctl register --production$/) as unknown,
      expect.stringMatching(/^\S+ +1 +staging +production +cli-user +modelctl register --production$/) as unknown,
    ]);
  });
});

describe('token', () => {
  it('prints only a token, with the scopes, models, subject and lifetime asked for', async () => {
    const result = await runAt(
      Date.UTC(2026, 0, 1, 12),
      'token',
      '--scope',
      'predict',
      '--model',
      'iris,wine',
      '--subject',
      'me',
      '--ttl',
      '600',
      '--data-dir',
      dataDir,
    );

    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(decodeJwt(result.out.trim())).toEqual({
      iss: 'urn:onnx-serving:local',
      aud: 'onnx-serving',
      sub: 'me',
      scope: 'predict',
      models: ['iris', 'wine'],
      iat: Date.UTC(2026, 0, 1, 12) / 1000,
      exp: Date.UTC(2026, 0, 1, 12) / 1000 + 600,
    });
  });

  it('mints tokens the API holds to their scope: a predict token cannot register', async () => {
    const predictOnly = (await run('token', '--scope', 'predict', '--data-dir', dataDir)).out.trim();
    const refused = await run('register', 'sneaky', 'models/iris/model.onnx', '--token', predictOnly);
    const unauthenticated = await run('models', '--token', 'not-a-jwt');

    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(
      /^403 FORBIDDEN: This token \(scopes: predict\) does not allow POST \/v1\/models\/sneaky\/versions; that needs "models:write"/,
    );
    expect(unauthenticated.err).toMatch(/^401 UNAUTHORIZED: The bearer token is not a JWT/);
  });

  it('says how to get a key when the data folder has none, and refuses unknown scopes', async () => {
    const noKey = await run('token', '--scope', 'predict', '--data-dir', path.join(dataDir, 'nowhere'));
    const badScope = await run('token', '--scope', 'admin', '--data-dir', dataDir);
    const badModel = await run('token', '--scope', 'predict', '--model', 'Iris!', '--data-dir', dataDir);
    const noScope = await run('token', '--data-dir', dataDir);

    expect(noKey).toMatchObject({ code: 1, out: '' });
    expect(noKey.err).toContain('no local signing key at');
    expect(noKey.err).toContain('npm start');
    for (const result of [badScope, badModel, noScope]) expect(result).toMatchObject({ code: 2, out: '' });
    expect(badScope.err).toContain('Unknown scope "admin"');
    expect(badModel.err).toContain('"Iris!" is not a model name');
  });

  it('refuses every value the API would refuse, with the limits the API applies, and mints the largest ones it accepts', async () => {
    // Prepare
    const models = (count: number) => Array.from({ length: count }, (_, i) => `m${i}`).join(',');
    const mint = (...flags: string[]) => run('token', '--scope', 'models:read', '--data-dir', dataDir, ...flags);

    // Act
    const refused = {
      ttlHuge: await mint('--ttl', '1e12'),
      ttlHugeDigits: await mint('--ttl', '99999999999999'),
      ttlOverLimit: await mint('--ttl', String(LOCAL_MAX_TOKEN_LIFETIME_SECONDS + 1)),
      ttlZero: await mint('--ttl', '0'),
      ttlHex: await mint('--ttl', '0x10'),
      ttlFraction: await mint('--ttl', '1.5'),
      subjectLong: await mint('--subject', 'x'.repeat(MAX_SUBJECT_LENGTH + 1)),
      subjectEmpty: await mint('--subject', ''),
      tooManyModels: await mint('--model', models(MAX_MODELS_PER_TOKEN + 1)),
      foreignFlag: await mint('--reason', 'why'),
    };
    const largest = await mint(
      '--ttl',
      String(LOCAL_MAX_TOKEN_LIFETIME_SECONDS),
      '--subject',
      's'.repeat(MAX_SUBJECT_LENGTH),
      '--model',
      models(MAX_MODELS_PER_TOKEN),
    );
    const used = await run('versions', 'm0', '--token', largest.out.trim());

    // Assess
    for (const [name, result] of Object.entries(refused))
      expect({ name, code: result.code, out: result.out }).toEqual({ name, code: 2, out: '' });
    expect(refused.ttlHuge.err).toMatch(
      /^--ttl is a whole number of seconds from 1 to 604800 \(7 days, the most the local API accepts\), not "1e12"\./,
    );
    expect(refused.subjectLong.err).toMatch(/^The subject must be 1 to 256 characters \(the API refuses a longer "sub"\); it is 257\./);
    expect(refused.tooManyModels.err).toMatch(/^The API would refuse this token: The token names 51 models/);
    expect(refused.foreignFlag.err).toBe(`Unknown option '--reason'\nRun "modelctl token --help" for usage.\n`);
    for (const result of Object.values(refused)) expect(result.err).toMatch(/^[^\n]+\nRun "modelctl token --help" for usage\.\n$/);
    expect(largest.code).toBe(0);
    expect(used.err).toMatch(/^404 MODEL_NOT_FOUND/); // accepted by the authorizer, then the route's own answer
  });
});

describe('help', () => {
  it.each([
    ['token', 'token --scope SCOPE [options]'],
    ['register', 'register <model> <file.onnx> [options]'],
    ['shift', 'shift <model> <percent> [options]'],
    ['logs', 'logs <model> [options]'],
    ['stats', 'stats <model> [options]'],
    ['predict', 'predict <model> (--features JSON | --instances JSON | --body FILE) [options]'],
  ])('prints the help of "%s" alone for "<command> --help", "<command> -h" and "help <command>"', async (command, usage) => {
    // Act
    const results = [await run(command, '--help'), await run(command, '-h'), await run('help', command)];

    // Assess
    for (const result of results) {
      expect(result).toMatchObject({ code: 0, err: '' });
      expect(result.out.split('\n')[0]).toBe(`Usage: modelctl ${usage}`);
      expect(result.out).toContain('\nOptions:\n');
      // Its own help only: no list of commands, no other command's synopsis, no exit-code table of the program.
      expect(result.out).not.toMatch(/^(Registry|Releases|Commands):$/m);
      expect(result.out).not.toContain('set-production');
      expect(result.out).toBe(results[0]?.out);
    }
    expect(requests).toEqual([]);
  });

  it("lists each command's options with its own help, and the API and output options where they apply", async () => {
    // Act
    const register = await run('register', '--help');
    const token = await run('token', '--help');
    const stats = await run('help', 'stats');

    // Assess
    expect(register.out).toMatch(/^ {2}--production +then move it through staging to production/m);
    expect(register.out).toMatch(/^Output:\n {2}-o, --output <format> +text \(tables and lines, the default\) or json/m);
    expect(register.out).toMatch(/^API:\n {2}--api <url> /m);
    expect(token.out).toMatch(/^ {2}--ttl <seconds> /m);
    expect(token.out).not.toContain('--api');
    expect(token.out).not.toContain('--output');
    expect(stats.out).toMatch(/^ {2}--minutes <n> +the window, 1 to 1440 \(default 60\)$/m);
  });

  it('prints the commands by group, the exit codes and the environment in the general help', async () => {
    // Act
    const results = [await run('--help'), await run('-h'), await run('help')];

    // Assess
    for (const result of results) expect(result).toMatchObject({ code: 0, err: '', out: results[0]?.out });
    const out = results[0]?.out ?? '';
    expect(out).toMatch(/^Usage: modelctl <command> \[options\]\n/);
    for (const group of ['Registry:', 'Predictions:', 'Releases:', 'Monitoring:', 'Local:']) expect(out).toContain(`\n${group}\n`);
    expect(out).toMatch(/^ {2}register <model> <file\.onnx> +upload and register a new version$/m);
    expect(out).toMatch(/^ {2}batch <command> +batch jobs/m);
    expect(out).toContain('\nExit codes:\n  0  done\n  1  the API refused or could not be reached');
    expect(out).toMatch(/^ {2}2 {2}a usage mistake/m);
    expect(out).toMatch(/^ {2}3 {2}"drift": a column drifted$/m);
    expect(out).toMatch(/^ {2}4 {2}"drift": nothing judged/m);
    expect(out).toMatch(/^ {2}MODELCTL_API {4}the API's base URL/m);
    expect(out).toContain('token --scope predict,models:read,models:write,models:promote,batch:submit,batch:read)');
  });

  it('prints the package version for --version and -V', async () => {
    // Prepare
    const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };

    // Act
    const results = [await run('--version'), await run('-V')];

    // Assess
    for (const result of results) expect(result).toMatchObject({ code: 0, out: `${version}\n`, err: '' });
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('usage errors', () => {
  it.each([
    ['an unknown command', ['frobnicate', 'iris'], "Unknown command 'frobnicate'", 'modelctl'],
    ['a misspelt command', ['regster', 'iris'], "Unknown command 'regster'. Did you mean register?", 'modelctl'],
    ['an unknown command with --help', ['frobnicate', '--help'], "Unknown command 'frobnicate'", 'modelctl'],
    ['help for an unknown command', ['help', 'frobnicate'], "Unknown command 'frobnicate'", 'modelctl'],
    ['an unknown option', ['shift', 'iris', '50', '--frobnicate'], "Unknown option '--frobnicate'", 'modelctl shift'],
    ['an option of another command', ['models', '--minutes', '5'], "Unknown option '--minutes'", 'modelctl models'],
    ['a missing argument', ['versions'], "Missing required argument 'model'", 'modelctl versions'],
    ['one argument too many', ['models', 'iris'], "Too many arguments for 'models'. Expected 0 arguments but got 1.", 'modelctl models'],
    ['an option without its value', ['stats', 'iris', '--minutes'], "Option '--minutes <n>' argument missing", 'modelctl stats'],
    ['a bad number', ['shift', 'iris', 'ten'], '<percent> must be a number, not "ten".', 'modelctl shift'],
    ['a hexadecimal number', ['promote', 'iris', '2', '--canary', '0x10'], '--canary must be a number, not "0x10".', 'modelctl promote'],
    [
      'a bad output format',
      ['models', '-o', 'yaml'],
      "Option '-o, --output <format>' argument 'yaml' is invalid. It is text or json (json: the API's JSON, for scripts).",
      'modelctl models',
    ],
    ['two formats that disagree', ['models', '-o', 'text', '--json'], '--json and -o text disagree: give one of them.', 'modelctl models'],
    ['options that go together', ['logs', 'iris', '--poll', '1'], '--poll goes with --follow.', 'modelctl logs'],
    ['JSON that does not parse', ['predict', 'iris', '--instances', '[[1, 2'], '--instances is not valid JSON', 'modelctl predict'],
    ['no command at all in a group', ['batch', 'frobnicate'], "Unknown command 'frobnicate'", 'modelctl batch'],
  ])('%s: one line saying what, one saying which help, exit 2, no request', async (_what, argv, message, help) => {
    // Act
    const result = await run(...argv);

    // Assess
    expect({ code: result.code, out: result.out }).toEqual({ code: 2, out: '' });
    const lines = result.err.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]?.startsWith(message)).toBe(true);
    expect(lines.slice(1)).toEqual([`Run "${help} --help" for usage.`, '']);
    expect(requests).toEqual([]);
  });

  it('prints the whole help on stderr, exit 2, when no command is given', async () => {
    // Act
    const none = await run();
    const group = await run('batch');

    // Assess
    expect(none).toMatchObject({ code: 2, out: '', err: expect.stringMatching(/^Usage: modelctl <command> \[options\]\n/) as unknown });
    expect(group).toMatchObject({
      code: 2,
      out: '',
      err: expect.stringMatching(/^Usage: modelctl batch <command> \[options\]\n/) as unknown,
    });
  });
});

it('shows the API error with its code and field path, and exits 1', async () => {
  await run('register', 'flowers2', 'models/iris/model.onnx', '--metadata', 'models/iris/metadata.json', '--production');
  const bad = await run(
    'predict',
    'flowers2',
    '--features',
    '{"sepal_length_cm":"wide","sepal_width_cm":3.5,"petal_length_cm":1.4,"petal_width_cm":0.2}',
  );
  expect(bad.code).toBe(1);
  expect(bad.err).toMatch(/^400 WRONG_TYPE: .+ \(at features\.sepal_length_cm\)\n$/);
});

it("shows the API's refusal of a bad window", async () => {
  // Act
  const badWindow = await run('stats', 'flowers', '--minutes', '5000');
  const badSince = await run('logs', 'flowers', '--since', 'soon');

  // Assess
  expect(badWindow).toMatchObject({ code: 1, err: expect.stringMatching(/^400 INVALID_WINDOW: .+ \(at query\.minutes\)/) as unknown });
  expect(badSince).toMatchObject({ code: 1, err: expect.stringMatching(/^400 INVALID_SINCE: .+ \(at query\.since\)/) as unknown });
});

it('says how to fix an unreachable API', async () => {
  const result = await run('models', '--api', 'http://127.0.0.1:9');
  const before = await run('--api', 'http://127.0.0.1:9', 'models');
  expect(result.code).toBe(1);
  expect(result.err).toContain('Cannot reach http://127.0.0.1:9/v1/models');
  expect(result.err).toContain('MODELCTL_API');
  expect(before).toMatchObject({ code: 1, err: result.err });
});
