/**
 * Work after the answer, made safe on Lambda: an internal Lambda extension that keeps the
 * execution environment from freezing until the invocation's prediction-log records are stored.
 *
 * Lambda freezes the environment once the runtime has sent the response and every registered
 * extension has asked for its next event (Extensions API:
 * https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html). An extension
 * registered from the function's own process (an internal extension) therefore lets the function
 * answer first and finish its background work afterwards: on each INVOKE event it waits until the
 * handler has answered that request (by Lambda's request id), drains the work (`drain`), and only
 * then asks for the next event. The caller has its answer before the drain starts; the drain is
 * billed as part of the invocation's duration, not added to the response's latency.
 *
 * At most one invocation's records are ever held in memory, and only until its drain ends. With an
 * extension registered, Lambda also sends the runtime SIGTERM before it shuts the environment
 * down; the composition root drains then too (`onShutdown`).
 *
 * Outside Lambda (no `AWS_LAMBDA_RUNTIME_API`) nothing registers: the log writes on its own
 * timer, and the local stack flushes it when it stops.
 */
import http from 'node:http';
import { describeError, sharedLogger } from './logger.js';

/** The Extensions API's INVOKE / SHUTDOWN event, as much of it as the drain reads. */
interface ExtensionEvent {
  readonly eventType?: string;
  readonly requestId?: string;
  /** Epoch ms when the invocation times out. */
  readonly deadlineMs?: number;
}

export interface InvocationDrainOptions {
  /** `host:port` of the Runtime API (`AWS_LAMBDA_RUNTIME_API`); without it nothing registers. */
  readonly runtimeApi: string | undefined;
  /** The work to finish after each invocation (the prediction log's `flush`); must not reject. */
  readonly drain: () => Promise<void>;
  /** The extension's name. @default 'prediction-log-drain' */
  readonly name?: string;
  /** Margin kept before an invocation's deadline when waiting for its answer, in ms. @default 200 */
  readonly deadlineMarginMs?: number;
}

const API_VERSION = '2020-01-01';

/**
 * @example
 * const drain = new InvocationDrain({ runtimeApi: config.AWS_LAMBDA_RUNTIME_API, drain: () => log.flush() });
 * await drain.register();                                        // at init (top-level await)
 * httpFunction(limits, actions, { onAnswered: (id) => drain.answered(id) });
 */
export class InvocationDrain {
  private readonly waiting = new Map<string, () => void>();
  /** Requests answered before the extension asked about them (bounded). */
  private readonly answeredEarly = new Set<string>();
  private identifier: string | undefined;
  private readonly name: string;
  private readonly margin: number;

  constructor(private readonly options: InvocationDrainOptions) {
    this.name = options.name ?? 'prediction-log-drain';
    this.margin = options.deadlineMarginMs ?? 200;
  }

  /** Whether the extension is registered (the environment waits for its drains). */
  get registered(): boolean {
    return this.identifier !== undefined;
  }

  /**
   * Registers the internal extension for INVOKE events and starts its event loop. Call during
   * init: Lambda accepts registrations only then. Resolves to whether it registered; a failed
   * registration is logged and leaves the log on its own timer.
   */
  async register(): Promise<boolean> {
    const api = this.options.runtimeApi;
    if (!api) return false;
    try {
      const response = await request(
        api,
        'POST',
        `/${API_VERSION}/extension/register`,
        { 'Lambda-Extension-Name': this.name, 'content-type': 'application/json' },
        JSON.stringify({ events: ['INVOKE'] }),
      );
      const id = response.headers['lambda-extension-identifier'];
      if (response.status !== 200 || typeof id !== 'string' || id === '') {
        throw new Error(`the Extensions API answered ${response.status} ${response.body.slice(0, 200)}`);
      }
      this.identifier = id;
    } catch (error) {
      sharedLogger().warn('prediction-log drain extension not registered; records are written on a timer', { error: describeError(error) });
      return false;
    }
    // The first `next` tells Lambda this extension's init is done; the loop runs for the life of the environment.
    void this.loop(api);
    return true;
  }

  /** The handler has answered the invocation `awsRequestId` (called by the HTTP edge). */
  answered(awsRequestId: string): void {
    const resolve = this.waiting.get(awsRequestId);
    if (resolve) {
      this.waiting.delete(awsRequestId);
      resolve();
      return;
    }
    if (!this.registered) return;
    if (this.answeredEarly.size >= 64) this.answeredEarly.clear();
    this.answeredEarly.add(awsRequestId);
  }

  /** Resolves when `requestId` has been answered, or shortly before its deadline. */
  private whenAnswered(requestId: string, deadlineMs: number | undefined): Promise<void> {
    if (this.answeredEarly.delete(requestId)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wait = deadlineMs === undefined ? 900_000 : Math.max(0, deadlineMs - Date.now() - this.margin);
      const timer = setTimeout(() => {
        this.waiting.delete(requestId);
        resolve();
      }, wait);
      this.waiting.set(requestId, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async loop(api: string): Promise<void> {
    const headers = { 'Lambda-Extension-Identifier': this.identifier ?? '' };
    for (;;) {
      let event: ExtensionEvent;
      try {
        const response = await request(api, 'GET', `/${API_VERSION}/extension/event/next`, headers);
        event = JSON.parse(response.body) as ExtensionEvent;
      } catch (error) {
        // The Runtime API is gone (the environment is shutting down) or answered garbage.
        sharedLogger().warn('prediction-log drain extension stopped', { error: describeError(error) });
        await this.options.drain();
        return;
      }
      if (event.eventType === 'INVOKE' && event.requestId) await this.whenAnswered(event.requestId, event.deadlineMs);
      await this.options.drain();
      if (event.eventType === 'SHUTDOWN') return;
    }
  }
}

/**
 * Drains on SIGTERM (Lambda sends it to the runtime before shutting an environment down when an
 * extension is registered), then exits; and when the event loop is about to empty with work
 * `pending` (a process that ran one invocation and would end, such as `npm run invoke`).
 */
export function onShutdown(drain: () => Promise<void>, pending: () => boolean): void {
  process.once('SIGTERM', () => {
    void drain().finally(() => process.exit(0));
  });
  process.on('beforeExit', () => {
    // Draining starts I/O, so the loop is not empty any more; once done, beforeExit comes again
    // with nothing pending and the process ends.
    if (pending()) void drain();
  });
}

/**
 * One HTTP/1.1 request to the Runtime API with no timeout: `next` waits as long as the
 * environment stays idle (frozen), which may be hours.
 */
function request(
  api: string,
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`http://${api}${path}`, { method, headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
