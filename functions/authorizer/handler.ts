/**
 * Lambda entry point of the JWT authorizer (a REQUEST authorizer, identity source the
 * Authorization header). Configuration, key source and verifier are built once per cold start;
 * the JWKS cache lives as long as the execution environment.
 */
import { makeHandler } from './app.js';
import { buildAuthorizerDeps } from './composition.js';
import { loadAuthorizerConfig } from './config.js';

export const handler = makeHandler(buildAuthorizerDeps(loadAuthorizerConfig()));
