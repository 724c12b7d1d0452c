/**
 * The report: targets checked against the figures, the headline ratios, and docs/BENCHMARKS.md.
 * Every number printed here is read from the results of the same run.
 */
import { COLD_START_PHASES, type BenchResults, type ColdStartPhase, type HttpVariantId, type ModelId, type ProfileSummary, type TargetCheck } from './results.js';
import { LATENCY_BAND } from './threads.js';

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
  return profile.groups.slice(0, count).map((g) => `${g.name} ${percent(g.share)}`).join(', ');
}

/** "`f` 31%, `g` 20%": the largest functions of a CPU profile. */
function topFunctions(profile: ProfileSummary, count = 4): string {
  return profile.functions.slice(0, count).map((f) => `\`${f.name}\` ${percent(f.share)}`).join(', ');
}

/** A CPU profile as two short lists, for the sections. */
function profileLines(title: string, profile: ProfileSummary): string[] {
  if (profile.groups.length === 0) return [`${title}: no samples.`];
  return [
    `${title} (${num(profile.busyMs)} ms of CPU sampled; self time, idle excluded):`,
    '',
    `- by code: ${profile.groups.map((g) => `${g.name} ${percent(g.share)}`).join(', ')}`,
    `- by function: ${profile.functions.slice(0, 6).map((f) => `\`${f.name}\` ${percent(f.share)}`).join(', ')}`,
  ];
}

const MODEL_LABEL: Readonly<Record<ModelId, string>> = { iris: 'iris (sample)', mlp: 'neural net', trees: 'tree ensemble' };
const VARIANT_LABEL: Readonly<Record<HttpVariantId, string>> = {
  baseline: 'baseline (node:http + ORT)',
  api: 'local API',
  apiAuth: 'local API + JWT auth',
  apiLog: 'local API + prediction logs',
  npmStart: '`npm start`',
};
const PHASE_LABEL: Readonly<Record<ColdStartPhase, string>> = {
  bootstrap: 'Node bootstrap',
  runtimeLoad: 'runtime load (onnxruntime-node)',
  moduleLoad: 'module load (bundle, AWS SDK, config)',
  registry: 'registry lookup (DynamoDB)',
  artifactFetch: 'artifact fetch (S3, sha256, /tmp)',
  sessionCreate: 'session create',
  firstRun: 'first run',
  rest: 'codec, log write, response',
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

const httpRatio = (m: Measured, variant: HttpVariantId, connections = 8) =>
  m.http.ratios.find((r) => r.variant === variant && r.connections === connections)?.ratio ?? Number.NaN;

export function evaluateTargets(m: Measured): TargetCheck[] {
  const overhead = worst(m.handler.models, (x) => x.overheadMedianMs, 'max');
  const trees = m.batch.models.find((x) => x.model === 'trees');
  const small = m.coldStart.models.filter((x) => x.modelBytes < 1_000_000);
  const cold = worst(small, (x) => x.total.medianMs, 'max');
  const memory = m.memory.runs[0];
  const layer = (arch: string) => m.sizes.layers.find((l) => l.architecture === arch)?.unzippedBytes ?? Number.NaN;
  return [
    check('handler-overhead', `Handler overhead over the raw run, single row, median (worst model: ${overhead ? MODEL_LABEL[overhead.model] : 'n/a'})`, '≤ 0.2 ms', overhead?.overheadMedianMs ?? Number.NaN, 'ms', 0.2, 'max'),
    check('batch-efficiency', 'Batch efficiency, tree ensemble, 1000 rows (handler rows/s ÷ raw rows/s)', '≥ 0.8', trees?.efficiency ?? Number.NaN, '', 0.8, 'min'),
    check('batch-speedup', 'Batched request over the per-row loop, tree ensemble, 1000 rows', '≥ 20×', trees?.speedupOverLoop ?? Number.NaN, '×', 20, 'min'),
    check('cold-start', `Cold start to first prediction, median (worst model under 1 MB: ${cold ? MODEL_LABEL[cold.model] : 'n/a'})`, '≤ 400 ms', cold?.total.medianMs ?? Number.NaN, 'ms', 400, 'max'),
    check('http', 'Local HTTP req/s ÷ baseline req/s, concurrency 8, validation and JWT auth on (prediction logs off)', '≥ 0.7', httpRatio(m, HTTP_TARGET_VARIANT), '', 0.7, 'min'),
    check('http-npm-start', 'The same for `npm start` as shipped (auth on, prediction logs to dynalite in the same process)', '≥ 0.7', httpRatio(m, 'npmStart'), '', 0.7, 'min'),
    check('rss-growth', `RSS growth over ${num(memory?.answered ?? Number.NaN)} requests after warm-up`, '≤ 50 MB', memory?.rssGrowthMb ?? Number.NaN, 'MB', 50, 'max'),
    check('layer-x86_64', 'ONNX Runtime layer, unzipped, x86_64', '≤ 50 MB', layer('x86_64') / MIB, 'MB', 50, 'max'),
    check('layer-arm64', 'ONNX Runtime layer, unzipped, arm64', '≤ 30 MB', layer('arm64') / MIB, 'MB', 30, 'max'),
    check('bundle', 'Function bundle (index.mjs + source map, as deployed)', '≤ 1 MB', m.sizes.bundle.assetBytes / MIB, 'MB', 1, 'max'),
  ];
}

// ---------------------------------------------------------------------------------------------
// Headline

export function headline(m: Measured): string[] {
  const lines: string[] = [];
  const iris = m.handler.models.find((x) => x.model === 'iris');
  if (iris) {
    lines.push(`Handler overhead: +${ms(iris.overheadMedianMs)} median per single-row request over ONNX Runtime's own \`session.run\` (sample model; ${times(iris.ratio)} the raw run), prediction log off; writing the log adds ${ms(m.handler.log.addedMedianMs)}.`);
  }
  const trees = m.batch.models.find((x) => x.model === 'trees');
  if (trees) {
    lines.push(`Batching: a 1000-row request through the handler runs at ${num(trees.efficiency, 2)}× raw ONNX Runtime's batched throughput (tree ensemble, ${perSecond(trees.handlerRowsPerSecond)} rows/s) and ${times(trees.speedupOverLoop)} faster than a per-row \`session.run\` loop.`);
  }
  const cold = m.coldStart.models.find((x) => x.model === 'iris');
  if (cold) {
    lines.push(`Cold start: ${ms(cold.total.medianMs)} from process start to the first prediction (median of ${m.coldStart.runs}, sample model fetched from S3), ${times(cold.ratio)} a bare ONNX Runtime process; ${ms(m.coldStart.sdkBundled.total.medianMs)} with the AWS SDK bundled into the function.`);
  }
  lines.push(`HTTP at concurrency 8, against a minimal node:http + ONNX Runtime server: the local API with validation and JWT auth serves ${num(httpRatio(m, 'apiAuth'), 2)}× its req/s (${num(httpRatio(m, 'api'), 2)}× without auth, ${num(httpRatio(m, 'apiLog'), 2)}× with prediction logs); \`npm start\` as shipped ${num(httpRatio(m, 'npmStart'), 2)}×.`);
  const memory = m.memory.runs[0];
  if (memory) lines.push(`Memory: RSS ${memory.rssGrowthMb >= 0 ? '+' : ''}${num(memory.rssGrowthMb)} MB over ${num(memory.answered)} requests after warm-up (${num(memory.rssEndMb)} MB at the end).`);
  const layer = (arch: string) => m.sizes.layers.find((l) => l.architecture === arch)?.unzippedBytes ?? Number.NaN;
  lines.push(`Size: function bundle ${mib(m.sizes.bundle.assetBytes)} (${mib(m.sizes.bundle.jsBytes)} of it code), ONNX Runtime layer ${mib(layer('x86_64'))} unzipped on x86_64, ${mib(layer('arm64'))} on arm64.`);
  lines.push(`Threads: on this machine the figures favour ONNX Runtime with ${m.threads.recommended} (the default here today: ${m.threads.current}); see section 7.`);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Where a target is missed: what the profile shows (figures of this run), and the next step

