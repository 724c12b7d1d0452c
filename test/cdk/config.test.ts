/**
 * The app config: cdk.json's default is valid, serves iris and holds a placeholder auth; every
 * bad config (endpoints or auth) fails synth (creating the app) with a message that names the
 * field. Nothing here bundles: a bad config stops before any construct is created.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServingApp } from '../../lib/app.js';
import { authorizerEnvironment } from '../../lib/jwt-authorizer.js';
import {
  batchLocations,
  CONFIG_CONTEXT_KEY,
  CONFIG_FILE_CONTEXT_KEY,
  DEFAULT_CONFIG,
  loadAppConfig,
  parseAppConfig,
  parseS3Location,
  PLACEHOLDER_AUTH_HOST,
} from '../../lib/config.js';
import { DEFAULT_METRICS_NAMESPACE } from '../../functions/core/observability.js';
import { cdkJsonContext, cdkOutdir } from './helpers.js';

/** Building the app (what `cdk synth` runs first) with this config in the context. */
function synthWith(config: unknown): () => void {
  return () => createServingApp({ nag: false, outdir: cdkOutdir(), context: { ...cdkJsonContext(), [CONFIG_CONTEXT_KEY]: config } });
}

const iris = { model: 'iris' };
const auth = { issuer: 'https://login.acme.test/', audience: 'onnx-serving', jwksUrl: 'https://login.acme.test/.well-known/jwks.json' };
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:onnx-serving/hs256-AbC123';
/** An EC P-256 public key (RFC 7517 appendix A.1). */
const EC_PUBLIC_KEY = {
  kty: 'EC',
  crv: 'P-256',
  x: 'MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4',
  y: '4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM',
  kid: '1',
};

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

  it('fills the documented defaults: arm64, 2048 MB, 1000 rows, alarms above a 5% failure rate (from 20 invocations) and 1000 ms p99, canary 10% for 5 minutes, drift every 60 minutes with the canary gate', () => {
    const [endpoint] = parseAppConfig({ endpoints: [iris], auth }).endpoints;
    expect(endpoint).toEqual({
      model: 'iris',
      memoryMb: 2048,
      architecture: 'arm64',
      maxRows: 1000,
      maxBodyBytes: 6_000_000,
      timeoutSeconds: 29,
      alarms: { errorRatePercent: 5, minInvocations: 20, p99LatencyMs: 1000, periodSeconds: 60, evaluationPeriods: 3 },
      release: { managed: 'canary', percent: 10, intervalMinutes: 5 },
      drift: { scheduleMinutes: 60, canaryGate: true },
      onlineFeatureTables: [],
    });
  });

  it('fills the observability defaults: namespace OnnxServing, INFO, no tracing; cdk.json states the same', () => {
    // Act
    const defaults = parseAppConfig({ endpoints: [iris], auth }).observability;
    const fromCdkJson = parseAppConfig(cdkJsonContext()[CONFIG_CONTEXT_KEY], 'cdk.json');

    // Assess
    expect(defaults).toEqual({ metricsNamespace: 'OnnxServing', logLevel: 'INFO', tracing: false });
    expect(defaults.metricsNamespace).toBe(DEFAULT_METRICS_NAMESPACE);
    expect(fromCdkJson.observability).toEqual(defaults);
    expect(fromCdkJson.endpoints[0]?.alarms).toEqual({
      errorRatePercent: 5,
      minInvocations: 20,
      p99LatencyMs: 1000,
      periodSeconds: 60,
      evaluationPeriods: 3,
    });
  });

  it('accepts a namespace with the characters CloudWatch allows, any log level, tracing on, and fractional or zero rates', () => {
    const config = parseAppConfig({
      endpoints: [
        { ...iris, alarms: { errorRatePercent: 0, minInvocations: 1 } },
        { model: 'wine', alarms: { errorRatePercent: 0.5 } },
      ],
      auth,
      observability: { metricsNamespace: 'Acme Corp/ML.serving-prod_2#eu:1', logLevel: 'DEBUG', tracing: true },
    });
    expect(config.observability).toEqual({ metricsNamespace: 'Acme Corp/ML.serving-prod_2#eu:1', logLevel: 'DEBUG', tracing: true });
    expect(config.endpoints.map((e) => [e.alarms.errorRatePercent, e.alarms.minInvocations])).toEqual([
      [0, 1],
      [0.5, 20],
    ]);
  });

  it('accepts x86_64, reserved and provisioned concurrency', () => {
    const [endpoint] = parseAppConfig({
      endpoints: [{ ...iris, architecture: 'x86_64', reservedConcurrency: 10, provisionedConcurrency: 2 }],
      auth,
    }).endpoints;
    expect(endpoint).toMatchObject({ architecture: 'x86_64', reservedConcurrency: 10, provisionedConcurrency: 2 });
  });
});

