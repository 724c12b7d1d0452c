/**
 * A field of a request body that holds the wrong kind of value (an object where an array belongs,
 * a string where an object belongs, ...) is refused at its own path, saying what would be right
 * and what was sent: `{"instances": {"a": 1}}` is a wrong `instances`, never a missing
 * `features`. Every member of that kind, in the record form and in the Open Inference Protocol
 * form, envelope and input entries alike.
 */
import type { ModelSignature } from '../../../functions/core/model.js';
import { decodeV2 } from '../../../functions/core/codec/decode.js';
import { RECORD_HINT, V2_HINT, parseRecordRequest, parseV2Request } from '../../../functions/core/codec/request.js';
import { formatPath } from '../../../functions/core/errors.js';
import { refusal } from '../../fixtures/errors.js';

const RECORDS = 'must be an array of records (objects of named features) or of rows (arrays of values)';
const FEATURES = 'must be an object of named features';
const INPUTS = 'must be an array of input tensors ({"name", "shape", "datatype", "data"})';

describe('the record form', () => {
  it.each<[string, unknown, string, string]>([
    ['instances as an object', { instances: { a: 1 } }, 'instances', `${RECORDS} (got an object)`],
    ['instances as a string', { instances: 'rows' }, 'instances', `${RECORDS} (got "rows")`],
    ['instances as a number', { instances: 3 }, 'instances', `${RECORDS} (got 3)`],
    ['instances as null', { instances: null }, 'instances', `${RECORDS} (got null)`],
    ['instances as true', { instances: true }, 'instances', `${RECORDS} (got true)`],
    [
      'an instance that is a number',
      { instances: [1, 2] },
      'instances[0]',
      'must be an object of named features or an array of values (got 1)',
    ],
    ['features as an array', { features: [5.1, 3.5] }, 'features', `${FEATURES} (got an array of 2 items)`],
    ['features as a string', { features: 'x' }, 'features', `${FEATURES} (got "x")`],
    ['features as null', { features: null }, 'features', `${FEATURES} (got null)`],
  ])('%s: 400 INVALID_REQUEST at its path, saying what is right and what was sent', (_case, body, path, detail) => {
    // Act
    const error = refusal(() => parseRecordRequest(body, 100, RECORD_HINT));

    // Assess
    expect(error.code).toBe('INVALID_REQUEST');
    expect(formatPath(error.path)).toBe(path);
    expect(error.message).toBe(`Field "${path}" ${detail}. ${RECORD_HINT}`);
  });

  it('still reports a missing field when neither form is there, and an empty list by its length', () => {
    const none = refusal(() => parseRecordRequest({}, 100, RECORD_HINT));
    const empty = refusal(() => parseRecordRequest({ instances: [] }, 100, RECORD_HINT));
    expect([none.code, formatPath(none.path)]).toEqual(['MISSING_FIELD', 'features']);
    expect([empty.code, formatPath(empty.path)]).toEqual(['INVALID_REQUEST', 'instances']);
    expect(empty.message).toContain('Field "instances" must have at least one item (got 0 items).');
  });
});

const VALID_INPUT = { name: 'input', shape: [1, 2], datatype: 'FP32', data: [1, 2] };

