/**
 * What a version declares about itself (features, class labels) checked against what the model
 * file really is (its signature as ONNX Runtime reads it). Used at registration and by the
 * signature gate.
 */
import { isDynamic } from './codec/decode.js';
import { ValidationError } from './errors.js';
import type { ModelMetadata, ModelSignature } from './model.js';

/**
 * The declared features must fit the model's inputs, and the class labels its probability
 * output: a mismatch here would serve wrong columns silently later.
 */
export function checkDeclarations(signature: ModelSignature, metadata: ModelMetadata): void {
  const { features, classLabels } = metadata;
  if (features) {
    if (new Set(features).size !== features.length) {
      throw new ValidationError('DUPLICATE_FEATURE', 'Feature names must be unique.', ['metadata', 'features']);
    }
    const [only, ...others] = signature.inputs;
    if (only && others.length === 0 && only.shape.length === 2) {
      const width = only.shape[1] ?? null;
      if (!isDynamic(width) && width !== features.length) {
        throw new ValidationError('FEATURES_MISMATCH', `The model's input "${only.name}" takes ${String(width)} columns, but ${features.length} features are declared.`, ['metadata', 'features']);
      }
    } else {
      const names = signature.inputs.map((i) => i.name);
      const same = names.length === features.length && names.every((n) => features.includes(n));
      if (!same) {
        throw new ValidationError('FEATURES_MISMATCH', `This model has inputs ${names.join(', ')}; declare those as its features, or leave features out.`, ['metadata', 'features']);
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
