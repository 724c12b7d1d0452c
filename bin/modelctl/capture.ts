/**
 * `modelctl capture`: a model's data capture (a share of requests, inputs and outputs, to S3),
 * shown, set or turned off.
 */
import type { Command } from 'commander';
import { DEFAULT_MAX_RECORD_BYTES, MAX_RECORD_BYTES, MIN_RECORD_BYTES, MIN_SAMPLE_PERCENT } from '../../functions/core/capture.js';
import type { CaptureStatus } from '../../functions/core/registry.js';
import { listArg, numberArg } from './args.js';
import { type Call, type Cli, action, apiOptions, command, outputOptions } from './command.js';
import { UsageError, clean, shown } from './common.js';
import { modelPath } from './models.js';

interface CaptureOptions {
  readonly sample?: string;
  readonly drop?: string;
  readonly hash?: string;
  readonly maxRecordBytes?: string;
  readonly off?: boolean;
}

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
  capture
    .option('--sample <percent>', `capture this percent of requests, ${MIN_SAMPLE_PERCENT} to 100`)
    .option('--drop <names>', 'with --sample: features left out of every record (a,b)')
    .option('--hash <names>', 'with --sample: features replaced by their sha256 (c,d)')
    .option(
      '--max-record-bytes <n>',
      `with --sample: the largest record, ${MIN_RECORD_BYTES} to ${MAX_RECORD_BYTES} (default ${DEFAULT_MAX_RECORD_BYTES})`,
    )
    .option('--off', 'stop capturing');
  apiOptions(outputOptions(capture)).action(action(cli, captureCommand));
}

/** `--max-record-bytes`: whole bytes within the API's bounds (`functions/core/capture.ts`). */
function recordBytesArg(value: string): number {
  const bytes = /^[0-9]{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(bytes >= MIN_RECORD_BYTES && bytes <= MAX_RECORD_BYTES)) {
    throw new UsageError(
      `--max-record-bytes is a whole number of bytes from ${MIN_RECORD_BYTES} to ${MAX_RECORD_BYTES} (1,000 KiB, a Firehose record's limit), not ${shown(value)}.`,
    );
  }
  return bytes;
}

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
    const sample = numberArg(opts.sample, '--sample');
    if (!(sample >= MIN_SAMPLE_PERCENT && sample <= 100))
      throw new UsageError(
        `--sample is the percent of requests captured, from ${MIN_SAMPLE_PERCENT} to 100, not ${shown(opts.sample)}; --off turns capture off.`,
      );
    const body = {
      samplePercent: sample,
      drop: opts.drop === undefined ? [] : listArg(opts.drop, '--drop'),
      hash: opts.hash === undefined ? [] : listArg(opts.hash, '--hash'),
      ...(opts.maxRecordBytes === undefined ? {} : { maxRecordBytes: recordBytesArg(opts.maxRecordBytes) }),
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
