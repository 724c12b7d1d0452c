/**
 * 4. Cold start: a fresh Node process loads the bundled predict function (bundled as `cdk synth`
 * bundles it) and the layer's onnxruntime-node, reads the registry and fetches the model from the
 * local DynamoDB- and S3-compatible servers, creates the session and serves the first request.
 * The limit beside it: a fresh process where ONNX Runtime alone reads the file from disk,
 * creates a session and runs one row. Runs alternate between the two; medians are reported.
 *
 * The function's folder mirrors a Lambda sandbox: `index.mjs` (+ map) as the asset holds it,
 * `node_modules/onnxruntime-*` linked to the layer's build (as /opt/nodejs/node_modules), and
 * `node_modules/@aws-sdk` linked to the repository's copy (the Lambda runtime provides the SDK).
 * Each run gets an empty model cache, as a new sandbox's /tmp is. One more run of the sample
 * model under `--cpu-prof` says where the process spends its CPU, and a what-if runs beside the
 * sample model: the same function with the AWS SDK bundled in rather than loaded from the runtime.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BenchContext } from './lib/context.js';
import { EXTERNAL_MODULES, bundleFunction, bundleScript, type FunctionBundle } from './lib/bundle.js';
import { featuresBody } from './lib/in-process.js';
import { layerFiles } from './lib/layer.js';
import { PRODUCT_THREADS, benchModel, benchModels } from './lib/models.js';
import { ROOT } from './lib/paths.js';
import { readCpuProfDir } from './lib/profile.js';
import { median, precise, summarize } from './lib/stats.js';
import { COLD_START_PHASES, type ColdStartPhase, type ColdStartResult } from './results.js';

const run = promisify(execFile);

/** What CDK sets on every function (lib/serving-function.ts): source maps are read at load. */
export const FUNCTION_NODE_OPTIONS = '--enable-source-maps';

interface FirstRequest {
  readonly total: number;
  readonly phases: Record<ColdStartPhase, number>;
  readonly secondMs: number;
}

interface Bare {
  readonly total: number;
  readonly runtimeLoad: number;
  readonly sessionCreate: number;
}

export interface Sandbox {
  readonly dir: string;
  readonly bundle: FunctionBundle;
}

/**
 * Lays out a sandbox folder: the function bundled with `external` left as imports, the two
 * harnesses, and links to the layer's packages (and to the AWS SDK while it stays external).
 */
async function prepareSandbox(ctx: BenchContext, name: string, external: readonly string[]): Promise<Sandbox> {
  const dir = path.join(ctx.tmpDir, name);
  mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
  const bundle = await bundleFunction('functions/predict/handler.ts', dir, external);
  const shared = ['onnxruntime-node', './index.mjs'];
  await bundleScript('bench/processes/first-request.ts', path.join(dir, 'first-request.mjs'), shared);
  await bundleScript('bench/processes/bare-ort.ts', path.join(dir, 'bare-ort.mjs'), shared);
  const layer = layerFiles(process.arch === 'arm64' ? 'arm64' : 'x86_64');
  const packages = path.join(layer.contentDir, 'nodejs/node_modules');
  for (const pkg of ['onnxruntime-node', 'onnxruntime-common']) symlinkSync(path.join(packages, pkg), path.join(dir, 'node_modules', pkg));
  if (external.includes('@aws-sdk/*')) symlinkSync(path.join(ROOT, 'node_modules/@aws-sdk'), path.join(dir, 'node_modules/@aws-sdk'));
  return { dir, bundle };
}

/** The function as `cdk synth` bundles it, and the what-if: the same with the AWS SDK bundled in. */
export async function prepareSandboxes(ctx: BenchContext): Promise<{ asDeployed: Sandbox; sdkBundled: Sandbox }> {
  return {
    asDeployed: await prepareSandbox(ctx, 'sandbox', EXTERNAL_MODULES),
    sdkBundled: await prepareSandbox(ctx, 'sandbox-sdk-bundled', EXTERNAL_MODULES.filter((m) => m !== '@aws-sdk/*')),
  };
}

