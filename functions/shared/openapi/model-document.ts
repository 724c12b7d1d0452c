/**
 * One model's OpenAPI 3.1 document (`GET /v1/models/{model}/openapi.json`): its predict and v2
 * infer requests and answers, from the version that serves it (the production version): the
 * signature's input names, element types and shapes, the declared features and class labels,
 * and the endpoint's limits; its golden inputs are the examples, each request with what the route
 * answers to it (the expected predictions; `x-fixed` in `examples.ts` says which parts are exact).
 *
 * The schemas follow the codec (`functions/core/codec/request.ts`, `decode.ts`, `elements.ts`)
 * rule for rule, so that a request the schema admits is accepted and one it refuses is answered
 * 4xx: the forms a model takes, the row counts (1 to `MAX_ROWS`, or exactly a fixed batch
 * size), the keys a record must have and may have (`additionalProperties: false` wherever the
 * codec refuses unknown keys), each element's type and range, and each input's shape. What JSON
 * Schema cannot say is listed in `x-constraints` (and in the operation's description):
 * - in a v2 input, `data` holds as many values as `shape` multiplies to (flat, row-major) or
 *   nests exactly as `shape`;
 * - inputs that share a symbolic dimension (`x-symbol` on the shape's axis) give it one size;
 * - a dimension the caller chooses inside a row (`x-same-length`) has the same size in every row
 *   of a request, fixed by its first row.
 * JSON bodies only: the binary tensor form and inputs by reference (`parameters.data_ref`) are in
 * the API's document. `maxJsonDepth` bounds the nesting of any body (400 `JSON_TOO_DEEP`); the
 * body's size is bounded too (`x-constraints`).
 */
import { onlinePlan } from '../../core/features/online.js';
import {
  decodeArrays,
  decodeRecords,
  formatDims,
  isDynamic,
  recordLayout,
  V2_DATATYPES,
  type RecordLayout,
} from '../../core/codec/decode.js';
import { elementsText } from '../../core/codec/elements.js';
import { classifierView } from '../../core/codec/encode.js';
import type { CodecLimits } from '../../core/codec/limits.js';
import { MAX_V2_OUTPUTS_LISTED } from '../../core/codec/limits.js';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../../core/codec/payload-limits.js';
import type { Dim, ModelVersion, TensorSpec, TensorType } from '../../core/model.js';
import type { TensorData } from '../../core/tensor.js';
import { DEFAULT_GOLDEN_TOLERANCE } from '../../core/gates.js';
import type { OpenApiDocument } from './api-document.js';
import { COMPONENT_SCHEMAS } from './components.js';
import {
  answerExample,
  EXAMPLE_FUNCTION_VERSION,
  EXAMPLE_PROCESSING_MS,
  EXAMPLE_REQUEST_ID,
  EXAMPLE_TIMESTAMP,
  type AnswerExample,
} from './examples.js';
import { BEARER_SCHEME, ERROR_RESPONSE, ref, type JsonSchema } from './schema.js';
import { answerElement, requestElement } from './tensors.js';

/** The limits the model's endpoint decodes requests under. */
export interface ModelDocumentLimits extends CodecLimits {
  /** Deepest nesting of a JSON body (`MAX_JSON_DEPTH`). */
  readonly maxJsonDepth: number;
  /** Largest body, in bytes (`MAX_BODY_BYTES`). */
  readonly maxBodyBytes: number;
}

/** What JSON Schema cannot say about a v2 request, in words (the document's `x-constraints`). */
export const V2_CONSTRAINTS: readonly string[] = [
  "Each input's `data` holds as many values as its `shape` multiplies to (flat, in row-major order), or nests exactly as `shape`.",
  'Inputs whose shapes name the same symbolic dimension (`x-symbol`) give it the same size.',
];

