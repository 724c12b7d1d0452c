/**
 * Puts a bench model in production through the registry service, the way an operator does:
 * register, then development → staging → production. The one place the bench promotes models.
 */
import type { ModelVersion } from '../../functions/core/model.js';
import type { RegistryService } from '../../functions/core/registry.js';
import type { BenchModel } from './models.js';

/** What registration needs of a model: the bench's own models, or any fixture with a name. */
export type PublishedModel = Pick<BenchModel, 'name' | 'bytes' | 'metadata'>;

export async function publish(registry: RegistryService, model: PublishedModel): Promise<ModelVersion> {
  const version = await registry.register({ model: model.name, bytes: model.bytes, metadata: model.metadata, actor: 'bench' });
  await registry.transition({ model: model.name, version: version.version, to: 'staging', actor: 'bench', reason: 'benchmark' });
  await registry.transition({ model: model.name, version: version.version, to: 'production', actor: 'bench', reason: 'benchmark' });
  return version;
}
