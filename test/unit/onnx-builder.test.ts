import { equals } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import {
  attr,
  buildModel,
  buildModelProto,
  makeAttribute,
  makeTensor,
  mapOf,
  ML_DOMAIN,
  ONNX_DATA_TYPES,
  sequenceOf,
  tensorOf,
  tensorTypeFromOnnx,
} from '../support/onnx/builder.js';
import {
  AttributeType,
  DataType,
  MAX_NESTING,
  ModelProtoSchema,
  ProtobufDecodeError,
  TensorProtoSchema,
  create,
  decodeModel,
  encodeModel,
  isFieldSet,
  type ModelProto,
} from '../../functions/core/onnx/proto.js';
import { TENSOR_TYPES } from '../../functions/core/model.js';
import { identityModel, mlpModel, treeEnsembleClassifier, zipMapClassifier } from '../fixtures/models.js';

const utf8 = new TextEncoder();

/** A model that uses every field the schema declares, including non-tensor value types. */
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
        op: 'Custom',
        domain: 'test.domain',
        inputs: ['x', '', 'w'],
        outputs: ['y', 'm'],
        name: 'custom',
        docString: 'doc',
        attributes: {
          f: attr.float(0.5),
          i: -7,
          big: 2n ** 62n,
          flag: true,
          s: 'text',
          raw: utf8.encode('bytes'),
          t: attr.tensor({ dims: [], data: new Int32Array([-5]) }),
          fs: [0.25, -2.5],
          is: [1, -2, 3],
          bigs: [-(2n ** 63n)],
          ss: ['p', 'q'],
          empty: attr.ints([]),
        },
      },
    ],
    opsets: { 'test.domain': 1 },
    metadata: { author: 'tests', license: 'MIT' },
    docString: 'rich',
    producerVersion: '1.2.3',
    modelVersion: 42,
    graphName: 'g',
  });
}