function whyMissed(r: BenchResults, id: string): string {
  switch (id) {
    case 'handler-overhead': {
      const x = worst(r.handler.models, (h) => h.overheadMedianMs, 'max');
      if (!x) return '';
      return `Layers of the handler's median (${MODEL_LABEL[x.model]}): the adapter's tensor conversion adds ${ms(x.adapter.medianMs - x.raw.medianMs)}, the serving core (request schema, version lookup, decode, encode, the prediction log record) ${ms(x.core.medianMs - x.adapter.medianMs)}, the HTTP edge (middy, body checks, request id, response JSON) ${ms(x.handler.medianMs - x.core.medianMs)}. CPU profile of the handler (${MODEL_LABEL[r.handler.profiledModel]}): ${topGroups(r.handler.profile)}.`;
    }
    case 'batch-efficiency':
    case 'batch-speedup': {
      const x = r.batch.models.find((b) => b.model === 'trees');
      if (!x) return '';
      const ceiling = x.perRowLoop.medianMs / x.raw.medianMs;
      const limit = id === 'batch-speedup' && ceiling < 20
        ? ` Even one raw batched \`session.run\` is only ${times(ceiling)} faster than the loop for this model, so no server reaches the target on this machine: evaluating the trees for each row costs more than a call's fixed overhead.`
        : '';
      return `Medians for 1000 rows (tree ensemble): raw run ${ms(x.raw.medianMs)}, + adapter ${ms(x.adapter.medianMs)}, + serving core ${ms(x.core.medianMs)}, + HTTP edge ${ms(x.handler.medianMs)} (${num(x.requestBytes / 1000)} kB in, ${num(x.responseBytes / 1000)} kB out); the per-row loop ${ms(x.perRowLoop.medianMs)}.${limit} CPU profile of the batched handler: ${topGroups(r.batch.profile)}; largest functions ${topFunctions(r.batch.profile)}.`;
    }
    case 'cold-start': {
      const x = worst(r.coldStart.models.filter((c) => c.modelBytes < 1_000_000), (c) => c.total.medianMs, 'max');
      if (!x) return '';
      const phases = [...COLD_START_PHASES].sort((a, b) => x.phases[b] - x.phases[a]).slice(0, 3);
      const what = r.coldStart.sdkBundled;
      return `Largest phases (${MODEL_LABEL[x.model]}): ${phases.map((p) => `${PHASE_LABEL[p]} ${ms(x.phases[p])}`).join(', ')}; a bare ONNX Runtime process needs ${ms(x.bare.medianMs)} in all. CPU profile of a whole cold start: ${topGroups(r.coldStart.profile)}; largest functions ${topFunctions(r.coldStart.profile)}. With the AWS SDK bundled into the function, the sample model's first prediction takes ${ms(what.total.medianMs)} (module load ${ms(what.phases.moduleLoad)}) and the bundle grows to ${mib(what.jsBytes + what.mapBytes)}.`;
    }
    case 'http':
    case 'http-npm-start': {
      const ratio = (variant: HttpVariantId) => r.http.ratios.find((q) => q.variant === variant && q.connections === 8)?.ratio ?? Number.NaN;
      const variant: HttpVariantId = id === 'http' ? 'apiAuth' : 'npmStart';
      const profile = r.http.profiles.find((p) => p.variant === variant)?.profile;
      const logged = id === 'http-npm-start' ? r.http.profiles.find((p) => p.variant === 'apiLog')?.profile : undefined;
      return `At concurrency 8, against the baseline: the local API alone ${num(ratio('api'), 2)}×, with JWT auth ${num(ratio('apiAuth'), 2)}×, with prediction logs (stand-in DynamoDB) ${num(ratio('apiLog'), 2)}×, \`npm start\` ${num(ratio('npmStart'), 2)}×.${profile ? ` CPU profile of ${VARIANT_LABEL[variant]} under load: ${topGroups(profile)}.` : ''}${logged ? ` Of the API with prediction logs: ${topGroups(logged)}.` : ''}`;
    }
    case 'rss-growth': {
      const run = r.memory.runs[0];
      return run ? `The V8 heap after GC went from ${num(run.heapAfterWarmupMb)} MB to ${num(run.heapEndMb)} MB.` : '';
    }
    case 'bundle':
      return `Largest inputs: ${r.sizes.bundle.largestInputs.slice(0, 3).map((i) => `${i.path} ${num(i.bytes / 1000)} kB`).join(', ')}; the source map is ${mib(r.sizes.bundle.mapBytes)} of it.`;
    default:
      return '';
  }
}

