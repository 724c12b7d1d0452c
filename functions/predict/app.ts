/**
 * The predict function's routes over the serving core. `makeHandler` takes its dependencies so
 * the local server and the tests wire the very same handler to local servers; `handler.ts`
 * wires it for Lambda. No route of it reads a query parameter, so it declares none
 * (`EdgeOptions.queryParameters`): the edge refuses any with 400 `UNKNOWN_PARAMETER`.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { BINARY_MEDIA_TYPE, INFERENCE_HEADER_CONTENT_LENGTH } from '../core/codec/binary.js';
import type { PredictionService, RequestContext, V2Answer } from '../core/predict.js';
import type { RequestObserver } from '../core/observability.js';
import { SERVER_METADATA } from '../core/server-metadata.js';
import { isBinaryMediaType } from '../shared/media-types.js';
import {
  callerOf,
  header,
  httpFunction,
  jsonResponse,
  pathParam,
  textResponse,
  type BodyLimits,
  type EdgeOptions,
  type HttpEvent,
  type HttpHandler,
} from '../shared/http.js';

export interface PredictHandlerDeps {
  readonly service: PredictionService;
  readonly limits: BodyLimits;
  /** On an endpoint function, the model whose session must be loaded before it is ready. */
  readonly servedModel?: string;
  /** Per-request observations of the model routes (metrics, access log). @default none */
  readonly observer?: RequestObserver;
  /** The function's logger, its version, and the log drain's hook. */
  readonly edge?: Omit<EdgeOptions, 'observer'>;
}

/** The v2 inference routes: they also take the binary tensor extension's bodies. */
const INFER_ROUTES = ['POST /v2/models/{model}/infer', 'POST /v2/models/{model}/versions/{version}/infer'];

/** Whether the client takes a binary answer: the first media range of its `Accept` is application/octet-stream (what makes API Gateway decode a base64 answer). */
function acceptsBinary(event: HttpEvent): boolean {
  const accept = event.headers?.['accept'];
  // `q=0` on that first media type says "not acceptable" (RFC 9110, 12.4.2).
  const [, ...parameters] = (accept?.split(',', 1)[0] ?? '').split(';');
  const refused = parameters.some((p) => /^\s*q\s*=\s*0(\.0{0,3})?\s*$/i.test(p));
  return isBinaryMediaType(accept) && !refused;
}

/** A v2 answer as the proxy result: JSON text, or base64 of the JSON header and the outputs' bytes. */
function v2Result(answer: V2Answer): APIGatewayProxyResult {
  if (answer.kind === 'json') return textResponse(200, answer.text);
  const header = Buffer.from(answer.header, 'utf8');
  const body = Buffer.concat([header, ...answer.chunks]);
  return {
    statusCode: 200,
    headers: { 'content-type': BINARY_MEDIA_TYPE, [INFERENCE_HEADER_CONTENT_LENGTH]: String(header.byteLength) },
    body: body.toString('base64'),
    isBase64Encoded: true,
  };
}

async function infer(service: PredictionService, event: HttpEvent, version?: string): Promise<APIGatewayProxyResult> {
  const request = {
    body: event.parsedBody,
    binaryAccepted: acceptsBinary(event),
    ...(event.binaryBody ? { binary: event.binaryBody } : {}),
  };
  return v2Result(await service.infer(pathParam(event, 'model'), request, context(event), version));
}

function context(event: HttpEvent): RequestContext {
  return {
    requestId: event.requestId,
    caller: callerOf(event),
    startedAt: event.startedAt,
    facts: event.facts,
    log: event.log,
    header: (name) => header(event, name),
  };
}

export function makeHandler({ service, limits, servedModel, observer, edge }: PredictHandlerDeps): HttpHandler {
  return httpFunction(
    limits,
    {
      'POST /v1/models/{model}/predict': async (event) =>
        textResponse(200, await service.predictText(pathParam(event, 'model'), event.parsedBody, context(event))),
      'POST /v2/models/{model}/infer': async (event) => infer(service, event),
      'POST /v1/models/{model}/payloads': async (event) =>
        jsonResponse(201, await service.createPayloadUpload(pathParam(event, 'model'), event.parsedBody)),
      'GET /v2/models/{model}': async (event) => jsonResponse(200, await service.metadataV2(pathParam(event, 'model'), context(event))),
      'GET /v2/models/{model}/ready': async (event) => jsonResponse(200, await service.ready(pathParam(event, 'model'), context(event))),
      // A version by number: served by this function whatever its pin and the alias's weights say.
      'POST /v2/models/{model}/versions/{version}/infer': async (event) => infer(service, event, pathParam(event, 'version')),
      'GET /v2/models/{model}/versions/{version}': async (event) =>
        jsonResponse(200, await service.metadataV2(pathParam(event, 'model'), context(event), pathParam(event, 'version'))),
      'GET /v2/models/{model}/versions/{version}/ready': async (event) =>
        jsonResponse(200, await service.ready(pathParam(event, 'model'), context(event), pathParam(event, 'version'))),
      // The protocol's server metadata: who answers, and which extensions it speaks.
      'GET /v2': async () => jsonResponse(200, SERVER_METADATA),
      // The process is up: it answers.
      'GET /v2/health/live': async () => jsonResponse(200, { live: true }),
      // An endpoint function is ready once its model's session is loaded (this call loads it).
      'GET /v2/health/ready': async () =>
        jsonResponse(200, { ready: true, ...(servedModel ? { models: [await service.ready(servedModel)] } : {}) }),
    },
    { ...edge, binaryRoutes: INFER_ROUTES, ...(observer ? { observer } : {}) },
  );
}
