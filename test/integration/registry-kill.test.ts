/**
 * Crash consistency of the local registry (issue 10, fault 10): the local AWS servers run in a
 * child process on a data folder while workers in this process register versions and move them
 * through the stages (RegistryService over DynamoDbRegistry, real SDK clients, real ONNX Runtime
 * gates); the child is SIGKILLed at a seeded random moment, restarted on the same folder, and the
 * registry's invariants must hold, round after round. (Against the front before the transaction
 * journal, every seed tried broke them within ten rounds: a model item gone, two versions in
 * production, a pointer on another version, a stage change without its history item.)
 *
 * The other test chooses the instant: the servers run in a child of the test's own
 * (`test/fixtures/transaction-kill.ts`), which counts, through Node's HTTP diagnostics channels,
 * the writes the DynamoDB front sends to dynalite for a transaction and SIGKILLs itself right
 * after the k-th; k runs from 1 until the change is answered, so it is killed at every one of
 * its writes. The product has no code path for it.
 *
 * The invariants:
 *
 * - the models index and the model items agree;
 * - every version from 1 to `latestVersion` exists, and none after it;
 * - at most one version is in production, and the production pointer names it (and only it);
 * - every stage change has its history item: each version's revisions 2..n are in its history,
 *   in a chain from `development` that ends in its stage.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { DynamoDbRegistry } from '../../functions/adapters/dynamodb-registry.js';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { ensureTables } from '../../functions/adapters/tables.js';
import { AppError } from '../../functions/core/errors.js';
import type { Stage } from '../../functions/core/model.js';
import { RegistryService } from '../../functions/core/registry.js';
import { localClients, startLocalAwsProcess, type LocalAws, type LocalAwsProcess } from '../../local/aws-servers.js';
import { InMemoryArtifactStore } from '../fixtures/in-memory.js';
import { mlpModel, seededRandom } from '../fixtures/models.js';
import { startKillableAws } from '../fixtures/transaction-kill.js';

const SEED = 20_260_304;
const ROUNDS = 10;
/** Workers enough to keep the front inside a transaction much of the time. */
const WORKERS = 12;
const MODELS = ['kill-a', 'kill-b'];
const TABLES = { registry: 'registry', predictionLog: 'prediction-log' };
/** More kill points than any one change has writes: the loop's bound if a change is never answered. */
const MAX_KILL_POINTS = 40;
/** A kill lands this long after the workers start, in ms. */
const KILL_AFTER_MS = { min: 300, max: 2_000 };

