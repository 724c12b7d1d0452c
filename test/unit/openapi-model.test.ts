/**
 * A model's OpenAPI document against the codec itself, without a server: for element values at
 * and past every type's bounds, and for request bodies generated from the schema and written to
 * break it, the schema admits exactly what the codec (`parseRecordRequest`, `decodeRecords`,
 * `decodeArrays`, `parseV2Request`, `decodeV2`) accepts, over signatures the fixture models do
 * not have (rank-0 and rank-3 inputs, a fixed batch of 3, [N, 1, 1] bools).
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { generate } from 'json-schema-faker';
import { decodeArrays, decodeRecords, decodeV2, recordLayout, selectOutputs } from '../../functions/core/codec/decode.js';
import { elementWriter } from '../../functions/core/codec/elements.js';
import { FLOAT16_OVERFLOW, FLOAT32_MAX, FLOAT32_OVERFLOW } from '../../functions/core/codec/numbers.js';
import { parseRecordRequest, parseV2Request, RECORD_HINT, V2_HINT } from '../../functions/core/codec/request.js';
import { AppError } from '../../functions/core/errors.js';
import { TENSOR_TYPES, type ModelMetadata, type ModelVersion, type TensorSpec } from '../../functions/core/model.js';
import { modelDocument, type ModelDocumentLimits } from '../../functions/shared/openapi/model-document.js';
import { decimalsUpTo, requestElement } from '../../functions/shared/openapi/tensors.js';

type Json = Record<string, any>;

const ajv = new Ajv2020({ strict: false });

const LIMITS: ModelDocumentLimits = { maxRows: 5, maxStringChars: 8, maxJsonDepth: 32, maxBodyBytes: 6_000_000 };

/** A registered version of a model with these inputs and outputs (what the document is built from). */
function versionOf(model: string, inputs: TensorSpec[], outputs: TensorSpec[], metadata: ModelMetadata = {}): ModelVersion {
  return {
    model,
    version: '1',
    stage: 'production',
    revision: 1,
    metadata,
    artifact: { bucket: 'b', key: 'k', sha256: '0'.repeat(64), sizeBytes: 1 },
    signature: { inputs, outputs },
    registeredBy: 'test',
    registeredAt: '2026-01-01T00:00:00.000Z',
  };
}

/** The document's `$ref`s replaced by what they name. */
function deref(node: unknown, doc: Json): any {
  if (Array.isArray(node)) return node.map((n) => deref(n, doc));
  if (node === null || typeof node !== 'object') return node;
  const ref = (node as Json)['$ref'];
  if (typeof ref === 'string') return deref(doc['components'].schemas[ref.split('/').at(-1) as string], doc);
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, deref(v, doc)]));
}

/** Whether `run` passes the codec: `false` for a 4xx it throws, anything else rethrown. */
function codecAccepts(run: () => unknown): boolean {
  try {
    run();
    return true;
  } catch (error) {
    if (error instanceof AppError && error.status < 500) return false;
    throw error;
  }
}

/** The predict route's codec, as `predictRecordTexts` runs it before the model. */
function recordCodec(version: ModelVersion, body: unknown): boolean {
  const layout = recordLayout(version.signature, version.metadata);
  return codecAccepts(() => {
    const request = parseRecordRequest(body, LIMITS.maxRows, RECORD_HINT);
    if (request.kind === 'features') return decodeRecords(layout, [request.record], () => ['features'], LIMITS);
    return request.arrays
      ? decodeArrays(layout, request.rows, (r) => ['instances', r], LIMITS)
      : decodeRecords(layout, request.rows, (r) => ['instances', r], LIMITS);
  });
}

/** The v2 route's codec, as `PredictionService.infer` runs it for a JSON request without `Accept: application/octet-stream`. */
function v2Codec(version: ModelVersion, body: unknown): boolean {
  return codecAccepts(() => {
    const parsed = parseV2Request(body, V2_HINT);
    const binary =
      parsed.binaryOutputs.size > 0 ||
      (parsed.binaryOutput && (parsed.outputs === undefined || parsed.outputs.some((name) => !parsed.jsonOutputs.has(name))));
    if (binary) throw new AppError(406, 'NOT_ACCEPTABLE', 'binary outputs');
    decodeV2(version.signature, parsed.inputs, LIMITS);
    selectOutputs(version.signature, parsed.outputs);
  });
}

