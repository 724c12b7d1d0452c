/**
 * `modelctl profile`: the reference profile of a model's training data (for drift detection),
 * computed locally from a CSV file, optionally with the model's predictions on it, written to a
 * file, printed or uploaded to a registered version.
 */
import type { Command } from 'commander';
import { AppError } from '../../functions/core/errors.js';
import {
  MAX_CATEGORIES,
  MAX_SAMPLE,
  type FeatureProfile,
  profileCsvStream,
  type ReferenceProfile,
} from '../../functions/core/drift/profile.js';
import type { ModelMetadata } from '../../functions/core/model.js';
import type { Served } from '../../functions/core/predict.js';
import { FILE, NAMES, strict, versionArg } from './args.js';
import { type Call, type Cli, action, apiOptions, command, option } from './command.js';
import { type CliIo, FileError, UsageError, fileError, messageOf, parseJson, plural, readLocalFile, shown, statistic } from './common.js';
import { ApiError, apiFor } from './http.js';
import { once, openFile, writeWhole } from './uploads.js';

interface ProfileOptions {
  readonly features?: string;
  readonly model?: string;
  readonly metadata?: string;
  readonly out?: string;
  readonly upload?: UploadTarget;
}

/** `--upload MODEL@VERSION`, split. */
interface UploadTarget {
  readonly model: string;
  readonly version: string;
}

/** What `profile --upload` reads of the version it uploads to. */
interface RegisteredVersion {
  readonly metadata: ModelMetadata;
  readonly signature: { readonly inputs: readonly { readonly name: string }[] };
  readonly artifact: { readonly sha256: string };
}

/** Longest feature name a profile summary shows whole. */
const SUMMARY_NAME_CHARS = 32;
/** Categories a profile summary shows per feature. */
const SUMMARY_CATEGORIES = 3;

/** The runtime opens `--model` from its bytes; no registered artifact is ever read. */
const NO_ARTIFACTS = {
  bucket: 'none',
  put: () => Promise.reject(new Error('modelctl profile reads no artifact store')),
  get: () => Promise.reject(new Error('modelctl profile reads no artifact store')),
};

/** `profile`, on `program`. */
export function addProfileCommand(program: Command, cli: Cli): void {
  const profile = command(program, {
    name: 'profile <train.csv>',
    summary: 'a reference profile of training data (drift)',
    group: 'Registry:',
    description:
      'Per feature (every column, or those of --features), numeric or categorical: rows, missing (empty, NA, NaN); ' +
      `numeric: min, max, mean, std, the deciles, their 10 bins' shares, ${MAX_SAMPLE} values at most; categorical: ` +
      `counts of the ${MAX_CATEGORIES} most frequent categories (the rest as __other__).\n\n` +
      '--model also runs the model (ONNX Runtime, locally) on every row and profiles its predictions (label and one ' +
      'probability per class for a classifier, else each output); its features and class labels come from ' +
      '--metadata, else from the version --upload names; the features profiled then default to the columns the ' +
      'model reads.\n\n' +
      'With --out, writes the JSON there and prints a summary; with --upload, PUTs the profile to that version ' +
      '(scopes models:read and models:write); with neither, prints the JSON, the summary on stderr.',
    after: 'Example:\n  modelctl profile data/iris.csv --model models/iris/model.onnx --upload iris@1',
    args: { 'train.csv': FILE },
  });
  option(profile, '--features <names>', 'profile these columns only: a,b,c', NAMES);
  option(profile, '--model <file.onnx>', "also profile the model's predictions on every row", FILE);
  option(profile, '--metadata <file>', "with --model: the model's features and class labels (JSON)", FILE);
  option(profile, '--out <file>', 'write the profile there', FILE);
  option(profile, '--upload <model@version>', 'PUT the profile to this registered version (e.g. iris@3)', UPLOAD_TARGET);
  apiOptions(profile).action(action(cli, profileCommand));
}

/** `--upload MODEL@VERSION`: a model and a version number. */
const UPLOAD_TARGET = strict('model@version', (value, name): UploadTarget => {
  const at = value.lastIndexOf('@');
  if (at < 1 || at === value.length - 1) throw new UsageError(`${name} is MODEL@VERSION (e.g. iris@3), not ${shown(value)}.`);
  return { model: value.slice(0, at), version: versionArg(value.slice(at + 1), `The version in ${name} ${value}`) };
});

