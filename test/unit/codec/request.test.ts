import { formatPath } from '../../../functions/core/errors.js';
import {
  RecordRequestSchema,
  V2InputSchema,
  V2RequestSchema,
  V2_INPUT_FIELDS,
  checkJsonSafety,
  parseObject,
  parseRecordRequest,
  parseV2Request,
  parseWith,
} from '../../../functions/core/codec/request.js';
import { refusal } from '../../fixtures/errors.js';

const HINT = 'Send {"features": {...}}.';

describe('RecordRequestSchema', () => {
  it.each([
    { features: { a: 1, b: 'x' } },
    { instances: [{ a: 1 }, { a: 2 }] },
    {
      instances: [
        [1, 2],
        [3, 4],
      ],
    },
  ])('accepts %j', (body) => {
    expect(parseWith(RecordRequestSchema, body, HINT)).toEqual(body);
  });

  it('names the field that is missing, with the hint', () => {
    // Act
    const error = refusal(() => parseWith(RecordRequestSchema, {}, HINT));

    // Assess
    expect(error.code).toBe('MISSING_FIELD');
    expect(error.path).toEqual(['features']);
    expect(error.message).toContain(HINT);
  });

  it('names an unknown top-level field', () => {
    const error = refusal(() => parseRecordRequest({ features: { a: 1 }, featurez: {} }, 10, HINT));
    expect(error.code).toBe('UNKNOWN_FIELD');
    expect(error.path).toEqual(['featurez']);
  });

  it('names an unknown field next to instances', () => {
    const error = refusal(() => parseRecordRequest({ instances: [[1]], debug: true }, 10, HINT));
    expect(error.code).toBe('UNKNOWN_FIELD');
    expect(error.path).toEqual(['debug']);
  });

  it('reports an unknown field where a field is missing: the likely misspelling, with the fields there are', () => {
    const error = refusal(() => parseRecordRequest({ rows: [[1]] }, 10, HINT));
    expect(error.code).toBe('UNKNOWN_FIELD');
    expect(error.path).toEqual(['rows']);
    expect(error.message).toContain('Field "rows" is unknown; the fields are: features, instances.');
  });

  it('reports a missing field of an object that has no other key', () => {
    const error = refusal(() => parseRecordRequest({}, 10, HINT));
    expect(error.code).toBe('MISSING_FIELD');
    expect(error.path).toEqual(['features']);
  });

  it('refuses an empty instances list', () => {
    const error = refusal(() => parseWith(RecordRequestSchema, { instances: [] }, HINT));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.path).toEqual(['instances']);
  });

  it('names the instance that is neither an object nor an array', () => {
    const error = refusal(() => parseWith(RecordRequestSchema, { instances: [{ a: 1 }, 7] }, HINT));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.path).toEqual(['instances', 1]);
  });

  it.each([
    [{ features: [1, 2] }, ['features']],
    [{ features: 'a=1' }, ['features']],
    [null, []],
    ['text', []],
  ])('refuses %j as INVALID_REQUEST at %j', (body, path) => {
    const error = refusal(() => parseWith(RecordRequestSchema, body, HINT));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.path).toEqual(path);
    expect(error.status).toBe(400);
  });

  it('reports a missing body as MISSING_FIELD', () => {
    const error = refusal(() => parseWith(RecordRequestSchema, undefined, HINT));
    expect(error.code).toBe('MISSING_FIELD');
    expect(error.message).toContain('The body is required.');
  });
});

describe('V2RequestSchema and V2InputSchema', () => {
  const input = { name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] };
  const entry = (value: unknown, i = 0) => parseObject(V2InputSchema, V2_INPUT_FIELDS, value, HINT, ['inputs', i]);

  it('accepts a request with id, parameters and requested outputs', () => {
    // Prepare
    const body = { id: 'r-1', parameters: { a: 1 }, inputs: [input], outputs: [{ name: 'y' }] };

    // Act / Assess
    expect(parseWith(V2RequestSchema, body, HINT)).toEqual(body);
    expect(parseV2Request(body, HINT)).toEqual({
      id: 'r-1',
      inputs: [input],
      outputs: ['y'],
      binaryOutput: false,
      binaryOutputs: new Set(),
      jsonOutputs: new Set(),
    });
    expect(entry(input)).toEqual(input);
  });

  it('names a missing field of an input with its path', () => {
    // Prepare: `data` may be absent (binary or by-reference inputs), `shape` may not
    const { shape: _shape, ...withoutShape } = input;

    // Act
    const error = refusal(() => entry(withoutShape, 1));

    // Assess
    expect(error.code).toBe('MISSING_FIELD');
    expect(error.path).toEqual(['inputs', 1, 'shape']);
    expect(error.message).toContain('inputs[1].shape');
  });

  it('reads binary_data_output and per-output binary_data, and refuses them when not booleans', () => {
    const parsed = parseV2Request(
      {
        inputs: [input],
        parameters: { binary_data_output: true },
        outputs: [{ name: 'y', parameters: { binary_data: true } }, { name: 'z' }],
      },
      HINT,
    );
    expect(parsed.binaryOutput).toBe(true);
    expect([...parsed.binaryOutputs]).toEqual(['y']);
    const error = refusal(() => parseV2Request({ inputs: [input], outputs: [{ name: 'y', parameters: { binary_data: 'yes' } }] }, HINT));
    expect([error.code, error.path]).toEqual(['WRONG_TYPE', ['outputs', 0, 'parameters', 'binary_data']]);
  });

  it('names an unknown field inside an input', () => {
    const error = refusal(() => entry({ ...input, contents: {} }));
    expect(error.code).toBe('UNKNOWN_FIELD');
    expect(formatPath(error.path)).toBe('inputs[0].contents');
  });

  it('names an unknown field inside an output and at the top level', () => {
    const output = refusal(() => parseV2Request({ inputs: [input], outputs: [{ name: 'y', shape: [1] }] }, HINT));
    const top = refusal(() => parseV2Request({ inputs: [input], input: [] }, HINT));
    expect([output.code, formatPath(output.path)]).toEqual(['UNKNOWN_FIELD', 'outputs[0].shape']);
    expect([top.code, formatPath(top.path)]).toEqual(['UNKNOWN_FIELD', 'input']);
  });

  it.each([
    [{ ...input, shape: [1, -3] }, ['inputs', 0, 'shape', 1]],
    [{ ...input, shape: [1.5] }, ['inputs', 0, 'shape', 0]],
    [{ ...input, name: '' }, ['inputs', 0, 'name']],
    [{ ...input, data: { 0: 1 } }, ['inputs', 0, 'data']],
    [{ ...input, shape: new Array(65).fill(1) }, ['inputs', 0, 'shape']],
  ])('refuses the input %j at %j', (value, path) => {
    const error = refusal(() => entry(value));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.path).toEqual(path);
  });

  it.each([
    [{ inputs: [] }, ['inputs']],
    [{ inputs: [input], id: 5 }, ['id']],
    [{ inputs: [input], parameters: [1] }, ['parameters']],
    [{ inputs: [input], outputs: new Array(1_025).fill({ name: 'y' }) }, ['outputs']],
  ])('refuses %j at %j', (body, path) => {
    const error = refusal(() => parseV2Request(body, HINT));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.path).toEqual(path);
  });
});

