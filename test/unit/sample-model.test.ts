import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import {
  argMax,
  CLASS_LABELS,
  FEATURES,
  parseCsv,
  predictProbabilities,
  stratifiedSplit,
  TARGET,
  toExamples,
  trainSampleModel,
  trainingProfile,
  TRAINING,
  type Example,
} from '../../scripts/sample-model.js';

const read = (path: string): Buffer => readFileSync(new URL(`../../${path}`, import.meta.url));
const csv = read('data/iris.csv').toString('utf8');
const sample = trainSampleModel(csv);

/** Number of examples of each class, in {@link CLASS_LABELS} order. */
const countByClass = (examples: readonly Example[]): number[] => CLASS_LABELS.map((_, c) => examples.filter((e) => e.label === c).length);

describe('sample model (models/iris)', () => {
  it('retrains to the committed model.onnx and metadata.json exactly', () => {
    // Prepare
    const committedModel = read('models/iris/model.onnx');
    const committedMetadata: unknown = JSON.parse(read('models/iris/metadata.json').toString('utf8'));

    // Act
    const again = trainSampleModel(csv);

    // Assess
    expect(Buffer.from(again.bytes).equals(committedModel)).toBe(true);
    expect(Buffer.from(sample.bytes).equals(committedModel)).toBe(true);
    expect(again.metadata).toEqual(committedMetadata);
    expect(read('models/iris/metadata.json').toString('utf8')).toBe(`${JSON.stringify(sample.metadata, null, 2)}\n`);
  });

  it("ships the training split's reference profile: profile.json is reproduced exactly, with the split's own deciles", async () => {
    // Act
    const profile = await trainingProfile(sample.split.train, sample);

    // Assess: the committed file is this profile, written as the script writes it
    expect(read('models/iris/profile.json').toString('utf8')).toBe(`${JSON.stringify(profile, null, 2)}\n`);
    expect(profile.rows).toBe(sample.split.train.length);
    // Assess: each feature's deciles by hand (type 7: h = (n − 1)·p, interpolate between order statistics)
    FEATURES.forEach((name, f) => {
      const sorted = sample.split.train.map((e) => e.features[f] as number).sort((a, b) => a - b);
      const deciles = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => {
        const h = (sorted.length - 1) * (k / 10);
        const lo = Math.floor(h);
        return (sorted[lo] as number) + (h - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] as number) - (sorted[lo] as number));
      });
      const feature = profile.features[name];
      if (feature?.kind !== 'numeric') throw new Error(`${name} is not profiled as numeric`);
      feature.quantileEdges.forEach((edge, k) => expect(edge).toBeCloseTo(deciles[k] as number, 12));
      expect(feature.missing).toBe(0);
    });
  });

  it("profiles the model's own predictions on the training split: labels and probabilities as the TypeScript model computes them", async () => {
    // Act
    const { predictions } = await trainingProfile(sample.split.train, sample);

    // Assess: the columns, and the committed file holds them
    expect(Object.keys(predictions ?? {})).toEqual(['label', ...CLASS_LABELS.map((label) => `probability[${label}]`)]);
    expect((JSON.parse(read('models/iris/profile.json').toString('utf8')) as { predictions: unknown }).predictions).toEqual(predictions);
    // Assess: label counts by the trainer's own arithmetic (argmax of its float64 probabilities)
    const train = sample.split.train;
    const probabilities = train.map((e) => predictProbabilities(sample.model, e.features));
    const counts = Object.fromEntries(CLASS_LABELS.map((label, c) => [label, probabilities.filter((p) => argMax(p) === c).length]));
    const label = predictions?.['label'];
    if (label?.kind !== 'categorical') throw new Error('label is not profiled as categorical');
    expect(label).toMatchObject({ count: train.length, missing: 0 });
    expect({ ...label.categories }).toEqual(counts);
    // Assess: the mean probability of each class, float32 outputs against float64 arithmetic
    CLASS_LABELS.forEach((name, c) => {
      const column = predictions?.[`probability[${name}]`];
      if (column?.kind !== 'numeric') throw new Error(`probability[${name}] is not profiled as numeric`);
      const mean = probabilities.reduce((sum, p) => sum + (p[c] as number), 0) / train.length;
      expect(Math.abs(column.mean - mean)).toBeLessThan(1e-6);
      expect(column.count).toBe(train.length);
    });
  });

  it('reaches at least 0.9 held-out accuracy, the figure metadata.json records', () => {
    // Prepare
    const { model, split, metadata } = sample;

    // Act
    const correct = split.test.filter((e) => argMax(predictProbabilities(model, e.features)) === e.label).length;

    // Assess
    expect(sample.testAccuracy).toBeGreaterThanOrEqual(0.9);
    expect(sample.testAccuracy).toBe(correct / split.test.length);
    expect(metadata.metrics).toEqual({
      accuracy: sample.testAccuracy,
      trainAccuracy: sample.trainAccuracy,
      testRows: split.test.length,
      trainRows: split.train.length,
    });
    expect(metadata).toMatchObject({ features: [...FEATURES], target: TARGET, classLabels: [...CLASS_LABELS] });
  });

  it('runs in onnxruntime-node with the same probabilities and labels as the TypeScript model', async () => {
    // Prepare
    const { test } = sample.split;
    const session = await ort.InferenceSession.create(sample.bytes);
    const features = new ort.Tensor('float32', Float32Array.from(test.flatMap((e) => e.features)), [test.length, FEATURES.length]);

    // Act
    const out = await session.run({ features });

    // Assess
    expect(session.inputNames).toEqual(['features']);
    expect(session.outputNames).toEqual(['probabilities', 'label']);
    const probabilities = out.probabilities;
    const label = out.label;
    expect(probabilities?.dims).toEqual([test.length, CLASS_LABELS.length]);
    expect(label?.dims).toEqual([test.length]);
    const probs = Array.from(probabilities?.data as Float32Array);
    const labels = label?.data as string[];
    test.forEach((e, i) => {
      const row = probs.slice(i * CLASS_LABELS.length, (i + 1) * CLASS_LABELS.length);
      const expected = predictProbabilities(sample.model, e.features);
      row.forEach((p, c) => expect(Math.abs(p - (expected[c] ?? NaN))).toBeLessThan(1e-5));
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(labels[i]).toBe(CLASS_LABELS[argMax(row)]);
      expect(labels[i]).toBe(CLASS_LABELS[argMax(expected)]);
    });
    await session.release();
  });
});

