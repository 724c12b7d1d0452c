/**
 * The answers the API document describes by schema: the ones a client reads field by field
 * (the registry's records, predictions, the inference protocol's answers). Written from the
 * TypeScript types the handlers answer with (`functions/core/model.ts`, `registry.ts`,
 * `predict.ts`); the request bodies' schemas are never written here, they come from the zod
 * schemas the handlers parse with. Objects leave `additionalProperties` open: an answer may
 * gain a field without breaking a client. `test/integration/openapi.test.ts` checks real
 * answers against these.
 */
import { ModelMetadataSchema } from '../../core/registry.js';
import { STAGES, TENSOR_TYPES } from '../../core/model.js';
import { V2_DATATYPES } from '../../core/codec/decode.js';
import { SERVER_EXTENSIONS } from '../../core/server-metadata.js';
import { ERROR_BODY, fromZod, ref, type JsonSchema } from './schema.js';

const text: JsonSchema = { type: 'string' };
const time: JsonSchema = { type: 'string', description: 'ISO-8601 UTC.' };
const versionText: JsonSchema = { type: 'string', pattern: '^[1-9][0-9]*$', description: 'A version number, as text ("3").' };

/** A tensor's JSON data, flat or nested, of any element type. */
const anyData: JsonSchema = { type: 'array', items: {} };

const tensorSpec: JsonSchema = {
  type: 'object',
  required: ['name', 'type', 'shape'],
  properties: {
    name: text,
    type: { enum: [...TENSOR_TYPES] },
    shape: {
      type: 'array',
      items: { type: ['integer', 'string', 'null'] },
      description: 'A fixed size, or a symbolic ("N") or unknown (null) dimension the caller chooses.',
    },
  },
};

const v2Tensor: JsonSchema = {
  type: 'object',
  required: ['name', 'datatype', 'shape'],
  properties: {
    name: text,
    datatype: { enum: [...new Set(Object.values(V2_DATATYPES))] },
    shape: { type: 'array', items: { type: 'integer' }, description: '-1 for a dimension the caller chooses.' },
  },
};

