/**
 * Cold-start harness, bundled next to the function's `index.mjs` and run by plain Node in a fresh
 * process: a minimal stand-in for the Lambda runtime. It loads ONNX Runtime (from the layer), then
 * the function, then serves one request and a second, and prints when each phase ended, in ms
 * since the process started. Phases inside the first request are told apart without touching the
 * function: the first HTTP request to the S3-compatible server (diagnostics channel) and ONNX
 * Runtime's `InferenceSession.create` and `run` (wrapped on the shared class).
 *
 * Then, with BENCH_WARM=N, N more requests back to back: their latencies and the process's CPU
 * time over them (background prediction-log writes included). With BENCH_TRACE_ROOT set, each
 * invocation gets a fresh sampled `_X_AMZN_TRACE_ID`, as the Lambda runtime sets one per
 * invocation of a traced function.
 */
import { channel } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { lambdaContext, predictEvent } from '../lib/events.js';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
type AsyncMethod = (this: unknown, ...args: unknown[]) => Promise<unknown>;

const bootstrap = performance.now();
const model = process.env.BENCH_MODEL ?? '';
const body = process.env.BENCH_BODY ?? '';
const s3Host = new URL(process.env.AWS_ENDPOINT_URL_S3 ?? 'http://127.0.0.1').host;
const warmRequests = Number(process.env.BENCH_WARM ?? 0);
const traceRoot = process.env.BENCH_TRACE_ROOT;

let invocation = 0;
/** The trace header the Lambda runtime would set for the next invocation (sampled). */
function nextInvocation(): void {
  invocation++;
  if (!traceRoot) return;
  const hex = (n: number, width: number) => n.toString(16).padStart(width, '0').slice(-width);
  process.env._X_AMZN_TRACE_ID = `Root=${traceRoot}${hex(invocation, 8)};Parent=${hex(invocation, 16)};Sampled=1`;
}

let s3RequestAt: number | undefined;
channel('http.client.request.start').subscribe((message) => {
  const { request } = message as { request: ClientRequest };
  if (s3RequestAt === undefined && request.getHeader('host') === s3Host) s3RequestAt = performance.now();
});

const ort = (await import('onnxruntime-node')) as unknown as {
  InferenceSession: { create: AsyncMethod; prototype: { run: AsyncMethod } };
};
const runtimeLoaded = performance.now();

const session = ort.InferenceSession;
const create = session.create;
let createdFrom: number | undefined;
let createdAt: number | undefined;
session.create = async function (this: unknown, ...args: unknown[]) {
  createdFrom ??= performance.now();
  const created = await create.apply(this, args);
  createdAt ??= performance.now();
  return created;
};
const run = session.prototype.run;
let firstRunMs: number | undefined;
session.prototype.run = async function (this: unknown, ...args: unknown[]) {
  const from = performance.now();
  const result = await run.apply(this, args);
  firstRunMs ??= performance.now() - from;
  return result;
};

// The function sits next to this file once bundled; a variable keeps esbuild from bundling it in.
const functionModule = './index.mjs';
const { handler } = (await import(functionModule)) as { handler: Handler };
const moduleLoaded = performance.now();

nextInvocation();
const first = await handler(predictEvent(model, body), lambdaContext());
const firstResponse = performance.now();
nextInvocation();
const second = await handler(predictEvent(model, body), lambdaContext());
const secondMs = performance.now() - firstResponse;

if (first.statusCode !== 200 || second.statusCode !== 200) {
  process.stderr.write(`cold start: status ${first.statusCode}/${second.statusCode}: ${first.body.slice(0, 500)}\n`);
  process.exit(1);
}

const warmMs: number[] = [];
const cpuBefore = process.cpuUsage();
for (let i = 0; i < warmRequests; i++) {
  nextInvocation();
  const from = performance.now();
  const warm = await handler(predictEvent(model, body), lambdaContext());
  warmMs.push(performance.now() - from);
  if (warm.statusCode !== 200) {
    process.stderr.write(`warm request: status ${warm.statusCode}: ${warm.body.slice(0, 500)}\n`);
    process.exit(1);
  }
}
const cpu = process.cpuUsage(cpuBefore);
const warmCpuMs = warmRequests > 0 ? (cpu.user + cpu.system) / 1000 / warmRequests : 0;
const fetchFrom = s3RequestAt ?? moduleLoaded;
const createFrom = createdFrom ?? fetchFrom;
const createTo = createdAt ?? createFrom;
const phases = {
  bootstrap,
  runtimeLoad: runtimeLoaded - bootstrap,
  moduleLoad: moduleLoaded - runtimeLoaded,
  registry: fetchFrom - moduleLoaded,
  artifactFetch: createFrom - fetchFrom,
  sessionCreate: createTo - createFrom,
  firstRun: firstRunMs ?? 0,
  rest: firstResponse - createTo - (firstRunMs ?? 0),
};
process.stdout.write(`${JSON.stringify({ total: firstResponse, phases, secondMs, warmMs, warmCpuMs, requests: invocation })}\n`);
// The SDK keeps sockets open; a Lambda sandbox would be frozen here.
process.exit(0);
