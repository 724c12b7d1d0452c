/**
 * DynamoDbRegistry against a real DynamoDB-compatible server (dynalite behind the local
 * transaction front of local/aws/transactions.ts).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbRegistry } from '../../functions/adapters/dynamodb-registry.js';
import { ensureTables, REGISTRY_KEYS } from '../../functions/adapters/tables.js';
import { ConflictError, NotFoundError } from '../../functions/core/errors.js';
import type { ModelVersion } from '../../functions/core/model.js';
import type { NewModelVersion } from '../../functions/core/ports.js';
import { RegistryService } from '../../functions/core/registry.js';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { InMemoryArtifactStore } from '../fixtures/in-memory.js';
import { mlpModel } from '../fixtures/models.js';
import os from 'node:os';
import path from 'node:path';
import { localClients, startLocalAws, type LocalAws, type LocalClients } from '../../local/aws-servers.js';

const TABLE = 'registry';
const NOW = new Date('2025-03-04T05:06:07.000Z');

let aws: LocalAws;
let clients: LocalClients;
let registry: DynamoDbRegistry;

beforeAll(async () => {
  aws = await startLocalAws();
  clients = localClients(aws);
  await ensureTables(clients.dynamo, { registry: TABLE, predictionLog: 'prediction-log' });
  registry = new DynamoDbRegistry({ client: clients.documents, tableName: TABLE, now: () => NOW });
});

afterAll(async () => {
  clients.destroy();
  await aws.stop();
});

function newVersion(model: string, overrides: Partial<NewModelVersion> = {}): NewModelVersion {
  return {
    model,
    metadata: {
      framework: 'scikit-learn',
      algorithm: 'RandomForestClassifier',
      trainedAt: '2025-01-31',
      features: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
      target: 'species',
      classLabels: ['setosa', 'versicolor', 'virginica'],
      metrics: { accuracy: 0.9666666666666667, f1_macro: 0.96, log_loss: 0.0823 },
      description: '',
    },
    artifact: {
      bucket: 'artifacts',
      key: `models/${model}/ab12.onnx`,
      sha256: 'ab12'.repeat(16),
      sizeBytes: 12_345,
    },
    signature: {
      inputs: [{ name: 'float_input', type: 'float32', shape: ['N', 4] }],
      outputs: [
        { name: 'label', type: 'int64', shape: [null] },
        { name: 'probabilities', type: 'float32', shape: ['batch_size', 3] },
      ],
    },
    registeredBy: 'alice',
    registeredAt: '2025-03-04T05:00:00.000Z',
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('versions and models round-trip', () => {
  it('stores a new version exactly as given, in development, revision 1', async () => {
    // Prepare
    const input = newVersion('round-trip', {
      artifact: { ...newVersion('round-trip').artifact, versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY' },
    });

    // Act
    const created = await registry.createVersion(input);
    const read = await registry.getVersion('round-trip', '1');

    // Assess
    const expected: ModelVersion = {
      model: 'round-trip',
      version: '1',
      stage: 'development',
      revision: 1,
      metadata: input.metadata,
      artifact: input.artifact,
      signature: input.signature,
      registeredBy: 'alice',
      registeredAt: '2025-03-04T05:00:00.000Z',
    };
    expect(created).toStrictEqual(expected);
    expect(read).toStrictEqual(expected);
    expect(await registry.getModel('round-trip')).toStrictEqual({
      model: 'round-trip',
      latestVersion: 1,
      revision: 1,
      updatedAt: NOW.toISOString(),
      updatedBy: 'alice',
    });
  });

  it('keys items as tables.ts says: model item in the sparse index, zero-padded version sk', async () => {
    // Prepare
    await registry.createVersion(newVersion('keyed'));

    // Act
    const modelItem = await clients.documents.send(
      new GetCommand({ TableName: TABLE, Key: { pk: REGISTRY_KEYS.pk('keyed'), sk: REGISTRY_KEYS.modelSk } }),
    );
    const versionItem = await clients.documents.send(
      new GetCommand({ TableName: TABLE, Key: { pk: 'MODEL#keyed', sk: 'VERSION#0000000001' } }),
    );

    // Assess
    expect(modelItem.Item).toMatchObject({ modelIndex: 'MODEL', model: 'keyed', latestVersion: 1 });
    expect(versionItem.Item).toMatchObject({ version: '1', stage: 'development' });
    expect(versionItem.Item).not.toHaveProperty('modelIndex');
  });

  it('numbers versions 1, 2, 3 and lists them oldest first', async () => {
    // Prepare
    const created: string[] = [];

    // Act
    for (let i = 0; i < 3; i += 1) created.push((await registry.createVersion(newVersion('counting'))).version);
    const listed = await registry.listVersions('counting');

    // Assess
    expect(created).toEqual(['1', '2', '3']);
    expect(listed.map((v) => v.version)).toEqual(['1', '2', '3']);
    expect(listed[2]).toStrictEqual(await registry.getVersion('counting', '3'));
    expect(await registry.getModel('counting')).toMatchObject({ latestVersion: 3, revision: 3 });
  });

  it('answers undefined for a model or version that does not exist', async () => {
    // Act
    const results = await Promise.all([
      registry.getModel('nobody'),
      registry.getVersion('nobody', '1'),
      registry.getVersion('counting', '99'),
      registry.getVersion('counting', 'abc'),
      registry.getVersion('counting', '01'),
    ]);

    // Assess
    expect(results).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(await registry.listVersions('nobody')).toEqual([]);
  });
});

describe('version allocation under concurrency', () => {
  it('gives 20 concurrent registrations 20 distinct consecutive versions', async () => {
    // Prepare
    const model = 'contended';

    // Act
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) => registry.createVersion(newVersion(model, { registeredBy: `user-${i}` }))),
    );

    // Assess
    const numbers = created.map((v) => Number(v.version)).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await registry.getModel(model)).toMatchObject({ latestVersion: 20, revision: 20 });
    const listed = await registry.listVersions(model);
    expect(listed).toHaveLength(20);
    for (const version of created) {
      expect(listed.find((v) => v.version === version.version)?.registeredBy).toBe(version.registeredBy);
    }
  });

  it('gives up with ConflictError CONCURRENT_UPDATE when every attempt loses the race', async () => {
    // Prepare: a second client whose every transaction is preceded by a rival registration.
    await registry.createVersion(newVersion('raced'));
    const raced = localClients(aws);
    let transactions = 0;
    raced.documents.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'TransactWriteItemsCommand') {
          transactions += 1;
          await registry.createVersion(newVersion('raced', { registeredBy: 'rival' }));
        }
        return next(args);
      },
      { step: 'initialize', name: 'rivalRegistration' },
    );
    const loser = new DynamoDbRegistry({ client: raced.documents, tableName: TABLE, maxAttempts: 3, sleep: async () => {} });

    // Act
    const error = await rejection(loser.createVersion(newVersion('raced', { registeredBy: 'loser' })));
    raced.destroy();

    // Assess
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ code: 'CONCURRENT_UPDATE', status: 409 });
    expect(transactions).toBe(3);
    const versions = await registry.listVersions('raced');
    expect(versions.map((v) => v.registeredBy)).toEqual(['alice', 'rival', 'rival', 'rival']);
  });
});

describe('stage changes (RegistryService over DynamoDbRegistry)', () => {
  /** The core service over this registry, with real models behind the versions so the gates pass. */
  const artifacts = new InMemoryArtifactStore();
  function service(): RegistryService {
    return new RegistryService({
      registry,
      artifacts,
      runtime: new OnnxRuntime(artifacts, { cacheDir: path.join(os.tmpdir(), 'registry-test-cache'), intraOpThreads: 1 }),
      maxArtifactBytes: 1_000_000,
      now: () => NOW,
    });
  }

  /** Registers `count` versions of `model` (a small real network), through the service. */
  async function register(model: string, count: number): Promise<void> {
    const registryService = service();
    for (let i = 0; i < count; i += 1) await registryService.register({ model, bytes: mlpModel().bytes, metadata: {}, actor: 'alice' });
  }

  async function versions(model: string): Promise<string[][]> {
    return (await registry.listVersions(model)).map((v) => [v.version, v.stage, String(v.revision)]);
  }

  it('walks development → staging → production, archives the previous production version, and keeps the history', async () => {
    // Prepare
    const model = 'walked';
    await register(model, 2);
    const registryService = service();

    // Act
    await registryService.transition({ model, version: '1', to: 'staging', actor: 'bob', reason: 'offline eval ok' });
    const first = await registryService.setProduction(model, '1', 'bob');
    await registryService.transition({ model, version: '2', to: 'staging', actor: 'carol' });
    const second = await registryService.setProduction(model, '2', 'carol');

    // Assess
    // Two registrations, then every stage change raises the model's revision by one.
    expect(first).toMatchObject({ productionVersion: '1', revision: 4, updatedBy: 'bob' });
    expect(second).toMatchObject({ productionVersion: '2', revision: 6, updatedBy: 'carol' });
    expect(await versions(model)).toEqual([
      ['1', 'archived', '4'],
      ['2', 'production', '3'],
    ]);
    const history = await registryService.history(model);
    expect(history.map((h) => [h.version, h.from, h.to, h.actor])).toEqual([
      ['1', 'development', 'staging', 'bob'],
      ['1', 'staging', 'production', 'bob'],
      ['1', 'production', 'archived', 'carol'],
      ['2', 'development', 'staging', 'carol'],
      ['2', 'staging', 'production', 'carol'],
    ]);
    expect(history[0]).toStrictEqual({
      model,
      version: '1',
      from: 'development',
      to: 'staging',
      revision: 2,
      actor: 'bob',
      at: NOW.toISOString(),
      reason: 'offline eval ok',
    });
  });

  it('refuses an illegal transition and names the allowed ones', async () => {
    // Prepare
    const model = 'illegal';
    await register(model, 1);
    const registryService = service();

    // Act
    const skip = await rejection(registryService.setProduction(model, '1', 'bob'));
    await registryService.transition({ model, version: '1', to: 'archived', actor: 'bob' });
    const revive = await rejection(registryService.transition({ model, version: '1', to: 'staging', actor: 'bob' }));

    // Assess
    expect(skip).toMatchObject({
      status: 409,
      code: 'ILLEGAL_TRANSITION',
      message: 'Version 1 of "illegal" is in development; it can go to staging or archived, not production.',
    });
    expect(revive).toMatchObject({ status: 409, code: 'ILLEGAL_TRANSITION', message: expect.stringContaining('archived is final') });
    expect(await versions(model)).toEqual([['1', 'archived', '2']]);
  });

  it('archiving the production version clears the pointer; the same stage again changes nothing', async () => {
    // Prepare
    const model = 'cleared';
    await register(model, 1);
    const registryService = service();
    await registryService.transition({ model, version: '1', to: 'staging', actor: 'bob' });
    await registryService.setProduction(model, '1', 'bob');

    // Act
    const again = await registryService.setProduction(model, '1', 'bob');
    const archived = await registryService.transition({ model, version: '1', to: 'archived', actor: 'bob', reason: 'data drift' });

    // Assess
    expect(again).toMatchObject({ productionVersion: '1', revision: 3 });
    expect(archived.productionVersion).toBeUndefined();
    expect(archived.revision).toBe(4);
  });

  it('archiving a version left in production that the pointer does not name leaves the real pointer alone', async () => {
    // Prepare: v1 is the production version; v2 was left in production without the pointer
    // (what a kill of the old local DynamoDB front could leave behind).
    const model = 'stray-production';
    await register(model, 2);
    const registryService = service();
    await registryService.transition({ model, version: '1', to: 'staging', actor: 'bob' });
    await registryService.setProduction(model, '1', 'bob');
    await clients.documents.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: { pk: REGISTRY_KEYS.pk(model), sk: REGISTRY_KEYS.versionSk(2) },
        UpdateExpression: 'SET #stage = :production',
        ExpressionAttributeNames: { '#stage': 'stage' },
        ExpressionAttributeValues: { ':production': 'production' },
      }),
    );

    // Act
    const record = await registryService.transition({ model, version: '2', to: 'archived', actor: 'bob', reason: 'stray' });

    // Assess
    expect(record.productionVersion).toBe('1');
    expect(await versions(model)).toEqual([
      ['1', 'production', '3'],
      ['2', 'archived', '2'],
    ]);
  });

  it('honours expectedRevision like If-Match', async () => {
    // Prepare
    const model = 'if-match';
    await register(model, 1);
    const registryService = service();
    await registryService.transition({ model, version: '1', to: 'staging', actor: 'bob' });

    // Act
    const stale = await rejection(registryService.setProduction(model, '1', 'bob', 7));
    const fresh = await registryService.setProduction(model, '1', 'bob', 2);

    // Assess
    expect(stale).toMatchObject({ status: 409, code: 'STALE_REVISION' });
    expect(fresh).toMatchObject({ productionVersion: '1', revision: 3 });
  });

  it('50 concurrent promotions of different versions: exactly one wins, the history is consistent, nothing is lost', async () => {
    // Prepare: 50 versions in staging, one in production.
    const model = 'fifty';
    const registryService = service();
    for (let i = 0; i < 51; i += 1) await register(model, 1);
    for (let v = 1; v <= 51; v += 1) await registryService.transition({ model, version: String(v), to: 'staging', actor: 'setup' });
    await registryService.setProduction(model, '1', 'setup');
    const seen = await registry.getModel(model);

    // Act: every promoter read the same state (revision) and promotes its own version.
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => registryService.setProduction(model, String(i + 2), `promoter-${i + 2}`, seen?.revision)),
    );

    // Assess
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [String(i + 2)] : []));
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ status: 409, code: 'STALE_REVISION' });
    const winner = won[0] as string;
    const record = await registry.getModel(model);
    expect(record).toMatchObject({ productionVersion: winner, revision: (seen?.revision ?? 0) + 1, updatedBy: `promoter-${winner}` });
    const all = await registry.listVersions(model);
    expect(all.filter((v) => v.stage === 'production').map((v) => v.version)).toEqual([winner]);
    expect(all.find((v) => v.version === '1')?.stage).toBe('archived');
    expect(all.filter((v) => v.stage === 'staging')).toHaveLength(49);
    // The history holds exactly the changes that happened: 51 to staging, 2 to production, 1 archive.
    const history = await registryService.history(model);
    expect(history.filter((h) => h.to === 'staging')).toHaveLength(51);
    expect(history.filter((h) => h.to === 'production').map((h) => h.version)).toEqual(['1', winner]);
    expect(history.filter((h) => h.to === 'archived').map((h) => [h.version, h.actor])).toEqual([['1', `promoter-${winner}`]]);
    // Every version's revision matches the changes recorded for it: no update lost.
    for (const v of all) expect(v.revision).toBe(1 + history.filter((h) => h.version === v.version).length);
  }, 60_000);

  /** Each version's revision is one more than its history items, and its last item names its stage. */
  async function expectHistoryAgrees(model: string): Promise<void> {
    const all = await registry.listVersions(model);
    const history = await registry.listHistory(model);
    for (const v of all) {
      const own = history.filter((h) => h.version === v.version);
      expect([v.version, v.revision, own.at(-1)?.to ?? 'development']).toEqual([v.version, 1 + own.length, v.stage]);
    }
  }

  let raceModels = 0;
  it.each<[string, (registryService: RegistryService, model: string) => Promise<(i: number, revision: number) => Promise<unknown>>]>([
    [
      'moving one version development → staging',
      async (registryService, model) => {
        await register(model, 1);
        return (i, expectedRevision) =>
          registryService.transition({ model, version: '1', to: 'staging', actor: `mover-${i}`, expectedRevision });
      },
    ],
    [
      'archiving 50 different versions',
      async (registryService, model) => {
        await register(model, 50);
        return (i, expectedRevision) =>
          registryService.transition({ model, version: String(i + 1), to: 'archived', actor: `mover-${i}`, expectedRevision });
      },
    ],
    [
      'archiving the production version',
      async (registryService, model) => {
        await register(model, 1);
        await registryService.transition({ model, version: '1', to: 'staging', actor: 'setup' });
        await registryService.setProduction(model, '1', 'setup');
        return (i, expectedRevision) =>
          registryService.transition({ model, version: '1', to: 'archived', actor: `mover-${i}`, expectedRevision });
      },
    ],
  ])(
    '50 concurrent changes with the same expectedRevision, %s: exactly one applies, 49 get STALE_REVISION',
    async (_kind, prepare) => {
      // Prepare
      raceModels += 1;
      const model = `race-${raceModels}`;
      const registryService = service();
      const change = await prepare(registryService, model);
      const seen = await registry.getModel(model);
      const revision = seen?.revision ?? 0;
      const historyBefore = (await registry.listHistory(model)).length;

      // Act
      const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => change(i, revision)));

      // Assess
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results)
        if (r.status === 'rejected') expect(r.reason).toMatchObject({ status: 409, code: 'STALE_REVISION', path: ['expectedRevision'] });
      expect(await registry.getModel(model)).toMatchObject({ revision: revision + 1, updatedBy: `mover-${won[0]}` });
      const history = await registry.listHistory(model);
      expect(history.slice(historyBefore).map((h) => h.actor)).toEqual([`mover-${won[0]}`]);
      expect((await registry.getModel(model))?.productionVersion).toBeUndefined();
      await expectHistoryAgrees(model);
    },
    60_000,
  );

  it('checks expectedRevision in the write itself: a change that lands between the read and the write makes it STALE_REVISION, and nothing of it is written', async () => {
    // Prepare: a second client whose one transaction is preceded by a rival's change.
    const model = 'if-match-write';
    await register(model, 2);
    const rival = service();
    const raced = localClients(aws);
    let rivalled = false;
    raced.documents.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'TransactWriteItemsCommand' && !rivalled) {
          rivalled = true;
          await rival.transition({ model, version: '2', to: 'archived', actor: 'rival' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'rivalChange' },
    );
    const loser = new RegistryService({
      registry: new DynamoDbRegistry({ client: raced.documents, tableName: TABLE, now: () => NOW }),
      artifacts,
      runtime: new OnnxRuntime(artifacts, { cacheDir: path.join(os.tmpdir(), 'registry-test-cache'), intraOpThreads: 1 }),
      maxArtifactBytes: 1_000_000,
      now: () => NOW,
    });
    const seen = await registry.getModel(model);

    // Act
    const error = await rejection(
      loser.transition({ model, version: '1', to: 'archived', actor: 'loser', expectedRevision: seen?.revision }),
    );
    raced.destroy();

    // Assess
    expect(rivalled).toBe(true);
    expect(error).toMatchObject({ status: 409, code: 'STALE_REVISION' });
    expect(await versions(model)).toEqual([
      ['1', 'development', '1'],
      ['2', 'archived', '2'],
    ]);
    expect((await registry.listHistory(model)).map((h) => h.actor)).toEqual(['rival']);
  });

  it('without expectedRevision, concurrent promotions each apply to the state they read: the last writer wins, every win is in the history', async () => {
    // Prepare
    const model = 'last-writer';
    const registryService = service();
    await register(model, 10);
    for (let v = 1; v <= 10; v += 1) await registryService.transition({ model, version: String(v), to: 'staging', actor: 'setup' });

    // Act
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => registryService.setProduction(model, String(i + 1), `promoter-${i + 1}`)),
    );

    // Assess
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [String(i + 1)] : []));
    expect(won.length).toBeGreaterThanOrEqual(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ status: 409, code: 'CONCURRENT_UPDATE' });
    const all = await registry.listVersions(model);
    const production = all.filter((v) => v.stage === 'production').map((v) => v.version);
    expect(production).toHaveLength(1);
    expect((await registry.getModel(model))?.productionVersion).toBe(production[0]);
    expect(
      all
        .filter((v) => v.stage === 'archived')
        .map((v) => v.version)
        .sort(),
    ).toEqual(won.filter((v) => v !== production[0]).sort());
    const promoted = (await registry.listHistory(model)).filter((h) => h.to === 'production').map((h) => h.version);
    expect(promoted.sort()).toEqual([...won].sort());
    await expectHistoryAgrees(model);
  }, 60_000);

  it('reports an unknown model or version with stable codes', async () => {
    // Prepare
    await register('known', 1);
    const registryService = service();

    // Act
    const noModel = await rejection(registryService.setProduction('unknown', '1', 'bob'));
    const noVersion = await rejection(registryService.setProduction('known', '7', 'bob'));

    // Assess
    expect(noModel).toBeInstanceOf(NotFoundError);
    expect(noModel).toMatchObject({ code: 'MODEL_NOT_FOUND', status: 404 });
    expect(noVersion).toBeInstanceOf(NotFoundError);
    expect(noVersion).toMatchObject({ code: 'VERSION_NOT_FOUND', status: 404 });
  });
});

