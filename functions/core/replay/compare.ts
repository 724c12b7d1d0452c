/**
 * Replay comparisons (issue 13, item 5): what a captured request's outputs and the target
 * version's outputs for the same inputs have in common, one request at a time, and the agreement
 * report that sums them up. Pure: no I/O.
 *
 * ## One request ({@link compareRequest})
 *
 * Outputs are matched by name. For each output present on both sides with the same row count and
 * as many elements:
 * - **numeric** (every float and integer datatype, on both sides): the largest and the mean
 *   absolute difference `|source − target|` over the elements where both are finite, computed in
 *   double precision on the values each side holds (a captured float32 is read back as the
 *   float32 its shortest digits name, so a replay of the same version on the same inputs gives
 *   exactly 0); both NaN, or the same infinity, count as equal; where one side is not finite and
 *   the other differs, the element counts in `nonFinite`, not in the differences. `differing`
 *   counts the elements that are not equal.
 * - **exact** (strings, booleans): `differing` counts the elements that are not equal.
 * An output found on one side only, whose data the capture record dropped (too large for its
 * bound), whose shapes differ, or whose kinds differ (a number on one side, a string on the
 * other) is named in `notCompared` with the reason.
 *
 * For a classifier (on both sides, each version's own `ClassifierView`), each row's label is the
 * one the record forms answer (`predictionColumns` of `functions/core/drift/predictions.ts`: the
 * argmax's class label), and `labelsIdentical[r]` says whether the two agree.
 *
 * ## The report ({@link ReplayReportBuilder})
 *
 * Over every compared request: rows compared, the share of rows whose labels are identical, per
 * output the largest absolute difference and the mean over all its compared elements, the
 * {@link MOST_DIFFERENT} requests that differ most (largest absolute difference first, then most
 * differing labels, then most differing elements; requests that do not differ at all are not
 * listed), and the requests that could not be replayed, counted by their error code.
 */
import type { TensorData, TensorMap } from '../tensor.js';
import type { ClassifierView } from '../codec/encode.js';
import { V2_DATATYPES } from '../codec/decode.js';
import { float16BitsToNumber, nonFiniteFromJson, numberToFloat16Bits } from '../codec/numbers.js';
import type { CapturedTensor } from '../capture.js';
import { LABEL_COLUMN, predictionColumns, type CapturedTensorLike } from '../drift/predictions.js';

/** Requests the report lists as differing most. */
export const MOST_DIFFERENT = 10;

/** Why an output was not compared. */
export type NotComparedReason =
  | 'source-only'
  | 'target-only'
  | 'not-captured'
  | 'redacted'
  | 'shape-mismatch'
  | 'type-mismatch'
  | 'not-per-row';

/** One output of one request, compared. */
export interface OutputComparison {
  readonly kind: 'numeric' | 'exact';
  /** Elements compared (the rows' elements of the output). */
  readonly elements: number;
  /** Elements that are not equal. */
  readonly differing: number;
  /** Numeric only: the largest `|source − target|` over the elements finite on both sides (0 when none). */
  readonly maxAbsDiff?: number;
  /** Numeric only: the mean of `|source − target|` over those elements (0 when none). */
  readonly meanAbsDiff?: number;
  /** Numeric only: elements where one side is NaN or infinite and the other differs. */
  readonly nonFinite?: number;
}

