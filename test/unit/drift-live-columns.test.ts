/**
 * The captured records of a drift window as columns (`liveColumns`, functions/core/drift/service.ts):
 * values in record order, a column a record lacks counted missing for its rows, and a name
 * capture redacted in any record of the window left out whole, so a redaction added mid-window
 * never reads as missing values or new categories.
 */
import type { CaptureRecord } from '../../functions/core/capture.js';
import { liveColumns } from '../../functions/core/drift/service.js';
import type { ModelSignature } from '../../functions/core/model.js';

const SIGNATURE: ModelSignature = {
  inputs: [{ name: 'features', type: 'float32', shape: ['N', 3] }],
  outputs: [{ name: 'probabilities', type: 'float32', shape: ['N', 2] }],
};
const VERSION = { signature: SIGNATURE, metadata: { features: ['a', 'b', 'c'], classLabels: ['no', 'yes'] } };

function record(features: Record<string, unknown[]>, probabilities: number[], redaction?: CaptureRecord['redaction']): CaptureRecord {
  const rows = probabilities.length / 2;
  return {
    captureVersion: 1,
    requestId: 'r',
    model: 'm',
    modelVersion: '1',
    functionVersion: '$LATEST',
    timestamp: '2026-11-30T00:00:00.000Z',
    rows,
    capturedRows: rows,
    truncated: false,
    features,
    outputs: { probabilities: { datatype: 'FP32', shape: [rows, 2], data: probabilities } },
    ...(redaction ? { redaction } : {}),
  };
}

describe('liveColumns', () => {
  it("lines the records' values up as columns, a column a record lacks missing for its rows", () => {
    const live = liveColumns(
      [record({ a: [1, 2], c: [5, 6] }, [0.9, 0.1, 0.2, 0.8]), record({ a: [3], b: ['x'], c: [7] }, [0.4, 0.6])],
      VERSION,
    );

    expect(live.features).toEqual({ a: [1, 2, 3], c: [5, 6, 7], b: [undefined, undefined, 'x'] });
    expect(live.predictions).toEqual({
      label: ['no', 'yes', 'yes'],
      'probability[no]': [0.9, 0.2, 0.4],
      'probability[yes]': [0.1, 0.8, 0.6],
    });
    expect(live.redacted).toEqual({ dropped: [], hashed: [] });
  });

  it('leaves out whole a name redacted in any record of the window, outputs included', () => {
    // Prepare: records from before and after `a` was dropped and `b` hashed
    const before = record({ a: [1, 2], b: [10, 20], c: [5, 6] }, [0.9, 0.1, 0.2, 0.8]);
    const after = record({ b: ['sha256:00', 'sha256:11'], c: [7, 8] }, [0.4, 0.6, 0.3, 0.7], {
      dropped: ['a', 'probabilities'],
      hashed: ['b'],
    });

    // Act
    const live = liveColumns([before, after], VERSION);

    // Assess
    expect(live.features).toEqual({ c: [5, 6, 7, 8] });
    expect(live.predictions).toEqual({});
    expect(live.redacted).toEqual({ dropped: ['a', 'probabilities'], hashed: ['b'] });
  });
});