describe('stratifiedSplit', () => {
  const examples = toExamples(parseCsv(csv), FEATURES, TARGET, CLASS_LABELS);

  it('puts each class in the test set in proportion, disjoint from the train set', () => {
    // Prepare
    const testFraction = TRAINING.testFraction;

    // Act
    const { train, test } = stratifiedSplit(examples, testFraction, TRAINING.seed);

    // Assess
    expect(countByClass(examples)).toEqual([50, 50, 50]);
    expect(countByClass(test)).toEqual([10, 10, 10]);
    expect(countByClass(train)).toEqual([40, 40, 40]);
    const trainSet = new Set(train);
    expect(test.filter((e) => trainSet.has(e))).toEqual([]);
    expect(new Set([...train, ...test]).size).toBe(examples.length);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    // Act
    const first = stratifiedSplit(examples, 0.2, 7);
    const again = stratifiedSplit(examples, 0.2, 7);
    const other = stratifiedSplit(examples, 0.2, 8);

    // Assess
    expect(again.test).toEqual(first.test);
    expect(other.test).not.toEqual(first.test);
    expect(countByClass(other.test)).toEqual([10, 10, 10]);
  });

  it('rejects a test fraction outside (0, 1)', () => {
    expect(() => stratifiedSplit(examples, 1, 1)).toThrow(RangeError);
  });
});

describe('parseCsv and toExamples', () => {
  it('reads LF and CRLF text and maps labels to class indexes', () => {
    // Prepare
    const text = 'b,species,a\r\n2,virginica,1\n4,setosa,3\n';

    // Act
    const examples = toExamples(parseCsv(text), ['a', 'b'], 'species', CLASS_LABELS);

    // Assess
    expect(examples).toEqual([
      { features: [1, 2], label: 2 },
      { features: [3, 4], label: 0 },
    ]);
  });

  it('rejects ragged records, missing columns, non-numbers and unknown labels', () => {
    expect(() => parseCsv('a,b\n\n1\n')).toThrow('CSV line 3: 1 fields, the header has 2');
    expect(() => toExamples(parseCsv('a,species\n1,setosa\n'), ['z'], 'species', CLASS_LABELS)).toThrow("no column 'z'");
    expect(() => toExamples(parseCsv('a,species\nx,setosa\n'), ['a'], 'species', CLASS_LABELS)).toThrow('not a number');
    expect(() => toExamples(parseCsv('a,species\n,setosa\n'), ['a'], 'species', CLASS_LABELS)).toThrow('not a number');
    expect(() => toExamples(parseCsv('a,species\n1,rose\n'), ['a'], 'species', CLASS_LABELS)).toThrow("unknown species 'rose'");
  });
});
