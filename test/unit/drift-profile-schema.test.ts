/**
 * Uploaded reference profiles (`functions/core/drift/profile-schema.ts`): what `profile.ts`
 * writes passes unchanged; each broken rule is refused with `INVALID_PROFILE`, the field's path
 * and a bounded message.
 */
import { readFileSync } from 'node:fs';
import { profileRows, type ReferenceProfile } from '../../functions/core/drift/profile.js';
import { parseReferenceProfile } from '../../functions/core/drift/profile-schema.js';
import { ValidationError } from '../../functions/core/errors.js';
import { seededRandom } from '../fixtures/models.js';

const IRIS_TEXT = readFileSync(new URL('../../models/iris/profile.json', import.meta.url), 'utf8');

/** A fresh, mutable copy of the sample model's profile. */
function iris(): Record<string, any> {
  return JSON.parse(IRIS_TEXT) as Record<string, any>;
}

/** A profile with a numeric feature `x` and a categorical one `c`, as JSON data to break. */
function small(): Record<string, any> {
  const rows = Array.from({ length: 50 }, (_, i) => ({ x: i % 7 === 0 ? null : i / 3, c: ['a', 'b', 'c'][i % 3] }));
  return JSON.parse(JSON.stringify(profileRows(rows))) as Record<string, any>;
}

function refusal(body: unknown, at?: readonly (string | number)[]): ValidationError {
  try {
    parseReferenceProfile(body, at);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    const refused = error as ValidationError;
    expect(refused.code).toBe('INVALID_PROFILE');
    expect(refused.status).toBe(400);
    expect(refused.message).toMatch(/modelctl profile/);
    return refused;
  }
  throw new Error('expected a refusal');
}

describe('parseReferenceProfile accepts', () => {
  it("the sample model's profile.json unchanged, fields in the same order", () => {
    // Prepare
    const body = JSON.parse(IRIS_TEXT) as unknown;

    // Act
    const profile = parseReferenceProfile(body);

    // Assess
    expect(profile).toEqual(body);
    expect(`${JSON.stringify(profile, null, 2)}\n`).toBe(IRIS_TEXT);
  });

  it('what profileRows writes (missing values, pooled categories, a sampled feature, a "__proto__" category, predictions) unchanged', () => {
    // Prepare
    const random = seededRandom(3);
    const rows = Array.from({ length: 2500 }, (_, i) => ({
      x: i % 11 === 0 ? 'NA' : random() * 10,
      word: i % 5 === 0 ? '__proto__' : `w${Math.floor(random() * 150)}`,
      empty: null,
    }));
    const base = profileRows(rows);
    const profile: ReferenceProfile = {
      ...base,
      predictions: profileRows(rows.map((r) => ({ label: r.word.length > 3 ? 'long' : 'short', score: r.x }))).features,
    };
    const body = JSON.parse(JSON.stringify(profile)) as unknown;

    // Act
    const parsed = parseReferenceProfile(body);

    // Assess
    expect(parsed).toEqual(profile);
    expect(JSON.stringify(parsed)).toBe(JSON.stringify(profile));
    expect(Object.hasOwn((parsed.features.word as { categories: object }).categories, '__proto__')).toBe(true);
    expect(Object.keys((parsed.features.word as { categories: object }).categories)).toContain('__other__');
    expect((parsed.features.x as { sample: number[] }).sample).toHaveLength(1000);
    expect(parsed.features.empty).toEqual({ kind: 'categorical', count: 2500, missing: 2500, categories: {} });
  });
});

