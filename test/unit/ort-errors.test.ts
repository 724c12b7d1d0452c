/**
 * publicOrtReason on ONNX Runtime's text shapes (the real ones are produced from built models in
 * test/integration/onnx-runtime.test.ts): source references, C++ signatures, failed conditions
 * and stack traces never reach a caller; ORT's words about the model do, bounded.
 */
import { describe, expect, it } from '@jest/globals';
import { MAX_PUBLIC_REASON, publicOrtReason } from '../../functions/adapters/ort-errors.js';

const INTERNALS = /onnxruntime_src|\.(?:h|cc|cpp|hpp)\b:?\d*|::|was false|Stacktrace/;

describe('publicOrtReason', () => {
  it.each([
    [
      'an ORT_ENFORCE with a templated signature and [with …]',
      'Exception during initialization: /onnxruntime_src/onnxruntime/core/providers/cpu/ml/tree_ensemble_attribute.h:83 onnxruntime::ml::detail::TreeEnsembleAttributesV3<ThresholdType>::TreeEnsembleAttributesV3(const onnxruntime::OpKernelInfo&, bool) [with ThresholdType = float] nodes_falsenodeids.size() == nodes_nodeids.size() was false. nodes_falsenodeids and nodes_nodeids must have the same size, got 0 and 1\n',
      'Exception during initialization: nodes_falsenodeids and nodes_nodeids must have the same size, got 0 and 1',
    ],
    [
      'an ORT_THROW with a return type and std:: parameters',
      '/onnxruntime_src/onnxruntime/core/graph/model_load_utils.h:46 void onnxruntime::model_load_utils::ValidateOpsetForDomain(const std::unordered_map<std::__cxx11::basic_string<char>, int>&, const onnxruntime::logging::Logger&, bool, const std::string&, int) Opset 99 is under development.',
      'Opset 99 is under development.',
    ],
    [
      'a run failure inside a node, with a const method and operator()',
      "Non-zero status code returned while running Reshape node. Name:'Reshape_0' Status Message: /onnxruntime_src/onnxruntime/core/framework/op_kernel.cc:91 virtual onnxruntime::common::Status onnxruntime::Foo::operator()(onnxruntime::OpKernelContext*) const The input tensor cannot be reshaped.",
      "Non-zero status code returned while running Reshape node. Name:'Reshape_0' Status Message: The input tensor cannot be reshaped.",
    ],
    [
      'a bare file name and line, and a stack trace',
      '[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : inference_session.cc:3106 Load model failed\nStacktrace:\n/onnxruntime_src/a.cc:1 f()\n',
      '[ONNXRuntimeError]: 2: INVALID_ARGUMENT: Load model failed',
    ],
  ])('%s', (_what, text, kept) => {
    const reason = publicOrtReason(new Error(text));
    expect(reason.public).toBe(`${kept} (reference ${reason.reference}; the full text is in the service's log)`);
    expect(reason.public).not.toMatch(INTERNALS);
    expect(reason.detail).toBe(text);
  });

  it('gives a generic reason when nothing but internals is left, still without them', () => {
    const reason = publicOrtReason(
      new Error(
        'Exception during initialization: /onnxruntime_src/x/deep_cpu_gru.h:49 onnxruntime::DeepCpuGruOp::DeepCpuGruOp(const onnxruntime::OpKernelInfo&) a.size() == 2 was false. \n',
      ),
    );
    expect(reason.public).toMatch(
      /^Exception during initialization: an operator's attributes or weights are not consistent with each other/,
    );
    expect(reason.public).not.toMatch(INTERNALS);
  });

  it('leaves a text without internals as it is, without a reference', () => {
    const text = 'Node (MatMul_0) Op (MatMul) [ShapeInferenceError] Incompatible dimensions for matrix multiplication';
    expect(publicOrtReason(new Error(text)).public).toBe(text);
  });

  it('bounds what it keeps (a model may carry long names)', () => {
    const reason = publicOrtReason(new Error(`No Op registered for ${'X'.repeat(1_000_000)}`));
    expect(reason.public.length).toBeLessThan(MAX_PUBLIC_REASON + 100);
  });

  it('gives the same reference for the same text, so a log search finds it', () => {
    expect(publicOrtReason('a.cc:1 x').reference).toBe(publicOrtReason('a.cc:1 x').reference);
    expect(publicOrtReason('a.cc:1 x').reference).not.toBe(publicOrtReason('a.cc:2 x').reference);
  });
});
