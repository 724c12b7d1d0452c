/**
 * `modelctl` against the local API over real HTTP: register a model file with its metadata, make
 * it live, predict with it; and the errors a person sees when something is wrong.
 */
import { readFile } from 'node:fs/promises';
import { modelctl, type CliIo } from '../../bin/modelctl.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({ seedSampleModel: false });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** Runs modelctl in-process with real fetch and files, capturing what it prints. */
async function run(...argv: string[]): Promise<{ code: number; out: string; err: string; json: unknown }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    fetch: globalThis.fetch,
    out: (text) => (out += text),
    err: (text) => (err += text),
    readFile: (path) => readFile(path),
    env: { MODELCTL_API: stack.url },
  };
  const code = await modelctl(argv, io);
  return { code, out, err, json: out ? (JSON.parse(out) as unknown) : undefined };
}

it('registers a model file with metadata, makes it live and predicts with it', async () => {
  const registered = await run('register', 'flowers', 'models/iris/model.onnx', '--metadata', 'models/iris/metadata.json', '--production');
  const predicted = await run('predict', 'flowers', '--instances', '[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]');
  const one = await run('predict', 'flowers', '--features', '{"sepal_length_cm":5.9,"sepal_width_cm":3.0,"petal_length_cm":4.2,"petal_width_cm":1.5}');
  const versions = await run('versions', 'flowers');

  expect(registered).toMatchObject({ code: 0, json: { version: { model: 'flowers', version: '1' }, model: { productionVersion: '1' } } });
  expect(predicted.code).toBe(0);
  expect((predicted.json as { predictions: { label: string }[] }).predictions.map((p) => p.label)).toEqual(['setosa', 'virginica']);
  expect((one.json as { predictions: { label: string }[] }).predictions[0]?.label).toBe('versicolor');
  expect((versions.json as { versions: { stage: string }[] }).versions.map((v) => v.stage)).toEqual(['production']);
});

it('shows the API error with its code and field path, and exits 1', async () => {
  await run('register', 'flowers2', 'models/iris/model.onnx', '--metadata', 'models/iris/metadata.json', '--production');
  const bad = await run('predict', 'flowers2', '--features', '{"sepal_length_cm":"wide"}');
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

it('says how to fix an unreachable API', async () => {
  const result = await run('models', '--api', 'http://127.0.0.1:9');
  expect(result.code).toBe(1);
  expect(result.err).toContain('Cannot reach http://127.0.0.1:9/v1/models');
});
