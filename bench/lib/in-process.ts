/**
 * The predict handler called in-process, the way Lambda calls it: the real middy handler, the
 * real serving core and the real ONNX Runtime adapter, over an in-memory artifact store and, by
 * default, an in-memory registry (test/fixtures/in-memory.ts; the caller may pass another
 * registry, such as the DynamoDB adapter over the local server), with the prediction log port
 * chosen by the caller and, optionally, a data-capture port with capture turned on for every
 * model served, an online feature store and the sandbox's prediction caches.
 */
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { DEFAULT_MAX_RECORD_BYTES } from '../../functions/core/capture.js';
import type { CaptureSettings, ModelVersion } from '../../functions/core/model.js';
import type { CaptureLog, ModelRegistry, ModelSession, OnlineFeatureStore, PredictionLog } from '../../functions/core/ports.js';
import type { PredictionCaches } from '../../functions/core/prediction-cache.js';
import { PredictionService } from '../../functions/core/predict.js';
import { RegistryService } from '../../functions/core/registry.js';
import { makeHandler } from '../../functions/predict/app.js';
import { loadConfig } from '../../functions/shared/config.js';
import type { HttpHandler } from '../../functions/shared/http.js';
import { InMemoryArtifactStore, InMemoryModelRegistry } from '../../test/fixtures/in-memory.js';
import type { BenchModel } from './models.js';
import { publish, type PublishedModel } from './publish.js';

export { lambdaContext, predictEvent } from './events.js';

/** A prediction log that keeps nothing (and builds no record): the "logging off" figure. */
export class DiscardingLog implements PredictionLog {
  write(): void {}

  async flush(): Promise<void> {}

  pending(): number {
    return 0;
  }
}

export interface InProcessPredict {
  readonly handler: HttpHandler;
  readonly service: PredictionService;
  /** The adapter's session for a model, the very one the handler runs. */
  session(model: Pick<BenchModel, 'name'>): Promise<ModelSession>;
  /**
   * Sets data capture for every model served (a sample share in percent; `undefined` turns it
   * off) on the registry's model records, as `PUT` / `DELETE /v1/models/{m}/capture` do. The
   * handler sees it once it re-reads the production pointer: `pointerCacheMs` after its last read.
   */
  setCapture(samplePercent: number | undefined): Promise<void>;
  /** How long the handler trusts a production pointer (and the capture settings read with it), ms. */
  readonly pointerCacheMs: number;
  /**
   * Registers one more version of a model's file through the registry service, as
   * `POST /v1/models/{m}/versions` does, and leaves it in development (not promoted): a second
   * version the handler does not serve, such as a shadow test's candidate.
   */
  register(model: PublishedModel): Promise<ModelVersion>;
  /**
   * Another handler over the same registry and ONNX Runtime (so the very same sessions), its
   * serving core built with these ports instead (a port left out is not there: `{}` is a core
   * with no prediction caches and no feature store), the prediction log and capture as given
   * to `inProcessPredict` unless named: a setting compared on and off with nothing else changed.
   */
  variant(ports: VariantPorts): { readonly handler: HttpHandler; readonly service: PredictionService };
}

/** The ports a {@link InProcessPredict.variant} is built with. */
export interface VariantPorts {
  readonly log?: PredictionLog;
  readonly features?: OnlineFeatureStore;
  readonly caches?: PredictionCaches;
}

/** The function's defaults (functions/shared/config.ts), with the table and bucket names it needs. */
const config = loadConfig({
  REGISTRY_TABLE: 'onnx-registry',
  PREDICTION_LOG_TABLE: 'onnx-prediction-log',
  ARTIFACT_BUCKET: 'onnx-artifacts',
});

export interface InProcessOptions {
  readonly log: PredictionLog;
  readonly intraOpThreads: number;
  /** The data-capture port (`PredictDeps.capture`), as a function with `CAPTURE_BUCKET` has one. @default none */
  readonly capture?: CaptureLog;
  /**
   * Turns data capture on for every model served, at this sample share in percent, without
   * redaction and with the default record bound (the settings `PUT /v1/models/{m}/capture`
   * would store, set on the registry's model record before the first request). @default off
   */
  readonly captureSamplePercent?: number;
  /** The serving core's wall clock (`PredictDeps.now`), epoch ms. @default Date.now */
  readonly now?: () => number;
  /**
   * The registry the models are registered in and the handler reads (`PredictDeps.registry`),
   * e.g. `DynamoDbRegistry` over the local DynamoDB-compatible server, where experiments and
   * shadow tests can be set on a model's record. @default a new in-memory registry
   */
  readonly registry?: ModelRegistry;
  /** Where versions with `onlineFeatures` read them (`PredictDeps.features`). @default none */
  readonly features?: OnlineFeatureStore;
  /** The sandbox's prediction caches (`PredictDeps.caches`), for versions that declare `predictionCache`. @default none */
  readonly caches?: PredictionCaches;
}

