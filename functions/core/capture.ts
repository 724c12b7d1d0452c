/**
 * Data capture (opt-in per model): the decoded inputs and the outputs of a sampled share of a
 * model's requests, redacted and bounded, written off the request path as JSON Lines and
 * delivered to S3 partitioned by model, version and date. Drift detection
 * (`functions/core/drift/`) and replays read them back. Pure: the record's text is built here;
 * queueing and delivery are the `CaptureLog` port's (`functions/adapters/capture-log.ts`).
 *
 * ## Record (`captureVersion: 1`, one JSON object per line)
 *
 * ```json
 * {"captureVersion":1,"requestId":"…","model":"iris","modelVersion":"1","functionVersion":"$LATEST",
 *  "timestamp":"2026-11-30T12:00:00.000Z","rows":2,"capturedRows":2,"truncated":false,
 *  "features":{"sepal_length_cm":[5.1,6.2],"email":["sha256:9f86d0…","sha256:…"]},
 *  "outputs":{"probabilities":{"datatype":"FP32","shape":[2,3],"data":[0.97,…]}},
 *  "redaction":{"dropped":["ssn"],"hashed":["email"]}}
 * ```
 *
 * - `features`: for a model whose declared features fill the columns of one `[N, F]` input, one
 *   array per feature, one value per captured row; for other models, each input whose rows are
 *   single values (`[N]` or `[N, 1]`) under its input name. Values are written as the Open
 *   Inference Protocol's JSON writes them (`functions/core/codec/elements.ts`): float32 with the
 *   shortest digits that read back as the same float32 (5.1, not 5.099999904632568), the strings
 *   `"NaN"`, `"Infinity"`, `"-Infinity"` for non-finite floats, 64-bit integers past 2^53 as
 *   strings.
 * - `inputs`: the other inputs (images, sequences) as `{datatype, shape, data}`, data flat and
 *   row-major.
 * - `outputs`: every output the model computed for the request, as `{datatype, shape, data}`.
 * - Redaction (`CaptureSettings.drop`, `.hash`) applies by feature, input or output name (an
 *   output may echo an input) before anything is serialized; the name of an input whose columns
 *   are the declared features stands for all of them. A dropped one is absent; a hashed one has
 *   each value replaced by
 *   `sha256:<64 hex digits>` of its text (a string as it is, any other value as its JSON text).
 *   Hashing keeps equal values equal, so a hashed feature can still be compared as a category,
 *   but it is a pseudonym, not encryption: a value from a small set (a country, a yes/no) is
 *   found again by hashing every candidate; drop such features instead.
 * - Size: a record is at most `maxRecordBytes` bytes of UTF-8. A larger one first loses the data
 *   of its tensors without a row axis (largest first; kept as `{datatype, shape}`), then keeps
 *   only its first `capturedRows` rows (of `features`, and of every input and output whose first
 *   axis is the request's rows), and says `truncated: true`. Its envelope alone always fits the
 *   smallest bound allowed ({@link MIN_RECORD_BYTES}) unless names are very long; it is then
 *   written as it is, with no rows.
 *
 * Records are partitioned in S3 as `capture/model=<m>/version=<v>/date=<yyyy-MM-dd>/` (UTC date
 * of the request); see {@link capturePrefix}.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { ValidationError, clip } from './errors.js';
import { didYouMean } from './messages.js';
import type { CaptureSettings, ModelVersion } from './model.js';
import type { TensorData, TensorMap } from './tensor.js';
import { V2_DATATYPES, type RecordLayout } from './codec/decode.js';
import { elementText, elementsText } from './codec/elements.js';

export const CAPTURE_VERSION = 1;
/** Default bound on one record's JSON line, in bytes. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024;
/**
 * Largest bound a record may be given: 1,000 KiB, the most one record of Amazon Data Firehose
 * may hold before base64 ("Amazon Data Firehose Quota": 1,000 KiB per record).
 */
export const MAX_RECORD_BYTES = 1_000 * 1024;
/** Smallest bound: room for the envelope and a few rows. */
export const MIN_RECORD_BYTES = 1024;
/** Most names in `drop` and in `hash`. */
export const MAX_REDACTED_NAMES = 1_000;
/** Smallest share captured: one request in 100,000 (a smaller share captures nothing in practice). */
export const MIN_SAMPLE_PERCENT = 0.001;
/** The S3 key prefix under which every capture record lives. */
export const CAPTURE_ROOT = 'capture/';