/** Why a file of `profile` could not be used, as one line on stderr; exit 1. */
function profileFailure(io: CliIo, file: string, error: unknown): number {
  const unreadable = fileError(error, file, 'read');
  if (error instanceof ApiError) io.err(`${error.message}\n`);
  else if (error instanceof UsageError) io.err(`modelctl: ${error.message}\n`);
  else if (error instanceof AppError) io.err(`modelctl: ${file}: ${error.code}: ${error.message}\n`);
  else if (error instanceof FileError || unreadable instanceof FileError) io.err(`modelctl: ${messageOf(unreadable)}\n`);
  else io.err(`modelctl: cannot profile ${file}: ${messageOf(error)}\n`);
  return 1;
}

/**
 * The reference profile of a CSV file (`functions/core/drift/profile.ts`), read as a stream.
 * With `--model`, the model file also runs on every row and its predictions are profiled
 * (`profile-predictions.ts`); its features and class labels come from `--metadata`, else from
 * the version `--upload` names, else the model has none (rows are keyed by input name), and the
 * features profiled default to the columns the model reads. With `--upload MODEL@VERSION` the
 * profile is PUT to that version (after a GET of it, so a wrong target fails before the work).
 *
 * Output: with `--out` the JSON goes to that file (written whole or not at all); with `--out` or
 * `--upload`, a summary to stdout; with neither, the JSON to stdout and the summary to stderr, so
 * it can be piped. Exit 0; 1 when a file cannot be read or profiled, or the API refuses; 2 for a
 * usage mistake.
 */
async function profileCommand(call: Call<ProfileOptions>): Promise<number> {
  const { io, opts } = call;
  const [file = ''] = call.args;
  let features = opts.features?.split(',').map((name) => name.trim());
  if (opts.out === '') throw new UsageError('--out needs a file name.');
  if (opts.model === '') throw new UsageError('--model needs an ONNX file.');
  if (opts.metadata !== undefined && opts.model === undefined)
    throw new UsageError("--metadata goes with --model: the model's features and class labels.");
  const target = opts.upload;
  const api = target ? apiFor(opts, io) : undefined;
  const versionPath = target ? `/v1/models/${encodeURIComponent(target.model)}/versions/${encodeURIComponent(target.version)}` : '';

  // The version to upload to first: a wrong target fails before any work.
  let registered: RegisteredVersion | undefined;
  if (api) {
    try {
      registered = (await api.call('GET', versionPath)) as RegisteredVersion;
    } catch (error) {
      return profileFailure(io, file, error);
    }
  }

  let opened: { readonly target: Served; release(): void } | undefined;
  if (opts.model !== undefined) {
    let where = opts.model;
    try {
      const bytes = await readLocalFile(io, opts.model);
      let metadata: ModelMetadata = registered?.metadata ?? {};
      if (opts.metadata !== undefined) {
        where = opts.metadata;
        const { parseMetadata } = await import('../../functions/core/registry.js');
        metadata = parseMetadata(parseJson(await readLocalFile(io, opts.metadata), opts.metadata));
        // From here a refusal may be the file's or the metadata's (features that do not fit it).
        where = `${opts.model} with ${opts.metadata}`;
      }
      const [{ OnnxRuntime }, { openProfileTarget, modelColumns }] = await Promise.all([
        import('../../functions/adapters/onnx-runtime.js'),
        import('../../functions/core/drift/profile-predictions.js'),
      ]);
      opened = await openProfileTarget(new OnnxRuntime(NO_ARTIFACTS), bytes, metadata, target?.model);
      features ??= modelColumns(opened.target.layout).map((c) => c.name);
      const sha256 = opened.target.version.artifact.sha256;
      if (registered && target && sha256 !== registered.artifact.sha256) {
        io.err(
          `modelctl: warning: ${opts.model} is not the file registered as ${target.model} v${target.version} (sha256 ${sha256.slice(0, 12)}…, registered ${registered.artifact.sha256.slice(0, 12)}…): the predictions profiled are this file's.\n`,
        );
      }
    } catch (error) {
      return profileFailure(io, where, error);
    }
  }

  // Uploading: the columns the version reads, unless told (a CSV's other columns would be refused).
  if (registered && features === undefined) {
    const declared = registered.metadata.features ?? [];
    features = declared.length > 0 ? [...declared] : registered.signature.inputs.map((input) => input.name);
  }
  let result: ReferenceProfile;
  try {
    const data = await openFile(io, file);
    result = await profileCsvStream(data.stream(), features === undefined ? {} : { features });
    if (opened) {
      const { DEFAULT_PREDICTION_BATCH_ROWS, predictionProfileCsv } = await import('../../functions/core/drift/profile-predictions.js');
      const predictions = await predictionProfileCsv(opened.target, data.stream(), DEFAULT_PREDICTION_BATCH_ROWS);
      if (Object.keys(predictions).length > 0) result = { ...result, predictions };
    }
  } catch (error) {
    return profileFailure(io, file, error);
  } finally {
    opened?.release();
  }

  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (opts.out === undefined && !api) {
    io.out(json);
    io.err(profileSummary(result, file, opts.model));
    return 0;
  }
  let done = profileSummary(result, file, opts.model);
  if (opts.out !== undefined) {
    try {
      await (io.writeFile ?? writeWhole)(opts.out, once(Buffer.from(json)));
    } catch (error) {
      const unwritable = fileError(error, opts.out, 'write');
      io.err(`modelctl: ${unwritable instanceof FileError ? unwritable.message : `cannot write ${opts.out}: ${messageOf(error)}`}\n`);
      return 1;
    }
    done += `Wrote ${opts.out}.\n`;
  }
  if (api && target) {
    let stored: { rows: number; features: readonly string[]; predictions: readonly string[] };
    try {
      stored = (await api.call('PUT', `${versionPath}/profile`, result)) as typeof stored;
    } catch (error) {
      io.out(done);
      return profileFailure(io, file, error);
    }
    done += `Uploaded to ${target.model} v${target.version}: ${plural(stored.rows, 'row')}, ${plural(stored.features.length, 'feature')}, ${plural(stored.predictions.length, 'prediction column')}.\n`;
  }
  io.out(done);
  return 0;
}