/** Capture settings at `samplePercent`, without redaction, with the default record bound. */
function captureSettings(samplePercent: number): CaptureSettings {
  return {
    samplePercent,
    drop: [],
    hash: [],
    maxRecordBytes: DEFAULT_MAX_RECORD_BYTES,
    updatedAt: new Date().toISOString(),
    updatedBy: 'bench',
  };
}

/**
 * Registers `models` through the registry service, makes each the production version, and
 * returns the predict handler serving them.
 */
export async function inProcessPredict(models: readonly PublishedModel[], options: InProcessOptions): Promise<InProcessPredict> {
  const registry = options.registry ?? new InMemoryModelRegistry();
  const artifacts = new InMemoryArtifactStore();
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'bench-model-cache-'));
  const runtime = new OnnxRuntime(artifacts, { cacheDir, intraOpThreads: options.intraOpThreads });
  const registryService = new RegistryService({ registry, artifacts, runtime, maxArtifactBytes: 50_000_000 });
  const versions = new Map<string, ModelVersion>();
  for (const model of models) {
    versions.set(model.name, await publish(registryService, model));
  }
  const setCapture = async (samplePercent: number | undefined) => {
    for (const model of models)
      await registry.setCapture(model.name, samplePercent === undefined ? undefined : captureSettings(samplePercent));
  };
  if (options.captureSamplePercent !== undefined) await setCapture(options.captureSamplePercent);
  const build = (ports: VariantPorts & Pick<InProcessOptions, 'log'>) => {
    const service = new PredictionService({
      registry,
      runtime,
      log: ports.log,
      ...(options.capture ? { capture: options.capture } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(ports.features ? { features: ports.features } : {}),
      ...(ports.caches ? { caches: ports.caches } : {}),
      config: {
        maxRows: config.MAX_ROWS,
        functionVersion: '$LATEST',
        logTtlDays: config.LOG_TTL_DAYS,
        maxLoggedOutputBytes: config.MAX_LOGGED_OUTPUT_BYTES,
        pointerCacheMs: config.POINTER_CACHE_MS,
      },
    });
    const handler = makeHandler({ service, limits: { maxBodyBytes: config.MAX_BODY_BYTES, maxJsonDepth: config.MAX_JSON_DEPTH } });
    return { handler, service };
  };
  const { handler, service } = build(options);
  return {
    handler,
    service,
    session(model) {
      const version = versions.get(model.name);
      if (!version) throw new Error(`${model.name} is not registered here`);
      return runtime.load(version);
    },
    setCapture,
    pointerCacheMs: config.POINTER_CACHE_MS,
    register: (model) => registryService.register({ model: model.name, bytes: model.bytes, metadata: model.metadata, actor: 'bench' }),
    variant: (ports) => build({ ...ports, log: ports.log ?? options.log }),
  };
}

/** `{"features": {...}}` for one row. */
export function featuresBody(model: BenchModel, row: readonly number[]): Record<string, unknown> {
  return { features: Object.fromEntries(model.features.map((name, i) => [name, row[i]])) };
}

/** `{"instances": [[...], ...]}`: rows as arrays in feature order. */
export function arrayInstancesBody(rows: readonly (readonly number[])[]): Record<string, unknown> {
  return { instances: rows };
}

/** `{"instances": [{...}, ...]}`: rows as records of named features. */
export function recordInstancesBody(model: BenchModel, rows: readonly (readonly number[])[]): Record<string, unknown> {
  return { instances: rows.map((row) => Object.fromEntries(model.features.map((name, i) => [name, row[i]]))) };
}

/** Calls the handler and fails loudly on anything but a 200 (a benchmark of errors is worthless). */
export async function invokeOk(handler: HttpHandler, event: APIGatewayProxyEvent, context: Context): Promise<string> {
  const result = await handler(event, context);
  if (result.statusCode !== 200) throw new Error(`handler answered ${result.statusCode}: ${result.body.slice(0, 300)}`);
  return result.body;
}