describe('a bad config fails synth with a message that names the field', () => {
  it.each<[string, unknown, RegExp]>([
    [
      'an unknown architecture',
      { endpoints: [{ ...iris, architecture: 'sparc' }] },
      /endpoints\[0\]\.architecture: unknown architecture "sparc"; Lambda offers arm64 or x86_64/,
    ],
    [
      'memory below 128 MB',
      { endpoints: [{ ...iris, memoryMb: 64 }] },
      /endpoints\[0\]\.memoryMb: 64 MB is outside Lambda's memory range, 128 to 10240 MB/,
    ],
    [
      'memory above 10240 MB',
      { endpoints: [iris, { model: 'big', memoryMb: 10_241 }] },
      /endpoints\[1\]\.memoryMb: 10241 MB is outside Lambda's memory range/,
    ],
    [
      'duplicate model names',
      { endpoints: [iris, { model: 'wine' }, { ...iris, memoryMb: 512 }] },
      /endpoints\[2\]\.model: duplicate model name "iris" \(also endpoints\[0\]\)/,
    ],
    ['a misspelt field', { endpoints: [{ ...iris, memroyMb: 512 }] }, /endpoints\[0\]\.memroyMb: unknown field/],
    [
      'an unknown release kind',
      { endpoints: [{ ...iris, release: { managed: 'bluegreen' } }] },
      /endpoints\[0\]\.release\.managed: must be "canary" or "linear"/,
    ],
    [
      'a release step of 100%',
      { endpoints: [{ ...iris, release: { percent: 100 } }] },
      /endpoints\[0\]\.release\.percent: a step moves 1 to 99 percent/,
    ],
    ['an invalid model name', { endpoints: [{ model: 'Iris!' }] }, /endpoints\[0\]\.model: model names are/],
    ['no endpoints', { endpoints: [] }, /endpoints: declare at least one endpoint/],
    [
      'more provisioned than reserved concurrency',
      { endpoints: [{ ...iris, reservedConcurrency: 1, provisionedConcurrency: 2 }] },
      /endpoints\[0\]\.provisionedConcurrency: 2 exceeds reservedConcurrency 1/,
    ],
    [
      'an alarm period that is not whole minutes',
      { endpoints: [{ ...iris, alarms: { periodSeconds: 90 } }] },
      /endpoints\[0\]\.alarms\.periodSeconds: must be a multiple of 60/,
    ],
    ['a log retention CloudWatch does not offer', { endpoints: [iris], logRetentionDays: 31 }, /logRetentionDays: CloudWatch Logs keeps/],
    [
      'the error count of earlier versions',
      { endpoints: [{ ...iris, alarms: { errors: 5 } }] },
      /endpoints\[0\]\.alarms\.errors: was replaced by errorRatePercent .* and minInvocations/,
    ],
    [
      'an error rate of 100%',
      { endpoints: [{ ...iris, alarms: { errorRatePercent: 100 } }] },
      /endpoints\[0\]\.alarms\.errorRatePercent: must be below 100 percent/,
    ],
    [
      'a negative error rate',
      { endpoints: [{ ...iris, alarms: { errorRatePercent: -1 } }] },
      /endpoints\[0\]\.alarms\.errorRatePercent: must be 0 \(any failure\) or more percent/,
    ],
    [
      'an error rate as text',
      { endpoints: [{ ...iris, alarms: { errorRatePercent: '5%' } }] },
      /endpoints\[0\]\.alarms\.errorRatePercent: must be a number of percent/,
    ],
    [
      'no minimum of invocations',
      { endpoints: [iris, { model: 'wine', alarms: { minInvocations: 0 } }] },
      /endpoints\[1\]\.alarms\.minInvocations: must be 1 or more invocations/,
    ],
    [
      'a fractional minimum of invocations',
      { endpoints: [{ ...iris, alarms: { minInvocations: 2.5 } }] },
      /endpoints\[0\]\.alarms\.minInvocations: must be a whole number of invocations/,
    ],
    [
      'a namespace reserved for AWS',
      { endpoints: [iris], observability: { metricsNamespace: 'AWS/Lambda' } },
      /observability\.metricsNamespace: namespaces starting with "AWS\/" are reserved/,
    ],
    [
      'a namespace with a character CloudWatch refuses',
      { endpoints: [iris], observability: { metricsNamespace: 'onnx|serving' } },
      /observability\.metricsNamespace: CloudWatch namespaces are 1-255 of letters/,
    ],
    [
      'an empty namespace',
      { endpoints: [iris], observability: { metricsNamespace: '' } },
      /observability\.metricsNamespace: CloudWatch namespaces are 1-255/,
    ],
    [
      'a blank namespace',
      { endpoints: [iris], observability: { metricsNamespace: '   ' } },
      /observability\.metricsNamespace: must hold at least one character that is not a space/,
    ],
    [
      'a namespace of 256 characters',
      { endpoints: [iris], observability: { metricsNamespace: 'n'.repeat(256) } },
      /observability\.metricsNamespace: CloudWatch namespaces are 1-255/,
    ],
    [
      'an unknown log level',
      { endpoints: [iris], observability: { logLevel: 'VERBOSE' } },
      /observability\.logLevel: must be one of DEBUG, INFO, WARN, ERROR, SILENT/,
    ],
    ['tracing as text', { endpoints: [iris], observability: { tracing: 'yes' } }, /observability\.tracing: must be true or false/],
    [
      'a misspelt observability field',
      { endpoints: [iris], observability: { namespace: 'Acme' } },
      /observability\.namespace: unknown field/,
    ],
  ])('%s', (_name, config, message) => {
    expect(synthWith({ auth, ...(config as object) })).toThrow(message);
  });

  it('lists every problem at once, under the name of where the config came from', () => {
    expect(synthWith({ endpoints: [{ ...iris, architecture: 'mips', memoryMb: 1 }, iris], auth })).toThrow(
      /^Invalid endpoint config \(context "onnxServing"\):\n {2}- endpoints\[0\]\.memoryMb: .*\n {2}- endpoints\[0\]\.architecture: .*\n {2}- endpoints\[1\]\.model: duplicate/,
    );
  });

  it('accepts the config as JSON text, as `cdk synth -c onnxServing=...` passes it', () => {
    const config = loadAppConfig({
      tryGetContext: (key) => (key === CONFIG_CONTEXT_KEY ? JSON.stringify({ endpoints: [{ model: 'wine' }], auth }) : undefined),
    });
    expect(config.endpoints.map((e) => e.model)).toEqual(['wine']);
    expect(() => loadAppConfig({ tryGetContext: (key) => (key === CONFIG_CONTEXT_KEY ? '{"endpoints": [' : undefined) })).toThrow(
      /is not valid JSON/,
    );
  });
});

