/**
 * The registry's refusals over real HTTP against the local stack (real dynalite, real S3, real
 * ONNX Runtime, real JWTs), answered with the JSON error shape `{"error": {code, message, path},
 * "requestId"}` (issue 10):
 *
 * - fault 9, optimistic concurrency: of 50 concurrent changes carrying the same
 *   `expectedRevision` (stage moves, `PUT .../production`, a mix of every kind) exactly one
 *   applies and 49 get 409 `STALE_REVISION`, with nothing of theirs written;
 * - fault 14, golden inputs checked at registration: a golden input the model cannot take is
 *   400 `INVALID_GOLDEN_INPUT` with the path into it (wrong width, wrong type, unknown or missing
 *   feature, a value out of range, the second of two), one whose `expected` the model does not
 *   reproduce is 400 `GOLDEN_MISMATCH`, and nothing is registered.
 */
import { readFile } from 'node:fs/promises';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { errorOf, type JsonReply } from '../fixtures/http.js';
import { adminCall, type Call } from '../fixtures/tokens.js';

const MODEL_FILE = 'models/iris/model.onnx';
const METADATA_FILE = 'models/iris/metadata.json';
const CONCURRENT = 50;

let stack: LocalStack;
let call: Call;
let bytes: Buffer;
/** The sample model's metadata: its features, labels and one golden input of three rows it reproduces. */
let metadata: {
  features: string[];
  goldenInputs: Array<{
    request: { instances: Array<Record<string, number>> };
    expected: Array<{ label: string; confidence: number; probabilities: Record<string, number> }>;
  }>;
} & Record<string, unknown>;

beforeAll(async () => {
  stack = await startLocalStack({ seedSampleModel: false });
  call = await adminCall(stack);
  bytes = await readFile(MODEL_FILE);
  metadata = JSON.parse(await readFile(METADATA_FILE, 'utf8')) as typeof metadata;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** The reply is the product's JSON error, and nothing more: bounded, no internals. */
function expectError(reply: JsonReply, status: number, code: string, path: string): void {
  expect({ status: reply.status, body: reply.body }).toEqual({
    status,
    body: { error: { code, message: expect.any(String), path }, requestId: expect.any(String) },
  });
  expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
  expect(errorOf(reply).message.length).toBeGreaterThan(10);
  expect(reply.text.length).toBeLessThan(2_000);
  expect(reply.text).not.toMatch(/\bat \S+ \([^)]*:\d+:\d+\)|node_modules|\.ts:\d+/);
}

/** Registers `count` versions of the sample model as `model` (directly: the HTTP route is not under test here). */
async function register(model: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) await stack.registry.register({ model, bytes, metadata, actor: 'setup' });
}

async function revisionOf(model: string): Promise<number> {
  const reply = await call(stack.url, 'GET', `/v1/models/${model}`);
  return (reply.body as { revision: number }).revision;
}

async function historyOf(model: string): Promise<Array<{ version: string; reason?: string }>> {
  const reply = await call(stack.url, 'GET', `/v1/models/${model}/history`);
  return (reply.body as { history: Array<{ version: string; reason?: string }> }).history;
}

let races = 0;

describe(`fault 9: ${CONCURRENT} concurrent changes with the same expectedRevision`, () => {
  it.each<[string, (model: string) => Promise<(i: number, expectedRevision: number) => [method: string, path: string, body: unknown]>]>([
    [
      `development → staging of ${CONCURRENT} different versions (POST .../versions/{v}/stage)`,
      async (model) => {
        await register(model, CONCURRENT);
        return (i, expectedRevision) => [
          'POST',
          `/v1/models/${model}/versions/${i + 1}/stage`,
          { to: 'staging', expectedRevision, reason: `mover-${i}` },
        ];
      },
    ],
    [
      'promotions of ten staging versions (PUT .../production)',
      async (model) => {
        await register(model, 10);
        for (let v = 1; v <= 10; v += 1) await stack.registry.transition({ model, version: String(v), to: 'staging', actor: 'setup' });
        await stack.registry.setProduction(model, '1', 'setup');
        return (i, expectedRevision) => [
          'PUT',
          `/v1/models/${model}/production`,
          { version: String(2 + (i % 9)), expectedRevision, reason: `mover-${i}` },
        ];
      },
    ],
    [
      'every kind at once: stage moves, promotions, archiving',
      async (model) => {
        await register(model, 6);
        for (const v of ['1', '2', '3']) await stack.registry.transition({ model, version: v, to: 'staging', actor: 'setup' });
        await stack.registry.setProduction(model, '1', 'setup');
        return (i, expectedRevision) =>
          [
            ['POST', `/v1/models/${model}/versions/${4 + (i % 3)}/stage`, { to: 'staging', expectedRevision, reason: `mover-${i}` }],
            ['PUT', `/v1/models/${model}/production`, { version: String(2 + (i % 2)), expectedRevision, reason: `mover-${i}` }],
            ['POST', `/v1/models/${model}/versions/${1 + (i % 6)}/stage`, { to: 'archived', expectedRevision, reason: `mover-${i}` }],
          ][i % 3] as [string, string, unknown];
      },
    ],
  ])(
    '%s: exactly one applies, the others are 409 STALE_REVISION and write nothing',
    async (_kind, prepare) => {
      // Prepare
      races += 1;
      const model = `race-http-${races}`;
      const request = await prepare(model);
      const revision = await revisionOf(model);
      const historyBefore = (await historyOf(model)).length;

      // Act
      const replies = await Promise.all(
        Array.from({ length: CONCURRENT }, (_, i) => {
          const [method, path, body] = request(i, revision);
          return call(stack.url, method, path, body);
        }),
      );

      // Assess
      const won = replies.flatMap((reply, i) => (reply.status < 300 ? [i] : []));
      expect(won).toHaveLength(1);
      expect(replies[won[0] ?? -1]?.status).toBe(200);
      for (const reply of replies.filter((_, i) => i !== won[0])) expectError(reply, 409, 'STALE_REVISION', 'expectedRevision');
      expect(await revisionOf(model)).toBe(revision + 1);
      const added = (await historyOf(model)).slice(historyBefore);
      expect(added.length).toBeGreaterThanOrEqual(1);
      // Only the winner's change is in the history (each request gave its own reason).
      expect(new Set(added.map((change) => change.reason))).toEqual(new Set([`mover-${won[0]}`]));
      const versions = (await call(stack.url, 'GET', `/v1/models/${model}/versions`)).body as { versions: Array<{ stage: string }> };
      expect(versions.versions.filter((v) => v.stage === 'production').length).toBeLessThanOrEqual(1);
    },
    120_000,
  );
});

