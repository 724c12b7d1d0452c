/**
 * The functions' structured log, handed to a writer instead of the process's stdout and stderr:
 * how an in-process local stack (a test's) keeps its log lines to read and assert them, where
 * `npm start` prints them as Lambda does. Function code never imports this; on Lambda the
 * loggers come from `createLogger` (functions/shared/logger.ts) and write to the console.
 */
import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import { type LoggerOptions, SERVICE_NAME } from '../functions/shared/logger.js';

/** Where each log line goes: the JSON object as Powertools prints it, without its newline. */
export type LogLineWriter = (line: string) => void;

/**
 * A Powertools logger like `createLogger(options)` (same service name, level and keys, the same
 * JSON per line, errors with their stacks), whose lines go to `write`, ERROR and WARN included,
 * rather than to stdout and stderr.
 *
 * @example
 * const lines: string[] = [];
 * const logger = lineLogger({ level: 'INFO', keys: { function: 'predict' } }, (line) => lines.push(line));
 * logger.error('request failed', { code: 'INTERNAL' });
 * JSON.parse(lines[0]!); // { level: 'ERROR', message: 'request failed', function: 'predict', code: 'INTERNAL', ... }
 */
export function lineLogger(options: LoggerOptions, write: LogLineWriter): Logger {
  // A class per writer: Powertools prints the lines it held during construction from its own
  // constructor, before a subclass's fields exist, so the writer comes from the closure.
  class LineLogger extends Logger {
    protected override printLog(_level: number, log: LogItem): void {
      log.prepareForPrint();
      write(JSON.stringify(log.getAttributes(), this.getJsonReplacer()));
    }
  }
  return new LineLogger({ serviceName: SERVICE_NAME, logLevel: options.level ?? 'INFO', persistentKeys: { ...options.keys } });
}
