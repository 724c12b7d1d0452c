/**
 * Refusals in plain words (`functions/core/messages.ts` and the places that use it): every kind of
 * zod issue our schemas raise becomes a message that names the field, what was sent and what
 * would be right, never the validation library's own wording ("expected int, received number",
 * "Invalid input", "Too big"); a misspelt name (a field, a feature, an input) is answered with
 * the closest right one.
 */
import * as z from 'zod';
import { parseRecordRequest, parseV2Request, parseWith, RECORD_HINT, V2_HINT } from '../../functions/core/codec/request.js';
import { decodeRecords, decodeV2, recordLayout } from '../../functions/core/codec/decode.js';
import { CaptureSettingsSchema, checkRedaction } from '../../functions/core/capture.js';
import { parseReferenceProfile } from '../../functions/core/drift/profile-schema.js';
import { ExperimentRequestSchema, OutcomeRequestSchema } from '../../functions/core/experiments/schemas.js';
import type { ValidationError } from '../../functions/core/errors.js';
import { closestName, describeValue, PLAIN_WORDS, refusalOf } from '../../functions/core/messages.js';
import type { ModelMetadata, ModelSignature } from '../../functions/core/model.js';
import { parseMetadata } from '../../functions/core/registry.js';
import { loadAuthorizerConfig } from '../../functions/authorizer/config.js';
import { loadConfig } from '../../functions/shared/config.js';
import { refusal } from '../fixtures/errors.js';

/** The validation library's own words, which no message may use. */
const ZOD_WORDING = [
  /\bexpected\b/i,
  /\breceived\b/i,
  /invalid input/i,
  /too big/i,
  /too small/i,
  /\binvalid (?:type|string|option|key|element)\b/i,
];

function expectPlain(message: string): void {
  for (const words of ZOD_WORDING) expect(message).not.toMatch(words);
}

