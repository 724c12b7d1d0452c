/**
 * Reference profiles (`functions/core/drift/profile.ts`) and `modelctl profile`: deciles and bin
 * shares against a computation by hand in the test (sort, interpolate, count), missing values,
 * categorical pooling, determinism, CSV with quoted fields, the errors, and the command writing
 * the iris training data's profile.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  MAX_CATEGORIES,
  MAX_PROFILE_FEATURES,
  MAX_SAMPLE,
  OTHER_CATEGORY,
  profileCsv,
  profileCsvStream,
  profileRows,
  type CategoricalFeatureProfile,
  type NumericFeatureProfile,
  type ReferenceProfile,
} from '../../functions/core/drift/profile.js';
import { AppError } from '../../functions/core/errors.js';
import { runModelctl } from '../fixtures/modelctl.js';

const IRIS = 'data/iris.csv';

/** A seeded generator (mulberry32), so the data is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Type 7 quantile by hand: sort a copy, h = (n − 1)p, interpolate between its neighbours. */
function quantileByHand(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const h = (sorted.length - 1) * p;
  const i = Math.floor(h);
  const j = Math.min(i + 1, sorted.length - 1);
  return sorted[i]! + (h - i) * (sorted[j]! - sorted[i]!);
}

/** Bin shares by hand: a value's bin is how many edges are at or below it. */
function binsByHand(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of values) counts[edges.filter((e) => v >= e).length]! += 1;
  return counts.map((c) => c / values.length);
}

function numeric(profile: ReferenceProfile, name: string): NumericFeatureProfile {
  const feature = profile.features[name];
  expect(feature?.kind).toBe('numeric');
  return feature as NumericFeatureProfile;
}

function categorical(profile: ReferenceProfile, name: string): CategoricalFeatureProfile {
  const feature = profile.features[name];
  expect(feature?.kind).toBe('categorical');
  return feature as CategoricalFeatureProfile;
}