/** The environment Lambda would give the function, pointed at the local servers, with an empty /tmp cache. */
function functionEnv(ctx: BenchContext): NodeJS.ProcessEnv {
  const cacheDir = mkdtempSync(path.join(ctx.tmpDir, 'tmp-'));
  return {
    PATH: process.env.PATH ?? '',
    NODE_OPTIONS: FUNCTION_NODE_OPTIONS,
    REGISTRY_TABLE: ctx.aws.registryTable,
    PREDICTION_LOG_TABLE: ctx.aws.predictionLogTable,
    ARTIFACT_BUCKET: ctx.aws.bucket,
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

async function lastJsonLine<T>(file: string, cwd: string, env: NodeJS.ProcessEnv, nodeArgs: readonly string[] = []): Promise<T> {
  const { stdout } = await run(process.execPath, [...nodeArgs, file], { cwd, env, timeout: 30_000, maxBuffer: 10_000_000 });
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

/** The model the profile and the what-if are taken on. */
const SAMPLE = 'iris';

export async function runColdStart(ctx: BenchContext, sandboxes: { asDeployed: Sandbox; sdkBundled: Sandbox }): Promise<ColdStartResult> {
  const runs = ctx.profile.coldStartRuns;
  const { asDeployed, sdkBundled } = sandboxes;
  const models: ColdStartResult['models'][number][] = [];
  const whatIfs: FirstRequest[] = [];
  for (const model of benchModels()) {
    ctx.progress(`cold start: ${model.id} (${runs} runs)`);
    const row = model.rows(1)[0] ?? [];
    const modelFile = path.join(asDeployed.dir, `${model.name}.onnx`);
    writeFileSync(modelFile, model.bytes);
    const body = JSON.stringify(featuresBody(model, row));
    const firsts: FirstRequest[] = [];
    const bares: Bare[] = [];
    // Each run gets a fresh /tmp cache; the order rotates, so none always runs on a warmer page cache.
    const kinds: Array<() => Promise<void>> = [
      async () => {
        firsts.push(await lastJsonLine<FirstRequest>('first-request.mjs', asDeployed.dir, { ...functionEnv(ctx), BENCH_MODEL: model.name, BENCH_BODY: body }));
      },
      async () => {
        const env = { PATH: process.env.PATH ?? '', BENCH_MODEL_FILE: modelFile, BENCH_ROW: JSON.stringify(row), BENCH_THREADS: String(PRODUCT_THREADS) };
        bares.push(await lastJsonLine<Bare>('bare-ort.mjs', asDeployed.dir, env));
      },
    ];
    if (model.id === SAMPLE) {
      kinds.push(async () => {
        whatIfs.push(await lastJsonLine<FirstRequest>('first-request.mjs', sdkBundled.dir, { ...functionEnv(ctx), BENCH_MODEL: model.name, BENCH_BODY: body }));
      });
    }
    for (let i = 0; i < runs; i++) for (let k = 0; k < kinds.length; k++) await kinds[(i + k) % kinds.length]?.();
    const total = summarize(firsts.map((f) => f.total));
    const bare = summarize(bares.map((b) => b.total));
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
  const env = { ...functionEnv(ctx), BENCH_MODEL: sample.name, BENCH_BODY: JSON.stringify(featuresBody(sample, sample.rows(1)[0] ?? [])) };
  await lastJsonLine<FirstRequest>('first-request.mjs', asDeployed.dir, env, ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${profileDir}`]);
  return {
    runs,
    nodeOptions: FUNCTION_NODE_OPTIONS,
    models,
    profiledModel: sample.id,
    profile: readCpuProfDir(profileDir),
    sdkBundled: {
      model: sample.id,
      jsBytes: sdkBundled.bundle.jsBytes,
      mapBytes: sdkBundled.bundle.mapBytes,
      total: summarize(whatIfs.map((f) => f.total)),
      phases: medianPhases(whatIfs),
    },
  };
}

function medianPhases(runs: readonly FirstRequest[]): Record<ColdStartPhase, number> {
  return Object.fromEntries(COLD_START_PHASES.map((p) => [p, precise(median(runs.map((f) => f.phases[p])))])) as Record<ColdStartPhase, number>;
}
