/**
 * `modelctl experiment`: A/B experiments on live traffic (`start`, `status`, `stop`,
 * `promote-winner`, `outcome`).
 */
import type { Command } from 'commander';
import type { ExperimentAnalysis } from '../../functions/core/experiments/analysis.js';
import { DEFAULT_MINIMUM_SAMPLE, DEFAULT_SIGNIFICANCE_LEVEL } from '../../functions/core/experiments/experiment.js';
import type { ExperimentView } from '../../functions/core/experiments/service.js';
import { ID, NUMBER, TEXT, TIME, WHOLE, choice, numberArg, strict } from './args.js';
import { VERSION_PATTERN } from '../../functions/core/names.js';
import { type Call, type Cli, action, apiOptions, command, option, outputOptions } from './command.js';
import { POINTER_CACHE, UsageError, shown } from './common.js';
import {
  type ExperimentList,
  type OutcomeReply,
  type WinnerReply,
  analysisLines,
  experimentLines,
  experimentsTable,
  outcomeLine,
  winnerLines,
} from './experiment-lines.js';
import { modelPath } from './models.js';
import { type ReleaseOptions, promoteBody, releaseOptions } from './releases.js';

/** A variant as `--variant` gives it. */
interface Variant {
  readonly name: string;
  readonly version: string;
  readonly weight: number;
}

interface StartOptions {
  readonly variant?: Variant[];
  readonly keyHeader?: string;
  readonly metric?: 'conversion' | 'value';
  readonly goal?: 'maximize' | 'minimize';
  readonly alpha?: number;
  readonly minSample?: number;
  readonly startsAt?: string;
  readonly endsAt?: string;
  readonly name?: string;
}

interface OutcomeOptions {
  readonly requestId?: string;
  readonly key?: string;
  readonly outcomeId?: string;
  readonly value?: number;
}

/** `--metric`: how outcomes are counted. */
const METRIC = choice(['conversion', 'value'] as const, {
  describe: (name, value) => `${name} is "conversion" (0 or 1 per unit) or "value" (a number per outcome), not ${shown(value)}.`,
});
/** `--goal`: which way is better. */
const GOAL = choice(['maximize', 'minimize'] as const, {
  describe: (name, value) => `${name} is "maximize" or "minimize", not ${shown(value)}.`,
});
/** `--alpha`: the test's level, above 0 and at most 0.5. */
const ALPHA = strict('number', (value, name) => {
  const alpha = numberArg(value, name);
  if (!(alpha > 0 && alpha <= 0.5))
    throw new UsageError(`${name} is the test's level, above 0 and at most 0.5 (e.g. 0.05), not ${shown(value)}.`);
  return alpha;
});

function experimentsPath(model: string): string {
  return `${modelPath(model)}/experiments`;
}

function experimentPath(model: string, id: string): string {
  return `${experimentsPath(model)}/${encodeURIComponent(id)}`;
}

