/**
 * The OpenAPI documents against the running local stack: both validate as OpenAPI 3.1, the API's
 * lists every route of the route table and nothing else, each fixture model's document describes
 * exactly what its predict and infer routes accept (requests generated from the schema, seeded,
 * are answered 200 and match the documented answer; each mutated one is refused by the schema
 * and answered the 4xx it should be), and every example of both documents is answered with the
 * documented status and the documented answer: the parts each answer example fixes (`x-fixed`:
 * a model's predictions and outputs from its golden inputs, error codes and paths) equal what the
 * route answers, within the example's `x-tolerance`. The local pages (`/`, `/docs`) are served
 * from swagger-ui-dist.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { generate } from 'json-schema-faker';
import type { TensorSpec } from '../../functions/core/model.js';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../../functions/core/codec/payload-limits.js';
import { formatPath } from '../../functions/core/errors.js';
import { findDifference } from '../../functions/core/gates.js';
import { readPointer } from '../../functions/shared/openapi/examples.js';
import { ROUTES } from '../../functions/shared/routes.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../fixtures/stack-log.js';
import { call, errorOf, type JsonReply } from '../fixtures/http.js';
import {
  fixedShapeModel,
  identityModel,
  int64Model,
  mixedInputModel,
  mlpModel,
  stringInputModel,
  treeEnsembleClassifier,
  twoInputModel,
  type ModelFixture,
} from '../fixtures/models.js';
import { adminToken, bearer } from '../fixtures/tokens.js';
import { buildModel } from '../support/onnx/builder.js';

// ajv-formats is CommonJS: its default export arrives as the module object under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

type Json = Record<string, any>;
type Doc = Json & { paths: Record<string, Record<string, Json>>; components: { schemas: Record<string, Json> } };

let stack: LocalStack;
let token: string;

const MAX_ROWS = 1_000;

/** `POST`/`GET` with every scope, JSON in and out. */
const send = (method: string, path: string, body?: unknown): Promise<JsonReply> => call(stack.url, method, path, body, bearer(token));

beforeAll(async () => {
  stack = await startTestStack({ rateLimit: false });
  token = await adminToken(stack);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** The document's `$ref`s replaced by what they name (the documents have no cycles). */
function deref(node: unknown, doc: Doc): any {
  if (Array.isArray(node)) return node.map((n) => deref(n, doc));
  if (node === null || typeof node !== 'object') return node;
  const ref = (node as Json)['$ref'];
  if (typeof ref === 'string') {
    const [, , group, name] = ref.split('/') as [string, string, string, string];
    return deref((doc.components as Json)[group][name], doc);
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, deref(v, doc)]));
}

const ajv = addFormats(new Ajv2020({ strict: false, allErrors: false }));

/** A validator of `schema` (with its references resolved in `doc`). */
function validator(schema: Json, doc: Doc): ValidateFunction {
  return ajv.compile(deref(schema, doc));
}

async function expectValidOpenApi(doc: unknown): Promise<void> {
  const result = await new Validator().validate(doc as Json);
  expect(result).toEqual({ valid: true });
  expect((doc as Json)['openapi']).toBe('3.1.0');
}

/** The answer schema of a status of an operation, or `undefined` when it has none. */
function answerSchema(operation: Json, status: number): Json | undefined {
  return operation['responses']?.[String(status)]?.content?.['application/json']?.schema;
}