/** One replayed request, compared: a line of `comparisons.jsonl` (with the job's `row`). */
export interface RequestComparison {
  readonly requestId: string;
  /** The version that answered the captured request. */
  readonly sourceVersion: string;
  /** When it was captured (ISO-8601 UTC). */
  readonly timestamp: string;
  /** Rows compared: the record's captured rows. */
  readonly rows: number;
  /** The record kept fewer rows than the request carried (its size bound): only those were replayed. */
  readonly truncated: boolean;
  /** The largest absolute difference over every numeric output compared (0 when none). */
  readonly maxAbsDiff: number;
  /** Classifiers only: rows whose labels differ. */
  readonly differingLabels?: number;
  /** Classifiers only: per row, whether the source's and the target's labels are the same. */
  readonly labelsIdentical?: readonly boolean[];
  /** Classifiers only: the rows whose labels differ, with both labels (`null`: every probability NaN). */
  readonly labelChanges?: readonly { readonly row: number; readonly source: string | null; readonly target: string | null }[];
  readonly outputs: Readonly<Record<string, OutputComparison>>;
  /** Outputs not compared, and why. */
  readonly notCompared?: Readonly<Record<string, NotComparedReason>>;
}

/** The classifier views of both sides (absent: that side is not a classifier). */
export interface ClassifierViews {
  readonly source?: ClassifierView;
  readonly target?: ClassifierView;
}

/** Identifies the request being compared. */
export interface ComparedRequest {
  readonly requestId: string;
  readonly modelVersion: string;
  readonly timestamp: string;
  /** Rows the request carried. */
  readonly rows: number;
  /** Rows the record kept (and that were replayed). */
  readonly capturedRows: number;
  /** The captured outputs (cut to `capturedRows` rows). */
  readonly outputs: Readonly<Record<string, CapturedTensor>>;
  /** What capture dropped or hashed: such outputs are not compared (`redacted`), digests never read as values. */
  readonly redaction?: { readonly dropped: readonly string[]; readonly hashed: readonly string[] };
}

const FLOAT_DATATYPES = new Set(['FP16', 'FP32', 'FP64']);
const INTEGER_DATATYPES = new Set(['INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']);

/** How one side's elements are read: as numbers, or as exact values (strings, booleans). */
type Reader =
  | { readonly kind: 'numeric'; readonly count: number; readonly at: (i: number) => number }
  | {
      readonly kind: 'exact';
      readonly what: 'string' | 'bool';
      readonly count: number;
      readonly at: (i: number) => string | boolean | null;
    };

/**
 * Compares one captured request with the target's outputs for its replayed rows (see the module
 * docstring).
 *
 * @param captured the record's identity and outputs.
 * @param target the target's output tensors for this request's rows only (first axis
 *   `captured.capturedRows` for per-row outputs).
 * @param views each side's classifier view, when it is a classifier.
 */
export function compareRequest(captured: ComparedRequest, target: TensorMap, views: ClassifierViews = {}): RequestComparison {
  const rows = captured.capturedRows;
  const outputs: Record<string, OutputComparison> = {};
  const notCompared: Record<string, NotComparedReason> = {};
  // Outputs capture dropped or hashed hold no value to compare with.
  const redacted = new Set([...(captured.redaction?.dropped ?? []), ...(captured.redaction?.hashed ?? [])]);
  const sourceOutputs: Record<string, CapturedTensor> = {};
  for (const [name, tensor] of Object.entries(captured.outputs)) if (!redacted.has(name)) sourceOutputs[name] = tensor;
  for (const name of Object.keys(target)) if (redacted.has(name)) notCompared[name] = 'redacted';
  let maxAbsDiff = 0;
  for (const [name, source] of Object.entries(sourceOutputs)) {
    const mine = Object.hasOwn(target, name) ? target[name] : undefined;
    if (!mine) {
      notCompared[name] = 'source-only';
      continue;
    }
    const result = compareOutput(source, mine, rows);
    if (typeof result === 'string') {
      notCompared[name] = result;
      continue;
    }
    outputs[name] = result;
    if (result.maxAbsDiff !== undefined && result.maxAbsDiff > maxAbsDiff) maxAbsDiff = result.maxAbsDiff;
  }
  for (const name of Object.keys(target)) if (!Object.hasOwn(sourceOutputs, name) && !redacted.has(name)) notCompared[name] = 'target-only';

  const labels = compareLabels(sourceOutputs, target, rows, views);
  return {
    requestId: captured.requestId,
    sourceVersion: captured.modelVersion,
    timestamp: captured.timestamp,
    rows,
    truncated: rows < captured.rows,
    maxAbsDiff,
    ...(labels ?? {}),
    outputs: Object.fromEntries(Object.entries(outputs)),
    ...(Object.keys(notCompared).length > 0 ? { notCompared: Object.fromEntries(Object.entries(notCompared)) } : {}),
  };
}

