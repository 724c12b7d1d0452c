import * as ort from 'onnxruntime-node';
import {
  attr, buildModel, buildModelProto, makeTensor, mapOf, ML_DOMAIN, sequenceOf, tensorOf, tensorTypeFromOnnx,
} from '../../functions/core/onnx/builder.js';
import { AttributeType, DataType, ProtobufDecodeError, decodeModel, encodeModel, type ModelProto } from '../../functions/core/onnx/proto.js';
import { TENSOR_TYPES } from '../../functions/core/model.js';
import { identityModel, mlpModel, treeEnsembleClassifier, zipMapClassifier } from '../fixtures/models.js';

const utf8 = new TextEncoder();

/** A model that uses every field the proto module models, including non-tensor value types. */
function richModel(): ModelProto {
  return buildModelProto({
    inputs: [
      { name: 'x', type: 'float32', shape: ['batch', 3, null], docString: 'features' },
      { name: 'n', type: 'int64' },
    ],
    outputs: [
      { name: 'y', type: 'float32', shape: ['batch', 3, null] },
      { name: 'm', valueType: sequenceOf(mapOf('int64', tensorOf('float32'))) },
    ],
    initializers: [
      { name: 'w', dims: [2, 2], data: new Float32Array([0.5, -1.25, 3, 1e-3]) },
      { name: 'big', dims: [3], data: [-(2n ** 63n), 2n ** 62n, -1n] },
      { name: 'u', dims: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
      { name: 'd', dims: [2], data: new Float64Array([Math.PI, -0]) },
      { name: 's', dims: [2], data: ['a', 'ünï'] },
      { name: 'flags', dims: [3], data: [true, false, true] },
      { name: 'i8', dims: [2], data: new Int8Array([-128, 127]) },
    ],
    nodes: [
      {
        op: 'Custom', domain: 'test.domain', inputs: ['x', '', 'w'], outputs: ['y', 'm'], name: 'custom', docString: 'doc',
        attributes: {
          f: attr.float(0.5), i: -7, big: 2n ** 62n, flag: true, s: 'text', raw: utf8.encode('bytes'),
          t: attr.tensor({ dims: [], data: new Int32Array([-5]) }),
          fs: [0.25, -2.5], is: [1, -2, 3], bigs: [-(2n ** 63n)], ss: ['p', 'q'], empty: attr.ints([]),
        },
      },
    ],
    opsets: { 'test.domain': 1 },
    metadata: { author: 'tests', license: 'MIT' },
    docString: 'rich', producerVersion: '1.2.3', modelVersion: 42, graphName: 'g',
  });
}

describe('encodeModel / decodeModel', () => {
  it('round-trips every modelled field', () => {
    // Prepare
    const model = richModel();

    // Act
    const decoded = decodeModel(encodeModel(model));

    // Assess
    expect(decoded).toEqual(model);
    expect(decoded.graph?.node[0]?.attribute.find((a) => a.name === 'big')?.i).toBe(2n ** 62n);
    expect(decoded.graph?.input[0]?.type?.tensorType?.shape?.dim).toEqual([{ dimParam: 'batch' }, { dimValue: 3 }, {}]);
    expect(decoded.graph?.output[1]?.type?.sequenceType?.elemType?.mapType?.keyType).toBe(DataType.INT64);
  });

  it('is deterministic and stable: encode(decode(bytes)) gives the same bytes', () => {
    // Prepare
    const bytes = encodeModel(richModel());

    // Act
    const again = encodeModel(decodeModel(bytes));

    // Assess
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(buildModel(identitySpec('float64'))).equals(Buffer.from(buildModel(identitySpec('float64'))))).toBe(true);
  });

  it('round-trips the fixture models byte for byte', () => {
    for (const bytes of [mlpModel().bytes, treeEnsembleClassifier({ labels: 'int64s' }).bytes, zipMapClassifier().bytes]) {
      expect(Buffer.from(encodeModel(decodeModel(bytes))).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it('round-trips tensors stored in the typed *_data fields, not only raw_data', () => {
    // Prepare
    const model: ModelProto = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      metadataProps: [],
      graph: {
        node: [], input: [], output: [], valueInfo: [],
        initializer: [{
          name: 'all', dims: [2], dataType: DataType.FLOAT, docString: 'every typed field',
          floatData: [0.5, -2], int32Data: [-2147483648, 7], stringData: [utf8.encode('s')],
          int64Data: [-(2n ** 63n), 2n ** 63n - 1n], doubleData: [Math.E, -1e-300], uint64Data: [2n ** 64n - 1n, 0n],
        }],
      },
    };

    // Act
    const decoded = decodeModel(encodeModel(model));

    // Assess
    expect(decoded).toEqual(model);
  });

  it('refuses to encode integers outside their protobuf type', () => {
    const tensor = { dims: [1], dataType: DataType.INT64, floatData: [], int32Data: [], stringData: [], int64Data: [2n ** 63n], doubleData: [], uint64Data: [] };
    const model: ModelProto = { opsetImport: [], metadataProps: [], graph: { node: [], input: [], output: [], valueInfo: [], initializer: [tensor] } };
    expect(() => encodeModel(model)).toThrow(RangeError);
    expect(() => encodeModel({ ...model, graph: undefined, irVersion: 2 ** 53 })).toThrow(/not a safe integer/);
  });

  it('keeps fields it does not model and writes them back', () => {
    // Prepare: ModelProto field 20 (training_info) and an unknown varint field 99 appended.
    const base = encodeModel(richModel());
    const extra = Uint8Array.from([0xa2, 0x01, 0x02, 0x08, 0x01, 0x98, 0x06, 0x05]);
    const bytes = Uint8Array.from([...base, ...extra]);

    // Act
    const decoded = decodeModel(bytes);
    const again = encodeModel(decoded);

    // Assess
    expect(decoded.unknownFields).toEqual([
      { field: 20, wireType: 2, data: Uint8Array.from([0x08, 0x01]) },
      { field: 99, wireType: 0, data: Uint8Array.from([0x05]) },
    ]);
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
  });

  it('reads packed and unpacked encodings of repeated scalars alike', () => {
    // Prepare: TensorProto { dims: [2, 3] } with dims packed (field 1, wire type 2) and unpacked.
    const packed = tensorModel([0x0a, 0x02, 0x02, 0x03, 0x10, 0x01]);
    const unpacked = tensorModel([0x08, 0x02, 0x08, 0x03, 0x10, 0x01]);

    // Act
    const a = decodeModel(packed).graph?.initializer[0];
    const b = decodeModel(unpacked).graph?.initializer[0];

    // Assess
    expect(a?.dims).toEqual([2, 3]);
    expect(b?.dims).toEqual([2, 3]);
    expect(a?.dataType).toBe(DataType.FLOAT);
  });

  it.each([
    ['truncated', (b: Uint8Array) => b.subarray(0, b.length - 3)],
    ['a length past the end', () => Uint8Array.from([0x3a, 0x7f, 0x00])],
    ['field number 0', () => Uint8Array.from([0x00, 0x01])],
    ['an over-long varint', () => Uint8Array.from([0x08, ...new Array<number>(11).fill(0xff)])],
    ['a wrong wire type', () => Uint8Array.from([0x0d, 0, 0, 0, 0])],
    ['invalid UTF-8 in a string', () => Uint8Array.from([0x12, 0x02, 0xc3, 0x28])],
    ['an unsupported wire type', () => Uint8Array.from([0x0b])],
  ])('refuses %s with a ProtobufDecodeError', (_, make) => {
    // Prepare
    const bytes = make(encodeModel(richModel()));

    // Act / Assess
    expect(() => decodeModel(bytes)).toThrow(ProtobufDecodeError);
  });

  it('refuses messages nested beyond the depth limit', () => {
    // Prepare: sequence(sequence(...)) 80 deep
    let type = tensorOf('float32');
    for (let i = 0; i < 80; i++) type = sequenceOf(type);
    const bytes = buildModel({ inputs: [{ name: 'x', valueType: type }], outputs: [{ name: 'x', valueType: type }], nodes: [] });

    // Act / Assess
    expect(() => decodeModel(bytes)).toThrow(/nested deeper/);
  });

  it('refuses a version that does not fit a JavaScript number exactly instead of rounding it', () => {
    // Prepare: ir_version = 2^60
    const bytes = Uint8Array.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);

    // Act / Assess
    expect(() => decodeModel(bytes)).toThrow(/does not fit a JavaScript number/);
  });
});

describe('buildModel', () => {
  it('maps every contract type to its ONNX data type and back', () => {
    for (const type of TENSOR_TYPES) {
      const proto = buildModelProto(identitySpec(type));
      const code = proto.graph?.input[0]?.type?.tensorType?.elemType ?? -1;
      expect(tensorTypeFromOnnx(code)).toBe(type);
    }
  });

  it('writes attributes with their inferred or explicit types', () => {
    // Act
    const node = richModel().graph?.node[0];
    const types = Object.fromEntries((node?.attribute ?? []).map((a) => [a.name, a.type]));

    // Assess
    expect(types).toEqual({
      f: AttributeType.FLOAT, i: AttributeType.INT, big: AttributeType.INT, flag: AttributeType.INT,
      s: AttributeType.STRING, raw: AttributeType.STRING, t: AttributeType.TENSOR, fs: AttributeType.FLOATS,
      is: AttributeType.INTS, bigs: AttributeType.INTS, ss: AttributeType.STRINGS, empty: AttributeType.INTS,
    });
    expect(node?.domain).toBe('test.domain');
  });

  it('imports each used domain with its opset version', () => {
    expect(richModel().opsetImport).toEqual([{ domain: '', version: 17 }, { domain: 'test.domain', version: 1 }]);
    expect(decodeModel(treeEnsembleClassifier().bytes).opsetImport).toEqual([
      { domain: '', version: 17 }, { domain: ML_DOMAIN, version: 3 },
    ]);
  });

  it.each([
    ['an undefined node input', { nodes: [{ op: 'Relu', inputs: ['nope'], outputs: ['y'] }] }, /input 'nope' is not defined/],
    ['a value defined twice', { nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['x'] }] }, /defined twice/],
    ['an output nothing produces', { nodes: [] }, /graph output 'y' is not produced/],
    ['a domain without an opset', { nodes: [{ op: 'Foo', domain: 'nowhere', inputs: ['x'], outputs: ['y'] }] }, /no opset version/],
    ['an untyped empty attribute list', { nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'], attributes: { a: [] as number[] } }] }, /explicit type/],
  ])('refuses %s', (_, spec, message) => {
    expect(() => buildModel({ ...identitySpec('float32'), ...spec })).toThrow(message);
  });

  it.each([
    [{ dims: [2], data: new Float32Array([1]) }, /1 elements for dims \[2\]/],
    [{ dims: [1], type: 'int8' as const, data: [128] }, /not a valid int8/],
    [{ dims: [1], type: 'uint64' as const, data: [-1n] }, /not a valid uint64/],
    [{ dims: [1], data: [1.5] }, /give `type`/],
    [{ dims: [-1], type: 'float32' as const, data: [] }, /invalid dimension/],
  ])('makeTensor refuses %j', (init, message) => {
    expect(() => makeTensor(init)).toThrow(message);
  });
});

describe('ONNX Runtime loads builder output', () => {
  it('runs a Gemm/Relu/Softmax network with float initializers', async () => {
    // Prepare
    const fixture = mlpModel({ features: 2, hidden: 3, classes: 2, seed: 3 });
    const session = await ort.InferenceSession.create(fixture.bytes);
    const x = new Float32Array([0.5, -1]);

    // Act
    const out = await session.run({ input: new ort.Tensor('float32', x, [1, 2]) });

    // Assess: the same network by hand
    const { w1, b1, w2, b2 } = fixture.weights;
    const hidden = [0, 1, 2].map((j) => Math.max(0, x[0]! * w1[j]! + x[1]! * w1[3 + j]! + b1[j]!));
    const logits = [0, 1].map((k) => hidden.reduce((s, h, j) => s + h * w2[j * 2 + k]!, b2[k]!));
    const exp = logits.map(Math.exp);
    const total = exp[0]! + exp[1]!;
    const probabilities = Array.from(out['probabilities']?.data as Float32Array);
    expect(probabilities[0]).toBeCloseTo(exp[0]! / total, 5);
    expect(probabilities[1]).toBeCloseTo(exp[1]! / total, 5);
  });

  it('runs a model whose initializers use the typed int64_data and float_data fields', async () => {
    // Prepare: y = x + c (int64), z = f * 2 (float), both constants written without raw_data
    const proto = buildModelProto({
      inputs: [{ name: 'x', type: 'int64', shape: ['N', 2] }, { name: 'f', type: 'float32', shape: ['N'] }],
      outputs: [{ name: 'y', type: 'int64', shape: ['N', 2] }, { name: 'z', type: 'float32', shape: ['N'] }],
      initializers: [{ name: 'c', dims: [2], data: [0n, 0n] }, { name: 'two', dims: [], data: new Float32Array([0]) }],
      nodes: [{ op: 'Add', inputs: ['x', 'c'], outputs: ['y'] }, { op: 'Mul', inputs: ['f', 'two'], outputs: ['z'] }],
    });
    const [c, two] = proto.graph?.initializer ?? [];
    delete c?.rawData;
    delete two?.rawData;
    c?.int64Data.push(-(2n ** 62n), 5n);
    two?.floatData.push(2);
    const session = await ort.InferenceSession.create(encodeModel(proto));

    // Act
    const out = await session.run({
      x: new ort.Tensor('int64', new BigInt64Array([2n ** 62n, 1n]), [1, 2]),
      f: new ort.Tensor('float32', new Float32Array([1.5]), [1]),
    });

    // Assess
    expect(Array.from(out['y']?.data as BigInt64Array)).toEqual([0n, 6n]);
    expect(Array.from(out['z']?.data as Float32Array)).toEqual([3]);
  });

  it('runs string, int64 and bool models and exposes symbolic dims', async () => {
    // Prepare
    const strings = await ort.InferenceSession.create(identityModel('string').bytes);
    const bools = await ort.InferenceSession.create(buildModel({
      inputs: [{ name: 'x', type: 'bool', shape: ['N'] }],
      outputs: [{ name: 'y', type: 'bool', shape: ['N'] }],
      nodes: [{ op: 'Not', inputs: ['x'], outputs: ['y'] }],
    }));

    // Act
    const s = await strings.run({ x: new ort.Tensor('string', ['a', 'b', 'c'], [1, 3]) });
    const b = await bools.run({ x: new ort.Tensor('bool', new Uint8Array([1, 0]), [2]) });

    // Assess
    expect(s['y']?.data).toEqual(['a', 'b', 'c']);
    expect(Array.from(b['y']?.data as Uint8Array)).toEqual([0, 1]);
    expect(strings.inputMetadata[0]).toMatchObject({ name: 'x', type: 'string', shape: ['N', 3] });
  });
});

function identitySpec(type: (typeof TENSOR_TYPES)[number]) {
  return {
    inputs: [{ name: 'x', type, shape: ['N', 3] }],
    outputs: [{ name: 'y', type, shape: ['N', 3] }],
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
  };
}

/** A model whose graph holds one initializer with the given TensorProto bytes. */
function tensorModel(tensorBytes: number[]): Uint8Array {
  // GraphProto { initializer (5): tensor }, ModelProto { graph (7): graph }
  const graph = [0x2a, tensorBytes.length, ...tensorBytes];
  return Uint8Array.from([0x3a, graph.length, ...graph]);
}