describe('the v2 envelope', () => {
  it.each<[string, unknown, string, string]>([
    ['inputs as an object', { inputs: { name: 'input' } }, 'inputs', `${INPUTS} (got an object)`],
    ['inputs as a string', { inputs: 'input' }, 'inputs', `${INPUTS} (got "input")`],
    [
      'parameters as an array',
      { inputs: [VALID_INPUT], parameters: [] },
      'parameters',
      'must be an object of parameters such as {"binary_data_output": true} (got an array of 0 items)',
    ],
    [
      'outputs as an object',
      { inputs: [VALID_INPUT], outputs: { name: 'y' } },
      'outputs',
      'must be an array of the outputs asked for ({"name": …}) (got an object)',
    ],
    [
      "an output's parameters as a string",
      { inputs: [VALID_INPUT], outputs: [{ name: 'y', parameters: 'binary' }] },
      'outputs[0].parameters',
      'must be an object of parameters such as {"binary_data": true} (got "binary")',
    ],
  ])('%s: 400 INVALID_REQUEST at its path', (_case, body, path, detail) => {
    // Act
    const error = refusal(() => parseV2Request(body, V2_HINT));

    // Assess
    expect(error.code).toBe('INVALID_REQUEST');
    expect(formatPath(error.path)).toBe(path);
    expect(error.message).toBe(`Field "${path}" ${detail}. ${V2_HINT}`);
  });

  it('an empty inputs list: what it must have', () => {
    const error = refusal(() => parseV2Request({ inputs: [] }, V2_HINT));
    expect(formatPath(error.path)).toBe('inputs');
    expect(error.message).toContain('Field "inputs" must have at least one input tensor.');
  });

  it.each([
    ['binary_data_output as text', { inputs: [VALID_INPUT], parameters: { binary_data_output: 'yes' } }, 'parameters.binary_data_output'],
    [
      'binary_data as a number',
      { inputs: [VALID_INPUT], outputs: [{ name: 'y', parameters: { binary_data: 1 } }] },
      'outputs[0].parameters.binary_data',
    ],
  ])('%s: 400 WRONG_TYPE naming what was sent', (_case, body, path) => {
    const error = refusal(() => parseV2Request(body, V2_HINT));
    expect([error.code, formatPath(error.path)]).toEqual(['WRONG_TYPE', path]);
    expect(error.message).toMatch(/must be true or false \(got ("yes"|1)\)\.$/);
  });
});

const model: ModelSignature = {
  inputs: [{ name: 'input', type: 'float32', shape: ['N', 2] }],
  outputs: [{ name: 'y', type: 'float32', shape: ['N', 1] }],
};

describe('a v2 input entry', () => {
  it.each<[string, Record<string, unknown>, string, string]>([
    [
      'data as an object',
      { ...VALID_INPUT, data: { a: 1 } },
      'inputs[0].data',
      'must be an array of values (flat in row-major order, or nested as the shape) (got an object)',
    ],
    [
      'shape as a string',
      { ...VALID_INPUT, shape: '1,2' },
      'inputs[0].shape',
      'must be an array of dimension sizes (whole numbers), such as [1, 4] (got "1,2")',
    ],
    [
      'parameters as an array',
      { ...VALID_INPUT, parameters: [] },
      'inputs[0].parameters',
      'must be an object of parameters such as {"binary_data_size": 16} (got an array of 0 items)',
    ],
  ])('%s: 400 INVALID_REQUEST at its path', (_case, input, path, detail) => {
    // Act
    const error = refusal(() => decodeV2(model, [input]));

    // Assess
    expect(error.code).toBe('INVALID_REQUEST');
    expect(formatPath(error.path)).toBe(path);
    expect(error.message).toBe(`Field "${path}" ${detail}. ${V2_HINT}`);
  });

  it.each<[string, Record<string, unknown>, string, RegExp]>([
    [
      'binary_data_size as text',
      { name: 'input', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: '8' } },
      'inputs[0].parameters.binary_data_size',
      /must be a byte count \(a whole number, at least 0; got "8"\)\.$/,
    ],
    [
      'data_ref as a number',
      { name: 'input', shape: [1, 2], datatype: 'FP32', parameters: { data_ref: 7 } },
      'inputs[0].parameters.data_ref',
      /a string \(got 7\)\.$/,
    ],
    [
      'a nested row that is a number',
      { ...VALID_INPUT, shape: [2, 2], data: [[1, 2], 3] },
      'inputs[0].data[1]',
      /expected an array of 2 at axis 1, got 3\.$/,
    ],
  ])('%s: refused naming what was sent', (_case, input, path, message) => {
    // Act
    const error = refusal(() => decodeV2(model, [input]));

    // Assess
    expect(formatPath(error.path)).toBe(path);
    expect(error.message).toMatch(message);
  });
});