/** The size rule every request meets, in words. */
export function sizeConstraint(maxBodyBytes: number): string {
  return `The body is at most ${maxBodyBytes} bytes (413 BODY_TOO_LARGE), and the request as Lambda receives it (the body, escaped, with headers and request context) at most ${LAMBDA_SYNC_PAYLOAD_BYTES} bytes (413 REQUEST_TOO_LARGE).`;
}

/** What JSON Schema cannot say about a record request, when the model has a dimension chosen inside a row. */
export const RECORD_CONSTRAINT =
  'A dimension the caller chooses inside a row (`x-same-length`) has the same size in every row of a request and in every array at that depth, fixed by the first row.';

/**
 * Element schemas by reference: each type's schema once in `components.schemas`
 * (`Float32Element`, `Float32Value` for answers), however many features or inputs use it.
 */
class Elements {
  readonly schemas = new Map<string, JsonSchema>();

  constructor(private readonly maxStringChars: number) {}

  /** What a request may send for one element of `type`. */
  request(type: TensorType): JsonSchema {
    const name = `${pascal(type)}Element`;
    if (!this.schemas.has(name)) this.schemas.set(name, requestElement(type, this.maxStringChars));
    return ref(name);
  }

  /** What an answer holds for one element of `type`. */
  answer(type: TensorType): JsonSchema {
    const name = `${pascal(type)}Value`;
    if (!this.schemas.has(name)) this.schemas.set(name, answerElement(type));
    return ref(name);
  }
}

function pascal(type: TensorType): string {
  return `${type.charAt(0).toUpperCase()}${type.slice(1)}`;
}

/** The rows one request may carry: `[min, max]`, or `undefined` when no count fits every input (fixed batch sizes that disagree). */
function rowRange(inputs: readonly TensorSpec[], maxRows: number): readonly [number, number] | undefined {
  const fixed = new Set<number>();
  for (const spec of inputs) {
    if (spec.shape.length === 0) fixed.add(1);
    else if (!isDynamic(spec.shape[0] ?? null)) fixed.add(spec.shape[0] as number);
  }
  if (fixed.size > 1) return undefined;
  const [only] = fixed;
  if (only === undefined) return [1, maxRows];
  return only >= 1 && only <= maxRows ? [only, only] : undefined;
}

/** An array of `size` (fixed) or of at least one (chosen by the caller, marked `x-same-length`). */
function axis(dim: Dim, items: JsonSchema): JsonSchema {
  if (isDynamic(dim)) return { type: 'array', minItems: 1, items, 'x-same-length': true };
  // A fixed size of 0 admits nothing: the codec refuses an empty row axis.
  return { type: 'array', minItems: Math.max(1, dim as number), maxItems: dim as number, items };
}

/** Nested arrays of `dims`, elements of `element` at the bottom. */
function nested(dims: readonly Dim[], element: JsonSchema): JsonSchema {
  return dims.reduceRight<JsonSchema>((items, dim) => axis(dim, items), element);
}

/**
 * One row's value of an input (its shape without the batch axis): one element for a rank-0 or
 * rank-1 input, else nested arrays; a bare element also stands for a row of one element (every
 * axis 1 or chosen by the caller), as `[N, 1]` inputs are often sent (`"color": "red"`).
 */
function rowValue(spec: TensorSpec, elements: Elements, bare = true): JsonSchema {
  const element = elements.request(spec.type);
  const dims = spec.shape.slice(1);
  if (spec.shape.length <= 1) return element;
  const arrays = nested(dims, element);
  return bare && dims.every((d) => d === 1 || isDynamic(d)) ? { anyOf: [element, arrays] } : arrays;
}

