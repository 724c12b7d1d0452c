/**
 * The "Try a prediction" form of a model, built from what the model says about itself: the Open
 * Inference Protocol's model metadata (`GET /v2/models/{m}`: inputs, datatypes, shapes, and the
 * record keys in `parameters`). One field per record key: per declared feature when the model
 * takes a features matrix (`record_keys: features`), else per input (`record_keys: inputs`; a
 * multi-value slice is typed as JSON). It sends one record, `{"features": {...}}`, to
 * `POST /v1/models/{m}/predict` (the alias `live`, so a canary may answer) and shows the answer:
 * label, confidence and probabilities for a classifier, the named outputs otherwise.
 *
 * What is sent is what the fields show: a value JSON cannot carry as typed (`1e400`, which
 * `JSON.stringify` would send as `null`; a whole number beyond 2^53 written as a JSON number,
 * which would be rounded) is refused by the form, with the message at its field, as is anything
 * that is not a number of the field's kind (`abc`, `2.5` for an integer input, an empty field).
 * Float fields take the protocol's strings for what JSON has no number for: `NaN`, `Infinity`,
 * `-Infinity` (docs/protocol.md). A refusal of the API that names a field (its `path`) is shown
 * at that field too.
 */
import { ApiError, api } from './api.js';
import { clipped, h, num, table } from './dom.js';

/**
 * @typedef {{ name: string, datatype: string, shape: number[] }} TensorMetadata
 * @typedef {{ name: string, versions?: string[], inputs: TensorMetadata[], outputs: TensorMetadata[], parameters?: Record<string, unknown> }} ModelMetadata
 * @typedef {{ key: string, datatype: string, rowShape: number[], scalar: boolean }} Field
 */

const INTEGER_TYPES = new Set(['INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']);
const FLOAT_TYPES = new Set(['FP16', 'FP32', 'FP64']);
/** The 64-bit integer types, whose values beyond 2^53 travel as decimal strings. */
const WIDE_TYPES = new Set(['INT64', 'UINT64']);
/** Each integer type's range, `[min, max]`. */
const INTEGER_RANGES = {
  INT8: [-(2n ** 7n), 2n ** 7n - 1n],
  INT16: [-(2n ** 15n), 2n ** 15n - 1n],
  INT32: [-(2n ** 31n), 2n ** 31n - 1n],
  INT64: [-(2n ** 63n), 2n ** 63n - 1n],
  UINT8: [0n, 2n ** 8n - 1n],
  UINT16: [0n, 2n ** 16n - 1n],
  UINT32: [0n, 2n ** 32n - 1n],
  UINT64: [0n, 2n ** 64n - 1n],
};
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
/** What the protocol sends for the float values JSON has no number for (exactly these spellings). */
const NON_FINITE = new Set(['NaN', 'Infinity', '-Infinity']);

/**
 * A JSON array of strings from a metadata parameter, or `undefined`.
 * @param {unknown} text
 * @returns {string[] | undefined}
 */
