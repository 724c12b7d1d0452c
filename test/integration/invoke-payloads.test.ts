/**
 * `npm run invoke` with Lambda's payloads (`local/invoke.ts`, `local/invoke-cli.ts`): an event
 * carrying a binary body as API Gateway sends it (`isBase64Encoded: true`), far larger than an
 * environment variable can hold, reaches the function whole; a binary answer is written to a file
 * as its bytes (`--out`) or shown by its size; events and results over Lambda's 6 MiB are refused
 * as Lambda refuses them. The function is a real bundle in a template of its own, run by the same
 * runner as the app's functions (`test/cdk/invoke.test.ts` runs the app's own bundles).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../../functions/core/codec/payload-limits.js';
import { describeResult, invoke, resultBody } from '../../local/invoke.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The function: answers the request body's bytes reversed, base64-encoded as a binary answer;
 * `?size=<n>` answers `n` bytes instead. Its headers say what it received.
 */
const ECHO = `
export const handler = async (event) => {
  const received = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  const size = Number(event.queryStringParameters?.size ?? -1);
  const bytes = size >= 0 ? Buffer.alloc(size, 3) : Buffer.from(received).reverse();
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/octet-stream', 'x-received-bytes': String(received.length), 'x-received-base64': String(event.isBase64Encoded) },
    body: bytes.toString('base64'),
    isBase64Encoded: true,
  };
};
`;

let dir: string;
let templateFile: string;
const INPUT = randomBytes(1_000_000);

/** An API Gateway proxy event for the binary form, with `body` as API Gateway sends it (base64). */
function binaryEvent(body: Buffer, query: Record<string, string> | null = null) {
  return {
    resource: '/v2/models/iris/infer',
    path: '/v2/models/iris/infer',
    httpMethod: 'POST',
    headers: { 'Content-Type': 'application/octet-stream', Accept: 'application/octet-stream', 'Inference-Header-Content-Length': '0' },
    multiValueHeaders: {
      'Content-Type': ['application/octet-stream'],
      Accept: ['application/octet-stream'],
      'Inference-Header-Content-Length': ['0'],
    },
    queryStringParameters: query,
    multiValueQueryStringParameters: query ? Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])) : null,
    pathParameters: null,
    stageVariables: null,
    requestContext: { requestId: 'req-invoke-binary', stage: 'prod', httpMethod: 'POST', resourcePath: '/v2/models/iris/infer' },
    body: body.toString('base64'),
    isBase64Encoded: true,
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'invoke-payloads-'));
  await mkdir(path.join(dir, 'asset.echo'));
  await writeFile(path.join(dir, 'asset.echo', 'index.mjs'), ECHO);
  templateFile = path.join(dir, 'Echo.template.json');
  await writeFile(
    templateFile,
    JSON.stringify({
      Resources: {
        EchoFunction: {
          Type: 'AWS::Lambda::Function',
          Metadata: { 'aws:cdk:path': 'Echo/Echo/Resource', 'aws:asset:path': 'asset.echo' },
          Properties: {
            Handler: 'index.handler',
            Runtime: 'nodejs22.x',
            Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps' } },
          },
        },
      },
    }),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `npm run invoke -- ...`, as a user runs it. */
function cli(args: readonly string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'local/invoke-cli.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

it('a 1 MB binary body (base64 in the event, far past what an environment variable holds) reaches the function whole', async () => {
  // Act
  const { result } = await invoke({ templateFile, functionName: 'echo', event: binaryEvent(INPUT), seedSampleModel: false });

  // Assess
  expect(result).toMatchObject({
    statusCode: 200,
    isBase64Encoded: true,
    headers: { 'x-received-bytes': String(INPUT.length), 'x-received-base64': 'true' },
  });
  expect(resultBody(result)?.equals(Buffer.from(INPUT).reverse())).toBe(true);
}, 60_000);

it('npm run invoke --out writes the binary answer as its bytes, and prints status, headers and size', async () => {
  // Prepare
  const eventFile = path.join(dir, 'event.json');
  const outFile = path.join(dir, 'answer.bin');
  await writeFile(eventFile, JSON.stringify(binaryEvent(INPUT)));

  // Act
  const run = await cli(['echo', '-e', eventFile, '-t', templateFile, '--out', outFile]);

  // Assess
  expect(run.code).toBe(0);
  expect((await readFile(outFile)).equals(Buffer.from(INPUT).reverse())).toBe(true);
  const printed = JSON.parse(run.out) as Record<string, unknown>;
  expect(printed).toEqual({
    statusCode: 200,
    headers: { 'content-type': 'application/octet-stream', 'x-received-bytes': String(INPUT.length), 'x-received-base64': 'true' },
    isBase64Encoded: true,
    bodyBytes: INPUT.length,
    bodyFile: outFile,
  });
}, 60_000);

it('without --out, a binary answer is shown by its size, not as base64 text, with a hint on stderr', async () => {
  const eventFile = path.join(dir, 'small-event.json');
  await writeFile(eventFile, JSON.stringify(binaryEvent(Buffer.from([0, 1, 2, 255]))));

  const run = await cli(['echo', '-e', eventFile, '-t', templateFile]);

  expect(run.code).toBe(0);
  expect(JSON.parse(run.out)).toMatchObject({ statusCode: 200, isBase64Encoded: true, bodyBytes: 4 });
  expect(run.out).not.toContain(Buffer.from([255, 2, 1, 0]).toString('base64'));
  expect(run.err).toContain('--out <file>');
}, 60_000);

it('a text answer prints as the result itself', () => {
  const result = { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
  expect(JSON.parse(describeResult(result))).toEqual(result);
  expect(resultBody(result)?.toString('utf8')).toBe('{"ok":true}');
  expect(resultBody('not a proxy result')).toBeUndefined();
});

it("an event over Lambda's 6 MiB is refused before the function runs, as Lambda refuses it", async () => {
  // 4.8 MB of bytes: under the limit raw, over it base64-encoded in the event.
  const event = binaryEvent(Buffer.alloc(4_800_000, 9));
  await expect(invoke({ templateFile, functionName: 'echo', event, seedSampleModel: false })).rejects.toThrow(
    new RegExp(`The event is \\d+ bytes as JSON, over Lambda's ${LAMBDA_SYNC_PAYLOAD_BYTES}-byte limit .*RequestEntityTooLargeException`),
  );
});

it("a result over Lambda's 6 MiB is an error (Lambda refuses it, API Gateway answers 502), not a result", async () => {
  const event = binaryEvent(Buffer.alloc(0), { size: String(4_800_000) });
  await expect(invoke({ templateFile, functionName: 'echo', event, seedSampleModel: false })).rejects.toThrow(
    /The function's result is \d+ bytes as JSON, over Lambda's 6291456-byte limit .*Function\.ResponseSizeTooLarge/,
  );
}, 60_000);
