/**
 * The pre-traffic hook's configuration, parsed once from its environment with zod. Separate from
 * the serving functions' config (`functions/shared/config.ts`), as the authorizer's is: the hook
 * reads the registry and nothing else of theirs. A missing variable fails the cold start with a
 * message that names it.
 */
import { z } from 'zod';

export const HookConfigSchema = z.object({
  /** The registry table, read for the model version's golden inputs. */
  REGISTRY_TABLE: z.string().min(1),
  /** Set by Lambda. */
  AWS_REGION: z.string().default('us-east-1'),
});

export type HookConfig = z.infer<typeof HookConfigSchema>;

export function loadHookConfig(env: Record<string, string | undefined> = process.env): HookConfig {
  const result = HookConfigSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  throw new Error(`Invalid pre-traffic hook configuration (environment variables): ${problems}`);
}
