/**
 * 4. Cold start: a fresh Node process loads the bundled predict function (bundled as `cdk synth`
 * bundles it: the AWS SDK bundled in, ONNX Runtime from the layer), reads the registry and fetches
 * the model from the local DynamoDB- and S3-compatible servers, creates the session and serves the
 * first request. The limit beside it: a fresh process where ONNX Runtime alone reads the file from
 * disk, creates a session and runs one row. Runs rotate between the kinds; medians are reported.
 *
 * The function's folder mirrors a Lambda sandbox: `index.mjs` (+ map) as the asset holds it and
 * `node_modules/onnxruntime-*` linked to the layer's build (as /opt/nodejs/node_modules). Each
 * run gets an empty model cache, as a new sandbox's /tmp is. One more run of the sample model
 * under `--cpu-prof` says where the process spends its CPU.
 *
 * Beside the sample model's runs, in the same rotation:
 * - EMF off: the same bundle with EMF_METRICS=false, for what the metrics line costs per request.
 * - tracing on: the same bundle with TRACING=true in the environment Lambda gives a traced
 *   function (a sampled `_X_AMZN_TRACE_ID`, fresh per invocation; the X-Ray daemon's address
 *   pointing at a UDP socket this process opens and drains). Each sample-model process, traced or
 *   not, then serves warm requests, so tracing's cost per request is measured as well as at init.
 * - Powertools in isolation: fresh processes, bundled the same way, that import and build Logger
 *   and Metrics (or the Tracer), against one that does nothing.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { BenchContext } from './lib/context.js';
import { bundleFunction, bundleScript, externalModules, type FunctionBundle } from './lib/bundle.js';
import { featuresBody } from './lib/in-process.js';
import { layerFiles } from './lib/layer.js';
import { PRODUCT_THREADS, benchModel, benchModels } from './lib/models.js';
import { readCpuProfDir } from './lib/profile.js';
import { median, precise, summarize } from './lib/stats.js';
import { COLD_START_PHASES, type ColdStartBefore, type ColdStartPhase, type ColdStartResult } from './results.js';

const run = promisify(execFile);

/** What CDK sets on every function (lib/serving-function.ts): source maps are read at load. */
export const FUNCTION_NODE_OPTIONS = '--enable-source-maps';

/**
 * The last committed run before Powertools and the bundled SDK: docs/benchmarks.json at commit
 * 9f8c00d (full run of 2026-11-22), sample model, median of 10. Quoted, not measured here.
 */
export const BEFORE: ColdStartBefore = {
  source: 'docs/benchmarks.json at commit 9f8c00d (full run of 2026-11-22, before Powertools; same machine type)',
  commit: '9f8c00d',
  date: '2026-11-22',
  model: 'iris',
  sdkExternalMs: 681.65,
  sdkExternalModuleLoadMs: 449.909,
  sdkBundledMs: 413.985,
  sdkBundledModuleLoadMs: 191.652,
  bareMs: 124.51,
};

interface FirstRequest {
  readonly total: number;
  readonly phases: Record<ColdStartPhase, number>;
  readonly secondMs: number;
  readonly warmMs: readonly number[];
  readonly warmCpuMs: number;
  /** Invocations served, warm ones included. */
  readonly requests: number;
}

interface Bare {
  readonly total: number;
  readonly runtimeLoad: number;
  readonly sessionCreate: number;
}

interface Probe {
  readonly total: number;
}

export interface Sandbox {
  readonly dir: string;
  readonly bundle: FunctionBundle;
  /** The same function synthesized with tracing on (the tracer bundled in), and its harness. */
  readonly traced: { readonly dir: string; readonly bundle: FunctionBundle };
  readonly probes: { readonly loggerMetricsBytes: number; readonly tracerBytes: number };
}

const PROBES = { empty: 'probe-empty', loggerMetrics: 'probe-powertools', tracer: 'probe-tracer' } as const;

/**
 * Lays out the sandbox folder: the function bundled as deployed, the harnesses, the Powertools
 * probes (bundled the same way as the function), and links to the layer's packages.
 */