describe('the API document (GET /openapi.json)', () => {
  let doc: Doc;

  beforeAll(async () => {
    // Public: no token.
    const reply = await call(stack.url, 'GET', '/openapi.json');
    expect(reply.status).toBe(200);
    doc = reply.body as Doc;
  });

  it('validates as OpenAPI 3.1', async () => {
    await expectValidOpenApi(doc);
  });

  it('has every route of the route table with its method, and no other path or method', () => {
    // Prepare
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));

    // Assess
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.resource}`).sort());
  });

  it("is served without a token, and answers the client's error shape to a method it does not have", async () => {
    const reply = await call(stack.url, 'POST', '/openapi.json', {});
    expect(reply.status).toBe(405);
    expect(errorOf(reply).code).toBe('METHOD_NOT_ALLOWED');
  });

  it('answers every example with its documented status, and the documented body on success', async () => {
    // Prepare
    const cases = examplesOf(doc);
    expect(cases.length).toBeGreaterThanOrEqual(10);

    for (const example of cases) {
      // Act
      const reply = await send(example.method, example.path, example.body);

      // Assess
      expect({ example: example.id, status: reply.status, body: reply.status === example.status ? 'ok' : reply.body }).toEqual({
        example: example.id,
        status: example.status,
        body: 'ok',
      });
      expect({ example: example.id, differences: fixedDifferences(example, reply.body) }).toEqual({ example: example.id, differences: [] });
      if (example.schema) {
        const valid = validator(example.schema, doc);
        expect({ example: example.id, valid: valid(reply.body), errors: valid.errors ?? null }).toEqual({
          example: example.id,
          valid: true,
          errors: null,
        });
      }
    }
  }, 60_000);
});

/** An answer example as a document shows it: its value, the JSON Pointers of its exact parts, and their tolerance. */
interface AnswerShown {
  readonly value?: unknown;
  readonly 'x-fixed'?: readonly string[];
  readonly 'x-tolerance'?: number;
}

interface ExampleCase {
  readonly id: string;
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly status: number;
  readonly schema?: Json;
  readonly answer: AnswerShown;
}

/**
 * Where `body` (a real answer) differs from the parts its example fixes, one line each (none
 * when they agree); an example without a value or without `x-fixed` is a difference itself.
 */
function fixedDifferences(example: ExampleCase, body: unknown): string[] {
  const { value, 'x-fixed': fixed, 'x-tolerance': tolerance = 0 } = example.answer;
  if (value === undefined || fixed === undefined) return ['the answer example has no value or no x-fixed'];
  return fixed.flatMap((pointer) => {
    const difference = findDifference(readPointer(body, pointer), readPointer(value, pointer), tolerance);
    return difference ? [`${pointer}${formatPath(['', ...difference.path])} ${difference.message}`] : [];
  });
}

/**
 * Every named example of a document as a request: its path parameters (each parameter's example
 * of that name, or its `example`), query parameters, body, and the status whose answer lists the
 * same name.
 */
function examplesOf(doc: Doc): ExampleCase[] {
  const cases: ExampleCase[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const byStatus = new Map<string, number>();
      const answers = new Map<string, AnswerShown>();
      for (const [status, response] of Object.entries(operation['responses'] as Record<string, Json>)) {
        for (const [id, answer] of Object.entries(
          (response['content']?.['application/json']?.examples ?? {}) as Record<string, AnswerShown>,
        )) {
          byStatus.set(id, Number(status));
          answers.set(id, answer);
        }
      }
      const bodies = (operation['requestBody']?.content?.['application/json']?.examples ?? {}) as Record<string, { value: unknown }>;
      for (const [id, status] of byStatus) {
        const parameters = (operation['parameters'] ?? []) as Json[];
        let path = template;
        const query = new URLSearchParams();
        for (const p of parameters) {
          const value = p['examples']?.[id]?.value ?? (p['in'] === 'path' ? p['example'] : undefined);
          if (value === undefined) continue;
          if (p['in'] === 'path') path = path.replace(`{${p['name']}}`, encodeURIComponent(String(value)));
          else query.set(p['name'], String(value));
        }
        const search = query.size > 0 ? `?${query}` : '';
        const schema = answerSchema(operation, status);
        cases.push({
          id: `${method.toUpperCase()} ${template} ${id}`,
          method: method.toUpperCase(),
          path: `${path}${search}`,
          ...(bodies[id] ? { body: bodies[id].value } : {}),
          status,
          ...(schema ? { schema } : {}),
          answer: answers.get(id) ?? {},
        });
      }
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Each model's document

/** Input `x` float32 [N, M] → `y` = x: a model whose rows' width the caller chooses. */
function raggedModel(): ModelFixture {
  const inputs: TensorSpec[] = [{ name: 'x', type: 'float32', shape: ['N', 'M'] }];
  const outputs: TensorSpec[] = [{ name: 'y', type: 'float32', shape: ['N', 'M'] }];
  return { bytes: buildModel({ inputs, outputs, nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }] }), inputs, outputs };
}

const tree = treeEnsembleClassifier();

interface Served {
  readonly name: string;
  readonly fixture: ModelFixture;
  readonly metadata?: Record<string, unknown>;
}

/**
 * The fixture models: single and multi-input, every integer width class, float16/32/64, bool,
 * string (BYTES), int64 beyond 2^53, a fixed batch, declared features (a classifier and not),
 * and a dimension chosen inside the row.
 */
const MODELS: readonly Served[] = [
  { name: 'f32', fixture: identityModel('float32') },
  { name: 'f16', fixture: identityModel('float16') },
  { name: 'f64', fixture: identityModel('float64') },
  { name: 'i8', fixture: identityModel('int8') },
  { name: 'u8', fixture: identityModel('uint8') },
  { name: 'i32', fixture: identityModel('int32') },
  { name: 'u64', fixture: identityModel('uint64') },
  { name: 'flags', fixture: identityModel('bool') },
  { name: 'ids', fixture: int64Model() },
  {
    name: 'pair',
    fixture: twoInputModel(),
    metadata: {
      goldenInputs: [{ request: { instances: [{ a: [1, 2], b: [3, 4] }] }, expected: [{ sum: [4, 6], product: [3, 8] }] }],
    },
  },
  { name: 'color', fixture: stringInputModel() },
  { name: 'mixed', fixture: mixedInputModel() },
  { name: 'fixed', fixture: fixedShapeModel() },
  {
    name: 'tree',
    fixture: tree,
    metadata: { features: ['f0', 'f1', 'f2', 'f3'], classLabels: tree.classLabels as string[] },
  },
  { name: 'mlp', fixture: mlpModel(), metadata: { features: ['alpha', 'beta', 'gamma', 'delta'] } },
  { name: 'ragged', fixture: raggedModel() },
];

/** `x` float32 of `shape` → `p` = sigmoid(x), element by element. */
function sigmoidModel(shape: TensorSpec['shape']): ModelFixture {
  const inputs: TensorSpec[] = [{ name: 'x', type: 'float32', shape }];
  const outputs: TensorSpec[] = [{ name: 'p', type: 'float32', shape }];
  return { bytes: buildModel({ inputs, outputs, nodes: [{ op: 'Sigmoid', inputs: ['x'], outputs: ['p'] }] }), inputs, outputs };
}

/** `x` float32 [N, 2] → `y` = x, and `total` = the sum of every element: an output without a batch axis. */
function totalModel(): ModelFixture {
  const inputs: TensorSpec[] = [{ name: 'x', type: 'float32', shape: ['N', 2] }];
  const outputs: TensorSpec[] = [
    { name: 'y', type: 'float32', shape: ['N', 2] },
    { name: 'total', type: 'float32', shape: [] },
  ];
  const nodes = [
    { op: 'Identity', inputs: ['x'], outputs: ['y'] },
    { op: 'ReduceSum', inputs: ['x'], outputs: ['total'], attributes: { keepdims: 0 } },
  ];
  return { bytes: buildModel({ inputs, outputs, nodes }), inputs, outputs };
}

/**
 * Models whose golden inputs show every kind of answer: a classifier with a label output the
 * predictions leave out (its v2 example asks for the probabilities only) and one without,
 * declared features without class labels, int64 beyond 2^53, bool, a string input, a fixed
 * batch, and an output without a batch axis. (Registration takes class labels only for an
 * output [N, K]; the binary forms of one probability per row are covered by the unit tests.)
 */
const GOLDEN_KINDS: readonly (Served & { readonly request: Json; readonly v2Outputs: readonly string[] })[] = [
  {
    ...(MODELS.find((m) => m.name === 'tree') as Served),
    request: {
      instances: [
        [0.2, 0.5, 0.7, 0.1],
        [0.8, 0.3, 0.2, 0.9],
      ],
    },
    v2Outputs: ['probabilities'],
  },
  {
    name: 'odds',
    fixture: sigmoidModel(['N', 2]),
    metadata: { features: ['a', 'b'], classLabels: ['no', 'yes'] },
    request: {
      instances: [
        { a: -1.5, b: 0.5 },
        { a: 2, b: 0 },
      ],
    },
    v2Outputs: ['p'],
  },
  {
    ...(MODELS.find((m) => m.name === 'mlp') as Served),
    request: { features: { alpha: 0.1, beta: -0.2, gamma: 0.3, delta: 0.4 } },
    v2Outputs: (MODELS.find((m) => m.name === 'mlp') as Served).fixture.outputs.map((o) => o.name),
  },
  { ...(MODELS.find((m) => m.name === 'ids') as Served), request: { instances: [{ ids: ['9007199254740993', 5] }] }, v2Outputs: ['next'] },
  { ...(MODELS.find((m) => m.name === 'flags') as Served), request: { instances: [[true, false, true]] }, v2Outputs: ['y'] },
  { ...(MODELS.find((m) => m.name === 'color') as Served), request: { features: { color: 'green' } }, v2Outputs: ['code'] },
  { ...(MODELS.find((m) => m.name === 'fixed') as Served), request: { features: { x: [1, 2, 3] } }, v2Outputs: ['y'] },
  {
    name: 'total',
    fixture: totalModel(),
    request: {
      instances: [
        [1, 2],
        [3, 4.5],
      ],
    },
    v2Outputs: ['y', 'total'],
  },
];

/** Registers `fixture` over HTTP and makes it the production version. */
async function publish({ name, fixture, metadata = {} }: Served): Promise<void> {
  const registered = await send('POST', `/v1/models/${name}/versions`, {
    modelBase64: Buffer.from(fixture.bytes).toString('base64'),
    metadata,
  });
  expect({ name, status: registered.status, body: registered.status === 201 ? null : registered.body }).toEqual({
    name,
    status: 201,
    body: null,
  });
  const version = (registered.body as { version: string }).version;
  expect((await send('POST', `/v1/models/${name}/versions/${version}/stage`, { to: 'staging' })).status).toBe(200);
  expect((await send('PUT', `/v1/models/${name}/production`, { version })).status).toBe(200);
}

/** The first value that is not an array inside `value` (the value itself when it is none), and where it sits. */
function firstLeaf(holder: Json | unknown[], key: string | number): [Json | unknown[], string | number] {
  const value = (holder as Json)[key as string];
  return Array.isArray(value) && value.length > 0 ? firstLeaf(value, 0) : [holder, key];
}

const clone = <T>(value: T): T => structuredClone(value);

/** `flat` (row-major) nested as `shape`. */
function nest(flat: readonly unknown[], shape: readonly number[]): unknown[] {
  const [first = 0, ...rest] = shape;
  if (rest.length === 0) return [...flat];
  const stride = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: first }, (_, i) => nest(flat.slice(i * stride, (i + 1) * stride), rest));
}

/** The schema of the v2 entry for input `name`, in a dereferenced V2InferRequest schema. */
function inputSchema(request: Json, name: string): Json {
  const items = request['properties'].inputs.items as Json;
  const options = (items['anyOf'] ?? [items]) as Json[];
  const found = options.find((o) => o['properties'].name.const === name);
  if (!found) throw new Error(`no schema for input ${name}`);
  return found;
}

/**
 * A generated v2 request made to hold what the document says JSON Schema cannot (`x-constraints`):
 * each symbolic dimension (`x-symbol`) one size across inputs, and `data` as many values as the
 * shape holds, generated from the element schema, flat or nested as generated.
 */
async function completeV2(body: Json, request: Json, seed: number): Promise<void> {
  const sizes = new Map<string, number>();
  for (const input of body['inputs'] as Json[]) {
    const schema = inputSchema(request, input['name']);
    const axes = (schema['properties'].shape.prefixItems ?? []) as Json[];
    input['shape'] = (input['shape'] as number[]).map((size, i) => {
      const symbol = axes[i]?.['x-symbol'] as string | undefined;
      if (symbol === undefined) return size;
      if (!sizes.has(symbol)) sizes.set(symbol, size);
      return sizes.get(symbol) as number;
    });
    const shape = input['shape'] as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    const dataSchema = schema['properties'].data as Json;
    const element = (dataSchema['anyOf']?.[0] ?? dataSchema).items as Json;
    // At most 1,000 values are generated; a larger tensor repeats them (generating millions is slow).
    const block = (await generate(
      { type: 'array', minItems: Math.min(count, 1_000), maxItems: Math.min(count, 1_000), items: element },
      { seed },
    )) as unknown[];
    const flat = Array.from({ length: count }, (_, i) => block[i % block.length]);
    const nested = Array.isArray(input['data']) && Array.isArray((input['data'] as unknown[])[0]);
    input['data'] = nested && shape.length >= 2 ? nest(flat, shape) : flat;
  }
}

/**
 * The documented constraint on a dimension chosen inside the row (`x-same-length`), for the
 * ragged model: every row's `x` as wide as the first (a bare value counts as one wide).
 */
function sameWidth(body: Json): boolean {
  const rows: unknown[] = body['features'] !== undefined ? [body['features']] : (body['instances'] as unknown[]);
  const widths = rows.map((row) => {
    const x = Array.isArray(row) ? row : (row as Json)['x'];
    return Array.isArray(x) ? x.length : 1;
  });
  return widths.every((w) => w === widths[0]);
}

/**
 * Whether `body` breaks the documented size rule (`x-constraints`): more than `MAX_BODY_BYTES`,
 * or, escaped into Lambda's event with its headers and request context, more than Lambda's
 * synchronous limit (16 KiB allowed for the rest of the event).
 */
function tooLarge(body: unknown, doc: Doc): boolean {
  const text = JSON.stringify(body);
  const maxBodyBytes = (doc['x-model'] as Json)['limits'].maxBodyBytes as number;
  return Buffer.byteLength(text) > maxBodyBytes || Buffer.byteLength(JSON.stringify(text)) > LAMBDA_SYNC_PAYLOAD_BYTES - 16_384;
}

interface Mutation {
  readonly what: string;
  readonly body: Json;
  readonly status: number;
  readonly code: string;
}

/** The rows of a record request, and whether they are objects. */
function rowsOf(body: Json): { rows: unknown[]; objects: boolean } {
  const rows = body['features'] !== undefined ? [body['features']] : (body['instances'] as unknown[]);
  return { rows, objects: !Array.isArray(rows[0]) };
}

/** Mutations of a valid record request, each with the answer it must get. */
function recordMutations(body: Json, model: Served, doc: Doc): Mutation[] {
  const keyed = (doc['x-model'] as Json)['recordKeys'] === 'features' ? 'FEATURE' : 'INPUT';
  const mutations: Mutation[] = [];
  const form = body['features'] !== undefined ? 'features' : 'instances';
  mutations.push({ what: `drop "${form}"`, body: {}, status: 400, code: 'MISSING_FIELD' });
  mutations.push({ what: 'an unknown top-level key', body: { ...clone(body), extra: 1 }, status: 400, code: 'UNKNOWN_FIELD' });
  const { objects } = rowsOf(body);
  if (objects) {
    const dropped = clone(body);
    const row = rowsOf(dropped).rows[0] as Json;
    const key = Object.keys(row)[0] as string;
    delete row[key];
    mutations.push({ what: `drop the row's "${key}"`, body: dropped, status: 400, code: `MISSING_${keyed}` });
    const added = clone(body);
    (rowsOf(added).rows[0] as Json)['not_a_name_of_this_model'] = 1;
    mutations.push({ what: 'an unknown key in the row', body: added, status: 400, code: `UNKNOWN_${keyed}` });
  }
  const wrong = clone(body);
  const { rows } = rowsOf(wrong);
  const [holder, at] = objects ? firstLeaf(rows[0] as Json, Object.keys(rows[0] as Json)[0] as string) : firstLeaf(rows, 0);
  (holder as Json)[at as string] = { not: 'a value' };
  mutations.push({ what: 'an object for an element', body: wrong, status: 400, code: 'WRONG_TYPE' });
  // A row value that is an array gets one element more.
  const wider = clone(body);
  const first = rowsOf(wider).rows[0];
  const arrays = objects ? Object.values(first as Json).filter(Array.isArray) : [first];
  const target = arrays[0] as unknown[] | undefined;
  if (target && model.name !== 'ragged') {
    const [leafHolder] = firstLeaf(target as unknown as Json, 0);
    (leafHolder as unknown[]).push(clone((leafHolder as unknown[])[0]));
    mutations.push({ what: 'a row one element wider', body: wider, status: 400, code: 'SHAPE_MISMATCH' });
  }
  return mutations;
}