/** What to do next when a target is missed (no figures here: they are all in the tables). */
const NEXT_STEPS: Readonly<Record<string, string>> = {
  'handler-overhead': 'Next step: cut the largest frames of that profile first; the prediction-log record (the JSON of the outputs and the sha256 of the inputs) is built on every request, even when the log port discards it.',
  'batch-efficiency': 'Next step: the gap to the limit is JavaScript whose cost grows with the rows, around a `session.run` that is already batched: the prediction-log record re-serializes all outputs (built even when the log port discards it), the body is parsed and walked for depth, the instances go through the zod schema, and the response is serialized. Build the log record only when a log port keeps it (or from the response JSON already made), check the instances with a plain loop, and decode straight into the input tensor.',
  'batch-speedup': 'Next step: the same as for batch efficiency; every millisecond of per-row JavaScript taken out of the batched path raises this ratio, up to the limit above.',
  'cold-start': 'Next step: load less at init. The what-if above bundles the AWS SDK into the function; take it, and stay under the 1 MB bundle target by leaving the source map out of the deployed asset or importing less of zod. Then measure on Lambda itself, where Node 22, the runtime\'s own SDK copy and the sandbox\'s CPU share change the figures.',
  http: 'Next step: the gap splits into the local server\'s API Gateway emulation (event building, route matching, the authorizer cache: local/server.ts in the profile), the handler, and the socket writes; the largest of them in the profile is where to start.',
  'http-npm-start': 'Next step: every request waits for its prediction-log PutItem, and the AWS SDK\'s work per call (middleware, signing, serialization) is a large share of our process\'s CPU (the profile of the API with prediction logs); locally dynalite then stores the item on the same event loop. Write log records off the request path and in batches (a buffer flushed with BatchWriteItem, or structured log lines shipped by CloudWatch Logs), so the SDK is paid per batch, not per request.',
  'rss-growth': 'Next step: take heap snapshots before and after the measured run (`--heapsnapshot-signal`) and diff them.',
  'layer-x86_64': 'Next step: check what `libonnxruntime` ships beyond the CPU provider and whether a minimal build fits.',
  'layer-arm64': 'Next step: check what `libonnxruntime` ships beyond the CPU provider and whether a minimal build fits.',
  bundle: 'Next step: replace the largest input with a smaller equivalent (or import less of it), or leave the source map out of the asset.',
};