const name = z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters');
const names = z
  .array(name)
  .max(MAX_REDACTED_NAMES, `must list at most ${MAX_REDACTED_NAMES} names`)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((n, i) => {
      if (seen.has(n)) ctx.addIssue({ code: 'custom', message: `names ${JSON.stringify(clip(n, 60))} twice`, path: [i] });
      seen.add(n);
    });
  });

/** The body of `PUT /v1/models/{model}/capture`. */
export const CaptureSettingsSchema = z.strictObject({
  samplePercent: z
    .number({ error: 'must be a number of percent, above 0 and at most 100' })
    .min(
      MIN_SAMPLE_PERCENT,
      `must be at least ${MIN_SAMPLE_PERCENT} (one request in 100,000; DELETE /v1/models/{model}/capture turns capture off)`,
    )
    .max(100, 'must be at most 100'),
  drop: names.default([]),
  hash: names.default([]),
  maxRecordBytes: z
    .number({ error: 'must be a whole number of bytes' })
    .int('must be a whole number of bytes')
    .min(MIN_RECORD_BYTES, `must be at least ${MIN_RECORD_BYTES} bytes`)
    .max(MAX_RECORD_BYTES, `must be at most ${MAX_RECORD_BYTES} bytes (a Firehose record's limit)`)
    .default(DEFAULT_MAX_RECORD_BYTES),
});
export type CaptureSettingsInput = z.input<typeof CaptureSettingsSchema>;
export const CAPTURE_SETTINGS_HINT =
  'Send {"samplePercent": 10, "drop": ["<feature>"], "hash": ["<feature>"], "maxRecordBytes": 65536}; only samplePercent is required.';

/**
 * Checks the names to redact against what the model's versions declare: a redaction that names
 * nothing would let the data it meant to hide through, so every name must be a declared feature
 * or an input or output name of at least one registered version, and no name may be both
 * dropped and hashed.
 *
 * @throws ValidationError 400 `UNKNOWN_FEATURE` (path `["drop", i]` / `["hash", i]`),
 *   `CONFLICTING_FIELDS` (path `["hash", i]`)
 */
export function checkRedaction(
  settings: Pick<CaptureSettings, 'drop' | 'hash'>,
  versions: readonly Pick<ModelVersion, 'metadata' | 'signature'>[],
): void {
  const known = new Set<string>();
  for (const version of versions) {
    for (const feature of version.metadata.features ?? []) known.add(feature);
    for (const input of version.signature.inputs) known.add(input.name);
    // An output can echo an input (an id, an email): it can be redacted too.
    for (const output of version.signature.outputs) known.add(output.name);
  }
  const dropped = new Set(settings.drop);
  // The input the declared features fill stands for all of them: dropping it and hashing one of
  // its features asks for two things at once.
  const inputOf = new Map<string, string>();
  for (const version of versions) {
    const [only, ...others] = version.signature.inputs;
    if (only && others.length === 0) for (const feature of version.metadata.features ?? []) inputOf.set(feature, only.name);
  }
  for (const [field, names] of [
    ['drop', settings.drop],
    ['hash', settings.hash],
  ] as const) {
    names.forEach((n, i) => {
      if (!known.has(n)) {
        const some = [...known]
          .slice(0, 10)
          .map((k) => JSON.stringify(clip(k, 40)))
          .join(', ');
        throw new ValidationError(
          'UNKNOWN_FEATURE',
          `${JSON.stringify(clip(n, 60))} is not a feature, input or output of any version of this model, so there is nothing to ${field === 'drop' ? 'drop' : 'hash'}; check the spelling${didYouMean(n, known)} (known: ${some}${known.size > 10 ? ', …' : ''}).`,
          [field, i],
        );
      }
      if (field === 'hash' && dropped.has(n)) {
        throw new ValidationError(
          'CONFLICTING_FIELDS',
          `${JSON.stringify(clip(n, 60))} is both dropped and hashed; name it in one list only.`,
          [field, i],
        );
      }
      const input = inputOf.get(n);
      if (field === 'hash' && input !== undefined && dropped.has(input)) {
        throw new ValidationError(
          'CONFLICTING_FIELDS',
          `${JSON.stringify(clip(n, 60))} is hashed, but "drop" names its input ${JSON.stringify(clip(input, 60))}, which drops every feature; name one or the other.`,
          [field, i],
        );
      }
    });
  }
}