function stringList(text) {
  if (typeof text !== 'string') return undefined;
  try {
    const list = JSON.parse(text);
    return Array.isArray(list) && list.every((x) => typeof x === 'string') ? list : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The record's fields, in the order the model takes them.
 * @param {ModelMetadata} metadata
 * @returns {Field[]}
 */
export function fieldsOf(metadata) {
  const parameters = metadata.parameters ?? {};
  const features = stringList(parameters.features);
  if (parameters.record_keys === 'features' && features) {
    const input = metadata.inputs.find((i) => i.name === parameters.feature_input);
    return features.map((key) => ({ key, datatype: input?.datatype ?? 'FP32', rowShape: [], scalar: true }));
  }
  return metadata.inputs.map((input) => {
    const rowShape = input.shape.slice(1);
    return { key: input.name, datatype: input.datatype, rowShape, scalar: rowShape.every((d) => d === 1) };
  });
}

/**
 * One field's value as the API takes it, exactly as typed: a number as a JSON number; a 64-bit
 * integer beyond 2^53 (digits only) as its decimal string; for a float field, `NaN`, `Infinity`
 * and `-Infinity` as those strings; a string input's text as it is; a multi-value field's JSON.
 * @param {Field} field
 * @param {string} raw
 * @returns {unknown}
 * @throws {FieldError} when the value cannot be sent as typed, or is not of the field's kind
 */
export function readValue(field, raw) {
  if (!field.scalar) return readJson(field, raw);
  if (field.datatype === 'BOOL') return raw === 'true';
  if (field.datatype === 'BYTES') return raw;
  const text = raw.trim();
  const float = FLOAT_TYPES.has(field.datatype);
  const kind = float ? `a number (${field.datatype})` : `a whole number (${field.datatype})`;
  if (text === '') throw new FieldError(field.key, `Fill in "${field.key}": it takes ${kind}.`);
  if (float && NON_FINITE.has(text)) return text;
  if (!NUMBER.test(text)) {
    const also = float ? ', or NaN, Infinity or -Infinity' : '';
    throw new FieldError(field.key, `"${field.key}" takes ${kind}${also}; ${quote(text)} is not one.`);
  }
  const value = Number(text);
  if (!Number.isFinite(value)) {
    const instead = float ? ' Type Infinity or -Infinity for an infinite value.' : '';
    throw new FieldError(field.key, `${quote(text)} is too large for a number (the largest is about 1.8e308).${instead}`);
  }
  if (!INTEGER_TYPES.has(field.datatype)) return value;
  const digits = /^[-+]?\d+$/.test(text);
  if (!Number.isInteger(value)) throw new FieldError(field.key, `"${field.key}" takes ${kind}; ${quote(text)} is not whole.`);
  if (!digits && !Number.isSafeInteger(value))
    throw new FieldError(field.key, `Write ${quote(text)} digit by digit: beyond 2^53, a number with a point or an exponent loses digits.`);
  const exact = digits ? BigInt(text) : BigInt(value);
  const [min, max] = INTEGER_RANGES[/** @type {keyof typeof INTEGER_RANGES} */ (field.datatype)];
  if (exact < min || exact > max)
    throw new FieldError(field.key, `${quote(text)} is outside the range of ${field.datatype}, ${min} to ${max}.`);
  // Beyond 2^53 (a 64-bit type): the decimal string, as the protocol sends it.
  return Number.isSafeInteger(value) ? value : exact.toString();
}

/**
 * A multi-value field's JSON. JSON numbers it cannot send as written are refused: one too
 * large for a number (`1e400`, which would be sent as `null`), and a whole number beyond 2^53
 * for a 64-bit integer input (which would be rounded: it travels as a string, `"9007199254740993"`).
 * @param {Field} field
 * @param {string} raw
 */
function readJson(field, raw) {
  let value;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new FieldError(field.key, `"${field.key}" takes JSON: an array of shape [${field.rowShape.join(', ')}] (-1: any length).`);
  }
  const numbers = [value].flat(Number.POSITIVE_INFINITY).filter((v) => typeof v === 'number');
  if (numbers.some((v) => !Number.isFinite(v))) {
    const instead = FLOAT_TYPES.has(field.datatype) ? ' Write "Infinity" or "-Infinity" (in quotes) for an infinite value.' : '';
    throw new FieldError(field.key, `"${field.key}" holds a number too large for JSON (beyond about 1.8e308).${instead}`);
  }
  if (INTEGER_TYPES.has(field.datatype) && numbers.some((v) => Number.isInteger(v) && !Number.isSafeInteger(v))) {
    const instead = WIDE_TYPES.has(field.datatype)
      ? 'write it in quotes ("9007199254740993")'
      : `it is outside the range of ${field.datatype} anyway`;
    throw new FieldError(field.key, `"${field.key}" holds a whole number beyond 2^53 as a JSON number, which loses digits: ${instead}.`);
  }
  return value;
}

/**
 * Text typed into a field, quoted for a message (at most 40 characters).
 * @param {string} text
 */
function quote(text) {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/** A field the form itself refuses, before anything is sent. */
class FieldError extends Error {
  /** @param {string} key @param {string} message */
  constructor(key, message) {
    super(message);
    this.key = key;
  }
}

/**
 * An example record from a version's golden inputs (`{"features": {...}}` or the first of
 * `instances`), to fill the form with; `undefined` when there is none of that shape.
 * @param {unknown} metadata a version's registry metadata
 * @returns {Record<string, unknown> | undefined}
 */
export function exampleRecord(metadata) {
  const request = metadata?.goldenInputs?.[0]?.request;
  const record = request?.features ?? request?.instances?.[0];
  return record !== null && typeof record === 'object' && !Array.isArray(record) ? record : undefined;
}

let formCount = 0;

/**
 * The form, ready to use.
 * @param {string} model
 * @param {ModelMetadata} metadata
 * @param {Record<string, unknown> | undefined} example values to start from
 * @returns {HTMLElement}
 */
export function predictForm(model, metadata, example) {
  const id = `predict-${++formCount}`;
  const fields = fieldsOf(metadata);
  const result = h('div', { class: 'answer', role: 'status', 'aria-live': 'polite', 'aria-label': 'Prediction answer' });
  const controls = fields.map((field, i) => {
    const controlId = `${id}-field-${i}`;
    const errorId = `${controlId}-error`;
    const start = example?.[field.key];
    const startText = start === undefined ? '' : typeof start === 'string' ? start : JSON.stringify(start);
    let control;
    if (!field.scalar) {
      control = h('textarea', {
        id: controlId,
        name: field.key,
        rows: 2,
        spellcheck: 'false',
        placeholder: `JSON, shape [${field.rowShape.join(', ')}]`,
        value: startText,
        'aria-describedby': errorId,
      });
    } else if (field.datatype === 'BOOL') {
      control = h(
        'select',
        { id: controlId, name: field.key, 'aria-describedby': errorId },
        h('option', { value: 'false' }, 'false'),
        h('option', { value: 'true', selected: start === true }, 'true'),
      );
    } else {
      control = h('input', {
        id: controlId,
        name: field.key,
        type: 'text',
        // Not `decimal`: a phone's decimal keyboard has no minus sign and no exponent.
        inputmode: field.datatype === 'BYTES' ? null : 'text',
        autocomplete: 'off',
        spellcheck: 'false',
        value: startText,
        'aria-describedby': errorId,
      });
    }
    const message = h('p', { class: 'field-error', id: errorId, hidden: true });
    return {
      field,
      control,
      message,
      row: h(
        'div',
        { class: 'field' },
        h('label', { for: controlId }, field.key),
        control,
        h('span', { class: 'type' }, field.datatype),
        message,
      ),
    };
  });
  /**
   * Shows `text` at the field of `key` (and marks it invalid), or clears every field when `key` is undefined.
   * @param {string | undefined} key
   * @param {string} [text]
   */
  const markField = (key, text = '') => {
    for (const c of controls) {
      const at = c.field.key === key;
      if (key !== undefined && !at) continue;
      c.message.textContent = at ? text : '';
      c.message.hidden = !at;
      if (at) c.control.setAttribute('aria-invalid', 'true');
      else c.control.removeAttribute('aria-invalid');
    }
  };
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Predict');
  const form = h(
    'form',
    { class: 'predict-form', 'aria-label': `Try a prediction with ${model}`, novalidate: true },
    controls.map((c) => c.row),
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    /** @type {Record<string, unknown>} */
    const record = {};
    markField(undefined);
    try {
      for (const { field, control } of controls) record[field.key] = readValue(field, control.value);
    } catch (error) {
      if (!(error instanceof FieldError)) throw error;
      markField(error.key, error.message);
      result.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, `Not sent: ${error.message}`));
      controls.find((c) => c.field.key === error.key)?.control.focus();
      return;
    }
    const body = { features: record };
    submit.disabled = true;
    result.replaceChildren(h('p', { class: 'muted' }, 'Predicting…'));
    try {
      const answer = await api('POST', '/v1/models/{model}/predict', { params: { model }, body });
      result.replaceChildren(renderAnswer(answer, body));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const key = fieldOfPath(error.path, fields);
      if (key !== undefined) markField(key, `${error.code}: ${error.message}`);
      result.replaceChildren(predictError(error), exchange(body, undefined));
    } finally {
      submit.disabled = false;
    }
  });
  const note =
    fields.length === 0
      ? h('p', { class: 'muted' }, 'This model declares no inputs the form can fill.')
      : h('p', { class: 'muted' }, 'One record, sent to the live release (a canary may answer).');
  return h('div', { class: 'try-it' }, note, form, result);
}