describe('encodeModel / decodeModel (protobuf-es with functions/core/onnx/onnx.proto)', () => {
  it('round-trips every declared field', () => {
    // Prepare
    const model = richModel();

    // Act
    const decoded = decodeModel(encodeModel(model));

    // Assess
    expect(equals(ModelProtoSchema, decoded, model)).toBe(true);
    expect(decoded.graph?.node[0]?.attribute.find((a) => a.name === 'big')?.i).toBe(2n ** 62n);
    const input = decoded.graph?.input[0]?.type?.value;
    expect(input?.case === 'tensorType' ? input.value.shape?.dim.map((d) => d.value) : undefined).toEqual([
      { case: 'dimParam', value: 'batch' },
      { case: 'dimValue', value: 3n },
      { case: undefined },
    ]);
    const seq = decoded.graph?.output[1]?.type?.value;
    const map = seq?.case === 'sequenceType' ? seq.value.elemType?.value : undefined;
    expect(map?.case === 'mapType' ? map.value.keyType : undefined).toBe(DataType.INT64);
  });

  it('keeps presence: a field nobody set is not written, and reads as its default', () => {
    // Prepare
    const tensor = buildModelProto({ ...identitySpec('float32'), initializers: [{ name: 'c', dims: [], data: new Float32Array([0]) }] })
      .graph?.initializer[0];
    const unnamed = makeTensor({ dims: [1], data: new Float32Array([1]) });

    // Act
    const decoded = decodeModel(encodeModel(buildModelProto(identitySpec('float32'))));

    // Assess
    expect(tensor && isFieldSet(tensor, TensorProtoSchema.field.name)).toBe(true);
    expect(isFieldSet(unnamed, TensorProtoSchema.field.name)).toBe(false);
    expect(unnamed.name).toBe('');
    expect(decoded.domain).toBe('');
    expect(isFieldSet(decoded, ModelProtoSchema.field.domain)).toBe(false);
    expect(isFieldSet(decoded, ModelProtoSchema.field.irVersion)).toBe(true);
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
    const model = create(ModelProtoSchema, {
      irVersion: 8n,
      opsetImport: [{ domain: '', version: 17n }],
      graph: {
        initializer: [
          {
            name: 'all',
            dims: [2n],
            dataType: DataType.FLOAT,
            docString: 'every typed field',
            floatData: [0.5, -2],
            int32Data: [-2147483648, 7],
            stringData: [utf8.encode('s')],
            int64Data: [-(2n ** 63n), 2n ** 63n - 1n],
            doubleData: [Math.E, -1e-300],
            uint64Data: [2n ** 64n - 1n, 0n],
          },
        ],
      },
    });

    // Act
    const decoded = decodeModel(encodeModel(model));

    // Assess
    expect(equals(ModelProtoSchema, decoded, model)).toBe(true);
    expect(decoded.graph?.initializer[0]?.uint64Data).toEqual([2n ** 64n - 1n, 0n]);
  });

  it('reads 64-bit versions and dims exactly, as bigint', () => {
    // Prepare: ir_version = 2^60
    const bytes = Uint8Array.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);

    // Act / Assess
    expect(decodeModel(bytes).irVersion).toBe(2n ** 60n);
  });

  it('refuses to encode integers outside their protobuf type', () => {
    // Prepare
    const tensor = (init: Parameters<typeof create<typeof TensorProtoSchema>>[1]) =>
      create(ModelProtoSchema, { graph: { initializer: [create(TensorProtoSchema, init)] } });

    // Act / Assess
    expect(() => encodeModel(tensor({ dims: [1n], dataType: DataType.INT64, int64Data: [2n ** 63n] }))).toThrow(/invalid int64/);
    expect(() => encodeModel(tensor({ dims: [1n], dataType: DataType.UINT64, uint64Data: [-1n] }))).toThrow(/invalid uint64/);
    expect(() => makeAttribute('big', 2n ** 63n)).toThrow(/outside the int64 range/);
  });

  it('keeps fields the schema does not declare and writes them back', () => {
    // Prepare: ModelProto field 20 (training_info) and an unknown varint field 99 appended.
    const base = encodeModel(richModel());
    const extra = Uint8Array.from([0xa2, 0x01, 0x02, 0x08, 0x01, 0x98, 0x06, 0x05]);
    const bytes = Uint8Array.from([...base, ...extra]);

    // Act
    const decoded = decodeModel(bytes);
    const again = encodeModel(decoded);

    // Assess: protobuf-es keeps each unknown field's payload with its length prefix
    expect(decoded.$unknown).toEqual([
      { no: 20, wireType: 2, data: Uint8Array.from([0x02, 0x08, 0x01]) },
      { no: 99, wireType: 0, data: Uint8Array.from([0x05]) },
    ]);
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
  });

  it('keeps unknown fields of nested messages (node, tensor, type) through decode and encode', () => {
    // Prepare: fields newer ONNX versions add, unknown to this schema: NodeProto.overload (8),
    // TensorProto.data_location (14), TypeProto.Tensor field 3, GraphProto.metadata_props (16).
    const model = richModel();
    const node = model.graph?.node[0];
    const tensor = model.graph?.initializer[0];
    const type = model.graph?.input[0]?.type?.value;
    const extra = (no: number, wireType: number, data: number[]) => [{ no, wireType, data: Uint8Array.from(data) }];
    if (!node || !tensor || type?.case !== 'tensorType' || !model.graph) throw new Error('richModel changed');
    node.$unknown = extra(8, 2, [0x02, 0x76, 0x32]);
    tensor.$unknown = extra(14, 0, [0x01]);
    type.value.$unknown = extra(3, 0, [0x2a]);
    model.graph.$unknown = extra(16, 2, [0x06, 0x0a, 0x01, 0x6b, 0x12, 0x01, 0x76]);
    const bytes = encodeModel(model);

    // Act
    const decoded = decodeModel(bytes);
    const again = encodeModel(decoded);

    // Assess
    const decodedType = decoded.graph?.input[0]?.type?.value;
    expect(decoded.graph?.node[0]?.$unknown).toEqual(node.$unknown);
    expect(decoded.graph?.initializer[0]?.$unknown).toEqual(tensor.$unknown);
    expect(decodedType?.case === 'tensorType' ? decodedType.value.$unknown : undefined).toEqual(type.value.$unknown);
    expect(decoded.graph?.$unknown).toEqual(model.graph.$unknown);
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
    expect(a?.dims).toEqual([2n, 3n]);
    expect(b?.dims).toEqual([2n, 3n]);
    expect(a?.dataType).toBe(DataType.FLOAT);
  });

  it.each([
    ['truncated', (b: Uint8Array) => b.subarray(0, b.length - 3)],
    ['a length past the end', () => Uint8Array.from([0x3a, 0x7f, 0x00])],
    ['field number 0', () => Uint8Array.from([0x00, 0x01])],
    ['an over-long varint', () => Uint8Array.from([0x08, ...new Array<number>(11).fill(0xff)])],
    ['an invalid wire type', () => Uint8Array.from([0x0f])],
    ['a start-group tag with no end', () => Uint8Array.from([0x0b])],
  ])('refuses %s with a ProtobufDecodeError', (_, make) => {
    // Prepare
    const bytes = make(encodeModel(richModel()));

    // Act / Assess
    expect(() => decodeModel(bytes)).toThrow(ProtobufDecodeError);
  });

  it('refuses messages nested beyond the depth limit', () => {
    // Prepare: sequence(sequence(...)) 80 deep, each level two messages
    let type = tensorOf('float32');
    for (let i = 0; i < 80; i++) type = sequenceOf(type);
    const bytes = buildModel({ inputs: [{ name: 'x', valueType: type }], outputs: [{ name: 'x', valueType: type }], nodes: [] });

    // Act / Assess
    expect(() => decodeModel(bytes)).toThrow(ProtobufDecodeError);
    expect(() => decodeModel(bytes)).toThrow(new RegExp(`maximum recursion depth of ${MAX_NESTING}`));
  });

  it('reads invalid UTF-8 in a string as U+FFFD, as ONNX (proto2) does, without refusing the file', () => {
    // Prepare: ModelProto.producer_name = bytes c3 28
    const bytes = Uint8Array.from([0x12, 0x02, 0xc3, 0x28]);

    // Act / Assess
    expect(decodeModel(bytes).producerName).toBe('\uFFFD(');
  });
});