/** A row as a JSON object: keyed by the declared features (one element each) or by the input names. */
function recordSchema(layout: RecordLayout, elements: Elements): JsonSchema {
  if (layout.kind === 'columns') {
    const element = elements.request(layout.input.type);
    return {
      type: 'object',
      description: `One row: every declared feature, one ${layout.input.type} value each, filling the columns of input "${layout.input.name}" in order.`,
      required: [...layout.features],
      properties: Object.fromEntries(layout.features.map((name) => [name, element])),
      additionalProperties: false,
    };
  }
  return {
    type: 'object',
    description: "One row: every input by name, each its slice of the row (the input's shape without its batch axis).",
    required: layout.inputs.map((i) => i.name),
    properties: Object.fromEntries(layout.inputs.map((spec) => [spec.name, rowValue(spec, elements)])),
    additionalProperties: false,
  };
}

/** A row as a JSON array, when the model takes that form (one input); `undefined` otherwise. */
function arrayRowSchema(layout: RecordLayout, elements: Elements): JsonSchema | undefined {
  if (layout.kind === 'columns') {
    const width = layout.features.length;
    return {
      type: 'array',
      description: `One row: ${width} values, in feature order.`,
      minItems: width,
      maxItems: width,
      items: elements.request(layout.input.type),
    };
  }
  const [only, ...others] = layout.inputs;
  // Several inputs need names; a row of a rank-0 or rank-1 input is one value, never an array.
  if (!only || others.length > 0 || only.shape.length < 2) return undefined;
  return rowValue(only, elements, false);
}

/** The predict route's body: `{"features": {...}}` (when one row fits) or `{"instances": [...]}`. */
function predictRequest(layout: RecordLayout, rows: readonly [number, number] | undefined, elements: Elements): JsonSchema {
  if (!rows) return { not: {}, description: "No request fits: the model's inputs have fixed batch sizes that disagree." };
  const [min, max] = rows;
  const record = recordSchema(layout, elements);
  const arrayRow = arrayRowSchema(layout, elements);
  const instances: JsonSchema = {
    type: 'object',
    description: `${min === max ? `Exactly ${min}` : `${min} to ${max}`} rows${arrayRow ? ', all objects or all arrays' : ', as objects'}.`,
    required: ['instances'],
    properties: {
      instances: {
        type: 'array',
        minItems: min,
        maxItems: max,
        ...(arrayRow ? { anyOf: [{ items: record }, { items: arrayRow }] } : { items: record }),
      },
    },
    additionalProperties: false,
  };
  if (min > 1) return instances;
  const features: JsonSchema = {
    type: 'object',
    description: 'One row.',
    required: ['features'],
    properties: { features: record },
    additionalProperties: false,
  };
  return { oneOf: [features, instances] };
}

/** One axis of a v2 input's `shape`: its fixed size, or a size the caller chooses (bounded by `maxRows` on the batch axis). */
function shapeAxis(dim: Dim, batch: boolean, maxRows: number): JsonSchema {
  const symbol = typeof dim === 'string' && dim !== '' ? { 'x-symbol': dim } : {};
  if (!isDynamic(dim)) return { const: dim, ...(batch ? { maximum: maxRows } : {}) };
  return { type: 'integer', minimum: 1, ...(batch ? { maximum: maxRows } : {}), ...symbol };
}

/**
 * `data` nested as a v2 input's shape (rank 2 and up): arrays down to the last axis, of the
 * model's sizes where it fixes them (the request's `shape` gives the others).
 */
function nestedData(spec: TensorSpec, element: JsonSchema): JsonSchema {
  return spec.shape.reduceRight<JsonSchema>((items, dim, i) => {
    const sized = i === 0 || isDynamic(dim) ? {} : { minItems: dim as number, maxItems: dim as number };
    return { type: 'array', ...sized, items };
  }, element);
}