/** Mutations of a valid v2 request, each with the answer it must get. */
function v2Mutations(body: Json, fixedBatch: boolean): Mutation[] {
  const mutations: Mutation[] = [];
  const noData = clone(body);
  delete noData['inputs'][0].data;
  mutations.push({ what: 'drop "data"', body: noData, status: 400, code: 'MISSING_DATA' });
  const noType = clone(body);
  delete noType['inputs'][0].datatype;
  mutations.push({ what: 'drop "datatype"', body: noType, status: 400, code: 'MISSING_FIELD' });
  const extra = clone(body);
  extra['inputs'][0].extra = true;
  mutations.push({ what: 'an unknown key in an input', body: extra, status: 400, code: 'UNKNOWN_FIELD' });
  const datatype = clone(body);
  datatype['inputs'][0].datatype = datatype['inputs'][0].datatype === 'FP64' ? 'FP32' : 'FP64';
  mutations.push({ what: 'another datatype', body: datatype, status: 400, code: 'DATATYPE_MISMATCH' });
  const rank = clone(body);
  rank['inputs'][0].shape = [...rank['inputs'][0].shape, 1];
  mutations.push({ what: 'one axis more', body: rank, status: 400, code: 'SHAPE_MISMATCH' });
  if ((body['inputs'][0].data as unknown[]).length > 0) {
    const wrong = clone(body);
    const [holder, at] = firstLeaf(wrong['inputs'][0], 'data');
    (holder as Json)[at as string] = { not: 'a value' };
    mutations.push({ what: 'an object for an element', body: wrong, status: 400, code: 'WRONG_TYPE' });
  }
  const rows = clone(body);
  for (const input of rows['inputs'] as Json[]) if (input['shape'].length > 0) input['shape'][0] = MAX_ROWS + 1;
  mutations.push(
    fixedBatch
      ? { what: 'a batch the model does not take', body: rows, status: 400, code: 'SHAPE_MISMATCH' }
      : { what: 'more rows than MAX_ROWS', body: rows, status: 413, code: 'TOO_MANY_ROWS' },
  );
  return mutations;
}

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