const folders: string[] = [];
afterAll(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

/** What is wrong with the registry's state, one line per broken invariant (empty: all hold). */
async function violations(registry: DynamoDbRegistry, models: readonly string[] = MODELS): Promise<string[]> {
  const found: string[] = [];
  const listed = new Map((await registry.listModels()).map((record) => [record.model, record]));
  for (const model of models) {
    const record = await registry.getModel(model);
    const versions = await registry.listVersions(model);
    if (JSON.stringify(listed.get(model)) !== JSON.stringify(record))
      found.push(`${model}: the models index lists ${JSON.stringify(listed.get(model))}, the item is ${JSON.stringify(record)}`);
    if (!record) {
      if (versions.length > 0) found.push(`${model}: versions ${versions.map((v) => v.version).join(',')} but no model item`);
      continue;
    }
    const numbers = versions.map((v) => Number(v.version));
    const expected = Array.from({ length: record.latestVersion }, (_, i) => i + 1);
    if (JSON.stringify(numbers) !== JSON.stringify(expected))
      found.push(`${model}: latestVersion ${record.latestVersion} but versions [${numbers.join(',')}]`);
    const production = versions.filter((v) => v.stage === 'production').map((v) => v.version);
    if (production.length > 1) found.push(`${model}: ${production.length} versions in production (${production.join(',')})`);
    if ((record.productionVersion ?? 'none') !== (production[0] ?? 'none'))
      found.push(`${model}: the pointer names ${record.productionVersion ?? 'none'}, production holds ${production.join(',') || 'none'}`);
    const history = await registry.listHistory(model);
    for (const version of versions) {
      const own = history.filter((h) => h.version === version.version).sort((a, b) => a.revision - b.revision);
      const revisions = own.map((h) => h.revision).join(',');
      const wanted = Array.from({ length: version.revision - 1 }, (_, i) => i + 2).join(',');
      if (revisions !== wanted)
        found.push(`${model} v${version.version}: revision ${version.revision} in ${version.stage}, history revisions [${revisions}]`);
      let stage: Stage = 'development';
      for (const change of own) {
        if (change.from !== stage)
          found.push(
            `${model} v${version.version}: history moves from ${change.from} at revision ${change.revision}, the version was in ${stage}`,
          );
        stage = change.to;
      }
      if (stage !== version.stage) found.push(`${model} v${version.version}: in ${version.stage}, its history ends in ${stage}`);
    }
  }
  return found;
}

/** One worker: random registry changes until the servers are gone (or `stop()` says so). */
async function work(
  service: RegistryService,
  registry: DynamoDbRegistry,
  random: () => number,
  stopped: () => boolean,
  counts: { done: number },
): Promise<void> {
  const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
  while (!stopped()) {
    const model = pick(MODELS) ?? 'kill-a';
    try {
      const roll = random();
      if (roll < 0.3) {
        await service.register({ model, bytes: mlpModel({ seed: 1 + Math.floor(random() * 3) }).bytes, metadata: {}, actor: 'worker' });
      } else {
        const versions = await registry.listVersions(model);
        const record = await registry.getModel(model);
        const [from, to]: [Stage, Stage] =
          roll < 0.55
            ? ['development', 'staging']
            : roll < 0.8
              ? ['staging', 'production']
              : [pick(['development', 'staging', 'production'] as const) ?? 'development', 'archived'];
        const version = pick(versions.filter((v) => v.stage === from));
        if (version) {
          const ifMatch = random() < 0.5 && record ? { expectedRevision: record.revision } : {};
          await service.transition({ model, version: version.version, to, actor: 'worker', ...ifMatch });
        }
      }
      counts.done += 1;
    } catch (error) {
      // Lost races and refusals are the registry working; anything else is the servers gone.
      if (error instanceof AppError && error.status < 500) continue;
      return;
    }
  }
}

type Connected = { clients: ReturnType<typeof localClients>; registry: DynamoDbRegistry };

async function connect(aws: LocalAws): Promise<Connected> {
  // One attempt per call: after the kill, calls fail at once instead of retrying a dead port.
  const clients = localClients(aws, { maxAttempts: 1, requestTimeoutMs: 5_000 });
  await ensureTables(clients.dynamo, TABLES);
  return { clients, registry: new DynamoDbRegistry({ client: clients.documents, tableName: TABLES.registry }) };
}

/** The servers as `npm start` runs them: their own child process, on `dataDir`. */
async function start(dataDir: string): Promise<Connected & { aws: LocalAwsProcess }> {
  const aws = await startLocalAwsProcess({ dataDir });
  return { aws, ...(await connect(aws)) };
}

/** Everything the registry holds about `model`, to compare before and after. */
async function snapshot(registry: DynamoDbRegistry, model: string): Promise<unknown> {
  return {
    listed: (await registry.listModels()).filter((record) => record.model === model),
    record: await registry.getModel(model),
    versions: await registry.listVersions(model),
    history: await registry.listHistory(model),
  };
}

describe('a SIGKILL of the local AWS servers during registry writes', () => {
  it.each<
    [
      string,
      number,
      (service: RegistryService, model: string) => Promise<void>,
      (service: RegistryService, model: string) => Promise<unknown>,
    ]
  >([
    // v1 in production and v2 in staging: promoting v2 writes v2, its history item, v1 archived,
    // its history item, and the model item (pointer and revision).
    [
      'a promotion',
      5,
      async (service, model) => {
        for (const seed of [1, 2]) await service.register({ model, bytes: mlpModel({ seed }).bytes, metadata: {}, actor: 'setup' });
        for (const version of ['1', '2']) await service.transition({ model, version, to: 'staging', actor: 'setup' });
        await service.setProduction(model, '1', 'setup');
      },
      (service, model) => service.setProduction(model, '2', 'doomed'),
    ],
    // A model's first registration creates two items: the model (listed by the `models` index)
    // and version 1.
    [
      'the first registration of a model',
      2,
      async () => undefined,
      (service, model) => service.register({ model, bytes: mlpModel().bytes, metadata: {}, actor: 'doomed' }),
    ],
  ])(
    'undoes %s killed right after any one of its writes to the store (%i items, and their condition checks): the registry is exactly as before it',
    async (kind, items, prepare, change) => {
      // Prepare
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'registry-kill-'));
      folders.push(dataDir);
      const model = kind === 'a promotion' ? 'kill-promotion' : 'kill-registration';
      const artifacts = new InMemoryArtifactStore();
      const runtime = new OnnxRuntime(artifacts, { cacheDir: path.join(dataDir, 'model-cache'), intraOpThreads: 1 });
      const serviceOver = (registry: DynamoDbRegistry) =>
        new RegistryService({ registry, artifacts, runtime, maxArtifactBytes: 1_000_000 });
      const setup = await start(dataDir);
      await prepare(serviceOver(setup.registry), model);
      const before = await snapshot(setup.registry, model);
      setup.clients.destroy();
      await setup.aws.stop();

      // Act: the servers kill themselves right after the change's first write to dynalite, then
      // its second, and so on, each time restarted on the same folder, until the change makes
      // fewer writes than the kill waits for and is answered.
      const kills: Array<{ writes: number; after: unknown; broken: string[] }> = [];
      let completed: { writes: number; outcome: string; broken: string[] } | undefined;
      for (let writes = 1; !completed && writes <= MAX_KILL_POINTS; writes += 1) {
        const doomedAws = await startKillableAws({ dataDir, killAfterTransactionWrites: writes });
        const doomed = await connect(doomedAws);
        const outcome = await change(serviceOver(doomed.registry), model).then(
          () => 'answered',
          (error: unknown) => `failed: ${String(error)}`,
        );
        // Still there to count: the change ran to its end (or was refused) without the kill.
        const made = await doomedAws.transactionWrites().catch(() => undefined);
        if (made !== undefined) {
          completed = { writes: made, outcome, broken: await violations(doomed.registry, [model]) };
          doomed.clients.destroy();
          await doomedAws.stop();
          break;
        }
        await doomedAws.exited;
        doomed.clients.destroy();
        const restarted = await start(dataDir);
        kills.push({ writes, after: await snapshot(restarted.registry, model), broken: await violations(restarted.registry, [model]) });
        restarted.clients.destroy();
        await restarted.aws.stop();
      }

      // Assess: after every kill the registry is exactly as before the change; the change was
      // killed at each of its writes (all its items among them), and unkilled it is applied whole.
      expect(kills).toEqual(kills.map(({ writes }) => ({ writes, after: before, broken: [] })));
      expect(completed).toEqual({ writes: kills.length, outcome: 'answered', broken: [] });
      expect(kills.length).toBeGreaterThanOrEqual(items);
    },
    120_000,
  );

  it(`leaves the registry consistent, over ${ROUNDS} seeded rounds of concurrent registrations and promotions`, async () => {
    // Prepare
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'registry-kill-'));
    folders.push(dataDir);
    const random = seededRandom(SEED);
    const artifacts = new InMemoryArtifactStore();
    const runtime = new OnnxRuntime(artifacts, { cacheDir: path.join(dataDir, 'model-cache'), intraOpThreads: 1 });
    const rounds: Array<{ changes: number; violations: string[] }> = [];

    // Act: each round checks what the previous kill left, works, and is killed.
    for (let round = 0; round < ROUNDS; round += 1) {
      const { aws, clients, registry } = await start(dataDir);
      const before = await violations(registry);
      const service = new RegistryService({ registry, artifacts, runtime, maxArtifactBytes: 1_000_000 });
      let stop = false;
      const counts = { done: 0 };
      const workers = Array.from({ length: WORKERS }, (_, w) =>
        work(service, registry, seededRandom(SEED + round * WORKERS + w + 1), () => stop, counts),
      );
      const killedAfterMs = KILL_AFTER_MS.min + Math.floor(random() * (KILL_AFTER_MS.max - KILL_AFTER_MS.min));
      await new Promise((resolve) => setTimeout(resolve, killedAfterMs));
      process.kill(aws.pid, 'SIGKILL');
      await aws.exited;
      stop = true;
      await Promise.all(workers);
      clients.destroy();
      rounds.push({ changes: counts.done, violations: before });
    }
    const { aws, clients, registry } = await start(dataDir);
    const after = await violations(registry);
    const models = await registry.listModels();
    clients.destroy();
    await aws.stop();

    // Assess
    expect(rounds.flatMap((r, i) => r.violations.map((v) => `before round ${i + 1}: ${v}`))).toEqual([]);
    expect(after).toEqual([]);
    // The workload did write through the kills: versions were registered and moved.
    expect(rounds.reduce((sum, r) => sum + r.changes, 0)).toBeGreaterThan(ROUNDS);
    expect(models.reduce((sum, m) => sum + m.latestVersion, 0)).toBeGreaterThan(0);
  }, 120_000);
});