/** The error a call throws, for its code and message. */
function thrown(act: () => unknown): AppError {
  try {
    act();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected an error');
}

describe('numeric features', () => {
  it('computes the deciles, bin shares, mean and std the way a computation by hand does, ties included', () => {
    // Prepare: 537 values, rounded to one decimal so many tie and some fall on the edges.
    const next = random(7);
    const values = Array.from({ length: 537 }, () => Math.round((next() * 10 + next() * 5) * 10) / 10);

    // Act
    const x = numeric(profileRows(values.map((v) => ({ x: v }))), 'x');

    // Assess
    const ps = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
    const edges = ps.map((p) => quantileByHand(values, p));
    x.quantileEdges.forEach((edge, i) => expect(edge).toBeCloseTo(edges[i]!, 12));
    const shares = binsByHand(values, x.quantileEdges);
    expect(x.binProportions).toEqual(shares);
    expect(x.binProportions.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
    expect(x.mean).toBeCloseTo(mean, 10);
    expect(x.std).toBeCloseTo(Math.sqrt(variance), 10);
    expect([x.min, x.max]).toEqual([Math.min(...values), Math.max(...values)]);
    expect(x).toMatchObject({ count: 537, missing: 0 });
  });

  it('puts a value equal to an edge in the bin above it', () => {
    // Prepare: 0 … 100, whose deciles are exactly 10, 20, …, 90 (h = 100p is whole).
    const rows = Array.from({ length: 101 }, (_, i) => ({ x: i }));

    // Act
    const x = numeric(profileRows(rows), 'x');

    // Assess: [0, 10) holds 0 … 9, [90, +∞) holds 90 … 100.
    expect(x.quantileEdges).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(x.binProportions).toEqual([...new Array<number>(9).fill(10 / 101), 11 / 101]);
  });

  it('leaves the bins between equal edges empty when most values tie', () => {
    // Prepare: 80 zeros and 20 ones.
    const values = [...new Array<number>(80).fill(0), ...new Array<number>(20).fill(1)];

    // Act
    const x = numeric(profileRows(values.map((v) => ({ x: String(v) }))), 'x');

    // Assess
    expect(x.quantileEdges).toEqual(ps9((p) => quantileByHand(values, p)));
    expect(x.binProportions).toEqual(binsByHand(values, x.quantileEdges));
    expect(x.binProportions.filter((share) => share > 0)).toEqual([0.8, 0.2]);
  });

  it('keeps every value as the sample up to 1,000, then 1,000 evenly spaced order statistics, whatever the row order', () => {
    // Prepare
    const next = random(11);
    const few = Array.from({ length: 300 }, () => next());
    const many = Array.from({ length: 5_000 }, () => next() * 100);
    const reversed = [...many].reverse();

    // Act
    const small = numeric(profileRows(few.map((v) => ({ v }))), 'v');
    const large = numeric(profileRows(many.map((v) => ({ v }))), 'v');
    const reordered = numeric(profileRows(reversed.map((v) => ({ v }))), 'v');

    // Assess
    expect(small.sample).toEqual([...few].sort((a, b) => a - b));
    const sorted = [...many].sort((a, b) => a - b);
    expect(large.sample).toHaveLength(MAX_SAMPLE);
    expect(large.sample).toEqual(
      Array.from({ length: MAX_SAMPLE }, (_, i) => sorted[Math.round((i * (sorted.length - 1)) / (MAX_SAMPLE - 1))]),
    );
    expect([large.sample[0], large.sample.at(-1)]).toEqual([sorted[0], sorted.at(-1)]);
    expect(reordered).toEqual(large);
  });
});

/** f at p = 0.1 … 0.9. */
function ps9(f: (p: number) => number): number[] {
  return [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map(f);
}

describe('missing values and kinds', () => {
  it('counts empty, NA, NaN, null, undefined and absent values as missing, and profiles the rest', () => {
    // Prepare
    const rows: Record<string, unknown>[] = [
      { x: '1.5', y: 'a' },
      { x: '', y: 'NA' },
      { x: ' na ', y: 'nan' },
      { x: 'NaN', y: null },
      { x: Number.NaN, y: undefined },
      { x: null },
      {},
      { x: '0', y: 'b' },
      { x: '-2e1', y: 'a' },
      { x: 3, y: '0' },
    ];

    // Act
    const profile = profileRows(rows, ['x', 'y']);

    // Assess
    const x = numeric(profile, 'x');
    expect(x).toMatchObject({ count: 10, missing: 6, min: -20, max: 3 });
    expect(x.sample).toEqual([-20, 0, 1.5, 3]);
    expect(categorical(profile, 'y')).toEqual({ kind: 'categorical', count: 10, missing: 6, categories: { a: 2, '0': 1, b: 1 } });
    expect(profile.rows).toBe(10);
  });

  it('makes a feature categorical when one present value is not a finite decimal number', () => {
    // Act
    const profile = profileRows([
      { hex: '1', inf: '1', comma: '1', bool: 1, all: '' },
      { hex: '0x10', inf: 'Infinity', comma: '1,5', bool: true, all: 'NA' },
    ]);

    // Assess
    expect(categorical(profile, 'hex').categories).toEqual({ '0x10': 1, '1': 1 });
    expect(categorical(profile, 'inf').categories).toEqual({ '1': 1, Infinity: 1 });
    expect(categorical(profile, 'comma').categories).toEqual({ '1': 1, '1,5': 1 });
    expect(categorical(profile, 'bool').categories).toEqual({ '1': 1, true: 1 });
    expect(categorical(profile, 'all')).toEqual({ kind: 'categorical', count: 2, missing: 2, categories: {} });
  });
});

describe('categorical features', () => {
  it('keeps the 100 most frequent categories, ties in text order, and pools the rest under __other__', () => {
    // Prepare: category cNNN appears NNN % 7 + 1 times, 150 categories; one row says "__other__".
    const rows: Record<string, unknown>[] = [];
    const counts = new Map<string, number>();
    for (let i = 0; i < 150; i += 1) {
      const name = `c${String(i).padStart(3, '0')}`;
      counts.set(name, (i % 7) + 1);
      for (let k = 0; k <= i % 7; k += 1) rows.push({ cat: name });
    }
    rows.push({ cat: OTHER_CATEGORY }, { cat: '__proto__' });
    counts.set('__proto__', 1);

    // Act
    const cat = categorical(profileRows(rows), 'cat');

    // Assess: rank by hand (count down, then text up), keep 100, pool the rest with the "__other__" row.
    const ranked = [...counts].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
    const kept = ranked.slice(0, MAX_CATEGORIES);
    const pooled = ranked.slice(MAX_CATEGORIES).reduce((sum, [, c]) => sum + c, 0) + 1;
    expect(Object.entries(cat.categories)).toEqual([...kept, [OTHER_CATEGORY, pooled]]);
    expect(Object.values(cat.categories).reduce((a, b) => a + b, 0)).toBe(rows.length);
    expect(Object.getPrototypeOf(cat.categories)).toBe(Object.prototype);
  });

  it('keeps a category named __proto__ as an own key through JSON', () => {
    // Act
    const profile = profileRows([{ cat: '__proto__' }, { cat: 'a' }, { cat: '__proto__' }]);

    // Assess
    const parsed = JSON.parse(JSON.stringify(profile)) as ReferenceProfile;
    expect(Object.entries(categorical(parsed, 'cat').categories)).toEqual([
      ['__proto__', 2],
      ['a', 1],
    ]);
  });
});

describe('determinism', () => {
  it('gives the same profile, byte for byte, for the same data from rows, CSV text and a CSV stream', async () => {
    // Prepare
    const next = random(3);
    const rows = Array.from({ length: 2_500 }, (_, i) => ({ a: (next() * 50).toFixed(3), b: ['x', 'y', 'z', ''][i % 4] ?? '' }));
    const csv = `a,b\n${rows.map((r) => `${r.a},${r.b}`).join('\n')}\n`;
    const bytes = Buffer.from(csv);
    const chunks = async function* () {
      for (let at = 0; at < bytes.length; at += 997) yield bytes.subarray(at, at + 997);
    };

    // Act
    const first = JSON.stringify(profileRows(rows));
    const second = JSON.stringify(profileRows(rows));
    const fromText = JSON.stringify(profileCsv(csv));
    const fromStream = JSON.stringify(await profileCsvStream(chunks()));

    // Assess
    expect(second).toBe(first);
    expect(fromText).toBe(first);
    expect(fromStream).toBe(first);
  });
});

describe('CSV', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks, CRLF lines, a byte order mark and empty lines', () => {
    // Prepare
    const csv = '\uFEFFname,"size, cm",note\r\n"Smith, J.",1.5,"said ""hi"""\r\n\r\n"Lee",2.5,"two\nlines"\r\nPark,"3",\r\n';

    // Act
    const profile = profileCsv(csv);

    // Assess
    expect(Object.keys(profile.features)).toEqual(['name', 'size, cm', 'note']);
    expect(categorical(profile, 'name').categories).toEqual({ Lee: 1, Park: 1, 'Smith, J.': 1 });
    const size = numeric(profile, 'size, cm');
    expect(size).toMatchObject({ count: 3, missing: 0, min: 1.5, max: 3, sample: [1.5, 2.5, 3] });
    expect(size.mean).toBeCloseTo((1.5 + 2.5 + 3) / 3, 12);
    expect(categorical(profile, 'note')).toMatchObject({ missing: 1, categories: { 'said "hi"': 1, 'two\nlines': 1 } });
  });

  it('profiles only the features asked for, in their order', () => {
    // Act
    const profile = profileCsv('a,b,c\n1,x,3\n2,y,4\n', { features: ['c', 'a'] });

    // Assess
    expect(Object.keys(profile.features)).toEqual(['c', 'a']);
  });

  it('names the features the header lacks', () => {
    // Act
    const error = thrown(() => profileCsv('a,b\n1,2\n', { features: ['a', 'petal_area', 'colour'] }));

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'PROFILE_MISSING_FEATURES', path: ['features'] });
    expect(error.message).toBe('The CSV header lacks the features "petal_area", "colour" (it has "a", "b").');
  });

  it.each([
    ['a row with fewer fields than the header', 'a,b\n1,2\n3\n', 'Line 3 has 1 field; the header has 2.'],
    ['a row with more fields', 'a,b\n1,2\n3,4,5\n', 'Line 3 has 3 fields; the header has 2.'],
    ['a column named twice', 'a,b,a\n1,2,3\n', 'The header names "a" more than once.'],
    ['an unclosed quote', 'a,b\n1,"2\n', 'The CSV cannot be read (near line 2)'],
    ['nothing at all', '', 'The CSV is empty'],
    ['a header only', 'a,b\r\n', 'There are no data rows'],
  ])('refuses %s with PROFILE_INPUT_INVALID', async (_, csv, message) => {
    // Act
    const fromText = thrown(() => profileCsv(csv));
    let fromStream: unknown;
    await profileCsvStream([csv]).catch((error: unknown) => (fromStream = error));

    // Assess
    expect(fromText).toMatchObject({ status: 400, code: 'PROFILE_INPUT_INVALID' });
    expect(fromText.message).toContain(message);
    expect(fromStream).toMatchObject({ code: 'PROFILE_INPUT_INVALID', message: fromText.message });
  });
});

