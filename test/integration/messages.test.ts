/**
 * What a caller is told, over real HTTP against the local stack: bad bodies to the predict, v2
 * infer, registry, capture and experiments routes are refused with the field's path, what was
 * sent and what would be right (the closest name for a misspelt one), in our words, never the
 * validation library's ("expected int, received number", "Invalid input", "Too big").
 */
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../fixtures/stack-log.js';
import { errorOf, type JsonReply } from '../fixtures/http.js';
import { adminCall, type Call } from '../fixtures/tokens.js';

let stack: LocalStack;
let call: Call;

beforeAll(async () => {
  stack = await startTestStack({ rateLimit: false, driftIntervalMs: 0 });
  call = await adminCall(stack);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const good = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };
const { sepal_length_cm: _, ...withoutSepalLength } = good;
const variants = [
  { name: 'control', version: '1', weight: 50 },
  { name: 'treatment', version: '1', weight: 50 },
];

/** The validation library's own words. */
const ZOD_WORDING = /\bexpected\b|\breceived\b|invalid input|too big|too small/i;

describe.each<[string, string, string, unknown, number, string, string, string]>([
  [
    'predict: a misspelt feature',
    'POST',
    '/v1/models/iris/predict',
    { features: { sepal_length: 5.1, ...withoutSepalLength } },
    400,
    'UNKNOWN_FEATURE',
    'features.sepal_length',
    '"sepal_length" (did you mean "sepal_length_cm"?) is not a feature of this model; it takes: sepal_length_cm, sepal_width_cm, petal_length_cm, petal_width_cm. Feature "sepal_length_cm" is missing.',
  ],
  [
    'predict: {"instance": …}',
    'POST',
    '/v1/models/iris/predict',
    { instance: [good] },
    400,
    'UNKNOWN_FIELD',
    'instance',
    'Field "instance" is unknown (did you mean "instances"?); the fields are: features, instances. Send {"features": {...}} for one row or {"instances": [...]} for many.',
  ],
  [
    'predict: a v2 body',
    'POST',
    '/v1/models/iris/predict',
    { inputs: [] },
    400,
    'UNKNOWN_FIELD',
    'inputs',
    'Field "inputs" is unknown (that is the Open Inference Protocol form: POST it to /v2/models/{model}/infer)',
  ],
  [
    'v2 infer: datatyp in an input',
    'POST',
    '/v2/models/iris/infer',
    { inputs: [{ name: 'features', shape: [1, 4], datatyp: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] },
    400,
    'UNKNOWN_FIELD',
    'inputs[0].datatyp',
    'Field "inputs[0].datatyp" is unknown (did you mean "datatype"?); the fields are: name, shape, datatype, data, parameters.',
  ],
  [
    'v2 infer: a fractional dimension',
    'POST',
    '/v2/models/iris/infer',
    { inputs: [{ name: 'features', shape: [1, 2.5], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] },
    400,
    'INVALID_REQUEST',
    'inputs[0].shape[1]',
    'Field "inputs[0].shape[1]" must be a whole number (got 2.5).',
  ],
  [
    'registry: a misspelt stage field',
    'POST',
    '/v1/models/iris/versions/1/stage',
    { too: 'staging' },
    400,
    'UNKNOWN_FIELD',
    'too',
    'Field "too" is unknown (did you mean "to"?); the fields are: to, expectedRevision, reason.',
  ],
  [
    'registry: a stage that does not exist',
    'POST',
    '/v1/models/iris/versions/1/stage',
    { to: 'prod' },
    400,
    'INVALID_REQUEST',
    'to',
    'Field "to" must be one of: "development", "staging", "production", "archived" (got "prod").',
  ],
  [
    'registry: a revision that is not a whole number',
    'PUT',
    '/v1/models/iris/production',
    { version: '1', expectedRevision: 2.5 },
    400,
    'INVALID_REQUEST',
    'expectedRevision',
    'Field "expectedRevision" must be a whole number (got 2.5).',
  ],
  [
    'capture: a share over 100 percent',
    'PUT',
    '/v1/models/iris/capture',
    { samplePercent: 250 },
    400,
    'INVALID_REQUEST',
    'samplePercent',
    '(got 250)',
  ],
  [
    'capture: a misspelt field',
    'PUT',
    '/v1/models/iris/capture',
    { samplePercnt: 10 },
    400,
    'UNKNOWN_FIELD',
    'samplePercnt',
    'Field "samplePercnt" is unknown (did you mean "samplePercent"?); the fields are: samplePercent, drop, hash, maxRecordBytes.',
  ],
  [
    'experiments: a misspelt field',
    'POST',
    '/v1/models/iris/experiments',
    { variant: variants },
    400,
    'UNKNOWN_FIELD',
    'variant',
    'Field "variant" is unknown (did you mean "variants"?)',
  ],
  [
    'experiments: a metric that does not exist',
    'POST',
    '/v1/models/iris/experiments',
    { variants, metric: 'clicks' },
    400,
    'INVALID_REQUEST',
    'metric',
    'Field "metric" must be "conversion" (0/1 per unit) or "value" (a number per outcome) (got "clicks").',
  ],
])('%s', (_name, method, route, body, status, code, path, message) => {
  let reply: JsonReply;

  beforeAll(async () => {
    reply = await call(stack.url, method, route, body);
  });

  it(`is ${status} ${code} at ${path || 'the body'}, saying what was sent and what would be right`, () => {
    expect({ status: reply.status, ...errorOf(reply) }).toMatchObject({ status, code, path });
    expect(errorOf(reply).message).toContain(message);
  });

  it("uses none of the validation library's wording", () => {
    expect(errorOf(reply).message).not.toMatch(ZOD_WORDING);
  });
});
