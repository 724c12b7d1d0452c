/**
 * The one place `modelctl` speaks HTTP to the API: the base URL and token it is given, JSON in
 * and out, binary bodies for `infer`, and every refusal turned into an {@link ApiError} that
 * reads `STATUS CODE: message (at path)`. Presigned S3 URLs (uploads, downloads) are fetched
 * where they are used, with no token.
 *
 * JSON calls go through the API's typed client (`client/index.ts`, openapi-fetch over the types
 * generated from the API's OpenAPI document); `infer`'s binary bodies go through `fetch` itself.
 * Every command calls the API through `call`, `request` and `send`, so this is the one file that
 * knows how.
 */
import { type ApiClient, createApiClient } from '../../client/index.js';
import { type CliIo, UsageError, shown } from './common.js';

/** Where `modelctl` calls without `--api` or `MODELCTL_API`: `npm start` on its default port. */
export const DEFAULT_API_URL = 'http://127.0.0.1:3000';

/** The API refused (its answer from 400 up), answered what cannot be read, or could not be reached. */
export class ApiError extends Error {
  /** The API's answer, when it answered. */
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The API could not be reached at all (no answer, refused connection). */
export class UnreachableError extends ApiError {}

/** Answers worth asking again while waiting: the API unreachable, throttled or briefly unavailable. */
export function transient(error: unknown): error is ApiError {
  return error instanceof UnreachableError || (error instanceof ApiError && [429, 502, 503, 504].includes(error.status ?? 0));
}

/**
 * The API's base URL as `--api` or `MODELCTL_API` (named by `name`) gives it: http or https, a
 * host, an optional port and path (a deployed stage: `https://ID.execute-api.REGION.amazonaws.com/prod`),
 * no query or fragment. Anything else is a {@link UsageError} naming where it came from.
 */
export function apiUrlArg(value: string, name: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  const usable =
    url !== undefined &&
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.hostname !== '' &&
    url.search === '' &&
    url.hash === '' &&
    url.username === '' &&
    url.password === '';
  if (!usable)
    throw new UsageError(
      `${name} is the API's base URL, http(s)://HOST[:PORT][/PATH] (e.g. ${DEFAULT_API_URL}), not ${value === '' ? 'empty' : shown(value)}.`,
    );
  return value;
}

/**
 * The API's base URL and token from the options (`--api`, `--token`, read when the line was
 * parsed), else the environment, else the local default. A `MODELCTL_API` that is no http(s)
 * URL (empty included: an unset variable in `export MODELCTL_API=$URL`) is a {@link UsageError}
 * naming it.
 */
export function apiFor(options: { readonly api?: string; readonly token?: string }, io: Pick<CliIo, 'env' | 'fetch'>): Api {
  const fromEnv = io.env['MODELCTL_API'];
  const base = options.api ?? (fromEnv === undefined ? DEFAULT_API_URL : apiUrlArg(fromEnv, 'MODELCTL_API'));
  return new Api(base, options.token ?? io.env['MODELCTL_TOKEN'] ?? undefined, io.fetch);
}

export class Api {
  private readonly client: ApiClient;

  constructor(
    private readonly base: string,
    private readonly token: string | undefined,
    private readonly fetchFn: typeof fetch,
  ) {
    this.client = createApiClient({
      baseUrl: base,
      ...(token ? { token } : {}),
      // The client's request handed to `fetch` as a URL and its init, as every other call is.
      fetch: async (request) => {
        const body = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text();
        return this.fetch(request.url, {
          method: request.method,
          headers: Object.fromEntries(request.headers),
          ...(body === '' ? {} : { body }),
        });
      },
    });
  }

  /** The JSON answer of `method path` with `body` as JSON; an answer from 400 up is an `ApiError`. */
  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    return (await this.request(method, path, body)).json;
  }

  /** The answer's status and JSON body; an answer from 400 up is an `ApiError` with its code and message. */
  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let answer: { data?: unknown; error?: unknown; response: Response };
    try {
      // `path` is a route with its parameters filled in and encoded already: the client adds it to the base URL.
      answer = await this.client.request(
        method.toLowerCase() as 'get',
        path as '/v1/models',
        (body === undefined ? {} : { body }) as never,
      );
    } catch (error) {
      // openapi-fetch reads a 2xx body as JSON; anything else (an ApiError of `fetch`'s) is passed on.
      if (error instanceof SyntaxError) throw new ApiError(`${method} ${this.url(path)} answered with a body that is not JSON.`);
      throw error;
    }
    const { data, error, response } = answer;
    if (!response.ok) throw refusal(response.status, error, typeof error === 'string' ? error : '');
    return { status: response.status, json: data };
  }

  /**
   * Sends `body` as it is, with `headers` (and the token); the answer unread once its status is
   * below 400. An answer from 400 up is an `ApiError` with its code and message, as `request`'s.
   */
  async send(method: string, path: string, body: Uint8Array, headers: Record<string, string>): Promise<Response> {
    const url = this.url(path);
    const response = await this.fetch(url, { method, headers: { ...headers, ...this.authorization() }, body });
    if (response.ok) return response;
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(`${method} ${url} answered ${response.status} with a body that is not JSON.`, response.status);
    }
    throw refusal(response.status, json, text);
  }

  private url(path: string): string {
    return `${this.base.replace(/\/+$/, '')}${path}`;
  }

  private authorization(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /** `fetch`, with no answer at all an `UnreachableError` that says what to check. */
  private async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchFn(url, init);
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      throw new UnreachableError(`Cannot reach ${url}${cause}. Is the API running (npm start), and is --api (or MODELCTL_API) right?`);
    }
  }
}

/**
 * An answer from 400 up as `STATUS CODE: message (at path)`, and for a 5xx the request id it is
 * logged under, so it can be found.
 */
function refusal(status: number, json: unknown, text: string): ApiError {
  const reply = json as { error?: { code?: string; message?: string; path?: string }; requestId?: string } | undefined;
  const error = reply?.error;
  const where = error?.path ? ` (at ${error.path})` : '';
  const id = status >= 500 && reply?.requestId ? ` [request id ${reply.requestId}]` : '';
  return new ApiError(`${status} ${error?.code ?? 'ERROR'}: ${error?.message ?? text.slice(0, 200)}${where}${id}`, status);
}

/** `403 AccessDenied: Request has expired` from S3's XML error body (presigned uploads and downloads). */
export async function s3Refusal(response: Response): Promise<string> {
  const text = await response.text();
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? 'ERROR';
  const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? text.slice(0, 200);
  return `${response.status} ${code}: ${message}`;
}