/** Whether a request is captured: `random()` in [0, 1) below the sampled share. */
export function sampled(settings: Pick<CaptureSettings, 'samplePercent'>, random: () => number): boolean {
  return settings.samplePercent >= 100 || random() * 100 < settings.samplePercent;
}

/** What one captured request is made of (the serving core fills it in; the text is built later). */
export interface CaptureSource {
  readonly requestId: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly functionVersion: string;
  /** ISO-8601 UTC. */
  readonly timestamp: string;
  readonly rows: number;
  readonly layout: RecordLayout;
  readonly feeds: TensorMap;
  readonly outputs: TensorMap;
  readonly settings: Pick<CaptureSettings, 'drop' | 'hash' | 'maxRecordBytes'>;
}

/** One column of `features`: the tensor and where its values sit. */
interface Column {
  readonly name: string;
  readonly tensor: TensorData;
  /** Elements per row, and this column's offset in a row. */
  readonly stride: number;
  readonly offset: number;
  readonly hashed: boolean;
}

/**
 * The record's JSON text (one line, without its line break), at most `maxRecordBytes` bytes of
 * UTF-8 (see the module's docstring). Never throws on data the model took or gave.
 */
export function captureRecordText(source: CaptureSource): string {
  const { layout, feeds, outputs, rows, settings } = source;
  const drop = new Set(settings.drop);
  const hash = new Set(settings.hash);
  const columns: Column[] = [];
  const tensors: [string, TensorData][] = [];
  const dropped: string[] = [];
  const hashed: string[] = [];
  if (layout.kind === 'columns') {
    const tensor = feeds[layout.input.name];
    // The input's own name stands for all of its features.
    const dropAll = drop.has(layout.input.name);
    const hashAll = hash.has(layout.input.name);
    if (tensor) {
      const width = layout.features.length;
      layout.features.forEach((feature, j) => {
        if (dropAll || drop.has(feature)) dropped.push(feature);
        else if (hashAll || hash.has(feature)) hashed.push(feature);
        if (!(dropAll || drop.has(feature)))
          columns.push({ name: feature, tensor, stride: width, offset: j, hashed: hashAll || hash.has(feature) });
      });
    }
  } else {
    for (const input of layout.inputs) {
      const tensor = feeds[input.name];
      if (!tensor) continue;
      if (drop.has(input.name)) {
        dropped.push(input.name);
        continue;
      }
      if (hash.has(input.name)) hashed.push(input.name);
      const single = tensor.shape[0] === rows && (tensor.shape.length === 1 || (tensor.shape.length === 2 && tensor.shape[1] === 1));
      if (single) columns.push({ name: input.name, tensor, stride: 1, offset: 0, hashed: hash.has(input.name) });
      else tensors.push([input.name, tensor]);
    }
  }
  const hashedTensors = new Set(tensors.filter(([n]) => hash.has(n)).map(([n]) => n));
  const head = `{"captureVersion":${CAPTURE_VERSION},"requestId":${JSON.stringify(source.requestId)},"model":${JSON.stringify(source.model)},"modelVersion":${JSON.stringify(source.modelVersion)},"functionVersion":${JSON.stringify(source.functionVersion)},"timestamp":${JSON.stringify(source.timestamp)},"rows":${rows}`;
  const outputList: [string, TensorData][] = [];
  for (const [n, t] of Object.entries(outputs)) {
    if (drop.has(n)) dropped.push(n);
    else {
      if (hash.has(n)) hashed.push(n);
      outputList.push([n, t]);
    }
  }
  const hashedOutputs = new Set(outputList.filter(([n]) => hash.has(n)).map(([n]) => n));
  const redaction =
    dropped.length + hashed.length > 0 ? `,"redaction":{"dropped":${JSON.stringify(dropped)},"hashed":${JSON.stringify(hashed)}}` : '';
  const build = (kept: number, withoutData: ReadonlySet<string>): string => {
    let text = `${head},"capturedRows":${kept},"truncated":${kept < rows || withoutData.size > 0}`;
    if (columns.length > 0) {
      text += ',"features":{';
      columns.forEach((c, i) => {
        text += `${i === 0 ? '' : ','}${JSON.stringify(c.name)}:[${columnText(c, kept)}]`;
      });
      text += '}';
    }
    if (tensors.length > 0) {
      text += ',"inputs":{';
      tensors.forEach(([n, t], i) => {
        text += `${i === 0 ? '' : ','}${JSON.stringify(n)}:${tensorText(t, rows, kept, withoutData.has(`in:${n}`), hashedTensors.has(n))}`;
      });
      text += '}';
    }
    text += ',"outputs":{';
    outputList.forEach(([n, t], i) => {
      text += `${i === 0 ? '' : ','}${JSON.stringify(n)}:${tensorText(t, rows, kept, withoutData.has(`out:${n}`), hashedOutputs.has(n))}`;
    });
    return `${text}}${redaction}}`;
  };
  const max = settings.maxRecordBytes;
  // Tensors without a row axis cannot be cut by rows: the largest go without data first.
  const unrowed = [
    ...tensors.filter(([, t]) => t.shape[0] !== rows).map(([n, t]) => [`in:${n}`, t] as const),
    ...outputList.filter(([, t]) => t.shape[0] !== rows).map(([n, t]) => [`out:${n}`, t] as const),
  ].sort((a, b) => b[1].data.length - a[1].data.length);
  const withoutData = new Set<string>();
  // A lower bound of the text's size (each element takes at least two characters, "0,"), so that
  // a record far over its bound is never written whole first: an image tensor's text can be tens of MB.
  const rowedElements =
    columns.length * rows + [...tensors, ...outputList].filter(([, t]) => t.shape[0] === rows).reduce((n, [, t]) => n + t.data.length, 0);
  let unrowedElements = unrowed.reduce((n, [, t]) => n + t.data.length, 0);
  for (const [key, t] of unrowed) {
    if (2 * (rowedElements + unrowedElements) <= max) break;
    withoutData.add(key);
    unrowedElements -= t.data.length;
  }
  let kept =
    2 * (rowedElements + unrowedElements) <= max || rowedElements === 0
      ? rows
      : Math.min(rows, Math.floor((rows * Math.max(0, max - 2 * unrowedElements)) / (2 * rowedElements)));
  let text = build(kept, withoutData);
  let bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= max) return text;
  for (const [key] of unrowed) {
    if (bytes <= max) break;
    if (withoutData.has(key)) continue;
    withoutData.add(key);
    text = build(kept, withoutData);
    bytes = Buffer.byteLength(text, 'utf8');
  }
  // Rows shrink in proportion to the excess, then one at a time (a few passes at most).
  while (bytes > max && kept > 0) {
    const guess = Math.floor((kept * max) / bytes);
    kept = guess < kept ? guess : kept - 1;
    text = build(kept, withoutData);
    bytes = Buffer.byteLength(text, 'utf8');
  }
  return text;
}