/** Schemas of `components.schemas`, by name. */
export const COMPONENT_SCHEMAS: Readonly<Record<string, JsonSchema>> = {
  ErrorBody: ERROR_BODY,
  ModelMetadata: { ...fromZod(ModelMetadataSchema, 'output'), description: 'What the registering caller declared about the version.' },
  TensorSpec: tensorSpec,
  ModelVersion: {
    type: 'object',
    description: 'A registered model version (`ModelVersion` in functions/core/model.ts).',
    required: ['model', 'version', 'stage', 'revision', 'metadata', 'artifact', 'signature', 'registeredBy', 'registeredAt'],
    properties: {
      model: text,
      version: versionText,
      stage: { enum: [...STAGES] },
      revision: { type: 'integer', minimum: 1, description: 'Raised by every change; send it back as expectedRevision.' },
      metadata: ref('ModelMetadata'),
      artifact: {
        type: 'object',
        required: ['bucket', 'key', 'sha256', 'sizeBytes'],
        properties: {
          bucket: text,
          key: text,
          versionId: text,
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          sizeBytes: { type: 'integer', minimum: 0 },
        },
      },
      signature: {
        type: 'object',
        required: ['inputs', 'outputs'],
        properties: { inputs: { type: 'array', items: ref('TensorSpec') }, outputs: { type: 'array', items: ref('TensorSpec') } },
      },
      registeredBy: text,
      registeredAt: time,
      source: {
        type: 'object',
        description: 'The file as registered, when the served artifact is a rewrite of it (a ZipMap output replaced).',
        required: ['rewrite', 'sha256', 'sizeBytes', 'note'],
        properties: { rewrite: { const: 'zipmap' }, sha256: text, sizeBytes: { type: 'integer' }, note: text },
      },
    },
  },
  ModelRecord: {
    type: 'object',
    description: 'A model as a whole: its production version, the newest version number, and what is set on it.',
    required: ['model', 'latestVersion', 'revision', 'updatedAt', 'updatedBy'],
    properties: {
      model: text,
      productionVersion: versionText,
      latestVersion: { type: 'integer', minimum: 0 },
      revision: { type: 'integer', minimum: 0 },
      updatedAt: time,
      updatedBy: text,
      capture: { type: 'object', description: 'Data capture settings, when turned on (GET /v1/models/{model}/capture).' },
      experiment: { type: 'object', description: 'The experiment set on the model, until stopped.' },
      shadow: { type: 'object', description: 'The shadow test set on the model, until stopped.' },
    },
  },
  ModelSummary: {
    allOf: [
      ref('ModelRecord'),
      {
        type: 'object',
        required: ['versions'],
        properties: {
          versions: {
            type: 'array',
            items: {
              type: 'object',
              required: ['version', 'stage', 'registeredAt'],
              properties: { version: versionText, stage: { enum: [...STAGES] }, registeredAt: time },
            },
          },
        },
      },
    ],
  },
  StageTransition: {
    type: 'object',
    required: ['model', 'version', 'from', 'to', 'revision', 'actor', 'at'],
    properties: {
      model: text,
      version: versionText,
      from: { enum: [...STAGES] },
      to: { enum: [...STAGES] },
      revision: { type: 'integer' },
      actor: text,
      at: time,
      reason: text,
    },
  },
  PredictResponse: {
    type: 'object',
    description:
      "One prediction per row, in the rows' order. A classifier's (declared class labels and a probability output) is `{label, confidence, probabilities}`; any other model's is an object of its outputs, each the row's slice. The model's own document (GET /v1/models/{model}/openapi.json) gives the exact shape.",
    required: ['requestId', 'model', 'modelVersion', 'functionVersion', 'predictions', 'processingTimeMs', 'timestamp'],
    properties: {
      requestId: text,
      model: text,
      modelVersion: versionText,
      functionVersion: { type: 'string', description: 'The Lambda version that served ("$LATEST" outside a release).' },
      experiment: {
        type: 'object',
        description: 'The experiment and variant the request was assigned to, when one assigned it.',
        required: ['id', 'variant'],
        properties: { id: text, variant: text },
      },
      predictions: { type: 'array', items: { type: 'object' } },
      processingTimeMs: { type: 'number', minimum: 0 },
      timestamp: time,
    },
  },
  V2InferResponse: {
    type: 'object',
    description:
      'Open Inference Protocol v2 inference response. Outputs sent as binary data or by reference carry `parameters` instead of `data`.',
    required: ['model_name', 'model_version', 'id', 'outputs', 'parameters'],
    properties: {
      model_name: text,
      model_version: versionText,
      id: text,
      outputs: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'datatype', 'shape'],
          properties: {
            name: text,
            datatype: text,
            shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
            data: anyData,
            parameters: { type: 'object' },
          },
        },
      },
      parameters: {
        type: 'object',
        required: ['request_id', 'function_version', 'processing_time_ms', 'timestamp'],
        properties: { request_id: text, function_version: text, processing_time_ms: { type: 'number' }, timestamp: time },
      },
    },
  },
  V2ModelMetadata: {
    type: 'object',
    description: 'Open Inference Protocol v2 model metadata, with what the record forms need in `parameters`.',
    required: ['name', 'versions', 'platform', 'inputs', 'outputs', 'parameters'],
    properties: {
      name: text,
      versions: { type: 'array', items: versionText },
      platform: text,
      inputs: { type: 'array', items: v2Tensor },
      outputs: { type: 'array', items: v2Tensor },
      parameters: {
        type: 'object',
        required: ['model_version', 'record_keys', 'max_rows'],
        properties: {
          model_version: versionText,
          record_keys: { enum: ['features', 'inputs'] },
          feature_input: text,
          features: { type: 'string', description: 'The declared feature names as a JSON array, in column order.' },
          class_labels: { type: 'string', description: 'The declared class labels as a JSON array, in probability-column order.' },
          probabilities_output: text,
          entity_keys: {
            type: 'string',
            description:
              'For a version with online features: the entity keys a record carries, as a JSON array (the inputs list them with the request-time features).',
          },
          online_features: {
            type: 'string',
            description:
              'For a version with online features: the features read from the online store by key, as a JSON array; a record never carries them.',
          },
          max_rows: { type: 'integer', minimum: 1 },
        },
      },
    },
  },
  ModelReady: {
    type: 'object',
    required: ['name', 'ready', 'version'],
    properties: { name: text, ready: { const: true }, version: versionText },
  },
  ServerMetadata: {
    type: 'object',
    required: ['name', 'version', 'extensions'],
    properties: { name: text, version: text, extensions: { type: 'array', items: { enum: [...SERVER_EXTENSIONS] } } },
  },
  OpenApiDocument: {
    type: 'object',
    description: 'An OpenAPI 3.1 document.',
    required: ['openapi', 'info', 'paths'],
    properties: { openapi: { type: 'string', pattern: '^3\\.1\\.' }, info: { type: 'object' }, paths: { type: 'object' } },
  },
};
