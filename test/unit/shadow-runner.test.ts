/**
 * Shadow runs (`functions/core/shadow/runner.ts`): queued off the request path, one at a time
 * and in order, every candidate failure an error result with its code, leases always released,
 * a full queue refused, and the comparison of both outputs (hand-built tensors, and the sample
 * iris model on ONNX Runtime, decoded and run as the predict route does).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { InternalError, ValidationError } from '../../functions/core/errors.js';
import type { ModelMetadata, ModelVersion } from '../../functions/core/model.js';
import { predictRecordTexts, served, type Served } from '../../functions/core/predict.js';
import {
  ShadowRunner,
  SHADOW_QUEUE_FULL,
  SHADOW_RUN_FAILED,
  type ShadowJob,
  type ShadowResult,
} from '../../functions/core/shadow/runner.js';
import type { TensorData, TensorMap } from '../../functions/core/tensor.js';
import { InMemoryArtifactStore, InMemoryModelRegistry, publishModel } from '../fixtures/in-memory.js';

const LABELS = ['a', 'b', 'c'];
const VIEW = { probabilities: 'probabilities', labels: LABELS, binary: false };
const f32 = (rows: number[][]): TensorData => ({
  type: 'float32',
  shape: [rows.length, (rows[0] as number[]).length],
  data: Float32Array.from(rows.flat()),
});
const copy = (t: TensorData): TensorData => ({ ...t, data: t.data.slice() }) as TensorData;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A served candidate (no real session: the job's `run` gives the outputs) and its releases. */
function fakeServe(classifier = VIEW as typeof VIEW | undefined) {
  const calls: string[] = [];
  let releases = 0;
  const serve = async (model: string, version: string): Promise<Served & { release(): void }> => {
    calls.push(`${model}@${version}`);
    const target = { version: { model, version } as ModelVersion, session: undefined, layout: undefined, classifier } as unknown as Served;
    return { ...target, release: () => void releases++ };
  };
  return { serve, calls, releases: () => releases };
}

function job(id: string, run: ShadowJob['run'], outputs: TensorMap = { probabilities: f32([[0.5, 0.25, 0.25]]) }, rows = 1): ShadowJob {
  return {
    model: 'm',
    candidateVersion: '2',
    requestId: id,
    run,
    primary: { version: '1', outputs, rows, timestamp: '2026-12-01T10:00:00.000Z', classifier: VIEW },
  };
}
const answering =
  (outputs: TensorMap, logText = '[]'): ShadowJob['run'] =>
  async () => ({ outputs, logText });

