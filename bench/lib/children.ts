/**
 * Child processes: servers under load (so the load generator and the server do not share an
 * event loop) and the local AWS look-alikes. They talk to the runner over Node's IPC channel:
 * one `ready` message with what the runner needs, then request/reply messages by id. A child
 * exits when the runner goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './paths.js';

/** Where the DynamoDB- and S3-compatible servers listen, and the names the functions use. */
export interface AwsEndpoints {
  readonly dynamoEndpoint: string;
  /** A DynamoDB endpoint that answers prediction-log writes at once (see processes/aws-servers.ts). */
  readonly logSinkEndpoint: string;
  readonly s3Endpoint: string;
  readonly registryTable: string;
  readonly predictionLogTable: string;
  readonly bucket: string;
}

export type Message = { readonly type: string; readonly id?: number } & Record<string, unknown>;

export interface Child<Ready extends Message = Message> {
  readonly pid: number;
  readonly ready: Ready;
  /** Sends `message` and resolves with the child's reply to it. */
  request<T extends Message>(message: Message, timeoutMs?: number): Promise<T>;
  /** Asks the child to stop, then kills it if it has not exited within a few seconds. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** Kills every child still running (the runner calls this on the way out, even after an error). */
export function killChildren(): void {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
}

/**
 * Starts a child and waits for its `ready` message: its bundle when run.ts built one
 * (BENCH_BUILD_DIR), else (or with `tsx: true`, to run code the way `npm start` does) the
 * TypeScript file through tsx.
 *
 * @example
 * const aws = await startChild<AwsReady>('bench/processes/aws-servers.ts');
 */
export async function startChild<Ready extends Message>(
  file: string,
  options: {
    readonly env?: Readonly<Record<string, string>>;
    readonly nodeArgs?: readonly string[];
    readonly timeoutMs?: number;
    readonly tsx?: boolean;
  } = {},
): Promise<Child<Ready>> {
  const built = options.tsx ? undefined : process.env.BENCH_BUILD_DIR;
  const script = built ? [path.join(built, `${path.basename(file, '.ts')}.mjs`)] : ['--import', 'tsx', path.join(ROOT, file)];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...script], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  // Kept for error messages; the rest of the output is dropped.
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let nextId = 1;
  const pending = new Map<number, (message: Message) => void>();
  child.on('message', (message: Message) => {
    if (message.id !== undefined) pending.get(message.id)?.(message);
  });

  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`${file} was not ready within ${options.timeoutMs ?? 60_000} ms`)),
      options.timeoutMs ?? 60_000,
    );
    const onMessage = (message: Message) => {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve(message as Ready);
    };
    const onExit = (code: number | null) => fail(new Error(`${file} exited (${code}) before it was ready:\n${tail}`));
    function fail(error: Error) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.kill('SIGKILL');
      reject(error);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });

  return {
    pid: child.pid ?? -1,
    ready,
    request<T extends Message>(message: Message, timeoutMs = 30_000): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${file} did not answer ${message.type} within ${timeoutMs} ms:\n${tail}`));
        }, timeoutMs);
        pending.set(id, (reply) => {
          clearTimeout(timer);
          pending.delete(id);
          if (reply.type === 'error') reject(new Error(`${file}: ${String(reply.message)}`));
          else resolve(reply as T);
        });
        child.send({ ...message, id });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      if (child.connected) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The child's side

export type RequestHandler = (message: Message) => Promise<Record<string, unknown>> | Record<string, unknown>;

/**
 * Run in a child: answers the runner's requests with `handlers[message.type]`, tells it `ready`
 * with `readyFields`, and exits on `stop` (after `onStop`) or when the runner goes away.
 */
export function serveRunner(
  readyFields: Record<string, unknown>,
  handlers: Readonly<Record<string, RequestHandler>>,
  onStop: () => Promise<void>,
): void {
  const send = (message: Message) => process.send?.(message);
  process.on('message', (message: Message) => {
    if (message.type === 'stop') {
      onStop().finally(() => process.exit(0));
      return;
    }
    const handler = handlers[message.type];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown request ${message.type}`);
        return handler(message);
      })
      .then(
        (reply) => send({ ...reply, type: message.type, id: message.id }),
        (error: unknown) => send({ type: 'error', id: message.id, message: error instanceof Error ? error.message : String(error) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
  send({ ...readyFields, type: 'ready' });
}

/** This process's memory, in MB, for the runner's `memory` request. */
export function memoryFigures(): Record<string, number> {
  const usage = process.memoryUsage();
  return { rssMb: usage.rss / 1_048_576, heapUsedMb: usage.heapUsed / 1_048_576 };
}