/**
 * `modelctl profile`'s summary: rows, then a line per feature; with predictions (`--model`,
 * named by `modelFile`), a line per prediction column.
 */
export function profileSummary(profile: ReferenceProfile, file: string, modelFile?: string): string {
  const entries = Object.entries(profile.features);
  const predictions = Object.entries(profile.predictions ?? {});
  const name = (text: string) => (text.length > SUMMARY_NAME_CHARS ? `${text.slice(0, SUMMARY_NAME_CHARS - 1)}…` : text);
  const width = Math.max(7, ...[...entries, ...predictions].map(([feature]) => name(feature).length));
  const line = ([feature, f]: [string, FeatureProfile]) => {
    const head = `${name(feature).padEnd(width)}  ${f.kind.padEnd(11)}  ${String(f.missing).padStart(7)}  `;
    if (f.kind === 'numeric') {
      return `${head}min ${statistic(f.min)}, median ${statistic(f.quantileEdges[4] as number)}, max ${statistic(f.max)}, mean ${statistic(f.mean)}, std ${statistic(f.std)}`;
    }
    const categories = Object.entries(f.categories);
    const shownCategories = categories
      .slice(0, SUMMARY_CATEGORIES)
      .map(([category, count]) => `${JSON.stringify(category.slice(0, 24))} ${count}`)
      .join(', ');
    return `${head}${plural(categories.length, 'category', 'categories')}${categories.length > 0 ? `: ${shownCategories}${categories.length > SUMMARY_CATEGORIES ? ', ...' : ''}` : ''}`;
  };
  const predictionLines =
    predictions.length === 0
      ? []
      : [`Predictions of ${modelFile ?? 'the model'} on those rows, ${plural(predictions.length, 'column')}:`, ...predictions.map(line)];
  return [
    `Profiled ${plural(profile.rows, 'row')} of ${file}, ${plural(entries.length, 'feature')}:`,
    `${'feature'.padEnd(width)}  ${'kind'.padEnd(11)}  ${'missing'.padStart(7)}  summary`,
    ...entries.map(line),
    ...predictionLines,
    '',
  ].join('\n');
}