describe('element schemas', () => {
  const PROBES: readonly unknown[] = [
    0,
    -0,
    1,
    -1,
    0.5,
    1.5,
    127,
    128,
    -128,
    -129,
    255,
    256,
    32_767,
    32_768,
    -32_769,
    65_504,
    65_519.99,
    FLOAT16_OVERFLOW,
    -FLOAT16_OVERFLOW,
    65_535,
    65_536,
    2_147_483_647,
    2_147_483_648,
    -2_147_483_648,
    -2_147_483_649,
    4_294_967_295,
    4_294_967_296,
    2 ** 53 - 1,
    2 ** 53,
    -(2 ** 53 - 1),
    -(2 ** 53),
    FLOAT32_MAX,
    3.4028235e38,
    FLOAT32_OVERFLOW,
    -FLOAT32_OVERFLOW,
    1e300,
    'NaN',
    'Infinity',
    '-Infinity',
    'nan',
    'inf',
    '',
    '0',
    '-0',
    '00',
    '01',
    '1',
    '-1',
    '1e3',
    ' 1',
    '9223372036854775807',
    '9223372036854775808',
    '-9223372036854775808',
    '-9223372036854775809',
    '18446744073709551615',
    '18446744073709551616',
    '99999999999999999999',
    '123456789012345678901',
    '12345678',
    '123456789',
    'a\u0000b',
    'abc',
    true,
    false,
    null,
    {},
    [],
    [1],
  ];

  it.each(TENSOR_TYPES.map((t) => [t]))('%s: the schema admits exactly the values the codec stores', (type) => {
    // Prepare
    const admits = ajv.compile(requestElement(type, LIMITS.maxStringChars));
    const write = elementWriter(type, LIMITS);
    const target: unknown[] = [];

    // Act
    const disagreements = PROBES.filter((value) => admits(value) !== codecAccepts(() => write(target, 0, value, () => [])));

    // Assess
    expect(disagreements).toEqual([]);
  });

  it('spells a decimal range out exactly: 1 to the limit, no leading zeros', () => {
    for (const limit of ['9', '10', '255', '1000', (2n ** 63n - 1n).toString(), (2n ** 64n - 1n).toString()]) {
      const inRange = new RegExp(`^(?:${decimalsUpTo(limit)})$`);
      const top = BigInt(limit);
      fc.assert(
        fc.property(fc.bigInt({ min: 0n, max: top * 3n }), fc.nat({ max: 2 }), (n, zeros) => {
          const text = `${'0'.repeat(zeros)}${n}`;
          expect(inRange.test(text)).toBe(zeros === 0 && n >= 1n && n <= top);
        }),
        { numRuns: 300 },
      );
      expect(inRange.test(limit)).toBe(true);
      expect(inRange.test((top + 1n).toString())).toBe(false);
    }
  });
});

