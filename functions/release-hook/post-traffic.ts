/**
 * The CodeDeploy post-traffic hook of an endpoint's deployment group. When it runs
 * (`AfterAllowTraffic`), alias `live` sends all the traffic to the target version; the hook brings
 * the registry level with the alias, as the local emulation's `ReleaseService.recordOutcome` does
 * when a managed release succeeds:
 *
 * 1. reads the deployment's AppSpec (GetDeployment) for the function and target version;
 * 2. reads the target version's `PINNED_MODEL_VERSION` (GetFunctionConfiguration). No pin (a
 *    `cdk deploy` of new code, which serves the registry's production version): nothing to do;
 * 3. a pinned model version already in production (finalized by hand, or a retried hook): nothing
 *    to do;
 * 4. otherwise moves it staging → production through the registry's stage machine
 *    (`RegistryService.transition`: the gates run again, the previous production version is
 *    archived, one conditional write), as actor `release-monitor`;
 * 5. reports Succeeded, or Failed with the reason logged. A Failed post-traffic hook fails the
 *    deployment, and the group's auto-rollback sends the traffic back to the previous version,
 *    which the registry's unchanged production version still describes.
 *
 * A separate function from the pre-traffic hook (same folder, `post-traffic-handler.ts`): it needs
 * ONNX Runtime, the artifacts and registry writes for the gates, and none of the pre-traffic hook's
 * invokes and alarm writes; each role holds only what its own event needs.
 */
import type { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { GetFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { PIN_VARIABLE } from '../adapters/lambda-traffic-router.js';
import { RELEASE_MONITOR } from '../core/release.js';
import type { RegistryService } from '../core/registry.js';
import { logLine } from '../shared/http.js';
import { deploymentTarget, lifecycleHook, type LifecycleHookEvent } from './hook.js';

export interface PostTrafficHookDeps {
  readonly codeDeploy: CodeDeployClient;
  readonly lambda: LambdaClient;
  /** The registry's stage machine with its gates, over the registry table and the artifact bucket. */
  readonly registry: Pick<RegistryService, 'getVersion' | 'transition'>;
  /** @default structured log lines on stdout */
  readonly log?: (level: 'INFO' | 'WARN' | 'ERROR', message: string, fields?: Record<string, unknown>) => void;
}

export type PostTrafficOutcome =
  | {
      readonly status: 'Succeeded';
      /** `promoted`: the model version became production; the others changed nothing. */
      readonly registry: 'promoted' | 'already-production' | 'unpinned';
      readonly model?: string;
      readonly modelVersion?: string;
    }
  | { readonly status: 'Failed'; readonly reason: string };

/** Records the outcome of one deployment in the registry; never throws (a failure is an outcome). */
export async function recordDeployment(deploymentId: string, deps: PostTrafficHookDeps): Promise<PostTrafficOutcome> {
  const log = deps.log ?? logLine;
  try {
    const target = await deploymentTarget(deploymentId, deps.codeDeploy);
    const config = await deps.lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: target.functionName, Qualifier: target.targetVersion }),
    );
    const variables = config.Environment?.Variables ?? {};
    const model = variables['SERVED_MODEL'];
    const modelVersion = variables[PIN_VARIABLE];
    log('INFO', 'post-traffic hook', { deploymentId, ...target, model, modelVersion });
    if (modelVersion === undefined) return { status: 'Succeeded', registry: 'unpinned', ...(model ? { model } : {}) };
    if (!model)
      return {
        status: 'Failed',
        reason: `Version ${target.targetVersion} of ${target.functionName} is pinned to model version ${modelVersion} but names no SERVED_MODEL.`,
      };
    const version = await deps.registry.getVersion(model, modelVersion);
    if (version.stage === 'production') return { status: 'Succeeded', registry: 'already-production', model, modelVersion };
    await deps.registry.transition({
      model,
      version: modelVersion,
      to: 'production',
      actor: RELEASE_MONITOR,
      reason: `managed release succeeded: function version ${target.targetVersion} took all the traffic (CodeDeploy deployment ${deploymentId})`,
    });
    return { status: 'Succeeded', registry: 'promoted', model, modelVersion };
  } catch (error) {
    return {
      status: 'Failed',
      reason: `The registry was not moved: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
    };
  }
}

/**
 * The Lambda handler: records, then reports the outcome to CodeDeploy. Reporting is the one step
 * allowed to throw (Lambda retries the invocation; CodeDeploy fails the deployment when no status
 * ever arrives). A retried invocation finds the version already in production and succeeds.
 *
 * @example
 * export const handler = makePostTrafficHookHandler({ codeDeploy, lambda, registry: registryService });
 */
export function makePostTrafficHookHandler(deps: PostTrafficHookDeps): (event: LifecycleHookEvent) => Promise<PostTrafficOutcome> {
  return lifecycleHook('post-traffic hook', (deploymentId) => recordDeployment(deploymentId, deps), deps);
}
