/**
 * What a version declares about itself (features, class labels) checked against what the model
 * file really is (its signature as ONNX Runtime reads it). Used at registration and by the
 * signature gate.
 */
import { isDynamic } from './codec/decode.js';
import { excerpt, nameList } from './codec/limits.js';
import { ValidationError } from './errors.js';
import type { ModelMetadata, ModelSignature } from './model.js';

/**
 * The one name no input, output or feature may have. Requests refuse the key `__proto__`
 * anywhere (400 `FORBIDDEN_KEY`), so no record could carry such a feature or input, and ONNX
 * Runtime's Node binding loses a tensor of that name (its feeds and results are plain objects,
 * where `__proto__` is the prototype, not a key).
 */
const FORBIDDEN_NAME = '__proto__';

/**
 * The declared features must fit the model's inputs, and the class labels its probability
 * output: a mismatch here would serve wrong columns silently later. No input, output or
 * feature may be named `__proto__` (400 `FORBIDDEN_KEY`).
 */
export function checkDeclarations(signature: ModelSignature, metadata: ModelMetadata): void {
  const { features, classLabels } = metadata;
  for (const [kind, specs] of [['input', signature.inputs], ['output', signature.outputs]] as const) {
    if (specs.some((s) => s.name === FORBIDDEN_NAME)) {
      throw new ValidationError('FORBIDDEN_KEY', `The model's ${kind} "${FORBIDDEN_NAME}" cannot be served: ONNX Runtime's Node binding loses a tensor of that name, and requests refuse that key. Rename it in the model.`, [`${kind}s`, FORBIDDEN_NAME]);
    }
  }
  if (features) {
    const forbidden = features.indexOf(FORBIDDEN_NAME);
    if (forbidden >= 0) {
      throw new ValidationError('FORBIDDEN_KEY', `A feature cannot be named "${FORBIDDEN_NAME}": requests refuse that key, so no record could carry it. Rename the feature.`, ['metadata', 'features', forbidden]);
    }
    if (new Set(features).size !== features.length) {
      throw new ValidationError('DUPLICATE_FEATURE', 'Feature names must be unique.', ['metadata', 'features']);
    }
    const [only, ...others] = signature.inputs;
    if (only && others.length === 0 && only.shape.length === 2) {
      const width = only.shape[1] ?? null;
      if (!isDynamic(width) && width !== features.length) {
        throw new ValidationError('FEATURES_MISMATCH', `The model's input "${excerpt(only.name)}" takes ${String(width)} columns, but ${features.length} features are declared.`, ['metadata', 'features']);
      }
    } else {
      const names = signature.inputs.map((i) => i.name);
      const declared = new Set(features);
      const same = names.length === features.length && names.every((n) => declared.has(n));
      if (!same) {
        throw new ValidationError('FEATURES_MISMATCH', `This model has inputs ${nameList(names)}; declare those as its features, or leave features out.`, ['metadata', 'features']);
      }
    }
  }
  if (classLabels) {
    if (new Set(classLabels).size !== classLabels.length) {
      throw new ValidationError('DUPLICATE_CLASS_LABEL', 'Class labels must be unique.', ['metadata', 'classLabels']);
    }
    const fixedWidths = signature.outputs
      .filter((o) => (o.type === 'float32' || o.type === 'float64') && o.shape.length === 2)
      .map((o) => o.shape[1] ?? null);
    const fits = fixedWidths.some((w) => isDynamic(w) || w === classLabels.length);
    if (!fits) {
      throw new ValidationError('CLASS_LABELS_MISMATCH', `${classLabels.length} class labels are declared, but no floating-point output of shape [N, ${classLabels.length}] holds their probabilities.`, ['metadata', 'classLabels']);
    }
  }
}
