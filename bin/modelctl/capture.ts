/**
 * `modelctl capture`: a model's data capture (a share of requests, inputs and outputs, to S3),
 * shown, set or turned off.
 */
import type { Command } from 'commander';
import { DEFAULT_MAX_RECORD_BYTES, MAX_RECORD_BYTES, MIN_RECORD_BYTES, MIN_SAMPLE_PERCENT } from '../../functions/core/capture.js';
import type { CaptureStatus } from '../../functions/core/registry.js';
import { NAMES, listArg, numberArg, strict } from './args.js';
import { type Call, type Cli, action, apiOptions, command, option, outputOptions } from './command.js';
import { UsageError, clean, shown } from './common.js';
import { modelPath } from './models.js';

interface CaptureOptions {
  /** Percent of requests. */
  readonly sample?: number;
  readonly drop?: string;
  readonly hash?: string;
  readonly maxRecordBytes?: number;
  readonly off?: boolean;
}

/** `--sample PERCENT`: the API's bounds (`functions/core/capture.ts`). */
const SAMPLE_PERCENT = strict('percent', (value, name) => {
  const sample = numberArg(value, name);
  if (!(sample >= MIN_SAMPLE_PERCENT && sample <= 100))
    throw new UsageError(
      `${name} is the percent of requests captured, from ${MIN_SAMPLE_PERCENT} to 100, not ${shown(value)}; --off turns capture off.`,
    );
  return sample;
});

/** `capture`, on `program`. */
export function addCaptureCommand(program: Command, cli: Cli): void {
  const capture = command(program, {
    name: 'capture <model>',
    summary: "show or set the model's data capture",
    group: 'Monitoring:',
    description:
      "The model's data capture: alone, shows it; with --sample, captures that percent of requests, inputs and " +
      'outputs, to S3 (the settings are replaced whole); with --off, stops. Scope models:write to change it.',
    after: 'Example:\n  modelctl capture iris --sample 10 --drop email',
  });
  option(capture, '--sample <percent>', `capture this percent of requests, ${MIN_SAMPLE_PERCENT} to 100`, SAMPLE_PERCENT);
  option(capture, '--drop <names>', 'with --sample: features left out of every record (a,b)', NAMES);
  option(capture, '--hash <names>', 'with --sample: features replaced by their sha256 (c,d)', NAMES);
  option(
    capture,
    '--max-record-bytes <n>',
    `with --sample: the largest record, ${MIN_RECORD_BYTES} to ${MAX_RECORD_BYTES} (default ${DEFAULT_MAX_RECORD_BYTES})`,
    RECORD_BYTES,
  );
  capture.option('--off', 'stop capturing');
  apiOptions(outputOptions(capture)).action(action(cli, captureCommand));
}

/** `--max-record-bytes`: whole bytes within the API's bounds (`functions/core/capture.ts`). */
const RECORD_BYTES = strict('whole number', (value, name) => {
  const bytes = /^[0-9]{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(bytes >= MIN_RECORD_BYTES && bytes <= MAX_RECORD_BYTES)) {
    throw new UsageError(
      `${name} is a whole number of bytes from ${MIN_RECORD_BYTES} to ${MAX_RECORD_BYTES} (1,000 KiB, a Firehose record's limit), not ${shown(value)}.`,
    );
  }
  return bytes;
});

/**
 * Shows the model's capture settings; with `--sample`, sets them (`PUT`, replacing the settings
 * whole: `--drop`, `--hash`, `--max-record-bytes` go with it); with `--off`, turns capture off
 * (`DELETE`).
 */
async function captureCommand(call: Call<CaptureOptions>): Promise<number> {
  const { opts, api } = call;
  const [model = ''] = call.args;
  const route = `${modelPath(model)}/capture`;
  const settings = opts.drop !== undefined || opts.hash !== undefined || opts.maxRecordBytes !== undefined;
  let status: CaptureStatus;
  if (opts.off) {
    if (opts.sample !== undefined || settings)
      throw new UsageError('--off turns capture off; it goes without --sample, --drop, --hash and --max-record-bytes.');
    status = (await api.call('DELETE', route)) as CaptureStatus;
  } else if (opts.sample !== undefined) {
    const body = {
      samplePercent: opts.sample,
      drop: opts.drop === undefined ? [] : listArg(opts.drop, '--drop'),
      hash: opts.hash === undefined ? [] : listArg(opts.hash, '--hash'),
      ...(opts.maxRecordBytes === undefined ? {} : { maxRecordBytes: opts.maxRecordBytes }),
    };
    status = (await api.call('PUT', route, body)) as CaptureStatus;
  } else {
    if (settings) throw new UsageError('--drop, --hash and --max-record-bytes go with --sample: the settings are set whole.');
    status = (await api.call('GET', route)) as CaptureStatus;
  }
  call.print(status, captureLines);
  return 0;
}

/**
 * A model's capture settings as `modelctl capture` prints them:
 *
 *     Capture of iris: on, 10% of requests
 *       drop              sepal_width_cm
 *       hash              (none)
 *       max record bytes  65536
 *       updated           2026-11-30T12:00:00.000Z by cli-user
 */
export function captureLines(status: CaptureStatus): string {
  if (!status.enabled)
    return `Capture of ${status.model}: off. Turn it on: modelctl capture ${status.model} --sample PERCENT [--drop a,b] [--hash c]\n`;
  const names = (list: readonly string[]) => (list.length === 0 ? '(none)' : clean(list.join(', ')));
  return [
    `Capture of ${status.model}: on, ${status.samplePercent}% of requests`,
    `  drop              ${names(status.drop)}`,
    `  hash              ${names(status.hash)}`,
    `  max record bytes  ${status.maxRecordBytes}`,
    `  updated           ${status.updatedAt} by ${clean(status.updatedBy)}`,
    '',
  ].join('\n');
}