describe('ShadowRunner scheduling', () => {
  it('returns from submit before anything runs: the run starts on a later turn', async () => {
    // Prepare
    const { serve, calls } = fakeServe();
    const runner = new ShadowRunner({ serve, maxLoggedOutputBytes: 1000 });
    const results: ShadowResult[] = [];

    // Act
    runner.submit(job('r-1', answering({ probabilities: f32([[0.5, 0.25, 0.25]]) })), (r) => results.push(r));
    const pendingAtOnce = runner.pending();
    await Promise.resolve();
    await Promise.resolve();
    const callsAfterMicrotasks = calls.length;
    await runner.flush();

    // Assess
    expect(pendingAtOnce).toBe(1);
    expect(callsAfterMicrotasks).toBe(0);
    expect(calls).toEqual(['m@2']);
    expect(results).toHaveLength(1);
    expect(runner.pending()).toBe(0);
  });

  it('runs jobs one at a time, in the order submitted, and flush waits for every done (one submitted meanwhile too)', async () => {
    // Prepare
    const { serve, releases } = fakeServe();
    const runner = new ShadowRunner({ serve, maxLoggedOutputBytes: 1000 });
    const events: string[] = [];
    let running = 0;
    let most = 0;
    const slow =
      (id: string, turns: number): ShadowJob['run'] =>
      async () => {
        running++;
        most = Math.max(most, running);
        events.push(`start ${id}`);
        for (let i = 0; i < turns; i++) await turn();
        events.push(`end ${id}`);
        running--;
        return { outputs: { probabilities: f32([[0.5, 0.25, 0.25]]) }, logText: '[]' };
      };
    const done = (id: string) => () => {
      events.push(`done ${id}`);
      if (id === 'b') runner.submit(job('d', slow('d', 1)), done('d'));
    };

    // Act
    runner.submit(job('a', slow('a', 3)), done('a'));
    runner.submit(job('b', slow('b', 1)), done('b'));
    runner.submit(job('c', slow('c', 2)), done('c'));
    const pending = runner.pending();
    await runner.flush();

    // Assess
    expect(pending).toBe(3);
    expect(most).toBe(1);
    expect(events).toEqual([
      'start a',
      'end a',
      'done a',
      'start b',
      'end b',
      'done b',
      'start c',
      'end c',
      'done c',
      'start d',
      'end d',
      'done d',
    ]);
    expect(releases()).toBe(4);
    expect(runner.pending()).toBe(0);
  });

  it('resolves flush at once when nothing is pending, and catches a done that throws', async () => {
    // Prepare
    const { serve } = fakeServe();
    const runner = new ShadowRunner({ serve, maxLoggedOutputBytes: 1000 });
    const seen: string[] = [];

    // Act
    await runner.flush();
    runner.submit(job('r-1', answering({ probabilities: f32([[1, 0, 0]]) })), () => {
      seen.push('r-1');
      throw new Error('the log is gone');
    });
    runner.submit(job('r-2', answering({ probabilities: f32([[1, 0, 0]]) })), () => seen.push('r-2'));
    await runner.flush();

    // Assess
    expect(seen).toEqual(['r-1', 'r-2']);
  });

  it('refuses jobs past maxQueued with SHADOW_QUEUE_FULL, on a later turn, without running them', async () => {
    // Prepare
    const { serve, calls } = fakeServe();
    const runner = new ShadowRunner({ serve, maxLoggedOutputBytes: 1000, maxQueued: 2 });
    const ran: string[] = [];
    const results = new Map<string, ShadowResult>();
    const runOf =
      (id: string): ShadowJob['run'] =>
      async () => {
        ran.push(id);
        return { outputs: { probabilities: f32([[0.5, 0.25, 0.25]]) }, logText: '[]' };
      };

    // Act
    for (const id of ['a', 'b', 'c', 'd']) runner.submit(job(id, runOf(id)), (r) => results.set(id, r));
    const refusedAtOnce = results.size;
    await runner.flush();

    // Assess
    expect(refusedAtOnce).toBe(0);
    expect(ran).toEqual(['a', 'b']);
    expect(calls).toEqual(['m@2', 'm@2']);
    for (const id of ['c', 'd']) {
      expect(results.get(id)).toEqual({ version: '2', error: { code: SHADOW_QUEUE_FULL, message: expect.stringContaining('2 jobs') } });
    }
    expect(results.get('a')?.comparison?.maxAbsDiff).toBe(0);
  });
});