/** One entry of a v2 request's `inputs`, JSON data only. */
function v2Input(spec: TensorSpec, elements: Elements, maxRows: number): JsonSchema {
  const element = elements.request(spec.type);
  const rank = spec.shape.length;
  const flat: JsonSchema = { type: 'array', items: element, description: 'Flat, in row-major order.' };
  return {
    type: 'object',
    description: `Input "${spec.name}": ${V2_DATATYPES[spec.type]}, shape ${formatDims(spec.shape)}.`,
    required: ['name', 'shape', 'datatype', 'data'],
    properties: {
      name: { const: spec.name },
      shape: {
        type: 'array',
        minItems: rank,
        maxItems: rank,
        ...(rank > 0 ? { prefixItems: spec.shape.map((d, i) => shapeAxis(d, i === 0, maxRows)) } : {}),
        items: false,
      },
      datatype: { const: V2_DATATYPES[spec.type] },
      data: rank >= 2 ? { anyOf: [flat, nestedData(spec, element)] } : flat,
      parameters: {
        type: 'object',
        description: 'JSON data only here: binary_data_size (the binary form) and data_ref (an uploaded payload) replace data.',
        not: { anyOf: [{ required: ['binary_data_size'] }, { required: ['data_ref'] }] },
      },
    },
    additionalProperties: false,
  };
}

/** The v2 infer route's JSON body: every input exactly once, any order. */
function v2Request(version: ModelVersion, elements: Elements, limits: ModelDocumentLimits): JsonSchema {
  const { maxRows } = limits;
  const constraints = [...V2_CONSTRAINTS, sizeConstraint(limits.maxBodyBytes)];
  const { inputs, outputs } = version.signature;
  const noBinary = { const: false, description: 'true asks for binary outputs, which need Accept: application/octet-stream.' };
  // Whole in both places (not a fragment merged into the other): generators such as
  // json-schema-faker read a `then` on its own.
  const outputsSchema = (saysJson: boolean): JsonSchema => ({
    type: 'array',
    maxItems: MAX_V2_OUTPUTS_LISTED,
    description: 'The outputs to answer, by name; none or an empty list answers all.',
    items: {
      type: 'object',
      required: saysJson ? ['name', 'parameters'] : ['name'],
      properties: {
        name: { enum: outputs.map((o) => o.name) },
        parameters: { type: 'object', ...(saysJson ? { required: ['binary_data'] } : {}), properties: { binary_data: noBinary } },
      },
      additionalProperties: false,
    },
  });
  return {
    type: 'object',
    description: `Open Inference Protocol v2, JSON data. ${constraints.join(' ')}`,
    required: ['inputs'],
    properties: {
      id: { type: 'string', maxLength: 256 },
      parameters: {
        type: 'object',
        properties: {
          binary_data_output: {
            type: 'boolean',
            description:
              'true asks for every output as binary data (Accept: application/octet-stream), unless each output listed says binary_data: false.',
          },
        },
      },
      inputs: {
        type: 'array',
        minItems: inputs.length,
        maxItems: inputs.length,
        items:
          inputs.length === 1
            ? v2Input(inputs[0] as TensorSpec, elements, maxRows)
            : { anyOf: inputs.map((spec) => v2Input(spec, elements, maxRows)) },
        // Each input once: as many entries as inputs, each one of them, and each of them among the entries.
        ...(inputs.length > 1 ? { allOf: inputs.map((spec) => ({ contains: v2Input(spec, elements, maxRows) })) } : {}),
      },
      outputs: outputsSchema(false),
    },
    additionalProperties: false,
    // binary_data_output: true answers JSON only when outputs are listed, each with binary_data: false.
    if: {
      required: ['parameters'],
      properties: { parameters: { required: ['binary_data_output'], properties: { binary_data_output: { const: true } } } },
    },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then; this object is data, never awaited.
    then: { required: ['outputs'], properties: { outputs: outputsSchema(true) } },
    'x-constraints': constraints,
  };
}

/** One row of an output in a record answer: its slice of the row (the whole output when it has no batch axis). */
function outputRow(spec: TensorSpec, elements: Elements): JsonSchema {
  const element = elements.answer(spec.type);
  if (spec.shape.length <= 1) return element;
  return spec.shape.slice(1).reduceRight<JsonSchema>((items, dim) => {
    const sized = isDynamic(dim) ? {} : { minItems: dim as number, maxItems: dim as number };
    return { type: 'array', ...sized, items };
  }, element);
}

