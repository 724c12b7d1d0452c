/**
 * The JWT authorizer of the API: the REQUEST Lambda authorizer of `functions/authorizer/` as a
 * function (bundled like the others, no ONNX Runtime layer, arm64, no permission but its own log
 * streams, plus read access to the HS256 secret when one is configured) and the API Gateway
 * `RequestAuthorizer` that calls it with the `Authorization` header as identity source and caches
 * its answer per token for `auth.cacheTtlSeconds`.
 *
 * The function's environment is built from the `auth` config under exactly the names
 * `functions/authorizer/config.ts` parses, and synth runs that parser on it, so the two cannot
 * drift: an environment the authorizer would refuse at cold start fails `cdk synth` instead.
 */
import { Annotations, Duration } from 'aws-cdk-lib';
import { IdentitySource, RequestAuthorizer } from 'aws-cdk-lib/aws-apigateway';
import { Architecture, ParamsAndSecretsLayerVersion, ParamsAndSecretsVersions } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { loadAuthorizerConfig } from '../functions/authorizer/config.js';
import { PLACEHOLDER_AUTH_HOST, type AuthConfig } from './config.js';
import { ServingFunction } from './serving-function.js';

export interface JwtAuthorizerProps {
  readonly config: AuthConfig;
  readonly logRetention: RetentionDays;
  /** Verifying a signature needs little: @default 256 */
  readonly memoryMb?: number;
  /** JWKS fetch (1.5 s) and secret read (2 s) fit well within it. @default 10 seconds */
  readonly timeout?: Duration;
}

/** The header API Gateway reads the token from (and caches decisions by). */
export const AUTHORIZATION_HEADER = 'Authorization';

/**
 * The authorizer function's environment for an `auth` config, under the names
 * `functions/authorizer/config.ts` reads. HS256 is not listed in `JWT_ALGORITHMS`: the secret's
 * ARN turns it on.
 *
 * @example
 * authorizerEnvironment(parseAppConfig(...).auth)
 * // { JWT_ISSUER: 'https://issuer.example.com/', JWT_AUDIENCE: 'onnx-serving', JWKS_URL: 'https://...' }
 */
export function authorizerEnvironment(auth: AuthConfig): Record<string, string> {
  const asymmetric = auth.algorithms?.filter((algorithm) => algorithm !== 'HS256') ?? [];
  const env: Record<string, string> = {
    JWT_ISSUER: auth.issuer.join(','),
    JWT_AUDIENCE: auth.audience.join(','),
  };
  if (auth.jwksUrl !== undefined) env['JWKS_URL'] = auth.jwksUrl;
  if (auth.publicKeys !== undefined) env['JWT_PUBLIC_KEYS'] = JSON.stringify(auth.publicKeys);
  if (asymmetric.length > 0) env['JWT_ALGORITHMS'] = asymmetric.join(',');
  if (auth.hs256SecretArn !== undefined) env['JWT_HS256_SECRET_ARN'] = auth.hs256SecretArn;
  if (auth.clockToleranceSeconds !== undefined) env['JWT_CLOCK_TOLERANCE_SECONDS'] = String(auth.clockToleranceSeconds);
  if (auth.maxTokenAgeSeconds !== undefined) env['JWT_MAX_TOKEN_AGE_SECONDS'] = String(auth.maxTokenAgeSeconds);
  if (auth.maxTokenLifetimeSeconds !== undefined) env['JWT_MAX_TOKEN_LIFETIME_SECONDS'] = String(auth.maxTokenLifetimeSeconds);
  if (auth.typ !== undefined) env['JWT_TYP'] = auth.typ;
  if (auth.scopePrefix !== undefined) env['JWT_SCOPE_PREFIX'] = auth.scopePrefix;
  if (auth.usageKeyClaim !== undefined) env['AUTH_USAGE_KEY_CLAIM'] = auth.usageKeyClaim;
  return env;
}

/**
 * @example
 * const jwt = new JwtAuthorizer(this, 'Authorizer', { config: config.auth, logRetention });
 * new ServingApi(this, 'Api', { authorizer: jwt.authorizer, ... });
 */
export class JwtAuthorizer extends Construct {
  readonly function: ServingFunction;
  readonly authorizer: RequestAuthorizer;
  /** Seconds API Gateway caches a decision per token (0: not cached). */
  readonly cacheTtlSeconds: number;

  constructor(scope: Construct, id: string, props: JwtAuthorizerProps) {
    super(scope, id);
    const { config } = props;
    const environment = authorizerEnvironment(config);
    try {
      loadAuthorizerConfig(environment);
    } catch (error) {
      throw new Error(`${this.node.path}: the auth config gives the authorizer an environment it refuses: ${(error as Error).message}`);
    }
    this.cacheTtlSeconds = config.cacheTtlSeconds;

    this.function = new ServingFunction(this, 'Jwt', {
      entry: 'functions/authorizer/handler.ts',
      architecture: Architecture.ARM_64,
      memoryMb: props.memoryMb ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      logRetention: props.logRetention,
      description: 'JWT authorizer of the serving API (REQUEST, Authorization: Bearer)',
      environment,
      // functions/authorizer/secrets.ts reads the secret from the extension's localhost endpoint.
      ...(config.hs256SecretArn !== undefined
        ? { paramsAndSecrets: ParamsAndSecretsLayerVersion.fromVersion(ParamsAndSecretsVersions.V1_0_103) }
        : {}),
    });
    if (config.hs256SecretArn !== undefined) {
      this.function.allow(['secretsmanager:GetSecretValue'], [config.hs256SecretArn]);
    }

    this.authorizer = new RequestAuthorizer(this, 'Authorizer', {
      handler: this.function.function,
      identitySources: [IdentitySource.header(AUTHORIZATION_HEADER)],
      resultsCacheTtl: Duration.seconds(config.cacheTtlSeconds),
    });

    const placeholder = [...config.issuer, config.jwksUrl ?? ''].some((value) => value.includes(PLACEHOLDER_AUTH_HOST));
    if (placeholder) {
      Annotations.of(this).addWarningV2(
        'onnx-serving:auth-placeholder',
        `auth still names the placeholder issuer ${PLACEHOLDER_AUTH_HOST}: the deployed API would refuse every token. Set onnxServing.auth in cdk.json (issuer, audience, jwksUrl) to your identity provider's.`,
      );
    }
  }
}
