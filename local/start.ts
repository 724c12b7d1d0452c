/**
 * `npm start`: the API on localhost with the sample model live. State persists under DATA_DIR
 * (default `.data/`); nothing leaves the machine. Every route but the health checks needs a
 * token signed by the data folder's key (`npm run -s modelctl -- token ...` mints one); the
 * printed curl line carries one. `LOCAL_AUTH=insecure` turns authorization off, and the server
 * says so at every start. While it runs, `<DATA_DIR>/local-aws.json` says where its embedded
 * DynamoDB and S3 servers listen (`aws-endpoint-file.ts`; `modelctl features load --local` reads it).
 *
 * Stopping: any of the signals of `signals.ts` (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR2, ...)
 * to this process, or SIGINT or SIGTERM to npm (which forwards those two), stops taking
 * requests, writes the queued prediction-log records and the access log, stops the AWS servers'
 * child process, releases the data folder and exits 0. So does npm going away for any other
 * reason (a signal npm does not forward, such as SIGHUP, SIGQUIT or SIGUSR2, or SIGKILL): when
 * npm started this process, it checks every {@link PARENT_CHECK_MS} ms that its parent is still
 * the one that started it. The AWS servers' child exits when this process dies without a word
 * (SIGKILL): it watches its IPC channel (`aws-process.ts`).
 */
import './quiet.js';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { environmentProblems, plainParse } from '../functions/core/messages.js';
import { LOG_LEVELS } from '../functions/core/observability.js';
import { DEFAULT_RATE_LIMIT, JWKS_PATH } from './server.js';
import { modelctlApiLines, requestLogLine } from './banner.js';
import { STOP_SIGNALS } from './signals.js';
import { SAMPLE_REGRESSOR, seedSampleRegressor } from './sample-regressor.js';
import { SAMPLE_MODEL, startLocalStack } from './stack.js';
import { removeLocalAwsFile, writeLocalAwsFile } from './aws-endpoint-file.js';

const lowerCase = (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value);
const upperCase = (value: unknown) => (typeof value === 'string' ? value.toUpperCase() : value);

/** What PORT must be, said of any value that is not. */
const PORT_RULE = 'must be a port number from 0 to 65535 (0 picks a free one)';

const Env = z.object({
  PORT: z.coerce
    .number({ error: PORT_RULE })
    .int({ error: PORT_RULE })
    .min(0, { error: PORT_RULE })
    .max(65_535, { error: PORT_RULE })
    .default(3000),
  DATA_DIR: z.string().min(1).default('.data'),
  /** `jwt` (tokens required) or `insecure` (every caller accepted, announced at start). */
  LOCAL_AUTH: z.enum(['jwt', 'insecure']).default('jwt'),
  /** Per-client throttling, as the API stage's defaults. */
  RATE_LIMIT_RPS: z.coerce.number().positive().default(DEFAULT_RATE_LIMIT.ratePerSecond),
  RATE_LIMIT_BURST: z.coerce.number().int().min(1).default(DEFAULT_RATE_LIMIT.burst),
  /** The authorizer result cache, in seconds; 0 turns it off. */
  AUTH_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(3_600).default(60),
  /** One line per request on stdout (method, route, status, ms, model@version, rows); `off` for quiet. */
  ACCESS_LOG: z.preprocess(lowerCase, z.enum(['on', 'off'])).default('on'),
  /** The functions' structured logs (JSON lines, Powertools Logger), as LOG_LEVEL on Lambda. */
  LOG_LEVEL: z.preprocess(upperCase, z.enum(LOG_LEVELS)).default('INFO'),
  /** Model sessions the process keeps loaded, by count and bytes (functions/shared/config.ts has the defaults). */
  SESSION_CACHE_MAX_SESSIONS: z
    .string()
    .regex(/^[1-9][0-9]*$/)
    .optional(),
  SESSION_CACHE_MAX_BYTES: z
    .string()
    .regex(/^[1-9][0-9]*$/)
    .optional(),
  /** Days captured requests are kept (deleted at start when older), as the capture bucket's lifecycle rule on AWS. */
  CAPTURE_RETENTION_DAYS: z.coerce.number().int().min(1).max(3_650).default(30),
  /** Minutes between scheduled drift runs of the models with capture on (the EventBridge schedule's stand-in); 0 turns them off. */
  DRIFT_INTERVAL_MINUTES: z.coerce.number().int().min(0).max(10_080).default(60),
  /** Set by npm for the script it runs: this process was started by `npm start` (or `npm run`). */
  npm_lifecycle_event: z.string().optional(),
});