/** The predict route's answer, its `predictions` as this model writes them. */
function predictAnswer(version: ModelVersion, elements: Elements): JsonSchema {
  const view = classifierView(version.signature, version.metadata);
  const probability = { anyOf: [{ type: 'number' }, { enum: ['NaN'] }] };
  const prediction: JsonSchema = view
    ? {
        type: 'object',
        description:
          'The label of the largest probability (null when every probability is NaN), that probability, and every probability by label.',
        required: ['label', 'confidence', 'probabilities'],
        properties: {
          label: { enum: [...view.labels, null] },
          confidence: probability,
          probabilities: {
            type: 'object',
            required: [...view.labels],
            properties: Object.fromEntries(view.labels.map((label) => [label, probability])),
            additionalProperties: false,
          },
        },
      }
    : {
        type: 'object',
        description: "Every output by name, each the row's slice.",
        required: version.signature.outputs.map((o) => o.name),
        properties: Object.fromEntries(version.signature.outputs.map((o) => [o.name, outputRow(o, elements)])),
      };
  return { allOf: [ref('PredictResponse'), { type: 'object', properties: { predictions: { type: 'array', items: prediction } } }] };
}

/** The v2 infer route's answer, its outputs as this model writes them (JSON data). */
function v2Answer(version: ModelVersion, elements: Elements): JsonSchema {
  const output = (spec: TensorSpec): JsonSchema => ({
    type: 'object',
    required: ['name', 'datatype', 'shape'],
    properties: {
      name: { const: spec.name },
      datatype: { const: V2_DATATYPES[spec.type] },
      shape: { type: 'array', minItems: spec.shape.length, maxItems: spec.shape.length, items: { type: 'integer', minimum: 0 } },
      data: { type: 'array', items: elements.answer(spec.type) },
    },
  });
  const outputs = version.signature.outputs;
  return {
    allOf: [
      ref('V2InferResponse'),
      {
        type: 'object',
        properties: {
          model_version: { const: version.version },
          outputs: { type: 'array', items: outputs.length === 1 ? output(outputs[0] as TensorSpec) : { anyOf: outputs.map(output) } },
        },
      },
    ],
  };
}

/** A decoded tensor as a v2 request input (JSON data, flat). */
function v2Tensor(name: string, tensor: TensorData): Record<string, unknown> {
  const count = tensor.shape.reduce((a, b) => a * b, 1);
  return {
    name,
    shape: [...tensor.shape],
    datatype: V2_DATATYPES[tensor.type],
    data: JSON.parse(`[${elementsText(tensor, 0, count)}]`) as unknown[],
  };
}

/** One v2 output as a golden input's expected predictions fix it: `{name, datatype, shape, data}`. */
type V2OutputValue = { readonly name: string; readonly datatype: string; readonly shape: readonly number[]; readonly data: unknown[] };

/** How deep arrays nest in `value` (0 for an element), following each first item. */
function depth(value: unknown): number {
  return Array.isArray(value) ? 1 + (value.length > 0 ? depth(value[0]) : 0) : 0;
}

/** The sizes of nested arrays, or `undefined` when they are ragged (rows of unequal length). */
function dimsOf(value: unknown): number[] | undefined {
  if (!Array.isArray(value)) return [];
  const inner = value.map(dimsOf);
  const first = inner[0] ?? [];
  if (inner.some((d) => d === undefined || d.join() !== first.join())) return undefined;
  return [value.length, ...first];
}

/**
 * The outputs of the v2 answer, as the expected predictions of a golden input (`rows` of them,
 * each as the record forms write it: `recordPredictionTexts` in `functions/core/codec/encode.ts`)
 * fix them, in the model's order; an output they do not fix is left out.
 * - A classifier's probability output: each row's probabilities in label order (a binary
 *   classifier's one column: the second label's). Its other outputs are not in the predictions.
 * - Any other model's outputs: each row's slice stacked on a batch axis, or, for an output
 *   without one (its row value as deep as the output's rank), the whole output once.
 *
 * `undefined` when the predictions do not have the shape the model answers (a golden input
 * registered before the golden-inputs check).
 */
