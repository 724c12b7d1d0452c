/**
 * The values of `modelctl`'s options and arguments, and how each is read. Every option that takes
 * a value and every argument is declared with a {@link ValueType}: a strict one (a number, a
 * version, one of a few choices, a URL) is read while commander parses the line, so a value of
 * another form is a usage error (exit 2, one line naming the option and the help to read) before
 * any file is read or any request sent; a free one (a name, a file, a time or an id the API
 * reads) is passed on as text and judged where it is used.
 *
 * Numbers are read as people write them: never `0x10`, ` 10`, `Infinity` or ``, which `Number`
 * would take. Each refusal is a {@link UsageError} that names the option, the value (at most 40
 * characters of it) and what would be right.
 */
import { type Argument, InvalidArgumentError, type Option } from 'commander';
import { VERSION_PATTERN } from '../../functions/core/names.js';
import { UsageError, shown } from './common.js';

/** What an option's or an argument's value is, and how it is read. */
export interface ValueType<T = unknown> {
  /** What the value is, in a word or two: `version`, `whole number`, `file`, `text`. */
  readonly kind: string;
  /**
   * `true`: the value must have its form (a word where a number, a version or a choice goes is
   * refused while the line is parsed, before any request); `false`: any text is taken.
   */
  readonly strict: boolean;
  /** The value as the command uses it; a malformed one throws a {@link UsageError} naming `name` (`--minutes`, `<version>`). */
  readonly parse: (value: string, name: string) => T;
}

/** A value read by `parse`, refused while the line is parsed. */
export function strict<T>(kind: string, parse: (value: string, name: string) => T): ValueType<T> {
  return { kind, strict: true, parse };
}

/** Text taken as it is; what it names is judged where it is used (the file system, the API). */
export function free(kind: string): ValueType<string> {
  return { kind, strict: false, parse: (value) => value };
}

/** A model name (the API judges it: 400 `INVALID_MODEL_NAME`). */
export const MODEL = free('model name');
/** Text kept as it is: a reason, a name for people, a header name, a client token. */
export const TEXT = free('text');
/** A local file to read or write. */
export const FILE = free('file');
/** A local folder. */
export const FOLDER = free('folder');
/** JSON given inline (the command parses it and says where it is not JSON). */
export const JSON_TEXT = free('JSON');
/** A time or a duration back from now (`10m`, `2026-11-30T12:00:00Z`): the API reads it (400 `INVALID_SINCE`, `INVALID_WINDOW`). */
export const TIME = free('time');
/** An id the API made (a job, an experiment, a shadow test, a request): the API judges it. */
export const ID = free('id');
/** Comma-separated names (features, models), read where they are used. */
export const NAMES = free('names');
/** A bearer token: the API judges it (401 `UNAUTHORIZED`). */
export const TOKEN = free('token');
/** Words of the command line itself (`modelctl help batch submit`). */
export const WORDS = free('words');

/** A decimal number as people write it (`10`, `-2.5`, `1e-3`). */
const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A number option or argument, or a usage error that names it. */
export function numberArg(value: string, name: string): number {
  const number = Number(value);
  if (!DECIMAL.test(value) || !Number.isFinite(number)) throw new UsageError(`${name} must be a number, not ${shown(value)}.`);
  return number;
}

/** A whole number from 1 (the API bounds it further, and says so). */
export function wholeArg(value: string, name: string): number {
  if (!/^[0-9]{1,9}$/.test(value) || Number(value) < 1) throw new UsageError(`${name} is a whole number from 1, not ${shown(value)}.`);
  return Number(value);
}

/** Seconds with at most 3 decimals, from `min`, as milliseconds. */
export function secondsArg(value: string, name: string, min: number): number {
  const number = /^[0-9]{1,7}(\.[0-9]{1,3})?$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= min)) throw new UsageError(`${name} is a number of seconds from ${min}, not ${shown(value)}.`);
  return number * 1_000;
}

