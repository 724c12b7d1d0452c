/**
 * The endpoint config: cdk.json's default is valid and serves iris; every bad config fails synth
 * (creating the app) with a message that names the field. Nothing here bundles: a bad config
 * stops before any construct is created.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServingApp } from '../../lib/app.js';
import { CONFIG_CONTEXT_KEY, CONFIG_FILE_CONTEXT_KEY, DEFAULT_CONFIG, loadAppConfig, parseAppConfig } from '../../lib/config.js';
import { cdkJsonContext } from './helpers.js';

/** Building the app (what `cdk synth` runs first) with this config in the context. */
function synthWith(config: unknown): () => void {
  return () => createServingApp({ nag: false, context: { ...cdkJsonContext(), [CONFIG_CONTEXT_KEY]: config } });
}

const iris = { model: 'iris' };

describe('the default config', () => {
  it("cdk.json's config is valid and declares one arm64 endpoint for the sample model iris", () => {
    // Act
    const config = parseAppConfig(cdkJsonContext()[CONFIG_CONTEXT_KEY], 'cdk.json');

    // Assess
    expect(config.endpoints).toHaveLength(1);
    expect(config.endpoints[0]).toMatchObject({ model: 'iris', architecture: 'arm64', memoryMb: 2048, maxRows: 1000 });
  });

  it('without any config in the context, the app falls back to the same iris endpoint', () => {
    const config = loadAppConfig({ tryGetContext: () => undefined });
    expect(config).toEqual(parseAppConfig(DEFAULT_CONFIG));
    expect(config.endpoints.map((e) => e.model)).toEqual(['iris']);
  });

  it('fills the documented defaults: arm64, 2048 MB, 1000 rows, alarms on 5 errors and 1000 ms p99', () => {
    const [endpoint] = parseAppConfig({ endpoints: [iris] }).endpoints;
    expect(endpoint).toEqual({
      model: 'iris',
      memoryMb: 2048,
      architecture: 'arm64',
      maxRows: 1000,
      maxBodyBytes: 6_000_000,
      timeoutSeconds: 29,
      alarms: { errors: 5, p99LatencyMs: 1000, periodSeconds: 60, evaluationPeriods: 3 },
    });
  });

  it('accepts x86_64, reserved and provisioned concurrency', () => {
    const [endpoint] = parseAppConfig({ endpoints: [{ ...iris, architecture: 'x86_64', reservedConcurrency: 10, provisionedConcurrency: 2 }] }).endpoints;
    expect(endpoint).toMatchObject({ architecture: 'x86_64', reservedConcurrency: 10, provisionedConcurrency: 2 });
  });
});

describe('a bad config fails synth with a message that names the field', () => {
  it.each<[string, unknown, RegExp]>([
    ['an unknown architecture', { endpoints: [{ ...iris, architecture: 'sparc' }] }, /endpoints\[0\]\.architecture: unknown architecture "sparc"; Lambda offers arm64 or x86_64/],
    ['memory below 128 MB', { endpoints: [{ ...iris, memoryMb: 64 }] }, /endpoints\[0\]\.memoryMb: 64 MB is outside Lambda's memory range, 128 to 10240 MB/],
    ['memory above 10240 MB', { endpoints: [iris, { model: 'big', memoryMb: 10_241 }] }, /endpoints\[1\]\.memoryMb: 10241 MB is outside Lambda's memory range/],
    ['duplicate model names', { endpoints: [iris, { model: 'wine' }, { ...iris, memoryMb: 512 }] }, /endpoints\[2\]\.model: duplicate model name "iris" \(also endpoints\[0\]\)/],
    ['a misspelt field', { endpoints: [{ ...iris, memroyMb: 512 }] }, /endpoints\[0\]\.memroyMb: unknown field/],
    ['an invalid model name', { endpoints: [{ model: 'Iris!' }] }, /endpoints\[0\]\.model: model names are/],
    ['no endpoints', { endpoints: [] }, /endpoints: declare at least one endpoint/],
    ['more provisioned than reserved concurrency', { endpoints: [{ ...iris, reservedConcurrency: 1, provisionedConcurrency: 2 }] }, /endpoints\[0\]\.provisionedConcurrency: 2 exceeds reservedConcurrency 1/],
    ['an alarm period that is not whole minutes', { endpoints: [{ ...iris, alarms: { periodSeconds: 90 } }] }, /endpoints\[0\]\.alarms\.periodSeconds: must be a multiple of 60/],
    ['a log retention CloudWatch does not offer', { endpoints: [iris], logRetentionDays: 31 }, /logRetentionDays: CloudWatch Logs keeps/],
  ])('%s', (_name, config, message) => {
    expect(synthWith(config)).toThrow(message);
  });

  it('lists every problem at once, under the name of where the config came from', () => {
    expect(synthWith({ endpoints: [{ ...iris, architecture: 'mips', memoryMb: 1 }, iris] })).toThrow(
      /^Invalid endpoint config \(context "onnxServing"\):\n {2}- endpoints\[0\]\.memoryMb: .*\n {2}- endpoints\[0\]\.architecture: .*\n {2}- endpoints\[1\]\.model: duplicate/,
    );
  });

  it('accepts the config as JSON text, as `cdk synth -c onnxServing=...` passes it', () => {
    const config = loadAppConfig({ tryGetContext: (key) => (key === CONFIG_CONTEXT_KEY ? JSON.stringify({ endpoints: [{ model: 'wine' }] }) : undefined) });
    expect(config.endpoints.map((e) => e.model)).toEqual(['wine']);
    expect(() => loadAppConfig({ tryGetContext: (key) => (key === CONFIG_CONTEXT_KEY ? '{"endpoints": [' : undefined) })).toThrow(/is not valid JSON/);
  });
});

describe('a config file named by the context', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'onnx-serving-config-'));
  const fromFile = (config: unknown) => {
    const file = path.join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
    return loadAppConfig({ tryGetContext: (key) => (key === CONFIG_FILE_CONTEXT_KEY ? file : { endpoints: [iris] }) });
  };

  it('takes precedence over the context object', () => {
    expect(fromFile({ endpoints: [{ model: 'wine', architecture: 'x86_64' }] }).endpoints).toMatchObject([{ model: 'wine', architecture: 'x86_64' }]);
  });

  it("names the file in a bad config's message", () => {
    expect(() => fromFile({ endpoints: [{ model: 'wine', architecture: 'arm' }] })).toThrow(/Invalid endpoint config \(.*config-[a-z0-9]+\.json\):\n {2}- endpoints\[0\]\.architecture/);
    expect(() => loadAppConfig({ tryGetContext: (key) => (key === CONFIG_FILE_CONTEXT_KEY ? path.join(dir, 'missing.json') : undefined) })).toThrow(/Cannot read the endpoint config file .*missing\.json/);
  });
});
