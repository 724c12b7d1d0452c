/**
 * What the API document says about each route of the route table (`functions/shared/routes.ts`),
 * in one place: its operation id (the typed client's name for it), summary, tag, request body and
 * success answers. Request bodies are the zod schemas the handlers parse with; a body a service
 * checks by hand (no zod schema) is described in words, marked `generic`. Query parameters come
 * from `QUERY_PARAMETERS` (`functions/control/schemas.ts`), the scopes from `ROUTE_SCOPES`.
 * A route of the table without an entry here fails the document's build (and a unit test).
 */
import type * as z from 'zod';
import { CaptureSettingsSchema } from '../../core/capture.js';
import { RecordRequestSchema, V2RequestSchema } from '../../core/codec/request.js';
import { ExperimentRequestSchema, OutcomeRequestSchema } from '../../core/experiments/schemas.js';
import { ModelMetadataSchema } from '../../core/registry.js';
import { SERVER_METADATA } from '../../core/server-metadata.js';
import { ShadowRequestSchema } from '../../core/shadow/shadow.js';
import {
  CancelSchema,
  DriftRunSchema,
  InputUploadSchema,
  ProductionSchema,
  PromoteSchema,
  ReasonSchema,
  RegisterSchema,
  ReplaySchema,
  ShiftSchema,
  StageSchema,
  SubmitJobSchema,
  UploadSchema,
} from '../../control/schemas.js';
import {
  EXAMPLE_FUNCTION_VERSION,
  EXAMPLE_PROCESSING_MS,
  EXAMPLE_REQUEST_ID,
  EXAMPLE_TIMESTAMP,
  refusal,
  type AnswerParts,
} from './examples.js';
import { fromZod, ref, type JsonSchema } from './schema.js';

/** The request body of a route: a zod schema the handler parses with, or words for one a service checks by hand. */
export type BodyDoc =
  | { readonly schema: z.ZodType; readonly name: string; readonly override?: Readonly<Record<string, JsonSchema>> }
  | { readonly generic: string };

/** One success answer: its status, what it means, and its body's schema when the document describes it. */
export interface AnswerDoc {
  readonly status: number;
  readonly description: string;
  readonly schema?: JsonSchema;
}

/**
 * A request the document shows, with the status and the answer it gets on the local stack (whose
 * sample model is `iris`, version 1); `test/integration/openapi.test.ts` sends every one and
 * compares the answer's fixed parts. Its path parameters default to each parameter's `example`.
 */
export interface ExampleDoc {
  readonly summary: string;
  readonly status: number;
  readonly path?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  /** The answer, with the parts of it that are exact (`examples.ts`). */
  readonly answer: AnswerParts;
}

export interface OperationDoc {
  /** Unique; the typed client and Swagger UI name the operation by it. */
  readonly operationId: string;
  readonly summary: string;
  readonly tag: Tag;
  readonly description?: string;
  readonly body?: BodyDoc;
  readonly answers: readonly AnswerDoc[];
  /** By name: the name ties the request's parts to the answer's status. */
  readonly examples?: Readonly<Record<string, ExampleDoc>>;
}

/** The document's tags, in the order Swagger UI lists them, with what each groups. */
export const TAGS = {
  Predictions: 'Predictions in the record forms (`features`, `instances`), with labels and probabilities for classifiers.',
  'Inference protocol': 'The Open Inference Protocol v2 (KServe, Triton): tensors in, tensors out; metadata and readiness.',
  Registry: 'Model versions: registration, stages, the production pointer, history.',
  Releases: "Releases on the endpoint's alias: canaries, shifts, rollbacks.",
  Observability: 'Per-version statistics and the prediction log.',
  'Batch jobs': 'Batch predictions over files in S3, and replays of captured requests.',
  'Capture and drift': 'Data capture, reference profiles and drift reports.',
  Experiments: 'A/B experiments and shadow tests.',
  Health: 'Liveness, readiness and server metadata (no token).',
  Documents: "This document, and each model's own.",
} as const;
export type Tag = keyof typeof TAGS;