describe('rows', () => {
  it('refuses no rows, features no row has, object values, a bad features list and too many features', () => {
    // Act
    const errors = {
      empty: thrown(() => profileRows([])),
      absent: thrown(() => profileRows([{ a: 1 }], ['a', 'b'])),
      object: thrown(() => profileRows([{ a: { nested: 1 } }])),
      twice: thrown(() => profileRows([{ a: 1 }], ['a', 'a'])),
      none: thrown(() => profileRows([{ a: 1 }], [])),
      wide: thrown(() => profileRows([Object.fromEntries(Array.from({ length: MAX_PROFILE_FEATURES + 1 }, (_, i) => [`f${i}`, i]))])),
    };

    // Assess
    expect(errors.empty).toMatchObject({ code: 'PROFILE_INPUT_INVALID', message: 'There are no rows to profile.' });
    expect(errors.absent).toMatchObject({ code: 'PROFILE_MISSING_FEATURES', message: 'The rows lack the feature "b".' });
    expect(errors.object).toMatchObject({ code: 'PROFILE_INPUT_INVALID', path: ['features', 'a'] });
    expect(errors.object.message).toContain('an object');
    expect(errors.twice).toMatchObject({ code: 'PROFILE_INPUT_INVALID', message: 'The features list names "a" twice.' });
    expect(errors.none).toMatchObject({ code: 'PROFILE_INPUT_INVALID', message: 'The features list is empty.' });
    expect(errors.wide).toMatchObject({ status: 413, code: 'PROFILE_TOO_LARGE' });
  });
});

