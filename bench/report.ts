/**
 * The report: targets checked against the figures, the headline ratios, and docs/BENCHMARKS.md.
 * Every number printed here is read from the results of the same run.
 */
import {
  BATCH_JOB_PHASES,
  COLD_START_PHASES,
  type BatchFloorRun,
  type BatchJobPhase,
  type BatchJobRun,
  type BenchResults,
  type BundleFamilyId,
  type ColdStartPhase,
  type HttpVariantId,
  type ModelId,
  type OnOffFigures,
  type ProfileSummary,
  type TargetCheck,
} from './results.js';
import { LATENCY_BAND } from './threads.js';
import type { Stat } from './lib/stats.js';

type Measured = Omit<BenchResults, 'headline' | 'targets'>;

// ---------------------------------------------------------------------------------------------
// Formatting

const MIB = 1_048_576;

/** Three significant digits, thousands separated. */
function num(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 10 ** digits) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(digits)).toLocaleString('en-US', { maximumFractionDigits: 6 });
}
const ms = (value: number) => `${num(value)} ms`;
const times = (value: number) => `${num(value)}×`;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(2)} MB`;
function perSecond(value: number): string {
  if (value >= 1e6) return `${num(value / 1e6)} M`;
  if (value >= 1e4) return `${num(value / 1e3)} k`;
  return num(value);
}
const table = (header: readonly string[], rows: readonly (readonly string[])[]) =>
  [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const percent = (share: number) => `${Math.round(share * 100)}%`;

/** "A 31%, B 20%, C 9%": the largest groups of a CPU profile. */
function topGroups(profile: ProfileSummary, count = 4): string {
  return profile.groups
    .slice(0, count)
    .map((g) => `${g.name} ${percent(g.share)}`)
    .join(', ');
}

/** "`f` 31%, `g` 20%": the largest functions of a CPU profile. */
function topFunctions(profile: ProfileSummary, count = 4): string {
  return profile.functions
    .slice(0, count)
    .map((f) => `\`${f.name}\` ${percent(f.share)}`)
    .join(', ');
}

/** A CPU profile as two short lists, for the sections. */
/**
 * The rows of an "off against on" table: median, p99 and CPU per request, with the on ÷ off
 * ratios (the median and p99 ratios as the measurement computed them).
 */
function onOffRows(off: Stat, on: Stat, figures: OnOffFigures): string[][] {
  return [
    ['Median', ms(off.medianMs), ms(on.medianMs), times(figures.ratio)],
    ['p99', ms(off.p99Ms), ms(on.p99Ms), times(figures.p99Ratio)],
    [
      'CPU per request',
      ms(figures.cpuMsPerCallWithout),
      ms(figures.cpuMsPerCallWith),
      times(figures.cpuMsPerCallWith / figures.cpuMsPerCallWithout),
    ],
  ];
}

function profileLines(title: string, profile: ProfileSummary): string[] {
  if (profile.groups.length === 0) return [`${title}: no samples.`];
  return [
    `${title} (${num(profile.busyMs)} ms of CPU sampled; self time, idle excluded):`,
    '',
    `- by code: ${profile.groups.map((g) => `${g.name} ${percent(g.share)}`).join(', ')}`,
    `- by function: ${profile.functions
      .slice(0, 6)
      .map((f) => `\`${f.name}\` ${percent(f.share)}`)
      .join(', ')}`,
  ];
}

const MODEL_LABEL: Readonly<Record<ModelId, string>> = { iris: 'iris (sample)', mlp: 'neural net', trees: 'tree ensemble' };
const VARIANT_LABEL: Readonly<Record<HttpVariantId, string>> = {
  baseline: 'baseline (node:http + ORT)',
  api: 'local API',
  apiAuth: 'local API + JWT auth',
  apiLog: 'local API + prediction logs',
  npmStartQuiet: '`npm start` stack, access log off',
  npmStartBundled: '`npm start` stack, access log on',
  npmStart: '`npm start` as shipped',
};
const FAMILY_LABEL: Readonly<Record<BundleFamilyId, string>> = {
  awsSdk: 'AWS SDK (@aws-sdk, @smithy, their dependencies)',
  zod: 'zod',
  tracing: 'tracing adapter (the Tracer and X-Ray SDK themselves are bundled only into functions synthesized with tracing on)',
  powertools: 'Powertools Logger and Metrics',
  ours: 'our code (functions/)',
  other: 'other packages',
};
const PHASE_LABEL: Readonly<Record<ColdStartPhase, string>> = {
  bootstrap: 'Node bootstrap',
  runtimeLoad: 'runtime load (onnxruntime-node)',
  moduleLoad: 'module load (bundle with the AWS SDK and Powertools, config, clients)',
  registry: 'registry lookup (DynamoDB)',
  artifactFetch: 'artifact fetch (S3, sha256, /tmp)',
  sessionCreate: 'session create',
  firstRun: 'first run',
  rest: 'codec, log queue, metrics line, response',
};
const JOB_PHASE_LABEL: Readonly<Record<BatchJobPhase, string>> = {
  submit: "submission (the job API's checks, the job stored, the workflow started)",
  plan: 'plan (the input read whole, its splits written)',
  map: 'Distributed Map (the batches, to the last part written)',
  resultWriter: "ResultWriter (the map's result files)",
  assemble: "assemble (the parts concatenated into the outputs, the job's end recorded)",
};

// ---------------------------------------------------------------------------------------------
// Targets

const worst = <T>(items: readonly T[], pick: (item: T) => number, kind: 'max' | 'min'): T | undefined =>
  [...items].sort((a, b) => (kind === 'max' ? pick(b) - pick(a) : pick(a) - pick(b)))[0];

function check(id: string, name: string, target: string, value: number, unit: string, limit: number, kind: 'max' | 'min'): TargetCheck {
  const met = Number.isFinite(value) && (kind === 'max' ? value <= limit : value >= limit);
  const gap = kind === 'max' ? value - limit : limit - value;
  const amount = `${num(gap)}${unit === '×' ? '×' : unit ? ` ${unit}` : ''}`;
  const shortfall = met
    ? ''
    : kind === 'max'
      ? `${amount} over, ${times(value / limit)} the limit`
      : `${amount} short, the limit is ${times(limit / value)} the figure`;
  return { id, name, target, value, unit, limit, kind, met, shortfall };
}

/** The HTTP target's condition, "validation and auth on": the API with the JWT authorizer. */
export const HTTP_TARGET_VARIANT: HttpVariantId = 'apiAuth';
/** The model the cold-start targets are stated for. */
const COLD_MODEL: ModelId = 'iris';

const httpRatio = (m: Measured, variant: HttpVariantId, connections = 8) =>
  m.http.ratios.find((r) => r.variant === variant && r.connections === connections)?.ratio ?? Number.NaN;
const httpRps = (m: Measured, variant: HttpVariantId, connections = 8) =>
  m.http.points.find((p) => p.variant === variant && p.connections === connections)?.requestsPerSecond ?? Number.NaN;

export function evaluateTargets(m: Measured): TargetCheck[] {
  const overhead = worst(m.handler.models, (x) => x.overheadMedianMs, 'max');
  const trees = m.batch.models.find((x) => x.model === 'trees');
  const cold = m.coldStart.models.find((x) => x.model === COLD_MODEL);
  const memory = m.memory.runs[0];
  const layer = (arch: string) => m.sizes.layers.find((l) => l.architecture === arch)?.unzippedBytes ?? Number.NaN;
  return [
    check(
      'handler-overhead',
      `Handler overhead over the raw run, single row, median (worst model: ${overhead ? MODEL_LABEL[overhead.model] : 'n/a'})`,
      '≤ 0.2 ms',
      overhead?.overheadMedianMs ?? Number.NaN,
      'ms',
      0.2,
      'max',
    ),
    check(
      'prediction-log',
      `Handler with prediction logs on ÷ off, single row, median (${MODEL_LABEL[m.handler.log.model]}; written to the DynamoDB-compatible server in another process)`,
      '≤ 1.15×',
      m.handler.log.ratio,
      '×',
      1.15,
      'max',
    ),
    check(
      'data-capture',
      `Data capture at ${num(m.handler.capture.samplePercent)}%: handler p50 on ÷ off, single row (${MODEL_LABEL[m.handler.capture.model]}; delivered to the S3-compatible server in another process)`,
      '≤ 1.05×',
      m.handler.capture.ratio,
      '×',
      1.05,
      'max',
    ),
    check(
      'shadow-test',
      `Shadow test on ${num(m.handler.shadow.samplePercent)}% of requests: the caller's p50 on ÷ off, single row (${MODEL_LABEL[m.handler.shadow.model]}; the candidate, a second version of the same file, runs after the answer, gathered in batches that the drain between requests runs when due, as on Lambda)`,
      '≤ 1.1×',
      m.handler.shadow.ratio,
      '×',
      1.1,
      'max',
    ),
    check(
      'batch-efficiency',
      'Batch efficiency, tree ensemble, 1000 rows (handler rows/s ÷ raw rows/s)',
      '≥ 0.8',
      trees?.efficiency ?? Number.NaN,
      '',
      0.8,
      'min',
    ),
    ...m.batch.models.map((x) =>
      check(
        `json-floor-${x.model}`,
        `1000-row JSON request through the handler ÷ the JSON floor (JSON.parse of the body, one raw \`session.run\`, JSON.stringify of the answer), ${MODEL_LABEL[x.model]}`,
        '≤ 1.5×',
        x.floorRatio,
        '×',
        1.5,
        'max',
      ),
    ),
    check(
      'batch-speedup',
      'Batched request over the per-row loop, tree ensemble, 1000 rows',
      '≥ 20×',
      trees?.speedupOverLoop ?? Number.NaN,
      '×',
      20,
      'min',
    ),
    check(
      'cold-start',
      `Cold start to first prediction, ${MODEL_LABEL[COLD_MODEL]}, median of ${m.coldStart.runs}, as deployed`,
      '≤ 350 ms',
      cold?.total.medianMs ?? Number.NaN,
      'ms',
      350,
      'max',
    ),
    check('cold-start-ratio', 'The same ÷ a bare ONNX Runtime process (median ÷ median)', '≤ 3×', cold?.ratio ?? Number.NaN, '×', 3, 'max'),
    check(
      'http',
      'Local HTTP req/s ÷ baseline req/s, concurrency 8, validation and JWT auth on (prediction logs off)',
      '≥ 0.7',
      httpRatio(m, HTTP_TARGET_VARIANT),
      '',
      0.7,
      'min',
    ),
    check(
      'http-npm-start',
      '`npm start` as shipped (auth on, prediction logs to dynalite in its child process, access log on, through tsx): req/s ÷ baseline req/s, concurrency 8',
      '≥ 0.5',
      httpRatio(m, 'npmStart'),
      '',
      0.5,
      'min',
    ),
    check(
      'rss-growth',
      `RSS growth over ${num(memory?.answered ?? Number.NaN)} requests after warm-up`,
      '≤ 50 MB',
      memory?.rssGrowthMb ?? Number.NaN,
      'MB',
      50,
      'max',
    ),
    check('layer-x86_64', 'ONNX Runtime layer, unzipped, x86_64', '≤ 50 MB', layer('x86_64') / MIB, 'MB', 50, 'max'),
    check('layer-arm64', 'ONNX Runtime layer, unzipped, arm64', '≤ 30 MB', layer('arm64') / MIB, 'MB', 30, 'max'),
    check('bundle', 'Function bundle (index.mjs + source map, as deployed)', '≤ 1 MB', m.sizes.bundle.assetBytes / MIB, 'MB', 1, 'max'),
    check(
      'hostile-bodies',
      `Hostile body just under the body limit, refused: handler ÷ JSON.parse of the same bytes, median (worst: ${hostileWorst(m)?.id ?? 'n/a'})`,
      '≤ 2×',
      hostileWorst(m)?.ratio ?? Number.NaN,
      '×',
      2,
      'max',
    ),
    check(
      'batch-job',
      `Batch job on the local stack, ${num(m.batchJobs.rows)} JSON Lines rows of ${MODEL_LABEL[m.batchJobs.model]}, submission to SUCCEEDED: rows/s ÷ the floor's (one GetObject, parse, one \`session.run\` per ${num(m.batchJobs.rowsPerBatch)} rows, one upload)`,
      '≥ 0.5',
      m.batchJobs.ratio,
      '',
      0.5,
      'min',
    ),
  ];
}