const object = (description: string): JsonSchema => ({ type: 'object', description });

/** `{"<key>": [<items>]}` */
const listOf = (key: string, items: JsonSchema): JsonSchema => ({
  type: 'object',
  required: [key],
  properties: { [key]: { type: 'array', items } },
});

const ok = (description: string, schema?: JsonSchema): AnswerDoc => ({ status: 200, description, ...(schema ? { schema } : {}) });
const created = (description: string, schema?: JsonSchema): AnswerDoc => ({ status: 201, description, ...(schema ? { schema } : {}) });
const accepted = (description: string, schema?: JsonSchema): AnswerDoc => ({ status: 202, description, ...(schema ? { schema } : {}) });

const body = (name: string, schema: z.ZodType, override?: Readonly<Record<string, JsonSchema>>): BodyDoc => ({
  schema,
  name,
  ...(override ? { override } : {}),
});

/** One row of the sample model's features (`models/iris/metadata.json`). */
const IRIS_ROW = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };

/** The sample model's declared features and class labels, and its signature (`models/iris/`). */
const IRIS_FEATURES = ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'];
const IRIS_LABELS = ['setosa', 'versicolor', 'virginica'];
const IRIS_SIGNATURE = {
  inputs: [{ name: 'features', type: 'float32', shape: ['N', 4] }],
  outputs: [
    { name: 'probabilities', type: 'float32', shape: ['N', 3] },
    { name: 'label', type: 'string', shape: ['N'] },
  ],
};

/** What the sample model answers for {@link IRIS_ROW}, and for the row `[6.7, 3.0, 5.2, 2.3]`. */
const IRIS_ROW_PREDICTION = {
  label: 'setosa',
  confidence: 0.9975189,
  probabilities: { setosa: 0.9975189, versicolor: 0.002481153, virginica: 4.449172e-13 },
};
const IRIS_VIRGINICA_PREDICTION = {
  label: 'virginica',
  confidence: 0.99304515,
  probabilities: { setosa: 2.253939e-7, versicolor: 0.0069545833, virginica: 0.99304515 },
};

/** A predict answer of the sample model, with `predictions`; the labels are fixed, the probabilities examples. */
function irisPredictAnswer(predictions: readonly { label: string }[]): AnswerParts {
  return {
    value: {
      requestId: EXAMPLE_REQUEST_ID,
      model: 'iris',
      modelVersion: '1',
      functionVersion: EXAMPLE_FUNCTION_VERSION,
      predictions,
      processingTimeMs: EXAMPLE_PROCESSING_MS,
      timestamp: EXAMPLE_TIMESTAMP,
    },
    fixed: ['/model', ...predictions.map((_, i) => `/predictions/${i}/label`)],
    note: "The sample model's labels; its probabilities are shown to a few digits.",
  };
}

/** The sample model as a registry record (`GET /v1/models`), as an example. */
const IRIS_RECORD = {
  model: 'iris',
  productionVersion: '1',
  latestVersion: 1,
  revision: 3,
  updatedAt: EXAMPLE_TIMESTAMP,
  updatedBy: 'local-setup',
};

const JOB = object('`{"job": BatchJob}` (functions/core/batch-contract.ts): the job with its state, rows and output locations.');
const RELEASE = object("The release: the alias's versions and weights after the change (functions/core/release.ts).");
const DEPLOYMENT = object("The endpoint's alias: stable and canary versions, their weights, the release under way.");
const EXPERIMENT = object('The experiment (functions/core/experiments/experiment.ts).');
const SHADOW = object('The shadow test and its comparison so far (functions/core/shadow/shadow.ts).');
const CAPTURE = object('`{"model", "enabled"}`, with the settings when capture is on.');
const PRESIGNED = object('`{"url", "method": "PUT", "headers", "expiresAt", …}`: where to PUT the file, and the id to name it by.');