describe('a config file named by the context', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'onnx-serving-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const fromFile = (config: unknown) => {
    const file = path.join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
    return loadAppConfig({ tryGetContext: (key) => (key === CONFIG_FILE_CONTEXT_KEY ? file : { endpoints: [iris], auth }) });
  };

  it('takes precedence over the context object', () => {
    expect(fromFile({ endpoints: [{ model: 'wine', architecture: 'x86_64' }], auth }).endpoints).toMatchObject([
      { model: 'wine', architecture: 'x86_64' },
    ]);
  });

  it("names the file in a bad config's message", () => {
    expect(() => fromFile({ endpoints: [{ model: 'wine', architecture: 'arm' }], auth })).toThrow(
      /Invalid endpoint config \(.*config-[a-z0-9]+\.json\):\n {2}- endpoints\[0\]\.architecture/,
    );
    expect(() =>
      loadAppConfig({ tryGetContext: (key) => (key === CONFIG_FILE_CONTEXT_KEY ? path.join(dir, 'missing.json') : undefined) }),
    ).toThrow(/Cannot read the endpoint config file .*missing\.json/);
  });
});

describe('auth', () => {
  const withAuth = (overrides: Record<string, unknown>, without: string[] = []) => {
    const merged: Record<string, unknown> = { ...auth, ...overrides };
    for (const field of without) delete merged[field];
    return { endpoints: [iris], auth: merged };
  };

  it("cdk.json's auth is the placeholder issuer, audience and JWKS URL (replace before deploying), cached 60 s, one default plan", () => {
    // Act
    const config = parseAppConfig(cdkJsonContext()[CONFIG_CONTEXT_KEY], 'cdk.json');

    // Assess
    expect(config.auth).toMatchObject({
      issuer: [`https://${PLACEHOLDER_AUTH_HOST}/`],
      audience: ['onnx-serving'],
      jwksUrl: `https://${PLACEHOLDER_AUTH_HOST}/.well-known/jwks.json`,
      cacheTtlSeconds: 60,
      usagePlans: [{ name: 'default', rateLimit: 50, burstLimit: 100 }],
    });
    expect(config.auth.usageKeyClaim).toBeUndefined();
    expect(parseAppConfig(DEFAULT_CONFIG).auth).toMatchObject({
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      jwksUrl: config.auth.jwksUrl,
    });
  });

  it('fills the defaults: cache 60 s, one plan "default" at 50 rps and bursts of 100, no usage-key claim', () => {
    expect(parseAppConfig(withAuth({})).auth).toEqual({
      issuer: [auth.issuer],
      audience: [auth.audience],
      jwksUrl: auth.jwksUrl,
      cacheTtlSeconds: 60,
      usagePlans: [{ name: 'default', rateLimit: 50, burstLimit: 100 }],
    });
  });

  it('maps every field onto the variable functions/authorizer/config.ts reads, HS256 turned on by the secret only', () => {
    // Prepare
    const config = parseAppConfig(
      withAuth(
        {
          issuer: ['https://a.acme.test/', 'https://b.acme.test/'],
          audience: ['api', 'onnx-serving'],
          publicKeys: { keys: [EC_PUBLIC_KEY] },
          algorithms: ['ES256', 'HS256'],
          hs256SecretArn: SECRET_ARN,
          clockToleranceSeconds: 30,
          maxTokenAgeSeconds: 3600,
          maxTokenLifetimeSeconds: 86_400,
          typ: 'at+jwt',
          scopePrefix: 'https://api.acme.test/',
          usageKeyClaim: 'api_key',
          cacheTtlSeconds: 0,
        },
        ['jwksUrl'],
      ),
    );

    // Act
    const env = authorizerEnvironment(config.auth);

    // Assess
    expect(env).toEqual({
      JWT_ISSUER: 'https://a.acme.test/,https://b.acme.test/',
      JWT_AUDIENCE: 'api,onnx-serving',
      JWT_PUBLIC_KEYS: JSON.stringify({ keys: [EC_PUBLIC_KEY] }),
      JWT_ALGORITHMS: 'ES256',
      JWT_HS256_SECRET_ARN: SECRET_ARN,
      JWT_CLOCK_TOLERANCE_SECONDS: '30',
      JWT_MAX_TOKEN_AGE_SECONDS: '3600',
      JWT_MAX_TOKEN_LIFETIME_SECONDS: '86400',
      JWT_TYP: 'at+jwt',
      JWT_SCOPE_PREFIX: 'https://api.acme.test/',
      AUTH_USAGE_KEY_CLAIM: 'api_key',
    });
    expect(config.auth.cacheTtlSeconds).toBe(0);
  });

  it('accepts an HS256-only issuer without public keys: the secret is the only key', () => {
    const config = parseAppConfig(withAuth({ algorithms: ['HS256'], hs256SecretArn: SECRET_ARN }, ['jwksUrl']));
    expect(authorizerEnvironment(config.auth)).toEqual({
      JWT_ISSUER: auth.issuer,
      JWT_AUDIENCE: auth.audience,
      JWT_HS256_SECRET_ARN: SECRET_ARN,
    });
  });

  it.each<[string, Record<string, unknown>, string[], RegExp]>([
    ['both jwksUrl and publicKeys', { publicKeys: { keys: [EC_PUBLIC_KEY] } }, [], /auth\.jwksUrl: give jwksUrl or publicKeys, not both/],
    ['neither jwksUrl nor publicKeys', {}, ['jwksUrl'], /auth\.jwksUrl: give the issuer's keys: jwksUrl \(https\) or publicKeys/],
    ['an http:// JWKS URL', { jwksUrl: 'http://login.acme.test/.well-known/jwks.json' }, [], /auth\.jwksUrl: must be an https URL/],
    ['a JWKS URL that is no URL', { jwksUrl: 'login.acme.test/jwks' }, [], /auth\.jwksUrl: must be a URL/],
    [
      'hs256SecretArn without HS256 in algorithms',
      { hs256SecretArn: SECRET_ARN },
      [],
      /auth\.hs256SecretArn: is only allowed when algorithms include HS256/,
    ],
    [
      'HS256 without hs256SecretArn',
      { algorithms: ['RS256', 'HS256'] },
      [],
      /auth\.hs256SecretArn: is required when algorithms include HS256/,
    ],
    [
      'a secret name instead of its complete ARN',
      { algorithms: ['HS256', 'ES256'], hs256SecretArn: 'onnx-serving/hs256' },
      [],
      /auth\.hs256SecretArn: must be the secret's complete ARN/,
    ],
    [
      'only HS256 but a JWKS URL too',
      { algorithms: ['HS256'], hs256SecretArn: SECRET_ARN },
      [],
      /auth\.algorithms: lists only HS256, so jwksUrl\/publicKeys would be unused/,
    ],
    [
      'an algorithm the authorizer does not offer',
      { algorithms: ['none'] },
      [],
      /auth\.algorithms\[0\]: "none" is not accepted; choose from RS256, ES256, EdDSA, HS256/,
    ],
    [
      'cacheTtlSeconds 4000',
      { cacheTtlSeconds: 4000 },
      [],
      /auth\.cacheTtlSeconds: API Gateway caches authorizer results for at most 3600 seconds/,
    ],
    ['a negative cacheTtlSeconds', { cacheTtlSeconds: -1 }, [], /auth\.cacheTtlSeconds: must be 0 \(no caching\) or more/],
    ['an issuer with a comma', { issuer: 'https://a.test/,https://b.test/' }, [], /auth\.issuer\[0\]: must not contain ","/],
    ['no audience', {}, ['audience'], /auth\.audience: is required: it must be a string or a list of strings/],
    ['an empty issuer list', { issuer: [] }, [], /auth\.issuer: give at least one value/],
    [
      'a private key among the public keys',
      { publicKeys: { keys: [{ ...EC_PUBLIC_KEY, d: 'secret' }] } },
      ['jwksUrl'],
      /auth\.publicKeys\.keys\[0\]: is a private key/,
    ],
    [
      'public keys too large for the environment',
      { publicKeys: { keys: Array.from({ length: 30 }, (_, i) => ({ ...EC_PUBLIC_KEY, kid: String(i) })) } },
      ['jwksUrl'],
      /auth\.publicKeys: is \d+ bytes as JSON; Lambda's environment holds 4 KB/,
    ],
    ['a clock tolerance above 300 s', { clockToleranceSeconds: 301 }, [], /auth\.clockToleranceSeconds/],
    [
      'two plans with one name',
      {
        usagePlans: [
          { name: 'gold', rateLimit: 1, burstLimit: 1 },
          { name: 'gold', rateLimit: 2, burstLimit: 2 },
        ],
      },
      [],
      /auth\.usagePlans\[1\]\.name: duplicate plan name "gold"/,
    ],
    ['no usage plan', { usagePlans: [] }, [], /auth\.usagePlans: declare at least one usage plan/],
    ['a misspelt field', { jwksURL: 'https://x.test/' }, [], /auth\.jwksURL: unknown field/],
  ])('%s fails synth naming the field', (_name, overrides, without, message) => {
    expect(synthWith(withAuth(overrides, without))).toThrow(message);
  });

  it('no auth at all fails synth: there is no unprotected API', () => {
    expect(synthWith({ endpoints: [iris] })).toThrow(/auth: required: the JWT issuer, audience and keys/);
  });
});

describe('batch jobs', () => {
  const inputs = ['s3://acme-scoring/iris/in/'];
  const outputs = ['s3://acme-scoring/iris/out/'];
  const withBatch = (batch: unknown, top: Record<string, unknown> = {}) => ({ endpoints: [{ ...iris, batch }], auth, ...top });

  it('fills the documented defaults: 2048 MB arm64 batches of at most 1000 rows in 60 s, 1024 MB steps, concurrency up to 100, jobs kept 90 days', () => {
    expect(parseAppConfig({ endpoints: [iris], auth }).batch).toEqual({
      memoryMb: 2048,
      architecture: 'arm64',
      timeoutSeconds: 60,
      maxRowsPerBatch: 1000,
      stepsMemoryMb: 1024,
      maxConcurrency: 100,
      jobTtlDays: 90,
    });
  });

  it("cdk.json's endpoint declares no batch locations: batch jobs are not deployed by default", () => {
    const config = parseAppConfig(cdkJsonContext()[CONFIG_CONTEXT_KEY], 'cdk.json');
    expect(config.endpoints[0]?.batch).toBeUndefined();
    expect(batchLocations(config)).toEqual({});
  });

  it("reads each model's locations, written in one form: a whole bucket as s3://bucket/", () => {
    // Act
    const config = parseAppConfig({
      endpoints: [
        { ...iris, batch: { inputs: ['s3://acme-scoring/iris/in/', 's3://acme-raw'], outputs: ['s3://acme-scoring/'] } },
        { model: 'wine' },
        { model: 'churn', batch: { inputs: ['s3://crm.exports.eu/daily/2026/'], outputs: ['s3://crm-scores/churn/'] } },
      ],
      auth,
    });

    // Assess
    expect(batchLocations(config)).toEqual({
      iris: { inputs: ['s3://acme-scoring/iris/in/', 's3://acme-raw/'], outputs: ['s3://acme-scoring/'] },
      churn: { inputs: ['s3://crm.exports.eu/daily/2026/'], outputs: ['s3://crm-scores/churn/'] },
    });
    expect(parseS3Location('s3://crm.exports.eu/daily/2026/')).toEqual({ bucket: 'crm.exports.eu', prefix: 'daily/2026/' });
    expect(parseS3Location('s3://acme-raw')).toEqual({ bucket: 'acme-raw', prefix: '' });
  });

  it('accepts sizes, architecture and limits within their ranges', () => {
    const config = parseAppConfig(
      withBatch(
        { inputs, outputs },
        {
          batch: {
            memoryMb: 4096,
            architecture: 'x86_64',
            timeoutSeconds: 70,
            maxRowsPerBatch: 5000,
            stepsMemoryMb: 512,
            maxConcurrency: 10_000,
            jobTtlDays: 7,
          },
        },
      ),
    );
    expect(config.batch).toEqual({
      memoryMb: 4096,
      architecture: 'x86_64',
      timeoutSeconds: 70,
      maxRowsPerBatch: 5000,
      stepsMemoryMb: 512,
      maxConcurrency: 10_000,
      jobTtlDays: 7,
    });
  });

  it.each<[string, unknown, Record<string, unknown>, RegExp]>([
    [
      'an http URL',
      { inputs: ['http://acme-scoring/iris/in/'], outputs },
      {},
      /endpoints\[0\]\.batch\.inputs\[0\]: "http:\/\/acme-scoring\/iris\/in\/" has the scheme "http:"; give an S3 location like s3:\/\/bucket\/prefix\//,
    ],
    [
      'an https URL of the bucket',
      { inputs, outputs: ['https://acme-scoring.s3.amazonaws.com/out/'] },
      {},
      /endpoints\[0\]\.batch\.outputs\[0\]: .* has the scheme "https:"/,
    ],
    [
      'no scheme',
      { inputs: ['acme-scoring/iris/in/'], outputs },
      {},
      /endpoints\[0\]\.batch\.inputs\[0\]: "acme-scoring\/iris\/in\/" is not a URI; give an S3 location like s3:\/\/bucket\/prefix\//,
    ],
    [
      'a wildcard key',
      { inputs: ['s3://acme-scoring/iris/*'], outputs },
      {},
      /endpoints\[0\]\.batch\.inputs\[0\]: "s3:\/\/acme-scoring\/iris\/\*" has a wildcard \("\*" or "\?"\); give a prefix ending in "\/"/,
    ],
    ['a bucket with a wildcard', { inputs, outputs: ['s3://acme-*/out/'] }, {}, /endpoints\[0\]\.batch\.outputs\[0\]: .* has a wildcard/],
    ['a whole bucket with a wildcard', { inputs: ['s3://acme-scoring/*'], outputs }, {}, /batch\.inputs\[0\]: .* has a wildcard/],
    ['a "?" wildcard', { inputs: ['s3://acme-scoring/iris/in?/'], outputs }, {}, /batch\.inputs\[0\]: .* has a wildcard/],
    [
      'a bucket name with capitals and "_"',
      { inputs: ['s3://Acme_Scoring/in/'], outputs },
      {},
      /batch\.inputs\[0\]: bucket "Acme_Scoring" is not an S3 bucket name: 3-63 of a-z, 0-9, "\." and "-"/,
    ],
    ['a bucket name of 2 characters', { inputs: ['s3://ab/in/'], outputs }, {}, /batch\.inputs\[0\]: bucket "ab" is not an S3 bucket name/],
    [
      'a bucket named like an IP address',
      { inputs: ['s3://10.0.0.1/in/'], outputs },
      {},
      /batch\.inputs\[0\]: bucket "10\.0\.0\.1" is not an S3 bucket name: it is formatted as an IP address/,
    ],
    [
      'a bucket with adjacent periods',
      { inputs, outputs: ['s3://acme..out/'] },
      {},
      /batch\.outputs\[0\]: bucket "acme\.\.out" is not an S3 bucket name: it has two adjacent periods/,
    ],
    [
      'a bucket with a reserved prefix',
      { inputs: ['s3://xn--acme/in/'], outputs },
      {},
      /batch\.inputs\[0\]: bucket "xn--acme" is not an S3 bucket name: the prefix "xn--" is reserved/,
    ],
    [
      'an access point alias',
      { inputs: ['s3://acme-ap-abc123-s3alias/in/'], outputs },
      {},
      /batch\.inputs\[0\]: .* the suffix "-s3alias" is reserved/,
    ],
    [
      'a prefix without its trailing "/"',
      { inputs: ['s3://acme-scoring/iris/in'], outputs },
      {},
      /batch\.inputs\[0\]: the prefix "iris\/in" must end with "\/" \(s3:\/\/acme-scoring\/iris\/in\/\), or be empty for the whole bucket/,
    ],
    [
      'an object key instead of a prefix',
      { inputs, outputs: ['s3://acme-scoring/out/results.jsonl'] },
      {},
      /batch\.outputs\[0\]: the prefix "out\/results\.jsonl" must end with "\/"/,
    ],
    [
      'an empty segment',
      { inputs: ['s3://acme-scoring/iris//in/'], outputs },
      {},
      /batch\.inputs\[0\]: the prefix "iris\/\/in\/" has an empty segment/,
    ],
    [
      'an IAM policy variable',
      { inputs: ['s3://acme-scoring/${aws:username}/'], outputs },
      {},
      /batch\.inputs\[0\]: the prefix .* has "\$\{", which IAM reads as a policy variable/,
    ],
    [
      'a location that is no string',
      { inputs: [42], outputs },
      {},
      /batch\.inputs\[0\]: must be an S3 location like "s3:\/\/bucket\/prefix\/"/,
    ],
    ['no inputs', { inputs: [], outputs }, {}, /endpoints\[0\]\.batch\.inputs: give at least one S3 location jobs may read/],
    [
      'no outputs field',
      { inputs },
      {},
      /endpoints\[0\]\.batch\.outputs: is required: it must be a list of S3 locations \("s3:\/\/bucket\/prefix\/"\) jobs may write/,
    ],
    [
      'one location instead of a list',
      { inputs: 's3://acme-scoring/iris/in/', outputs },
      {},
      /endpoints\[0\]\.batch\.inputs: must be a list of S3 locations/,
    ],
    [
      'eleven inputs',
      { inputs: Array.from({ length: 11 }, (_, i) => `s3://acme-scoring/in-${i}/`), outputs },
      {},
      /endpoints\[0\]\.batch\.inputs: give at most 10 locations/,
    ],
    ['a misspelt batch field', { inputs, outputs, output: outputs }, {}, /endpoints\[0\]\.batch\.output: unknown field/],
    [
      'a batch timeout whose retries would outlast the 300 s of an EXPRESS child',
      { inputs, outputs },
      { batch: { timeoutSeconds: 71 } },
      /batch\.timeoutSeconds: must be at most 70 seconds: each batch runs in an EXPRESS child execution/,
    ],
    [
      'a maxConcurrency above what Step Functions runs',
      { inputs, outputs },
      { batch: { maxConcurrency: 10_001 } },
      /batch\.maxConcurrency: Step Functions runs at most 10000 child executions/,
    ],
    ['no concurrency', { inputs, outputs }, { batch: { maxConcurrency: 0 } }, /batch\.maxConcurrency: must be 1 or more batches/],
    [
      'batch memory below 128 MB',
      { inputs, outputs },
      { batch: { memoryMb: 64 } },
      /batch\.memoryMb: 64 MB is outside Lambda's memory range/,
    ],
    [
      'steps memory above 10240 MB',
      { inputs, outputs },
      { batch: { stepsMemoryMb: 20_000 } },
      /batch\.stepsMemoryMb: 20000 MB is outside Lambda's memory range/,
    ],
    [
      'an unknown batch architecture',
      { inputs, outputs },
      { batch: { architecture: 'sparc' } },
      /batch\.architecture: unknown architecture "sparc"/,
    ],
    ['jobs kept 0 days', { inputs, outputs }, { batch: { jobTtlDays: 0 } }, /batch\.jobTtlDays: must be 1 or more days/],
    [
      'fractional rows per batch',
      { inputs, outputs },
      { batch: { maxRowsPerBatch: 2.5 } },
      /batch\.maxRowsPerBatch: must be a whole number of rows/,
    ],
    ['a misspelt top-level batch field', { inputs, outputs }, { batch: { maxConcurency: 5 } }, /batch\.maxConcurency: unknown field/],
  ])('%s fails synth naming the field', (_name, endpointBatch, top, message) => {
    expect(synthWith(withBatch(endpointBatch, top))).toThrow(message);
  });

  it("refuses locations whose JSON would not fit the control function's 4 KB environment", () => {
    // Prepare: ten endpoints, each with ten long input prefixes.
    const long = (model: string, i: number) => `s3://acme-scoring/${'deeply/nested/'.repeat(2)}${model}/input-${i}/`;
    const endpoints = Array.from({ length: 10 }, (_, e) => ({
      model: `m${e}`,
      batch: { inputs: Array.from({ length: 10 }, (_, i) => long(`m${e}`, i)), outputs },
    }));

    // Act, Assess
    expect(synthWith({ endpoints, auth })).toThrow(
      /endpoints: the endpoints' batch locations take \d+ bytes as JSON \(BATCH_LOCATIONS\); the control function's environment holds 4 KB in all/,
    );
  });

  it('a message quotes a long location only in part', () => {
    const uri = `http://acme-scoring/${'x'.repeat(500)}/`;
    expect(synthWith(withBatch({ inputs: [uri], outputs }))).toThrow(/"http:\/\/acme-scoring\/x{60}\.\.\."/);
  });
});
