/**
 * The "Try a prediction" form of a model, built from what the model says about itself: the Open
 * Inference Protocol's model metadata (`GET /v2/models/{m}`: inputs, datatypes, shapes, and the
 * record keys in `parameters`). One field per record key: per declared feature when the model
 * takes a features matrix (`record_keys: features`), else per input (`record_keys: inputs`; a
 * multi-value slice is typed as JSON). It sends one record, `{"features": {...}}`, to
 * `POST /v1/models/{m}/predict` (the alias `live`, so a canary may answer) and shows the answer:
 * label, confidence and probabilities for a classifier, the named outputs otherwise.
 */
import { ApiError, api } from './api.js';
import { clipped, h, num, table } from './dom.js';

/**
 * @typedef {{ name: string, datatype: string, shape: number[] }} TensorMetadata
 * @typedef {{ name: string, versions?: string[], inputs: TensorMetadata[], outputs: TensorMetadata[], parameters?: Record<string, unknown> }} ModelMetadata
 * @typedef {{ key: string, datatype: string, rowShape: number[], scalar: boolean }} Field
 */

const INTEGER_TYPES = new Set(['INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']);
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

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
 * One field's value as the API takes it. Numbers are sent as numbers, but a 64-bit integer
 * beyond 2^53 and anything that is not a plain number (`NaN`, a typo) are sent as typed, so
 * that the API's own message says what is wrong with it.
 * @param {Field} field
 * @param {string} raw
 */
function readValue(field, raw) {
  if (!field.scalar) {
    try {
      return JSON.parse(raw);
    } catch {
      throw new FieldError(field.key, `"${field.key}" takes JSON: an array of shape [${field.rowShape.join(', ')}] (-1: any length).`);
    }
  }
  if (field.datatype === 'BOOL') return raw === 'true';
  if (field.datatype === 'BYTES') return raw;
  const text = raw.trim();
  if (text === '') throw new FieldError(field.key, `Fill in "${field.key}".`);
  if (!NUMBER.test(text)) return text;
  const value = Number(text);
  if (INTEGER_TYPES.has(field.datatype) && !Number.isSafeInteger(value) && /^[-+]?\d+$/.test(text)) return text;
  return value;
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
      });
    } else if (field.datatype === 'BOOL') {
      control = h(
        'select',
        { id: controlId, name: field.key },
        h('option', { value: 'false' }, 'false'),
        h('option', { value: 'true', selected: start === true }, 'true'),
      );
    } else {
      control = h('input', {
        id: controlId,
        name: field.key,
        type: 'text',
        inputmode: field.datatype === 'BYTES' ? null : 'decimal',
        autocomplete: 'off',
        spellcheck: 'false',
        value: startText,
      });
    }
    return {
      field,
      control,
      row: h('div', { class: 'field' }, h('label', { for: controlId }, field.key), control, h('span', { class: 'type' }, field.datatype)),
    };
  });
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
    try {
      for (const { field, control } of controls) record[field.key] = readValue(field, control.value);
    } catch (error) {
      if (!(error instanceof FieldError)) throw error;
      result.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, error.message));
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
  if (prediction && typeof prediction === 'object' && 'label' in prediction) {
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
        ' with confidence ',
        h('strong', {}, percent(prediction.confidence)),
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
