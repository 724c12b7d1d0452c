/**
 * Names the caller chooses, over real HTTP against the local stack (real dynalite, s3rver, ONNX
 * Runtime and JWTs):
 *
 * - finding F2: every `Object.prototype` member name (`constructor`, `toString`, `valueOf`, ...)
 *   as a metric name, a class label, a feature name, the target, a golden input's feature and
 *   a key of its expected probabilities registers (201; `constructor` was a 500: the DynamoDB
 *   marshaller took the object for a class instance), reads back unchanged, passes the gates to
 *   production, and is served: the answer carries the label as a key and its prediction-log
 *   record is stored.
 * - finding F11b: `__proto__`, a NUL or an unpaired surrogate as a class label (or any declared
 *   name) is refused as a feature of that name is, and nothing is registered.
 * - finding F11a: an empty file inline is `EMPTY_ARTIFACT`, as an empty upload is.
 */
import { readFile } from 'node:fs/promises';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { errorOf } from '../fixtures/http.js';
import { adminCall, type Call } from '../fixtures/tokens.js';

const FEATURES = ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'];
const LABELS = ['setosa', 'versicolor', 'virginica'];
/** Every name on `Object.prototype` but `__proto__`, which no request may carry as a key. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).filter((name) => name !== '__proto__');

let stack: TestStack;
let call: Call;
let modelBase64: string;
/** The first row of the sample model's golden input, with what the model answers for it. */
let golden: { row: Record<string, number>; expected: { label: string; confidence: number; probabilities: Record<string, number> } };

beforeAll(async () => {
  stack = await startTestStack({ seedSampleModel: false });
  call = await adminCall(stack);
  modelBase64 = (await readFile('models/iris/model.onnx')).toString('base64');
  const sample = JSON.parse(await readFile('models/iris/metadata.json', 'utf8')) as {
    goldenInputs: Array<{ request: { instances: Array<Record<string, number>> }; expected: Array<typeof golden.expected> }>;
  };
  const first = sample.goldenInputs[0];
  golden = { row: first?.request.instances[0] ?? {}, expected: first?.expected[0] ?? { label: '', confidence: 0, probabilities: {} } };
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** `record` with key `from` renamed `to`, in the same place. */
function renamed<T>(record: Record<string, T>, from: string, to: string): Record<string, T> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key === from ? to : key, value]));
}

/** The sample model's metadata with `name` as its second feature, its second class label, its target and a metric. */
function metadataNaming(name: string) {
  const features = FEATURES.map((feature, i) => (i === 1 ? name : feature));
  const classLabels = LABELS.map((label, i) => (i === 1 ? name : label));
  const expected = { ...golden.expected, probabilities: renamed(golden.expected.probabilities, 'versicolor', name) };
  return {
    features,
    classLabels,
    target: name,
    metrics: { accuracy: 0.96, [name]: 0.5 },
    goldenInputs: [{ request: { instances: [renamed(golden.row, 'sepal_width_cm', name)] }, expected: [expected] }],
  };
}

describe('finding F2: Object.prototype member names in everything stored in DynamoDB', () => {
  it.each(PROTOTYPE_NAMES.map((name, i) => [name, `proto-key-${i}`]))(
    '"%s": registers, reads back, passes the gates, is served and logged',
    async (name, model) => {
      // Prepare
      const metadata = metadataNaming(name);

      // Act
      const registered = await call(stack.url, 'POST', `/v1/models/${model}/versions`, { modelBase64, metadata });
      const read = await call(stack.url, 'GET', `/v1/models/${model}/versions/1`);
      const staged = await call(stack.url, 'POST', `/v1/models/${model}/versions/1/stage`, { to: 'staging', reason: `stage ${name}` });
      const live = await call(stack.url, 'PUT', `/v1/models/${model}/production`, { version: '1' });
      const predicted = await call(stack.url, 'POST', `/v1/models/${model}/predict`, {
        instances: [renamed(golden.row, 'sepal_width_cm', name)],
      });
      await stack.flush();
      const logged = await call(stack.url, 'GET', `/v1/models/${model}/predictions`);

      // Assess
      expect([registered.status, read.status, staged.status, live.status, predicted.status, logged.status]).toEqual([
        201, 200, 200, 200, 200, 200,
      ]);
      const stored = (read.body as { metadata: ReturnType<typeof metadataNaming> }).metadata;
      expect(stored).toEqual(metadata);
      expect(Object.hasOwn(stored.metrics, name)).toBe(true);
      const prediction = (predicted.body as { predictions: Array<{ probabilities: Record<string, number> }> }).predictions[0];
      expect(Object.keys(prediction?.probabilities ?? {})).toEqual(['setosa', name, 'virginica']);
      const records = (logged.body as { records: Array<{ outputs: string }> }).records;
      expect(records).toHaveLength(1);
      expect(Object.keys((JSON.parse(records[0]?.outputs ?? '[]') as Array<{ probabilities: object }>)[0]?.probabilities ?? {})).toContain(
        name,
      );
    },
    60_000,
  );
});

describe('finding F11b: class labels follow the rule that feature names follow', () => {
  it.each([
    ['"__proto__"', '__proto__', 'FORBIDDEN_KEY'],
    ['a name holding a NUL', 'versi\u0000color', 'NUL_IN_STRING'],
    ['a name holding a lone surrogate', 'versi\uD800color', 'UNPAIRED_SURROGATE'],
  ])('%s is refused as a class label and as a feature (400), and nothing is registered', async (_what, name, code) => {
    // Prepare
    const asLabel = { classLabels: ['setosa', name, 'virginica'] };
    const asFeature = { features: FEATURES.map((feature, i) => (i === 1 ? name : feature)) };

    // Act
    const label = await call(stack.url, 'POST', '/v1/models/bad-label/versions', { modelBase64, metadata: asLabel });
    const feature = await call(stack.url, 'POST', '/v1/models/bad-label/versions', { modelBase64, metadata: asFeature });
    const model = await call(stack.url, 'GET', '/v1/models/bad-label');

    // Assess
    expect([label.status, errorOf(label).code, errorOf(label).path]).toEqual([400, code, 'metadata.classLabels[1]']);
    expect([feature.status, errorOf(feature).code, errorOf(feature).path]).toEqual([400, code, 'metadata.features[1]']);
    expect(label.text.length).toBeLessThan(1_000);
    expect(model.status).toBe(404);
  });
});

describe('finding F11a: an empty model file is the same refusal inline and uploaded', () => {
  it('"modelBase64": "" is 400 EMPTY_ARTIFACT at path model, as an empty upload is', async () => {
    // Prepare
    const upload = (await call(stack.url, 'POST', '/v1/models/empty-file/uploads', {})).body as {
      uploadId: string;
      url: string;
      headers: Record<string, string>;
    };
    const put = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: new Uint8Array(0) });

    // Act
    const inline = await call(stack.url, 'POST', '/v1/models/empty-file/versions', { modelBase64: '' });
    const uploaded = await call(stack.url, 'POST', '/v1/models/empty-file/versions', { uploadId: upload.uploadId });

    // Assess
    expect(put.status).toBe(200);
    expect([inline.status, errorOf(inline).code, errorOf(inline).path]).toEqual([400, 'EMPTY_ARTIFACT', 'model']);
    expect([uploaded.status, errorOf(uploaded).code, errorOf(uploaded).path]).toEqual([400, 'EMPTY_ARTIFACT', 'model']);
  });
});
