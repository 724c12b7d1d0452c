/**
 * 5. HTTP: the local API under autocannon at several concurrencies, beside a minimal server
 * (plain node:http + onnxruntime-node) in the same run. Every server runs in its own process
 * and the load generator in the runner's; all of them share this machine's cores, so only the
 * ratios to the baseline carry over to another machine. At each concurrency every server gets a
 * warm-up, then the load runs in short rounds alternating between the servers (ABC, CBA, ...),
 * so a burst of other work on the machine hits them alike.
 */
import type { BenchContext } from './lib/context.js';
import type { ProfileSummary } from './lib/profile.js';
import { startChild, type Child, type Message } from './lib/children.js';
import { featuresBody } from './lib/in-process.js';
import { load, type LoadResult } from './lib/load.js';
import { benchModel } from './lib/models.js';
import { precise, quantile } from './lib/stats.js';
import type { HttpResult, HttpVariantId } from './results.js';

export const HTTP_MODEL = 'iris';
/** The servers profiled under load: the target's (validation and auth on), with logs, and `npm start`. */
const PROFILED: readonly HttpVariantId[] = ['apiAuth', 'apiLog', 'npmStart'];
const PROFILE_CONNECTIONS = 8;

const API = 'bench/processes/api-server.ts';

export interface HttpVariant {
  readonly id: HttpVariantId;
  readonly description: string;
  readonly file: string;
  readonly env: (ctx: BenchContext) => Record<string, string>;
  /** Run the TypeScript through tsx, as `npm start` does, instead of the bench's bundle. */
  readonly tsx?: boolean;
}

/**
 * Each API variant adds one thing to the one before it (apiLog adds logs to `api`), so the gaps
 * between them are the cost of each: auth, prediction logs, the whole local stack in one process,
 * the access log, and running through tsx.
 */
export const HTTP_VARIANTS: readonly HttpVariant[] = [
  {
    id: 'baseline',
    description: 'minimal server: node:http + onnxruntime-node, no validation, no auth, no logging',
    file: 'bench/processes/baseline-server.ts',
    env: () => ({ BENCH_MODEL: HTTP_MODEL }),
  },
  {
    id: 'api',
    description:
      'the local API with the handlers Lambda runs (routing, validation, codec, errors), authorization off, prediction logs off, no access log; registry and S3 in another process',
    file: API,
    env: (ctx) => ({ BENCH_API_MODE: 'function', BENCH_AUTH: 'off', BENCH_LOG: 'off', BENCH_AWS: JSON.stringify(ctx.aws) }),
  },
  {
    id: 'apiAuth',
    description:
      "the same with JWT authorization on: the same authorizer code as on Lambda, behind API Gateway's result cache as the local server emulates it (a token is verified once per cache period)",
    file: API,
    env: (ctx) => ({ BENCH_API_MODE: 'function', BENCH_AUTH: 'on', BENCH_LOG: 'off', BENCH_AWS: JSON.stringify(ctx.aws) }),
  },
  {
    id: 'apiLog',
    description:
      "the same as `api` with prediction logs on: records queued and written in the background with BatchWriteItem (up to 25 a call) through the AWS SDK, answered at once by a stand-in DynamoDB in another process, so the figure is our process's whole logging cost and not dynalite's",
    file: API,
    env: (ctx) => ({ BENCH_API_MODE: 'function', BENCH_AUTH: 'off', BENCH_LOG: 'sink', BENCH_AWS: JSON.stringify(ctx.aws) }),
  },
  {
    id: 'npmStartQuiet',
    description:
      "`npm start`'s stack (local/stack.ts, bundled like the servers above) with the access log off (`ACCESS_LOG=off`): JWT authorization on, the DynamoDB- and S3-compatible servers in a child process as `npm start` runs them, prediction logs written to that dynalite in the background, the emulated alias and version routing (throttling off, as everywhere here)",
    file: API,
    env: () => ({ BENCH_API_MODE: 'npm-start', ACCESS_LOG: 'off' }),
  },
  {
    id: 'npmStartBundled',
    description: 'the same with the access log on (one line per request on stdout, read through a pipe by the bench as a terminal would)',
    file: API,
    env: () => ({ BENCH_API_MODE: 'npm-start', ACCESS_LOG: 'on' }),
  },
  {
    id: 'npmStart',
    description:
      "the same code with the access log on, run the way `npm start` runs it: through tsx (TypeScript compiled at load, with esbuild's keepNames)",
    file: API,
    env: () => ({ BENCH_API_MODE: 'npm-start', ACCESS_LOG: 'on' }),
    tsx: true,
  },
];

/** What a server child tells the runner: where to send requests, and a token when it needs one. */
export type ServerReady = Message & { readonly url: string; readonly token: string };

/** The URL a variant's server takes prediction requests on. */
export function predictUrl(id: HttpVariantId, ready: ServerReady): string {
  return id === 'baseline' ? ready.url : `${ready.url}/v1/models/${benchModel(HTTP_MODEL).name}/predict`;
}

