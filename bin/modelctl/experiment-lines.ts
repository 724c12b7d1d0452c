/**
 * How `modelctl experiment` prints experiments: one as lines, a model's as a table, an analysis
 * (a row per variant, then the winner and why), the winner's release, a recorded outcome.
 */
import type { ExperimentAnalysis } from '../../functions/core/experiments/analysis.js';
import type { RecordedOutcome } from '../../functions/core/experiments/experiment.js';
import type { ExperimentView } from '../../functions/core/experiments/service.js';
import type { PromoteResult } from '../../functions/core/release.js';
import { POINTER_CACHE, clean, pValueText, plural, shown, statistic } from './common.js';
import { tableLines } from './output.js';

/** `GET /v1/models/{m}/experiments` as the API answers it: newest first. */
export interface ExperimentList {
  readonly model: string;
  readonly experiments: readonly ExperimentView[];
}

/** `POST /v1/models/{m}/experiments/{e}/promote-winner` as the API answers it. */
export interface WinnerReply {
  readonly analysis: ExperimentAnalysis;
  /** Whether this call stopped the experiment (it was still running or scheduled). */
  readonly stopped: boolean;
  /** The release of the winner; `null` when it is the production version already. */
  readonly release: PromoteResult['release'] | null;
}

/** `POST /v1/models/{m}/experiments/{e}/outcomes` as the API answers it (`created: false`: recorded before, the same). */
export interface OutcomeReply {
  readonly created: boolean;
  readonly outcome: RecordedOutcome;
}

/** Variants as `--variant` takes them: `control=1:50, treatment=2:50`. */
export function variantsText(variants: readonly { name: string; version: string; weight: number }[]): string {
  return variants.map((v) => `${v.name}=${v.version}:${v.weight}`).join(', ');
}

/**
 * An experiment as `experiment start` and `experiment stop` print it:
 *
 *     Experiment exp-20261130t120000000z-3k9q2m1x of iris: running
 *       name      checkout button
 *       variants  control=1:50, treatment=2:50 (the first is the control)
 *       units     the request header x-user-id (a request without it is not assigned)
 *       metric    conversion, maximize; alpha 0.05; a winner needs 100 units per variant
 *       starts    2026-11-30T12:00:00.000Z
 *       ends      when stopped
 *       created   2026-11-30T12:00:00.000Z by cli-user
 */
export function experimentLines(view: ExperimentView): string {
  const units =
    view.assignmentKey.source === 'header'
      ? `the request header ${view.assignmentKey.header} (a request without it is not assigned)`
      : "the token's subject";
  const fields: [string, string][] = [
    ...(view.name === undefined ? [] : [['name', view.name] as [string, string]]),
    ['variants', `${variantsText(view.variants)} (the first is the control)`],
    ['units', units],
    [
      'metric',
      `${view.metric}, ${view.goal}; alpha ${view.significanceLevel}; a winner needs ${view.minimumSample} ${view.metric === 'conversion' ? 'units' : 'outcomes'} per variant`,
    ],
    ['starts', view.startsAt],
    ['ends', view.endsAt ?? 'when stopped'],
    ['created', `${view.createdAt} by ${view.createdBy}`],
    ...(view.stoppedAt === undefined
      ? []
      : [
          ['stopped', `${view.stoppedAt} by ${view.stoppedBy ?? '?'}${view.stopReason === undefined ? '' : `: ${view.stopReason}`}`] as [
            string,
            string,
          ],
        ]),
  ];
  return `${[`Experiment ${view.id} of ${view.model}: ${view.state}`, ...fields.map(([name, value]) => `  ${name.padEnd(8)}  ${clean(value)}`)].join('\n')}\n`;
}

/**
 * `experiment status <model>` as a table, newest first:
 *
 *     ID                                   STATE    NAME  VARIANTS                       CREATED
 *     exp-20261130t120000000z-3k9q2m1x     running  -     control=1:50, treatment=2:50   2026-11-30T12:00:00.000Z
 */
export function experimentsTable(experiments: readonly ExperimentView[]): string {
  const rows = experiments.map((e) => [e.id, e.state, e.name ?? '-', variantsText(e.variants), e.createdAt].map(clean));
  return `${tableLines(['ID', 'STATE', 'NAME', 'VARIANTS', 'CREATED'], rows).join('\n')}\n`;
}

/** An interval as `[low, high]`, 4 significant digits; `-` when there is none. */
function intervalText(ci: { low: number; high: number } | null | undefined): string {
  return ci ? `[${statistic(ci.low)}, ${statistic(ci.high)}]` : '-';
}

/**
 * An experiment's analysis as `experiment status <model> <experiment>` prints it: what is
 * compared and how, a row per variant (the control first), then the winner and the decision:
 *
 *     Experiment exp-20261130t120000000z-3k9q2m1x of iris: running
 *     metric conversion (maximize); treatment compared with control at p < 0.05; a winner needs 100 units per variant
 *     VARIANT    VERSION  WEIGHT  REQUESTS  UNITS  OUTCOMES  MEAN    CI 95%            DIFFERENCE (CI 95%)         P-VALUE  SIGNIFICANT
 *     control    1        50%     1210      1002   101       0.1008  [0.08361, 0.121]  (control)                   -        -
 *     treatment  2        50%     1190      998    160       0.1603  [0.1388, 0.1844]  +0.0595 [0.03, 0.08899]     4.1e-5   yes
 *     winner: treatment (version 2). treatment is better than control: difference 0.059527, p = 0.000041 < 0.05.
 *     Promote it: modelctl experiment promote-winner iris exp-20261130t120000000z-3k9q2m1x
 */