// ---------------------------------------------------------------------------------------------
// The document

export function renderMarkdown(r: BenchResults): string {
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  const missed = r.targets.filter((t) => !t.met);
  const ratioAt = (variant: HttpVariantId, connections: number) =>
    variant === 'baseline' ? '1' : num(r.http.ratios.find((q) => q.variant === variant && q.connections === connections)?.ratio ?? Number.NaN, 2);

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
    table(['', ''], [
      ['CPU', `${r.machine.cpuModel}, ${r.machine.cores} cores (${r.machine.arch})`],
      ['Memory', `${r.machine.totalMemoryGb} GB`],
      ['OS', r.machine.os],
      ['Node.js', `${r.machine.node} (the bundle targets Lambda's Node 22)`],
      ['onnxruntime-node', r.machine.onnxruntime],
      ['Intra-op threads', `${r.intraOpThreads} (the product's default here: the core count, at most 4; on Lambda it follows the memory size)`],
      ['Load average (1 min) at start / end', `${num(r.loadAverage.start, 2)} / ${num(r.loadAverage.end, 2)} (other work on the machine slows the absolute figures, much less the ratios)`],
      ['Date', r.date],
    ]),
    '',
    '## Targets',
    '',
    `Measured on this machine; reported, never asserted in tests. ${r.targets.length - missed.length} of ${r.targets.length} met.`,
    '',
    table(['Target', 'Limit', 'Measured', 'Status'], r.targets.map((t) => [
      t.name, t.target, `${num(t.value)}${t.unit === '×' ? '×' : t.unit ? ` ${t.unit}` : ''}`, t.met ? 'met' : `**missed**: ${t.shortfall}`,
    ])),
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
    table(['Model', 'Registered as', 'What', 'Size', 'Features'], r.models.map((x) => [MODEL_LABEL[x.id], `\`${x.name}\``, x.description, `${num(x.bytes / 1000)} kB`, String(x.features)])),
    '',
    '## 1. The limit: ONNX Runtime called directly',
    '',
    "`session.run` on one float32 tensor, with the product's session options (CPU, all graph optimizations, sequential execution, one inter-op thread). The other sections divide by these.",
    '',
    table(['Model', 'Rows per run', 'Median', 'p99', 'Rows/s'], r.limit.models.flatMap((x) =>
      x.batches.map((b) => [MODEL_LABEL[x.model], String(b.rows), ms(b.stat.medianMs), ms(b.stat.p99Ms), perSecond(b.rowsPerSecond)]),
    )),
    '',
    '## 2. Handler overhead (single row)',
    '',
    'The predict handler called in-process, as Lambda calls it, with an API Gateway event carrying `{"features": {...}}`, against `session.run` on the same row; both in alternating blocks of the same loop. Prediction logs off (a log port that keeps nothing).',
    '',
    table(['Model', 'Raw run', 'Handler', 'Overhead (median)', 'Overhead (p99)', 'Handler ÷ raw'], r.handler.models.map((x) => [
      MODEL_LABEL[x.model], ms(x.raw.medianMs), ms(x.handler.medianMs), ms(x.overheadMedianMs), ms(x.overheadP99Ms), times(x.ratio),
    ])),
    '',
    'Where the overhead goes (medians; each layer includes the ones to its left):',
    '',
    table(['Model', 'raw `session.run`', '+ adapter (tensors)', '+ serving core', '+ HTTP edge (= handler)'], r.handler.models.map((x) => [
      MODEL_LABEL[x.model], ms(x.raw.medianMs), ms(x.adapter.medianMs), ms(x.core.medianMs), ms(x.handler.medianMs),
    ])),
    '',
    ...profileLines(`CPU profile of the handler, ${MODEL_LABEL[r.handler.profiledModel]}, single rows`, r.handler.profile),
    '',
    `Prediction log writes, measured apart (${MODEL_LABEL[r.handler.log.model]}; one PutItem per request to the local DynamoDB-compatible server, dynalite, in another process): handler median ${ms(r.handler.log.withoutLog.medianMs)} without, ${ms(r.handler.log.withLog.medianMs)} with, +${ms(r.handler.log.addedMedianMs)} median and ${r.handler.log.addedP99Ms >= 0 ? '+' : ''}${ms(r.handler.log.addedP99Ms)} at p99. The request waits for its log write, so on AWS this becomes DynamoDB's latency plus the AWS SDK's own CPU time.`,
    '',
    `## 3. Batch efficiency (${r.batch.rows} rows)`,
    '',
    `One request of ${r.batch.rows} instances through the handler, against one raw \`session.run\` on the same rows, and against the per-row loop most tutorials show (\`for (const row of rows) await session.run(...)\`, with no HTTP edge at all).`,
    '',
    table(['Model', 'Raw rows/s', 'Handler rows/s', 'Efficiency', 'Efficiency, named records', 'Per-row loop', 'Batched request', 'Speedup over loop'], r.batch.models.map((x) => [
      MODEL_LABEL[x.model], perSecond(x.rawRowsPerSecond), perSecond(x.handlerRowsPerSecond), num(x.efficiency, 2), num(x.recordsEfficiency, 2),
      ms(x.perRowLoop.medianMs), ms(x.handler.medianMs), times(x.speedupOverLoop),
    ])),
    '',
    '"Handler" sends the instances as arrays in feature order; "named records" as `{"feature": value}` objects. Where the time goes (medians for the whole request):',
    '',
    table(['Model', 'raw `session.run`', '+ adapter', '+ serving core', '+ HTTP edge (= handler)', 'Request / response'], r.batch.models.map((x) => [
      MODEL_LABEL[x.model], ms(x.raw.medianMs), ms(x.adapter.medianMs), ms(x.core.medianMs), ms(x.handler.medianMs), `${num(x.requestBytes / 1000)} kB / ${num(x.responseBytes / 1000)} kB`,
    ])),
    '',
    ...profileLines(`CPU profile of the handler, ${MODEL_LABEL[r.batch.profiledModel]}, ${r.batch.rows}-row requests`, r.batch.profile),
    '',
    '## 4. Cold start',
    '',
    `A fresh Node process loads the predict function bundled as \`cdk synth\` bundles it (ESM, minified, with its source map and \`NODE_OPTIONS=${r.coldStart.nodeOptions}\` as the function sets it) and onnxruntime-node from the layer's build, then serves one request: the registry is read from the local DynamoDB-compatible server and the model fetched from the S3-compatible one into an empty /tmp cache. Beside it, the limit: a fresh process where ONNX Runtime alone reads the file from disk and runs one row. ${r.coldStart.runs} run${r.coldStart.runs === 1 ? '' : 's'} of each, in rotating order; times from process start.`,
    '',
    table(['Model', 'Size', 'First prediction (median)', 'p99', 'Bare ONNX Runtime (median)', 'Ratio', 'Second request'], r.coldStart.models.map((x) => [
      MODEL_LABEL[x.model], `${num(x.modelBytes / 1000)} kB`, ms(x.total.medianMs), ms(x.total.p99Ms), ms(x.bare.medianMs), times(x.ratio), ms(x.secondRequest.medianMs),
    ])),
    '',
    'Breakdown (median of each phase over the runs):',
    '',
    table(['Phase', ...r.coldStart.models.map((x) => MODEL_LABEL[x.model])], COLD_START_PHASES.map((p) => [PHASE_LABEL[p], ...r.coldStart.models.map((x) => ms(x.phases[p]))])),
    '',
    `The bare process, for comparison: runtime load ${r.coldStart.models.map((x) => ms(x.bareRuntimeLoadMs)).join(' / ')}, session create ${r.coldStart.models.map((x) => ms(x.bareSessionCreateMs)).join(' / ')} (${r.coldStart.models.map((x) => MODEL_LABEL[x.model]).join(' / ')}).`,
    '',
    ...profileLines(`CPU profile of one cold start, ${MODEL_LABEL[r.coldStart.profiledModel]}, the whole process`, r.coldStart.profile),
    '',
    `What-if, measured in the same runs: the same function with the AWS SDK bundled in (tree-shaken, minified) instead of loaded from the runtime's copy: first prediction ${ms(r.coldStart.sdkBundled.total.medianMs)} median for ${MODEL_LABEL[r.coldStart.sdkBundled.model]} (module load ${ms(r.coldStart.sdkBundled.phases.moduleLoad)}), with a bundle of ${mib(r.coldStart.sdkBundled.jsBytes)} code + ${mib(r.coldStart.sdkBundled.mapBytes)} source map.`,
    '',
    '## 5. HTTP',
    '',
    `autocannon against 127.0.0.1, \`POST\` of one ${MODEL_LABEL[r.http.model]} row per request. At each concurrency every server gets a ${r.http.warmupSeconds} s warm-up, then ${r.http.seconds} s of load in ${r.http.rounds} slice${r.http.rounds > 1 ? 's' : ''} alternating between the servers. Each server runs in its own process and the load generator in the bench's, all on this machine's ${r.machine.cores} cores, so the absolute req/s are this machine's; the ratios to the baseline are the figures to quote. Per-client throttling is off (the load generator is one client).`,
    '',
    ...r.http.variants.map((v) => `- **${VARIANT_LABEL[v.id]}**: ${v.description}.`),
    '',
    table(['Server', 'Concurrency', 'Req/s', '× baseline', 'p50', 'p99', 'Errors'], r.http.points.map((p) => [
      VARIANT_LABEL[p.variant], String(p.connections), num(p.requestsPerSecond), ratioAt(p.variant, p.connections), ms(p.p50Ms), ms(p.p99Ms), String(p.errors + p.non2xx),
    ])),
    '',
    ...r.http.profiles.flatMap((p) => [...profileLines(`CPU profile of ${VARIANT_LABEL[p.variant]} at concurrency ${r.http.profileConnections}`, p.profile), '']),
    '## 6. Memory and size',
    '',
    'RSS of a fresh server process (the local API, run as in section 5) over many requests at the given concurrency, after a warm-up; read after a forced GC at both ends, sampled every half second in between for the peak.',
    '',
    table(['Server', 'Requests', 'Req/s', 'RSS after warm-up', 'RSS at the end', 'Growth', 'Peak', 'V8 heap, warm-up → end', 'Errors'], r.memory.runs.map((x) => [
      x.server, `${num(x.answered)}${x.answered < x.requests ? ` of ${num(x.requests)} (time limit)` : ''} (+${num(x.warmupRequests)} warm-up), concurrency ${x.connections}`, num(x.requestsPerSecond),
      `${num(x.rssAfterWarmupMb)} MB`, `${num(x.rssEndMb)} MB`, `${x.rssGrowthMb >= 0 ? '+' : ''}${num(x.rssGrowthMb)} MB`, `${num(x.rssPeakMb)} MB`,
      `${num(x.heapAfterWarmupMb)} → ${num(x.heapEndMb)} MB`, String(x.errors),
    ])),
    '',
    'Sizes (MB = 1,048,576 bytes, as Lambda counts its limits):',
    '',
    table(['Artifact', 'Size', 'Detail'], [
      ['Predict function bundle (index.mjs + source map)', mib(r.sizes.bundle.assetBytes), `code ${mib(r.sizes.bundle.jsBytes)}, source map ${mib(r.sizes.bundle.mapBytes)}; largest inputs: ${r.sizes.bundle.largestInputs.slice(0, 4).map((i) => `${i.path} ${num(i.bytes / 1000)} kB`).join(', ')}`],
      ...r.sizes.layers.map((l) => [`ONNX Runtime layer, ${l.architecture}, unzipped`, mib(l.unzippedBytes), `${l.files} files, the largest ${l.largestFile.path.split('/').pop() ?? ''} (${mib(l.largestFile.bytes)}); from ${l.source}`]),
    ]),
    '',
    '## 7. Thread settings',
    '',
    `ONNX Runtime's intra-op threads, and spinning (\`session.intra_op.allow_spinning\`, on by default: after each run the pool's threads busy-wait for more work before they sleep), on raw \`session.run\`. CPU is the whole process's CPU time per call, spinning included: back to back, and for isolated calls (one at a time with a ${r.threads.isolatedGapMs} ms pause between, as requests come at low load).`,
    '',
    table(['Configuration', 'Model', 'Rows', 'Median', 'Rows/s', 'CPU per call', 'CPU per isolated call'], r.threads.points.map((p) => [
      p.config, MODEL_LABEL[p.model], String(p.rows), ms(p.stat.medianMs), perSecond(p.rowsPerSecond), ms(p.cpuMsPerCall), ms(p.isolatedCpuMsPerCall),
    ])),
    '',
    `**Default:** ${r.threads.reason}`,
    '',
    `The rule: the lowest latency over every model and size (each point's median over the best median for that point, geometric mean); among the configurations within ${LATENCY_BAND * 100}% of it, the one with the least CPU per isolated single-row call, because on Lambda (one vCPU up to 1,769 MB) a spinning pool thread takes CPU from the event loop that parses and encodes the requests. The choice holds for this machine: on Lambda the adapter already takes one thread up to 2,653 MB of memory (functions/adapters/onnx-runtime.ts).`,
    ...(r.threads.configs.find((c) => c.id === r.threads.recommended)?.spinning === false
      ? ['', "Turning spinning off needs an option the adapter does not have yet (`OnnxRuntimeOptions` takes the thread count only): the session option is `extra: { session: { intra_op: { allow_spinning: '0' } } }`, ONNX Runtime's `session.intra_op.allow_spinning` config entry."]
      : []),
    '',
    '## Method',
    '',
    '- Cases that are compared run in alternating blocks of the same loop (ABC, CBA, ...), so drift and noisy neighbours hit them alike. Figures are medians unless marked p99.',
    '- Every loop is bounded by a count and a time budget; `--quick` uses small ones (its figures only show that the bench runs).',
    '- The models are built by the bench from the test fixtures with fixed seeds; the rows are the iris data set and seeded pseudo-random values.',
    '- Traffic stays on 127.0.0.1.',
    '',
  );
  return `${out.join('\n')}\n`;
}
