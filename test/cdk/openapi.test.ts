/**
 * The CDK app publishes the API's OpenAPI document: a stack output with its URL (the stage's URL
 * and `openapi.json`), and the two document routes on the API, the API's public and each model's
 * behind the authorizer.
 */
import { joinedText, resourcesOf, synthesize, TWO_ENDPOINTS, type Synthesized } from './helpers.js';

let synth: Synthesized;

beforeAll(() => {
  // The functions' code is not what this file is about: no bundling.
  synth = synthesize(TWO_ENDPOINTS, { bundle: false });
});

/** The method of the API at `path` (as its resources spell it) with HTTP method `method`. */
function method(httpMethod: string, path: string): Record<string, unknown> {
  const resources = resourcesOf(synth.template, 'AWS::ApiGateway::Resource');
  const pathOf = (id: string): string => {
    const resource = resources[id];
    if (!resource) return '';
    const parent = resource.Properties?.['ParentId'] as { Ref?: string } | undefined;
    return `${parent?.Ref ? pathOf(parent.Ref) : ''}/${resource.Properties?.['PathPart'] as string}`;
  };
  const found = Object.values(resourcesOf(synth.template, 'AWS::ApiGateway::Method')).filter((m) => {
    const resource = (m.Properties?.['ResourceId'] as { Ref?: string }).Ref ?? '';
    return m.Properties?.['HttpMethod'] === httpMethod && pathOf(resource) === path;
  });
  expect(found).toHaveLength(1);
  return (found[0] as { Properties: Record<string, unknown> }).Properties;
}

describe('the OpenAPI document on AWS', () => {
  it("has a stack output with the document's URL: the stage's URL and openapi.json", () => {
    // Act
    const outputs = synth.template.findOutputs('*');
    const url = joinedText(outputs['OpenApiUrl']?.['Value']);
    const base = joinedText(outputs['ApiUrl']?.['Value']);

    // Assess
    expect(base).toMatch(/^https:\/\/<\w+>\.execute-api\.<AWS::Region>\.<AWS::URLSuffix>\/<\w+>\/$/);
    expect(url).toBe(`${base}openapi.json`);
    expect(outputs['OpenApiUrl']?.['Description']).toContain('OpenAPI 3.1');
  });

  it("serves GET /openapi.json without a token, and each endpoint model's document behind the authorizer", () => {
    expect(method('GET', '/openapi.json')['AuthorizationType']).toBe('NONE');
    for (const model of ['iris', 'churn']) {
      expect(method('GET', `/v1/models/${model}/openapi.json`)['AuthorizationType']).toBe('CUSTOM');
    }
    expect(method('GET', '/v1/models/{model}/openapi.json')['AuthorizationType']).toBe('CUSTOM');
  });
});
