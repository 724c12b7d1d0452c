/**
 * The control plane's routes: the model registry over HTTP. Thin: parse, call the registry
 * service, map the result.
 */
import { z } from 'zod';
import { parseWith } from '../core/codec/request.js';
import type { RegistryService } from '../core/registry.js';
import { callerOf, httpFunction, jsonResponse, pathParam, type BodyLimits, type HttpHandler } from '../shared/http.js';

export interface ControlHandlerDeps {
  readonly service: RegistryService;
  readonly limits: BodyLimits;
}

const RegisterSchema = z.strictObject({
  /** The ONNX file, base64-encoded. */
  modelBase64: z.base64().min(1),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
const REGISTER_HINT = 'Send {"modelBase64": "<the .onnx file, base64>", "metadata": {...}}.';

const ProductionSchema = z.strictObject({ version: z.string().regex(/^[1-9][0-9]*$/, 'must be a version number such as "3"') });
const PRODUCTION_HINT = 'Send {"version": "<version number>"}.';

function versionParam(value: string): string {
  return parseWith(z.string().regex(/^[1-9][0-9]*$/, 'must be a version number such as "3"'), value, '');
}

export function makeHandler({ service, limits }: ControlHandlerDeps): HttpHandler {
  return httpFunction(limits, {
    'GET /v1/models': async () => jsonResponse(200, { models: await service.listModels() }),
    'GET /v1/models/{model}': async (event) => jsonResponse(200, await service.describeModel(pathParam(event, 'model'))),
    'GET /v1/models/{model}/versions': async (event) =>
      jsonResponse(200, { versions: await service.listVersions(pathParam(event, 'model')) }),
    'POST /v1/models/{model}/versions': async (event) => {
      const body = parseWith(RegisterSchema, event.parsedBody, REGISTER_HINT);
      const version = await service.register({
        model: pathParam(event, 'model'),
        bytes: Buffer.from(body.modelBase64, 'base64'),
        metadata: body.metadata,
        actor: callerOf(event),
      });
      return jsonResponse(201, version);
    },
    'GET /v1/models/{model}/versions/{version}': async (event) =>
      jsonResponse(200, await service.getVersion(pathParam(event, 'model'), versionParam(pathParam(event, 'version')))),
    'PUT /v1/models/{model}/production': async (event) => {
      const { version } = parseWith(ProductionSchema, event.parsedBody, PRODUCTION_HINT);
      return jsonResponse(200, await service.setProduction(pathParam(event, 'model'), version, callerOf(event)));
    },
  });
}