export function analysisLines(analysis: ExperimentAnalysis): string {
  const e = analysis.experiment;
  const [control, ...treatments] = analysis.variants;
  const level = Number(analysis.comparisonLevel.toPrecision(4));
  const confidence = `${Number(((1 - analysis.comparisonLevel) * 100).toPrecision(4))}%`;
  const compared =
    treatments.length === 1 ? `${treatments[0]?.name ?? 'the treatment'} compared` : `each of ${treatments.length} treatments compared`;
  const corrected = treatments.length > 1 ? ` (alpha ${e.significanceLevel} over ${treatments.length} comparisons)` : '';
  const lines = [
    `Experiment ${e.id} of ${e.model}${e.name === undefined ? '' : ` (${e.name})`}: ${e.state}`,
    `metric ${analysis.metric} (${analysis.goal}); ${compared} with ${control?.name ?? 'the control'} at p < ${level}${corrected}; a winner needs ${e.minimumSample} ${analysis.metric === 'conversion' ? 'units' : 'outcomes'} per variant`,
    ...tableLines(
      [
        'VARIANT',
        'VERSION',
        'WEIGHT',
        'REQUESTS',
        'UNITS',
        'OUTCOMES',
        'MEAN',
        `CI ${confidence}`,
        `DIFFERENCE (CI ${confidence})`,
        'P-VALUE',
        'SIGNIFICANT',
      ],
      analysis.variants.map((v, i) => {
        const c = v.comparison;
        const difference =
          i === 0 ? '(control)' : c ? `${c.difference > 0 ? '+' : ''}${statistic(c.difference)} ${intervalText(c.ci)}` : '-';
        return [
          clean(v.name),
          v.version,
          `${v.weight}%`,
          String(v.requests),
          String(v.units),
          String(v.outcomes),
          v.mean === null ? '-' : statistic(v.mean),
          intervalText(v.ci),
          difference,
          c ? pValueText(c.pValue) : '-',
          c ? (c.significant ? 'yes' : 'no') : '-',
        ];
      }),
    ),
    analysis.winner
      ? `winner: ${clean(analysis.winner.variant)} (version ${analysis.winner.version}). ${clean(analysis.decision)}`
      : `winner: none. ${clean(analysis.decision)}`,
  ];
  if (analysis.winner) lines.push(`Promote it: modelctl experiment promote-winner ${e.model} ${e.id}`);
  const notes: string[] = [];
  if (analysis.unmatchedOutcomes > 0)
    notes.push(`${plural(analysis.unmatchedOutcomes, 'outcome')} of no variant, or of a unit the experiment never served: not counted.`);
  if (analysis.capped) notes.push('The prediction log or the outcomes held more than one analysis reads: the oldest were analyzed.');
  return `${[...lines, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')}\n`;
}

/**
 * `experiment promote-winner` as lines: the winner and why, whether this stopped the
 * experiment, and the release it started (or none: the winner is the production version).
 */
export function winnerLines(reply: WinnerReply): string {
  const e = reply.analysis.experiment;
  const winner = reply.analysis.winner;
  const release = reply.release;
  let released: string;
  if (!release) released = `none: version ${winner?.version ?? '?'} is the production version already`;
  else if (release.mode === 'direct')
    released = `version ${release.modelVersion} takes all the traffic (function version ${release.functionVersion})`;
  else if (release.mode === 'manual')
    released = `a canary of version ${release.modelVersion} (function version ${release.functionVersion}); move it with modelctl shift, finalize or rollback ${e.model}`;
  else
    released = `a managed release of version ${release.modelVersion} (function version ${release.functionVersion}${release.deploymentId === undefined ? '' : `, deployment ${release.deploymentId}`}); modelctl deployment ${e.model} follows it`;
  return [
    `Winner of experiment ${e.id} of ${e.model}: ${clean(winner?.variant ?? '?')} (version ${winner?.version ?? '?'})`,
    `  decision  ${clean(reply.analysis.decision)}`,
    `  stopped   ${reply.stopped ? `yes: endpoints stop assigning requests ${POINTER_CACHE}` : `no: it had ${e.state === 'ended' ? 'ended' : 'been stopped'} already`}`,
    `  release   ${released}`,
    '',
  ].join('\n');
}

/** `experiment outcome`'s line: what was recorded, for which variant, and whether it was recorded before. */
export function outcomeLine(id: string, reply: OutcomeReply, given: { readonly key?: string; readonly outcomeId?: string }): string {
  const { outcome } = reply;
  const of =
    outcome.requestId !== undefined
      ? `request ${outcome.requestId}`
      : `key ${shown(given.key ?? '')}${given.outcomeId === undefined ? '' : `, outcome id ${shown(given.outcomeId)}`}`;
  const what = `outcome ${outcome.value} for variant ${outcome.variant} of ${id} (${clean(of)})`;
  return reply.created
    ? `Recorded ${what}.\n`
    : `Already recorded: ${what}, at ${outcome.recordedAt} by ${clean(outcome.recordedBy)}; nothing changed.\n`;
}
