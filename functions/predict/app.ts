/**
 * The predict function's routes over the serving core. `makeHandler` takes its dependencies so
 * the local server and the tests wire the very same handler to local servers; `handler.ts`
 * wires it for Lambda.
 */
import type { PredictionService, RequestContext } from '../core/predict.js';
import type { RequestObserver } from '../core/observability.js';
import { callerOf, httpFunction, jsonResponse, pathParam, type BodyLimits, type EdgeOptions, type HttpEvent, type HttpHandler } from '../shared/http.js';

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

function context(event: HttpEvent): RequestContext {
  return { requestId: event.requestId, caller: callerOf(event), startedAt: event.startedAt, facts: event.facts, log: event.log };
}

export function makeHandler({ service, limits, servedModel, observer, edge }: PredictHandlerDeps): HttpHandler {
  return httpFunction(limits, {
    'POST /v1/models/{model}/predict': async (event) =>
      jsonResponse(200, await service.predict(pathParam(event, 'model'), event.parsedBody, context(event))),
    'POST /v2/models/{model}/infer': async (event) =>
      jsonResponse(200, await service.inferV2(pathParam(event, 'model'), event.parsedBody, context(event))),
    'GET /v2/models/{model}': async (event) => jsonResponse(200, await service.metadataV2(pathParam(event, 'model'), context(event))),
    'GET /v2/models/{model}/ready': async (event) => jsonResponse(200, await service.ready(pathParam(event, 'model'), context(event))),
    // The process is up: it answers.
    'GET /v2/health/live': async () => jsonResponse(200, { live: true }),
    // An endpoint function is ready once its model's session is loaded (this call loads it).
    'GET /v2/health/ready': async () =>
      jsonResponse(200, { ready: true, ...(servedModel ? { models: [await service.ready(servedModel)] } : {}) }),
  }, { ...edge, ...(observer ? { observer } : {}) });
}
