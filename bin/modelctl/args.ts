/**
 * Option values read strictly: numbers as people write them (never `0x10`, ` 10`, `Infinity`
 * or ``, which `Number` would take), whole numbers, seconds, lists of names, S3 URIs. Each
 * refusal is a {@link UsageError} that names the option, the value and what would be right.
 */
import { InvalidArgumentError } from 'commander';
import { UsageError, shown } from './common.js';

/** A decimal number as people write it (`10`, `-2.5`, `1e-3`). */
const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A number option or argument, or a usage error that names it. */
export function numberArg(value: string, name: string): number {
  const number = Number(value);
  if (!DECIMAL.test(value) || !Number.isFinite(number)) throw new UsageError(`${name} must be a number, not "${value}".`);
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

/** An S3 URI option; the API judges the rest (its form, and whether the model may use it). */
export function s3Arg(value: string, name: string): string {
  if (!value.startsWith('s3://')) throw new UsageError(`${name} is an S3 URI (s3://BUCKET/KEY), not ${shown(value)}.`);
  return value;
}

/** Commander's collector for an option given more than once (`--variant a --variant b`): every value, in order. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Output formats of `-o`: `text` (tables and lines, the default) or `json` (the API's JSON). */
export const OUTPUT_FORMATS = ['text', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** `-o FORMAT`, checked while parsing (the error names the choices). */
export function outputFormatArg(value: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`It is ${OUTPUT_FORMATS.join(' or ')} (json: the API's JSON, for scripts).`);
  return value as OutputFormat;
}