describe('modelctl profile', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'profile-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** modelctl with no API: profile reads files only. */
  function modelctl(...argv: string[]) {
    return runModelctl({ url: undefined, token: undefined }, argv);
  }

  it('writes the iris training data profile to --out and prints a summary', async () => {
    // Prepare
    const out = path.join(dir, 'profile.json');

    // Act
    const result = await modelctl('profile', IRIS, '--out', out);

    // Assess
    expect(result).toMatchObject({ code: 0, err: '' });
    const written = JSON.parse(await readFile(out, 'utf8')) as ReferenceProfile;
    expect(written).toEqual(profileCsv(await readFile(IRIS, 'utf8')));
    expect(written).toMatchObject({ profileVersion: 1, rows: 150 });
    expect(Object.keys(written.features)).toEqual(['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm', 'species']);
    expect(categorical(written, 'species').categories).toEqual({ setosa: 50, versicolor: 50, virginica: 50 });
    const lengths = (await readFile(IRIS, 'utf8'))
      .trim()
      .split(/\r?\n/)
      .slice(1)
      .map((line) => Number(line.split(',')[0]));
    numeric(written, 'sepal_length_cm').quantileEdges.forEach((edge, i) =>
      expect(edge).toBeCloseTo(ps9((p) => quantileByHand(lengths, p))[i]!, 12),
    );
    const lines = result.out.trim().split('\n');
    expect(lines[0]).toBe(`Profiled 150 rows of ${IRIS}, 5 features:`);
    expect(lines.find((l) => l.startsWith('species'))).toMatch(
      /^species\s+categorical\s+0\s+3 categories: "setosa" 50, "versicolor" 50, "virginica" 50$/,
    );
    expect(lines.find((l) => l.startsWith('sepal_length_cm'))).toMatch(
      /numeric\s+0\s+min 4\.3, median 5\.8, max 7\.9, mean 5\.843, std 0\.8281$/,
    );
    expect(lines.at(-1)).toBe(`Wrote ${out}.`);
  });

  it('prints the JSON on stdout and the summary on stderr without --out, for the features asked for', async () => {
    // Act
    const result = await modelctl('profile', IRIS, '--features', 'petal_width_cm, species');

    // Assess
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.out) as ReferenceProfile;
    expect(Object.keys(printed.features)).toEqual(['petal_width_cm', 'species']);
    expect(result.err).toMatch(/^Profiled 150 rows of data\/iris\.csv, 2 features:\n/);
  });

  it('names the missing features, a missing file, and usage mistakes', async () => {
    // Act
    const missing = await modelctl('profile', IRIS, '--features', 'sepal_length_cm,petal_area', '--out', path.join(dir, 'p.json'));
    const noFile = await modelctl('profile', path.join(dir, 'nope.csv'));
    const noArg = await modelctl('profile');
    const foreign = await modelctl('profile', IRIS, '--reason', 'why');
    const outElsewhere = await modelctl('models', '--out', 'x.json');

    // Assess
    expect(missing).toMatchObject({ code: 1, out: '' });
    expect(missing.err).toMatch(
      /^modelctl: data\/iris\.csv: PROFILE_MISSING_FEATURES: The CSV header lacks the feature "petal_area" \(it has "sepal_length_cm", /,
    );
    await expect(readFile(path.join(dir, 'p.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(noFile).toMatchObject({ code: 1, err: `modelctl: cannot read ${path.join(dir, 'nope.csv')}: no such file.\n` });
    expect(noArg.code).toBe(2);
    expect(noArg.err).toBe('Missing required argument \'train.csv\'\nRun "modelctl profile --help" for usage.\n');
    expect(foreign.code).toBe(2);
    expect(foreign.err).toMatch(/^Unknown option '--reason'/);
    expect(outElsewhere.code).toBe(2);
    expect(outElsewhere.err).toMatch(/^Unknown option '--out'/);
  });
});