/** One output: its comparison, or why there is none. */
export function compareOutput(source: CapturedTensor, target: TensorData, rows: number): OutputComparison | NotComparedReason {
  if (!Array.isArray(source.data)) return 'not-captured';
  if (source.shape[0] !== rows || target.shape[0] !== rows) return 'not-per-row';
  const left = capturedReader(source);
  const right = runtimeReader(target);
  if (!left || left.count !== source.data.length) return 'shape-mismatch';
  if (left.count !== right.count || !sameRowShape(source.shape, target.shape)) return 'shape-mismatch';
  if (left.kind === 'numeric' && right.kind === 'numeric') return compareNumbers(left.at, right.at, left.count);
  if (left.kind === 'exact' && right.kind === 'exact' && left.what === right.what) {
    let differing = 0;
    for (let i = 0; i < left.count; i++) if (left.at(i) !== right.at(i)) differing++;
    return { kind: 'exact', elements: left.count, differing };
  }
  return 'type-mismatch';
}

/** The numeric comparison of `count` elements (see the module docstring). */
export function compareNumbers(source: (i: number) => number, target: (i: number) => number, count: number): OutputComparison {
  let max = 0;
  let sum = 0;
  let finite = 0;
  let nonFinite = 0;
  let differing = 0;
  for (let i = 0; i < count; i++) {
    const a = source(i);
    const b = target(i);
    if (Number.isFinite(a) && Number.isFinite(b)) {
      const d = Math.abs(a - b);
      finite++;
      sum += d;
      if (d > max) max = d;
      if (d !== 0) differing++;
    } else if (!(a === b || (a !== a && b !== b))) {
      nonFinite++;
      differing++;
    }
  }
  return {
    kind: 'numeric',
    elements: count,
    differing,
    maxAbsDiff: max,
    meanAbsDiff: finite === 0 ? 0 : sum / finite,
    ...(nonFinite > 0 ? { nonFinite } : {}),
  };
}

/** Same per-row shape, once axes of size 1 are left out (`[N, 1]` and `[N]` hold the same rows). */
function sameRowShape(a: readonly number[], b: readonly number[]): boolean {
  const rest = (shape: readonly number[]) =>
    shape
      .slice(1)
      .filter((d) => d !== 1)
      .join(',');
  return rest(a) === rest(b);
}

/** The labels of both sides per row, when both are classifiers whose outputs fit their views. */
function compareLabels(
  captured: Readonly<Record<string, CapturedTensor>>,
  target: TensorMap,
  rows: number,
  views: ClassifierViews,
): Pick<RequestComparison, 'differingLabels' | 'labelsIdentical' | 'labelChanges'> | undefined {
  if (!views.source || !views.target) return undefined;
  const probabilities = captured[views.source.probabilities];
  if (!probabilities || !Array.isArray(probabilities.data) || !Object.hasOwn(target, views.target.probabilities)) return undefined;
  const sourceTensor: CapturedTensorLike = { datatype: probabilities.datatype, shape: probabilities.shape, data: probabilities.data };
  const source = predictionColumns({ [views.source.probabilities]: sourceTensor }, rows, views.source)[LABEL_COLUMN];
  const mine = predictionColumns({ [views.target.probabilities]: target[views.target.probabilities] as TensorData }, rows, views.target)[
    LABEL_COLUMN
  ];
  if (!source || !mine) return undefined;
  const labelsIdentical: boolean[] = [];
  const labelChanges: { row: number; source: string | null; target: string | null }[] = [];
  for (let r = 0; r < rows; r++) {
    const a = labelOf(source[r]);
    const b = labelOf(mine[r]);
    labelsIdentical.push(a === b);
    if (a !== b) labelChanges.push({ row: r, source: a, target: b });
  }
  return { differingLabels: labelChanges.length, labelsIdentical, ...(labelChanges.length > 0 ? { labelChanges } : {}) };
}

