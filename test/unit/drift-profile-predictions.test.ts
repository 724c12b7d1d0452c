/**
 * Prediction profiles (`functions/core/drift/profile-predictions.ts`): the sample model's real
 * predictions on the iris data, through the runtime adapter in batches, against the prediction
 * columns of one direct ONNX Runtime run profiled the same way; CSV text decoded as numbers; the
 * refusals a person sees; and `modelctl profile --model`, which writes what the library computes.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { classifierView } from '../../functions/core/codec/encode.js';
import { LABEL_COLUMN, predictionColumns, probabilityColumn } from '../../functions/core/drift/predictions.js';
import {
  DEFAULT_PREDICTION_BATCH_ROWS,
  openProfileTarget,
  predictionProfile,
  predictionProfileCsv,
} from '../../functions/core/drift/profile-predictions.js';
import { profileCsv, profileRows, type FeatureProfile, type ReferenceProfile } from '../../functions/core/drift/profile.js';
import type { ModelMetadata } from '../../functions/core/model.js';
import type { TensorMap } from '../../functions/core/tensor.js';
import { rejection } from '../fixtures/errors.js';
import { InMemoryArtifactStore } from '../fixtures/in-memory.js';
import { runModelctl } from '../fixtures/modelctl.js';

const read = (file: string): Buffer => readFileSync(new URL(`../../${file}`, import.meta.url));
const BYTES = read('models/iris/model.onnx');
const METADATA = JSON.parse(read('models/iris/metadata.json').toString('utf8')) as ModelMetadata & {
  features: string[];
  classLabels: string[];
};
const CSV = read('data/iris.csv').toString('utf8');
const HEADER = CSV.split('\n')[0]?.trim().split(',') ?? [];
/** Every row of data/iris.csv as text, the species column included. */
const TEXT_ROWS = CSV.trim()
  .split('\n')
  .slice(1)
  .map((line) =>
    Object.fromEntries(
      line
        .trim()
        .split(',')
        .map((v, j) => [HEADER[j] as string, v]),
    ),
  );
/** The same rows with the features as numbers. */
const NUMBER_ROWS = TEXT_ROWS.map((row) => Object.fromEntries(METADATA.features.map((name) => [name, Number(row[name])])));

const runtime = new OnnxRuntime(new InMemoryArtifactStore(), {
  cacheDir: path.join(os.tmpdir(), 'profile-predictions-test'),
  intraOpThreads: 1,
});

/** The sample model opened as the profile opens it, released after `use`. */
async function withIris<T>(
  metadata: ModelMetadata,
  use: (target: Awaited<ReturnType<typeof openProfileTarget>>['target']) => Promise<T>,
): Promise<T> {
  const opened = await openProfileTarget(runtime, BYTES, metadata, 'iris');
  try {
    return await use(opened.target);
  } finally {
    opened.release();
  }
}

/** The profile of the prediction columns of one direct onnxruntime-node run on every row at once. */
async function directProfile(rows: readonly Record<string, number>[]): Promise<Record<string, FeatureProfile>> {
  const session = await ort.InferenceSession.create(BYTES);
  try {
    const features = new ort.Tensor(
      'float32',
      Float32Array.from(rows.flatMap((row) => METADATA.features.map((name) => row[name] as number))),
      [rows.length, 4],
    );
    const out = await session.run({ features });
    const outputs: TensorMap = {
      probabilities: { type: 'float32', shape: out.probabilities?.dims as number[], data: out.probabilities?.data as Float32Array },
      label: { type: 'string', shape: out.label?.dims as number[], data: out.label?.data as string[] },
    };
    const signature = {
      inputs: [{ name: 'features', type: 'float32' as const, shape: ['N', 4] }],
      outputs: [
        { name: 'probabilities', type: 'float32' as const, shape: ['N', 3] },
        { name: 'label', type: 'string' as const, shape: ['N'] },
      ],
    };
    const columns = predictionColumns(outputs, rows.length, classifierView(signature, METADATA));
    const names = Object.keys(columns);
    return profileRows(
      Array.from({ length: rows.length }, (_, r) => Object.fromEntries(names.map((n) => [n, columns[n]?.[r]]))),
      names,
    ).features;
  } finally {
    await session.release();
  }
}