export async function runHttp(ctx: BenchContext): Promise<HttpResult> {
  const model = benchModel(HTTP_MODEL);
  const body = JSON.stringify(featuresBody(model, model.rows(1)[0] ?? []));
  const { warmupSeconds, seconds, rounds, connections } = ctx.profile.http;
  const servers = new Map<HttpVariantId, Child<ServerReady>>();
  try {
    ctx.progress('http: starting the servers');
    await Promise.all(
      HTTP_VARIANTS.map(async (variant) => {
        servers.set(
          variant.id,
          await startChild<ServerReady>(variant.file, { env: variant.env(ctx), tsx: variant.tsx ?? false, timeoutMs: 120_000 }),
        );
      }),
    );
    /**
     * One slice of load, then the server's prediction-log backlog written (untimed): the writes a
     * slice leaves queued run before the next server's slice, not during it.
     */
    const slice = async (variant: HttpVariant, connections: number, seconds: number): Promise<{ result: LoadResult; drain: Drain }> => {
      const server = servers.get(variant.id);
      if (!server) throw new Error(`no server for ${variant.id}`);
      const result = await load({ url: predictUrl(variant.id, server.ready), body, token: server.ready.token, connections, seconds });
      const drain = variant.file === API ? await server.request<Drain & Message>({ type: 'drain' }, 120_000) : { pending: 0, ms: 0 };
      return { result, drain };
    };
    const points: Array<HttpResult['points'][number]> = [];
    for (const c of connections) {
      for (const variant of HTTP_VARIANTS) await slice(variant, c, warmupSeconds);
      ctx.progress(`http: concurrency ${c}, ${rounds} round${rounds > 1 ? 's' : ''} over the servers`);
      const runs = new Map<HttpVariantId, Array<{ result: LoadResult; drain: Drain }>>();
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? HTTP_VARIANTS : [...HTTP_VARIANTS].reverse();
        for (const variant of order) runs.set(variant.id, [...(runs.get(variant.id) ?? []), await slice(variant, c, seconds / rounds)]);
      }
      for (const variant of HTTP_VARIANTS) points.push(merge(variant.id, c, runs.get(variant.id) ?? []));
    }
    const profiles: Array<HttpResult['profiles'][number]> = [];
    for (const variant of PROFILED) {
      const server = servers.get(variant);
      if (!server) continue;
      ctx.progress(`http: CPU profile of ${variant} at concurrency ${PROFILE_CONNECTIONS}`);
      await server.request({ type: 'profileStart' });
      // The backlog's writes are part of what the requests cost: the profile ends after them.
      const spec = HTTP_VARIANTS.find((v) => v.id === variant);
      if (spec) await slice(spec, PROFILE_CONNECTIONS, ctx.profile.profileMs / 1000);
      const { summary } = await server.request<Message & { summary: ProfileSummary }>({ type: 'profileStop' });
      profiles.push({ variant, profile: summary });
    }
    const rps = (variant: HttpVariantId, c: number) =>
      points.find((p) => p.variant === variant && p.connections === c)?.requestsPerSecond ?? Number.NaN;
    const ratios = HTTP_VARIANTS.filter((v) => v.id !== 'baseline').flatMap((v) =>
      connections.map((c) => ({ variant: v.id, connections: c, ratio: precise(rps(v.id, c) / rps('baseline', c)) })),
    );
    return {
      model: model.id,
      seconds,
      rounds,
      warmupSeconds,
      variants: HTTP_VARIANTS.map(({ id, description }) => ({ id, description })),
      points,
      ratios,
      profileConnections: PROFILE_CONNECTIONS,
      profiles,
    };
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()));
  }
}

/** What a server reports after a slice: prediction-log records left queued, and ms to store them. */
interface Drain {
  readonly pending: number;
  readonly ms: number;
}

/** One point from a server's rounds: responses over total time, percentiles over every response. */
function merge(
  variant: HttpVariantId,
  connections: number,
  slices: ReadonlyArray<{ result: LoadResult; drain: Drain }>,
): HttpResult['points'][number] {
  const runs = slices.map((s) => s.result);
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const seconds = runs.reduce((sum, r) => sum + r.seconds, 0);
  const drainSeconds = slices.reduce((sum, s) => sum + s.drain.ms, 0) / 1000;
  return {
    variant,
    connections,
    requests: latencies.length,
    requestsPerSecond: precise(latencies.length / seconds),
    p50Ms: precise(latencies.length > 0 ? quantile(latencies, 0.5) : 0),
    p99Ms: precise(latencies.length > 0 ? quantile(latencies, 0.99) : 0),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
    logBacklog: precise(slices.reduce((sum, s) => sum + s.drain.pending, 0) / Math.max(1, slices.length)),
    drainMs: precise((drainSeconds * 1000) / Math.max(1, slices.length)),
    sustainedRequestsPerSecond: precise(latencies.length / (seconds + drainSeconds)),
  };
}