function labelOf(value: unknown): string | null {
  return typeof value === 'string' ? value : value === null || value === undefined ? null : String(value);
}

/** A captured tensor's elements: floats rounded to their type, non-finite strings and 64-bit decimal strings read. */
function capturedReader(tensor: CapturedTensor): Reader | undefined {
  const data = tensor.data as readonly unknown[];
  const count = tensor.shape.reduce((n, d) => n * d, 1);
  const { datatype } = tensor;
  if (FLOAT_DATATYPES.has(datatype)) {
    const round =
      datatype === 'FP32'
        ? Math.fround
        : datatype === 'FP16'
          ? (v: number) => float16BitsToNumber(numberToFloat16Bits(v))
          : (v: number) => v;
    return {
      kind: 'numeric',
      count,
      at: (i) => {
        const v = data[i];
        return typeof v === 'number' ? round(v) : (nonFiniteFromJson(v) ?? Number.NaN);
      },
    };
  }
  if (INTEGER_DATATYPES.has(datatype)) {
    return {
      kind: 'numeric',
      count,
      at: (i) => {
        const v = data[i];
        return typeof v === 'number' ? v : typeof v === 'string' && /^-?\d{1,20}$/.test(v) ? Number(v) : Number.NaN;
      },
    };
  }
  if (datatype === V2_DATATYPES.string)
    return { kind: 'exact', what: 'string', count, at: (i) => (typeof data[i] === 'string' ? (data[i] as string) : null) };
  if (datatype === V2_DATATYPES.bool) {
    return {
      kind: 'exact',
      what: 'bool',
      count,
      at: (i) => (typeof data[i] === 'boolean' ? (data[i] as boolean) : data[i] === 1 ? true : data[i] === 0 ? false : null),
    };
  }
  return undefined;
}