/** Signatures beyond the fixture models', each with bodies that probe its edges. */
const CASES: readonly { readonly name: string; readonly version: ModelVersion; readonly probes: readonly unknown[] }[] = [
  {
    name: 'columns [N, 4] with declared features',
    version: versionOf('cols', [{ name: 'x', type: 'float32', shape: ['N', 4] }], [{ name: 'p', type: 'float32', shape: ['N', 3] }], {
      features: ['a', 'b', 'c', 'd'],
      classLabels: ['u', 'v', 'w'],
    }),
    probes: [
      { features: { a: 1, b: 2, c: 3, d: 4 } },
      { features: { a: 1, b: 2, c: 3 } },
      { features: { a: 1, b: 2, c: 3, d: 4, e: 5 } },
      { features: { a: [1], b: 2, c: 3, d: 4 } },
      { instances: [[1, 2, 3, 4]] },
      { instances: [[1, 2, 3]] },
      { instances: [[1, 2, 3, 4], { a: 1, b: 2, c: 3, d: 4 }] },
      { instances: [] },
      { instances: Array.from({ length: 6 }, () => [1, 2, 3, 4]) },
      { instances: Array.from({ length: 5 }, () => [1, 2, 3, 4]) },
      { features: { a: 1, b: 2, c: 3, d: 4 }, instances: [[1, 2, 3, 4]] },
      { feature: { a: 1 } },
      {},
    ],
  },
  {
    name: 'a fixed batch of 3',
    version: versionOf('three', [{ name: 'x', type: 'int32', shape: [3, 2] }], [{ name: 'y', type: 'int32', shape: [3, 2] }], {
      features: ['p', 'q'],
    }),
    probes: [
      { features: { p: 1, q: 2 } },
      {
        instances: [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
      },
      {
        instances: [
          [1, 2],
          [3, 4],
        ],
      },
      {
        instances: [
          { p: 1, q: 2 },
          { p: 1, q: 2 },
          { p: 1, q: 2 },
        ],
      },
    ],
  },
  {
    name: 'a rank-0 input and a rank-1 input',
    version: versionOf(
      'scalars',
      [
        { name: 's', type: 'float64', shape: [] },
        { name: 'v', type: 'int8', shape: ['N'] },
      ],
      [{ name: 'o', type: 'float64', shape: [] }],
    ),
    probes: [
      { features: { s: 1.5, v: 3 } },
      { features: { s: [1.5], v: 3 } },
      { features: { s: 1.5, v: [3] } },
      { instances: [{ s: 1, v: 1 }] },
      {
        instances: [
          { s: 1, v: 1 },
          { s: 1, v: 1 },
        ],
      },
      { instances: [[1, 1]] },
    ],
  },
  {
    name: 'a rank-3 input',
    version: versionOf('cube', [{ name: 'x', type: 'float64', shape: ['N', 2, 3] }], [{ name: 'y', type: 'float64', shape: ['N', 2, 3] }]),
    probes: [
      {
        features: {
          x: [
            [1, 2, 3],
            [4, 5, 6],
          ],
        },
      },
      {
        features: {
          x: [
            [1, 2, 3],
            [4, 5],
          ],
        },
      },
      { features: { x: [1, 2, 3, 4, 5, 6] } },
      { features: { x: 1 } },
      {
        instances: [
          [
            [1, 2, 3],
            [4, 5, 6],
          ],
        ],
      },
      {
        instances: [
          [
            [1, 2, 3],
            [4, 5, 6],
            [7, 8, 9],
          ],
        ],
      },
    ],
  },
  {
    name: 'a string [N, 1] and a float [N] input',
    version: versionOf(
      'mixed',
      [
        { name: 'color', type: 'string', shape: ['N', 1] },
        { name: 'amount', type: 'float32', shape: ['N'] },
      ],
      [{ name: 'score', type: 'float32', shape: ['N'] }],
    ),
    probes: [
      { features: { color: 'red', amount: 1 } },
      { features: { color: ['red'], amount: 1 } },
      { features: { color: [['red']], amount: 1 } },
      { features: { color: 'a-long-color', amount: 1 } },
      { features: { color: 'red', amount: 'NaN' } },
      { features: { color: 'red', amount: 'nan' } },
      {
        instances: [
          { color: 'red', amount: 1 },
          { color: ['blue'], amount: 2 },
        ],
      },
      { instances: [['red', 1]] },
    ],
  },
  {
    name: 'bools [N, 1, 1]',
    version: versionOf('flags', [{ name: 'b', type: 'bool', shape: ['N', 1, 1] }], [{ name: 'c', type: 'bool', shape: ['N', 1, 1] }]),
    probes: [
      { features: { b: true } },
      { features: { b: [[true]] } },
      { features: { b: [true] } },
      { features: { b: 1 } },
      { instances: [[[false]], [[true]]] },
      { instances: [true] },
    ],
  },
];

/** v2 bodies for the rank-0/rank-1 signature and the mixed one. */
const V2_PROBES: readonly { readonly name: string; readonly body: unknown }[] = [
  {
    name: 'scalars',
    body: {
      inputs: [
        { name: 's', shape: [], datatype: 'FP64', data: [1] },
        { name: 'v', shape: [2], datatype: 'INT8', data: [1, 2] },
      ],
    },
  },
  { name: 'scalars', body: { inputs: [{ name: 's', shape: [], datatype: 'FP64', data: [1] }] } },
  {
    name: 'scalars',
    body: {
      inputs: [
        { name: 's', shape: [], datatype: 'FP64', data: [1] },
        { name: 's', shape: [], datatype: 'FP64', data: [1] },
      ],
    },
  },
  {
    name: 'scalars',
    body: {
      inputs: [
        { name: 's', shape: [1], datatype: 'FP64', data: [1] },
        { name: 'v', shape: [1], datatype: 'INT8', data: [1] },
      ],
    },
  },
  {
    name: 'mixed',
    body: {
      inputs: [
        { name: 'color', shape: [1, 1], datatype: 'BYTES', data: [['red']] },
        { name: 'amount', shape: [1], datatype: 'FP32', data: [1] },
      ],
    },
  },
  {
    name: 'mixed',
    body: {
      inputs: [
        { name: 'amount', shape: [1], datatype: 'FP32', data: [1] },
        { name: 'color', shape: [1, 1], datatype: 'BYTES', data: ['red'] },
      ],
    },
  },
  {
    name: 'mixed',
    body: {
      inputs: [
        { name: 'amount', shape: [1], datatype: 'FP32', data: [1] },
        { name: 'color', shape: [1, 1], datatype: 'BYTES', data: ['red'] },
      ],
      parameters: { binary_data_output: true },
    },
  },
  {
    name: 'mixed',
    body: {
      inputs: [
        { name: 'amount', shape: [1], datatype: 'FP32', data: [1] },
        { name: 'color', shape: [1, 1], datatype: 'BYTES', data: ['red'] },
      ],
      parameters: { binary_data_output: true },
      outputs: [{ name: 'score', parameters: { binary_data: false } }],
    },
  },
  {
    name: 'mixed',
    body: {
      inputs: [
        { name: 'amount', shape: [1], datatype: 'FP32', data: [1] },
        { name: 'color', shape: [1, 1], datatype: 'BYTES', data: ['red'] },
      ],
      outputs: [{ name: 'nope' }],
    },
  },
  {
    name: 'mixed',
    body: {
      inputs: [
        { name: 'amount', shape: [1], datatype: 'FP32', data: [1], parameters: { data_ref: 'x' } },
        { name: 'color', shape: [1, 1], datatype: 'BYTES', data: ['red'] },
      ],
    },
  },
  {
    name: 'cube',
    body: {
      inputs: [
        {
          name: 'x',
          shape: [1, 2, 3],
          datatype: 'FP64',
          data: [
            [
              [1, 2, 3],
              [4, 5, 6],
            ],
          ],
        },
      ],
    },
  },
  { name: 'cube', body: { inputs: [{ name: 'x', shape: [6, 2, 3], datatype: 'FP64', data: Array.from({ length: 36 }, () => 0) }] } },
  { name: 'cube', body: { inputs: [{ name: 'x', shape: [1, 3, 2], datatype: 'FP64', data: [1, 2, 3, 4, 5, 6] }] } },
];

describe('request schemas against the codec', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s: the document is valid OpenAPI 3.1', async (_name, { version }) => {
    expect(await new Validator().validate(modelDocument(version, LIMITS) as unknown as Json)).toEqual({ valid: true });
  });

  it.each(CASES.map((c) => [c.name, c] as const))(
    '%s: the predict schema admits a body exactly when the codec does (probes and generated bodies)',
    async (_name, { version, probes }) => {
      // Prepare
      const doc = modelDocument(version, LIMITS) as unknown as Json;
      const schema = deref(doc['components'].schemas.PredictRequest, doc);
      const admits = ajv.compile(schema);
      const generated = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((seed) => generate(schema, { seed })));

      // Act
      const verdicts = [...probes, ...generated].map((body) => ({ body, schema: admits(body), codec: recordCodec(version, body) }));

      // Assess
      expect(verdicts.filter((v) => v.schema !== v.codec)).toEqual([]);
      expect(verdicts.slice(probes.length).every((v) => v.codec)).toBe(true);
      expect(verdicts.some((v) => !v.codec)).toBe(true);
    },
  );

  it('the v2 schema admits a body exactly when the codec does (whose data match their shapes)', () => {
    for (const { name, body } of V2_PROBES) {
      const version = CASES.find((c) => c.version.model === name)?.version as ModelVersion;
      const doc = modelDocument(version, LIMITS) as unknown as Json;
      const admits = ajv.compile(deref(doc['components'].schemas.V2InferRequest, doc));
      expect({ name, body, schema: admits(body) }).toEqual({ name, body, schema: v2Codec(version, body) });
    }
  });

  it('leaves a model without a fitting row count no request, and a model with one input an array form', () => {
    const clash = versionOf(
      'clash',
      [
        { name: 'a', type: 'float32', shape: [2, 1] },
        { name: 'b', type: 'float32', shape: [3, 1] },
      ],
      [{ name: 'c', type: 'float32', shape: [2, 1] }],
    );
    const doc = modelDocument(clash, LIMITS) as unknown as Json;
    expect(doc['components'].schemas.PredictRequest).toMatchObject({ not: {} });
    expect(
      recordCodec(clash, {
        instances: [
          { a: 1, b: 1 },
          { a: 1, b: 1 },
        ],
      }),
    ).toBe(false);
  });
});