describe('listing pages through every result', () => {
  it('lists all models and all versions across pages of 2', async () => {
    // Prepare: a table of its own, so the model list is known exactly.
    const table = 'registry-paged';
    await ensureTables(clients.dynamo, { registry: table, predictionLog: 'prediction-log' });
    const paged = new DynamoDbRegistry({ client: clients.documents, tableName: table, now: () => NOW, pageSize: 2 });
    const names = ['echo', 'alpha', 'delta', 'charlie', 'bravo'];
    for (const name of names) await paged.createVersion(newVersion(name));
    for (let i = 0; i < 4; i += 1) await paged.createVersion(newVersion('alpha'));
    const send = jest.spyOn(clients.documents, 'send');

    // Act
    const models = await paged.listModels();
    const versions = await paged.listVersions('alpha');

    // Assess
    expect(models.map((m) => m.model)).toEqual(['alpha', 'bravo', 'charlie', 'delta', 'echo']);
    expect(models[0]).toStrictEqual({
      model: 'alpha',
      latestVersion: 5,
      revision: 5,
      updatedAt: NOW.toISOString(),
      updatedBy: 'alice',
    });
    expect(versions.map((v) => v.version)).toEqual(['1', '2', '3', '4', '5']);
    const queries = send.mock.calls.filter(([command]) => command instanceof QueryCommand);
    expect(queries.length).toBeGreaterThanOrEqual(6); // 3 pages of models + 3 pages of versions
    send.mockRestore();
  });
});