describe('fault 14: golden inputs that do not fit the model are refused at registration (POST /v1/models/{m}/versions)', () => {
  type Golden = (typeof metadata)['goldenInputs'][number];
  const row = () => ({ ...(metadata.goldenInputs[0] as Golden).request.instances[0] }) as Record<string, number>;
  const withGolden = (...goldenInputs: unknown[]) => ({ ...metadata, goldenInputs });
  const good = (): Golden => structuredClone(metadata.goldenInputs[0] as Golden);
  const expectedFor = (rows: number) => good().expected.slice(0, rows);

  it('the sample metadata, whose golden input the model reproduces, registers (201)', async () => {
    const reply = await call(stack.url, 'POST', '/v1/models/golden-fits/versions', { modelBase64: bytes.toString('base64'), metadata });
    expect(reply.status).toBe(201);
    expect((reply.body as { metadata: { goldenInputs: unknown[] } }).metadata.goldenInputs).toHaveLength(1);
  });

  it.each<[string, string, string, () => unknown]>([
    [
      'a row narrower than the input (2 values for 4 features)',
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.instances[0]',
      () => withGolden({ request: { instances: [[1, 2]] }, expected: expectedFor(1) }),
    ],
    [
      'a row wider than the input',
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.instances[0]',
      () => withGolden({ request: { instances: [[5.1, 3.5, 1.4, 0.2, 9]] }, expected: expectedFor(1) }),
    ],
    [
      'a string where a number belongs (array row)',
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.instances[0][1]',
      () => withGolden({ request: { instances: [[5.1, '3.5', 1.4, 0.2]] }, expected: expectedFor(1) }),
    ],
    [
      'a string where a number belongs (record)',
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.features.petal_width_cm',
      () => withGolden({ request: { features: { ...row(), petal_width_cm: 'wide' } }, expected: expectedFor(1) }),
    ],
    [
      'null for a feature',
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.instances[0].sepal_width_cm',
      () => withGolden({ request: { instances: [{ ...row(), sepal_width_cm: null }] }, expected: expectedFor(1) }),
    ],
    [
      'an unknown feature',
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.features.colour',
      () => withGolden({ request: { features: { ...row(), colour: 1 } }, expected: expectedFor(1) }),
    ],
    [
      'a missing feature',
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.features.petal_width_cm',
      () => {
        const { petal_width_cm: _dropped, ...rest } = row();
        return withGolden({ request: { features: rest }, expected: expectedFor(1) });
      },
    ],
    [
      'a value beyond float32',
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.instances[0].sepal_length_cm',
      () => withGolden({ request: { instances: [{ ...row(), sepal_length_cm: 1e39 }] }, expected: expectedFor(1) }),
    ],
    [
      'the second of two golden inputs',
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[1].request.instances[0]',
      () => withGolden(good(), { request: { instances: [[1]] }, expected: expectedFor(1) }),
    ],
    [
      'an expected label the model does not predict',
      'GOLDEN_MISMATCH',
      'metadata.goldenInputs[0].expected[1].label',
      () => {
        const golden = good();
        (golden.expected[1] as { label: string }).label = 'setosa';
        return withGolden(golden);
      },
    ],
    [
      'an expected probability off by more than the tolerance',
      'GOLDEN_MISMATCH',
      'metadata.goldenInputs[0].expected[2].probabilities.virginica',
      () => {
        const golden = good();
        const third = golden.expected[2] as { probabilities: Record<string, number> };
        third.probabilities['virginica'] = 0.9;
        return withGolden(golden);
      },
    ],
    [
      'more expected predictions than rows',
      'GOLDEN_MISMATCH',
      'metadata.goldenInputs[0].expected',
      () => withGolden({ ...good(), expected: [...good().expected, ...good().expected] }),
    ],
  ])('%s: 400 %s at %s, nothing registered', async (_name, code, path, metadataOf) => {
    // Act
    const reply = await call(stack.url, 'POST', '/v1/models/golden-refused/versions', {
      modelBase64: bytes.toString('base64'),
      metadata: metadataOf(),
    });

    // Assess
    expectError(reply, 400, code, path);
    expect(errorOf(reply).message).toMatch(/^Golden input \d /);
    expectError(await call(stack.url, 'GET', '/v1/models/golden-refused'), 404, 'MODEL_NOT_FOUND', 'model');
  });
});