/** `experiment` and its commands, on `program`. */
export function addExperimentCommands(program: Command, cli: Cli): void {
  const experiment = command(program, {
    name: 'experiment',
    summary: 'A/B tests of versions on live traffic',
    group: 'Monitoring:',
    usage: '<command> [options]',
    description:
      'An experiment (an A/B test) serves each unit (a user, a session: the value of a request header, or the ' +
      "token's subject) by the version of the variant it is assigned to, the same one every time, and compares the " +
      'variants on the outcomes recorded for them: a winner only once every variant has the minimum sample and a ' +
      'difference is significant.',
    after: 'Example:\n  modelctl experiment start iris --variant control=1:50 --variant treatment=2:50 --key-header x-user-id',
  });

  const start = command(experiment, {
    name: 'start <model>',
    summary: 'start an experiment',
    usage: '<model> --variant NAME=VERSION:WEIGHT --variant ... [options]',
    description:
      'Start an experiment: each --variant is a version and its percent of the units (control=1:50; the first is the ' +
      "control, the weights sum to 100). A unit is the token's subject, or with --key-header the value of that request " +
      'header (a request without it is served as if no experiment ran). Scope models:promote.',
  });
  option(start, '--variant <name=version:weight>', 'a variant, once per variant, the control first', VARIANT, { repeat: true });
  option(start, '--key-header <header>', "the request header that names a unit (e.g. x-user-id; default: the token's subject)", TEXT);
  option(start, '--metric <metric>', 'conversion (0 or 1 per unit, the default) or value (a number per outcome)', METRIC);
  option(start, '--goal <goal>', 'maximize (the default) or minimize', GOAL);
  option(start, '--alpha <a>', `the test's level, above 0 and at most 0.5 (default ${DEFAULT_SIGNIFICANCE_LEVEL})`, ALPHA);
  option(start, '--min-sample <n>', `observations every variant needs before a winner (default ${DEFAULT_MINIMUM_SAMPLE})`, WHOLE);
  option(start, '--starts-at <iso>', 'ISO-8601 UTC (default now)', TIME);
  option(start, '--ends-at <iso>', 'ISO-8601 UTC (default: until stopped)', TIME);
  option(start, '--name <text>', 'a name for people', TEXT);
  apiOptions(outputOptions(start)).action(
    action<StartOptions>(cli, async (call) => {
      const [model = ''] = call.args;
      const view = (await call.api.call('POST', experimentsPath(model), experimentBody(call.opts))) as ExperimentView;
      call.print(
        view,
        (v) =>
          `${experimentLines(v)}Endpoints see it ${POINTER_CACHE}: until then requests are served as before.\nIts analysis: modelctl experiment status ${v.model} ${v.id}\n`,
      );
      return 0;
    }),
  );

  const status = command(experiment, {
    name: 'status <model> [experiment]',
    summary: "the model's experiments, or one's analysis",
    description:
      "Without an experiment: the model's experiments, newest first. With one: its analysis, a row per variant " +
      '(version, weight, requests, units, outcomes, mean and its confidence interval, the difference to the control, ' +
      'p-value, significant), then the winner and why, or why there is none. Exit 0 with a winner or without one. ' +
      'Scope models:read.',
    args: { experiment: ID },
  });
  apiOptions(outputOptions(status)).action(
    action(cli, async (call) => {
      const [model = '', id] = call.args;
      if (id === undefined) {
        const list = (await call.api.call('GET', experimentsPath(model))) as ExperimentList;
        call.print(list, (l) =>
          l.experiments.length === 0 ? `No experiments of model ${shown(model)}.\n` : experimentsTable(l.experiments),
        );
        return 0;
      }
      call.print((await call.api.call('GET', experimentPath(model, id))) as ExperimentAnalysis, analysisLines);
      return 0;
    }),
  );

  const stop = command(experiment, {
    name: 'stop <model> <experiment>',
    summary: 'stop assigning requests',
    description:
      "Stop assigning requests (within the endpoints' pointer cache time); outcomes may still be recorded. Scope models:promote.",
    args: { experiment: ID },
  });
  option(stop, '--reason <text>', 'why, kept with the experiment', TEXT);
  apiOptions(outputOptions(stop)).action(
    action<{ reason?: string }>(cli, async (call) => {
      const [model = '', id = ''] = call.args;
      const body = call.opts.reason === undefined ? {} : { reason: call.opts.reason };
      call.print(
        (await call.api.call('POST', `${experimentPath(model, id)}/stop`, body)) as ExperimentView,
        (v) => `${experimentLines(v)}Endpoints stop assigning ${POINTER_CACHE}: until then a request may still be served by its variant.\n`,
      );
      return 0;
    }),
  );

  const promoteWinner = command(experiment, {
    name: 'promote-winner <model> <experiment>',
    summary: 'stop the experiment and release its winner',
    description:
      'Stop the experiment (if it still runs) and release its winner as "promote" does: a manual canary, a managed ' +
      'release, or (neither) all the traffic; no release when the winner is the production version. Without a ' +
      'winner: 409 NO_WINNER (exit 1), with why. Scope models:promote.',
    args: { experiment: ID },
  });
  apiOptions(outputOptions(releaseOptions(promoteWinner))).action(
    action<ReleaseOptions>(cli, async (call) => {
      const [model = '', id = ''] = call.args;
      const body = promoteBody(call.opts, 'experiment promote-winner');
      call.print((await call.api.call('POST', `${experimentPath(model, id)}/promote-winner`, body)) as WinnerReply, winnerLines);
      return 0;
    }),
  );

  const outcome = command(experiment, {
    name: 'outcome <model> <experiment>',
    summary: 'record an outcome for a request or a unit',
    usage: '<model> <experiment> (--request-id ID | --key KEY [--outcome-id ID]) --value N [options]',
    description:
      'Record an outcome for a request the experiment served (--request-id: its requestId) or for a unit (--key: its ' +
      'assignment key; --outcome-id names each further outcome of the unit). Recorded once: the same again is ' +
      'accepted (exit 0), another value is 409 OUTCOME_CONFLICT (exit 1). Scope experiments:outcomes.',
    args: { experiment: ID },
  });
  option(outcome, '--request-id <id>', 'the requestId of a request the experiment served', ID);
  option(outcome, '--key <key>', "a unit's assignment key", TEXT);
  option(outcome, '--outcome-id <id>', "with --key: names this outcome of the unit's", ID);
  option(outcome, '--value <n>', '0 or 1 for a conversion, any number for a value', NUMBER);
  apiOptions(outputOptions(outcome)).action(
    action<OutcomeOptions>(cli, async (call: Call<OutcomeOptions>) => {
      const [model = '', id = ''] = call.args;
      const reply = (await call.api.call('POST', `${experimentPath(model, id)}/outcomes`, outcomeBody(call.opts))) as OutcomeReply;
      call.print(reply, (r) => outcomeLine(id, r, call.opts));
      return 0;
    }),
  );
}

