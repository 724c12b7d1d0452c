/**
 * The typed client of the API: openapi-fetch over the types generated from the API's OpenAPI
 * document (`client/schema.d.ts`, `npm run gen:client`). Every path, path parameter, query
 * parameter, request body and documented answer is checked by the compiler; a unit test keeps
 * the types equal to what the route table and the handlers' schemas generate.
 *
 * Calls answer `{ data, error, response }` (openapi-fetch's shape): `data` for a 2xx answer,
 * `error` (the API's error body) otherwise. {@link ok} turns that into the data or a thrown
 * {@link ApiError}, for callers that stop at the first error.
 *
 * @example
 * const api = createApiClient({ baseUrl: 'http://127.0.0.1:3000', token: process.env.MODELCTL_TOKEN });
 * const { models } = await ok(api.GET('/v1/models'));
 * const answer = await ok(
 *   api.POST('/v1/models/{model}/predict', {
 *     params: { path: { model: 'iris' } },
 *     body: { features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 } },
 *   }),
 * );
 * answer.predictions[0]; // { label: 'setosa', confidence: 0.97, probabilities: {...} }
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './schema.js';

export type { components, operations, paths } from './schema.js';

/** The API's error body: `{"error": {"code", "message", "path"}, "requestId"}`. */
export type ErrorBody = components['schemas']['ErrorBody'];

/** A client of the whole API (openapi-fetch's, typed by the API document). */
export type ApiClient = Client<paths>;

export interface ApiClientOptions {
  /**
   * Where the API is: `http://127.0.0.1:3000` locally, the stack's `ApiUrl` output on AWS
   * (`https://<id>.execute-api.<region>.amazonaws.com/prod/`). A trailing slash is ignored.
   */
  readonly baseUrl: string;
  /**
   * The bearer JWT sent as `Authorization: Bearer <token>`, or a function that gives it (called
   * before every request, so a token may be refreshed). Without one, only the public routes answer.
   */
  readonly token?: string | (() => string | undefined | Promise<string | undefined>);
  /** Headers sent with every request. @default none */
  readonly headers?: Readonly<Record<string, string>>;
  /** The fetch to call (a test's, or one with a proxy). @default globalThis.fetch */
  readonly fetch?: (request: Request) => Promise<Response>;
}

/**
 * A client of the API at `options.baseUrl`, sending `options.token` with every request.
 *
 * @example
 * const api = createApiClient({ baseUrl: stackUrl, token });
 * const { data, error } = await api.GET('/v1/models/{model}', { params: { path: { model: 'iris' } } });
 */
export function createApiClient(options: ApiClientOptions): ApiClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    ...(options.headers ? { headers: { ...options.headers } } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const { token } = options;
  if (token !== undefined) {
    client.use({
      async onRequest({ request }) {
        const value = typeof token === 'function' ? await token() : token;
        if (value) request.headers.set('authorization', `Bearer ${value}`);
        return request;
      },
    });
  }
  return client;
}

/** An answer of 400 and up, as the API gave it: its status, stable code, message, field path and request id. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The field, header or query parameter at fault (`instances[0].x`); empty when none. */
    readonly path: string,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }

  /** The error of an answer: its body when it is the API's error body, else its status and text. */
  static from(response: Response, body: unknown): ApiError {
    const error = isErrorBody(body) ? body.error : undefined;
    if (error && isErrorBody(body)) return new ApiError(response.status, error.code, error.message, error.path, body.requestId);
    const text = typeof body === 'string' ? body.slice(0, 200) : '';
    return new ApiError(
      response.status,
      `HTTP_${response.status}`,
      text || response.statusText || `HTTP ${response.status}`,
      '',
      undefined,
    );
  }
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== 'object' || body === null) return false;
  const error = (body as { error?: unknown }).error;
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string';
}

/**
 * The data of a call's answer, or the {@link ApiError} it answered (thrown).
 *
 * @example
 * const version = await ok(api.GET('/v1/models/{model}/versions/{version}', { params: { path: { model: 'iris', version: '1' } } }));
 */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (error !== undefined || !response.ok) throw ApiError.from(response, error);
  return data as T;
}