describe('ShadowRunner errors', () => {
  const stackOf = (message: string): string =>
    `Error: ${message}\n    at run (/var/task/index.mjs:10:5)\n    at process (node:internal/process:1:1)`;

  it('keeps the code of an AppError serve throws, makes a plain failure SHADOW_RUN_FAILED, and runs and releases nothing', async () => {
    // Prepare
    const { serve, releases } = fakeServe();
    let call = 0;
    const failing = async (model: string, version: string) => {
      call++;
      if (call === 1) throw new InternalError('ARTIFACT_NOT_FOUND', 'Model m v2 cannot be served: s3 object models/m/abc.onnx is gone');
      if (call === 2) {
        const error = new Error('socket hang up');
        error.stack = stackOf('socket hang up');
        throw error;
      }
      return serve(model, version);
    };
    const runner = new ShadowRunner({ serve: failing, maxLoggedOutputBytes: 1000 });
    const results: ShadowResult[] = [];
    let runs = 0;
    const run: ShadowJob['run'] = async () => {
      runs++;
      return { outputs: { probabilities: f32([[0.5, 0.25, 0.25]]) }, logText: '[]' };
    };

    // Act
    runner.submit(job('r-1', run), (r) => results.push(r));
    runner.submit(job('r-2', run), (r) => results.push(r));
    await runner.flush();

    // Assess
    expect(results).toEqual([
      { version: '2', error: { code: 'ARTIFACT_NOT_FOUND', message: 'Model m v2 cannot be served: s3 object <path> is gone' } },
      { version: '2', error: { code: SHADOW_RUN_FAILED, message: 'Error: socket hang up' } },
    ]);
    expect(runs).toBe(0);
    expect(releases()).toBe(0);
  });

  it('keeps the code of an AppError the run throws, and makes a plain one SHADOW_RUN_FAILED without stack or paths; the lease is released each time', async () => {
    // Prepare
    const { serve, releases } = fakeServe();
    const runner = new ShadowRunner({ serve, maxLoggedOutputBytes: 1000 });
    const results: ShadowResult[] = [];
    const plain = new TypeError(
      "Cannot read properties of undefined (reading 'x')\n    at decode (/opt/code/functions/core/codec/decode.ts:12:3)",
    );
    const ort = new Error(
      `Non-zero status code returned while running Gemm node. /onnxruntime_src/onnxruntime/core/providers/cpu/math/gemm.cc:71 shapes do not fit ${'x'.repeat(400)}`,
    );

    // Act
    runner.submit(
      job('r-1', async () => {
        throw new ValidationError('UNKNOWN_FEATURE', 'instances[0] has "petal_area", which is not a feature of this model.', [
          'instances',
          0,
          'petal_area',
        ]);
      }),
      (r) => results.push(r),
    );
    runner.submit(
      job('r-2', async () => {
        throw plain;
      }),
      (r) => results.push(r),
    );
    runner.submit(
      job('r-3', async () => {
        throw ort;
      }),
      (r) => results.push(r),
    );
    await runner.flush();

    // Assess
    const [validation, typeError, ortError] = results as [ShadowResult, ShadowResult, ShadowResult];
    expect(validation).toEqual({
      version: '2',
      error: { code: 'UNKNOWN_FEATURE', message: 'instances[0] has "petal_area", which is not a feature of this model.' },
    });
    expect(typeError).toEqual({
      version: '2',
      error: { code: SHADOW_RUN_FAILED, message: "TypeError: Cannot read properties of undefined (reading 'x')" },
    });
    expect(ortError.error?.code).toBe(SHADOW_RUN_FAILED);
    expect(ortError.error?.message).toHaveLength(300);
    expect(ortError.error?.message).toMatch(
      /^Error: Non-zero status code returned while running Gemm node\. <path> shapes do not fit x+…$/,
    );
    for (const r of results) {
      expect(r.latencyMs).toBeUndefined();
      expect(r.error?.message).not.toMatch(/\n|\bat \w+ \(|\/opt\/|onnxruntime_src/);
    }
    expect(releases()).toBe(3);
  });
});

describe('ShadowRunner results', () => {
  it('finds identical outputs identical: maxAbsDiff 0, every label the same', async () => {
    // Prepare
    const probabilities = f32([
      [0.1, 0.2, 0.7],
      [0.3333333, 0.3333333, 0.3333334],
      [0.9, 0.05, 0.05],
    ]);
    const { serve } = fakeServe();
    const runner = new ShadowRunner({ serve, maxLoggedOutputBytes: 1000 });
    const results: ShadowResult[] = [];

    // Act
    runner.submit(job('r-1', answering({ probabilities: copy(probabilities) }, '[{"label":"c"}]'), { probabilities }, 3), (r) =>
      results.push(r),
    );
    await runner.flush();

    // Assess
    expect(results[0]?.comparison).toEqual({
      rows: 3,
      maxAbsDiff: 0,
      differingLabels: 0,
      outputs: { probabilities: { kind: 'numeric', elements: 9, differing: 0, maxAbsDiff: 0, meanAbsDiff: 0 } },
    });
    expect(results[0]?.outputs).toBe('[{"label":"c"}]');
    expect(results[0]?.truncated).toBe(false);
  });

  it('measures a known difference exactly, keeps at most 10 label changes, and times decode and run with the clock given', async () => {
    // Prepare: 12 rows; the candidate swaps the first two columns of each (|0.5 − 0.25| = 0.25 on 2 of 3 elements)
    const primary = f32(Array.from({ length: 12 }, () => [0.5, 0.25, 0.25]));
    const candidate = f32(Array.from({ length: 12 }, () => [0.25, 0.5, 0.25]));
    let now = 100;
    const { serve } = fakeServe();
    const runner = new ShadowRunner({ serve, maxLoggedOutputBytes: 1000, elapsed: () => now });
    const results: ShadowResult[] = [];

    // Act
    runner.submit(
      job(
        'r-1',
        async () => {
          now += 2.5004;
          return { outputs: { probabilities: candidate, extra: f32([[1]]) }, logText: '[]' };
        },
        { probabilities: primary },
        12,
      ),
      (r) => results.push(r),
    );
    await runner.flush();

    // Assess
    const result = results[0] as ShadowResult;
    expect(result.latencyMs).toBe(2.5);
    expect(result.comparison?.maxAbsDiff).toBe(0.25);
    expect(result.comparison?.outputs.probabilities).toEqual({
      kind: 'numeric',
      elements: 36,
      differing: 24,
      maxAbsDiff: 0.25,
      meanAbsDiff: (24 * 0.25) / 36,
    });
    expect(result.comparison?.differingLabels).toBe(12);
    expect(result.comparison?.labelChanges).toEqual(Array.from({ length: 10 }, (_, row) => ({ row, source: 'a', target: 'b' })));
    expect(result.comparison?.notCompared).toEqual({ extra: 'target-only' });
  });

  it('cuts the candidate outputs to maxLoggedOutputBytes and says so', async () => {
    // Prepare
    const probabilities = f32([[0.5, 0.25, 0.25]]);
    const text = '[{"label":"a","confidence":0.5}]';
    const { serve } = fakeServe();
    const runner = new ShadowRunner({ serve, maxLoggedOutputBytes: 12 });
    const results: ShadowResult[] = [];

    // Act
    runner.submit(job('r-1', answering({ probabilities }, text), { probabilities }), (r) => results.push(r));
    await runner.flush();

    // Assess
    expect(results[0]?.outputs).toBe(text.slice(0, 12));
    expect(results[0]?.truncated).toBe(true);
    expect(results[0]?.comparison?.maxAbsDiff).toBe(0);
  });
});

describe('ShadowRunner on the sample iris model (ONNX Runtime)', () => {
  const read = (path: string): Buffer => readFileSync(new URL(`../../${path}`, import.meta.url));
  const IRIS_BYTES = new Uint8Array(read('models/iris/model.onnx'));
  const IRIS_METADATA = JSON.parse(read('models/iris/metadata.json').toString('utf8')) as ModelMetadata;
  const BODY = {
    instances: [
      { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 },
      { sepal_length_cm: 6.4, sepal_width_cm: 3.2, petal_length_cm: 4.5, petal_width_cm: 1.5 },
      { sepal_length_cm: 6.3, sepal_width_cm: 3.3, petal_length_cm: 6, petal_width_cm: 2.5 },
    ],
  };
  let cacheDir: string;
  let registry: InMemoryModelRegistry;
  let runtime: OnnxRuntime;

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'shadow-test-'));
    const store = new InMemoryArtifactStore();
    registry = new InMemoryModelRegistry();
    runtime = new OnnxRuntime(store, { cacheDir, intraOpThreads: 1 });
    const signature = await runtime.inspect(IRIS_BYTES);
    await publishModel(registry, store, { model: 'iris', bytes: IRIS_BYTES, signature, metadata: IRIS_METADATA });
    await publishModel(registry, store, { model: 'iris', bytes: IRIS_BYTES, signature, metadata: IRIS_METADATA, promote: false });
    // Version 3 names its first feature otherwise: the caller's records do not fit it.
    const renamed = { ...IRIS_METADATA, features: ['sepal_len', ...(IRIS_METADATA.features as string[]).slice(1)] };
    await publishModel(registry, store, { model: 'iris', bytes: IRIS_BYTES, signature, metadata: renamed, promote: false });
  });

  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('compares the candidate with the primary on the same request: identical versions agree exactly; one whose features differ fails with the decoder code', async () => {
    // Prepare: the primary's answer, as the predict route computes it
    let leased = 0;
    let released = 0;
    const serve = async (model: string, version: string) => {
      const record = await registry.getVersion(model, version);
      if (!record) throw new Error(`no ${model} v${version}`);
      const lease = await runtime.load(record);
      leased++;
      return {
        ...served(record, lease),
        release: () => {
          released++;
          lease.release();
        },
      };
    };
    const primaryTarget = await serve('iris', '1');
    const primary = await predictRecordTexts(primaryTarget, BODY, 1000);
    primaryTarget.release();
    const runOnTarget: ShadowJob['run'] = async (target) => {
      const { texts, outputs } = await predictRecordTexts(target, BODY, 1000);
      return { outputs, logText: `[${texts.join(',')}]` };
    };
    const runner = new ShadowRunner({ serve, maxLoggedOutputBytes: 16_384 });
    const results: ShadowResult[] = [];
    const shadowJob = (candidateVersion: string): ShadowJob => ({
      model: 'iris',
      candidateVersion,
      requestId: `r-${candidateVersion}`,
      run: runOnTarget,
      primary: {
        version: '1',
        outputs: primary.outputs,
        rows: 3,
        timestamp: '2026-12-01T10:00:00.000Z',
        classifier: primaryTarget.classifier,
      },
    });

    // Act
    runner.submit(shadowJob('2'), (r) => results.push(r));
    runner.submit(shadowJob('3'), (r) => results.push(r));
    await runner.flush();

    // Assess
    const [same, renamed] = results as [ShadowResult, ShadowResult];
    expect(same.version).toBe('2');
    expect(same.error).toBeUndefined();
    expect(same.comparison?.maxAbsDiff).toBe(0);
    expect(same.comparison?.differingLabels).toBe(0);
    expect(same.comparison?.rows).toBe(3);
    expect(same.comparison?.outputs.probabilities).toMatchObject({ kind: 'numeric', elements: 9, differing: 0 });
    expect(JSON.parse(same.outputs as string)).toEqual(primary.texts.map((t) => JSON.parse(t) as unknown));
    expect(same.latencyMs).toBeGreaterThan(0);
    expect(renamed).toEqual({
      version: '3',
      error: {
        code: 'UNKNOWN_FEATURE',
        message:
          '"sepal_length_cm" (did you mean "sepal_len"?) is not a feature of this model; it takes: sepal_len, sepal_width_cm, petal_length_cm, petal_width_cm. Feature "sepal_len" is missing.',
      },
    });
    expect(released).toBe(leased);
  });
});