describe('the document', () => {
  const iris = versionOf(
    'iris',
    [{ name: 'features', type: 'float32', shape: ['N', 2] }],
    [
      { name: 'probabilities', type: 'float32', shape: ['N', 2] },
      { name: 'label', type: 'string', shape: ['N'] },
    ],
    {
      features: ['a', 'b'],
      classLabels: ['no', 'yes'],
      goldenInputs: [
        {
          request: { instances: [{ a: 1, b: 2 }] },
          expected: [{ label: 'yes', confidence: 0.75, probabilities: { no: 0.25, yes: 0.75 } }],
          tolerance: 0.001,
        },
        { request: { instances: Array.from({ length: 9 }, () => [1, 2]) }, expected: [{}] },
      ],
    },
  );

  /** The request and answer examples of a route of `doc`. */
  function examplesOf(doc: Json, path: string): { requests: Json; answers: Json } {
    const post = doc['paths'][path].post;
    return {
      requests: post.requestBody.content['application/json'].examples,
      answers: post.responses['200'].content['application/json'].examples,
    };
  }

  it('shows the golden inputs that fit the limits as examples of both routes, each with its answer', () => {
    // Act
    const doc = modelDocument(iris, LIMITS) as unknown as Json;
    const predict = examplesOf(doc, '/v1/models/iris/predict');
    const infer = examplesOf(doc, '/v2/models/iris/infer');

    // Assess: the second golden input has 9 rows, more than MAX_ROWS (5) here.
    expect(Object.keys(predict.requests)).toEqual(['golden-1']);
    expect(Object.keys(predict.answers)).toEqual(['golden-1']);
    expect(predict.answers['golden-1']).toMatchObject({
      value: {
        model: 'iris',
        modelVersion: '1',
        predictions: [{ label: 'yes', confidence: 0.75, probabilities: { no: 0.25, yes: 0.75 } }],
      },
      'x-fixed': ['/model', '/predictions'],
      'x-tolerance': 0.001,
    });
    expect(predict.answers['golden-1'].value).toHaveProperty('requestId');
    expect(predict.answers['golden-1'].description).toContain('the other fields are examples');
    // The label output is not in the predictions: the v2 example asks for the probabilities only.
    expect(infer.requests['golden-1'].value).toEqual({
      id: 'golden-1',
      inputs: [{ name: 'features', shape: [1, 2], datatype: 'FP32', data: [1, 2] }],
      outputs: [{ name: 'probabilities' }],
    });
    expect(infer.answers['golden-1']).toMatchObject({
      value: {
        model_name: 'iris',
        model_version: '1',
        id: 'golden-1',
        outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.25, 0.75] }],
      },
      'x-fixed': ['/model_name', '/id', '/outputs'],
    });
  });

  /** The v2 answer example's outputs of a one-golden-input model, or its x-fixed when it shows none. */
  function v2Outputs(inputs: TensorSpec[], outputs: TensorSpec[], metadata: ModelMetadata): unknown {
    const doc = modelDocument(versionOf('m', inputs, outputs, metadata), LIMITS) as unknown as Json;
    const answer = examplesOf(doc, '/v2/models/m/infer').answers['golden-1'];
    return answer['x-fixed'].includes('/outputs') ? answer.value.outputs : { fixed: answer['x-fixed'] };
  }

  it('writes the v2 outputs of every kind of prediction: binary classifiers, slices, outputs without a batch axis', () => {
    const x2: TensorSpec[] = [{ name: 'x', type: 'float32', shape: ['N', 2] }];
    const rows = {
      instances: [
        [1, 2],
        [3, 4],
      ],
    };
    // A binary classifier of one probability per row, [N, 1] and [N]: the second label's.
    const binary = { probabilities: { no: 0.25, yes: 0.75 }, label: 'yes', confidence: 0.75 };
    const other = { probabilities: { no: 0.5, yes: 0.5 }, label: 'yes', confidence: 0.5 };
    for (const shape of [['N', 1], ['N']] as TensorSpec['shape'][]) {
      expect(
        v2Outputs(x2, [{ name: 'p', type: 'float32', shape }], {
          features: ['a', 'b'],
          classLabels: ['no', 'yes'],
          goldenInputs: [{ request: rows, expected: [binary, other] }],
        }),
      ).toEqual([{ name: 'p', datatype: 'FP32', shape: shape.length === 1 ? [2] : [2, 1], data: [0.75, 0.5] }]);
    }
    // Each row's slice stacked; a scalar output (no batch axis) once; int64 beyond 2^53 and NaN as the answer writes them.
    expect(
      v2Outputs(
        [{ name: 'x', type: 'int64', shape: ['N', 2] }],
        [
          { name: 'y', type: 'int64', shape: ['N', 2] },
          { name: 'total', type: 'float64', shape: [] },
          { name: 'flag', type: 'bool', shape: ['N'] },
        ],
        {
          goldenInputs: [
            {
              request: rows,
              expected: [
                { y: ['9007199254740993', 2], total: 'NaN', flag: true },
                { y: [3, 4], total: 'NaN', flag: false },
              ],
            },
          ],
        },
      ),
    ).toEqual([
      { name: 'y', datatype: 'INT64', shape: [2, 2], data: ['9007199254740993', 2, 3, 4] },
      { name: 'total', datatype: 'FP64', shape: [], data: ['NaN'] },
      { name: 'flag', datatype: 'BOOL', shape: [2], data: [true, false] },
    ]);
    // An output of rank 1 that is not per row (its row value as deep as its rank): the whole output.
    expect(
      v2Outputs(x2, [{ name: 'w', type: 'float32', shape: [3] }], {
        goldenInputs: [{ request: { features: { x: [1, 2] } }, expected: [{ w: [1, 2, 3] }] }],
      }),
    ).toEqual([{ name: 'w', datatype: 'FP32', shape: [3], data: [1, 2, 3] }]);
    // Predictions of another shape than the model answers: no outputs shown, none fixed.
    expect(
      v2Outputs(x2, [{ name: 'y', type: 'float32', shape: ['N', 2] }], {
        goldenInputs: [{ request: rows, expected: [{ z: 1 }, { z: 2 }] }],
      }),
    ).toEqual({ fixed: ['/model_name', '/id'] });
  });

  it('describes a classifier answer by its labels, and states the model, its limits and the predict scope', () => {
    const doc = modelDocument(iris, LIMITS) as unknown as Json;
    const answer = deref(doc['paths']['/v1/models/iris/predict'].post.responses['200'].content['application/json'].schema, doc);
    expect(answer.allOf[1].properties.predictions.items.properties.label.enum).toEqual(['no', 'yes', null]);
    expect(doc['x-model']).toMatchObject({ model: 'iris', version: '1', recordKeys: 'features', limits: LIMITS });
    expect(doc['paths']['/v1/models/iris/predict'].post['x-scope']).toBe('predict');
    expect(Object.keys(doc['paths'])).toEqual(['/v1/models/iris/predict', '/v2/models/iris/infer']);
  });
});
