/**
 * 8. Hostile bodies: what a request built to be expensive costs the predict handler, against the
 * one cost no handler can avoid, `JSON.parse` of the same bytes (for a compressed body, of a
 * body of the size the inflating stops at). Each body is just under the function's body limit
 * (`MAX_BODY_BYTES`, 6,000,000 by default) and each must be refused with its stable code: the
 * figure says whether the handler refuses it after the cheap checks (a ratio near 1) or walks,
 * parses or echoes it first (a ratio of several). The handler is synchronous code on one event
 * loop, so its time is the time every other request on that process waits.
 */
import { gzipSync } from 'node:zlib';
import type { Context } from 'aws-lambda';
import { defaultIntraOpThreads } from '../functions/adapters/onnx-runtime.js';
import type { HttpHandler } from '../functions/shared/http.js';
import { int64Model, stringInputModel } from '../test/fixtures/models.js';
import type { BenchContext } from './lib/context.js';
import { DiscardingLog, inProcessPredict, lambdaContext, predictEvent } from './lib/in-process.js';
import { benchModel } from './lib/models.js';
import { precise, sampleInBlocks, summarize } from './lib/stats.js';
import type { HostileCase, HostileResult } from './results.js';

/** Bytes each hostile body is built up to: under the default 6,000,000-byte limit with room for the envelope. */
const BODY_BYTES = 5_800_000;

interface Body {
  readonly id: string;
  readonly description: string;
  readonly model: string;
  readonly path: string;
  /** The body as sent: JSON text, or base64 of compressed bytes. */
  readonly body: string;
  readonly encoding?: 'gzip';
  /** The text `JSON.parse` is timed on as the baseline. */
  readonly baseline: string;
  readonly status: number;
  readonly code: string;
}

/** `unit` repeated up to `bytes` characters, joined by `separator`, inside `open`…`close`. */
function fill(open: string, unit: string, separator: string, close: string, bytes = BODY_BYTES): string {
  const count = Math.floor((bytes - open.length - close.length) / (unit.length + separator.length));
  return `${open}${Array.from({ length: count }, () => unit).join(separator)}${close}`;
}

/** `{"features": {<the model's>, "f00000": 1, "f00001": 1, …}}`: distinct unknown names up to the body size. */
function manyKeys(known: Readonly<Record<string, number>>): string {
  const count = Math.floor((BODY_BYTES - 200) / '"f00000":1,'.length);
  return `{"features":{${JSON.stringify(known).slice(1, -1)},${Array.from({ length: count }, (_, i) => `"f${i.toString(36).padStart(5, '0')}":1`).join(',')}}}`;
}