function goldenV2Outputs(version: ModelVersion, expected: readonly unknown[]): V2OutputValue[] | undefined {
  const rows = expected.length;
  const records = expected.filter((p): p is Record<string, unknown> => p !== null && typeof p === 'object' && !Array.isArray(p));
  if (records.length !== rows || rows === 0) return undefined;
  const view = classifierView(version.signature, version.metadata);
  const outputs: V2OutputValue[] = [];
  for (const spec of version.signature.outputs) {
    const datatype = V2_DATATYPES[spec.type];
    if (view) {
      if (spec.name !== view.probabilities) continue;
      const labels = view.binary ? view.labels.slice(1) : view.labels;
      const data = records.flatMap((r) => labels.map((label) => (r['probabilities'] as Record<string, unknown> | undefined)?.[label]));
      if (data.some((v) => v === undefined)) return undefined;
      const shape = spec.shape.length === 1 ? [rows] : [rows, labels.length];
      outputs.push({ name: spec.name, datatype, shape, data });
      continue;
    }
    const values = records.map((r) => r[spec.name]);
    if (values.some((v) => v === undefined)) return undefined;
    const rank = spec.shape.length;
    const whole = rank === 0 || depth(values[0]) === rank;
    const dims = whole ? dimsOf(values[0]) : dimsOf(values);
    if (!dims || dims.length !== rank || (!whole && depth(values[0]) !== rank - 1)) return undefined;
    outputs.push({ name: spec.name, datatype, shape: dims, data: [whole ? values[0] : values].flat(Number.POSITIVE_INFINITY) });
  }
  return outputs.length > 0 ? outputs : undefined;
}

/** An OpenAPI Example Object of a request body. */
interface RequestExample {
  readonly summary: string;
  readonly value: unknown;
}

/** The examples of one route: request bodies and the answers to them, by the same names. */
interface RouteExamples {
  readonly requests: Record<string, RequestExample>;
  readonly answers: Record<string, AnswerExample>;
}

/**
 * The golden inputs as examples of both routes, each request with what the route answers to it:
 * the request as given (record form) with its expected predictions, and the same rows as tensors
 * (v2, decoded by the codec itself) with the outputs those predictions fix (a v2 request asks
 * for just those outputs when the predictions fix only some: a classifier's probabilities). The
 * answers' request ids, timestamps, processing times, function versions and model versions are
 * examples (`x-fixed` names the exact parts, `x-tolerance` the golden input's tolerance). A golden input
 * the endpoint's limits refuse is left out.
 */
