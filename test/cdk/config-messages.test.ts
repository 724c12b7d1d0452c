/**
 * The endpoint config's errors at synth speak plainly: every problem by its field path with what
 * would be right, the config's own messages where it has them, and never the validation
 * library's wording ("Invalid input: expected array, received string", "Too small: ...").
 */
import { parseAppConfig } from '../../lib/config.js';

const AUTH = { issuer: 'https://issuer.test/', audience: 'onnx-serving', jwksUrl: 'https://issuer.test/jwks.json' };
const iris = { model: 'iris' };

/** The message `parseAppConfig` throws for `raw` (fails the test when it accepts it). */
function problemsOf(raw: unknown): string {
  try {
    parseAppConfig(raw, 'test');
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the config to be refused');
}

/** zod's own wording. */
const LIBRARY_WORDING = /Invalid input|Invalid option|expected [a-z]+, received|Too (small|big)|Unrecognized key/;

describe('parseAppConfig', () => {
  it.each<[string, unknown, string]>([
    ['endpoints that are not a list', { endpoints: 'iris', auth: AUTH }, '  - endpoints: must be an array'],
    ['no endpoints', { auth: AUTH }, '  - endpoints: is required'],
    ['a fractional row limit', { endpoints: [{ ...iris, maxRows: 1.5 }], auth: AUTH }, '  - endpoints[0].maxRows: must be a whole number'],
    [
      'a provisioned concurrency below 1',
      { endpoints: [{ ...iris, provisionedConcurrency: -1 }], auth: AUTH },
      '  - endpoints[0].provisionedConcurrency: must be at least 1',
    ],
    [
      'an unknown field, with the fields there are',
      { endpoints: [iris], auth: AUTH, logRetentionDay: 7 },
      '  - logRetentionDay: unknown field (did you mean "logRetentionDays"?); the fields are: stackName, endpoints,',
    ],
    [
      'an issuer given as text, with a comma (a check on the value the text is read as)',
      { endpoints: [iris], auth: { ...AUTH, issuer: 'https://a.test/,https://b.test/' } },
      '  - auth.issuer[0]: must not contain "," (the authorizer reads a comma-separated list)',
    ],
  ])('%s', (_case, raw, expected) => {
    // Act
    const message = problemsOf(raw);

    // Assess
    expect(message.startsWith('Invalid endpoint config (test):\n')).toBe(true);
    expect(message).toContain(expected);
    expect(message).not.toMatch(LIBRARY_WORDING);
  });

  it('lists every problem, one per line', () => {
    const message = problemsOf({ endpoints: [{ ...iris, maxRows: 0 }, iris] });
    expect(message.split('\n').slice(1)).toEqual([
      '  - endpoints[0].maxRows: must be greater than 0',
      '  - endpoints[1].model: duplicate model name "iris" (also endpoints[0]); each model has one endpoint',
      "  - auth: required: the JWT issuer, audience and keys of the API's authorizer",
    ]);
  });
});