describe('each kind of zod issue, in plain words', () => {
  /** A schema with one field of each kind our schemas use. */
  const Fields = z
    .strictObject({
      count: z.number().int().min(1).max(100),
      ratio: z.number().gt(0).lt(1),
      step: z.number().multipleOf(5),
      name: z.string().min(1).max(8),
      code: z.string().length(3),
      uri: z.string().startsWith('s3://'),
      slug: z.string().regex(/^[a-z]+$/),
      id: z.uuid(),
      bytes: z.base64(),
      at: z.iso.datetime(),
      day: z.iso.date(),
      kind: z.enum(['canary', 'linear']),
      one: z.literal('v1'),
      list: z.array(z.number()).min(2).max(3),
      flag: z.boolean(),
      nested: z.strictObject({ depth: z.number() }),
      labels: z.record(z.string().regex(/^[a-z]+$/), z.number()),
      either: z.union([z.string(), z.number()]),
      key: z.discriminatedUnion('source', [
        z.strictObject({ source: z.literal('subject') }),
        z.strictObject({ source: z.literal('header') }),
      ]),
      even: z.number().refine((n) => n % 2 === 0, 'must be even'),
    })
    .partial();

  const cases: [string, string, unknown, string, 'missing' | 'unknown' | 'invalid'][] = [
    ['invalid_type: int', 'count', { count: 2.5 }, 'Field "count" must be a whole number (got 2.5)', 'invalid'],
    ['invalid_type: a string for a number', 'count', { count: '5' }, 'Field "count" must be a number (got "5")', 'invalid'],
    [
      'invalid_type: not finite',
      'ratio',
      { ratio: Number.POSITIVE_INFINITY },
      'Field "ratio" must be a finite number (got Infinity)',
      'invalid',
    ],
    ['invalid_type: boolean', 'flag', { flag: 'yes' }, 'Field "flag" must be true or false (got "yes")', 'invalid'],
    ['invalid_type: object', 'nested', { nested: [1, 2] }, 'Field "nested" must be an object (got an array of 2 items)', 'invalid'],
    ['invalid_type: absent', 'nested.depth', { nested: {} }, 'Field "nested.depth" is required', 'missing'],
    ['too_big: number', 'count', { count: 250 }, 'Field "count" must be at most 100 (got 250)', 'invalid'],
    ['too_small: number', 'count', { count: 0 }, 'Field "count" must be at least 1 (got 0)', 'invalid'],
    ['too_small: exclusive', 'ratio', { ratio: 0 }, 'Field "ratio" must be greater than 0 (got 0)', 'invalid'],
    ['too_big: exclusive', 'ratio', { ratio: 1 }, 'Field "ratio" must be less than 1 (got 1)', 'invalid'],
    ['too_big: string', 'name', { name: 'a'.repeat(12) }, 'Field "name" must be at most 8 characters long (got 12 characters)', 'invalid'],
    ['too_small: empty string', 'name', { name: '' }, 'Field "name" must not be empty (got 0 characters)', 'invalid'],
    ['exact length', 'code', { code: 'ab' }, 'Field "code" must be exactly 3 characters long (got 2 characters)', 'invalid'],
    ['too_small: array', 'list', { list: [1] }, 'Field "list" must have at least 2 items (got 1 item)', 'invalid'],
    ['too_big: array', 'list', { list: [1, 2, 3, 4] }, 'Field "list" must have at most 3 items (got 4 items)', 'invalid'],
    ['not_multiple_of', 'step', { step: 7 }, 'Field "step" must be a multiple of 5 (got 7)', 'invalid'],
    ['invalid_format: starts_with', 'uri', { uri: 'https://b/k' }, 'Field "uri" must start with "s3://" (got "https://b/k")', 'invalid'],
    ['invalid_format: regex', 'slug', { slug: 'A-1' }, 'Field "slug" must match the pattern /^[a-z]+$/ (got "A-1")', 'invalid'],
    [
      'invalid_format: uuid',
      'id',
      { id: 'abc' },
      'Field "id" must be a UUID such as "123e4567-e89b-12d3-a456-426614174000" (got "abc")',
      'invalid',
    ],
    ['invalid_format: base64', 'bytes', { bytes: '***' }, 'Field "bytes" must be base64 text (got "***")', 'invalid'],
    [
      'invalid_format: datetime',
      'at',
      { at: 'tomorrow' },
      'Field "at" must be an ISO-8601 date and time such as "2026-12-01T09:00:00Z" (got "tomorrow")',
      'invalid',
    ],
    ['invalid_format: date', 'day', { day: '1/12/2026' }, 'Field "day" must be a date such as "2026-12-01" (got "1/12/2026")', 'invalid'],
    [
      'invalid_value: enum',
      'kind',
      { kind: 'blue-green' },
      'Field "kind" must be one of: "canary", "linear" (got "blue-green")',
      'invalid',
    ],
    ['invalid_value: literal', 'one', { one: 'v2' }, 'Field "one" must be "v1" (got "v2")', 'invalid'],
    [
      'invalid_key: a record key',
      'labels.Big',
      { labels: { Big: 1 } },
      'Field "labels.Big" is not an allowed key: it must match the pattern /^[a-z]+$/',
      'invalid',
    ],
    ['invalid_union: each branch', 'either', { either: true }, 'Field "either" must be a string (got true)', 'invalid'],
    [
      'invalid_union: a discriminator',
      'key.source',
      { key: { source: 'cookie' } },
      'Field "key.source" must be one of: "subject", "header" (got "cookie")',
      'invalid',
    ],
    ['custom: a refinement', 'even', { even: 3 }, 'Field "even" must be even (got 3)', 'invalid'],
    [
      'unrecognized_keys: a misspelt key',
      'cuont',
      { cuont: 1 },
      'Field "cuont" is unknown (did you mean "count"?); the fields are: count, ratio, step, name, code, uri, slug, id, bytes, at, … and 10 more',
      'unknown',
    ],
    [
      'unrecognized_keys: nested, several',
      'nested.dpeth',
      { nested: { depth: 1, dpeth: 2, x: 3 } },
      'Field "nested.dpeth" is unknown (did you mean "depth"?); the fields are: depth; also unknown: "x"',
      'unknown',
    ],
  ];

  it.each(cases)('%s', (_kind, _field, value, message, kind) => {
    // Act
    const result = Fields.safeParse(value, PLAIN_WORDS);

    // Assess
    expect(result.success).toBe(false);
    const found = refusalOf(result.error?.issues ?? [], value);
    const path = found.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
    expect(`Field "${path}" ${found.detail}`).toBe(message);
    expect(found.kind).toBe(kind);
    expectPlain(found.detail);
  });

  it('the cases cover every kind of issue zod raises for JSON (maps, sets and files have no JSON form)', () => {
    const codes = new Set(
      cases.flatMap(([, , value]) => {
        const result = Fields.safeParse(value, PLAIN_WORDS);
        return (result.error?.issues ?? []).map((issue) => issue.code);
      }),
    );
    expect([...codes].sort()).toEqual(
      [
        'custom',
        'invalid_format',
        'invalid_key',
        'invalid_type',
        'invalid_union',
        'invalid_value',
        'not_multiple_of',
        'too_big',
        'too_small',
        'unrecognized_keys',
      ].sort(),
    );
  });

  it('quotes what was sent only as an excerpt: strings cut to 40 characters, arrays and objects by their size', () => {
    expect(describeValue('x'.repeat(1_000))).toBe(`"${'x'.repeat(40)}"… (960 more characters)`);
    expect(describeValue('line\nbreak')).toBe('"line\\nbreak"');
    expect(describeValue(new Array(5_000).fill(0))).toBe('an array of 5,000 items');
    expect(describeValue({ secret: 'x' })).toBe('an object');
    expect(describeValue(null)).toBe('null');
    const result = z.strictObject({ s: z.string().max(3) }).safeParse({ s: 'y'.repeat(100_000) }, PLAIN_WORDS);
    expect(refusalOf(result.error?.issues ?? [], {}).detail).toBe('must be at most 3 characters long (got 100,000 characters)');
  });
});

