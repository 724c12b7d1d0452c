/**
 * Structured logs, with Powertools for AWS Lambda's Logger: one JSON object per line (as
 * CloudWatch Logs Insights reads them), the level from the function's configuration (`LOG_LEVEL`;
 * Lambda's own log-level control, `AWS_LAMBDA_LOG_LEVEL`, wins when set), the X-Ray trace id
 * when there is one.
 *
 * Every line logged for a request carries the same request keys (`requestId`, `model`,
 * `modelVersion`, `functionVersion`, `caller`, `coldStart`): the HTTP edge builds one
 * {@link RequestLog} per request and the serving core logs through it. The keys travel with the
 * request instead of being set on the shared logger, because the local server runs many requests
 * of one function at once (where `appendKeys` would mix them up). Request data (bodies, features,
 * outputs) is logged at DEBUG only.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogFields, LogLevel, RequestLog } from '../core/observability.js';

export { LOG_LEVELS, type LogLevel } from '../core/observability.js';
export { describeError } from '../core/errors.js';

/** The `service` key of every line. */
export const SERVICE_NAME = 'onnx-serving';

export interface LoggerOptions {
  /** @default 'INFO' */
  readonly level?: LogLevel;
  /** Keys on every line of this logger, e.g. `{ function: 'predict', functionVersion: '7' }`. */
  readonly keys?: Readonly<Record<string, string>>;
}

/** A Powertools logger for one function (build it once, at module scope). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return new Logger({
    serviceName: SERVICE_NAME,
    logLevel: options.level ?? 'INFO',
    persistentKeys: { ...options.keys },
  });
}

/**
 * A request's log: every line carries `keys` (and whatever `set` adds later, such as the model
 * version once it is known).
 *
 * @example
 * const log = requestLog(logger, { requestId, caller, functionVersion, coldStart });
 * log.set({ model: 'iris', modelVersion: '3' });
 * log.info('model loaded', { loadMs: 41.2 });
 */
export function requestLog(logger: Logger, keys: LogFields): RequestLog {
  const current: Record<string, unknown> = { ...keys };
  const debug = debugEnabled(logger);
  return {
    set(more) {
      Object.assign(current, more);
    },
    debug: (message, fields) => logger.debug(message, { ...current, ...fields }),
    info: (message, fields) => logger.info(message, { ...current, ...fields }),
    warn: (message, fields) => logger.warn(message, { ...current, ...fields }),
    error: (message, fields) => logger.error(message, { ...current, ...fields }),
    isDebug: () => debug,
  };
}

/** Whether `logger` writes DEBUG lines, read once per logger (its level is set at cold start). */
const debugLevel = new WeakMap<Logger, boolean>();
function debugEnabled(logger: Logger): boolean {
  let debug = debugLevel.get(logger);
  if (debug === undefined) {
    debug = logger.getLevelName() === 'DEBUG';
    debugLevel.set(logger, debug);
  }
  return debug;
}

/** The logger of code that has no request (cold start, background work, the hooks). */
let processLogger: Logger | undefined;

/** One shared logger for lines outside a request; created on first use at INFO. */
export function sharedLogger(): Logger {
  processLogger ??= createLogger();
  return processLogger;
}

/** Sets the shared logger (a function's composition root does, with its configured level). */
export function setSharedLogger(logger: Logger): void {
  processLogger = logger;
}