describe('batches', () => {
  it('waits for a batch: flushDue runs nothing until batchSize jobs wait, then runs them all after beforeBatch', async () => {
    const { serve, calls } = fakeServe();
    const events: string[] = [];
    const runner = new ShadowRunner({
      serve,
      maxLoggedOutputBytes: 1000,
      batchSize: 3,
      maxDelayMs: 60_000,
      beforeBatch: async () => void events.push('before'),
    });
    const done = (id: string) => () => void events.push(`done ${id}`);
    runner.submit(job('r1', answering({})), done('r1'));
    runner.submit(job('r2', answering({})), done('r2'));
    await runner.flushDue();
    await turn();
    expect([calls.length, runner.pending(), events]).toEqual([0, 2, []]);

    runner.submit(job('r3', answering({})), done('r3'));
    await runner.flushDue();
    expect(events).toEqual(['before', 'done r1', 'done r2', 'done r3']);
    expect(runner.pending()).toBe(0);
  });

  it('runs a batch whose oldest job has waited maxDelayMs, by its timer or at the next flushDue', async () => {
    let now = 0;
    const { serve } = fakeServe();
    const ran: string[] = [];
    const runner = new ShadowRunner({ serve, maxLoggedOutputBytes: 1000, batchSize: 100, maxDelayMs: 1_000, elapsed: () => now });
    runner.submit(job('old', answering({})), () => void ran.push('old'));
    now = 999;
    await runner.flushDue();
    expect(ran).toEqual([]);
    now = 1_000;
    await runner.flushDue();
    expect(ran).toEqual(['old']);

    // The timer (a short maxDelayMs here) runs one without any flush.
    const timed = new ShadowRunner({ serve, maxLoggedOutputBytes: 1000, batchSize: 100, maxDelayMs: 5 });
    const timedRan: string[] = [];
    timed.submit(job('t', answering({})), () => void timedRan.push('t'));
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(timedRan).toEqual(['t']);
  });

  it('flush runs whatever waits, due or not', async () => {
    const { serve } = fakeServe();
    const ran: string[] = [];
    const runner = new ShadowRunner({ serve, maxLoggedOutputBytes: 1000, batchSize: 50, maxDelayMs: 60_000 });
    for (const id of ['a', 'b']) runner.submit(job(id, answering({})), () => void ran.push(id));
    await runner.flush();
    expect(ran).toEqual(['a', 'b']);
  });
});