/** Every route's document entry, by route key (`"POST /v1/models/{model}/predict"`). */
export const OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  'POST /v1/models/{model}/predict': {
    operationId: 'predict',
    summary: "Predict with the model's production version",
    tag: 'Predictions',
    description:
      'One row as `{"features": {...}}`, or many as `{"instances": [...]}` (objects keyed by feature or input name, or arrays of values in feature order). The exact schema for a model, from its signature and declared features, is in GET /v1/models/{model}/openapi.json.',
    body: body('RecordRequest', RecordRequestSchema),
    answers: [ok('One prediction per row.', ref('PredictResponse'))],
    examples: {
      'one-row': {
        summary: 'One row of the sample model',
        status: 200,
        body: { features: IRIS_ROW },
        answer: irisPredictAnswer([IRIS_ROW_PREDICTION]),
      },
      'array-rows': {
        summary: 'Rows as arrays, in feature order',
        status: 200,
        body: {
          instances: [
            [5.1, 3.5, 1.4, 0.2],
            [6.7, 3.0, 5.2, 2.3],
          ],
        },
        answer: irisPredictAnswer([IRIS_ROW_PREDICTION, IRIS_VIRGINICA_PREDICTION]),
      },
      'unknown-feature': {
        summary: 'A feature name the model does not take: 400 UNKNOWN_FEATURE',
        status: 400,
        body: { features: { ...IRIS_ROW, sepal_length: 5.1 } },
        answer: refusal(
          'UNKNOWN_FEATURE',
          'features.sepal_length',
          `"sepal_length" (did you mean "sepal_length_cm"?) is not a feature of this model; it takes: ${IRIS_FEATURES.join(', ')}.`,
        ),
      },
      'both-forms': {
        summary: 'features and instances together: 400 CONFLICTING_FIELDS',
        status: 400,
        body: { features: IRIS_ROW, instances: [IRIS_ROW] },
        answer: refusal('CONFLICTING_FIELDS', 'instances', 'Send either "features" (one row) or "instances" (many), not both.'),
      },
    },
  },
  'POST /v1/models/{model}/payloads': {
    operationId: 'createPayloadUpload',
    summary: 'Upload a large input tensor first, to name it in an inference request',
    tag: 'Inference protocol',
    description:
      "The answer holds a presigned URL to PUT the tensor's raw little-endian bytes to, and the `payloadId` to give as `inputs[i].parameters.data_ref`.",
    body: { generic: '`{}`, or `{"bytes": <the payload\'s size>}` so that one too large is refused before it is uploaded.' },
    answers: [created('Where to PUT the payload, and its id.', object('`PayloadUpload` (functions/core/ports.ts).'))],
  },
  'POST /v2/models/{model}/infer': {
    operationId: 'inferV2',
    summary: 'Open Inference Protocol v2 inference',
    tag: 'Inference protocol',
    description:
      "Tensors by name. The binary extension (Content-Type: application/octet-stream, a JSON header of `Inference-Header-Content-Length` bytes, then raw little-endian tensor bytes) is taken too. The model's own document gives the exact tensors.",
    body: body('V2InferRequest', V2RequestSchema),
    answers: [ok('The output tensors.', ref('V2InferResponse'))],
    examples: {
      'one-row': {
        summary: 'One row of the sample model as a tensor',
        status: 200,
        body: { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] },
        answer: {
          value: {
            model_name: 'iris',
            model_version: '1',
            id: EXAMPLE_REQUEST_ID,
            parameters: {
              request_id: EXAMPLE_REQUEST_ID,
              function_version: EXAMPLE_FUNCTION_VERSION,
              processing_time_ms: EXAMPLE_PROCESSING_MS,
              timestamp: EXAMPLE_TIMESTAMP,
            },
            outputs: [
              { name: 'probabilities', datatype: 'FP32', shape: [1, 3], data: Object.values(IRIS_ROW_PREDICTION.probabilities) },
              { name: 'label', datatype: 'BYTES', shape: [1], data: ['setosa'] },
            ],
          },
          fixed: ['/model_name', '/outputs/0/name', '/outputs/0/shape', '/outputs/1'],
          note: "The sample model's label; its probabilities are shown to a few digits. Without an `id` in the request, the answer's is its request id.",
        },
      },
      'wrong-datatype': {
        summary: 'float64 data for a float32 input: 400 DATATYPE_MISMATCH',
        status: 400,
        body: { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP64', data: [5.1, 3.5, 1.4, 0.2] }] },
        answer: refusal(
          'DATATYPE_MISMATCH',
          'inputs[0].datatype',
          'Input "features" is FP32, not "FP64". Convert the array first, e.g. NumPy\'s arr.astype(\'float32\') (NumPy\'s default float is float64).',
        ),
      },
    },
  },
  'GET /v2/models/{model}': {
    operationId: 'modelMetadataV2',
    summary: "The production version's tensors (v2 model metadata)",
    tag: 'Inference protocol',
    answers: [ok('Inputs, outputs, and what the record forms need.', ref('V2ModelMetadata'))],
  },
  'GET /v2/models/{model}/ready': {
    operationId: 'modelReadyV2',
    summary: "Load the production version's session; answer once it is ready",
    tag: 'Inference protocol',
    answers: [ok('The version is loaded.', ref('ModelReady'))],
  },
  'POST /v2/models/{model}/versions/{version}/infer': {
    operationId: 'inferV2Version',
    summary: 'v2 inference with a version by number',
    tag: 'Inference protocol',
    body: body('V2InferRequest', V2RequestSchema),
    answers: [ok('The output tensors.', ref('V2InferResponse'))],
  },
  'GET /v2/models/{model}/versions/{version}': {
    operationId: 'versionMetadataV2',
    summary: "A version's tensors (v2 model metadata)",
    tag: 'Inference protocol',
    answers: [ok('Inputs, outputs, and what the record forms need.', ref('V2ModelMetadata'))],
  },
  'GET /v2/models/{model}/versions/{version}/ready': {
    operationId: 'versionReadyV2',
    summary: "Load a version's session; answer once it is ready",
    tag: 'Inference protocol',
    answers: [ok('The version is loaded.', ref('ModelReady'))],
  },
  'GET /v2/health/live': {
    operationId: 'live',
    summary: 'The process answers',
    tag: 'Health',
    answers: [ok('Alive.', { type: 'object', required: ['live'], properties: { live: { const: true } } })],
    examples: { live: { summary: 'Alive', status: 200, answer: { value: { live: true }, fixed: [''] } } },
  },
  'GET /v2/health/ready': {
    operationId: 'ready',
    summary: "Ready to serve (an endpoint function: its model's session is loaded)",
    tag: 'Health',
    answers: [
      ok('Ready.', {
        type: 'object',
        required: ['ready'],
        properties: { ready: { const: true }, models: { type: 'array', items: ref('ModelReady') } },
      }),
    ],
  },
  'GET /v2': {
    operationId: 'serverMetadata',
    summary: 'Server metadata (v2): name, version, protocol extensions',
    tag: 'Health',
    answers: [ok('The server.', ref('ServerMetadata'))],
    examples: { server: { summary: 'The server', status: 200, answer: { value: SERVER_METADATA, fixed: [''] } } },
  },
  'GET /openapi.json': {
    operationId: 'apiDocument',
    summary: 'This document',
    tag: 'Documents',
    answers: [ok('The OpenAPI 3.1 document of the whole API.', ref('OpenApiDocument'))],
  },
  'GET /v1/models/{model}/openapi.json': {
    operationId: 'modelDocument',
    summary: "The model's own OpenAPI document: its predict and infer requests, exactly",
    tag: 'Documents',
    description:
      "Built from the production version's signature (input names, element types, shapes), declared features and class labels, with its golden inputs as examples. Answers 404 NO_PRODUCTION_VERSION before the first promotion.",
    answers: [ok("An OpenAPI 3.1 document of the model's prediction routes.", ref('OpenApiDocument'))],
    examples: {
      sample: {
        summary: "The sample model's document",
        status: 200,
        answer: {
          value: {
            openapi: '3.1.0',
            info: { title: 'Model iris', version: '1', description: 'Predictions of model "iris", version 1 (its production version), …' },
            paths: {
              '/v1/models/iris/predict': { post: { operationId: 'predict' } },
              '/v2/models/iris/infer': { post: { operationId: 'inferV2' } },
            },
          },
          fixed: [
            '/openapi',
            '/info/title',
            '/paths/~1v1~1models~1iris~1predict/post/operationId',
            '/paths/~1v2~1models~1iris~1infer/post/operationId',
          ],
          note: 'Abridged: the document also holds the request and answer schemas, and the golden inputs as examples.',
        },
      },
    },
  },
  'GET /v1/models': {
    operationId: 'listModels',
    summary: 'List the models',
    tag: 'Registry',
    answers: [ok('Every model, with its production version.', listOf('models', ref('ModelRecord')))],
    examples: { all: { summary: 'Every model', status: 200, answer: { value: { models: [IRIS_RECORD] }, fixed: [] } } },
  },
  'GET /v1/models/{model}': {
    operationId: 'describeModel',
    summary: 'A model, with its versions',
    tag: 'Registry',
    answers: [ok('The model and its versions (number, stage, registration time).', ref('ModelSummary'))],
    examples: {
      sample: {
        summary: 'The sample model',
        status: 200,
        answer: {
          value: { ...IRIS_RECORD, versions: [{ version: '1', stage: 'production', registeredAt: EXAMPLE_TIMESTAMP }] },
          fixed: ['/model', '/versions/0/version'],
        },
      },
      missing: {
        summary: 'A model never registered: 404 MODEL_NOT_FOUND',
        status: 404,
        path: { model: 'no-such-model' },
        answer: refusal('MODEL_NOT_FOUND', 'model', 'No model named "no-such-model" is registered.'),
      },
    },
  },
  'GET /v1/models/{model}/versions': {
    operationId: 'listVersions',
    summary: "A model's versions",
    tag: 'Registry',
    answers: [ok('Every version, oldest first.', listOf('versions', ref('ModelVersion')))],
  },
  'POST /v1/models/{model}/versions': {
    operationId: 'registerVersion',
    summary: 'Register a model version (an ONNX file and what you declare about it)',
    tag: 'Registry',
    description:
      'The file inline (`modelBase64`) or uploaded first (`uploadId`, from POST /v1/models/{model}/uploads). The version starts in `development`; the gates run on the way to staging and production. A `profile` (what `modelctl profile` writes) is checked against the file and stored with it.',
    body: body('RegisterRequest', RegisterSchema, { metadata: fromZod(ModelMetadataSchema) }),
    answers: [created('The version, as registered.', ref('ModelVersion'))],
    examples: {
      'no-file': {
        summary: 'Neither modelBase64 nor uploadId: 400 MISSING_FIELD',
        status: 400,
        body: { metadata: { features: ['x'] } },
        answer: refusal(
          'MISSING_FIELD',
          'modelBase64',
          'Field "modelBase64" or "uploadId" is required. Send {"modelBase64": "<the .onnx file, base64>", "metadata": {...}}, or for a large file {"uploadId": "<from POST /v1/models/{model}/uploads>", "metadata": {...}}.',
        ),
      },
    },
  },
  'POST /v1/models/{model}/uploads': {
    operationId: 'createModelUpload',
    summary: 'A presigned upload for a large model file',
    tag: 'Registry',
    body: body('UploadRequest', UploadSchema),
    answers: [created('Where to PUT the file, and the uploadId to register it by.', PRESIGNED)],
  },
  'GET /v1/models/{model}/versions/{version}': {
    operationId: 'getVersion',
    summary: 'A model version',
    tag: 'Registry',
    answers: [ok('The version.', ref('ModelVersion'))],
    examples: {
      first: {
        summary: "The sample model's first version",
        status: 200,
        answer: {
          value: {
            model: 'iris',
            version: '1',
            stage: 'production',
            revision: 3,
            metadata: {
              algorithm: 'multinomial logistic regression',
              features: IRIS_FEATURES,
              target: 'species',
              classLabels: IRIS_LABELS,
            },
            artifact: { bucket: 'onnx-artifacts', key: `models/iris/${'0'.repeat(64)}.onnx`, sha256: '0'.repeat(64), sizeBytes: 1280 },
            signature: IRIS_SIGNATURE,
            registeredBy: 'local-setup',
            registeredAt: EXAMPLE_TIMESTAMP,
          },
          fixed: ['/model', '/version', '/metadata/features', '/metadata/classLabels', '/signature'],
          note: 'Abridged: the metadata also holds the metrics, the description and the golden inputs.',
        },
      },
      missing: {
        summary: 'A version never registered: 404 VERSION_NOT_FOUND',
        status: 404,
        path: { version: '9999' },
        answer: refusal('VERSION_NOT_FOUND', 'version', 'Model "iris" has no version 9999.'),
      },
    },
  },
  'PUT /v1/models/{model}/production': {
    operationId: 'setProduction',
    summary: 'Make a staging version the production version (the gates run)',
    tag: 'Registry',
    body: body('ProductionRequest', ProductionSchema),
    answers: [ok('The model, its production pointer moved.', ref('ModelRecord'))],
  },
  'POST /v1/models/{model}/versions/{version}/stage': {
    operationId: 'transitionVersion',
    summary: 'Move a version to another stage (the gates run for staging and production)',
    tag: 'Registry',
    body: body('StageRequest', StageSchema),
    answers: [ok('The model after the change.', ref('ModelRecord'))],
  },
  'GET /v1/models/{model}/history': {
    operationId: 'history',
    summary: "A model's stage changes",
    tag: 'Registry',
    answers: [ok('Every stage change, oldest first.', listOf('history', ref('StageTransition')))],
  },
  'POST /v1/models/{model}/versions/{version}/promote': {
    operationId: 'promote',
    summary: 'Release a version on the endpoint: all at once, a manual canary, or a managed canary/linear shift',
    tag: 'Releases',
    body: body('PromoteRequest', PromoteSchema),
    answers: [ok('Released (all at once, or a manual canary).', RELEASE), accepted('A managed release has started.', RELEASE)],
  },
  'GET /v1/models/{model}/deployment': {
    operationId: 'deployment',
    summary: "The endpoint's alias: versions and weights",
    tag: 'Releases',
    answers: [ok('The deployment.', DEPLOYMENT)],
  },
  'POST /v1/models/{model}/deployment/shift': {
    operationId: 'shift',
    summary: "Set the canary's share of the traffic",
    tag: 'Releases',
    body: body('ShiftRequest', ShiftSchema),
    answers: [ok('The deployment after the shift.', DEPLOYMENT)],
  },
  'POST /v1/models/{model}/deployment/rollback': {
    operationId: 'rollback',
    summary: 'Send all the traffic back to the stable version',
    tag: 'Releases',
    body: body('ReasonRequest', ReasonSchema),
    answers: [ok('The deployment after the rollback.', DEPLOYMENT)],
  },
  'POST /v1/models/{model}/deployment/finalize': {
    operationId: 'finalize',
    summary: 'Make the canary the stable version',
    tag: 'Releases',
    body: body('ReasonRequest', ReasonSchema),
    answers: [ok('The deployment after the change.', DEPLOYMENT)],
  },
  'GET /v1/models/{model}/stats': {
    operationId: 'stats',
    summary: 'Per-version invocations, errors and latency, with a health verdict',
    tag: 'Observability',
    answers: [ok('`ModelStats` (functions/core/stats.ts).', object('Per-version statistics over the window.'))],
    examples: {
      'last-hour': {
        summary: 'The last hour',
        status: 200,
        query: { minutes: '60' },
        answer: {
          value: {
            model: 'iris',
            alias: 'live',
            productionVersion: '1',
            windowMinutes: 60,
            from: '2025-12-31T23:00:00.000Z',
            to: EXAMPLE_TIMESTAMP,
            thresholds: { maxErrorRate: 0.05, maxMeanLatencyMs: 1000 },
            healthy: true,
            versions: [
              {
                functionVersion: EXAMPLE_FUNCTION_VERSION,
                role: 'stable',
                modelVersion: '1',
                pinned: false,
                percent: 100,
                invocations: 0,
                clientErrors: 0,
                serverErrors: 0,
                errorRate: null,
                latencyMs: null,
                healthy: true,
                evidence: 'none',
                reasons: [],
              },
            ],
          },
          fixed: ['/model', '/alias', '/windowMinutes'],
        },
      },
      'window-too-long': {
        summary: 'More than a day: 400 INVALID_WINDOW',
        status: 400,
        query: { minutes: '5000' },
        answer: refusal(
          'INVALID_WINDOW',
          'query.minutes',
          'The window is a whole number of minutes from 1 to 1440, e.g. ?minutes=60, not "5000".',
        ),
      },
    },
  },
  'GET /v1/models/{model}/predictions': {
    operationId: 'listPredictions',
    summary: 'The prediction log, newest first',
    tag: 'Observability',
    answers: [ok('A page of records, and nextCursor when there are more.', object('`PredictionsPage` (functions/core/stats.ts).'))],
  },
  'POST /v1/models/{model}/batch-jobs': {
    operationId: 'submitBatchJob',
    summary: 'Predict every row of files in S3',
    tag: 'Batch jobs',
    body: body('SubmitJobRequest', SubmitJobSchema),
    answers: [accepted('The job was created.', JOB), ok('A job with this clientToken exists: it is answered again.', JOB)],
  },
  'GET /v1/models/{model}/batch-jobs': {
    operationId: 'listBatchJobs',
    summary: "A model's batch jobs, newest first",
    tag: 'Batch jobs',
    answers: [ok('A page of jobs, and nextCursor when there are more.', object('`{"jobs": [...], "nextCursor"?}`.'))],
  },
  'GET /v1/models/{model}/batch-jobs/{job}': {
    operationId: 'getBatchJob',
    summary: 'A batch job, with presigned links once it has ended',
    tag: 'Batch jobs',
    answers: [ok('`{"job", "links"?, "report"?}`.', object("The job, its links, and a replay's report."))],
  },
  'POST /v1/models/{model}/batch-jobs/{job}/cancel': {
    operationId: 'cancelBatchJob',
    summary: 'Cancel a batch job',
    tag: 'Batch jobs',
    body: body('CancelRequest', CancelSchema),
    answers: [ok('The job, cancelled.', JOB)],
  },
  'POST /v1/models/{model}/batch-inputs': {
    operationId: 'createBatchInputUpload',
    summary: "A presigned upload for a batch job's input file",
    tag: 'Batch jobs',
    body: body('InputUploadRequest', InputUploadSchema),
    answers: [created('Where to PUT the file, and the input URI to submit.', PRESIGNED)],
  },
  'POST /v1/models/{model}/replays': {
    operationId: 'submitReplay',
    summary: 'Replay captured requests against a version (a batch job)',
    tag: 'Batch jobs',
    body: body('ReplayRequest', ReplaySchema),
    answers: [accepted('The replay job was created.', JOB)],
  },
  'GET /v1/models/{model}/capture': {
    operationId: 'getCapture',
    summary: 'The data capture settings',
    tag: 'Capture and drift',
    answers: [ok('Capture on or off, with its settings.', CAPTURE)],
  },
  'PUT /v1/models/{model}/capture': {
    operationId: 'setCapture',
    summary: 'Turn data capture on, or change its settings',
    tag: 'Capture and drift',
    body: body('CaptureSettingsRequest', CaptureSettingsSchema),
    answers: [ok('The settings now in force.', CAPTURE)],
  },
  'DELETE /v1/models/{model}/capture': {
    operationId: 'disableCapture',
    summary: 'Turn data capture off',
    tag: 'Capture and drift',
    answers: [ok('Capture is off.', CAPTURE)],
  },
  'GET /v1/models/{model}/drift': {
    operationId: 'latestDrift',
    summary: 'The newest drift report',
    tag: 'Capture and drift',
    answers: [ok('`StoredDriftReport` (functions/core/drift/service.ts).', object('The newest report.'))],
  },
  'POST /v1/models/{model}/drift': {
    operationId: 'runDrift',
    summary: "Judge a version's captured requests against its reference profile now",
    tag: 'Capture and drift',
    body: body('DriftRunRequest', DriftRunSchema),
    answers: [ok('The report.', object('`StoredDriftReport` (functions/core/drift/service.ts).'))],
  },
  'GET /v1/models/{model}/versions/{version}/profile': {
    operationId: 'getProfile',
    summary: "A version's reference profile",
    tag: 'Capture and drift',
    answers: [ok('The profile.', object('`ReferenceProfile` (functions/core/drift/profile.ts).'))],
  },
  'PUT /v1/models/{model}/versions/{version}/profile': {
    operationId: 'putProfile',
    summary: "Store a version's reference profile",
    tag: 'Capture and drift',
    body: {
      generic:
        'A reference profile as `modelctl profile` writes it (format in functions/core/drift/profile.ts), checked field by field (400 INVALID_PROFILE names the first problem).',
    },
    answers: [ok('The profile, as stored.', object('`ReferenceProfile` (functions/core/drift/profile.ts).'))],
  },
  'POST /v1/models/{model}/experiments': {
    operationId: 'startExperiment',
    summary: 'Start an A/B experiment between versions',
    tag: 'Experiments',
    body: body('ExperimentRequest', ExperimentRequestSchema),
    answers: [created('The experiment.', EXPERIMENT)],
  },
  'GET /v1/models/{model}/experiments': {
    operationId: 'listExperiments',
    summary: "A model's experiments",
    tag: 'Experiments',
    answers: [ok('The experiments.', object('`{"experiments": [...]}`.'))],
  },
  'GET /v1/models/{model}/experiments/{experiment}': {
    operationId: 'getExperiment',
    summary: 'An experiment, with its analysis',
    tag: 'Experiments',
    answers: [ok('The experiment and its statistics.', EXPERIMENT)],
  },
  'POST /v1/models/{model}/experiments/{experiment}/stop': {
    operationId: 'stopExperiment',
    summary: 'Stop assigning requests to an experiment',
    tag: 'Experiments',
    body: { generic: '`{}` or `{"reason": "<why, 1 to 500 characters>"}`.' },
    answers: [ok('The experiment, stopped.', EXPERIMENT)],
  },
  'POST /v1/models/{model}/experiments/{experiment}/promote-winner': {
    operationId: 'promoteWinner',
    summary: "Release an experiment's winner",
    tag: 'Experiments',
    body: body('PromoteRequest', PromoteSchema),
    answers: [ok('The winner was released.', EXPERIMENT), accepted('A managed release of the winner has started.', EXPERIMENT)],
  },
  'POST /v1/models/{model}/experiments/{experiment}/outcomes': {
    operationId: 'recordOutcome',
    summary: 'Record an outcome of a request an experiment served, or of a unit',
    tag: 'Experiments',
    body: body('OutcomeRequest', OutcomeRequestSchema),
    answers: [
      created('Recorded.', object('`{"created", "outcome"}`.')),
      ok('Recorded before, with the same value.', object('`{"created", "outcome"}`.')),
    ],
  },
  'POST /v1/models/{model}/shadow': {
    operationId: 'startShadow',
    summary: 'Start a shadow test: a share of requests also run on a candidate version',
    tag: 'Experiments',
    body: body('ShadowRequest', ShadowRequestSchema),
    answers: [created('The shadow test.', SHADOW)],
  },
  'GET /v1/models/{model}/shadow': {
    operationId: 'getShadow',
    summary: 'The shadow test and its comparison',
    tag: 'Experiments',
    answers: [ok('The shadow test.', SHADOW)],
  },
  'DELETE /v1/models/{model}/shadow': {
    operationId: 'stopShadow',
    summary: 'Stop the shadow test',
    tag: 'Experiments',
    answers: [ok('The shadow test, stopped.', SHADOW)],
  },
};