describe('predictionProfile on the sample model', () => {
  it('equals the profile of predictionColumns of one direct run, whatever the batch size', async () => {
    // Prepare
    const expected = await directProfile(NUMBER_ROWS);

    // Act
    const [inSevens, whole] = await withIris(METADATA, async (target) => [
      await predictionProfile(target, NUMBER_ROWS, 7),
      await predictionProfile(target, NUMBER_ROWS, DEFAULT_PREDICTION_BATCH_ROWS),
    ]);

    // Assess
    expect(Object.keys(inSevens)).toEqual([LABEL_COLUMN, ...METADATA.classLabels.map(probabilityColumn)]);
    expect(inSevens).toEqual(expected);
    expect(whole).toEqual(expected);
    expect(inSevens[LABEL_COLUMN]).toMatchObject({ kind: 'categorical', count: 150, missing: 0 });
    expect(inSevens['probability[setosa]']).toMatchObject({ kind: 'numeric', count: 150, missing: 0 });
  });

  it('reads CSV text as numbers for a numeric input and ignores the other columns, from rows and from a stream', async () => {
    // Prepare
    const expected = await directProfile(NUMBER_ROWS);
    const chunks = [CSV.slice(0, 1000), CSV.slice(1000, 2345), CSV.slice(2345)];

    // Act
    const [fromText, fromStream] = await withIris(METADATA, async (target) => [
      await predictionProfile(target, TEXT_ROWS, 64),
      await predictionProfileCsv(target, chunks, 64),
    ]);

    // Assess
    expect(TEXT_ROWS[0]).toMatchObject({ sepal_length_cm: '5.1', species: 'setosa' });
    expect(fromText).toEqual(expected);
    expect(fromStream).toEqual(expected);
  });

  it('runs a missing float value as NaN, and counts its predictions as missing', async () => {
    // Prepare: rows 2 and 5 lack a petal length (empty text, NA)
    const rows = TEXT_ROWS.slice(0, 6).map((row, i) =>
      i === 1 ? { ...row, petal_length_cm: '' } : i === 4 ? { ...row, petal_length_cm: 'NA' } : row,
    );

    // Act
    const profile = await withIris(METADATA, (target) => predictionProfile(target, rows, 4));

    // Assess
    expect(profile[LABEL_COLUMN]).toEqual({ kind: 'categorical', count: 6, missing: 2, categories: { setosa: 4 } });
    for (const label of METADATA.classLabels)
      expect(profile[probabilityColumn(label)]).toMatchObject({ kind: 'numeric', count: 6, missing: 2 });
  });

  it('profiles the raw outputs of a model without class labels, rows keyed by input name', async () => {
    // Prepare
    const rows = NUMBER_ROWS.slice(0, 20).map((row) => ({ features: METADATA.features.map((name) => row[name]) }));

    // Act
    const profile = await withIris({}, (target) => predictionProfile(target, rows, 8));

    // Assess
    expect(Object.keys(profile)).toEqual(['probabilities[0]', 'probabilities[1]', 'probabilities[2]', 'label']);
    expect(profile['label']).toEqual({ kind: 'categorical', count: 20, missing: 0, categories: { setosa: 20 } });
  });

  it('refuses a row the model cannot take with its number, line and path', async () => {
    // Prepare
    const rows = TEXT_ROWS.slice(0, 5).map((row, i) => (i === 2 ? { ...row, petal_width_cm: 'wide' } : row));
    const csv = `${HEADER.join(',')}\n${rows.map((row) => HEADER.map((h) => row[h]).join(',')).join('\n')}\n`;

    // Act
    const [fromRows, fromCsv] = await withIris(METADATA, async (target) => [
      await rejection(predictionProfile(target, rows, 2)),
      await rejection(predictionProfileCsv(target, [csv], 2)),
    ]);

    // Assess
    expect(fromRows).toMatchObject({ status: 400, code: 'WRONG_TYPE', path: ['rows', 2, 'petal_width_cm'] });
    expect(fromRows.message).toMatch(/^Row 3: Expected a number .+"wide"/);
    expect(fromCsv).toMatchObject({ status: 400, code: 'WRONG_TYPE', path: ['rows', 2, 'petal_width_cm'] });
    expect(fromCsv.message).toMatch(/^Row 3 \(line 4\): Expected a number/);
  });

  it('names the columns a CSV lacks, and refuses no rows, ragged rows and a bad batch size', async () => {
    // Act
    const results = await withIris(METADATA, async (target) => ({
      lacking: await rejection(predictionProfileCsv(target, ['sepal_length_cm,sepal_width_cm,species\n5,3,setosa\n'], 10)),
      headerOnly: await rejection(predictionProfileCsv(target, [`${HEADER.join(',')}\n`], 10)),
      ragged: await rejection(predictionProfileCsv(target, [`${HEADER.join(',')}\n5.1,3.5,1.4\n`], 10)),
      noRows: await rejection(predictionProfile(target, [], 10)),
    }));
    const batch = withIris(METADATA, (target) => predictionProfile(target, NUMBER_ROWS, 0));

    // Assess
    expect(results.lacking).toMatchObject({ code: 'PROFILE_MISSING_FEATURES', path: ['features'] });
    expect(results.lacking.message).toBe(
      'The CSV header lacks the columns "petal_length_cm", "petal_width_cm" the model takes (it has "sepal_length_cm", "sepal_width_cm", "species").',
    );
    expect(results.headerOnly).toMatchObject({ code: 'PROFILE_INPUT_INVALID', message: 'There are no rows to profile.' });
    expect(results.ragged).toMatchObject({ code: 'PROFILE_INPUT_INVALID', message: 'Line 2 has 3 fields; the header has 5.' });
    expect(results.noRows).toMatchObject({ code: 'PROFILE_INPUT_INVALID' });
    await expect(batch).rejects.toThrow(new RangeError('maxRows must be a whole number ≥ 1, not 0'));
  });

  it('refuses metadata the model does not fit, as registration does', async () => {
    // Act
    const tooMany = await rejection(openProfileTarget(runtime, BYTES, { features: ['a', 'b', 'c'] }));
    const labels = await rejection(openProfileTarget(runtime, BYTES, { classLabels: ['x', 'y'] }));
    const notOnnx = await rejection(openProfileTarget(runtime, Buffer.from('not a model')));

    // Assess
    expect(tooMany).toMatchObject({ status: 400, code: 'FEATURES_MISMATCH' });
    expect(labels).toMatchObject({ status: 400, code: 'CLASS_LABELS_MISMATCH' });
    expect(notOnnx).toMatchObject({ status: 400, code: 'INVALID_MODEL' });
  });
});