/** The hostile body that costs the handler most against its parse (the compressed one aside: its baseline is another body). */
const hostileWorst = (m: Measured) =>
  worst(
    m.hostile.cases.filter((c) => c.id !== 'gzip-bomb'),
    (c) => c.ratio,
    'max',
  );

/** The timed job closest to the median: the one whose breakdown the report shows. */
const medianJob = (m: Measured): BatchJobRun | undefined => worst(m.batchJobs.jobs, (j) => Math.abs(j.ms - m.batchJobs.jobMs), 'min');

/** The floor runs averaged: they bracket every job, so their mean is the floor the jobs ran beside. */
function meanFloor(m: Measured): BatchFloorRun | undefined {
  const floors = m.batchJobs.floors;
  if (floors.length === 0) return undefined;
  const mean = (pick: (f: BatchFloorRun) => number) => floors.reduce((sum, f) => sum + pick(f), 0) / floors.length;
  return {
    ms: mean((f) => f.ms),
    rowsPerSecond: mean((f) => f.rowsPerSecond),
    cpuMs: mean((f) => f.cpuMs),
    serversCpuMs: mean((f) => f.serversCpuMs),
    outputBytes: floors[0]?.outputBytes ?? 0,
    parseMs: mean((f) => f.parseMs),
    runMs: mean((f) => f.runMs),
    encodeMs: mean((f) => f.encodeMs),
  };
}

/** The job's phases, largest first: "map 31.2 s (70%), assemble ...". */
function jobPhases(job: BatchJobRun, count: number = BATCH_JOB_PHASES.length): string {
  return [...BATCH_JOB_PHASES]
    .sort((a, b) => job.phases[b] - job.phases[a])
    .slice(0, count)
    .map((p) => `${p === 'resultWriter' ? 'ResultWriter' : p} ${ms(job.phases[p])} (${percent(job.phases[p] / job.ms)})`)
    .join(', ');
}

/** CPU of a run in both processes: "12.3 s here + 4.5 s in the servers". */
const cpuOf = (run: { cpuMs: number; serversCpuMs: number }) =>
  `${num(run.cpuMs / 1000)} s in the stack's process + ${num(run.serversCpuMs / 1000)} s in the servers'`;

// ---------------------------------------------------------------------------------------------
// Headline