/**
 * The field a refusal's path names (`features.amount`, `features.x[0]`), or `undefined`.
 * @param {string} path
 * @param {Field[]} fields
 */
function fieldOfPath(path, fields) {
  const found = fields.find((f) => path === `features.${f.key}` || path.startsWith(`features.${f.key}[`));
  return found?.key;
}

/** @param {ApiError} error */
function predictError(error) {
  const where = error.path ? ` (at ${error.path})` : '';
  return h(
    'div',
    { class: 'notice error', role: 'alert' },
    h('strong', {}, `${error.status} ${error.code}`),
    h('p', {}, `${error.message}${where}`),
    error.scope ? h('p', {}, `This token lacks the scope "${error.scope}".`) : null,
  );
}

/**
 * What was sent and what came back, as JSON text.
 * @param {unknown} request
 * @param {unknown} answer
 */
function exchange(request, answer) {
  return h(
    'details',
    { class: 'exchange' },
    h('summary', {}, 'Request and answer (JSON)'),
    h('pre', {}, JSON.stringify(request, null, 2)),
    answer === undefined ? null : h('pre', {}, JSON.stringify(answer, null, 2)),
  );
}

/**
 * The answer of the record form: who served it, then the prediction.
 * @param {any} answer
 * @param {unknown} request
 */