describe('buildModel', () => {
  it('maps every contract type to its ONNX data type and back', () => {
    for (const type of TENSOR_TYPES) {
      const proto = buildModelProto(identitySpec(type));
      const input = proto.graph?.input[0]?.type?.value;
      const code = input?.case === 'tensorType' ? input.value.elemType : -1;
      expect(tensorTypeFromOnnx(code)).toBe(type);
    }
    expect(ONNX_DATA_TYPES.float16).toBe(DataType.FLOAT16);
    expect(DataType.FLOAT16).toBe(10);
    expect(DataType.BFLOAT16).toBe(16);
  });

  it('writes attributes with their inferred or explicit types', () => {
    // Act
    const node = richModel().graph?.node[0];
    const types = Object.fromEntries((node?.attribute ?? []).map((a) => [a.name, a.type]));

    // Assess
    expect(types).toEqual({
      f: AttributeType.FLOAT,
      i: AttributeType.INT,
      big: AttributeType.INT,
      flag: AttributeType.INT,
      s: AttributeType.STRING,
      raw: AttributeType.STRING,
      t: AttributeType.TENSOR,
      fs: AttributeType.FLOATS,
      is: AttributeType.INTS,
      bigs: AttributeType.INTS,
      ss: AttributeType.STRINGS,
      empty: AttributeType.INTS,
    });
    expect(node?.domain).toBe('test.domain');
  });

  it('imports each used domain with its opset version', () => {
    const opsets = (m: ModelProto) => m.opsetImport.map((o) => [o.domain, o.version]);
    expect(opsets(richModel())).toEqual([
      ['', 17n],
      ['test.domain', 1n],
    ]);
    expect(opsets(decodeModel(treeEnsembleClassifier().bytes))).toEqual([
      ['', 17n],
      [ML_DOMAIN, 3n],
    ]);
  });

  it.each([
    ['an undefined node input', { nodes: [{ op: 'Relu', inputs: ['nope'], outputs: ['y'] }] }, /input 'nope' is not defined/],
    ['a value defined twice', { nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['x'] }] }, /defined twice/],
    ['an output nothing produces', { nodes: [] }, /graph output 'y' is not produced/],
    ['a domain without an opset', { nodes: [{ op: 'Foo', domain: 'nowhere', inputs: ['x'], outputs: ['y'] }] }, /no opset version/],
    [
      'an untyped empty attribute list',
      { nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'], attributes: { a: [] as number[] } }] },
      /explicit type/,
    ],
  ])('refuses %s', (_, spec, message) => {
    expect(() => buildModel({ ...identitySpec('float32'), ...spec })).toThrow(message);
  });

  it.each([
    [{ dims: [2], data: new Float32Array([1]) }, /1 elements for dims \[2\]/],
    [{ dims: [1], type: 'int8' as const, data: [128] }, /not a valid int8/],
    [{ dims: [1], type: 'uint64' as const, data: [-1n] }, /not a valid uint64/],
    [{ dims: [1], data: [1.5] }, /give `type`/],
    [{ dims: [-1], type: 'float32' as const, data: [] }, /invalid dimension/],
    [{ dims: [1], type: 'float16' as const, data: [65536] }, /not a valid float16/],
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
      inputs: [
        { name: 'x', type: 'int64', shape: ['N', 2] },
        { name: 'f', type: 'float32', shape: ['N'] },
      ],
      outputs: [
        { name: 'y', type: 'int64', shape: ['N', 2] },
        { name: 'z', type: 'float32', shape: ['N'] },
      ],
      initializers: [
        { name: 'c', dims: [2], data: [0n, 0n] },
        { name: 'two', dims: [], data: new Float32Array([0]) },
      ],
      nodes: [
        { op: 'Add', inputs: ['x', 'c'], outputs: ['y'] },
        { op: 'Mul', inputs: ['f', 'two'], outputs: ['z'] },
      ],
    });
    const [c, two] = proto.graph?.initializer ?? [];
    // Deleting an own property unsets a proto2 field (protobuf-es keeps defaults on the prototype).
    delete (c as { rawData?: Uint8Array } | undefined)?.rawData;
    delete (two as { rawData?: Uint8Array } | undefined)?.rawData;
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

  it('runs a float16 model whose initializer is IEEE half bit patterns', async () => {
    // Prepare: y = x + c, c = [1.5, -2] as binary16 (0x3e00, 0xc000)
    const session = await ort.InferenceSession.create(
      buildModel({
        inputs: [{ name: 'x', type: 'float16', shape: ['N', 2] }],
        outputs: [{ name: 'y', type: 'float16', shape: ['N', 2] }],
        initializers: [{ name: 'c', type: 'float16', dims: [2], data: new Uint16Array([0x3e00, 0xc000]) }],
        nodes: [{ op: 'Add', inputs: ['x', 'c'], outputs: ['y'] }],
      }),
    );

    // Act: x = [0.5, 4] (0x3800, 0x4400)
    const out = await session.run({ x: new ort.Tensor('float16', new Uint16Array([0x3800, 0x4400]), [1, 2]) });

    // Assess: [2, 2] is 0x4000 twice
    expect(session.inputMetadata[0]).toMatchObject({ type: 'float16' });
    expect(Array.from(out['y']?.data as Uint16Array)).toEqual([0x4000, 0x4000]);
  });

  it('runs string, int64 and bool models and exposes symbolic dims', async () => {
    // Prepare
    const strings = await ort.InferenceSession.create(identityModel('string').bytes);
    const bools = await ort.InferenceSession.create(
      buildModel({
        inputs: [{ name: 'x', type: 'bool', shape: ['N'] }],
        outputs: [{ name: 'y', type: 'bool', shape: ['N'] }],
        nodes: [{ op: 'Not', inputs: ['x'], outputs: ['y'] }],
      }),
    );

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