function goldenExamples(
  version: ModelVersion,
  layout: RecordLayout,
  limits: ModelDocumentLimits,
): { predict: RouteExamples; infer: RouteExamples } {
  const predict: RouteExamples = { requests: {}, answers: {} };
  const infer: RouteExamples = { requests: {}, answers: {} };
  // The version is the document's; the alias decides which version answers.
  const served = `The version shown is this document's (${version.version}); while a canary runs, or within the endpoint's pointer cache (POINTER_CACHE_MS) after the production version changes, another version may answer, with its own predictions.`;
  (version.metadata.goldenInputs ?? []).forEach((golden, i) => {
    const name = `golden-${i + 1}`;
    const request = golden.request as { features?: unknown; instances?: unknown };
    const tolerance = golden.tolerance ?? DEFAULT_GOLDEN_TOLERANCE;
    let decoded: ReturnType<typeof decodeRecords>;
    try {
      const rows = request.instances !== undefined ? (request.instances as unknown[]) : [request.features];
      decoded =
        Array.isArray(rows[0]) && request.instances !== undefined
          ? decodeArrays(layout, rows, (r) => ['instances', r], limits)
          : decodeRecords(layout, rows, (r) => ['instances', r], limits);
    } catch {
      // Not servable under these limits (more rows than MAX_ROWS, say): not an example here.
      return;
    }
    predict.requests[name] = { summary: `Golden input ${i + 1} (registered with the version)`, value: golden.request };
    predict.answers[name] = answerExample(`Golden input ${i + 1}: its expected predictions`, {
      value: {
        requestId: EXAMPLE_REQUEST_ID,
        model: version.model,
        modelVersion: version.version,
        functionVersion: EXAMPLE_FUNCTION_VERSION,
        predictions: golden.expected,
        processingTimeMs: EXAMPLE_PROCESSING_MS,
        timestamp: EXAMPLE_TIMESTAMP,
      },
      fixed: ['/model', '/predictions'],
      tolerance,
      note: served,
    });
    const outputs = goldenV2Outputs(version, golden.expected);
    const partial = outputs !== undefined && outputs.length < version.signature.outputs.length;
    infer.requests[name] = {
      summary: `Golden input ${i + 1} as tensors${partial ? `, asking for ${outputs.map((o) => o.name).join(', ')}` : ''}`,
      value: {
        id: name,
        inputs: version.signature.inputs.map((spec) => v2Tensor(spec.name, decoded.feeds[spec.name] as TensorData)),
        ...(partial ? { outputs: outputs.map((o) => ({ name: o.name })) } : {}),
      },
    };
    infer.answers[name] = answerExample(`Golden input ${i + 1}: the outputs its expected predictions fix`, {
      value: {
        model_name: version.model,
        model_version: version.version,
        id: name,
        parameters: {
          request_id: EXAMPLE_REQUEST_ID,
          function_version: EXAMPLE_FUNCTION_VERSION,
          processing_time_ms: EXAMPLE_PROCESSING_MS,
          timestamp: EXAMPLE_TIMESTAMP,
        },
        outputs: outputs ?? [],
      },
      fixed: ['/model_name', '/id', ...(outputs ? ['/outputs'] : [])],
      tolerance,
      note: outputs ? served : "Its expected predictions do not have the shape of this model's answer: the outputs are not shown.",
    });
  });
  return { predict, infer };
}

/**
 * The document of `version`'s model, served under `limits`.
 *
 * @example
 * const doc = modelDocument(await registry.getVersion('iris', '3'), { maxRows: 1000, maxStringChars: 65536, maxJsonDepth: 32, maxBodyBytes: 6_000_000 });
 * doc.components.schemas.PredictRequest; // { oneOf: [features, instances], 'x-constraints': [...] }
 */