/**
 * `--variant NAME=VERSION:WEIGHT` (`control=1:50`: version 1 serves 50% of the units) as the
 * API's variant. The version is a version number; the weight a number as {@link numberArg} reads
 * it, from 0.001 and below 100 (the API's bounds); the API checks the name, that the version
 * exists and that the weights sum to 100.
 */
export function variantArg(value: string): Variant {
  const match = /^([^=]+)=([^:]+):(.*)$/.exec(value);
  if (!match)
    throw new UsageError(`--variant is NAME=VERSION:WEIGHT (e.g. control=1:50, the weight a percent of the units), not ${shown(value)}.`);
  const [, name = '', version = '', weightText = ''] = match;
  if (!VERSION_PATTERN.test(version))
    throw new UsageError(`The version in --variant ${shown(value)} is a version number such as "2", not ${shown(version)}.`);
  const weight = numberArg(weightText, `The weight in --variant ${value}`);
  if (!(weight >= 0.001 && weight < 100))
    throw new UsageError(`The weight in --variant ${value} is a percent of the units, from 0.001 to below 100, not ${shown(weightText)}.`);
  return { name, version, weight };
}

/** `--variant`, read while the line is parsed. */
const VARIANT = strict('variant', (value) => variantArg(value));

/** The body of `POST /v1/models/{m}/experiments` from `experiment start`'s options. */
function experimentBody(opts: StartOptions): Record<string, unknown> {
  const variants = opts.variant ?? [];
  if (variants.length < 2) {
    throw new UsageError(
      `"experiment start" needs a --variant NAME=VERSION:WEIGHT per variant, two or more, the control first (e.g. --variant control=1:50 --variant treatment=2:50); ${variants.length === 0 ? 'none was' : 'one was'} given.`,
    );
  }
  const { metric, goal, alpha } = opts;
  return {
    variants,
    ...(opts.keyHeader === undefined ? {} : { assignmentKey: { source: 'header', header: opts.keyHeader } }),
    ...(metric === undefined ? {} : { metric }),
    ...(goal === undefined ? {} : { goal }),
    ...(alpha === undefined ? {} : { significanceLevel: alpha }),
    ...(opts.minSample === undefined ? {} : { minimumSample: opts.minSample }),
    ...(opts.startsAt === undefined ? {} : { startsAt: opts.startsAt }),
    ...(opts.endsAt === undefined ? {} : { endsAt: opts.endsAt }),
    ...(opts.name === undefined ? {} : { name: opts.name }),
  };
}

/** The body of `POST .../outcomes` from `experiment outcome`'s options. */
function outcomeBody(opts: OutcomeOptions): Record<string, unknown> {
  const { requestId, key } = opts;
  if (requestId !== undefined && key !== undefined)
    throw new UsageError('"experiment outcome" takes --request-id or --key, not both: an outcome is for one request or for one unit.');
  if (requestId === undefined && key === undefined)
    throw new UsageError(
      '"experiment outcome" needs --request-id ID (a request the experiment served) or --key KEY (a unit\'s assignment key).',
    );
  if (opts.outcomeId !== undefined && key === undefined)
    throw new UsageError('--outcome-id goes with --key (a request id names its outcome already).');
  if (opts.value === undefined)
    throw new UsageError('"experiment outcome" needs --value N: 0 or 1 for a conversion, any number for a value.');
  return {
    ...(requestId === undefined ? { key } : { requestId }),
    ...(opts.outcomeId === undefined ? {} : { outcomeId: opts.outcomeId }),
    value: opts.value,
  };
}
