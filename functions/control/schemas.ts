/**
 * The control plane's request bodies and query parameters as zod schemas: what the handlers in
 * `app.ts` parse requests with, and what the API document (`functions/shared/openapi/`) turns
 * into JSON Schema. One copy of each, so the document cannot describe a body the handler does
 * not take. Each body schema has a hint: what a refused request is told to send instead.
 */
import * as z from 'zod';
import { UNPAIRED_SURROGATE } from '../core/codec/limits.js';
import { STAGES } from '../core/model.js';
import { MAX_VERSION_DIGITS, VERSION_PATTERN } from '../core/names.js';
import { BATCH_FORMATS, JOB_STATES } from '../core/batch-contract.js';
import { MAX_DRIFT_WINDOW_MINUTES } from '../core/drift/service.js';
import { MAX_REPLAY_REQUESTS } from '../core/replay/service.js';
import { DEFAULT_WINDOW_MINUTES, MAX_WINDOW_MINUTES, PREDICTION_ORDERS } from '../core/stats.js';

export const RegisterSchema = z.strictObject({
  /**
   * The ONNX file, base64-encoded (files up to MAX_BODY_BYTES of JSON). An empty one reaches
   * registration, which answers `EMPTY_ARTIFACT` as it does for an empty upload.
   */
  modelBase64: z.base64().optional(),
  /** An upload from `POST /v1/models/{model}/uploads`, for larger files. */
  uploadId: z.uuid().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  /** The version's reference profile (`modelctl profile`), checked with the file and stored beside it. */
  profile: z.unknown().optional(),
});
export const REGISTER_HINT =
  'Send {"modelBase64": "<the .onnx file, base64>", "metadata": {...}}, or for a large file {"uploadId": "<from POST /v1/models/{model}/uploads>", "metadata": {...}}.';

export const UploadSchema = z.strictObject({});
export const UPLOAD_HINT = 'Send {}; the answer holds the URL to PUT the file to.';

/** A version in a body: the rule of a `{version}` in a path (`functions/core/names.ts`). */
const versionNumber = z.string().max(MAX_VERSION_DIGITS).regex(VERSION_PATTERN, 'must be a version number such as "3"');
const revision = z.number().int().positive();
const reason = z.string().min(1).max(1_000);

export const ProductionSchema = z.strictObject({
  version: versionNumber,
  expectedRevision: revision.optional(),
  reason: reason.optional(),
});
export const PRODUCTION_HINT = 'Send {"version": "<version number>"}, optionally with "expectedRevision" and "reason".';

export const StageSchema = z.strictObject({ to: z.enum(STAGES), expectedRevision: revision.optional(), reason: reason.optional() });
export const STAGE_HINT = `Send {"to": "${STAGES.join('" | "')}"}, optionally with "expectedRevision" and "reason".`;

const percent = z.number().refine(Number.isFinite, 'must be a finite number');

export const PromoteSchema = z.strictObject({
  canary: percent.optional(),
  managed: z.strictObject({ kind: z.enum(['canary', 'linear']), percent, intervalMinutes: z.number().int() }).optional(),
  reason: reason.optional(),
});
export const PROMOTE_HINT =
  'Send {} (all the traffic at once), {"canary": <percent>} (a manual canary) or {"managed": {"kind": "canary" | "linear", "percent": <percent>, "intervalMinutes": <minutes>}}, optionally with "reason".';

/** The canary the change was decided from, as `deployment` shows it (If-Match; `ExpectedCanary`). */
const expectedCanary = z.strictObject({
  functionVersion: z
    .string()
    .max(10)
    .regex(/^[1-9][0-9]*$/, 'must be a function version number such as "2"'),
  percent: z.number().min(0).max(100).optional(),
});
export const EXPECTED_HINT =
  'optionally with "expectedCanary": {"functionVersion": "<deployment.canary.functionVersion>", "percent": <deployment.canary.percent>}';

export const ShiftSchema = z.strictObject({ percent, expectedCanary: expectedCanary.optional() });
export const SHIFT_HINT = `Send {"percent": <the canary's share of the traffic, from 0.01 to 99.99>}, ${EXPECTED_HINT}.`;

export const ReasonSchema = z.strictObject({ reason: reason.optional(), expectedCanary: expectedCanary.optional() });
export const REASON_HINT = `Send {} or {"reason": "<why>"}, ${EXPECTED_HINT}.`;

/** An S3 URI in a body: bounded here, parsed and judged by the job service. */
const s3Uri = z.string().min(1).max(1_100).startsWith('s3://', 'must be an S3 URI, s3://<bucket>/<key>');
export const SubmitJobSchema = z.strictObject({
  input: z.strictObject({ uri: s3Uri, format: z.enum(BATCH_FORMATS).optional() }),
  output: z.strictObject({ uri: s3Uri }),
  version: versionNumber.optional(),
  rowsPerBatch: z.number().int().positive().optional(),
  maxConcurrency: z.number().int().positive().optional(),
  toleratedFailurePercentage: z.number().min(0).max(100).optional(),
  clientToken: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9._:-]+$/, 'must be 1-64 of letters, digits, ".", "_", ":" and "-"')
    .optional(),
});
export const SUBMIT_HINT =
  'Send {"input": {"uri": "s3://<bucket>/<key or prefix/>", "format"?: "csv" | "jsonl" | "parquet"}, "output": {"uri": "s3://<bucket>/<prefix>/"}}, optionally with "version", "rowsPerBatch", "maxConcurrency", "toleratedFailurePercentage" (0-100) and "clientToken".';

