/**
 * The local server's access log and what it tells the emulated alias, over real HTTP: the line's
 * fields from the server's own clock and the functions' observations, a handler that throws
 * counted as a 500 of the version that served, the quiet option; and `npm start` with and without
 * `ACCESS_LOG=off`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { HttpHandler } from '../../functions/shared/http.js';
import { accessLogLine, startLocalServer, type LocalServer, type ObservationSource, type VersionSelector } from '../../local/server.js';
import { call } from '../fixtures/http.js';
import { startNpmStart } from '../fixtures/npm-start.js';

interface Harness {
  readonly api: LocalServer;
  readonly lines: string[];
  /** What the alias was told, per request: status and latency. */
  readonly done: { status: number; latencyMs: number }[];
  /** The request ids the server asked the observations for. */
  readonly taken: string[];
  /** The request ids the function saw in its events. */
  readonly seen: string[];
  /** The server's own notices (the insecure mode's warning, a handler that threw). */
  readonly notices: string[];
}

/**
 * The local server with insecure authorization in front of `handler`, served through a version
 * selector that records what it is told, on a clock that only the handler moves (by 7 ms).
 */
async function harness(handler: HttpHandler, accessLog: boolean): Promise<Harness> {
  let clock = 1_000;
  const lines: string[] = [];
  const done: Harness['done'] = [];
  const taken: string[] = [];
  const seen: string[] = [];
  const notices: string[] = [];
  const timed: HttpHandler = async (event, context) => {
    seen.push((event as APIGatewayProxyEvent).requestContext.requestId);
    clock += 7;
    return handler(event, context);
  };
  const versions: VersionSelector = {
    select: () => ({ function: { handler: timed, version: '4' }, done: (status, latencyMs) => done.push({ status, latencyMs }) }),
  };
  const observations: ObservationSource = {
    take: (requestId) => {
      taken.push(requestId);
      return { model: 'iris', modelVersion: '3', rows: 2 };
    },
  };
  const api = await startLocalServer({
    functions: { predict: { handler: timed }, control: { handler: timed } },
    versions,
    observations,
    authorization: { insecure: true },
    rateLimit: false,
    elapsed: () => clock,
    warn: (text) => notices.push(text),
    accessLog: accessLog ? (line) => lines.push(line) : false,
  });
  return { api, lines, done, taken, seen, notices };
}

const ok: HttpHandler = async () => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{}' });

describe('the local server', () => {
  it('logs method, route template, status, time and what the function observed, once the request is answered', async () => {
    // Prepare
    const h = await harness(ok, true);

    // Act
    const reply = await call(h.api.url, 'POST', '/v1/models/iris/predict', { instances: [[1], [2]] });
    const missing = await call(h.api.url, 'GET', '/v1/nowhere?secret=1');
    await h.api.close();

    // Assess: the request id the function saw is the one the observations were asked for.
    expect([reply.status, missing.status]).toEqual([200, 404]);
    expect(h.lines).toEqual(['POST /v1/models/{model}/predict 200 7.0ms iris@3 rows=2', 'GET /v1/nowhere 404 0.0ms']);
    expect(h.taken).toEqual(h.seen);
    expect(h.done).toEqual([{ status: 200, latencyMs: 7 }]);
  });

  it('counts a handler that throws as a 500 of the version that served, with its time', async () => {
    // Prepare
    const h = await harness(async () => {
      throw new Error('the sandbox ran out of memory');
    }, true);

    // Act
    const reply = await call(h.api.url, 'POST', '/v1/models/iris/predict', { features: { x: 1 } });
    await h.api.close();

    // Assess: API Gateway answers 502 for a crashed integration; the version counts a failure.
    expect(reply.status).toBe(502);
    expect(h.done).toEqual([{ status: 500, latencyMs: 7 }]);
    expect(h.lines).toEqual(['POST /v1/models/{model}/predict 502 7.0ms iris@3 rows=2']);
    // The server says what the handler threw, with its stack, where the caller only sees a 502
    // (after the insecure mode's warning at start).
    expect(h.notices).toEqual([
      expect.stringMatching(/^WARNING: authorization is OFF/),
      expect.stringMatching(/^local server error: Error: the sandbox ran out of memory\n {4}at /),
    ]);
  });

  it('writes nothing when quiet, and still takes the observations so none pile up', async () => {
    // Prepare
    const h = await harness(ok, false);

    // Act
    await call(h.api.url, 'POST', '/v1/models/iris/predict', { features: { x: 1 } });
    await h.api.close();

    // Assess
    expect(h.lines).toEqual([]);
    expect(h.taken).toHaveLength(1);
  });

  it('formats a line without what was not observed', () => {
    expect(accessLogLine({ method: 'GET', route: '/v1/models', status: 401, ms: 0.04 })).toBe('GET /v1/models 401 0.0ms');
    expect(
      accessLogLine({
        method: 'GET',
        route: '/v2/models/{model}',
        status: 404,
        ms: 1.25,
        model: 'nope',
        rows: 0,
        errorCode: 'MODEL_NOT_FOUND',
      }),
    ).toBe('GET /v2/models/{model} 404 1.3ms nope error=MODEL_NOT_FOUND');
  });
});

describe('npm start', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'access-log-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Runs `local/start.ts` as `npm start` does with `env`, sends one prediction, stops; what it printed. */
  async function serveOnce(env: Record<string, string>): Promise<string> {
    const { child, url, exited, output } = await startNpmStart(dataDir, { LOCAL_AUTH: 'insecure', ...env });
    const reply = await call(url, 'POST', '/v1/models/iris/predict', {
      features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 },
    });
    expect(reply.status).toBe(200);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    return output();
  }

  it('prints an access line per request by default, and none with ACCESS_LOG=off', async () => {
    // Act
    const loud = await serveOnce({});
    const quiet = await serveOnce({ ACCESS_LOG: 'off' });

    // Assess
    expect(loud).toMatch(/^POST \/v1\/models\/\{model\}\/predict 200 \d+\.\dms iris@1 rows=1$/m);
    expect(quiet).not.toMatch(/^POST \/v1\/models/m);
    expect(quiet).toContain('Stop: Ctrl+C');
  }, 120_000);
});