describe('checkJsonSafety', () => {
  it('accepts a body exactly as deep as allowed', () => {
    // Prepare: three nested containers
    const body = '{"a": [{"b": 1}]}';

    // Act / Assess
    expect(() => checkJsonSafety(body, 3)).not.toThrow();
    expect(() => checkJsonSafety('1', 0)).not.toThrow();
  });

  it('refuses a body one level deeper than allowed, with the path of the offending level', () => {
    // Prepare
    const body = '{"instances": [{"x": [[1]]}]}';

    // Act
    const error = refusal(() => checkJsonSafety(body, 4));

    // Assess
    expect(error.code).toBe('JSON_TOO_DEEP');
    expect(error.path).toEqual(['instances', 0, 'x', 0]);
  });

  it('walks very deep bodies without overflowing the stack', () => {
    // Prepare
    const body = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

    // Act
    const error = refusal(() => checkJsonSafety(body, 64));

    // Assess
    expect(error.code).toBe('JSON_TOO_DEEP');
    expect(error.path).toHaveLength(64);
  });

  it('refuses a __proto__ key, which JSON.parse creates as an own property', () => {
    // Prepare
    const body = '{"instances": [{"a": 1}, {"a": 2, "__proto__": {"polluted": true}}]}';

    // Act
    const error = refusal(() => checkJsonSafety(body, 64));

    // Assess
    expect(Object.keys((JSON.parse(body) as { instances: object[] }).instances[1] as object)).toContain('__proto__');
    expect(error.code).toBe('FORBIDDEN_KEY');
    expect(error.path).toEqual(['instances', 1, '__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('refuses a __proto__ key at the top level too', () => {
    const error = refusal(() => checkJsonSafety('{"__proto__": 1}', 64));
    expect(error.code).toBe('FORBIDDEN_KEY');
    expect(error.path).toEqual(['__proto__']);
  });

  it('allows "__proto__" as a string value and keys that merely contain it', () => {
    expect(() =>
      checkJsonSafety(
        '{"a": "__proto__", "my__proto__": 1, "__proto__x": {"b": ["__proto__"]}, "\\u005f_proto_x": 2, "__pr\\u006fto": 3}',
        64,
      ),
    ).not.toThrow();
  });

  it('finds a __proto__ key however it is escaped, and only keys', () => {
    // Prepare: escapes JSON.parse decodes to "__proto__"; strings with quotes and brackets inside.
    const escapedKeys = [
      '\\u005f_proto__',
      '\\u005F\\u005Fproto\\u005f\\u005f',
      '__pr\\u006fto__',
      '\\u005f\\u005f\\u0070\\u0072\\u006f\\u0074\\u006f\\u005f\\u005f',
    ];
    const tricky = '{"a": "\\"__proto__\\": [[[[", "b\\\\": {"c": "}}]]"}, "d": [1, {"__proto__": 2}]}';

    // Act
    const errors = escapedKeys.map((key) => refusal(() => checkJsonSafety(`{"x": [0, {"${key}": 1}]}`, 64)));
    const trickyError = refusal(() => checkJsonSafety(tricky, 64));

    // Assess
    for (const [i, key] of escapedKeys.entries()) {
      expect((JSON.parse(`{"${key}": 1}`) as Record<string, unknown>)['__proto__']).toBe(1);
      expect([errors[i]?.code, errors[i]?.path]).toEqual(['FORBIDDEN_KEY', ['x', 1, '__proto__']]);
    }
    expect([trickyError.code, trickyError.path]).toEqual(['FORBIDDEN_KEY', ['d', 1, '__proto__']]);
  });

  it('counts depth outside strings only, and array positions across nested commas', () => {
    // Prepare
    const deepInString = `{"a": "${'['.repeat(100)}", "b": [[1, 2], [3, [4]]]}`;

    // Act
    const error = refusal(() => checkJsonSafety(deepInString, 3));

    // Assess
    expect(() => checkJsonSafety(deepInString, 4)).not.toThrow();
    expect([error.code, error.path]).toEqual(['JSON_TOO_DEEP', ['b', 1, 1]]);
  });
});
