/**
 * How a 403 describes what a token carries: its grants, or, for a token that grants nothing
 * here, the scopes it carried that this API does not know (clipped), never a bare "none" that
 * leaves the caller guessing why `{"scope": "admin"}` opens nothing.
 */
import { describeGrants, describeTokenScopes, grantsOf, unknownScopes } from '../../../functions/auth/permissions.js';

/** What the message says of a token with these claims, as the authorizer's context carries it. */
function described(claims: Record<string, unknown>, options: { scopePrefix?: string } = {}): string {
  return describeTokenScopes(describeGrants(grantsOf(claims, options)), unknownScopes(claims, options).join(', '));
}

describe('unknownScopes', () => {
  it.each<[string, Record<string, unknown>, string[]]>([
    ['a scope that is none of ours', { scope: 'admin' }, ['admin']],
    ['several, in "scope" and "scp"', { scope: 'admin openid', scp: ['profile'] }, ['admin', 'openid', 'profile']],
    ['ours for a name that is no model name', { scope: 'predict:* models:read:Iris predict' }, ['predict:*', 'models:read:Iris']],
    ['none: every entry is ours', { scope: 'predict models:read:iris' }, []],
    ['none: no scope claim', {}, []],
  ])('%s', (_case, claims, expected) => {
    expect(unknownScopes(claims)).toEqual(expected);
  });

  it('counts entries outside the scope prefix as unknown, and reads those under it', () => {
    const claims = { scope: 'https://api.example.com/predict https://api.example.com/admin predict' };
    expect(unknownScopes(claims, { scopePrefix: 'https://api.example.com/' })).toEqual(['https://api.example.com/admin', 'predict']);
  });

  it('names at most five, each cut to 40 characters, and counts the rest', () => {
    // Prepare
    const long = 'x'.repeat(500);
    const claims = { scope: [long, 'a', 'b', 'c', 'd', 'e', 'f'].join(' ') };

    // Act
    const unknown = unknownScopes(claims);

    // Assess
    expect(unknown).toEqual([`${'x'.repeat(40)}…`, 'a', 'b', 'c', 'd', '… and 2 more']);
  });

  it('names none for claims grantsOf refuses (the token is refused for them, not described)', () => {
    expect(unknownScopes({ scope: ['admin'] })).toEqual([]);
  });
});

describe('describeTokenScopes', () => {
  it.each<[string, Record<string, unknown>, string]>([
    [
      'a token that carries only scopes this API does not know',
      { scope: 'admin' },
      'scopes: none; it carries only scopes this API does not know: admin',
    ],
    ['several of them', { scope: 'admin openid' }, 'scopes: none; it carries only scopes this API does not know: admin, openid'],
    ['a token without scopes', {}, 'scopes: none'],
    ['a token with grants (other scopes are the issuer’s business)', { scope: 'predict:iris openid' }, 'scopes: predict:iris'],
  ])('%s', (_case, claims, expected) => {
    expect(described(claims)).toBe(expected);
  });

  it('takes the list as well as the joined text', () => {
    expect(describeTokenScopes('', ['admin', 'root'])).toBe('scopes: none; it carries only scopes this API does not know: admin, root');
  });

  it('stays short whatever the token carries', () => {
    // Prepare: scopes of many long entries
    const claims = { scope: Array.from({ length: 200 }, (_, i) => `${'s'.repeat(300)}${i}`).join(' ') };

    // Act
    const text = described(claims);

    // Assess
    expect(text.startsWith('scopes: none; it carries only scopes this API does not know: ssss')).toBe(true);
    expect(text.length).toBeLessThan(400);
    expect(text).toContain('… and 195 more');
  });
});
