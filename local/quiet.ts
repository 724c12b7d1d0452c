/**
 * Quiet by default: imported first by every process the project starts on a laptop or in CI
 * (`npm start`, `modelctl`, `npm run invoke`, the CDK app behind `cdk synth`, and jest as a
 * setup file), before anything builds an AWS SDK client. Function code never imports it: on
 * Lambda (nodejs22.x) the notices below do not arise, and a function's environment is its own.
 *
 * What it turns off, and why that is safe:
 * - The AWS SDK's `NodeVersionSupportWarning` (nine lines on stderr from the first client of
 *   each process on Node < 22): SDK releases after early January 2027 will need Node 22. The
 *   deployed functions already run on 22; locally the lockfile pins the SDK, and `engines` says
 *   which Node the tools need. The SDK reads `AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED`.
 *
 * A variable the caller set already wins (`=false` brings the notice back). Children inherit
 * these through `process.env`; a child given an environment of its own should spread
 * {@link QUIET_ENV} into it.
 */

const DEFAULTS: Readonly<Record<string, string>> = {
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

for (const [name, value] of Object.entries(DEFAULTS)) process.env[name] ??= value;

/** The variables this module governs, as this process now has them: for children given an environment of their own. */
export const QUIET_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  Object.keys(DEFAULTS).map((name) => [name, process.env[name] ?? '']),
);