export function headline(m: Measured): string[] {
  const lines: string[] = [];
  const iris = m.handler.models.find((x) => x.model === 'iris');
  const log = m.handler.log;
  if (iris) {
    lines.push(
      `Handler overhead: +${ms(iris.overheadMedianMs)} median per single-row request over ONNX Runtime's own \`session.run\` (sample model; ${times(iris.ratio)} the raw run), prediction log off. With prediction logs on (queued, written in batches in the background) the handler's median is ${times(log.ratio)} that with them off (p99 ${times(log.p99Ratio)}); with data capture of every request (queued, built and delivered to S3 in the background) ${times(m.handler.capture.ratio)} that with capture off (p99 ${times(m.handler.capture.p99Ratio)}); with a shadow test on every request (the candidate run after the answer, in batches of 8 that the drain between requests runs) the caller's median is ${times(m.handler.shadow.ratio)} that with none (p99 ${times(m.handler.shadow.p99Ratio)}).`,
    );
  }
  const trees = m.batch.models.find((x) => x.model === 'trees');
  if (trees) {
    lines.push(
      `Batching: a 1000-row request through the handler runs at ${num(trees.efficiency, 2)}× raw ONNX Runtime's batched throughput (tree ensemble, ${perSecond(trees.handlerRowsPerSecond)} rows/s) and ${times(trees.speedupOverLoop)} faster than a per-row \`session.run\` loop.`,
    );
  }
  const cold = m.coldStart.models.find((x) => x.model === COLD_MODEL);
  const { tracing, powertools, before } = m.coldStart;
  if (cold) {
    lines.push(
      `Cold start: ${ms(cold.total.medianMs)} from process start to the first prediction (median of ${m.coldStart.runs}, sample model fetched from S3), ${times(cold.ratio)} a bare ONNX Runtime process (the last run before Powertools, with the SDK external: ${ms(before.sdkExternalMs)}, ${times(before.sdkExternalMs / before.bareMs)}). Powertools Logger and Metrics cost ${ms(powertools.loggerMetricsMs)} of it, measured in isolation.`,
    );
    lines.push(
      `Tracing (TRACING=true, X-Ray): ${tracing.addedMedianMs >= 0 ? '+' : ''}${ms(tracing.addedMedianMs)} at cold start (${ms(tracing.total.medianMs)}), ${tracing.warmAddedMedianMs >= 0 ? '+' : ''}${ms(tracing.warmAddedMedianMs)} per warm request at the median (${times(tracing.warmRatio)}; ${num(tracing.segmentsPerRequest, 2)} segment documents sent per request).`,
    );
  }
  lines.push(
    `HTTP at concurrency 8, against a minimal node:http + ONNX Runtime server: the local API with validation and JWT auth serves ${num(httpRatio(m, 'apiAuth'), 2)}× its req/s (${num(httpRatio(m, 'api'), 2)}× without auth, ${num(httpRatio(m, 'apiLog'), 2)}× with prediction logs); \`npm start\` as shipped ${num(httpRatio(m, 'npmStart'), 2)}× (${num(httpRatio(m, 'npmStartQuiet'), 2)}× with its access log off).`,
  );
  const memory = m.memory.runs[0];
  if (memory)
    lines.push(
      `Memory: RSS ${memory.rssGrowthMb >= 0 ? '+' : ''}${num(memory.rssGrowthMb)} MB over ${num(memory.answered)} requests after warm-up (${num(memory.rssEndMb)} MB at the end).`,
    );
  const layer = (arch: string) => m.sizes.layers.find((l) => l.architecture === arch)?.unzippedBytes ?? Number.NaN;
  const family = (id: BundleFamilyId) => m.sizes.bundle.families.find((f) => f.family === id)?.bytes ?? 0;
  lines.push(
    `Size: function bundle ${mib(m.sizes.bundle.assetBytes)} (${mib(m.sizes.bundle.jsBytes)} of it code, of which the AWS SDK ${num(family('awsSdk') / 1000)} kB and zod ${num(family('zod') / 1000)} kB), ONNX Runtime layer ${mib(layer('x86_64'))} unzipped on x86_64, ${mib(layer('arm64'))} on arm64.`,
  );
  const hostile = hostileWorst(m);
  const bomb = m.hostile.cases.find((c) => c.id === 'gzip-bomb');
  if (hostile)
    lines.push(
      `Hostile bodies: refusing a body built to be expensive, just under the ${num(m.hostile.limitBytes / 1e6, 1)} MB limit, costs the handler at most ${times(hostile.ratio)} what \`JSON.parse\` of the same bytes costs (${hostile.id}); a gzip body that would inflate past the limit is stopped at it in ${ms(bomb?.handler.medianMs ?? Number.NaN)}; no error body is larger than ${num(Math.max(...m.hostile.cases.map((c) => c.responseBytes)))} bytes.`,
    );
  const job = medianJob(m);
  const jobs = m.batchJobs;
  if (job)
    lines.push(
      `Batch jobs: a ${num(jobs.rows)}-row JSON Lines job of the sample model runs on the local stack, submission to SUCCEEDED, at ${perSecond(jobs.jobRowsPerSecond)} rows/s, ${num(jobs.ratio, 2)}× the floor measured beside it (${perSecond(jobs.floorRowsPerSecond)} rows/s: one GetObject, parse, one \`session.run\` per ${num(jobs.rowsPerBatch)} rows, one upload); its phases: ${jobPhases(job, 3)}.`,
    );
  const hitBig = m.cache.models.find((x) => x.rows > 1);
  const hitSmall = m.cache.models.find((x) => x.rows === 1);
  const lookup = m.cache.online.sizes.find((x) => x.rows > 1);
  if (hitBig && hitSmall && lookup)
    lines.push(
      `Prediction cache: a hit takes ${times(hitBig.hitRatio)} a miss's median (${MODEL_LABEL[hitBig.model]}, ${num(hitBig.rows)} rows: ${ms(hitBig.hit.medianMs)} against ${ms(hitBig.miss.medianMs)}; ${times(hitSmall.hitRatio)} for ${MODEL_LABEL[hitSmall.model]}'s single row), and a miss ${times(hitBig.missRatio)} (${times(hitSmall.missRatio)} for the single row) the same version's without a cache. Online features: ${num(lookup.rows)} rows by key (${num(lookup.readsPerRequest)} BatchGetItem calls to the local DynamoDB look-alike) take ${times(lookup.ratio)} the same model fed the full vector.`,
    );
  lines.push(
    `Threads: on this machine the figures favour ONNX Runtime with ${m.threads.recommended} (the default here today: ${m.threads.current}); see section 7.`,
  );
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Where a target is missed: what the profile shows (figures of this run), and the next step

function whyMissed(r: BenchResults, id: string): string {
  switch (id) {
    case 'handler-overhead': {
      const x = worst(r.handler.models, (h) => h.overheadMedianMs, 'max');
      if (!x) return '';
      return `Layers of the handler's median (${MODEL_LABEL[x.model]}): the adapter's tensor conversion adds ${ms(x.adapter.medianMs - x.raw.medianMs)}, the serving core (request schema, version lookup, decode, encode, queueing the prediction log record) ${ms(x.core.medianMs - x.adapter.medianMs)}, the HTTP edge (middy, body checks, request id, response JSON) ${ms(x.handler.medianMs - x.core.medianMs)}. CPU profile of the handler (${MODEL_LABEL[r.handler.profiledModel]}): ${topGroups(r.handler.profile)}.`;
    }
    case 'prediction-log': {
      const x = r.handler.log;
      return `Logs off / on: median ${ms(x.withoutLog.medianMs)} / ${ms(x.withLog.medianMs)}, p99 ${ms(x.withoutLog.p99Ms)} / ${ms(x.withLog.p99Ms)}; process CPU per request (background writes and flushes included) ${ms(x.cpuMsPerCallWithout)} / ${ms(x.cpuMsPerCallWith)}. ${logBatchesLine(r)} CPU profile with logs on: ${topGroups(x.profile)}; largest functions ${topFunctions(x.profile)}.`;
    }
    case 'data-capture': {
      const x = r.handler.capture;
      return `Capture off / on: median ${ms(x.withoutCapture.medianMs)} / ${ms(x.withCapture.medianMs)}, p99 ${ms(x.withoutCapture.p99Ms)} / ${ms(x.withCapture.p99Ms)}; process CPU per request (building and delivering the records in the flushes included) ${ms(x.cpuMsPerCallWithout)} / ${ms(x.cpuMsPerCallWith)}. ${captureDeliveryLine(r)} CPU profile with capture on: ${topGroups(x.profile)}; largest functions ${topFunctions(x.profile)}.`;
    }
    case 'shadow-test': {
      const x = r.handler.shadow;
      return `No shadow test / shadow test on: median ${ms(x.withoutShadow.medianMs)} / ${ms(x.withShadow.medianMs)}, p99 ${ms(x.withoutShadow.p99Ms)} / ${ms(x.withShadow.p99Ms)}; the drain after each request ${ms(x.drainWithout.medianMs)} / ${ms(x.drainWith.medianMs)} at the median; process CPU per request (the candidate's runs in the drains included) ${ms(x.cpuMsPerCallWithout)} / ${ms(x.cpuMsPerCallWith)}. ${shadowResultsLine(r)} CPU profile with the test on: ${topGroups(x.profile)}; largest functions ${topFunctions(x.profile)}.`;
    }
    case 'batch-efficiency':
    case 'batch-speedup': {
      const x = r.batch.models.find((b) => b.model === 'trees');
      if (!x) return '';
      const ceiling = x.perRowLoop.medianMs / x.raw.medianMs;
      const limit =
        id === 'batch-speedup' && ceiling < 20
          ? ` Even one raw batched \`session.run\` is only ${times(ceiling)} faster than the loop for this model, so no server reaches the target on this machine: evaluating the trees for each row costs more than a call's fixed overhead.`
          : '';
      return `Medians for 1000 rows (tree ensemble): raw run ${ms(x.raw.medianMs)}, + adapter ${ms(x.adapter.medianMs)}, + serving core ${ms(x.core.medianMs)}, + HTTP edge ${ms(x.handler.medianMs)} (${num(x.requestBytes / 1000)} kB in, ${num(x.responseBytes / 1000)} kB out); the per-row loop ${ms(x.perRowLoop.medianMs)}.${limit} CPU profile of the batched handler: ${topGroups(r.batch.profile)}; largest functions ${topFunctions(r.batch.profile)}.`;
    }
    case 'cold-start':
    case 'cold-start-ratio': {
      const x = r.coldStart.models.find((c) => c.model === COLD_MODEL);
      if (!x) return '';
      const phases = [...COLD_START_PHASES].sort((a, b) => x.phases[b] - x.phases[a]).slice(0, 3);
      const { powertools, before, bundle } = r.coldStart;
      return `Largest phases (${MODEL_LABEL[x.model]}): ${phases.map((p) => `${PHASE_LABEL[p]} ${ms(x.phases[p])}`).join(', ')}; a bare ONNX Runtime process needs ${ms(x.bare.medianMs)} in all (runtime load ${ms(x.bareRuntimeLoadMs)}, session create ${ms(x.bareSessionCreateMs)}). CPU profile of a whole cold start: ${topGroups(r.coldStart.profile)}; largest functions ${topFunctions(r.coldStart.profile)}. The bundle loaded is ${mib(bundle.jsBytes)} of code (+ ${mib(bundle.mapBytes)} of source map, read at load under \`--enable-source-maps\`): ${familyList(r, 4)}. Powertools Logger and Metrics alone add ${ms(powertools.loggerMetricsMs)} to an empty process (${ms(powertools.empty.medianMs)}). Before: the last committed run (${before.commit}, SDK external, no Powertools) took ${ms(before.sdkExternalMs)} (module load ${ms(before.sdkExternalModuleLoadMs)}); its SDK-bundled what-if ${ms(before.sdkBundledMs)} (module load ${ms(before.sdkBundledModuleLoadMs)}); module load now ${ms(x.phases.moduleLoad)}.`;
    }
    case 'http': {
      const profile = r.http.profiles.find((p) => p.variant === HTTP_TARGET_VARIANT)?.profile;
      return `At concurrency 8, against the baseline: ${HTTP_STEPS.map((v) => `${VARIANT_LABEL[v]} ${num(httpRatio(r, v), 2)}×`).join(', ')}.${profile ? ` CPU profile of ${VARIANT_LABEL[HTTP_TARGET_VARIANT]} under load: ${topGroups(profile)}; largest functions ${topFunctions(profile)}.` : ''}`;
    }
    case 'http-npm-start': {
      const log = r.handler.log;
      const shipped = r.http.points.find((p) => p.variant === 'npmStart' && p.connections === 8);
      const baseline = httpRps(r, 'baseline');
      const step = (from: HttpVariantId, to: HttpVariantId) => signedPercent(httpRps(r, to) / httpRps(r, from) - 1);
      const profile = r.http.profiles.find((p) => p.variant === 'npmStart')?.profile;
      const logged = r.http.profiles.find((p) => p.variant === 'apiLog')?.profile;
      return [
        `At concurrency 8, against the baseline: ${HTTP_STEPS.map((v) => `${VARIANT_LABEL[v]} ${num(httpRatio(r, v), 2)}×`).join(', ')}.`,
        `The largest step is the whole local stack (${step('apiAuth', 'npmStartQuiet')} against the API with auth alone); the access log then changes req/s by ${step('npmStartQuiet', 'npmStartBundled')} and running through tsx by ${step('npmStartBundled', 'npmStart')}.`,
        `What the stack adds is mostly the prediction log, off the request path but not off the machine: \`npm start\` writes every record through the AWS SDK, and its embedded dynalite (in a child process, on the other core, which the load generator also needs on this 2-core machine) stores it. Section 2 measured ${ms(log.cpuMsPerCallWith - log.cpuMsPerCallWithout)} of CPU per record on the writing side and ${ms(log.storeCpuMsPerRecord)} on dynalite's, against ${ms(log.cpuMsPerCallWithout)} for a whole single-row request with logs off; even with a DynamoDB stand-in that answers at once, in another process, logs take the API from ${num(httpRatio(r, 'api'), 2)}× to ${num(httpRatio(r, 'apiLog'), 2)}×.${logged ? ` (CPU profile of the API with prediction logs: ${topGroups(logged)}.)` : ''}`,
        shipped && shipped.logBacklog > 0
          ? `Under this load the writer falls behind: ${num(shipped.logBacklog)} records were still queued when each ${num(r.http.seconds / r.http.rounds)} s slice ended, and took ${ms(shipped.drainMs)} to store once the load stopped; counting that time, \`npm start\` served ${num(shipped.sustainedRequestsPerSecond)} req/s, ${num(shipped.sustainedRequestsPerSecond / baseline, 2)}× the baseline. The writer kept up to ${log.writer.maxInFlight} BatchWriteItem call${log.writer.maxInFlight === 1 ? '' : 's'} in flight in section 2's capacity run.`
          : '',
        profile
          ? `CPU profile of ${VARIANT_LABEL.npmStart} under load, the backlog's writes included: ${topGroups(profile, 6)}; largest functions ${topFunctions(profile)}.`
          : '',
      ]
        .filter(Boolean)
        .join(' ');
    }
    case 'rss-growth': {
      const run = r.memory.runs[0];
      return run ? `The V8 heap after GC went from ${num(run.heapAfterWarmupMb)} MB to ${num(run.heapEndMb)} MB.` : '';
    }
    case 'hostile-bodies': {
      const w = hostileWorst(r);
      return w
        ? `${w.description}: the handler took ${ms(w.handler.medianMs)} where JSON.parse of it takes ${ms(w.parse.medianMs)}; something after the parse walks the data before a cheap check refuses it.`
        : '';
    }
    case 'batch-job': {
      const job = medianJob(r);
      const floor = meanFloor(r);
      if (!job || !floor) return '';
      return `The timed job nearest the median took ${ms(job.ms)} where the floor took ${ms(floor.ms)} (mean of its runs): ${jobPhases(job)}. Its ${num(job.batches.count)} batches took ${ms(job.batches.medianMs)} each at the median (p99 ${ms(job.batches.p99Ms)}), ${num(job.batches.meanInFlight, 2)} in flight on average. CPU: ${cpuOf(job)}, against the floor's ${cpuOf(floor)}. CPU profile of the stack's process through a job: ${topGroups(r.batchJobs.profile)}; largest functions ${topFunctions(r.batchJobs.profile)}.`;
    }
    case 'bundle':
      return `What it holds, largest first: ${familyList(r, 6)}; ${num(r.sizes.bundle.lazyBytes / 1000)} kB of the code is reached only through dynamic imports (the tracing, and the SDK's credential providers that Lambda's environment credentials never need), parsed at load but never run; the source map is ${mib(r.sizes.bundle.mapBytes)} of the asset.`;
    default:
      return '';
  }
}

/** The API variants in the order each adds one thing (section 5). */
const HTTP_STEPS: readonly HttpVariantId[] = ['api', 'apiAuth', 'apiLog', 'npmStartQuiet', 'npmStartBundled', 'npmStart'];

/** "AWS SDK 520 kB (@smithy/core 142 kB, ...), zod 455 kB, ...": the bundle's families, largest first. */
function familyList(r: Measured, count: number): string {
  return r.sizes.bundle.families
    .slice(0, count)
    .map(
      (f) =>
        `${FAMILY_LABEL[f.family]} ${num(f.bytes / 1000)} kB${
          f.inputs.length > 1
            ? ` (${f.inputs
                .slice(0, 3)
                .map((i) => `${i.path} ${num(i.bytes / 1000)} kB`)
                .join(', ')}${f.inputs.length > 3 ? ', ...' : ''})`
            : ''
        }`,
    )
    .join(', ');
}

function logBatchesLine(r: Measured): string {
  const x = r.handler.log;
  const perCall = x.batchWrites > 0 ? ` (${num(x.records / x.batchWrites, 2)} per call)` : '';
  return `The "on" handler queued ${num(x.records)} records, stored with ${num(x.batchWrites)} BatchWriteItem calls${perCall}; ${x.fallbackRecords === 0 ? 'none went to the fallback' : `**${num(x.fallbackRecords)} went to the fallback** (the table did not take them)`}.`;
}

function captureDeliveryLine(r: Measured): string {
  const x = r.handler.capture;
  return `The handler queued ${num(x.records)} records (every request with capture on, the switches' included); ${num(x.deliveredRecords)} (${num(x.meanRecordBytes)} bytes each on average) were delivered in ${num(x.objects)} JSON Lines objects; ${x.fallbackRecords === 0 ? 'none went to the fallback' : `**${num(x.fallbackRecords)} went to the fallback** (the bucket did not take them)`}.`;
}

function shadowResultsLine(r: Measured): string {
  const x = r.handler.shadow;
  const missing = x.missingResults === 0 ? ', one each' : `; **${num(x.missingResults)} records carried none**`;
  const failed = x.failedResults === 0 ? ', none of them an error' : `; **${num(x.failedResults)} results were errors**`;
  return `The prediction-log records of the ${num(x.requests)} requests with the shadow test set (warm-up included) carried ${num(x.shadowResults)} results of the candidate${missing}${failed}; the candidate took ${ms(x.candidateMeanMs)} per run on average (its own decode and \`session.run\`), and its outputs differed from the production version's by at most ${num(x.maxAbsDiff)} (the same file).`;
}

const COLD_START_NEXT_STEP =
  "Next step: module load is the largest phase, and most of its CPU is V8 compiling the bundle (`compileSourceTextModule` in the profile), which grows with the bundle's size: zod (now imported as a namespace, which drops its locales; `zod/mini` would shrink it further) is the largest part left after the AWS SDK (the tracer is bundled only with tracing on). The registry lookup is the first SDK call (endpoint and credential resolution, a new connection). Then measure on Lambda itself, where Node 22 and the sandbox's CPU share change the figures.";

/** What to do next when a target is missed (no figures here: they are all in the tables). */
const NEXT_STEPS: Readonly<Record<string, string>> = {
  'handler-overhead': 'Next step: cut the largest frames of that profile first.',
  'prediction-log':
    'Next step: the profile above shows what the request path still does for the log: `write` only queues, and a full batch is built and sent on the next turn of the event loop, after the answer is written.',
  'data-capture':
    "Next step: on the request path capture only checks the model's settings (read with the production pointer) and queues a closure over the decoded inputs and the outputs; the record is built in the flush, after the answer. Compare the profile above with section 2's profile of the handler with capture off: the frames only it has are what capture costs on the request path.",
  'shadow-test':
    "Next step: on the request path a shadow test only draws the sample and queues the job (`ShadowRunner.submit`); the candidate runs after the answer, in the drain. Compare the profile above with section 2's profile of the handler with no shadow test: frames only it has on the request path are the test's own cost. If there are none, what the next request pays is the candidate's work just before it (the caches, the JIT's and the garbage collector's state): measure the same handler with no shadow test and the candidate's version run in the drain by hand to tell the two apart.",
  'batch-efficiency':
    'Next step: the gap to the limit is JavaScript whose cost grows with the rows, around a `session.run` that is already batched: the body is parsed and walked for depth, the instances go through the zod schema, and the response is serialized. Check the instances with a plain loop, and decode straight into the input tensor.',
  'batch-speedup':
    'Next step: the same as for batch efficiency; every millisecond of per-row JavaScript taken out of the batched path raises this ratio, up to the limit above.',
  'cold-start': COLD_START_NEXT_STEP,
  'cold-start-ratio': COLD_START_NEXT_STEP,
  http: "Next step: the gap splits into the local server's API Gateway emulation (event building, route matching, the authorizer cache: local/server.ts and local/http/*.ts in the profile), the handler, and the socket writes; the largest of them in the profile is where to start.",
  'http-npm-start':
    "Next step: the bound is the machine, not the request path. Storing one record costs dynalite more CPU than the minimal server spends on a whole request (section 2), and on 2 cores the load generator, the API and dynalite compete; the API alone, without logs, is itself near the limit at concurrency 8. What is left to try: a cheaper local store for the prediction log than dynalite (it reads each item before it writes it), and less JavaScript per request in the local server and the handler (the profile of the API with auth, section 5). The record writer already sends full batches of 25, up to 4 at once, after the answer, and skips the AWS SDK's logging filter.",
  'rss-growth': 'Next step: take heap snapshots before and after the measured run (`--heapsnapshot-signal`) and diff them.',
  'layer-x86_64': 'Next step: check what `libonnxruntime` ships beyond the CPU provider and whether a minimal build fits.',
  'layer-arm64': 'Next step: check what `libonnxruntime` ships beyond the CPU provider and whether a minimal build fits.',
  'batch-job':
    "Next step: the map spends its time in round trips, three per batch (the batch function reads its input range, then writes its part and adds its progress side by side), and the assembly reads every part again (eight ahead) and writes the output a second time, where the floor writes it once. Locally the S3- and DynamoDB-compatible servers (s3rver stores each object as files with an MD5; dynalite, LevelDB) take as much CPU as the job itself from the same 2 cores; on AWS that share is S3's and DynamoDB's. What is left to try: larger splits and batches (rowsPerBatch up to the deployment's batch.maxRowsPerBatch, with MAX_SPLIT_ROWS raised to match: fewer invocations, requests and progress writes per row, on AWS too); float32 predictions printed with their shortest digits (issue 12: a third less output to write, read and write again); an assembly that copies parts server-side (UploadPartCopy) once parts reach S3's 5 MiB part minimum; and fewer per-row objects between the reader, the codec and the parts (the garbage collector's share).",
  bundle:
    "Next step: the AWS SDK is now bundled on purpose (it halved module load; section 4, before and after), so the 1 MB budget needs the rest to shrink: zod's classic API (its `zod/mini` build is a quarter of its size), and the source map could stay out of the deployed asset (at the price of readable stack traces in the logs).",
};

// ---------------------------------------------------------------------------------------------
// The document

/** The steps of section 5's "where the time goes" table: [what is added, from, to]. */
const HTTP_STEP_ROWS: ReadonlyArray<readonly [string, HttpVariantId, HttpVariantId]> = [
  ['the handlers behind the local API (routing, validation, codec)', 'baseline', 'api'],
  ['+ JWT authorization', 'api', 'apiAuth'],
  ['+ prediction logs (to a stand-in DynamoDB in another process)', 'api', 'apiLog'],
  ['+ the whole local stack (log writes to dynalite in its child process, version routing)', 'apiAuth', 'npmStartQuiet'],
  ['+ the access log on stdout', 'npmStartQuiet', 'npmStartBundled'],
  ['+ running through tsx, as `npm start` does', 'npmStartBundled', 'npmStart'],
];

const signedPercent = (share: number) =>
  Number.isFinite(share) ? `${share >= 0 ? '+' : '−'}${Math.abs(Math.round(share * 100))}%` : 'n/a';

const coldSample = (r: Measured) => r.coldStart.models.find((x) => x.model === COLD_MODEL);

/** Section 9: the job against its floor, where the job's time goes, and its CPU profile. */
function batchJobsSection(r: BenchResults): string[] {
  const x = r.batchJobs;
  const job = medianJob(r);
  const floor = meanFloor(r);
  const runs = (what: string, count: number) => `${count} ${what}${count === 1 ? '' : 's'}`;
  return [
    '## 9. Batch jobs',
    '',
    `A job of ${num(x.rows)} JSON Lines rows of ${MODEL_LABEL[x.model]}: ${num(x.inputBytes / 1e6)} MB, each line an object of the model's features. It runs on the local stack as \`npm start\` runs it, in a process of its own (the DynamoDB- and S3-compatible servers in theirs, state in a data folder, the product's defaults): submitted through the job service with rowsPerBatch ${num(x.rowsPerBatch)} (the batch function's MAX_ROWS) and maxConcurrency ${x.maxConcurrency} (on this machine, batches in flight enough for one's S3 reads and writes to overlap another's parsing and run), and timed from submission until its workflow has ended SUCCEEDED: the plan, the emulated Distributed Map calling the batch function, the ResultWriter and the assembly. The bench then checks that \`predictions.jsonl\` holds a prediction for every row, in order, and \`errors.jsonl\` none.`,
    '',
    `The floor runs in the same process against the same server: one streamed GetObject of the same bytes, the lines split and parsed, a float32 tensor and one raw \`session.run\` per ${num(x.rowsPerBatch)} rows (the product's session options), each prediction encoded as the job encodes it, and one streamed upload of the output (the product's part size and queue). A floor runs before and after every job, after an untimed warm-up job and floor of ${num(x.warmupRows)} rows; ${runs('job', x.jobs.length)} and ${runs('floor', x.floors.length)}, medians.`,
    '',
    table(
      ['', 'Wall (median)', 'Rows/s', "CPU, stack's process", 'CPU, S3 and DynamoDB servers', 'Output'],
      [
        [
          'Floor',
          ms(x.floorMs),
          perSecond(x.floorRowsPerSecond),
          floor ? `${num(floor.cpuMs / 1000)} s` : '',
          floor ? `${num(floor.serversCpuMs / 1000)} s` : '',
          floor ? `${num(floor.outputBytes / 1e6)} MB` : '',
        ],
        [
          'Job',
          ms(x.jobMs),
          perSecond(x.jobRowsPerSecond),
          job ? `${num(job.cpuMs / 1000)} s` : '',
          job ? `${num(job.serversCpuMs / 1000)} s` : '',
          job ? `${num(job.outputBytes / 1e6)} MB` : '',
        ],
      ],
    ),
    '',
    `**Job ÷ floor: ${num(x.ratio, 2)}** in rows/s (target ≥ 0.5).${floor && job && floor.outputBytes === job.outputBytes ? " The floor writes the same bytes as the job's `predictions.jsonl`." : ''} CPU is each process's user and system time over a run, ONNX Runtime's threads included (the floor's: the mean of its runs; the job's: the median run's); the servers' is read from /proc (0 where it cannot be). On AWS the servers' share is S3's and DynamoDB's, not the function's; here they take it from the same ${r.machine.cores} cores.`,
    '',
    ...(floor
      ? [
          `The floor's ${ms(floor.ms)} (mean of its runs): splitting and parsing the lines and filling the tensors ${ms(floor.parseMs)}, \`session.run\` ${ms(floor.runMs)}, encoding the predictions ${ms(floor.encodeMs)}; the rest, ${ms(Math.max(0, floor.ms - floor.parseMs - floor.runMs - floor.encodeMs))}, is the stream's own work and waiting on the S3 server (the reads, and the upload's back-pressure).`,
          '',
        ]
      : []),
    ...(job
      ? [
          `Where the job's time goes, in the timed run nearest the median (${ms(job.ms)}). Each phase runs from the end of the one before to the end of the S3 write that closes it, as a middleware on the stack's S3 client saw them (so the plan's job update falls in the map, the last batch's progress update in the ResultWriter):`,
          '',
          table(
            ['Phase', 'Wall', 'Share'],
            BATCH_JOB_PHASES.map((p) => [JOB_PHASE_LABEL[p], ms(job.phases[p]), percent(job.phases[p] / job.ms)]),
          ),
          '',
          `The Distributed Map ran ${num(job.batches.count)} batches (children, from its ResultWriter's SUCCEEDED results, StartDate to StopDate: reading the batch's splits from the splits file, then the batch function): ${ms(job.batches.medianMs)} each at the median, p99 ${ms(job.batches.p99Ms)}, ${num(job.batches.meanInFlight, 2)} in flight on average over the map phase.`,
          '',
          "The SDK calls the stack's S3 and DynamoDB clients made during the job (summed time: calls overlap when batches run side by side):",
          '',
          table(
            ['Object', 'Command', 'Calls', 'Summed time', 'Mean'],
            job.calls.slice(0, 10).map((c) => [c.target, c.command, num(c.count), ms(c.totalMs), ms(c.totalMs / c.count)]),
          ),
          '',
        ]
      : []),
    ...profileLines(`CPU profile of the stack's process through one more job of ${num(x.profileRows)} rows, submission to end`, x.profile),
    '',
  ];
}

/** "0.065 / 0.12 ms": a median and a p99. */
const p50p99 = (stat: Stat) => `${num(stat.medianMs)} / ${ms(stat.p99Ms)}`;

/**
 * The share of requests that must hit for a cache to cost no more than none, per model: a miss
 * costs (miss − no cache) more, a hit saves (no cache − hit), medians.
 */
function breakEven(models: BenchResults['cache']['models']): string {
  const shares = models.map((m) => {
    const extra = m.miss.medianMs - m.noCache.medianMs;
    const saved = m.noCache.medianMs - m.hit.medianMs;
    const share = extra <= 0 ? 0 : saved > 0 ? extra / (extra + saved) : Number.NaN;
    return `${Number.isFinite(share) ? percent(share) : 'n/a'} for ${MODEL_LABEL[m.model]}, ${num(m.rows)} row${m.rows === 1 ? '' : 's'}`;
  });
  return `From these medians, a version with a cache answers a mix of hits and misses no slower than without one once the share of hits passes ${shares.join('; ')}.`;
}

/** Section 10: the prediction cache's hits and misses against no cache, and online features by key against the full vector. */
function cacheSection(r: BenchResults): string[] {
  const x = r.cache;
  const o = x.online;
  const hits = x.models.reduce((sum, m) => sum + m.hits, 0);
  const misses = x.models.reduce((sum, m) => sum + m.misses, 0);
  const rowsOf = (rows: number) => `${num(rows)} row${rows === 1 ? '' : 's'}`;
  const code = (names: readonly string[]) => names.map((n) => `\`${n}\``).join(' and ');
  const saved = x.models
    .map((m) => `${ms(m.savedMedianMs)} of the miss's ${ms(m.miss.medianMs)} for ${MODEL_LABEL[m.model]}, ${rowsOf(m.rows)}`)
    .join('; ');
  return [
    '## 10. Prediction cache and online features',
    '',
    `The predict handler called in-process as in section 2, on this run's machine (${r.machine.cpuModel}, ${r.machine.cores} cores, Node.js ${r.machine.node}, onnxruntime-node ${r.machine.onnxruntime}; load average ${num(r.loadAverage.start, 2)} at the start of the run), every case of a table in alternating blocks of the same loop; prediction logs kept by a log that queues each record and builds it after the block, untimed.`,
    '',
    '### Prediction cache',
    '',
    `Each model registered as a version with \`predictionCache\` (maxEntries ${num(x.maxEntries)}), served by two handlers over the same registry and the same ONNX Runtime session: one whose serving core has the sandbox's prediction caches, as the function builds it, and one without (the version served as if it declared none). A miss is a request the cache does not hold: the miss case sends ${num(x.distinctInputs)} distinct requests in turn, one more than the cache keeps, so the least recently used entry evicted is always the one coming next, and each miss runs the model and keeps its answer in a full cache. A hit is the same request repeated (put back before each of its blocks, untimed). No cache sends the miss case's requests. Every request of the hit and miss cases was checked through its log record's \`cacheHit\`: ${num(hits)} hits and ${num(misses)} misses, none the other.`,
    '',
    table(
      ['Model', 'Rows', 'No cache (p50 / p99)', 'Miss (p50 / p99)', 'Hit (p50 / p99)', 'Hit ÷ miss', 'Miss ÷ no cache', 'Hash alone (p50)'],
      x.models.map((m) => [
        MODEL_LABEL[m.model],
        num(m.rows),
        p50p99(m.noCache),
        p50p99(m.miss),
        p50p99(m.hit),
        `${times(m.hitRatio)} (p99 ${times(m.hitP99Ratio)})`,
        `${times(m.missRatio)} (p99 ${times(m.missP99Ratio)})`,
        ms(m.hash.medianMs),
      ]),
    ),
    '',
    `What a hit skips is the model's run and nothing else: \`session.run\` (the adapter's tensors in and out, and ONNX Runtime's run). Everything before the run still happens: the body is parsed and checked, the version resolved, the rows decoded into tensors (for a version with online features, the lookup too), and the decoded tensors hashed for the key (\`canonicalInputSha256\`: sha256 over each input's name, type, shape and bytes, the prediction log's \`inputSha256\`). Everything after it too: the answer is encoded from the kept output tensors as after a run, and logged (\`cacheHit: true\`), captured and counted like any other. Here a hit saved ${saved}, at the median.`,
    '',
    `Miss ÷ no cache is what the cache adds to a request that runs the model: the key's hash, and the cache's lookup and insertion (lru-cache, the entry's bytes counted, the least recently used entry evicted). "Hash alone" is \`canonicalInputSha256\` timed apart, in a tight loop over the same tensors: a lower bound of what it costs inside a request. With the product's prediction log on, a version without a cache computes the same hash anyway, when its log record is built, off the request path; a cached version's record reuses the request's. ${breakEven(x.models)}`,
    '',
    `### Online features (${o.sizes.map((s) => num(s.rows)).join(' and ')} rows)`,
    '',
    `A ${o.description} registered twice from the same file: a version that reads ${code(o.lookedUp)} by \`${o.entity}\` from a plain-layout table of ${num(o.items)} items (\`${o.table}\`, loaded in ${ms(o.loadMs)}) in the local DynamoDB-compatible server, dynalite, in another process, and takes ${code(o.requestTime)} with the request; and a version without online features sent all three, the values the table holds (the bench checks the two answer alike). The larger request names a distinct key per row: one BatchGetItem per 100 keys, run concurrently.`,
    '',
    table(
      [
        'Rows',
        'Keys',
        'BatchGetItem calls',
        'Full vector (p50 / p99)',
        'By key (p50 / p99)',
        'By key ÷ full vector',
        'Added (p50)',
        "dynalite's CPU per request",
      ],
      o.sizes.map((s) => [
        num(s.rows),
        num(s.keysPerRequest),
        num(s.readsPerRequest),
        p50p99(s.fullVector),
        p50p99(s.byKey),
        `${times(s.ratio)} (p99 ${times(s.p99Ratio)})`,
        ms(s.addedMedianMs),
        ms(s.storeCpuMsPerRequest),
      ]),
    ),
    '',
    `The time added is the lookup, most of it the reads: SDK calls over loopback to dynalite, a JavaScript look-alike of DynamoDB on the same ${r.machine.cores} cores, which takes CPU per item (its process's CPU per request is in the last column). On AWS the reads are DynamoDB's latency from the function instead, which this bench does not measure; the figure here says what the lookup costs on this machine, not there.`,
    '',
  ];
}

export function renderMarkdown(r: BenchResults): string {
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  const missed = r.targets.filter((t) => !t.met);
  const ratioAt = (variant: HttpVariantId, connections: number) =>
    variant === 'baseline'
      ? '1'
      : num(r.http.ratios.find((q) => q.variant === variant && q.connections === connections)?.ratio ?? Number.NaN, 2);

  push(
    '# Benchmarks',
    '',
    `Generated by \`${r.command}\` on ${r.date.slice(0, 10)} (${r.mode} run, ${r.durationSeconds} s). Every figure on this page comes from that one run; rerun the command to refresh it and [benchmarks.json](benchmarks.json), which holds the raw numbers. Most figures are ratios against a baseline measured in the same run (ONNX Runtime called directly, a minimal server, a bare process), so they carry over to another machine better than the absolute times do.`,
    '',
    '## Headline ratios',
    '',
    ...r.headline.map((line) => `- ${line}`),
    '',
    '## Machine',
    '',
    table(
      ['', ''],
      [
        ['CPU', `${r.machine.cpuModel}, ${r.machine.cores} cores (${r.machine.arch})`],
        ['Memory', `${r.machine.totalMemoryGb} GB`],
        ['OS', r.machine.os],
        ['Node.js', `${r.machine.node} (the bundle targets Lambda's Node 22)`],
        ['onnxruntime-node', r.machine.onnxruntime],
        [
          'Intra-op threads',
          `${r.intraOpThreads} (the product's default here: the core count, at most 4; on Lambda it follows the memory size)`,
        ],
        [
          'Load average (1 min) at start / end',
          `${num(r.loadAverage.start, 2)} / ${num(r.loadAverage.end, 2)} (other work on the machine slows the absolute figures, much less the ratios)`,
        ],
        ['Date', r.date],
      ],
    ),
    '',
    '## Targets',
    '',
    `Measured on this machine; reported, never asserted in tests. ${r.targets.length - missed.length} of ${r.targets.length} met.`,
    '',
    table(
      ['Target', 'Limit', 'Measured', 'Status'],
      r.targets.map((t) => [
        t.name,
        t.target,
        `${num(t.value)}${t.unit === '×' ? '×' : t.unit ? ` ${t.unit}` : ''}`,
        t.met ? 'met' : `**missed**: ${t.shortfall}`,
      ]),
    ),
    '',
  );
  if (missed.length > 0) {
    push('### Where a target is missed', '');
    for (const t of missed) push(`- **${t.name}**: ${t.shortfall}. ${whyMissed(r, t.id)} ${NEXT_STEPS[t.id] ?? ''}`.trimEnd());
    push('');
  }
  push(
    '## Models',
    '',
    table(
      ['Model', 'Registered as', 'What', 'Size', 'Features'],
      r.models.map((x) => [MODEL_LABEL[x.id], `\`${x.name}\``, x.description, `${num(x.bytes / 1000)} kB`, String(x.features)]),
    ),
    '',
    '## 1. The limit: ONNX Runtime called directly',
    '',
    "`session.run` on one float32 tensor, with the product's session options (CPU, all graph optimizations, sequential execution, one inter-op thread). The other sections divide by these.",
    '',
    table(
      ['Model', 'Rows per run', 'Median', 'p99', 'Rows/s'],
      r.limit.models.flatMap((x) =>
        x.batches.map((b) => [MODEL_LABEL[x.model], String(b.rows), ms(b.stat.medianMs), ms(b.stat.p99Ms), perSecond(b.rowsPerSecond)]),
      ),
    ),
    '',
    '## 2. Handler overhead (single row)',
    '',
    'The predict handler called in-process, as Lambda calls it, with an API Gateway event carrying `{"features": {...}}`, against `session.run` on the same row; both in alternating blocks of the same loop. Prediction logs off (a log port that keeps nothing).',
    '',
    table(
      ['Model', 'Raw run', 'Handler', 'Overhead (median)', 'Overhead (p99)', 'Handler ÷ raw'],
      r.handler.models.map((x) => [
        MODEL_LABEL[x.model],
        ms(x.raw.medianMs),
        ms(x.handler.medianMs),
        ms(x.overheadMedianMs),
        ms(x.overheadP99Ms),
        times(x.ratio),
      ]),
    ),
    '',
    'Where the overhead goes (medians; each layer includes the ones to its left):',
    '',
    table(
      ['Model', 'raw `session.run`', '+ adapter (tensors)', '+ serving core', '+ HTTP edge (= handler)'],
      r.handler.models.map((x) => [
        MODEL_LABEL[x.model],
        ms(x.raw.medianMs),
        ms(x.adapter.medianMs),
        ms(x.core.medianMs),
        ms(x.handler.medianMs),
      ]),
    ),
    '',
    ...profileLines(`CPU profile of the handler, ${MODEL_LABEL[r.handler.profiledModel]}, single rows`, r.handler.profile),
    '',
    `### Prediction logs on and off (${MODEL_LABEL[r.handler.log.model]})`,
    '',
    'The same handler with the product\'s prediction-log adapter as the function builds it (default options: `write` queues the record; a background writer builds the records and stores them with BatchWriteItem, up to 25 a call, once 25 are queued or 50 ms after the first) writing to the local DynamoDB-compatible server, dynalite, in another process; against a log that keeps nothing. Both in alternating blocks of 50 calls of the same loop; after each "on" block its last records are flushed, untimed, as the drain extension does after each invocation on Lambda, so none of its writes land in an "off" block. CPU is the process\'s CPU time per request, the background writes and the flushes included.',
    '',
    table(['', 'Logs off', 'Logs on', 'On ÷ off'], onOffRows(r.handler.log.withoutLog, r.handler.log.withLog, r.handler.log)),
    '',
    `${logBatchesLine(r)} dynalite's process used ${ms(r.handler.log.storeCpuMsPerRecord)} of CPU per record it stored.`,
    '',
    `The writer's capacity: ${num(r.handler.log.writer.records)} requests answered back to back (${ms(r.handler.log.writer.answeredMs)}, ${num(r.handler.log.writer.queuedAtEnd)} records still queued at the end), every record stored ${ms(r.handler.log.writer.storedMs)} after the first request: ${num(r.handler.log.writer.recordsPerSecond)} records/s into dynalite in another process, ${num(r.handler.log.writer.batchWrites)} BatchWriteItem calls, at most ${r.handler.log.writer.maxInFlight} in flight at once (the adapter's default \`concurrency\` is 4). CPU per record: ${ms(r.handler.log.writer.processCpuMsPerRecord)} in this process (the request and its record's write), ${ms(r.handler.log.writer.storeCpuMsPerRecord)} in dynalite's.`,
    '',
    ...profileLines('CPU profile of the handler with prediction logs on', r.handler.log.profile),
    '',
    `### Data capture on and off (${MODEL_LABEL[r.handler.capture.model]})`,
    '',
    `One handler with the product's capture log as the function builds it with \`CAPTURE_BUCKET\` set (default options: \`write\` queues the request; the records are built, redacted and bounded in the background and delivered as one JSON Lines object per partition per flush) writing to the local S3-compatible server, s3rver, in another process; its model with data capture at ${num(r.handler.capture.samplePercent)}% (settings as \`PUT /v1/models/{m}/capture\` stores them: no redaction, the default record bound) against the same model with capture off. Prediction logs are off in both, so only capture differs. Both in alternating blocks of 50 calls of the same loop; before each block the settings are switched on the registry and re-read by the handler, untimed (one handler for both, because two handlers with the same settings, each with its own ONNX Runtime session, differ from each other by several percent); after each "on" block its records are flushed, untimed, as the drain extension does after each invocation on Lambda. CPU is the process's CPU time per request, the records' building and delivery in the flushes included.`,
    '',
    table(
      ['', 'Capture off', 'Capture on', 'On ÷ off'],
      onOffRows(r.handler.capture.withoutCapture, r.handler.capture.withCapture, r.handler.capture),
    ),
    '',
    `${captureDeliveryLine(r)} s3rver's process used ${ms(r.handler.capture.storeCpuMsPerRecord)} of CPU per record delivered.`,
    '',
    ...profileLines('CPU profile of the handler with data capture on', r.handler.capture.profile),
    '',
    `### Shadow tests on and off (${MODEL_LABEL[r.handler.shadow.model]})`,
    '',
    `One handler over the product's DynamoDB registry adapter on the local DynamoDB-compatible server, dynalite, in another process, where a shadow test is set on the model's record as on AWS. Its model (the sample model, registered under a name of its own) has two versions of the same file: the production one, and a candidate in development; each has its own ONNX Runtime session, so every shadow run is a real \`session.run\`. "On": a shadow test of the candidate on ${num(r.handler.shadow.samplePercent)}% of the requests, started as \`POST /v1/models/{m}/shadow\` starts one; "off": none (stopped as \`DELETE\` stops it). Data capture off in both; the prediction log is a log that records what it is given, building each record in the flush as the product's log builds it after the answer. Both in alternating blocks of 50 calls of the same loop; before each block the test is started or stopped and re-read by the handler, untimed. The caller's latency is the time from invoking the handler to its answer. After each request \`PredictionService.drain()\` runs, untimed, in both cases, as the drain extension runs it after each invocation's answer on Lambda, where the sandbox takes its next invocation only after the drain: it stores the log records, and runs the candidate for the shadowed requests waiting once their batch is due (8 requests, or the oldest 1 s old), so the candidate's runs never overlap a request, and most requests follow none (a candidate's run just before a request slows that request: with a run after every request the p50 rose 15%, so runs are gathered). A shadowed request's record is stored at once, then again with the candidate's result. The drain row is that drain (its median is a drain without a batch). CPU is the process's CPU time per request, the candidate's runs in the drains included.`,
    '',
    table(
      ['', 'No shadow test', 'Shadow test on', 'On ÷ off'],
      [
        ...onOffRows(r.handler.shadow.withoutShadow, r.handler.shadow.withShadow, r.handler.shadow),
        ['Drain after the request (median)', ms(r.handler.shadow.drainWithout.medianMs), ms(r.handler.shadow.drainWith.medianMs), ''],
      ],
    ),
    '',
    shadowResultsLine(r),
    '',
    ...profileLines('CPU profile of the handler with the shadow test on, the drains included', r.handler.shadow.profile),
    '',
    `## 3. Batch efficiency (${r.batch.rows} rows)`,
    '',
    `One request of ${r.batch.rows} instances through the handler, against one raw \`session.run\` on the same rows, and against the per-row loop most tutorials show (\`for (const row of rows) await session.run(...)\`, with no HTTP edge at all).`,
    '',
    table(
      [
        'Model',
        'Raw rows/s',
        'Handler rows/s',
        'Efficiency',
        'Efficiency, named records',
        'Per-row loop',
        'Batched request',
        'Speedup over loop',
      ],
      r.batch.models.map((x) => [
        MODEL_LABEL[x.model],
        perSecond(x.rawRowsPerSecond),
        perSecond(x.handlerRowsPerSecond),
        num(x.efficiency, 2),
        num(x.recordsEfficiency, 2),
        ms(x.perRowLoop.medianMs),
        ms(x.handler.medianMs),
        times(x.speedupOverLoop),
      ]),
    ),
    '',
    'Against the JSON floor (what any JSON service must do at least: `JSON.parse` of the body, one raw `session.run`, `JSON.stringify` of the same answer), and the same rows as a binary v2 request (float32 bytes after a JSON header, outputs asked as binary) against the raw run:',
    '',
    table(
      ['Model', 'JSON floor', 'Handler (JSON)', 'Handler ÷ floor', 'Raw run', 'Handler (binary)', 'Binary ÷ raw'],
      r.batch.models.map((x) => [
        MODEL_LABEL[x.model],
        ms(x.jsonFloor.medianMs),
        ms(x.handler.medianMs),
        times(x.floorRatio),
        ms(x.raw.medianMs),
        ms(x.binaryHandler.medianMs),
        times(x.binaryRatio),
      ]),
    ),
    '',
    '"Handler" sends the instances as arrays in feature order; "named records" as `{"feature": value}` objects. Where the time goes (medians for the whole request):',
    '',
    table(
      ['Model', 'raw `session.run`', '+ adapter', '+ serving core', '+ HTTP edge (= handler)', 'Request / response'],
      r.batch.models.map((x) => [
        MODEL_LABEL[x.model],
        ms(x.raw.medianMs),
        ms(x.adapter.medianMs),
        ms(x.core.medianMs),
        ms(x.handler.medianMs),
        `${num(x.requestBytes / 1000)} kB / ${num(x.responseBytes / 1000)} kB`,
      ]),
    ),
    '',
    ...profileLines(`CPU profile of the handler, ${MODEL_LABEL[r.batch.profiledModel]}, ${r.batch.rows}-row requests`, r.batch.profile),
    '',
    '## 4. Cold start',
    '',
    `A fresh Node process loads the predict function bundled as \`cdk synth\` bundles it (ESM, minified, the AWS SDK bundled in and only ${r.coldStart.bundle.external.map((e) => `\`${e}\``).join(' and ')} left to the layer; ${mib(r.coldStart.bundle.jsBytes)} of code with its source map and \`NODE_OPTIONS=${r.coldStart.nodeOptions}\` as the function sets it) and onnxruntime-node from the layer's build, then serves one request with the function's defaults (EMF metrics on, LOG_LEVEL INFO, tracing off): the registry is read from the local DynamoDB-compatible server and the model fetched from the S3-compatible one into an empty /tmp cache. Beside it, the limit: a fresh process where ONNX Runtime alone reads the file from disk and runs one row. ${r.coldStart.runs} run${r.coldStart.runs === 1 ? '' : 's'} of each, in rotating order; times from process start.`,
    '',
    table(
      ['Model', 'Size', 'First prediction (median)', 'p99', 'Bare ONNX Runtime (median)', 'Ratio', 'Second request'],
      r.coldStart.models.map((x) => [
        MODEL_LABEL[x.model],
        `${num(x.modelBytes / 1000)} kB`,
        ms(x.total.medianMs),
        ms(x.total.p99Ms),
        ms(x.bare.medianMs),
        times(x.ratio),
        ms(x.secondRequest.medianMs),
      ]),
    ),
    '',
    'Breakdown (median of each phase over the runs):',
    '',
    table(
      ['Phase', ...r.coldStart.models.map((x) => MODEL_LABEL[x.model])],
      COLD_START_PHASES.map((p) => [PHASE_LABEL[p], ...r.coldStart.models.map((x) => ms(x.phases[p]))]),
    ),
    '',
    `The bare process, for comparison: runtime load ${r.coldStart.models.map((x) => ms(x.bareRuntimeLoadMs)).join(' / ')}, session create ${r.coldStart.models.map((x) => ms(x.bareSessionCreateMs)).join(' / ')} (${r.coldStart.models.map((x) => MODEL_LABEL[x.model]).join(' / ')}).`,
    '',
    ...profileLines(`CPU profile of one cold start, ${MODEL_LABEL[r.coldStart.profiledModel]}, the whole process`, r.coldStart.profile),
    '',
    `### Tracing on, and the metrics line (${MODEL_LABEL[r.coldStart.tracing.model]})`,
    '',
    `The same function run two more ways, in the same rotation: with \`EMF_METRICS=false\` (no per-request metrics line), and bundled as synthesized with \`observability.tracing\` on (the Tracer and X-Ray SDK bundled in, ${mib(r.coldStart.tracedBundleBytes)} of code) with \`TRACING=true\` in the environment Lambda gives a function with active tracing: ${r.coldStart.tracing.env.map((e) => `\`${e}\``).join(', ')} (a sampled trace header, fresh for each invocation, as the runtime sets it), with the daemon address pointing at a UDP socket the bench opens and drains; every run, traced or not, also has \`AWS_EXECUTION_ENV\` and \`LAMBDA_TASK_ROOT\`. After its first two requests each sample-model process serves ${r.coldStart.warmRequests} warm requests back to back (every warm request of every run pooled below).`,
    '',
    table(
      ['', 'EMF off, tracing off', 'As deployed (EMF on, tracing off)', 'Tracing on', 'Tracing: added', 'Tracing: on ÷ off'],
      (() => {
        const t = r.coldStart.tracing;
        const e = r.coldStart.emf;
        const deployed = coldSample(r);
        const deployedTotal = deployed?.total.medianMs ?? Number.NaN;
        const deployedLoad = deployed?.phases.moduleLoad ?? Number.NaN;
        return [
          [
            'First prediction (median)',
            ms(e.total.medianMs),
            ms(deployedTotal),
            ms(t.total.medianMs),
            ms(t.addedMedianMs),
            times(t.total.medianMs / deployedTotal),
          ],
          [
            'Module load (median)',
            '',
            ms(deployedLoad),
            ms(t.phases.moduleLoad),
            ms(t.phases.moduleLoad - deployedLoad),
            times(t.phases.moduleLoad / deployedLoad),
          ],
          [
            'Warm request, median',
            ms(e.warmOff.medianMs),
            ms(t.warmOff.medianMs),
            ms(t.warmOn.medianMs),
            ms(t.warmAddedMedianMs),
            times(t.warmRatio),
          ],
          [
            'Warm request, p99',
            ms(e.warmOff.p99Ms),
            ms(t.warmOff.p99Ms),
            ms(t.warmOn.p99Ms),
            ms(t.warmAddedP99Ms),
            times(t.warmOn.p99Ms / t.warmOff.p99Ms),
          ],
          [
            'CPU per warm request',
            ms(e.cpuMsPerWarmRequestOff),
            ms(t.cpuMsPerWarmRequestOff),
            ms(t.cpuMsPerWarmRequestOn),
            ms(t.cpuMsPerWarmRequestOn - t.cpuMsPerWarmRequestOff),
            times(t.cpuMsPerWarmRequestOn / t.cpuMsPerWarmRequestOff),
          ],
        ];
      })(),
    ),
    '',
    `The per-request metrics line (Powertools Metrics, EMF on stdout; on by default) costs ${ms(r.coldStart.emf.warmAddedMedianMs)} per warm request at the median and ${ms(r.coldStart.tracing.cpuMsPerWarmRequestOff - r.coldStart.emf.cpuMsPerWarmRequestOff)} of CPU (EMF on − EMF off). Warm requests here are the deployed composition called the way the Lambda runtime calls it, so they include what section 2's in-process handler leaves out: the metrics line, the Logger, and the prediction log writing to dynalite in the background (one BatchWriteItem per 25 requests or 50 ms; on Lambda the drain extension writes after each invocation instead). CPU is the process's, ONNX Runtime's spinning pool threads included.`,
    '',
    `With tracing on, the daemon stand-in received ${num(r.coldStart.tracing.segmentsPerRequest, 2)} segment documents per request (${num(r.coldStart.tracing.segmentBytesPerRequest)} bytes), one UDP datagram each${r.coldStart.tracing.segmentNames.length > 0 ? ` (per request: ${r.coldStart.tracing.segmentNames.map((n) => `${n.name} ${num(n.perRequest, 2)}`).join(', ')})` : ''}. First prediction with tracing on: ${times(r.coldStart.tracing.ratio)} a bare ONNX Runtime process.`,
    '',
    '### Powertools at cold start, in isolation',
    '',
    `Fresh processes bundled as the function is (ESM, minified, source map) and started with its \`NODE_OPTIONS\`, timed from process start to the end of the script; ${r.coldStart.powertools.runs} runs of each, in rotating order.`,
    '',
    table(
      ['Process', 'Median', 'p99', 'Over the empty process', 'Bundle'],
      [
        ['does nothing', ms(r.coldStart.powertools.empty.medianMs), ms(r.coldStart.powertools.empty.p99Ms), '', ''],
        [
          'imports and builds Powertools Logger and Metrics as the predict function does',
          ms(r.coldStart.powertools.loggerMetrics.medianMs),
          ms(r.coldStart.powertools.loggerMetrics.p99Ms),
          ms(r.coldStart.powertools.loggerMetricsMs),
          `${num(r.coldStart.powertools.loggerMetricsBundleBytes / 1000)} kB`,
        ],
        [
          'loads Powertools Tracer and the X-Ray SDK and builds the tracing (functions/adapters/xray-tracing.ts), traced environment',
          ms(r.coldStart.powertools.tracer.medianMs),
          ms(r.coldStart.powertools.tracer.p99Ms),
          ms(r.coldStart.powertools.tracerMs),
          `${num(r.coldStart.powertools.tracerBundleBytes / 1000)} kB`,
        ],
      ],
    ),
    '',
    '### Before and after',
    '',
    `"Before" is quoted from ${r.coldStart.before.source}; "after" is this run. They are different runs (and load), so compare each to its own run's bare ONNX Runtime process too.`,
    '',
    table(
      ['', 'First prediction (median)', 'Module load', 'Bare ONNX Runtime', 'Ratio'],
      [
        [
          'Before: as deployed then (AWS SDK external, from the runtime; no Powertools)',
          ms(r.coldStart.before.sdkExternalMs),
          ms(r.coldStart.before.sdkExternalModuleLoadMs),
          ms(r.coldStart.before.bareMs),
          times(r.coldStart.before.sdkExternalMs / r.coldStart.before.bareMs),
        ],
        [
          "Before: that run's what-if, AWS SDK bundled in (no Powertools)",
          ms(r.coldStart.before.sdkBundledMs),
          ms(r.coldStart.before.sdkBundledModuleLoadMs),
          ms(r.coldStart.before.bareMs),
          times(r.coldStart.before.sdkBundledMs / r.coldStart.before.bareMs),
        ],
        [
          'After: as deployed now (AWS SDK bundled in, Powertools Logger and Metrics, tracing off)',
          ms(coldSample(r)?.total.medianMs ?? Number.NaN),
          ms(coldSample(r)?.phases.moduleLoad ?? Number.NaN),
          ms(coldSample(r)?.bare.medianMs ?? Number.NaN),
          times(coldSample(r)?.ratio ?? Number.NaN),
        ],
        [
          'After, tracing on',
          ms(r.coldStart.tracing.total.medianMs),
          ms(r.coldStart.tracing.phases.moduleLoad),
          ms(coldSample(r)?.bare.medianMs ?? Number.NaN),
          times(r.coldStart.tracing.ratio),
        ],
      ],
    ),
    '',
    '## 5. HTTP',
    '',
    `autocannon against 127.0.0.1, \`POST\` of one ${MODEL_LABEL[r.http.model]} row per request. At each concurrency every server gets a ${r.http.warmupSeconds} s warm-up, then ${r.http.seconds} s of load in ${r.http.rounds} slice${r.http.rounds > 1 ? 's' : ''} alternating between the servers. Each server runs in its own process and the load generator in the bench's, all on this machine's ${r.machine.cores} cores, so the absolute req/s are this machine's; the ratios to the baseline are the figures to quote. Per-client throttling is off (the load generator is one client).`,
    '',
    ...r.http.variants.map((v) => `- **${VARIANT_LABEL[v.id]}**: ${v.description}.`),
    '',
    table(
      ['Server', 'Concurrency', 'Req/s', '× baseline', 'p50', 'p99', 'Errors', 'Log backlog at the end of a slice (time to store it)'],
      r.http.points.map((p) => [
        VARIANT_LABEL[p.variant],
        String(p.connections),
        num(p.requestsPerSecond),
        ratioAt(p.variant, p.connections),
        ms(p.p50Ms),
        ms(p.p99Ms),
        String(p.errors + p.non2xx),
        p.logBacklog >= 1 ? `${num(p.logBacklog)} records (${ms(p.drainMs)})` : '',
      ]),
    ),
    '',
    "After each slice the server stores the prediction-log records the load left queued before the next slice starts (untimed), so no server's backlog runs during another's load. A large backlog means the server answered faster than it could write its log: sustained, its queue would grow until records go to the fallback.",
    '',
    'Where the time goes at concurrency 8: each step adds one thing to the server before it.',
    '',
    table(
      ['Step', 'Server', 'Req/s', '× baseline', 'Change'],
      HTTP_STEP_ROWS.map(([step, from, to]) => [
        step,
        VARIANT_LABEL[to],
        num(httpRps(r, to)),
        num(httpRatio(r, to), 2),
        `${signedPercent(httpRps(r, to) / httpRps(r, from) - 1)} against ${VARIANT_LABEL[from]}`,
      ]),
    ),
    '',
    ...r.http.profiles.flatMap((p) => [
      ...profileLines(`CPU profile of ${VARIANT_LABEL[p.variant]} at concurrency ${r.http.profileConnections}`, p.profile),
      '',
    ]),
    '## 6. Memory and size',
    '',
    'RSS of a fresh server process (the local API, run as in section 5) over many requests at the given concurrency, after a warm-up; read after a forced GC at both ends, sampled every half second in between for the peak.',
    '',
    table(
      ['Server', 'Requests', 'Req/s', 'RSS after warm-up', 'RSS at the end', 'Growth', 'Peak', 'V8 heap, warm-up → end', 'Errors'],
      r.memory.runs.map((x) => [
        x.server,
        `${num(x.answered)}${x.answered < x.requests ? ` of ${num(x.requests)} (time limit)` : ''} (+${num(x.warmupRequests)} warm-up), concurrency ${x.connections}`,
        num(x.requestsPerSecond),
        `${num(x.rssAfterWarmupMb)} MB`,
        `${num(x.rssEndMb)} MB`,
        `${x.rssGrowthMb >= 0 ? '+' : ''}${num(x.rssGrowthMb)} MB`,
        `${num(x.rssPeakMb)} MB`,
        `${num(x.heapAfterWarmupMb)} → ${num(x.heapEndMb)} MB`,
        String(x.errors),
      ]),
    ),
    '',
    'Sizes (MB = 1,048,576 bytes, as Lambda counts its limits):',
    '',
    table(
      ['Artifact', 'Size', 'Detail'],
      [
        [
          'Predict function bundle (index.mjs + source map)',
          mib(r.sizes.bundle.assetBytes),
          `code ${mib(r.sizes.bundle.jsBytes)}, source map ${mib(r.sizes.bundle.mapBytes)}; largest inputs: ${r.sizes.bundle.largestInputs
            .slice(0, 5)
            .map((i) => `${i.path} ${num(i.bytes / 1000)} kB`)
            .join(', ')}`,
        ],
        ...r.sizes.layers.map((l) => [
          `ONNX Runtime layer, ${l.architecture}, unzipped`,
          mib(l.unzippedBytes),
          `${l.files} files, the largest ${l.largestFile.path.split('/').pop() ?? ''} (${mib(l.largestFile.bytes)}); from ${l.source}`,
        ]),
      ],
    ),
    '',
    "What the function bundle's code is made of (bytes in the minified output):",
    '',
    table(
      ['Part', 'Code', 'Largest inputs'],
      r.sizes.bundle.families.map((f) => [
        FAMILY_LABEL[f.family],
        `${num(f.bytes / 1000)} kB`,
        f.inputs
          .slice(0, 4)
          .map((i) => `${i.path} ${num(i.bytes / 1000)} kB`)
          .join(', '),
      ]),
    ),
    '',
    '## 7. Thread settings',
    '',
    `ONNX Runtime's intra-op threads, and spinning (\`session.intra_op.allow_spinning\`, on by default: after each run the pool's threads busy-wait for more work before they sleep), on raw \`session.run\`. CPU is the whole process's CPU time per call, spinning included: back to back, and for isolated calls (one at a time with a ${r.threads.isolatedGapMs} ms pause between, as requests come at low load).`,
    '',
    table(
      ['Configuration', 'Model', 'Rows', 'Median', 'Rows/s', 'CPU per call', 'CPU per isolated call'],
      r.threads.points.map((p) => [
        p.config,
        MODEL_LABEL[p.model],
        String(p.rows),
        ms(p.stat.medianMs),
        perSecond(p.rowsPerSecond),
        ms(p.cpuMsPerCall),
        ms(p.isolatedCpuMsPerCall),
      ]),
    ),
    '',
    `**Default:** ${r.threads.reason}`,
    '',
    `The rule: the lowest latency over every model and size (each point's median over the best median for that point, geometric mean); among the configurations within ${LATENCY_BAND * 100}% of it, the one with the least CPU per isolated single-row call, because on Lambda (one vCPU up to 1,769 MB) a spinning pool thread takes CPU from the event loop that parses and encodes the requests. The choice holds for this machine: on Lambda the adapter already takes one thread up to 2,653 MB of memory (functions/adapters/onnx-runtime.ts).`,
    ...(r.threads.configs.find((c) => c.id === r.threads.recommended)?.spinning === false
      ? [
          '',
          "Turning spinning off needs an option the adapter does not have yet (`OnnxRuntimeOptions` takes the thread count only): the session option is `extra: { session: { intra_op: { allow_spinning: '0' } } }`, ONNX Runtime's `session.intra_op.allow_spinning` config entry.",
        ]
      : []),
    '',
    '## 8. Hostile bodies',
    '',
    `Bodies built to be expensive, each just under the predict function's default body limit (${num(r.hostile.limitBytes)} bytes) and each refused with its stable code, sent to the predict handler in-process (as Lambda calls it), against \`JSON.parse\` of the same text in alternating blocks of the same loop; for the compressed body, against \`JSON.parse\` of a body at the limit, the most the handler lets it inflate to. \`JSON.parse\` is the floor: the handler must parse a body to answer it. The handler's time is event-loop time: every other request on the process waits for it.`,
    '',
    table(
      ['Body', 'Sent', 'Refused with', 'Error body', 'Handler (median)', 'JSON.parse (median)', 'Handler ÷ parse'],
      r.hostile.cases.map((c) => [
        c.description,
        `${num(c.requestBytes / 1e6, 2)} MB`,
        `${c.status} \`${c.code}\``,
        `${num(c.responseBytes)} bytes`,
        ms(c.handler.medianMs),
        ms(c.parse.medianMs),
        times(c.ratio),
      ]),
    ),
    '',
    "Before the body is parsed the handler checks its size, inflates a compressed body only up to the limit, and reads the text once for nesting depth and `__proto__` keys (no parsed value is walked); after the parse the codec checks every count (rows, data length against the shape, string lengths, names against the model's) before it reads a value.",
    '',
    ...batchJobsSection(r),
    ...cacheSection(r),
    '## Method',
    '',
    '- Cases that are compared run in alternating blocks of the same loop (ABC, CBA, ...), so drift and noisy neighbours hit them alike. Figures are medians unless marked p99.',
    '- Every loop is bounded by a count and a time budget; `--quick` uses small ones (its figures only show that the bench runs).',
    "- Background work a case leaves behind (queued prediction-log writes) is finished after its block or slice (after each request for shadow tests, as the drain on Lambda), untimed but reported (CPU per request, backlog and the time to store it), so it never runs during another case's measurement.",
    "- CPU profiles are V8's sampling profiler; frames in the minified function bundle are attributed to their packages through its source map.",
    '- The models are built by the bench from the test fixtures with fixed seeds; the rows are the iris data set and seeded pseudo-random values.',
    '- Traffic stays on 127.0.0.1.',
    '',
  );
  return `${out.join('\n')}\n`;
}