export async function prepareSandbox(ctx: BenchContext): Promise<Sandbox> {
  const layer = layerFiles(process.arch === 'arm64' ? 'arm64' : 'x86_64');
  const packages = path.join(layer.contentDir, 'nodejs/node_modules');
  const shared = ['onnxruntime-node', './index.mjs'];
  /** A folder with the function bundled as synthesized (tracing on or off), the harnesses and the layer. */
  const lay = async (name: string, tracing: boolean) => {
    const dir = path.join(ctx.tmpDir, name);
    mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
    const bundle = await bundleFunction('functions/predict/handler.ts', dir, 'index', { tracing });
    await bundleScript('bench/processes/first-request.ts', path.join(dir, 'first-request.mjs'), shared);
    await bundleScript('bench/processes/bare-ort.ts', path.join(dir, 'bare-ort.mjs'), shared);
    for (const pkg of ['onnxruntime-node', 'onnxruntime-common'])
      symlinkSync(path.join(packages, pkg), path.join(dir, 'node_modules', pkg));
    return { dir, bundle };
  };
  const { dir, bundle } = await lay('sandbox', false);
  const traced = await lay('sandbox-traced', true);
  await bundleFunction(`bench/processes/${PROBES.empty}.ts`, dir, PROBES.empty);
  const loggerMetrics = await bundleFunction(`bench/processes/${PROBES.loggerMetrics}.ts`, dir, PROBES.loggerMetrics);
  const tracer = await bundleFunction(`bench/processes/${PROBES.tracer}.ts`, dir, PROBES.tracer, { tracing: true });
  return { dir, bundle, traced, probes: { loggerMetricsBytes: loggerMetrics.jsBytes, tracerBytes: tracer.jsBytes } };
}

