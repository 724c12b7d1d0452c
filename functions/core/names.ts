/**
 * The registry's rules for the names a caller writes into a path: model names and version
 * numbers. The HTTP edge checks every `{model}` and `{version}` path parameter with these before
 * any handler code runs (`functions/shared/http.ts`), so no route reaches DynamoDB, S3 or the
 * runtime with a name they would refuse (a 2,043-character model name is a 400, not DynamoDB's
 * "key too long" as a 500).
 */
import { randomBytes } from 'node:crypto';
import { clip, ValidationError } from './errors.js';
import { MODEL_NAME_PATTERN } from './model.js';

/**
 * Digits of the largest version number: the registry's sort key zero-pads a version to 10
 * digits (`VERSION_DIGITS` in `functions/adapters/tables.ts`; a test keeps the two equal).
 */
export const MAX_VERSION_DIGITS = 10;

/** A version number: a whole number from 1 up, no leading zero, sign, point or exponent, at most 10 digits. */
export const VERSION_PATTERN = new RegExp(`^[1-9][0-9]{0,${MAX_VERSION_DIGITS - 1}}$`);

/** How much of a refused name an error message quotes. */
const EXCERPT_CHARS = 64;

const MODEL_NAME_RULE = 'use 1-63 lower-case letters, digits, "-" or "_", starting with a letter or digit';
const VERSION_RULE = `a version is a whole number from 1 up with at most ${MAX_VERSION_DIGITS} digits, e.g. "3"`;

/**
 * The model name a path gave, checked: 400 `INVALID_MODEL_NAME` (path `model`) when it breaks
 * `MODEL_NAME_PATTERN`; the message quotes at most 64 characters of it.
 *
 * @example
 * checkModelNameParam('iris');           // 'iris'
 * checkModelNameParam('a'.repeat(2043)); // throws ValidationError INVALID_MODEL_NAME
 */
export function checkModelNameParam(value: string): string {
  if (MODEL_NAME_PATTERN.test(value)) return value;
  throw new ValidationError('INVALID_MODEL_NAME', `${quote(value)} is not a valid model name: ${MODEL_NAME_RULE}.`, ['model']);
}

/**
 * The version number a path gave, checked: 400 `INVALID_VERSION` (path `version`) unless it
 * matches `VERSION_PATTERN` (so `0`, `-1`, `1.5`, `1e3`, `01`, `latest` and 11 digits are all refused).
 */
export function checkVersionParam(value: string): string {
  if (VERSION_PATTERN.test(value)) return value;
  throw new ValidationError('INVALID_VERSION', `${quote(value)} is not a version number: ${VERSION_RULE}.`, ['version']);
}

/** A batch job id as `newJobId` makes them: `job-` then lower-case letters, digits and `-`, 64 characters at most. */
export const JOB_ID_PATTERN = /^job-[0-9a-z-]{1,60}$/;
const JOB_ID_RULE = 'a job id is "job-" followed by lower-case letters, digits and "-", as the job API returned it';

/** The job id a path gave, checked: 400 `INVALID_JOB_ID` (path `job`). */
export function checkJobIdParam(value: string): string {
  if (JOB_ID_PATTERN.test(value)) return value;
  throw new ValidationError('INVALID_JOB_ID', `${quote(value)} is not a batch job id: ${JOB_ID_RULE}.`, ['job']);
}

/**
 * A new id for a job, an experiment or a shadow test: `<prefix>-`, the time to the millisecond
 * (so ids sort by creation), and 10 random letters and digits, all lower-case:
 * `newTimeSortedId('exp', now)` → `exp-20261130t120501123z-7f3k9q2m1x`.
 */
export function newTimeSortedId(prefix: 'job' | 'exp' | 'shadow', now: Date): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '').toLowerCase();
  const random = [...randomBytes(10)].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
  return `${prefix}-${stamp}-${random}`;
}

/** An experiment id as the experiments API makes them: `exp-` then lower-case letters, digits and `-`. */
export const EXPERIMENT_ID_PATTERN = /^exp-[0-9a-z-]{1,60}$/;
const EXPERIMENT_ID_RULE =
  'an experiment id is "exp-" followed by lower-case letters, digits and "-", as POST /v1/models/{model}/experiments returned it';

/** The experiment id a path gave, checked: 400 `INVALID_EXPERIMENT_ID` (path `experiment`). */
export function checkExperimentIdParam(value: string): string {
  if (EXPERIMENT_ID_PATTERN.test(value)) return value;
  throw new ValidationError('INVALID_EXPERIMENT_ID', `${quote(value)} is not an experiment id: ${EXPERIMENT_ID_RULE}.`, ['experiment']);
}

/** The error for a path parameter that is not valid percent-encoding or is missing. */
export function unreadableParam(name: 'model' | 'version' | 'job' | 'experiment', problem: string): ValidationError {
  if (name === 'experiment') return new ValidationError('INVALID_EXPERIMENT_ID', `${problem}; ${EXPERIMENT_ID_RULE}.`, ['experiment']);
  if (name === 'job') return new ValidationError('INVALID_JOB_ID', `${problem}; ${JOB_ID_RULE}.`, ['job']);
  return name === 'model'
    ? new ValidationError('INVALID_MODEL_NAME', `${problem}; ${MODEL_NAME_RULE}.`, ['model'])
    : new ValidationError('INVALID_VERSION', `${problem}; ${VERSION_RULE}.`, ['version']);
}

/** A caller's string as an error message shows it: JSON-quoted (control characters escaped), cut to an excerpt. */
export function quote(value: string): string {
  return JSON.stringify(clip(value, EXCERPT_CHARS));
}
