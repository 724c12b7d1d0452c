/**
 * Declared class labels against a model's outputs (functions/core/declarations.ts): a registration
 * may declare labels for exactly the outputs the serving path reads as a classifier's
 * (codec/encode.ts `classifierView`), no fewer and no more.
 */
import { describe, expect, it } from '@jest/globals';
import { classifierView } from '../../functions/core/codec/encode.js';
import { checkDeclarations } from '../../functions/core/declarations.js';
import { ValidationError } from '../../functions/core/errors.js';
import type { ModelSignature, TensorSpec } from '../../functions/core/model.js';

const signature = (...outputs: TensorSpec[]): ModelSignature => ({
  inputs: [{ name: 'x', type: 'float32', shape: ['N', 4] }],
  outputs,
});

describe('class labels', () => {
  it.each<[string, TensorSpec, string[]]>([
    ['[N, 3] float32, three labels', { name: 'probabilities', type: 'float32', shape: ['N', 3] }, ['a', 'b', 'c']],
    ['[N, 3] float16, three labels', { name: 'probabilities', type: 'float16', shape: ['N', 3] }, ['a', 'b', 'c']],
    ['[N, 3] float64, three labels', { name: 'probabilities', type: 'float64', shape: ['N', 3] }, ['a', 'b', 'c']],
    ['[N, k] with k dynamic', { name: 'probabilities', type: 'float32', shape: ['N', 'k'] }, ['a', 'b', 'c', 'd']],
    ["[N, 1] with two labels: the second label's probability", { name: 'p', type: 'float32', shape: ['N', 1] }, ['no', 'yes']],
    ['[N] with two labels', { name: 'p', type: 'float32', shape: ['N'] }, ['no', 'yes']],
    ['[N] float16 with two labels', { name: 'p', type: 'float16', shape: ['N'] }, ['no', 'yes']],
  ])('are accepted for an output the serving path reads as probabilities: %s', (_, output, classLabels) => {
    // Act
    const check = () => checkDeclarations(signature(output), { classLabels });

    // Assess
    expect(check).not.toThrow();
    expect(classifierView(signature(output), { classLabels })?.probabilities).toBe(output.name);
  });

  it.each<[string, TensorSpec, string[]]>([
    ['[N, 1] with three labels', { name: 'p', type: 'float32', shape: ['N', 1] }, ['a', 'b', 'c']],
    ['[N] with three labels', { name: 'p', type: 'float32', shape: ['N'] }, ['a', 'b', 'c']],
    ['[N, 2] with three labels', { name: 'p', type: 'float32', shape: ['N', 2] }, ['a', 'b', 'c']],
    ['an integer output', { name: 'p', type: 'int64', shape: ['N', 3] }, ['a', 'b', 'c']],
    ['a rank-3 output', { name: 'p', type: 'float32', shape: ['N', 3, 1] }, ['a', 'b', 'c']],
  ])('are refused (CLASS_LABELS_MISMATCH) where no output can hold them: %s', (_, output, classLabels) => {
    // Act
    let error: unknown;
    try {
      checkDeclarations(signature(output), { classLabels });
    } catch (e) {
      error = e;
    }

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'CLASS_LABELS_MISMATCH' });
    expect(classifierView(signature(output), { classLabels })).toBeUndefined();
  });
});
