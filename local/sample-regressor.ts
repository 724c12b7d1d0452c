/**
 * The second sample model `npm start` serves beside iris: `diabetes`, a regressor (one number
 * per row), trained by `scripts/train-diabetes-model.ts` on `data/diabetes.csv`. Registered
 * with its reference profile and made the production version on the first start, found there
 * on later ones, as the iris model is (`seedSampleModel` in `stack.ts`).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DriftService } from '../functions/core/drift/service.js';
import type { RegistryService } from '../functions/core/registry.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The regressor's files, as its training script writes them. */
export const SAMPLE_REGRESSOR = {
  name: 'diabetes',
  file: path.join(ROOT, 'models/diabetes/model.onnx'),
  metadata: path.join(ROOT, 'models/diabetes/metadata.json'),
  profile: path.join(ROOT, 'models/diabetes/profile.json'),
} as const;

/**
 * Registers the regressor with its reference profile, moves it through staging (where its
 * golden inputs are replayed) and makes it the production version, unless the model already
 * has a production version.
 *
 * @returns `registered` on a fresh data folder, `present` when it was there.
 * @throws what registration and the gates throw (a changed file that fails its own golden
 *   inputs, say): `npm start` then stops with that message.
 */
export async function seedSampleRegressor(registry: RegistryService, drift?: DriftService): Promise<'registered' | 'present'> {
  const { name } = SAMPLE_REGRESSOR;
  const existing = await registry.listModels();
  if (existing.some((m) => m.model === name && m.productionVersion !== undefined)) return 'present';
  const [bytes, metadata, profile] = await Promise.all([
    readFile(SAMPLE_REGRESSOR.file),
    readFile(SAMPLE_REGRESSOR.metadata, 'utf8').then((text) => JSON.parse(text) as unknown),
    readFile(SAMPLE_REGRESSOR.profile, 'utf8').then((text) => JSON.parse(text) as unknown),
  ]);
  const version = await registry.register({ model: name, bytes, metadata, actor: 'local-setup' });
  await drift?.putProfile(name, version.version, profile);
  await registry.transition({ model: name, version: version.version, to: 'staging', actor: 'local-setup', reason: 'sample model' });
  await registry.setProduction(name, version.version, 'local-setup');
  return 'registered';
}
