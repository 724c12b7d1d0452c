/**
 * Reads the HS256 secret from Secrets Manager through the AWS Parameters and Secrets Lambda
 * Extension (an HTTP endpoint on localhost inside the Lambda environment), so the authorizer
 * needs no SDK client. The CDK side adds the extension layer (`paramsAndSecrets`) and grants the
 * function `secretsmanager:GetSecretValue` on the secret.
 */
import { KeysUnavailableError } from '../auth/errors.js';

export interface SecretsExtensionOptions {
  /** The secret's ARN or name. */
  readonly secretId: string;
  /** @default 2773 */
  readonly port?: number;
  /** `AWS_SESSION_TOKEN`: the extension refuses calls without it. */
  readonly sessionToken: string | undefined;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** @default 2000 */
  readonly timeoutMs?: number;
}

/** A reader for the secret's `SecretString` (as UTF-8 bytes), to pass as `hs256Secret`. */
export function secretsExtensionReader(options: SecretsExtensionOptions): () => Promise<Uint8Array> {
  return async () => {
    if (!options.sessionToken)
      throw new KeysUnavailableError('AWS_SESSION_TOKEN is not set; the Parameters and Secrets extension needs it.');
    const url = `http://localhost:${options.port ?? 2_773}/secretsmanager/get?secretId=${encodeURIComponent(options.secretId)}`;
    let response: Response;
    try {
      response = await (options.fetch ?? globalThis.fetch)(url, {
        headers: { 'X-Aws-Parameters-Secrets-Token': options.sessionToken },
        signal: AbortSignal.timeout(options.timeoutMs ?? 2_000),
      });
    } catch (error) {
      throw new KeysUnavailableError('Cannot reach the Parameters and Secrets extension; is its layer on the function?', { cause: error });
    }
    if (!response.ok)
      throw new KeysUnavailableError(`The Parameters and Secrets extension answered HTTP ${response.status} for the HS256 secret.`);
    const body = (await response.json()) as { SecretString?: unknown };
    if (typeof body.SecretString !== 'string' || body.SecretString.length === 0) {
      throw new KeysUnavailableError('The HS256 secret has no SecretString; store the secret as text.');
    }
    return new TextEncoder().encode(body.SecretString);
  };
}
