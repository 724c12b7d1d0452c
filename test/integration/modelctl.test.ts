/**
 * `modelctl` against the local API over real HTTP: mint a token with the data folder's key,
 * register a model file with its metadata, make it live, predict with it; and the errors a
 * person sees when something is wrong.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { MAX_SUBJECT_LENGTH } from '../../functions/auth/claims.js';
import { MAX_MODELS_PER_TOKEN } from '../../functions/auth/permissions.js';
import { LOCAL_MAX_TOKEN_LIFETIME_SECONDS } from '../../local/auth.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { runModelctl } from '../fixtures/modelctl.js';

let stack: LocalStack;
let dataDir: string;
/** Every scope, minted by `modelctl token` itself. */
let token: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'modelctl-'));
  stack = await startLocalStack({ seedSampleModel: false, dataDir });
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

/** Runs modelctl in-process with real fetch and files, capturing what it prints. */
function run(...argv: string[]): Promise<{ code: number; out: string; err: string; json: unknown }> {
  return runAt(undefined, ...argv);
}

/** The same, on a frozen clock when `now` is given; `json` is the output parsed, when it is JSON. */
async function runAt(now: number | undefined, ...argv: string[]): Promise<{ code: number; out: string; err: string; json: unknown }> {
  const result = await runModelctl({ url: stack?.url, token, ...(now === undefined ? {} : { now }) }, argv);
  let json: unknown;
  try {
    json = result.out ? (JSON.parse(result.out) as unknown) : undefined;
  } catch {
    json = undefined;
  }
  return { ...result, json };
}

it('registers a model file with metadata, makes it live and predicts with it', async () => {
  const registered = await run('register', 'flowers', 'models/iris/model.onnx', '--metadata', 'models/iris/metadata.json', '--production');
  const predicted = await run('predict', 'flowers', '--instances', '[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]');
  const one = await run(
    'predict',
    'flowers',
    '--features',
    '{"sepal_length_cm":5.9,"sepal_width_cm":3.0,"petal_length_cm":4.2,"petal_width_cm":1.5}',
  );
  const versions = await run('versions', 'flowers');

  expect(registered).toMatchObject({ code: 0, json: { version: { model: 'flowers', version: '1' }, model: { productionVersion: '1' } } });
  expect(predicted.code).toBe(0);
  expect((predicted.json as { predictions: { label: string }[] }).predictions.map((p) => p.label)).toEqual(['setosa', 'virginica']);
  expect((one.json as { predictions: { label: string }[] }).predictions[0]?.label).toBe('versicolor');
  expect((versions.json as { versions: { stage: string; registeredBy: string }[] }).versions.map((v) => [v.stage, v.registeredBy])).toEqual(
    [['production', 'cli-user']],
  );
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
    expect(refused.ttlHuge.err).toMatch(/^The lifetime must be a whole number of seconds from 1 to 604800 \(7 days/);
    expect(refused.subjectLong.err).toMatch(/^The subject must be 1 to 256 characters \(the API refuses a longer "sub"\); it is 257\./);
    expect(refused.tooManyModels.err).toMatch(/^The API would refuse this token: The token names 51 models/);
    expect(refused.foreignFlag.err).toMatch(/^"token" does not take --reason\./);
    for (const result of Object.values(refused)) expect(result.err).toContain('Usage: modelctl token --scope SCOPE');
    expect(largest.code).toBe(0);
    expect(used.err).toMatch(/^404 MODEL_NOT_FOUND/); // accepted by the authorizer, then the route's own answer
  });
});

describe('help', () => {
  it.each(['token', 'register', 'shift', 'logs'])(
    'prints the help of "%s" alone for "<command> --help", "<command> -h" and "help <command>"',
    async (command) => {
      // Act
      const results = [await run(command, '--help'), await run(command, '-h'), await run('help', command)];

      // Assess
      for (const result of results) {
        expect(result.code).toBe(0);
        expect(result.out).toMatch(new RegExp(`^Usage: modelctl ${command} `));
        expect(result.out).not.toContain('Commands:');
        expect(result.out).toBe(results[0]?.out);
      }
    },
  );

  it("prints the command's own usage after a mistake in it, and the general help for an unknown command", async () => {
    // Act
    const badTtl = await run('token', '--scope', 'predict', '--ttl', 'soon', '--data-dir', dataDir);
    const unknownFlag = await run('shift', 'iris', '50', '--frobnicate');
    const unknownHelp = await run('frobnicate', '--help');

    // Assess
    expect(badTtl.err).toMatch(/\n\nUsage: modelctl token /);
    expect(unknownFlag).toMatchObject({ code: 2, err: expect.stringMatching(/\n\nUsage: modelctl shift <model> <percent>/) as unknown });
    expect(unknownHelp).toMatchObject({
      code: 2,
      err: expect.stringMatching(/^Unknown command "frobnicate"\.\n\nUsage: modelctl <command>/) as unknown,
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
  expect(bad.err).toMatch(/^400 WRONG_TYPE: .+ \(at features\.sepal_length_cm\)/);
});

it('refuses bad usage with exit code 2 and the usage text', async () => {
  const noArgs = await run('predict', 'flowers');
  const unknown = await run('frobnicate');
  const badJson = await run('predict', 'flowers', '--instances', '[[1, 2');
  for (const result of [noArgs, unknown, badJson]) {
    expect(result.code).toBe(2);
    expect(result.err).toContain('Usage: modelctl');
  }
  expect(badJson.err).toContain('--instances is not valid JSON');
});

it("refuses the stats and logs options where they do not belong, and shows the API's refusal of a bad window", async () => {
  // Act
  const minutesElsewhere = await run('models', '--minutes', '5');
  const pollWithoutFollow = await run('logs', 'flowers', '--poll', '1');
  const sinceElsewhere = await run('stats', 'flowers', '--since', '10m');
  const jsonElsewhere = await run('versions', 'flowers', '--json');
  const badWindow = await run('stats', 'flowers', '--minutes', '0');
  const badSince = await run('logs', 'flowers', '--since', 'soon');
  const help = await run('--help');

  // Assess
  for (const result of [minutesElsewhere, pollWithoutFollow, sinceElsewhere, jsonElsewhere]) {
    expect(result.code).toBe(2);
    expect(result.err).toContain('Usage: modelctl');
  }
  expect(pollWithoutFollow.err).toContain('--poll goes with --follow');
  expect(badWindow).toMatchObject({ code: 1, err: expect.stringMatching(/^400 INVALID_WINDOW: .+ \(at query\.minutes\)/) as unknown });
  expect(badSince).toMatchObject({ code: 1, err: expect.stringMatching(/^400 INVALID_SINCE: .+ \(at query\.since\)/) as unknown });
  expect(help.out).toMatch(/^ {2}stats <model> \[--minutes N\] \[--json\]/m);
  expect(help.out).toMatch(/^ {2}logs <model> \[--since 10m\] \[--limit N\] \[--follow \[--poll SECONDS\]\] \[--json\]/m);
});

it('says how to fix an unreachable API', async () => {
  const result = await run('models', '--api', 'http://127.0.0.1:9');
  expect(result.code).toBe(1);
  expect(result.err).toContain('Cannot reach http://127.0.0.1:9/v1/models');
});
