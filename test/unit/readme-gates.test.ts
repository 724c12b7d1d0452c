/**
 * The README's golden-input example ("### Gates") is one a user can copy: registering the sample
 * model with exactly that block, through the registry service and real ONNX Runtime, replays it
 * and passes (a wrong number would be a 400 GOLDEN_MISMATCH there, as the README says).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { RegistryService } from '../../functions/core/registry.js';
import { SAMPLE_MODEL } from '../../local/stack.js';
import { InMemoryArtifactStore, InMemoryModelRegistry } from '../fixtures/in-memory.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The ```json blocks of one README section (from its heading to the next heading of its level or above). */
function jsonBlocks(heading: string): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README.md has no "${heading}" section`);
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(/\n#{2,3} /);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

function setup() {
  const registry = new InMemoryModelRegistry();
  const artifacts = new InMemoryArtifactStore();
  const runtime = new OnnxRuntime(artifacts, { cacheDir: path.join(os.tmpdir(), 'readme-gates-test'), intraOpThreads: 1 });
  return new RegistryService({ registry, artifacts, runtime, maxArtifactBytes: 10_000_000 });
}

describe("the README's golden-input example", () => {
  const example = jsonBlocks('### Gates').find((block) => block.trimStart().startsWith('"goldenInputs"'));

  it('is in the Gates section', () => {
    expect(example).toBeDefined();
  });

  it('registers with the sample model: the model predicts exactly what it expects', async () => {
    // Prepare
    const { goldenInputs } = JSON.parse(`{${example ?? ''}}`) as { goldenInputs: unknown[] };
    const metadata = JSON.parse(readFileSync(SAMPLE_MODEL.metadata, 'utf8')) as Record<string, unknown>;
    const service = setup();

    // Act
    const version = await service.register({
      model: 'iris',
      bytes: readFileSync(SAMPLE_MODEL.file),
      metadata: { ...metadata, goldenInputs },
      actor: 'readme',
    });

    // Assess
    expect(goldenInputs).toHaveLength(1);
    expect(version.metadata.goldenInputs).toEqual(goldenInputs);
  });
});