/** A model version number as the API takes it (`functions/core/names.ts`): `3`, never `v3`, `03` or `latest`. */
export function versionArg(value: string, name: string): string {
  if (!VERSION_PATTERN.test(value))
    throw new UsageError(`${name} is a version number such as "3" (a whole number from 1, at most 10 digits), not ${shown(value)}.`);
  return value;
}

/** Any decimal number. */
export const NUMBER = strict('number', numberArg);
/** A whole number from 1. */
export const WHOLE = strict('whole number', wholeArg);
/** A model version number. */
export const VERSION = strict('version', versionArg);

/** Seconds from `min` (with at most 3 decimals), read as milliseconds. */
export function seconds(min: number): ValueType<number> {
  return strict('seconds', (value, name) => secondsArg(value, name, min));
}

/**
 * One of `choices`; `upperCase`: given in any case, read in upper case (`--state succeeded`).
 * `describe` gives the refusal's wording when the choices need explaining.
 */
export function choice<T extends string>(
  choices: readonly T[],
  options: { readonly upperCase?: boolean; readonly describe?: (name: string, value: string) => string } = {},
): ValueType<T> {
  return strict('choice', (value, name) => {
    const read = options.upperCase ? value.toUpperCase() : value;
    if (!(choices as readonly string[]).includes(read))
      throw new UsageError(options.describe?.(name, value) ?? `${name} is one of ${choices.join(', ')}, not ${shown(value)}.`);
    return read as T;
  });
}

/**
 * A comma-separated list option (`--drop a,b`), names trimmed. An empty name (`--drop ''`,
 * `--drop a,,b`, `--hash ' '`) or a name given twice is a usage error naming the option: an empty
 * shell variable must not silently mean "none" (no redaction, every version).
 */
export function listArg(value: string, option: string): string[] {
  const names = value.split(',').map((name) => name.trim());
  if (names.some((name) => name === '')) {
    const why = names.every((name) => name === '') ? 'it names nothing (leave the option out to name none)' : 'a name in it is empty';
    throw new UsageError(`${option} is a comma-separated list of names, not ${shown(value)}: ${why}.`);
  }
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new UsageError(`${option} names ${shown(twice)} twice.`);
  return names;
}

/** A comma-separated list of version numbers (`1,2`). */
export const VERSIONS = strict('versions', (value, name) => {
  const versions = listArg(value, name);
  const bad = versions.find((version) => !VERSION_PATTERN.test(version));
  if (bad !== undefined)
    throw new UsageError(`${name} is a comma-separated list of version numbers such as "1,2", not ${shown(value)} (${shown(bad)}).`);
  return versions;
});

/** An S3 URI option; the API judges the rest (its form, and whether the model may use it). */
export function s3Arg(value: string, name: string): string {
  if (!value.startsWith('s3://')) throw new UsageError(`${name} is an S3 URI (s3://BUCKET/KEY), not ${shown(value)}.`);
  return value;
}

/** An S3 URI. */
export const S3_URI = strict('S3 URI', s3Arg);

/** Output formats of `-o`: `text` (tables and lines, the default) or `json` (the API's JSON). */
export const OUTPUT_FORMATS = ['text', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** `-o FORMAT`, checked while parsing (commander's refusal names the option and the value; this names the choices). */
export function outputFormatArg(value: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`It is ${OUTPUT_FORMATS.join(' or ')} (json: the API's JSON, for scripts).`);
  return value as OutputFormat;
}

/** `-o`'s value: text or json. */
export const OUTPUT_FORMAT = strict('choice', outputFormatArg);

/** The value type each option and argument was declared with (`option`, `command` in `command.ts`). */
const VALUE_TYPES = new WeakMap<Option | Argument, ValueType>();

/** Records what `target` takes. */
export function declareValue(target: Option | Argument, type: ValueType): void {
  VALUE_TYPES.set(target, type);
}

/** What an option or argument was declared to take; `undefined` when it was declared without a type. */
export function valueTypeOf(target: Option | Argument): ValueType | undefined {
  return VALUE_TYPES.get(target);
}
