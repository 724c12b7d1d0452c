/**
 * The release hooks' configuration, parsed once from their environment with zod. Separate from
 * the serving functions' config (`functions/shared/config.ts`), as the authorizer's is: the
 * pre-traffic hook reads the registry, the post-traffic hook reads the registry and the artifacts
 * (to run the gates), and nothing else of theirs. A missing variable fails the cold start with a
 * message that names it.
 */
import * as z from 'zod';
import { environmentProblems, plainParse } from '../core/messages.js';
import { metricBaselinesVariable } from '../shared/config.js';

export const HookConfigSchema = z.object({
  /** The registry table, read for the model version's golden inputs. */
  REGISTRY_TABLE: z.string().min(1),
  /** Set by Lambda. */
  AWS_REGION: z.string().default('us-east-1'),
});

export type HookConfig = z.infer<typeof HookConfigSchema>;

export const PostTrafficHookConfigSchema = HookConfigSchema.extend({
  /** The artifact bucket, read by the gates (artifact hash, loads, signature, golden inputs). */
  ARTIFACT_BUCKET: z.string().min(1),
  MODEL_CACHE_DIR: z.string().min(1).default('/tmp/models'),
  /** Set by Lambda; sizes ONNX Runtime's thread pool. */
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: z.coerce.number().int().positive().optional(),
  /** The endpoints' metric baselines, as on the control plane (the metrics gate). */
  METRIC_BASELINES: metricBaselinesVariable(),
});

export type PostTrafficHookConfig = z.infer<typeof PostTrafficHookConfigSchema>;

function parse<T>(schema: z.ZodType<T>, env: Record<string, string | undefined>, what: string): T {
  const result = plainParse(schema, env);
  if (result.success) return result.data;
  throw new Error(`Invalid ${what} configuration (environment variables): ${environmentProblems(result.issues, env)}`);
}

export function loadHookConfig(env: Record<string, string | undefined> = process.env): HookConfig {
  return parse(HookConfigSchema, env, 'pre-traffic hook');
}

export function loadPostTrafficHookConfig(env: Record<string, string | undefined> = process.env): PostTrafficHookConfig {
  return parse(PostTrafficHookConfigSchema, env, 'post-traffic hook');
}