describe("each fixture model's document (GET /v1/models/{model}/openapi.json)", () => {
  const docs = new Map<string, Doc>();

  beforeAll(async () => {
    for (const model of MODELS) {
      await publish(model);
      const reply = await send('GET', `/v1/models/${model.name}/openapi.json`);
      expect(reply.status).toBe(200);
      docs.set(model.name, reply.body as Doc);
    }
  }, 120_000);

  it('needs models:read, and answers 404 NO_PRODUCTION_VERSION for a model without one', async () => {
    // Prepare
    const predictOnly = await stack.auth?.mint({ subject: 'p', scopes: ['predict'] });
    const registered = await send('POST', '/v1/models/unpromoted/versions', {
      modelBase64: Buffer.from(identityModel('float32').bytes).toString('base64'),
    });
    expect(registered.status).toBe(201);

    // Act
    const refused = await call(stack.url, 'GET', '/v1/models/f32/openapi.json', undefined, bearer(predictOnly as string));
    const anonymous = await call(stack.url, 'GET', '/v1/models/f32/openapi.json');
    const unpromoted = await send('GET', '/v1/models/unpromoted/openapi.json');

    // Assess
    expect([refused.status, errorOf(refused).code]).toEqual([403, 'FORBIDDEN']);
    expect(anonymous.status).toBe(401);
    expect([unpromoted.status, errorOf(unpromoted).code]).toEqual([404, 'NO_PRODUCTION_VERSION']);
  });

  it.each(MODELS.map((m) => [m.name, m] as const))('%s: validates as OpenAPI 3.1', async (name) => {
    await expectValidOpenApi(docs.get(name));
  });

  it.each(MODELS.map((m) => [m.name, m] as const))(
    '%s: generated predict requests are answered 200 as documented; mutated ones are refused by the schema and the server',
    async (name, model) => {
      // Prepare
      const doc = docs.get(name) as Doc;
      const operation = doc.paths[`/v1/models/${name}/predict`]?.['post'] as Json;
      const request = deref(doc.components.schemas['PredictRequest'], doc);
      const accepts = ajv.compile(request);
      const answers = validator(answerSchema(operation, 200) as Json, doc);

      for (const seed of SEEDS) {
        const body = (await generate(request, { seed })) as Json;
        expect({ seed, valid: accepts(body), errors: accepts.errors ?? null }).toEqual({ seed, valid: true, errors: null });

        // Act
        const reply = await send('POST', `/v1/models/${name}/predict`, body);

        // Assess: what the schema admits is served, unless it breaks a rule the document states in
        // words (x-constraints): too large a body, or, for the ragged model, rows of unequal width.
        if (tooLarge(body, doc)) {
          expect([seed, reply.status, ['BODY_TOO_LARGE', 'REQUEST_TOO_LARGE'].includes(errorOf(reply).code)]).toEqual([seed, 413, true]);
          continue;
        }
        if (name === 'ragged' && !sameWidth(body)) {
          expect([seed, reply.status, errorOf(reply).code]).toEqual([seed, 400, 'SHAPE_MISMATCH']);
          continue;
        }
        expect({ seed, status: reply.status, error: reply.status === 200 ? null : reply.body }).toEqual({ seed, status: 200, error: null });
        expect({ seed, valid: answers(reply.body), errors: answers.errors ?? null }).toEqual({ seed, valid: true, errors: null });
        for (const mutation of recordMutations(body, model, doc)) {
          const refused = await send('POST', `/v1/models/${name}/predict`, mutation.body);
          expect({
            seed,
            what: mutation.what,
            schema: accepts(mutation.body),
            status: refused.status,
            code: errorOf(refused).code,
          }).toEqual({
            seed,
            what: mutation.what,
            schema: false,
            status: mutation.status,
            code: mutation.code,
          });
        }
      }
    },
    120_000,
  );

  it.each(MODELS.map((m) => [m.name, m] as const))('%s: more rows than the document allows are refused', async (name) => {
    // Prepare
    const doc = docs.get(name) as Doc;
    const request = deref(doc.components.schemas['PredictRequest'], doc);
    const accepts = ajv.compile(request);
    const one = (await generate(request, { seed: 1 })) as Json;
    const row = one['features'] ?? (one['instances'] as unknown[])[0];
    const body = { instances: Array.from({ length: MAX_ROWS + 1 }, () => row) };

    // Act
    const reply = await send('POST', `/v1/models/${name}/predict`, body);

    // Assess
    expect(accepts(body)).toBe(false);
    expect([reply.status, errorOf(reply).code]).toEqual([413, 'TOO_MANY_ROWS']);
  });

  it.each(MODELS.map((m) => [m.name, m] as const))(
    '%s: generated v2 requests are answered 200 as documented; mutated ones are refused by the schema and the server',
    async (name) => {
      // Prepare
      const doc = docs.get(name) as Doc;
      const operation = doc.paths[`/v2/models/${name}/infer`]?.['post'] as Json;
      const request = deref(doc.components.schemas['V2InferRequest'], doc);
      const accepts = ajv.compile(request);
      const answers = validator(answerSchema(operation, 200) as Json, doc);
      const fixedBatch = ((doc['x-model'] as Json)['inputs'] as TensorSpec[]).some((i) => typeof i.shape[0] === 'number');

      for (const seed of SEEDS) {
        const body = (await generate(request, { seed })) as Json;
        await completeV2(body, request, seed);
        expect({ seed, valid: accepts(body), errors: accepts.errors ?? null }).toEqual({ seed, valid: true, errors: null });

        // Act
        const reply = await send('POST', `/v2/models/${name}/infer`, body);

        // Assess: served, unless too large (the size rule of x-constraints).
        if (tooLarge(body, doc)) {
          expect([seed, reply.status, ['BODY_TOO_LARGE', 'REQUEST_TOO_LARGE'].includes(errorOf(reply).code)]).toEqual([seed, 413, true]);
          continue;
        }
        expect({ seed, status: reply.status, error: reply.status === 200 ? null : reply.body }).toEqual({ seed, status: 200, error: null });
        expect({ seed, valid: answers(reply.body), errors: answers.errors ?? null }).toEqual({ seed, valid: true, errors: null });
        for (const mutation of v2Mutations(body, fixedBatch)) {
          const refused = await send('POST', `/v2/models/${name}/infer`, mutation.body);
          expect({
            seed,
            what: mutation.what,
            schema: accepts(mutation.body),
            status: refused.status,
            code: errorOf(refused).code,
          }).toEqual({
            seed,
            what: mutation.what,
            schema: false,
            status: mutation.status,
            code: mutation.code,
          });
        }
      }
    },
    120_000,
  );

  it('answers every example of every model document (the golden inputs) with its documented status and answer', async () => {
    // Prepare: the sample model and `pair` were registered with golden inputs.
    const sample = await send('GET', '/v1/models/iris/openapi.json');
    const cases = [sample.body as Doc, docs.get('pair') as Doc].flatMap((doc) => examplesOf(doc).map((c) => ({ ...c, doc })));
    expect(cases.length).toBeGreaterThanOrEqual(4);

    for (const example of cases) {
      // Act
      const reply = await send(example.method, example.path, example.body);

      // Assess: the predictions (v1) and outputs (v2) are among the fixed parts, and equal the answer's.
      expect([example.id, reply.status]).toEqual([example.id, example.status]);
      expect({ example: example.id, fixed: example.answer['x-fixed'] }).toEqual({
        example: example.id,
        fixed: expect.arrayContaining([example.path.endsWith('/predict') ? '/predictions' : '/outputs']),
      });
      expect({ example: example.id, differences: fixedDifferences(example, reply.body) }).toEqual({ example: example.id, differences: [] });
      const valid = validator(example.schema as Json, example.doc);
      expect([example.id, valid(reply.body), valid.errors ?? null]).toEqual([example.id, true, null]);
    }
  });

  it('documents golden inputs of every kind of answer with what the routes answer to them', async () => {
    // Prepare: each model (published first if it is not one of MODELS) registered again with a
    // golden input whose expected predictions are what the predict route answers now, and made
    // the production version.
    for (const { name, fixture, metadata, request } of GOLDEN_KINDS) {
      if (!docs.has(name)) await publish({ name, fixture, ...(metadata ? { metadata } : {}) });
      const predicted = await send('POST', `/v1/models/${name}/predict`, request);
      expect({ name, status: predicted.status, body: predicted.status === 200 ? null : predicted.body }).toEqual({
        name,
        status: 200,
        body: null,
      });
      const expected = (predicted.body as { predictions: unknown[] }).predictions;
      await publish({ name, fixture, metadata: { ...metadata, goldenInputs: [{ request, expected }] } });
    }

    for (const { name, v2Outputs } of GOLDEN_KINDS) {
      const doc = (await send('GET', `/v1/models/${name}/openapi.json`)).body as Doc;
      const cases = examplesOf(doc);
      // Act / Assess: both routes' golden example, each answered as documented.
      expect({ name, examples: cases.map((c) => c.id) }).toEqual({
        name,
        examples: [`POST /v1/models/${name}/predict golden-1`, `POST /v2/models/${name}/infer golden-1`],
      });
      const infer = cases[1] as ExampleCase;
      expect({ name, outputs: ((infer.answer.value as Json)['outputs'] as Json[]).map((o) => o['name']) }).toEqual({
        name,
        outputs: v2Outputs,
      });
      for (const example of cases) {
        const reply = await send(example.method, example.path, example.body);
        expect({ example: example.id, status: reply.status, body: reply.status === 200 ? null : reply.body }).toEqual({
          example: example.id,
          status: 200,
          body: null,
        });
        expect({ example: example.id, differences: fixedDifferences(example, reply.body) }).toEqual({
          example: example.id,
          differences: [],
        });
      }
    }
  }, 120_000);

  it('states what JSON Schema cannot: the v2 length and symbol rules, and the same-width rule where a row has a chosen dimension', () => {
    for (const [name, doc] of docs) {
      const v2 = doc.components.schemas['V2InferRequest'] as Json;
      expect(v2['x-constraints']).toHaveLength(3);
      const description = (doc.paths[`/v1/models/${name}/predict`]?.['post'] as Json)['description'] as string;
      expect({ name, sameLength: description.includes('x-same-length') }).toEqual({ name, sameLength: name === 'ragged' });
    }
  });
});

