/**
 * What a version declares about itself (features, class labels) checked against what the model
 * file really is (its signature as ONNX Runtime reads it). Used at registration and by the
 * signature gate.
 */
import { isDynamic } from './codec/decode.js';
import { holdsClassProbabilities } from './codec/encode.js';
import { excerpt, nameList, UNPAIRED_SURROGATE } from './codec/limits.js';
import { ValidationError, type FieldPath } from './errors.js';
import type { ModelMetadata, ModelSignature } from './model.js';
import { checkOnlineFeatures } from './features/declaration.js';

/**
 * The one name no input, output or declared name may have. Requests refuse the key `__proto__`
 * anywhere (400 `FORBIDDEN_KEY`), so no record could carry such a feature or input, and ONNX
 * Runtime's Node binding loses a tensor of that name (its feeds and results are plain objects,
 * where `__proto__` is the prototype, not a key).
 */
const FORBIDDEN_NAME = '__proto__';

/** A UTF-16 surrogate without its pair: not Unicode, and not storable as UTF-8. */

/**
 * One rule for every name a version declares: its features, class labels, target and metric
 * names. Each becomes a key somewhere (a request's feature, a response's `probabilities`, a
 * stored map), so none may be:
 * - `__proto__` (400 `FORBIDDEN_KEY`): requests refuse that key, a response or stored map would
 *   lose it, and ONNX Runtime's Node binding loses a tensor of that name;
 * - a string holding U+0000 (400 `NUL_IN_STRING`): ONNX Runtime's strings end there;
 * - a string holding an unpaired UTF-16 surrogate (400 `UNPAIRED_SURROGATE`): not Unicode, so
 *   not storable or answerable as UTF-8.
 * Other `Object.prototype` names (`constructor`, `toString`, ...) are plain names. Paths point
 * at the name (`metadata.classLabels[1]`, `metadata.metrics.<name>`); messages quote at most an
 * excerpt of it. Runs before the model file is opened.
 *
 * @throws ValidationError (400) as above
 */
export function checkDeclaredNames(metadata: ModelMetadata): void {
  const named: Array<[string, FieldPath]> = [
    ...(metadata.features ?? []).map((name, i): [string, FieldPath] => [name, ['metadata', 'features', i]]),
    ...(metadata.classLabels ?? []).map((name, i): [string, FieldPath] => [name, ['metadata', 'classLabels', i]]),
    ...(metadata.target === undefined ? [] : [[metadata.target, ['metadata', 'target']] as [string, FieldPath]]),
    ...Object.keys(metadata.metrics ?? {}).map((name): [string, FieldPath] => [name, ['metadata', 'metrics', excerpt(name)]]),
    // An entity key is a request's key, as a feature is.
    ...(metadata.onlineFeatures ?? []).map((group, g): [string, FieldPath] => [group.entity, ['metadata', 'onlineFeatures', g, 'entity']]),
  ];
  for (const [name, path] of named) {
    const what = describeName(path);
    if (name === FORBIDDEN_NAME) {
      throw new ValidationError(
        'FORBIDDEN_KEY',
        `${what} cannot be "${FORBIDDEN_NAME}": requests refuse that key and a response or stored map would lose it. Rename it.`,
        path,
      );
    }
    const nul = name.indexOf('\u0000');
    if (nul >= 0) {
      throw new ValidationError(
        'NUL_IN_STRING',
        `${what} holds U+0000 (NUL) at character ${nul}; ONNX Runtime's strings end there. Remove it.`,
        path,
      );
    }
    const unpaired = UNPAIRED_SURROGATE.exec(name);
    if (unpaired) {
      throw new ValidationError(
        'UNPAIRED_SURROGATE',
        `${what} holds an unpaired UTF-16 surrogate at character ${unpaired.index} (an escape like "\\ud800" without its pair), which is not Unicode. Send valid Unicode.`,
        path,
      );
    }
  }
}

function describeName(path: FieldPath): string {
  switch (path[1]) {
    case 'features':
      return `Feature name ${String(path[2])}`;
    case 'classLabels':
      return `Class label ${String(path[2])}`;
    case 'target':
      return 'The target name';
    case 'onlineFeatures':
      return `The entity key of online feature group ${String(path[2])}`;
    default:
      return 'A metric name';
  }
}

/**
 * The declared features must fit the model's inputs, and the class labels its probability
 * output: a mismatch here would serve wrong columns silently later. No input or output may be
 * named `__proto__` (400 `FORBIDDEN_KEY`), and every declared name follows
 * {@link checkDeclaredNames}.
 */
export function checkDeclarations(signature: ModelSignature, metadata: ModelMetadata): void {
  const { features, classLabels } = metadata;
  for (const [kind, specs] of [
    ['input', signature.inputs],
    ['output', signature.outputs],
  ] as const) {
    if (specs.some((s) => s.name === FORBIDDEN_NAME)) {
      throw new ValidationError(
        'FORBIDDEN_KEY',
        `The model's ${kind} "${FORBIDDEN_NAME}" cannot be served: ONNX Runtime's Node binding loses a tensor of that name, and requests refuse that key. Rename it in the model.`,
        [`${kind}s`, FORBIDDEN_NAME],
      );
    }
  }
  checkDeclaredNames(metadata);
  if (features) {
    if (new Set(features).size !== features.length) {
      throw new ValidationError('DUPLICATE_FEATURE', 'Feature names must be unique.', ['metadata', 'features']);
    }
    const [only, ...others] = signature.inputs;
    if (only && others.length === 0 && only.shape.length === 2) {
      const width = only.shape[1] ?? null;
      if (!isDynamic(width) && width !== features.length) {
        throw new ValidationError(
          'FEATURES_MISMATCH',
          `The model's input "${excerpt(only.name)}" takes ${String(width)} columns, but ${features.length} features are declared.`,
          ['metadata', 'features'],
        );
      }
    } else {
      const names = signature.inputs.map((i) => i.name);
      const declared = new Set(features);
      const same = names.length === features.length && names.every((n) => declared.has(n));
      if (!same) {
        throw new ValidationError(
          'FEATURES_MISMATCH',
          `This model has inputs ${nameList(names)}; declare those as its features, or leave features out.`,
          ['metadata', 'features'],
        );
      }
    }
  }
  if (classLabels) {
    if (new Set(classLabels).size !== classLabels.length) {
      throw new ValidationError('DUPLICATE_CLASS_LABEL', 'Class labels must be unique.', ['metadata', 'classLabels']);
    }
    if (!signature.outputs.some((o) => holdsClassProbabilities(o, classLabels.length))) {
      throw new ValidationError(
        'CLASS_LABELS_MISMATCH',
        `${classLabels.length} class labels are declared, but no floating-point output of shape [N, ${classLabels.length}]${classLabels.length === 2 ? " (or [N, 1] or [N]: the second label's probability)" : ''} holds their probabilities.`,
        ['metadata', 'classLabels'],
      );
    }
  }
  checkOnlineFeatures(signature, metadata);
}
