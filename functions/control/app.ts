/**
 * The control plane's routes: the model registry over HTTP. Thin: parse, call the registry
 * service, map the result.
 */
import { z } from 'zod';
import { parseWith } from '../core/codec/request.js';
import { STAGES } from '../core/model.js';
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

const versionNumber = z.string().regex(/^[1-9][0-9]*$/, 'must be a version number such as "3"');
const revision = z.number().int().positive();
const reason = z.string().min(1).max(1_000);

const ProductionSchema = z.strictObject({ version: versionNumber, expectedRevision: revision.optional(), reason: reason.optional() });
const PRODUCTION_HINT = 'Send {"version": "<version number>"}, optionally with "expectedRevision" and "reason".';

const StageSchema = z.strictObject({ to: z.enum(STAGES), expectedRevision: revision.optional(), reason: reason.optional() });
const STAGE_HINT = `Send {"to": "${STAGES.join('" | "')}"}, optionally with "expectedRevision" and "reason".`;

function versionParam(value: string): string {
  return parseWith(versionNumber, value, '');
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
      const body = parseWith(ProductionSchema, event.parsedBody, PRODUCTION_HINT);
      return jsonResponse(200, await service.transition({ ...body, model: pathParam(event, 'model'), to: 'production', actor: callerOf(event) }));
    },
    'POST /v1/models/{model}/versions/{version}/stage': async (event) => {
      const body = parseWith(StageSchema, event.parsedBody, STAGE_HINT);
      const version = versionParam(pathParam(event, 'version'));
      return jsonResponse(200, await service.transition({ ...body, model: pathParam(event, 'model'), version, actor: callerOf(event) }));
    },
    'GET /v1/models/{model}/history': async (event) => jsonResponse(200, { history: await service.history(pathParam(event, 'model')) }),
  });
}
