/**
 * The bundled functions, as `cdk synth` writes them to cdk.out, run in a fresh Node process on the
 * ready events from `events/`, with the template's environment pointed at the local servers: what
 * `sam local invoke` does, without Docker.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findFunction, invoke, resolveEnvironment } from '../../local/invoke.js';
import { createServingApp } from '../../lib/app.js';
import { bundlingQuietly, cdkJsonConfig, cdkJsonContext } from './helpers.js';
import { CONFIG_CONTEXT_KEY } from '../../lib/config.js';

let outdir: string;
let templateFile: string;

beforeAll(async () => {
  outdir = await mkdtemp(path.join(os.tmpdir(), 'invoke-cdk-out-'));
  // cdk.json's app, with an identity provider in place of its placeholder (which warns at synth).
  const { built: stack, bundled } = bundlingQuietly(() => {
    const { app, stack } = createServingApp({
      context: { ...cdkJsonContext(), [CONFIG_CONTEXT_KEY]: cdkJsonConfig() },
      outdir,
      nag: false,
    });
    app.synth();
    return stack;
  });
  // The functions run below were bundled by this synth.
  expect(bundled).toEqual(
    expect.arrayContaining(['OnnxServing/EndpointIris/Predict/Function/Code/Stage', 'OnnxServing/Authorizer/Jwt/Function/Code/Stage']),
  );
  templateFile = path.join(outdir, `${stack.stackName}.template.json`);
}, 120_000);

afterAll(async () => {
  await rm(outdir, { recursive: true, force: true });
});

async function event(name: string): Promise<unknown> {
  return JSON.parse(await readFile(path.join('events', name), 'utf8')) as unknown;
}

it('runs the bundled predict function on events/predict-iris.json and gets the right prediction', async () => {
  const { result, logs } = await invoke({ templateFile, functionName: 'iris', event: await event('predict-iris.json') });

  const response = result as { statusCode: number; body: string };
  expect(response.statusCode).toBe(200);
  const body = JSON.parse(response.body) as { model: string; modelVersion: string; predictions: { label: string }[] };
  expect(body).toMatchObject({ model: 'iris', modelVersion: '1' });
  expect(body.predictions[0]?.label).toBe('setosa');
  // The log item reached the (local) prediction-log table: no fallback line.
  expect(logs).not.toContain('prediction log write failed');
}, 60_000);

it('runs the bundled predict function on a 1 MB event whose body is base64 (isBase64Encoded), passed whole, not through the environment', async () => {
  // Prepare: predict-iris.json with its body base64-encoded and padded with 1 MB of JSON whitespace.
  const base = (await event('predict-iris.json')) as { body: string };
  const body = Buffer.from(`${base.body}${' '.repeat(1_000_000)}`, 'utf8').toString('base64');

  // Act
  const { result } = await invoke({ templateFile, functionName: 'iris', event: { ...base, body, isBase64Encoded: true } });

  // Assess
  const response = result as { statusCode: number; body: string };
  expect(response.statusCode).toBe(200);
  expect((JSON.parse(response.body) as { predictions: { label: string }[] }).predictions[0]?.label).toBe('setosa');
}, 60_000);

it('runs the bundled control function on events/control-list-models.json', async () => {
  const { result } = await invoke({ templateFile, functionName: 'control', event: await event('control-list-models.json') });
  const response = result as { statusCode: number; body: string };
  expect(response.statusCode).toBe(200);
  expect((JSON.parse(response.body) as { models: { model: string }[] }).models.map((m) => m.model)).toEqual(['iris']);
}, 60_000);

it('runs the bundled authorizer on a request without a token: it throws Unauthorized (API Gateway answers 401)', async () => {
  // Prepare: the REQUEST authorizer event API Gateway sends for a predict call without Authorization.
  const authorizerEvent = {
    type: 'REQUEST',
    methodArn: 'arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/POST/v1/models/iris/predict',
    resource: '/v1/models/iris/predict',
    path: '/v1/models/iris/predict',
    httpMethod: 'POST',
    headers: { 'Content-Type': 'application/json' },
    multiValueHeaders: { 'Content-Type': ['application/json'] },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: {},
    stageVariables: null,
    requestContext: { requestId: 'req-invoke-1', stage: 'prod', httpMethod: 'POST', resourcePath: '/v1/models/iris/predict' },
  };

  // Act
  const run = invoke({ templateFile, functionName: 'authorizer', event: authorizerEvent, seedSampleModel: false });

  // Assess: Lambda's way of answering 401 is an error whose message is exactly "Unauthorized";
  // the reason goes to the log (the runner prints the error and exits non-zero).
  await expect(run).rejects.toThrow(/exited with code 1[\s\S]*token rejected[\s\S]*Unauthorized/);
}, 60_000);

it('takes the environment from the template, and names what it cannot resolve', () => {
  const fn = findFunction(templateFile, 'iris');
  const env = resolveEnvironment(fn.environment);
  expect(env).toMatchObject({ SERVED_MODEL: 'iris', MAX_ROWS: '1000' });
  expect(env['REGISTRY_TABLE']).toMatch(/^[a-z0-9]+$/);
  // The payload bucket, created in the embedded S3 before the function runs.
  expect(env['PAYLOAD_BUCKET']).toMatch(/^payloadsbucket[a-z0-9]+$/);
  expect(() => resolveEnvironment({ ARN: { 'Fn::GetAtt': ['X', 'Arn'] } })).toThrow(/ARN/);
  expect(() => findFunction(templateFile, 'no-such-function')).toThrow(/No function .* matches "no-such-function"/);
});