export function modelDocument(version: ModelVersion, limits: ModelDocumentLimits): OpenApiDocument {
  const { model, signature, metadata } = version;
  // A version with online features takes its entity keys and request-time features instead of
  // the full vector; its golden inputs are full vectors (what the gate replays), not examples of it.
  const online = onlinePlan(signature, metadata);
  const layout = online ? online.requestLayout : recordLayout(signature, metadata);
  const inputs = layout.kind === 'columns' ? [layout.input] : layout.inputs;
  const rows = rowRange(inputs, limits.maxRows);
  const examples = online
    ? { predict: { requests: {}, answers: {} }, infer: { requests: {}, answers: {} } }
    : goldenExamples(version, layout, limits);
  const elements = new Elements(limits.maxStringChars);
  const predictRequestSchema = predictRequest(layout, rows, elements);
  const v2RequestSchema = v2Request(
    online ? { ...version, signature: { inputs: online.request.inputs, outputs: signature.outputs } } : version,
    elements,
    limits,
  );
  const chosenInside = inputs.some((spec) => spec.shape.slice(1).some(isDynamic));
  const recordConstraints = [...(chosenInside ? [RECORD_CONSTRAINT] : []), sizeConstraint(limits.maxBodyBytes)];
  const security = [{ bearerAuth: [] }];
  const operation = (
    operationId: string,
    summary: string,
    description: string,
    request: string,
    answer: JsonSchema,
    shown: RouteExamples,
  ) => ({
    operationId,
    summary,
    description: `${description}\n\nScope: \`predict\` (or \`predict:${model}\`).`,
    tags: [model],
    security,
    'x-scope': 'predict',
    requestBody: {
      required: true,
      content: {
        'application/json': { schema: ref(request), ...(Object.keys(shown.requests).length > 0 ? { examples: shown.requests } : {}) },
      },
    },
    responses: {
      '200': {
        description: 'Served.',
        content: {
          'application/json': { schema: answer, ...(Object.keys(shown.answers).length > 0 ? { examples: shown.answers } : {}) },
        },
      },
      '4XX': { $ref: '#/components/responses/Error' },
      '5XX': { $ref: '#/components/responses/Error' },
    },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: `Model ${model}`,
      version: version.version,
      description: [
        `Predictions of model "${model}", version ${version.version} (its production version), as this API accepts them.`,
        metadata.description ?? '',
        online
          ? `Records are keyed by the entity keys and request-time features (${online.request.inputs.map((i) => i.name).join(', ')}); the other features are read from the online store by key (${online.groups.map((g) => `${g.features.join(', ')} by ${g.entity}`).join('; ')}).`
          : layout.kind === 'columns'
            ? `Records are keyed by the declared features (${layout.features.join(', ')}), which fill input "${layout.input.name}".`
            : `Records are keyed by input name (${signature.inputs.map((i) => i.name).join(', ')}).`,
        `At most ${limits.maxRows} rows per request; JSON nested at most ${limits.maxJsonDepth} levels; bodies of at most ${limits.maxBodyBytes} bytes.`,
      ]
        .filter(Boolean)
        .join(' '),
    },
    servers: [{ url: '../../..', description: 'The API that served this document.' }],
    tags: [{ name: model, description: `Model ${model}, version ${version.version}.` }],
    paths: {
      [`/v1/models/${model}/predict`]: {
        post: operation(
          'predict',
          `Predict with ${model}`,
          `One row as {"features": {...}} or many as {"instances": [...]}. ${recordConstraints.join(' ')}`,
          'PredictRequest',
          predictAnswer(version, elements),
          examples.predict,
        ),
      },
      [`/v2/models/${model}/infer`]: {
        post: operation(
          'inferV2',
          `Open Inference Protocol v2 inference with ${model}`,
          `Every input once, as a tensor. ${[...V2_CONSTRAINTS, sizeConstraint(limits.maxBodyBytes)].join(' ')}`,
          'V2InferRequest',
          v2Answer(version, elements),
          examples.infer,
        ),
      },
    },
    components: {
      securitySchemes: { bearerAuth: BEARER_SCHEME },
      responses: { Error: ERROR_RESPONSE },
      schemas: {
        ErrorBody: COMPONENT_SCHEMAS['ErrorBody'],
        PredictResponse: COMPONENT_SCHEMAS['PredictResponse'],
        V2InferResponse: COMPONENT_SCHEMAS['V2InferResponse'],
        PredictRequest: { ...predictRequestSchema, 'x-constraints': recordConstraints },
        V2InferRequest: v2RequestSchema,
        ...Object.fromEntries(elements.schemas),
      },
    },
    'x-model': {
      model,
      version: version.version,
      recordKeys: layout.kind === 'columns' ? 'features' : 'inputs',
      ...(metadata.features ? { features: metadata.features } : {}),
      ...(metadata.classLabels ? { classLabels: metadata.classLabels } : {}),
      inputs: signature.inputs,
      outputs: signature.outputs,
      limits: {
        maxRows: limits.maxRows,
        maxStringChars: limits.maxStringChars,
        maxJsonDepth: limits.maxJsonDepth,
        maxBodyBytes: limits.maxBodyBytes,
      },
    },
  };
}
