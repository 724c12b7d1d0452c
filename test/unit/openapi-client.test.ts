/**
 * The typed client cannot drift from the API: `client/schema.d.ts` must be what `npm run
 * gen:client` writes from the document the route table and the handlers' schemas build now.
 * The client itself is openapi-fetch over those types; its options are checked against a fetch
 * that records what it is given.
 */
import { readFile } from 'node:fs/promises';
import { clientTypes, SCHEMA_FILE } from '../../client/generate.js';
import { ApiError, createApiClient, ok } from '../../client/index.js';

describe('the typed client', () => {
  it('has the types the current API document generates (run `npm run gen:client` after changing a route or schema)', async () => {
    // Act
    const [generated, committed] = await Promise.all([clientTypes(), readFile(SCHEMA_FILE, 'utf8')]);

    // Assess: the first line that differs, if any, is shown.
    const [was, now] = [committed.split('\n'), generated.split('\n')];
    const line = now.findIndex((text, i) => text !== was[i]);
    expect(line < 0 && was.length === now.length ? 'same' : { line: line + 1, committed: was[line], generated: now[line] }).toBe('same');
    expect(committed).toContain('"/v1/models/{model}/openapi.json"');
  }, 60_000);

  it('sends the token and the path to the base URL, and answers the data', async () => {
    // Prepare
    const seen: Request[] = [];
    const fetch = async (request: Request) => {
      seen.push(request);
      return Response.json({ models: [] });
    };
    const api = createApiClient({ baseUrl: 'https://api.example.test/prod/', token: () => 'a.b.c', fetch });

    // Act
    const answer = await ok(api.GET('/v1/models'));

    // Assess
    expect(answer).toEqual({ models: [] });
    expect(seen.map((r) => [r.method, r.url, r.headers.get('authorization')])).toEqual([
      ['GET', 'https://api.example.test/prod/v1/models', 'Bearer a.b.c'],
    ]);
  });

  it('throws the API error of a refused call with its status, code, path and request id', async () => {
    // Prepare
    const body = { error: { code: 'UNKNOWN_FEATURE', message: 'no', path: 'features.x' }, requestId: 'r-1' };
    const api = createApiClient({ baseUrl: 'http://local', fetch: async () => Response.json(body, { status: 400 }) });

    // Act
    const thrown = await ok(
      api.POST('/v1/models/{model}/predict', { params: { path: { model: 'iris' } }, body: { features: { x: 1 } } }),
    ).catch((error: unknown) => error);

    // Assess
    expect(thrown).toBeInstanceOf(ApiError);
    expect(thrown).toMatchObject({ status: 400, code: 'UNKNOWN_FEATURE', path: 'features.x', requestId: 'r-1', message: 'no' });
  });

  it('sends no Authorization header without a token, and names a status that carries no error body', async () => {
    const seen: Request[] = [];
    const api = createApiClient({
      baseUrl: 'http://local',
      fetch: async (request) => {
        seen.push(request);
        return new Response('Bad gateway', { status: 502 });
      },
    });
    const thrown = await ok(api.GET('/v2/health/live')).catch((error: unknown) => error);
    expect(seen[0]?.headers.get('authorization')).toBeNull();
    expect(thrown).toMatchObject({ status: 502, code: 'HTTP_502', message: 'Bad gateway' });
  });
});