function renderAnswer(answer, request) {
  const prediction = answer?.predictions?.[0];
  const served = h(
    'p',
    { class: 'served' },
    `Model version ${answer?.modelVersion ?? '?'} (function version ${answer?.functionVersion ?? '?'}) answered in ${num(answer?.processingTimeMs, 1)} ms.`,
  );
  // A label line only for a label the API gave (not null, as for NaN inputs); else its answer as is.
  if (prediction && typeof prediction === 'object' && prediction.label != null) {
    const probabilities = Object.entries(prediction.probabilities ?? {});
    const top = Math.max(...probabilities.map(([, p]) => (typeof p === 'number' ? p : 0)));
    return h(
      'div',
      {},
      h(
        'p',
        { class: 'label-line' },
        'Predicted ',
        h('strong', { class: 'predicted-label', 'data-testid': 'predicted-label' }, String(prediction.label)),
        ...(typeof prediction.confidence === 'number' && Number.isFinite(prediction.confidence)
          ? [' with confidence ', h('strong', {}, percent(prediction.confidence))]
          : []),
      ),
      table(
        'Class probabilities',
        ['Class', 'Probability', ''],
        probabilities.map(([label, p]) => [
          label,
          probability(p),
          h('meter', { min: 0, max: 1, value: typeof p === 'number' ? p : 0, 'aria-label': `Probability of ${label}` }),
        ]),
        ([, p]) => (Number(p) === top ? { class: 'top' } : {}),
      ),
      served,
      exchange(request, answer),
    );
  }
  const outputs = prediction && typeof prediction === 'object' ? Object.entries(prediction) : [];
  return h(
    'div',
    {},
    prediction && typeof prediction === 'object' && 'label' in prediction
      ? h('p', { class: 'label-line', 'data-testid': 'no-label' }, 'The model gave no label for these inputs; its answer is below.')
      : null,
    table(
      'Outputs',
      ['Output', 'Value'],
      outputs.map(([name, value]) => [name, clipped(value, 120)]),
    ),
    served,
    exchange(request, answer),
  );
}

/**
 * A probability with six decimals, or in exponent form below 0.0001 (not a bare 0 for 4e-13).
 * @param {unknown} value
 */
function probability(value) {
  return typeof value === 'number' && value > 0 && value < 1e-4 ? value.toExponential(2) : num(value, 6);
}

/** @param {unknown} value */
function percent(value) {
  return typeof value === 'number' ? `${(value * 100).toFixed(2)}%` : String(value);
}
