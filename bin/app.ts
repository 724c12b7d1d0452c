#!/usr/bin/env node
/**
 * The CDK app entry (`cdk.json` runs it with tsx). The config (endpoints, API, the JWT
 * authorizer's `auth`) comes from cdk.json's context key `onnxServing`, or from a JSON file:
 * `npx cdk synth -c onnxServingConfigFile=prod.json`. A bad config fails here with a message
 * naming the field; cdk.json's placeholder `auth` issuer synthesizes with a warning.
 */
import '../local/quiet.js';
import { createServingApp } from '../lib/app.js';

// The account and region the CLI resolved from the caller's credentials (unset: environment-agnostic).
const { app } = createServingApp({
  stackProps: { env: { account: process.env['CDK_DEFAULT_ACCOUNT'], region: process.env['CDK_DEFAULT_REGION'] } },
});
app.synth();