/** ONNX Runtime's elements: float16 bit patterns decoded, 64-bit integers as doubles. */
function runtimeReader(tensor: TensorData): Reader {
  const count = tensor.data.length;
  if (tensor.type === 'string') {
    const data = tensor.data;
    return { kind: 'exact', what: 'string', count, at: (i) => data[i] as string };
  }
  if (tensor.type === 'bool') {
    const data = tensor.data;
    return { kind: 'exact', what: 'bool', count, at: (i) => data[i] !== 0 };
  }
  if (tensor.type === 'float16') {
    const data = tensor.data;
    return { kind: 'numeric', count, at: (i) => float16BitsToNumber(data[i] as number) };
  }
  const data = tensor.data as ArrayLike<number | bigint>;
  return { kind: 'numeric', count, at: (i) => Number(data[i]) };
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

/** One output over the whole replay. */
export interface OutputAgreement {
  readonly kind: 'numeric' | 'exact';
  /** Requests whose output was compared. */
  readonly requests: number;
  readonly elements: number;
  readonly differing: number;
  /** Numeric: the largest absolute difference of any element. */
  readonly maxAbsDiff?: number;
  /** Numeric: the mean absolute difference over every element finite on both sides. */
  readonly meanAbsDiff?: number;
  /** Numeric: elements where one side is not finite and the other differs. */
  readonly nonFinite?: number;
}

/** A request the report lists among those that differ most. */
export interface DifferingRequest {
  /** Its line in `comparisons.jsonl`: the job's row number. */
  readonly row: number;
  readonly requestId: string;
  readonly sourceVersion: string;
  readonly timestamp: string;
  readonly maxAbsDiff: number;
  readonly differingLabels: number;
  /** Differing elements over every output compared. */
  readonly differingElements: number;
}

/** `replay.json`: the agreement of a replay (see the module docstring and README "Replay"). */
export interface ReplayReport {
  readonly reportVersion: 1;
  readonly jobId: string;
  readonly model: string;
  readonly targetVersion: string;
  readonly sourceVersions: readonly string[];
  readonly window: { readonly since: string; readonly until: string };
  /** What the plan found in the capture files. */
  readonly capture: {
    readonly inWindow: number;
    readonly replayed: number;
    readonly maxRequests: number;
    /** The window held more requests than `maxRequests`: the newest were replayed. */
    readonly capped: boolean;
    readonly outsideWindow: number;
    readonly unreadableLines: number;
  };
  /** Requests of the job: compared ones and ones that could not be replayed. */
  readonly requests: number;
  readonly compared: number;
  readonly rowsCompared: number;
  /** Compared requests whose records kept fewer rows than they carried. */
  readonly truncatedRequests: number;
  /** Classifiers: rows whose labels were compared, identical ones, and their share (`null` with no rows). */
  readonly labels?: { readonly rows: number; readonly identical: number; readonly share: number | null };
  /** Largest absolute difference of any numeric output of any request. */
  readonly maxAbsDiff: number;
  readonly outputs: Readonly<Record<string, OutputAgreement>>;
  /** Outputs not compared, by name and reason: how many requests. */
  readonly outputsNotCompared: Readonly<Record<string, Readonly<Partial<Record<NotComparedReason, number>>>>>;
  readonly mostDifferent: readonly DifferingRequest[];
  readonly notReplayable: { readonly total: number; readonly byCode: Readonly<Record<string, number>> };
}

/** What the report says besides the sums (the job and the plan). */
export type ReportContext = Pick<ReplayReport, 'jobId' | 'model' | 'targetVersion' | 'sourceVersions' | 'window' | 'capture'>;

interface OutputSums {
  kind: 'numeric' | 'exact';
  requests: number;
  elements: number;
  differing: number;
  max: number;
  /** Sum of absolute differences, and the elements it is over. */
  sum: number;
  finite: number;
  nonFinite: number;
}

/**
 * Sums comparison lines and error lines into a {@link ReplayReport}, in one pass and bounded
 * memory (the {@link MOST_DIFFERENT} requests kept, not every line).
 *
 * @example
 * const builder = new ReplayReportBuilder();
 * for (const line of comparisons) builder.compared(line);
 * for (const error of errors) builder.notReplayable(error.code);
 * const report = builder.report(context);
 */
export class ReplayReportBuilder {
  private compared_ = 0;
  private rows = 0;
  private truncated = 0;
  private labelRows = 0;
  private identical = 0;
  private labelled = false;
  private max = 0;
  private readonly outputs = new Map<string, OutputSums>();
  private readonly notCompared = new Map<string, Partial<Record<NotComparedReason, number>>>();
  private readonly top: DifferingRequest[] = [];
  private readonly codes = new Map<string, number>();
  private failed = 0;

  /** Adds a compared request (a line of `comparisons.jsonl`). */
  compared(line: RequestComparison & { readonly row: number }): void {
    this.compared_++;
    this.rows += line.rows;
    if (line.truncated) this.truncated++;
    if (line.labelsIdentical) {
      this.labelled = true;
      this.labelRows += line.labelsIdentical.length;
      for (const same of line.labelsIdentical) if (same) this.identical++;
    }
    if (line.maxAbsDiff > this.max) this.max = line.maxAbsDiff;
    let differingElements = 0;
    for (const [name, output] of Object.entries(line.outputs)) {
      let sums = this.outputs.get(name);
      if (!sums)
        this.outputs.set(
          name,
          (sums = { kind: output.kind, requests: 0, elements: 0, differing: 0, max: 0, sum: 0, finite: 0, nonFinite: 0 }),
        );
      if (sums.kind !== output.kind) {
        this.countNotCompared(name, 'type-mismatch');
        continue;
      }
      sums.requests++;
      sums.elements += output.elements;
      sums.differing += output.differing;
      differingElements += output.differing;
      if (output.kind === 'numeric') {
        const finite = output.elements - (output.nonFinite ?? 0);
        sums.max = Math.max(sums.max, output.maxAbsDiff ?? 0);
        sums.sum += (output.meanAbsDiff ?? 0) * finite;
        sums.finite += finite;
        sums.nonFinite += output.nonFinite ?? 0;
      }
    }
    for (const [name, reason] of Object.entries(line.notCompared ?? {})) this.countNotCompared(name, reason);
    const differingLabels = line.differingLabels ?? 0;
    if (line.maxAbsDiff > 0 || differingLabels > 0 || differingElements > 0) {
      this.keep({
        row: line.row,
        requestId: line.requestId,
        sourceVersion: line.sourceVersion,
        timestamp: line.timestamp,
        maxAbsDiff: line.maxAbsDiff,
        differingLabels,
        differingElements,
      });
    }
  }

  /** Adds a request that could not be replayed (a line of `errors.jsonl`), by its code. */
  notReplayable(code: string): void {
    this.failed++;
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
  }

  report(context: ReportContext): ReplayReport {
    const outputs: Record<string, OutputAgreement> = {};
    for (const [name, s] of [...this.outputs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      outputs[name] =
        s.kind === 'numeric'
          ? {
              kind: 'numeric',
              requests: s.requests,
              elements: s.elements,
              differing: s.differing,
              maxAbsDiff: s.max,
              meanAbsDiff: s.finite === 0 ? 0 : s.sum / s.finite,
              ...(s.nonFinite > 0 ? { nonFinite: s.nonFinite } : {}),
            }
          : { kind: 'exact', requests: s.requests, elements: s.elements, differing: s.differing };
    }
    return {
      reportVersion: 1,
      ...context,
      requests: this.compared_ + this.failed,
      compared: this.compared_,
      rowsCompared: this.rows,
      truncatedRequests: this.truncated,
      ...(this.labelled
        ? {
            labels: {
              rows: this.labelRows,
              identical: this.identical,
              share: this.labelRows === 0 ? null : this.identical / this.labelRows,
            },
          }
        : {}),
      maxAbsDiff: this.max,
      outputs,
      outputsNotCompared: Object.fromEntries([...this.notCompared].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      mostDifferent: [...this.top],
      notReplayable: { total: this.failed, byCode: Object.fromEntries([...this.codes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) },
    };
  }

  private countNotCompared(name: string, reason: NotComparedReason): void {
    let reasons = this.notCompared.get(name);
    if (!reasons) this.notCompared.set(name, (reasons = {}));
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  }

  /** Keeps the request when it is among the {@link MOST_DIFFERENT} that differ most so far. */
  private keep(request: DifferingRequest): void {
    const top = this.top;
    let at = top.length;
    while (at > 0 && differsMore(request, top[at - 1] as DifferingRequest)) at--;
    if (at >= MOST_DIFFERENT) return;
    top.splice(at, 0, request);
    if (top.length > MOST_DIFFERENT) top.pop();
  }
}

/** Largest absolute difference first, then most differing labels, then most differing elements; then the earlier row. */
function differsMore(a: DifferingRequest, b: DifferingRequest): boolean {
  if (a.maxAbsDiff !== b.maxAbsDiff) return a.maxAbsDiff > b.maxAbsDiff;
  if (a.differingLabels !== b.differingLabels) return a.differingLabels > b.differingLabels;
  if (a.differingElements !== b.differingElements) return a.differingElements > b.differingElements;
  return a.row < b.row;
}