/** A cancel's reason is stored with the job and shown in every answer: plain text only. */
const plainText = reason.refine(
  (text) => !UNPAIRED_SURROGATE.test(text) && !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text),
  'must be text without control characters or unpaired surrogates',
);
export const CancelSchema = z.strictObject({ reason: plainText.optional() });
export const CANCEL_HINT = 'Send {} or {"reason": "<why>"}.';

export const ReplaySchema = z.strictObject({
  version: versionNumber,
  since: z.string().min(1).max(64),
  until: z.string().min(1).max(64).optional(),
  sourceVersions: z.array(versionNumber).min(1).max(100).optional(),
  maxRequests: z.number().int().min(1).max(MAX_REPLAY_REQUESTS).optional(),
  rowsPerBatch: z.number().int().positive().optional(),
  maxConcurrency: z.number().int().positive().optional(),
});
export const REPLAY_HINT = `Send {"version": "<target version>", "since": "1h" or "<ISO-8601 time>"}, optionally with "until", "sourceVersions": ["1", ...], "maxRequests" (at most ${MAX_REPLAY_REQUESTS}), "rowsPerBatch" and "maxConcurrency".`;

export const InputUploadSchema = z.strictObject({
  fileName: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9._-]+$/, 'must be a file name of letters, digits, ".", "_" and "-"')
    .refine((n) => n !== '.' && n !== '..', 'must be a file name'),
});
export const INPUT_UPLOAD_HINT = 'Send {"fileName": "data.csv"}; the answer holds the URL to PUT the file to and the input URI to submit.';

export const DriftRunSchema = z.strictObject({
  minutes: z
    .number({ error: 'must be a whole number of minutes' })
    .int('must be a whole number of minutes')
    .min(1, 'must be at least 1 minute')
    .max(MAX_DRIFT_WINDOW_MINUTES, `must be at most ${MAX_DRIFT_WINDOW_MINUTES} minutes (30 days)`)
    .optional(),
  // A version number as text ("3") or as a number (3), as the other routes take it in a path.
  version: z
    .union([z.string(), z.number()])
    .transform((v) => String(v))
    .optional(),
});
export const DRIFT_RUN_HINT = 'Send {} to judge the production version\'s last 24 hours, or {"minutes": 60, "version": "3"}.';

/** One query parameter a route reads: the text's schema (what the handler checks it with) and what it means. */
export interface QueryParameter {
  readonly schema: z.ZodType<string>;
  readonly description: string;
}

/** `?version=N`: a version number, as in a path. */
export const VersionQuery = z.string().regex(VERSION_PATTERN);
/** `?id=shadow-…`: a shadow test id as `POST /v1/models/{model}/shadow` returned it. */
export const ShadowIdQuery = z.string().regex(/^shadow-[0-9a-z-]{1,60}$/);
/** `?minutes=N`: up to 5 digits, then judged against the window's range (`checkWindow`). */
export const MinutesQuery = z.string().regex(/^[0-9]{1,5}$/);
/** `?limit=N`: up to 3 digits, then judged against 1 to 100. */
export const LimitQuery = z.string().regex(/^[0-9]{1,3}$/);
/** `?order=oldest|newest`: the order of a prediction-log listing. */
export const PredictionOrderQuery = z.enum(PREDICTION_ORDERS);
/** `?state=…`: a batch job's state. */
export const JobStateQuery = z.enum(JOB_STATES);

/**
 * The query parameters of each route that reads any, by route key. A route takes these names and
 * no other (`UNKNOWN_PARAMETER`), each at most once (`REPEATED_PARAMETER`); routes not listed take none.
 */
export const QUERY_PARAMETERS: Readonly<Record<string, Readonly<Record<string, QueryParameter>>>> = {
  'GET /v1/models/{model}/drift': {
    version: { schema: VersionQuery, description: "The version whose newest report to show. Default: the production version's." },
  },
  'GET /v1/models/{model}/shadow': {
    id: { schema: ShadowIdQuery, description: 'A shadow test by id ("shadow-…"). Default: the model\'s current or last test.' },
  },
  'GET /v1/models/{model}/stats': {
    minutes: {
      schema: MinutesQuery,
      description: `The window, in whole minutes from 1 to ${MAX_WINDOW_MINUTES}. Default ${DEFAULT_WINDOW_MINUTES}.`,
    },
  },
  'GET /v1/models/{model}/predictions': {
    since: {
      schema: z.string(),
      description: 'An ISO-8601 time with a zone, a date, or a duration back from now (90s, 10m, 2h, 1d). Default: the last hour.',
    },
    limit: { schema: LimitQuery, description: 'Records per page, 1 to 100.' },
    cursor: { schema: z.string(), description: "The previous page's nextCursor (it keeps its listing's since and order)." },
    order: {
      schema: PredictionOrderQuery,
      description: 'oldest (first, the default) or newest (first: the newest records at or after since).',
    },
  },
  'GET /v1/models/{model}/batch-jobs': {
    limit: { schema: LimitQuery, description: 'Jobs per page, 1 to 100.' },
    cursor: { schema: z.string(), description: "The previous page's nextCursor." },
    state: { schema: JobStateQuery, description: 'Only jobs in this state.' },
  },
};