/** A feature column's first `kept` values, as JSON text without brackets. */
function columnText(column: Column, kept: number): string {
  const { tensor, stride, offset } = column;
  let text = '';
  for (let r = 0; r < kept; r++) {
    const index = r * stride + offset;
    const value = column.hashed ? hashText(tensor, index) : elementText(tensor, index);
    text += r === 0 ? value : `,${value}`;
  }
  return text;
}

/** `{"datatype","shape","data"}` of a tensor, cut to `kept` rows when its first axis is `rows`. */
function tensorText(tensor: TensorData, rows: number, kept: number, withoutData: boolean, hashed: boolean): string {
  const cut = tensor.shape.length > 0 && tensor.shape[0] === rows && kept < rows;
  const shape = cut ? [kept, ...tensor.shape.slice(1)] : [...tensor.shape];
  const head = `{"datatype":"${V2_DATATYPES[tensor.type]}","shape":[${shape.join(',')}]`;
  if (withoutData) return `${head}}`;
  let count = tensor.data.length;
  if (cut) count = rows === 0 ? 0 : (tensor.data.length / rows) * kept;
  if (!hashed) return `${head},"data":[${elementsText(tensor, 0, count)}]}`;
  let text = '';
  for (let i = 0; i < count; i++) text += i === 0 ? hashText(tensor, i) : `,${hashText(tensor, i)}`;
  return `${head},"data":[${text}]}`;
}