describe('modelctl profile --model', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'profile-model-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** modelctl with no API: without --upload, profile reads files only. */
  function modelctl(...argv: string[]) {
    return runModelctl({ url: undefined, token: undefined }, argv);
  }

  it('writes the features the model reads and its predictions on every row, as the library computes them', async () => {
    // Prepare
    const out = path.join(dir, 'profile.json');
    const expected = await withIris(METADATA, (target) => predictionProfile(target, TEXT_ROWS, DEFAULT_PREDICTION_BATCH_ROWS));

    // Act
    const result = await modelctl(
      'profile',
      'data/iris.csv',
      '--model',
      'models/iris/model.onnx',
      '--metadata',
      'models/iris/metadata.json',
      '--out',
      out,
    );

    // Assess
    expect(result).toMatchObject({ code: 0, err: '' });
    const written = JSON.parse(await readFile(out, 'utf8')) as ReferenceProfile;
    expect(written).toEqual({ ...profileCsv(CSV, { features: METADATA.features }), predictions: expected });
    expect(result.out).toContain('\nPredictions of models/iris/model.onnx on those rows, 4 columns:\n');
    expect(result.out.endsWith(`Wrote ${out}.\n`)).toBe(true);
  });

  it('says which file is wrong: a missing model, a file that is not ONNX, metadata the model does not fit', async () => {
    // Prepare
    const metadata = path.join(dir, 'meta.json');
    await writeFile(metadata, JSON.stringify({ features: ['a', 'b', 'c'] }));

    // Act
    const missing = await modelctl('profile', 'data/iris.csv', '--model', path.join(dir, 'nope.onnx'));
    const notOnnx = await modelctl('profile', 'data/iris.csv', '--model', 'data/iris.csv');
    const misfit = await modelctl('profile', 'data/iris.csv', '--model', 'models/iris/model.onnx', '--metadata', metadata);
    const bad = await modelctl('profile', 'data/iris.csv', '--model', '');

    // Assess
    expect(missing).toEqual({ code: 1, out: '', err: `modelctl: cannot read ${path.join(dir, 'nope.onnx')}: no such file.\n` });
    expect(notOnnx).toMatchObject({
      code: 1,
      out: '',
      err: expect.stringMatching(/^modelctl: data\/iris\.csv: INVALID_MODEL: /) as unknown,
    });
    expect(misfit).toMatchObject({ code: 1, out: '' });
    expect(misfit.err).toBe(
      `modelctl: models/iris/model.onnx with ${metadata}: FEATURES_MISMATCH: The model's input "features" takes 4 columns, but 3 features are declared.\n`,
    );
    expect(bad).toMatchObject({
      code: 2,
      err: '--model needs an ONNX file.\nRun "modelctl profile --help" for usage.\n',
    });
  });
});
