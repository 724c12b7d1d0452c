/**
 * What the REST API does with compressed bodies agrees with what the functions do
 * (`parseJsonBody` in functions/shared/http.ts): API Gateway decodes gzip and deflate bodies of
 * every size before invoking a function (minimum compression size 0), JSON travels as text (no
 * binary media types), and the gateway's own refusals (a coding it does not decode, a body over
 * its limit, a route it does not have) carry the codes the functions and the local server use.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { bareServingApi } from './helpers.js';

let template: Template;

beforeAll(() => {
  ({ template } = bareServingApi());
});

describe('compressed request bodies on the REST API', () => {
  it('are decoded by API Gateway whatever their size (minimum compression size 0)', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { MinimumCompressionSize: 0 });
  });

  it('reach the functions as text: no binary media types, so JSON is never base64-encoded against the 6 MB invoke limit', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { BinaryMediaTypes: Match.absent() });
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
      String((responses[0]?.['Properties'] as { ResponseTemplates: Record<string, string> }).ResponseTemplates['application/json']).replaceAll('$context.requestId', 'req-1'),
    ) as { error: { code: string; message: string; path: string }; requestId: string };

    // Assess
    expect(responses).toHaveLength(1);
    expect((responses[0]?.['Properties'] as { StatusCode: string }).StatusCode).toBe(status);
    expect(body).toEqual({ error: { code, message: expect.any(String), path: '' }, requestId: 'req-1' });
    expect(body.error.message.length).toBeGreaterThan(20);
  });
});
