/**
 * The second sample model (models/diabetes): retraining reproduces the committed files, its
 * held-out fit is what metadata.json states, ONNX Runtime computes what the trainer computes,
 * and the registry takes it as `npm start` registers it (golden inputs replayed at
 * registration, then the promotion gates).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { RegistryService } from '../../functions/core/registry.js';
import { SAMPLE_REGRESSOR } from '../../local/sample-regressor.js';
import {
  FEATURES,
  fitOf,
  fitRidge,
  GOLDEN_TOLERANCE,
  MODEL_NAME,
  predict,
  randomSplit,
  solveSpd,
  TARGET,
  toObservations,
  trainDiabetesModel,
  trainingProfile,
  TRAINING,
} from '../../scripts/diabetes-model.js';
import { parseCsv } from '../../scripts/sample-model.js';
import { InMemoryArtifactStore, InMemoryModelRegistry } from '../fixtures/in-memory.js';

const read = (file: string): Buffer => readFileSync(new URL(`../../${file}`, import.meta.url));
const csv = read('data/diabetes.csv').toString('utf8');
const sample = trainDiabetesModel(csv);

describe('sample regressor (models/diabetes)', () => {
  it('retrains to the committed model.onnx, metadata.json and profile.json exactly', async () => {
    // Act
    const again = trainDiabetesModel(csv);
    const profile = await trainingProfile(again.split.train, again);

    // Assess
    expect(Buffer.from(again.bytes).equals(read('models/diabetes/model.onnx'))).toBe(true);
    expect(read('models/diabetes/metadata.json').toString('utf8')).toBe(`${JSON.stringify(again.metadata, null, 2)}\n`);
    expect(read('models/diabetes/profile.json').toString('utf8')).toBe(`${JSON.stringify(profile, null, 2)}\n`);
    expect(Object.keys(profile.features)).toEqual([...FEATURES]);
    expect(Object.keys(profile.predictions ?? {})).toEqual([TARGET]);
    expect(profile.rows).toBe(354);
  });

  it('splits the 442 rows 354 / 88, disjoint, the same way on every run', () => {
    // Prepare
    const rows = toObservations(parseCsv(csv), FEATURES, TARGET);

    // Act
    const first = randomSplit(rows, TRAINING.testFraction, TRAINING.seed);
    const second = randomSplit(rows, TRAINING.testFraction, TRAINING.seed);
    const other = randomSplit(rows, TRAINING.testFraction, TRAINING.seed + 1);

    // Assess
    expect(rows).toHaveLength(442);
    expect([first.train.length, first.test.length]).toEqual([354, 88]);
    expect(new Set([...first.train, ...first.test]).size).toBe(442);
    expect(second).toEqual(first);
    expect(other.test).not.toEqual(first.test);
  });

  it('explains about half the variance of held-out progression (R² 0.474, RMSE 53.6), as metadata.json records', () => {
    // Prepare
    const { model, split, metadata } = sample;
    const targets = split.test.map((o) => o.target);
    const mean = targets.reduce((a, b) => a + b, 0) / targets.length;

    // Act: the fit by hand, against predicting the test set's own mean
    const residual = split.test.reduce((acc, o) => acc + (o.target - predict(model, o.features)) ** 2, 0);
    const total = targets.reduce((acc, t) => acc + (t - mean) ** 2, 0);

    // Assess
    expect(sample.test.r2).toBeCloseTo(1 - residual / total, 12);
    expect(sample.test.r2).toBeGreaterThan(0.45);
    expect(sample.test.r2).toBeLessThan(sample.train.r2);
    expect(sample.test.rmse).toBeCloseTo(Math.sqrt(residual / split.test.length), 12);
    expect(metadata.metrics).toEqual({ r2: 0.4744, rmse: 53.5772, mae: 44.2639, trainR2: 0.5184, testRows: 88, trainRows: 354 });
    expect(metadata).toMatchObject({ features: [...FEATURES], target: TARGET });
    expect(metadata.classLabels).toBeUndefined();
  });

  it('recovers an exact line without a penalty, and shrinks the weights with one; solves only positive definite systems', () => {
    // Prepare: an exact line, y = 3 + 2·x0 − x1, with no penalty
    const rows = [
      [0, 1],
      [1, 0],
      [2, 5],
      [4, 2],
      [5, 7],
    ].map((x) => ({ features: x, target: 3 + 2 * (x[0] as number) - (x[1] as number) }));

    // Act
    const exact = fitRidge(rows, 0);
    const penalized = fitRidge(rows, 10);

    // Assess: recovers the line; a penalty shrinks the weights and costs fit
    for (const row of rows) expect(predict(exact, row.features)).toBeCloseTo(row.target, 4);
    expect(fitOf(exact, rows).r2).toBeCloseTo(1, 6);
    expect(Math.hypot(...penalized.weights)).toBeLessThan(Math.hypot(...exact.weights));
    expect(fitOf(penalized, rows).r2).toBeLessThan(1);
    expect(
      solveSpd(
        [
          [4, 2],
          [2, 3],
        ],
        [2, 1],
      ),
    ).toEqual([0.5, 0]);
    expect(() =>
      solveSpd(
        [
          [1, 2],
          [2, 1],
        ],
        [1, 1],
      ),
    ).toThrow('not positive definite');
  });

  it('runs in onnxruntime-node: one float32 progression per row, within 1e-4 of the trainer on every held-out row', async () => {
    // Prepare
    const { test } = sample.split;
    const session = await ort.InferenceSession.create(sample.bytes);
    const features = new ort.Tensor('float32', Float32Array.from(test.flatMap((o) => o.features)), [test.length, FEATURES.length]);

    // Act
    const out = await session.run({ features });

    // Assess
    expect(session.inputNames).toEqual(['features']);
    expect(session.outputNames).toEqual([TARGET]);
    const progression = out[TARGET];
    expect(progression?.type).toBe('float32');
    expect(progression?.dims).toEqual([test.length]);
    const values = Array.from(progression?.data as Float32Array);
    test.forEach((o, i) => expect(Math.abs((values[i] as number) - predict(sample.model, o.features))).toBeLessThan(1e-4));
    await session.release();
  });

  it('registers as npm start registers it and passes every promotion gate, its golden inputs included', async () => {
    // Prepare
    const registry = new InMemoryModelRegistry();
    const artifacts = new InMemoryArtifactStore();
    const runtime = new OnnxRuntime(artifacts, { cacheDir: path.join(os.tmpdir(), 'sample-regressor-test'), intraOpThreads: 1 });
    const service = new RegistryService({ registry, artifacts, runtime, maxArtifactBytes: 10_000_000 });
    const metadata = JSON.parse(readFileSync(SAMPLE_REGRESSOR.metadata, 'utf8')) as {
      goldenInputs: { tolerance: number; expected: unknown[] }[];
    };

    // Act
    const version = await service.register({ model: MODEL_NAME, bytes: readFileSync(SAMPLE_REGRESSOR.file), metadata, actor: 'test' });
    await service.transition({ model: MODEL_NAME, version: version.version, to: 'staging', actor: 'test' });
    const production = await service.setProduction(MODEL_NAME, version.version, 'test');

    // Assess
    expect(SAMPLE_REGRESSOR.name).toBe(MODEL_NAME);
    expect(version.signature.outputs).toEqual([{ name: TARGET, type: 'float32', shape: ['N'] }]);
    expect(metadata.goldenInputs[0]?.tolerance).toBe(GOLDEN_TOLERANCE);
    expect(metadata.goldenInputs[0]?.expected).toHaveLength(3);
    expect(production).toMatchObject({ model: MODEL_NAME, productionVersion: '1' });
  });

  it('is refused when its golden predictions are off by more than their tolerance', async () => {
    // Prepare: the first expected progression moved by twice the tolerance
    const registry = new InMemoryModelRegistry();
    const artifacts = new InMemoryArtifactStore();
    const runtime = new OnnxRuntime(artifacts, { cacheDir: path.join(os.tmpdir(), 'sample-regressor-test'), intraOpThreads: 1 });
    const service = new RegistryService({ registry, artifacts, runtime, maxArtifactBytes: 10_000_000 });
    const [golden] = sample.metadata.goldenInputs ?? [];
    const [first, ...rest] = (golden?.expected ?? []) as { [TARGET]: number }[];
    const moved = { ...golden, expected: [{ [TARGET]: (first?.[TARGET] ?? 0) + 2 * GOLDEN_TOLERANCE }, ...rest] };

    // Act
    const registering = service.register({
      model: MODEL_NAME,
      bytes: sample.bytes,
      metadata: { ...sample.metadata, goldenInputs: [moved] },
      actor: 'test',
    });

    // Assess
    await expect(registering).rejects.toMatchObject({
      code: 'GOLDEN_MISMATCH',
      path: ['metadata', 'goldenInputs', 0, 'expected', 0, TARGET],
    });
  });
});
