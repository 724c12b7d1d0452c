/**
 * Typed errors of the serving core. Each carries an HTTP status and a stable `code`; the HTTP
 * layer maps them to `{ "error": { code, message, path } }` in one place. Only errors below 500
 * expose their message to the caller.
 */

/** A JSON path into the request body, e.g. `["instances", 3, "sepal_length"]`. */
export type FieldPath = ReadonlyArray<string | number>;

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly path: FieldPath = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The caller sent something we cannot serve (400). */
export class ValidationError extends AppError {
  constructor(code: string, message: string, path: FieldPath = []) {
    super(400, code, message, path);
  }
}

export class NotFoundError extends AppError {
  constructor(code: string, message: string, path: FieldPath = []) {
    super(404, code, message, path);
  }
}

/** A conditional write lost a race, or the target is in a state that forbids the change (409). */
export class ConflictError extends AppError {
  constructor(code: string, message: string, path: FieldPath = []) {
    super(409, code, message, path);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(code: string, message: string, path: FieldPath = []) {
    super(413, code, message, path);
  }
}

/** Something on our side failed; the message is logged, never shown to the caller. */
export class InternalError extends AppError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(500, code, message, [], options);
  }
}

/**
 * A dependency on our side (the registry, say) cannot be reached right now (503); the caller may
 * retry. Like every 5xx, its message is logged, never shown.
 */
export class ServiceUnavailableError extends AppError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(503, code, message, [], options);
  }
}

/** `{ name, message, stack }` of an error, never the raw error (it may carry request data). */
export function describeError(error: unknown): { name: string; message: string; stack?: string } {
  if (typeof error === 'object' && error !== null) {
    const { name, message, stack } = error as { name?: unknown; message?: unknown; stack?: unknown };
    return {
      name: typeof name === 'string' ? name : 'Error',
      message: typeof message === 'string' ? message : '',
      ...(typeof stack === 'string' ? { stack } : {}),
    };
  }
  return { name: 'Error', message: String(error) };
}

/**
 * The first `max` characters of `text` (default 120), marked when cut: what an error message or
 * a log line may quote of what a caller sent, never more.
 */
export function clip(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** Renders a path the way the error body shows it: `instances[3].sepal_length`. */
export function formatPath(path: FieldPath): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
}
