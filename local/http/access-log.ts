/**
 * The local API's access log: one line per request once it is answered (method, route template,
 * status, time, and what the endpoint function observed: model version, rows, error code),
 * written in batches so that under load one write carries many lines.
 */
import type http from 'node:http';
import { clip } from '../../functions/core/errors.js';
import type { RequestObservation } from '../../functions/core/observability.js';

/** What the endpoint functions observed of a request, by the request id the server gave it (`LocalObservations`). */
export interface ObservationSource {
  take(requestId: string): Pick<RequestObservation, 'model' | 'modelVersion' | 'rows' | 'errorCode' | 'cache'> | undefined;
}

/** What the access log needs to know of a request, filled in as it is served. */
export interface Trace {
  /** Arrival, on the server's monotonic clock (`LocalServerOptions.elapsed`), ms. */
  readonly started: number;
  /** The request id: in every error body the server answers itself, and the function's event. */
  readonly id: string;
  /** The route template it matched. */
  route?: string;
  /** The request id put in the function's event. */
  requestId?: string;
}

/** The fields of one access log line. */
export interface AccessLogEntry {
  readonly method: string;
  /** The route template (`/v1/models/{model}/predict`), or the path when no route matched. */
  readonly route: string;
  readonly status: number;
  /** Arrival to answer, ms. */
  readonly ms: number;
  readonly model?: string;
  readonly modelVersion?: string;
  readonly rows?: number;
  readonly errorCode?: string;
  /** For a version with a prediction cache: whether the answer came from it. */
  readonly cache?: 'hit' | 'miss';
}

/**
 * One access log line: method, route template (or the path when none matched), status, time,
 * and, when the function observed them, `model@version`, `rows=N`, `cache=hit|miss` and the error code.
 *
 * @example
 * accessLogLine({ method: 'POST', route: '/v1/models/{model}/predict', status: 200, ms: 2.41, model: 'iris', modelVersion: '1', rows: 2 });
 * // 'POST /v1/models/{model}/predict 200 2.4ms iris@1 rows=2'
 */
export function accessLogLine(entry: AccessLogEntry): string {
  const parts = [entry.method, entry.route, String(entry.status), `${entry.ms.toFixed(1)}ms`];
  if (entry.model !== undefined) parts.push(entry.modelVersion === undefined ? entry.model : `${entry.model}@${entry.modelVersion}`);
  if (entry.rows !== undefined && entry.rows > 0) parts.push(`rows=${entry.rows}`);
  if (entry.cache !== undefined) parts.push(`cache=${entry.cache}`);
  if (entry.errorCode !== undefined) parts.push(`error=${entry.errorCode}`);
  return parts.join(' ');
}

/** Where lines go: each one pushed, and whatever is held back written out by `flush`. */
export interface LineSink {
  push(line: string): void;
  flush(): void;
}

/**
 * Lines gathered and written together, at most `delayMs` after the first of them: under load one
 * write carries the lines of many requests (a write to a pipe is a blocking system call on
 * Linux), while a person at the terminal still sees each line at once.
 */
export class BufferedLines implements LineSink {
  private lines: string[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly write: (text: string) => void,
    private readonly delayMs = 20,
  ) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
    this.timer.unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.lines.length === 0) return;
    const text = `${this.lines.join('\n')}\n`;
    this.lines = [];
    this.write(text);
  }
}

/**
 * The sink of `LocalServerOptions.accessLog`: undefined when it is `false` (the log is off), each
 * line straight to the writer given, or by default {@link BufferedLines} on stdout.
 */
export function accessLogSink(writer: ((line: string) => void) | false | undefined): LineSink | undefined {
  if (writer === false) return undefined;
  return writer ? { push: writer, flush: () => undefined } : new BufferedLines((text) => process.stdout.write(text));
}

/**
 * Pushes the line of an answered request to `sink` (none when the log is off), with what the
 * function observed; `elapsed` is the clock `trace.started` was read from.
 */
export function logAccess(
  sink: LineSink | undefined,
  observations: ObservationSource | undefined,
  elapsed: () => number,
  request: http.IncomingMessage,
  response: http.ServerResponse,
  trace: Trace,
): void {
  // Taken even when the log is off, so the observations never pile up.
  const observed = trace.requestId === undefined ? undefined : observations?.take(trace.requestId);
  if (!sink) return;
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  const line = accessLogLine({
    method: request.method ?? 'GET',
    route: trace.route ?? clip(path),
    status: response.statusCode,
    ms: elapsed() - trace.started,
    ...(observed ? { model: observed.model, rows: observed.rows } : {}),
    ...(observed?.modelVersion !== undefined ? { modelVersion: observed.modelVersion } : {}),
    ...(observed?.errorCode !== undefined ? { errorCode: observed.errorCode } : {}),
    ...(observed?.cache !== undefined ? { cache: observed.cache } : {}),
  });
  sink.push(line);
}
