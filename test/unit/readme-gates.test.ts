/**
 * The documentation's golden-input examples are ones a user can copy: registering a sample model
 * with exactly that block, through the registry service and real ONNX Runtime, replays it and
 * passes (a wrong number would be a 400 GOLDEN_MISMATCH there, as docs/registry.md says). Two
 * examples: the iris block of docs/registry.md ("## Gates"), and the regressor's metadata the
 * README shows ("## Register your own model"), registered with the regressor's own file.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { RegistryService } from '../../functions/core/registry.js';
import { SAMPLE_REGRESSOR } from '../../local/sample-regressor.js';
import { SAMPLE_MODEL } from '../../local/stack.js';
import { InMemoryArtifactStore, InMemoryModelRegistry } from '../fixtures/in-memory.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The ```json blocks of one section of a Markdown file (from its heading to the next heading of its level or above). */
function jsonBlocks(file: string, heading: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const start = text.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`${file} has no "${heading}" section`);
  const level = heading.indexOf(' ');
  const rest = text.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level}} `));
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

function setup() {
  const registry = new InMemoryModelRegistry();
  const artifacts = new InMemoryArtifactStore();
  const runtime = new OnnxRuntime(artifacts, { cacheDir: path.join(os.tmpdir(), 'readme-gates-test'), intraOpThreads: 1 });
  return new RegistryService({ registry, artifacts, runtime, maxArtifactBytes: 10_000_000 });
}

describe("docs/registry.md's golden-input example", () => {
  const example = jsonBlocks('docs/registry.md', '## Gates').find((block) => block.trimStart().startsWith('"goldenInputs"'));

  it('is in the Gates section', () => {
    expect(example).toBeDefined();
  });

  it('registers with the sample classifier: the model predicts exactly what it expects', async () => {
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

describe("the README's metadata example", () => {
  const example = jsonBlocks('README.md', '## Register your own model').find((block) => block.includes('"goldenInputs"'));

  it('is in the section on registering a model', () => {
    expect(example).toBeDefined();
  });

  it('registers, as it is, with the sample regressor: its declarations fit and its golden input passes', async () => {
    // Prepare
    const metadata = JSON.parse(example ?? '{}') as { features: string[]; goldenInputs: unknown[] };
    const service = setup();

    // Act
    const version = await service.register({ model: 'diabetes', bytes: readFileSync(SAMPLE_REGRESSOR.file), metadata, actor: 'readme' });

    // Assess: the same features and the same first golden row as the committed metadata
    const committed = JSON.parse(readFileSync(SAMPLE_REGRESSOR.metadata, 'utf8')) as typeof metadata & {
      goldenInputs: { request: { instances: Record<string, number>[] } }[];
    };
    expect(metadata.features).toEqual(committed.features);
    expect(metadata.goldenInputs).toHaveLength(1);
    expect(version.metadata.goldenInputs).toEqual(metadata.goldenInputs);
    const [first] = committed.goldenInputs[0]?.request.instances ?? [];
    expect((metadata.goldenInputs[0] as { request: { instances: number[][] } }).request.instances[0]).toEqual(
      committed.features.map((name) => first?.[name]),
    );
  });
});