function bodies(): Body[] {
  const iris = benchModel('iris');
  const good = Object.fromEntries(iris.features.map((name) => [name, 1.5]));
  const plain = (b: Omit<Body, 'baseline' | 'path'> & { path?: string }): Body => ({ path: 'predict', ...b, baseline: b.body });
  const inflatesTo = 100_000_000;
  // Spaces are valid JSON whitespace: the bomb is a well-formed body, only enormous once inflated.
  const bomb = gzipSync(Buffer.concat([Buffer.from('{"instances":[['), Buffer.alloc(inflatesTo - 20, 0x20), Buffer.from('1]]}')]), {
    level: 9,
  });
  const atLimit = fill('{"instances":[', '[1.5,1.5,1.5,1.5]', ',', ']}', 6_000_000);
  return [
    plain({
      id: 'rows',
      description: `${iris.id}: one-value rows, as many as the body holds`,
      model: iris.name,
      body: fill('{"instances":[', '[0.12345]', ',', ']}'),
      status: 413,
      code: 'TOO_MANY_ROWS',
    }),
    plain({
      id: 'long-key',
      description: `${iris.id}: a feature name of ${(BODY_BYTES / 1e6).toFixed(1)} MB`,
      model: iris.name,
      body: JSON.stringify({ features: { ...good, ['k'.repeat(BODY_BYTES - 200)]: 1 } }),
      status: 400,
      code: 'UNKNOWN_FEATURE',
    }),
    plain({
      id: 'many-keys',
      description: `${iris.id}: a record of several hundred thousand unknown features`,
      model: iris.name,
      body: manyKeys(good),
      status: 400,
      code: 'UNKNOWN_FEATURE',
    }),
    plain({
      id: 'v2-data',
      description: `${iris.id}: v2 infer, shape [1, ${iris.features.length}] with a data list the size of the body`,
      model: iris.name,
      path: 'infer',
      body: fill(
        `{"inputs":[{"name":"${iris.inputName}","shape":[1,${iris.features.length}],"datatype":"FP32","data":[`,
        '1.5',
        ',',
        ']}]}',
      ),
      status: 400,
      code: 'SHAPE_MISMATCH',
    }),
    plain({
      id: 'int64-digits',
      description: 'int64 model: one element written as a decimal string of millions of digits',
      model: 'hostile-int64',
      path: 'infer',
      body: `{"inputs":[{"name":"ids","shape":[1,2],"datatype":"INT64","data":["${'9'.repeat(BODY_BYTES - 100)}","1"]}]}`,
      status: 400,
      code: 'OUT_OF_RANGE',
    }),
    plain({
      id: 'long-string',
      description: 'string model: one BYTES element the size of the body',
      model: 'hostile-strings',
      path: 'infer',
      body: `{"inputs":[{"name":"color","shape":[1,1],"datatype":"BYTES","data":["${'r'.repeat(BODY_BYTES - 100)}"]}]}`,
      status: 400,
      code: 'STRING_TOO_LONG',
    }),
    plain({
      id: 'nul-string',
      description: 'string model: 1,000 strings of 5 KB, the last with a NUL at its end',
      model: 'hostile-strings',
      path: 'infer',
      body: JSON.stringify({
        inputs: [
          {
            name: 'color',
            shape: [1000, 1],
            datatype: 'BYTES',
            data: Array.from({ length: 1000 }, (_, i) => `${'r'.repeat(5_700)}${i === 999 ? '\u0000' : ''}`),
          },
        ],
      }),
      status: 400,
      code: 'NUL_IN_STRING',
    }),
    {
      id: 'gzip-bomb',
      description: `${iris.id}: ${(bomb.byteLength / 1e6).toFixed(1)} MB of gzip that inflates to ${inflatesTo / 1e6} MB`,
      model: iris.name,
      path: 'predict',
      body: bomb.toString('base64'),
      encoding: 'gzip',
      baseline: atLimit,
      status: 413,
      code: 'BODY_TOO_LARGE',
    },
  ];
}

function eventFor(body: Body) {
  const event = predictEvent(body.model, body.body);
  if (body.path === 'infer') {
    const resource = '/v2/models/{model}/infer';
    Object.assign(event, { resource, path: `/v2/models/${body.model}/infer` });
    Object.assign(event.requestContext, { resourcePath: resource, path: `/bench/v2/models/${body.model}/infer` });
  }
  if (body.encoding) {
    event.headers = { ...event.headers, 'content-encoding': body.encoding };
    event.multiValueHeaders = { ...event.multiValueHeaders, 'content-encoding': [body.encoding] };
    event.isBase64Encoded = true;
  }
  return event;
}

async function refuse(handler: HttpHandler, body: Body, context: Context): Promise<number> {
  const result = await handler(eventFor(body), context);
  const code = (JSON.parse(result.body) as { error?: { code?: string } }).error?.code;
  if (result.statusCode !== body.status || code !== body.code) {
    throw new Error(`${body.id}: expected ${body.status} ${body.code}, got ${result.statusCode} ${result.body.slice(0, 200)}`);
  }
  return result.body.length;
}

export async function runHostile(ctx: BenchContext): Promise<HostileResult> {
  const int64 = int64Model();
  const strings = stringInputModel();
  const stack = await inProcessPredict(
    [
      benchModel('iris'),
      { name: 'hostile-int64', bytes: int64.bytes, metadata: {} },
      { name: 'hostile-strings', bytes: strings.bytes, metadata: {} },
    ],
    { log: new DiscardingLog(), intraOpThreads: defaultIntraOpThreads(undefined) },
  );
  const context = lambdaContext();
  const cases: HostileCase[] = [];
  for (const body of bodies()) {
    ctx.progress(`hostile: ${body.id}`);
    const responseBytes = await refuse(stack.handler, body, context);
    const samples = await sampleInBlocks(
      {
        parse: async () => JSON.parse(body.baseline),
        handler: () => refuse(stack.handler, body, context),
      },
      ctx.profile.hostile,
    );
    const parse = summarize(samples.parse.times);
    const handler = summarize(samples.handler.times);
    cases.push({
      id: body.id,
      description: body.description,
      requestBytes: Buffer.byteLength(body.body),
      status: body.status,
      code: body.code,
      responseBytes,
      parse,
      handler,
      ratio: precise(handler.medianMs / parse.medianMs),
    });
  }
  return { limitBytes: 6_000_000, cases };
}