/** `"sha256:<hex>"` of an element's text: a string as it is, any other value as its JSON text. */
function hashText(tensor: TensorData, index: number): string {
  const text = tensor.type === 'string' ? (tensor.data[index] as string) : elementText(tensor, index);
  return `"sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}"`;
}

/** The UTC date partition (`yyyy-MM-dd`) of an ISO-8601 timestamp. */
export function captureDate(timestamp: string): string {
  return timestamp.slice(0, 10);
}

const DAY_MS = 86_400_000;

/**
 * The UTC days (`yyyy-MM-dd`, the date partitions) a window `[since, until)` of ISO-8601 UTC
 * timestamps touches, oldest first.
 */
export function utcDays(since: string, until: string): string[] {
  const days: string[] = [];
  const last = Date.parse(until) - 1;
  for (let day = Date.parse(`${since.slice(0, 10)}T00:00:00.000Z`); day <= last; day += DAY_MS)
    days.push(new Date(day).toISOString().slice(0, 10));
  return days;
}

/**
 * Where a model's captured records live: `capture/model=<m>/`, then `version=<v>/`, then
 * `date=<yyyy-MM-dd>/` (the Hive-style layout Amazon Data Firehose's dynamic partitioning writes
 * and Athena reads as partitions).
 */
export function capturePrefix(model: string, version?: string, date?: string): string {
  let prefix = `${CAPTURE_ROOT}model=${model}/`;
  if (version === undefined) return prefix;
  prefix += `version=${version}/`;
  return date === undefined ? prefix : `${prefix}date=${date}/`;
}

/** A captured tensor as read back from a record. */
export interface CapturedTensor {
  readonly datatype: string;
  readonly shape: readonly number[];
  /** Absent when the record was too large to keep it. */
  readonly data?: readonly unknown[];
}

/** A capture record as read back (see the module's docstring). */
export interface CaptureRecord {
  readonly captureVersion: 1;
  readonly requestId: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly functionVersion: string;
  readonly timestamp: string;
  readonly rows: number;
  readonly capturedRows: number;
  readonly truncated: boolean;
  readonly features?: Readonly<Record<string, readonly unknown[]>>;
  readonly inputs?: Readonly<Record<string, CapturedTensor>>;
  readonly outputs: Readonly<Record<string, CapturedTensor>>;
  readonly redaction?: { readonly dropped: readonly string[]; readonly hashed: readonly string[] };
}

const TensorRead = z.object({
  datatype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data: z.array(z.unknown()).optional(),
});
const RecordRead = z.object({
  captureVersion: z.literal(CAPTURE_VERSION),
  requestId: z.string(),
  model: z.string(),
  modelVersion: z.string(),
  functionVersion: z.string(),
  timestamp: z.string(),
  rows: z.number().int().nonnegative(),
  capturedRows: z.number().int().nonnegative(),
  truncated: z.boolean(),
  features: z.record(z.string(), z.array(z.unknown())).optional(),
  inputs: z.record(z.string(), TensorRead).optional(),
  outputs: z.record(z.string(), TensorRead),
  redaction: z.object({ dropped: z.array(z.string()), hashed: z.array(z.string()) }).optional(),
});

/**
 * The records of a JSON Lines text; a line that is not a capture record (cut short, written by
 * something else) is counted in `invalid`, never thrown.
 */
export function parseCaptureLines(text: string): { records: CaptureRecord[]; invalid: number } {
  const records: CaptureRecord[] = [];
  let invalid = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const record = captureRecordOf(JSON.parse(line));
      if (record) records.push(record);
      else invalid++;
    } catch {
      invalid++;
    }
  }
  return { records, invalid };
}

/** A JSON value already parsed (a replay's split reader parses its lines) as a capture record, or `undefined` when it is not one. */
export function captureRecordOf(value: unknown): CaptureRecord | undefined {
  const parsed = RecordRead.safeParse(value);
  return parsed.success ? (parsed.data as CaptureRecord) : undefined;
}
