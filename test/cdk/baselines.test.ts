/**
 * The metrics gate on AWS: an endpoint's `baseline` reaches both places that promote (the control
 * plane and the post-traffic hook) as the same `METRIC_BASELINES`, and a bound without a limit
 * fails the synth naming the field.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { parseAppConfig } from '../../lib/config.js';
import { cdkJsonConfig, cdkJsonContext, synthesize } from './helpers.js';

it("gives the control plane and the post-traffic hook cdk.json's baselines, by model", () => {
  const { template } = synthesize(cdkJsonConfig());
  const expected = JSON.stringify({ iris: { accuracy: { min: 0.7 } } });
  const withBaselines = template.findResources('AWS::Lambda::Function', {
    Properties: { Environment: { Variables: Match.objectLike({ METRIC_BASELINES: expected }) } },
  });
  const described = Object.values(withBaselines).map((f) => String((f as { Properties: { Description?: string } }).Properties.Description));
  expect(described).toHaveLength(2);
  expect(described.some((d) => d.includes('control plane'))).toBe(true);
  expect(described.some((d) => d.includes('post-traffic hook'))).toBe(true);
  const context = cdkJsonContext()['onnxServing'] as { endpoints: { baseline?: unknown }[] };
  expect(context.endpoints[0]?.baseline).toEqual({ accuracy: { min: 0.7 } });
});

it('refuses a baseline bound with neither min nor max, naming the field', () => {
  const context = cdkJsonContext()['onnxServing'] as { endpoints: Record<string, unknown>[] };
  const bad = { ...context, endpoints: [{ ...context.endpoints[0], baseline: { accuracy: {} } }] };
  expect(() => parseAppConfig(bad)).toThrow(/endpoints\[0\]\.baseline\.accuracy: give min, max or both/);
});