describe('the local pages', () => {
  it('GET /docs is Swagger UI from swagger-ui-dist on /openapi.json, served from this origin', async () => {
    // Act
    const page = await fetch(`${stack.url}/docs`);
    const html = await page.text();
    const start = await (await fetch(`${stack.url}/docs/start.js`)).text();
    const bundle = await fetch(`${stack.url}/docs/swagger-ui-bundle.js`);
    const css = await fetch(`${stack.url}/docs/swagger-ui.css`);

    // Assess
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(html).toContain('/docs/swagger-ui-bundle.js');
    expect(html).not.toMatch(/https?:\/\//);
    expect(start).toContain('"/openapi.json"');
    expect(start).toContain('persistAuthorization: false');
    expect([bundle.status, bundle.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect((await bundle.text()).length).toBeGreaterThan(100_000);
    expect(css.status).toBe(200);
  });

  it('the document behind /docs offers bearer authorization on every protected route', async () => {
    const doc = (await call(stack.url, 'GET', '/openapi.json')).body as Doc;
    expect(doc.components['securitySchemes' as 'schemas']).toEqual({
      bearerAuth: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    });
    const operations = Object.values(doc.paths).flatMap((item) => Object.values(item));
    expect(operations.filter((o) => (o['security'] as unknown[]).length === 0).map((o) => o['operationId'])).toEqual([
      'live',
      'ready',
      'serverMetadata',
      'apiDocument',
    ]);
  });

  it('GET / names /docs, /console and /openapi.json', async () => {
    const page = await fetch(`${stack.url}/`);
    const html = await page.text();
    expect(page.status).toBe(200);
    for (const link of ['href="/docs"', 'href="/console"', 'href="/openapi.json"']) expect(html).toContain(link);
  });

  it('refuses other methods and unknown files with JSON errors', async () => {
    const post = await call(stack.url, 'POST', '/docs', {});
    const missing = await call(stack.url, 'GET', '/docs/../package.json');
    const unknown = await call(stack.url, 'GET', '/docs/index.js');
    expect([post.status, errorOf(post).code, post.headers.get('allow')]).toEqual([405, 'METHOD_NOT_ALLOWED', 'GET, HEAD']);
    expect(missing.status).toBe(404);
    expect([unknown.status, errorOf(unknown).code]).toEqual([404, 'ROUTE_NOT_FOUND']);
  });
});