/** What Lambda sets in every function's environment that the code may read. */
function lambdaEnv(dir: string): Record<string, string> {
  return { AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x', LAMBDA_TASK_ROOT: dir };
}

/** The environment Lambda would give the function, pointed at the local servers, with an empty /tmp cache. */
function functionEnv(ctx: BenchContext, dir: string, servedModel: string): NodeJS.ProcessEnv {
  const cacheDir = mkdtempSync(path.join(ctx.tmpDir, 'tmp-'));
  return {
    PATH: process.env.PATH ?? '',
    NODE_OPTIONS: FUNCTION_NODE_OPTIONS,
    ...lambdaEnv(dir),
    REGISTRY_TABLE: ctx.aws.registryTable,
    PREDICTION_LOG_TABLE: ctx.aws.predictionLogTable,
    ARTIFACT_BUCKET: ctx.aws.bucket,
    // lib/model-endpoint.ts: an endpoint function serves one model.
    SERVED_MODEL: servedModel,
    MODEL_CACHE_DIR: cacheDir,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REGION: 'us-east-1',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    // s3rver accepts only this key pair; dynalite any.
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_DYNAMODB: ctx.aws.dynamoEndpoint,
    AWS_ENDPOINT_URL_S3: ctx.aws.s3Endpoint,
    // s3rver knows nothing of the SDK's default flexible checksums.
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    // Never read the machine's own AWS configuration.
    AWS_CONFIG_FILE: path.join(cacheDir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(cacheDir, 'no-aws-credentials'),
  };
}

/** An X-Ray trace id root without its last 8 hex digits (the harness appends the invocation's). */
function traceRootPrefix(): string {
  return `1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(8).toString('hex')}`;
}

/** What Lambda adds for a function with active tracing, and the function's TRACING switch. */
function tracingEnv(daemonAddress: string, root: string): Record<string, string> {
  return {
    TRACING: 'true',
    _X_AMZN_TRACE_ID: `Root=${root}00000000;Parent=0000000000000000;Sampled=1`,
    AWS_XRAY_DAEMON_ADDRESS: daemonAddress,
    AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
  };
}

/** The UDP socket standing in for the X-Ray daemon: counts what it receives and drops it. */
async function xrayDaemon(): Promise<{
  address: string;
  received: () => { datagrams: number; bytes: number; names: ReadonlyMap<string, number> };
  close: () => void;
}> {
  const socket = createSocket('udp4');
  let datagrams = 0;
  let bytes = 0;
  const names = new Map<string, number>();
  socket.on('message', (message) => {
    datagrams++;
    bytes += message.byteLength;
    // Each datagram is a header line and one segment document.
    try {
      const name = String((JSON.parse(message.toString('utf8').split('\n')[1] ?? '{}') as { name?: unknown }).name ?? '(unnamed)');
      names.set(name, (names.get(name) ?? 0) + 1);
    } catch {
      names.set('(not JSON)', (names.get('(not JSON)') ?? 0) + 1);
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    received: () => ({ datagrams, bytes, names: new Map(names) }),
    close: () => socket.close(),
  };
}

async function lastJsonLine<T>(file: string, cwd: string, env: NodeJS.ProcessEnv, nodeArgs: readonly string[] = []): Promise<T> {
  const { stdout } = await run(process.execPath, [...nodeArgs, file], { cwd, env, timeout: 60_000, maxBuffer: 50_000_000 });
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

/** The model the profile, the tracing figures and the target are taken on. */
export const SAMPLE = 'iris';

export async function runColdStart(ctx: BenchContext, sandbox: Sandbox): Promise<ColdStartResult> {
  const { runs, warmRequests, probeRuns } = ctx.profile.coldStart;
  const { dir } = sandbox;
  const daemon = await xrayDaemon();
  try {
    const models: ColdStartResult['models'][number][] = [];
    let sampleFirsts: FirstRequest[] = [];
    let sampleBare = Number.NaN;
    const traced: FirstRequest[] = [];
    const withoutEmf: FirstRequest[] = [];
    const segments = { datagrams: 0, bytes: 0, requests: 0, names: new Map<string, number>() };
    for (const model of benchModels()) {
      const isSample = model.id === SAMPLE;
      ctx.progress(`cold start: ${model.id} (${runs} run${runs === 1 ? '' : 's'}${isSample ? '; as deployed, tracing on, EMF off' : ''})`);
      const row = model.rows(1)[0] ?? [];
      const modelFile = path.join(dir, `${model.name}.onnx`);
      writeFileSync(modelFile, model.bytes);
      const body = JSON.stringify(featuresBody(model, row));
      const harness = { BENCH_MODEL: model.name, BENCH_BODY: body, BENCH_WARM: String(isSample ? warmRequests : 0) };
      const firsts: FirstRequest[] = [];
      const bares: Bare[] = [];
      // Each run gets a fresh /tmp cache; the order rotates, so none always runs on a warmer page cache.
      const kinds: Array<() => Promise<void>> = [
        async () => {
          firsts.push(await lastJsonLine<FirstRequest>('first-request.mjs', dir, { ...functionEnv(ctx, dir, model.name), ...harness }));
        },
        async () => {
          const env = {
            PATH: process.env.PATH ?? '',
            BENCH_MODEL_FILE: modelFile,
            BENCH_ROW: JSON.stringify(row),
            BENCH_THREADS: String(PRODUCT_THREADS),
          };
          bares.push(await lastJsonLine<Bare>('bare-ort.mjs', dir, env));
        },
      ];
      if (isSample) {
        kinds.push(async () => {
          const root = traceRootPrefix();
          const before = daemon.received();
          const tracedDir = sandbox.traced.dir;
          writeFileSync(path.join(tracedDir, `${model.name}.onnx`), model.bytes);
          const result = await lastJsonLine<FirstRequest>('first-request.mjs', tracedDir, {
            ...functionEnv(ctx, tracedDir, model.name),
            ...tracingEnv(daemon.address, root),
            ...harness,
            BENCH_TRACE_ROOT: root,
          });
          // Datagrams sent before the process exited are delivered by now or in the next turns.
          for (let i = 0; i < 3; i++) await nextTurn();
          const after = daemon.received();
          segments.datagrams += after.datagrams - before.datagrams;
          segments.bytes += after.bytes - before.bytes;
          segments.requests += result.requests;
          for (const [name, count] of after.names)
            segments.names.set(name, (segments.names.get(name) ?? 0) + count - (before.names.get(name) ?? 0));
          traced.push(result);
        });
        kinds.push(async () => {
          withoutEmf.push(
            await lastJsonLine<FirstRequest>('first-request.mjs', dir, {
              ...functionEnv(ctx, dir, model.name),
              EMF_METRICS: 'false',
              ...harness,
            }),
          );
        });
      }
      for (let i = 0; i < runs; i++) for (let k = 0; k < kinds.length; k++) await kinds[(i + k) % kinds.length]?.();
      const total = summarize(firsts.map((f) => f.total));
      const bare = summarize(bares.map((b) => b.total));
      if (isSample) {
        sampleFirsts = firsts;
        sampleBare = bare.medianMs;
      }
      models.push({
        model: model.id,
        modelBytes: model.bytes.byteLength,
        total,
        phases: medianPhases(firsts),
        bare,
        bareRuntimeLoadMs: precise(median(bares.map((b) => b.runtimeLoad))),
        bareSessionCreateMs: precise(median(bares.map((b) => b.sessionCreate))),
        secondRequest: summarize(firsts.map((f) => f.secondMs)),
        ratio: precise(total.medianMs / bare.medianMs),
      });
    }

    const sample = benchModel(SAMPLE);
    ctx.progress(`cold start: CPU profile (${sample.id})`);
    const profileDir = mkdtempSync(path.join(ctx.tmpDir, 'cpu-prof-'));
    const env = {
      ...functionEnv(ctx, dir, sample.name),
      BENCH_MODEL: sample.name,
      BENCH_BODY: JSON.stringify(featuresBody(sample, sample.rows(1)[0] ?? [])),
    };
    await lastJsonLine<FirstRequest>('first-request.mjs', dir, env, [
      '--cpu-prof',
      '--cpu-prof-interval=100',
      `--cpu-prof-dir=${profileDir}`,
    ]);

    ctx.progress(`cold start: Powertools in isolation (${probeRuns} runs of each probe)`);
    const probeEnv = {
      PATH: process.env.PATH ?? '',
      NODE_OPTIONS: FUNCTION_NODE_OPTIONS,
      AWS_REGION: 'us-east-1',
      ...lambdaEnv(dir),
      ...tracingEnv(daemon.address, traceRootPrefix()),
    };
    const probes = { empty: [] as number[], loggerMetrics: [] as number[], tracer: [] as number[] };
    const probeKinds = Object.keys(PROBES) as Array<keyof typeof PROBES>;
    for (let i = 0; i < probeRuns; i++) {
      for (let k = 0; k < probeKinds.length; k++) {
        const kind = probeKinds[(i + k) % probeKinds.length] ?? 'empty';
        probes[kind].push((await lastJsonLine<Probe>(`${PROBES[kind]}.mjs`, dir, probeEnv)).total);
      }
    }
    const empty = summarize(probes.empty);
    const loggerMetrics = summarize(probes.loggerMetrics);
    const tracer = summarize(probes.tracer);

    const deployed = summarize(sampleFirsts.map((f) => f.total));
    const tracedTotal = summarize(traced.map((f) => f.total));
    const warmOff = summarize(sampleFirsts.flatMap((f) => f.warmMs));
    const warmOn = summarize(traced.flatMap((f) => f.warmMs));
    const warmNoEmf = summarize(withoutEmf.flatMap((f) => f.warmMs));
    const noEmfTotal = summarize(withoutEmf.map((f) => f.total));
    return {
      runs,
      nodeOptions: FUNCTION_NODE_OPTIONS,
      models,
      profiledModel: sample.id,
      profile: readCpuProfDir(profileDir),
      bundle: { jsBytes: sandbox.bundle.jsBytes, mapBytes: sandbox.bundle.mapBytes, external: externalModules(false) },
      tracedBundleBytes: sandbox.traced.bundle.jsBytes,
      warmRequests,
      tracing: {
        model: sample.id,
        env: Object.keys(tracingEnv('', '')),
        total: tracedTotal,
        phases: medianPhases(traced),
        addedMedianMs: precise(tracedTotal.medianMs - deployed.medianMs),
        ratio: precise(tracedTotal.medianMs / sampleBare),
        warmOff,
        warmOn,
        warmAddedMedianMs: precise(warmOn.medianMs - warmOff.medianMs),
        warmAddedP99Ms: precise(warmOn.p99Ms - warmOff.p99Ms),
        warmRatio: precise(warmOn.medianMs / warmOff.medianMs),
        cpuMsPerWarmRequestOff: precise(median(sampleFirsts.map((f) => f.warmCpuMs))),
        cpuMsPerWarmRequestOn: precise(median(traced.map((f) => f.warmCpuMs))),
        segmentsPerRequest: precise(segments.datagrams / Math.max(1, segments.requests)),
        segmentBytesPerRequest: precise(segments.bytes / Math.max(1, segments.requests)),
        segmentNames: [...segments.names]
          .filter(([, count]) => count > 0)
          .sort((a, b) => b[1] - a[1])
          .map(([name, count]) => ({ name, perRequest: precise(count / Math.max(1, segments.requests)) })),
      },
      emf: {
        model: sample.id,
        total: noEmfTotal,
        warmOff: warmNoEmf,
        warmAddedMedianMs: precise(warmOff.medianMs - warmNoEmf.medianMs),
        warmAddedP99Ms: precise(warmOff.p99Ms - warmNoEmf.p99Ms),
        cpuMsPerWarmRequestOff: precise(median(withoutEmf.map((f) => f.warmCpuMs))),
      },
      powertools: {
        runs: probeRuns,
        empty,
        loggerMetrics,
        tracer,
        loggerMetricsMs: precise(loggerMetrics.medianMs - empty.medianMs),
        tracerMs: precise(tracer.medianMs - empty.medianMs),
        loggerMetricsBundleBytes: sandbox.probes.loggerMetricsBytes,
        tracerBundleBytes: sandbox.probes.tracerBytes,
      },
      before: BEFORE,
    };
  } finally {
    daemon.close();
  }
}

function medianPhases(runs: readonly FirstRequest[]): Record<ColdStartPhase, number> {
  return Object.fromEntries(COLD_START_PHASES.map((p) => [p, precise(median(runs.map((f) => f.phases[p])))])) as Record<
    ColdStartPhase,
    number
  >;
}