describe('parseReferenceProfile refuses', () => {
  const cases: [string, (p: Record<string, any>) => unknown, (string | number)[], RegExp][] = [
    ['a body that is not an object', () => [1, 2], ['profile'], /^profile must be a JSON object, not an array of 2\./],
    [
      'another profile version',
      (p) => ({ ...p, profileVersion: 2 }),
      ['profile', 'profileVersion'],
      /must be 1, the only profile version this server reads \(got 2\)/,
    ],
    ['a negative row count', (p) => ({ ...p, rows: -1 }), ['profile', 'rows'], /must be a whole number ≥ 0 \(got -1\)/],
    ['a fractional row count', (p) => ({ ...p, rows: 1.5 }), ['profile', 'rows'], /must be a whole number ≥ 0 \(got 1\.5\)/],
    [
      'a field the format does not have',
      (p) => ({ ...p, extra: true }),
      ['profile', 'extra'],
      /^profile\.extra is unknown; the fields are: profileVersion, rows, features, predictions\./,
    ],
    [
      'features that are not an object',
      (p) => ({ ...p, features: [] }),
      ['profile', 'features'],
      /must be an object of feature name to summary/,
    ],
    ['no features field', ({ features: _, ...p }) => p, ['profile', 'features'], /^profile\.features is required\./],
    [
      'an empty feature name',
      (p) => {
        p.features[''] = p.features.x;
        return p;
      },
      ['profile', 'features'],
      /has a feature with an empty name/,
    ],
    [
      'an unknown kind',
      (p) => {
        p.features.x.kind = 'ordinal';
        return p;
      },
      ['profile', 'features', 'x', 'kind'],
      /must be "numeric" or "categorical", not "ordinal"/,
    ],
    [
      'missing above count',
      (p) => {
        p.features.c.missing = 51;
        return p;
      },
      ['profile', 'features', 'c', 'missing'],
      /is 51, more than count \(50\)/,
    ],
    [
      'a negative count',
      (p) => {
        p.features.x.count = -3;
        return p;
      },
      ['profile', 'features', 'x', 'count'],
      /whole number/,
    ],
    [
      'a non-numeric mean',
      (p) => {
        p.features.x.mean = 'NaN';
        return p;
      },
      ['profile', 'features', 'x', 'mean'],
      /must be a finite number \(got "NaN"\)/,
    ],
    [
      'a null edge',
      (p) => {
        p.features.x.quantileEdges[4] = null;
        return p;
      },
      ['profile', 'features', 'x', 'quantileEdges', 4],
      /must be a finite number \(got null\)/,
    ],
    [
      'a missing std',
      (p) => {
        delete p.features.x.std;
        return p;
      },
      ['profile', 'features', 'x', 'std'],
      /is required: it must be a finite number/,
    ],
    [
      'a negative std',
      (p) => {
        p.features.x.std = -1;
        return p;
      },
      ['profile', 'features', 'x', 'std'],
      /must be ≥ 0/,
    ],
    [
      'min above max',
      (p) => {
        p.features.x.min = 100;
        return p;
      },
      ['profile', 'features', 'x', 'min'],
      /above max/,
    ],
    [
      'eight edges',
      (p) => {
        p.features.x.quantileEdges.pop();
        return p;
      },
      ['profile', 'features', 'x', 'quantileEdges'],
      /must hold exactly 9 numbers/,
    ],
    [
      'a decreasing edge',
      (p) => {
        p.features.x.quantileEdges[3] = p.features.x.quantileEdges[2] - 1;
        return p;
      },
      ['profile', 'features', 'x', 'quantileEdges', 3],
      /below quantileEdges\[2\] .*non-decreasing/,
    ],
    [
      'bin shares not summing to 1',
      (p) => {
        p.features.x.binProportions[0] += 0.01;
        return p;
      },
      ['profile', 'features', 'x', 'binProportions'],
      /must sum to 1 \(within 0\.000001\)|must sum to 1 \(within 1e-6\)/,
    ],
    [
      'a share above 1',
      (p) => {
        p.features.x.binProportions[9] = 1.5;
        return p;
      },
      ['profile', 'features', 'x', 'binProportions', 9],
      /must be a share in \[0, 1\]/,
    ],
    [
      'nine bin shares',
      (p) => {
        p.features.x.binProportions.pop();
        return p;
      },
      ['profile', 'features', 'x', 'binProportions'],
      /exactly 10 shares/,
    ],
    [
      'an unsorted sample',
      (p) => {
        p.features.x.sample[5] = -1;
        return p;
      },
      ['profile', 'features', 'x', 'sample', 5],
      /below sample\[4\] .*sorted ascending/,
    ],
    [
      'an empty sample',
      (p) => {
        p.features.x.sample = [];
        return p;
      },
      ['profile', 'features', 'x', 'sample'],
      /at least one value/,
    ],
    [
      'a sample longer than the present values',
      (p) => {
        p.features.x.sample.push(1000);
        return p;
      },
      ['profile', 'features', 'x', 'sample'],
      /holds 43 values, more than the 42 present ones/,
    ],
    [
      'a sample of 1,001 values',
      (p) => {
        p.features.x.sample = Array.from({ length: 1001 }, (_, i) => i);
        return p;
      },
      ['profile', 'features', 'x', 'sample'],
      /at most 1000 values/,
    ],
    [
      'a field a numeric feature does not have',
      (p) => {
        p.features.x.categories = {};
        return p;
      },
      ['profile', 'features', 'x', 'categories'],
      /is unknown; the fields are: kind, count, missing, min, max, mean, std, quantileEdges, binProportions, sample/,
    ],
    [
      'categories that are not an object',
      (p) => {
        p.features.c.categories = ['a'];
        return p;
      },
      ['profile', 'features', 'c', 'categories'],
      /must be an object of category to count/,
    ],
    [
      'a negative category count',
      (p) => {
        p.features.c.categories.a = -1;
        return p;
      },
      ['profile', 'features', 'c', 'categories', 'a'],
      /must be a whole number ≥ 0, not -1/,
    ],
    [
      'a fractional category count',
      (p) => {
        p.features.c.categories.b = 0.5;
        return p;
      },
      ['profile', 'features', 'c', 'categories', 'b'],
      /whole number/,
    ],
    [
      'category counts not summing to count − missing',
      (p) => {
        p.features.c.categories.a += 1;
        return p;
      },
      ['profile', 'features', 'c', 'categories'],
      /sum to 51; .* \(50 − 0 = 50\)/,
    ],
    [
      '102 categories',
      (p) => {
        p.features.c = {
          kind: 'categorical',
          count: 102,
          missing: 0,
          categories: Object.fromEntries(Array.from({ length: 102 }, (_, i) => [`k${i}`, 1])),
        };
        return p;
      },
      ['profile', 'features', 'c', 'categories'],
      /has 102 categories; a profile keeps at most 100/,
    ],
    ['predictions that are not an object', (p) => ({ ...p, predictions: 'label' }), ['profile', 'predictions'], /must be an object/],
    [
      'a bad prediction column',
      (p) => ({ ...p, predictions: { label: { ...p.features.c, count: 7 } } }),
      ['profile', 'predictions', 'label', 'categories'],
      /sum to 50/,
    ],
  ];

  it.each(cases)('%s', (_, breakIt, path, message) => {
    // Act
    const refused = refusal(breakIt(small()));

    // Assess
    expect(refused.path).toEqual(path);
    expect(refused.message).toMatch(message);
  });

  it('more than 1,000 features', () => {
    const p = small();
    for (let i = 0; i < 1000; i += 1) p.features[`f${i}`] = p.features.c;
    const refused = refusal(p);
    expect(refused.path).toEqual(['profile', 'features']);
    expect(refused.message).toMatch(/has 1002 entries; a profile holds at most 1000/);
  });

  it('with a bounded message and path when the input is long', () => {
    // Prepare: a 10,000-character feature name and category
    const long = 'n'.repeat(10_000);
    const p = small();
    p.features[long] = { ...p.features.c, kind: long };
    const q = small();
    q.features.c.categories[long] = 1;

    // Act
    const kind = refusal(p);
    const category = refusal(q);

    // Assess
    expect(kind.message.length).toBeLessThan(400);
    expect(String(kind.path[2]).length).toBeLessThanOrEqual(65);
    expect(kind.message).toMatch(/more characters/);
    expect(category.message.length).toBeLessThan(400);
    expect(category.message).toMatch(/is a category of 10000 characters; a profile cuts them to 200/);
  });

  it('under the path the caller names', () => {
    expect(refusal({ ...small(), rows: 'many' }, []).path).toEqual(['rows']);
    expect(refusal({ ...iris(), rows: 'many' }, ['metadata', 'profile']).path).toEqual(['metadata', 'profile', 'rows']);
  });
});