/** The sample token printed at start: predict on the sample model, for half a day. */
const SAMPLE_TOKEN_TTL_SECONDS = 12 * 3600;

/**
 * How often, in ms, a server started by npm checks that npm is still its parent. npm forwards
 * only SIGINT and SIGTERM to its child; killed by any other signal it exits at once and this
 * process would be left running, holding the port and the data folder.
 */
const PARENT_CHECK_MS = 250;

/** The process that started this one, read before anything else runs. */
const startedBy = process.ppid;

// Once the terminal is gone (SIGHUP), writing to it fails with EIO or EPIPE; the stop must go on.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

async function main(): Promise<void> {
  const parsed = plainParse(Env, process.env);
  if (!parsed.success) throw new Error(`Bad environment: ${environmentProblems(parsed.issues, process.env)}`);
  const env = parsed.data;
  const dataDir = path.resolve(env.DATA_DIR);
  const release = lockDataDir(dataDir);
  const stack = await startLocalStack({
    dataDir,
    port: env.PORT,
    auth: env.LOCAL_AUTH,
    rateLimit: { ratePerSecond: env.RATE_LIMIT_RPS, burst: env.RATE_LIMIT_BURST },
    authCacheTtlSeconds: env.AUTH_CACHE_TTL_SECONDS,
    accessLog: env.ACCESS_LOG === 'on',
    captureRetentionDays: env.CAPTURE_RETENTION_DAYS,
    driftIntervalMs: env.DRIFT_INTERVAL_MINUTES * 60_000,
    // The embedded DynamoDB and S3 run in a child process, on another core than the API.
    servers: 'child-process',
    env: {
      LOG_LEVEL: env.LOG_LEVEL,
      ...(env.SESSION_CACHE_MAX_SESSIONS ? { SESSION_CACHE_MAX_SESSIONS: env.SESSION_CACHE_MAX_SESSIONS } : {}),
      ...(env.SESSION_CACHE_MAX_BYTES ? { SESSION_CACHE_MAX_BYTES: env.SESSION_CACHE_MAX_BYTES } : {}),
    },
  }).catch((error: unknown) => {
    release();
    throw portTaken(error, env.PORT) ?? error;
  });
  // The second sample model, a regressor, beside iris (registered only here: in-process test
  // stacks keep one model).
  let regressor: 'registered' | 'present';
  try {
    regressor = await seedSampleRegressor(stack.registry, stack.drift);
    // Where the embedded servers listen, for tools outside this process (`modelctl features load --local`).
    writeLocalAwsFile(dataDir, {
      dynamodbEndpoint: stack.aws.dynamoEndpoint,
      s3Endpoint: stack.aws.s3Endpoint,
      region: await stack.clients.dynamo.config.region(),
      pid: process.pid,
    });
  } catch (error) {
    await stack.stop();
    release();
    throw error;
  }
  const example = JSON.stringify({
    features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 },
  });
  const sampleModel =
    stack.sample === 'registered' || regressor === 'registered'
      ? `Registered the sample models "${SAMPLE_MODEL.name}" (a classifier) and "${SAMPLE_REGRESSOR.name}" (a regressor) and made them live.`
      : `The sample models "${SAMPLE_MODEL.name}" (a classifier) and "${SAMPLE_REGRESSOR.name}" (a regressor) are live.`;
  let lines: string[];
  if (stack.auth) {
    const token = await stack.auth.mint({
      subject: 'local-dev',
      scopes: ['predict'],
      models: [SAMPLE_MODEL.name],
      ttlSeconds: SAMPLE_TOKEN_TTL_SECONDS,
    });
    // `npm run` runs in the project folder: a data folder elsewhere must be named.
    const dataFlag = dataDir === path.resolve('.data') ? '' : ` --data-dir ${shellQuote(dataDir)}`;
    const mint = (args: string) => `$(npm run -s modelctl -- token ${args}${dataFlag})`;
    lines = [
      `ONNX serving is up at ${stack.url} (data in ${dataDir}).`,
      sampleModel,
      `Every route but /v2/health/* needs a bearer token signed by this data folder's key (public keys: ${stack.url}${JWKS_PATH}).`,
      '',
      `Try it (this token may predict with "${SAMPLE_MODEL.name}" for ${SAMPLE_TOKEN_TTL_SECONDS / 3600} hours):`,
      `  curl -s ${stack.url}/v1/models/${SAMPLE_MODEL.name}/predict -H "authorization: Bearer ${token}" -H 'content-type: application/json' -d '${example}'`,
      '',
      `Models: curl -s ${stack.url}/v1/models -H "authorization: Bearer ${mint('--scope models:read')}"`,
      `API reference: ${stack.url}/docs (the OpenAPI document: ${stack.url}/openapi.json)`,
      `Console: ${stack.url}/console (sign in with a token from: npm run -s modelctl -- token --scope models:read,predict${dataFlag})`,
      ...modelctlApiLines(stack.url),
      `Tokens: npm run -s modelctl -- token --scope predict --model ${SAMPLE_MODEL.name}${dataFlag}    Stop: Ctrl+C`,
      '',
      requestLogLine(env.ACCESS_LOG === 'on'),
    ];
  } else {
    lines = [
      `ONNX serving is up at ${stack.url} (data in ${dataDir}).`,
      sampleModel,
      'WARNING: LOCAL_AUTH=insecure: authorization is OFF, every caller is accepted. Do not expose this server.',
      '',
      'Try it:',
      `  curl -s ${stack.url}/v1/models/${SAMPLE_MODEL.name}/predict -H 'content-type: application/json' -d '${example}'`,
      '',
      `API reference: ${stack.url}/docs (the OpenAPI document: ${stack.url}/openapi.json)    Console: ${stack.url}/console`,
      ...modelctlApiLines(stack.url),
      `Models: curl -s ${stack.url}/v1/models    Stop: Ctrl+C`,
      '',
      requestLogLine(env.ACCESS_LOG === 'on'),
    ];
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping...\n`);
    removeLocalAwsFile(dataDir);
    stack.stop().then(
      () => {
        release();
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  // Ctrl+C, a process manager's stop, a closed terminal. `npm start` runs this process with
  // `exec` (package.json), so npm's own SIGINT and SIGTERM, which it forwards to its child,
  // arrive here and not at a shell that would die and leave this process running.
  for (const signal of STOP_SIGNALS) process.on(signal, () => stop(signal));
  // npm killed by a signal it does not forward: this process is re-parented (to init or a
  // subreaper), and stops as if npm had forwarded a SIGTERM. `process.ppid` is read live.
  if (env.npm_lifecycle_event !== undefined) {
    const watch = setInterval(() => {
      if (process.ppid === startedBy) return;
      clearInterval(watch);
      stop(`npm (pid ${startedBy}) exited`);
    }, PARENT_CHECK_MS);
    watch.unref();
  }
}

/**
 * The error to print when the API's port is taken (`listen` failed with `EADDRINUSE`), in plain
 * words, with what to do; `undefined` for any other error.
 */
function portTaken(error: unknown, port: number): Error | undefined {
  if ((error as NodeJS.ErrnoException | null)?.code !== 'EADDRINUSE') return undefined;
  const taken = (error as { port?: unknown }).port;
  const shown = typeof taken === 'number' && taken > 0 ? taken : port;
  const other = shown < 65_535 ? shown + 1 : 3000;
  return new Error(
    `port ${shown} is taken: another process (an earlier npm start?) is listening on it. Stop that process, or start on another port: PORT=${other} npm start (PORT=0 picks a free one).`,
  );
}

/** `value` as one shell word. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * One process per data folder: the embedded DynamoDB keeps its files open, and a second process
 * on the same folder would fail deep inside it. Returns the release function.
 */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lock = path.join(dataDir, '.lock');
  try {
    writeFileSync(lock, String(process.pid), { flag: 'wx' });
  } catch {
    const holder = Number(readFileSync(lock, 'utf8'));
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isRunning(holder)) {
      throw new Error(`another npm start (pid ${holder}) is using ${dataDir}; stop it, or give this one its own DATA_DIR.`);
    }
    writeFileSync(lock, String(process.pid));
  }
  return () => rmSync(lock, { force: true });
}

/**
 * Whether `pid` is a live process. A zombie is not (killed, not yet reaped: signal 0 still
 * reaches it): after a hard kill of `npm start`, the dead server lingers as one until its new
 * parent reaps it, which a container without an init may never do.
 */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/** Linux: the state in `/proc/<pid>/stat` (after the command's closing parenthesis) is `Z`. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