describe('the closest name', () => {
  it.each([
    ['instance', ['features', 'instances'], 'instances'],
    ['sepal_length', ['sepal_length_cm', 'sepal_width_cm'], 'sepal_length_cm'],
    ['Sepal_Length_CM', ['sepal_length_cm'], 'sepal_length_cm'],
    ['datatyp', ['name', 'shape', 'datatype', 'data'], 'datatype'],
    ['shap', ['name', 'shape', 'datatype', 'data'], 'shape'],
    ['lenght', ['length', 'width'], 'length'],
    ['verison', ['version', 'expectedRevision', 'reason'], 'version'],
  ])('%s → %s', (word, candidates, closest) => {
    expect(closestName(word, candidates)).toBe(closest);
  });

  it.each([
    ['a name far from all', 'colour', ['sepal_length_cm', 'petal_width_cm']],
    ['a one-letter name', 'x', ['y', 'z']],
    ['a name of 5 MB (not compared)', 'k'.repeat(5_000_000), ['k']],
    ['an empty name', '', ['a']],
  ])('none for %s: nothing close', (_what, word, candidates) => {
    expect(closestName(word, candidates)).toBeUndefined();
  });
});

describe('request bodies, through the functions that parse them', () => {
  const signature: ModelSignature = {
    inputs: [{ name: 'features', type: 'float32', shape: ['N', 4] }],
    outputs: [{ name: 'probabilities', type: 'float32', shape: ['N', 3] }],
  };
  const metadata = { features: ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'] } as ModelMetadata;
  const layout = recordLayout(signature, metadata);
  const good = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };

  it('a misspelt feature: UNKNOWN_FEATURE at the key sent, naming the feature it misspells and that feature as missing', () => {
    const { sepal_length_cm: _, ...rest } = good;
    const error = refusal(() => decodeRecords(layout, [{ sepal_length: 5.1, ...rest }], () => ['features']));
    expect([error.code, error.path]).toEqual(['UNKNOWN_FEATURE', ['features', 'sepal_length']]);
    expect(error.message).toBe(
      '"sepal_length" (did you mean "sepal_length_cm"?) is not a feature of this model; it takes: sepal_length_cm, sepal_width_cm, petal_length_cm, petal_width_cm. Feature "sepal_length_cm" is missing.',
    );
  });

  it('several unknown keys are named, each with its suggestion; a feature that is only missing stays MISSING_FEATURE', () => {
    const several = refusal(() =>
      decodeRecords(layout, [{ sepal_length: 5.1, sepal_widht_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 }], (r) => [
        'instances',
        r,
      ]),
    );
    const { petal_width_cm: _, ...three } = good;
    const missing = refusal(() => decodeRecords(layout, [three], () => ['features']));
    expect(several.message).toMatch(
      /^"sepal_length" \(did you mean "sepal_length_cm"\?\) and "sepal_widht_cm" \(did you mean "sepal_width_cm"\?\) are not features of this model;/,
    );
    expect([missing.code, missing.path]).toEqual(['MISSING_FEATURE', ['features', 'petal_width_cm']]);
  });

  it.each<[string, () => unknown, string, string, string]>([
    [
      '{"instance": …}',
      () => parseRecordRequest({ instance: [good] }, 10, RECORD_HINT),
      'UNKNOWN_FIELD',
      'instance',
      'Field "instance" is unknown (did you mean "instances"?); the fields are: features, instances.',
    ],
    [
      'a v2 body at the record route',
      () => parseRecordRequest({ inputs: [] }, 10, RECORD_HINT),
      'UNKNOWN_FIELD',
      'inputs',
      'Field "inputs" is unknown (that is the Open Inference Protocol form: POST it to /v2/models/{model}/infer)',
    ],
    [
      'no rows',
      () => parseRecordRequest({ instances: [] }, 10, RECORD_HINT),
      'INVALID_REQUEST',
      'instances',
      'must have at least one item (got 0 items)',
    ],
    [
      'a body that is null',
      () => parseRecordRequest(null, 10, RECORD_HINT),
      'INVALID_REQUEST',
      '',
      'The body must be an object (got null).',
    ],
    [
      '{"input": …} at v2',
      () => parseV2Request({ input: [] }, V2_HINT),
      'UNKNOWN_FIELD',
      'input',
      'Field "input" is unknown (did you mean "inputs"?); the fields are: id, parameters, inputs, outputs.',
    ],
    [
      'datatyp and shap in a v2 input',
      () => decodeV2(signature, [{ name: 'features', shap: [1, 4], datatyp: 'FP32', data: [1, 2, 3, 4] }]),
      'UNKNOWN_FIELD',
      'inputs[0].shap',
      'Field "inputs[0].shap" is unknown (did you mean "shape"?); the fields are: name, shape, datatype, data, parameters; also unknown: "datatyp".',
    ],
    [
      'a fractional dimension',
      () => decodeV2(signature, [{ name: 'features', shape: [1.5, 4], datatype: 'FP32', data: [1, 2, 3, 4] }]),
      'INVALID_REQUEST',
      'inputs[0].shape[0]',
      'Field "inputs[0].shape[0]" must be a whole number (got 1.5).',
    ],
    [
      'a misspelt input name',
      () => decodeV2(signature, [{ name: 'feature', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }]),
      'UNKNOWN_INPUT',
      'inputs[0].name',
      '"feature" is not an input of this model (did you mean "features"?); it takes: features.',
    ],
    [
      'a misspelt metadata field',
      () => parseMetadata({ framwork: 'sklearn' }),
      'UNKNOWN_FIELD',
      'metadata.framwork',
      'Field "metadata.framwork" is unknown (did you mean "framework"?)',
    ],
    [
      'a metadata feature that is a number',
      () => parseMetadata({ features: ['a', 7] }),
      'INVALID_REQUEST',
      'metadata.features[1]',
      'Field "metadata.features[1]" must be a string (got 7).',
    ],
    [
      'a capture share over 100',
      () => parseWith(CaptureSettingsSchema, { samplePercent: 250 }, 'H'),
      'INVALID_REQUEST',
      'samplePercent',
      'Field "samplePercent" must be',
    ],
    [
      'a misspelt capture field',
      () => parseWith(CaptureSettingsSchema, { samplePercnt: 25 }, 'H'),
      'UNKNOWN_FIELD',
      'samplePercnt',
      'Field "samplePercnt" is unknown (did you mean "samplePercent"?)',
    ],
    [
      "an experiment's metric",
      () =>
        parseWith(
          ExperimentRequestSchema,
          {
            variants: [
              { name: 'a', version: '1', weight: 50 },
              { name: 'b', version: '2', weight: 50 },
            ],
            metric: 'clicks',
          },
          'H',
        ),
      'INVALID_REQUEST',
      'metric',
      'Field "metric" must be "conversion" (0/1 per unit) or "value" (a number per outcome) (got "clicks").',
    ],
    [
      "an experiment's weights",
      () =>
        parseWith(
          ExperimentRequestSchema,
          {
            variants: [
              { name: 'a', version: '1', weight: 50 },
              { name: 'b', version: '2', weight: 40 },
            ],
          },
          'H',
        ),
      'INVALID_REQUEST',
      'variants',
      'Field "variants" must hold weights that sum to 100 (percent of the units); they sum to 90.',
    ],
    [
      'a version that is missing',
      () =>
        parseWith(
          ExperimentRequestSchema,
          {
            variants: [
              { name: 'a', version: '1', weight: 50 },
              { name: 'b', weight: 50 },
            ],
          },
          'H',
        ),
      'MISSING_FIELD',
      'variants[1].version',
      'Field "variants[1].version" is required: it must be a version number such as "3".',
    ],
    [
      'an outcome without requestId or key',
      () => parseWith(OutcomeRequestSchema, { value: 1, outcomeId: 'o' }, 'H'),
      'MISSING_FIELD',
      'requestId',
      'Field "requestId" is required: it must name either "requestId"',
    ],
  ])('%s', (_name, act, code, path, message) => {
    const error = refusal(act);
    const shownPath = error.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
    expect([error.code, shownPath]).toEqual([code, path]);
    expect(error.message).toContain(message);
    expectPlain(error.message);
  });

  it('a misspelt name to redact from captured data: the closest name the model declares', () => {
    const versions = [{ metadata, signature }];
    const error = refusal(() => checkRedaction({ drop: ['petal_widht_cm'], hash: [] }, versions));
    expect([error.code, error.path]).toEqual(['UNKNOWN_FEATURE', ['drop', 0]]);
    expect(error.message).toContain('check the spelling (did you mean "petal_width_cm"?) (known: ');
  });

  it('a reference profile: an unknown field with the closest field of the format, a wrong value with what was sent', () => {
    const numeric = {
      kind: 'numeric',
      count: 3,
      missing: 0,
      min: 1,
      max: 3,
      mean: 2,
      std: 1,
      quantileEdges: [1, 1, 1, 2, 2, 2, 3, 3, 3],
      binProportions: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
      sample: [1, 2, 3],
    };
    const typo = refusal(() => parseReferenceProfile({ profileVersion: 1, rows: 3, features: { x: { ...numeric, cuont: 3 } } }));
    const fraction = refusal(() => parseReferenceProfile({ profileVersion: 1, rows: 2.5, features: {} }));
    expect(typo.message).toMatch(/^profile\.features\.x\.cuont is unknown \(did you mean "count"\?\); the fields are: kind, count,/);
    expect(fraction.message).toMatch(/^profile\.rows must be a whole number ≥ 0 \(got 2\.5\)\./);
    expectPlain(typo.message);
  });
});

describe("the functions' environment", () => {
  it('names each bad variable in plain words, and never quotes what a variable holds (it may be a secret)', () => {
    const act = () => loadConfig({ REGISTRY_TABLE: 't', MAX_ROWS: 'secret-value-1234', LOG_LEVEL: 'loud' });
    expect(act).toThrow(
      'Invalid function configuration (environment variables): MAX_ROWS: must be a number; LOG_LEVEL: must be one of: "DEBUG", "INFO", "WARN", "ERROR", "SILENT"',
    );
    expect(act).not.toThrow(/secret-value/);
    const authorizer = () =>
      loadAuthorizerConfig({ JWT_ISSUER: 'i', JWT_AUDIENCE: 'a', JWKS_URL: 'https://i/jwks', JWT_CLOCK_TOLERANCE_SECONDS: 'x' });
    expect(authorizer).toThrow(/JWT_CLOCK_TOLERANCE_SECONDS: must be a number/);
    try {
      authorizer();
    } catch (error) {
      expectPlain((error as ValidationError).message);
    }
  });
});
