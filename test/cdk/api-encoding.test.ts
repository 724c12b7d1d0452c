/**
 * What the REST API does with compressed bodies agrees with what the functions do
 * (`parseJsonBody` in functions/shared/http.ts): API Gateway decodes gzip and deflate bodies of
 * every size before invoking a function (minimum compression size 0), JSON travels as text (the
 * one binary media type is the binary tensor form's, `application/octet-stream`), and the
 * gateway's own refusals (a coding it does not decode, a body over its limit, a route it does not
 * have) carry the codes the functions and the local server use.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { BINARY_MEDIA_TYPES, isBinaryMediaType } from '../../functions/shared/media-types.js';
import { bareServingApi } from './helpers.js';

let template: Template;

beforeAll(() => {
  ({ template } = bareServingApi());
});

describe('compressed request bodies on the REST API', () => {
  it('are decoded by API Gateway whatever their size (minimum compression size 0)', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { MinimumCompressionSize: 0 });
  });

  it('reach the functions as text: the only binary media type is application/octet-stream, so JSON is never base64-encoded against the 6 MB invoke limit', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { BinaryMediaTypes: ['application/octet-stream'] });
    expect(BINARY_MEDIA_TYPES).toEqual(['application/octet-stream']);
  });
});

describe('binary tensor bodies on the REST API', () => {
  it.each<[string, string | undefined, boolean]>([
    ['the binary tensor form', 'application/octet-stream', true],
    ['the same, with parameters and capitals', 'Application/Octet-Stream; charset=binary', true],
    ['JSON', 'application/json', false],
    ['JSON with a charset', 'application/json; charset=utf-8', false],
    ['no Content-Type', undefined, false],
    ['a wildcard sent by the client', '*/*', false],
  ])('%s (Content-Type %s) is base64-encoded for the function: %s', (_what, contentType, binary) => {
    expect(isBinaryMediaType(contentType)).toBe(binary);
  });

  it.each<[string, string | undefined, boolean]>([
    ['asks for the binary type', 'application/octet-stream', true],
    ['asks for it first, with a quality', 'application/octet-stream;q=1.0, application/json', true],
    ['names it, but not first (API Gateway reads the first media type only)', 'application/json, application/octet-stream', false],
    ['accepts anything (*/* is not in binaryMediaTypes)', '*/*', false],
    ['sends no Accept', undefined, false],
  ])('a base64 answer is decoded to bytes for a client that %s: %s', (_what, accept, decoded) => {
    expect(isBinaryMediaType(accept)).toBe(decoded);
  });

  it("matches API Gateway's wildcard entries (type/* and */*) when a list has them", () => {
    expect(isBinaryMediaType('image/png', ['image/*'])).toBe(true);
    expect(isBinaryMediaType('application/json', ['image/*'])).toBe(false);
    expect(isBinaryMediaType('application/json', ['*/*'])).toBe(true);
  });

  it.each<[string, string, string]>([
    ['UNSUPPORTED_MEDIA_TYPE', '415', 'UNSUPPORTED_MEDIA_TYPE'],
    ['REQUEST_TOO_LARGE', '413', 'BODY_TOO_LARGE'],
    ['MISSING_AUTHENTICATION_TOKEN', '404', 'ROUTE_NOT_FOUND'],
  ])("API Gateway's own %s answers %s with the product's code %s and a request id", (type, status, code) => {
    // Prepare
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse', { Properties: { ResponseType: type } }));

    // Act
    const body = JSON.parse(
      String(
        (responses[0]?.['Properties'] as { ResponseTemplates: Record<string, string> }).ResponseTemplates['application/json'],
      ).replaceAll('$context.requestId', 'req-1'),
    ) as { error: { code: string; message: string; path: string }; requestId: string };

    // Assess
    expect(responses).toHaveLength(1);
    expect((responses[0]?.['Properties'] as { StatusCode: string }).StatusCode).toBe(status);
    expect(body).toEqual({ error: { code, message: expect.any(String), path: '' }, requestId: 'req-1' });
    expect(body.error.message.length).toBeGreaterThan(20);
  });
});
