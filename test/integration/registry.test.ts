/**
 * DynamoDbRegistry against a real DynamoDB-compatible server (dynalite behind the local
 * transaction front of local/aws-servers.ts).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbRegistry } from '../../functions/adapters/dynamodb-registry.js';
import { ensureTables, REGISTRY_KEYS } from '../../functions/adapters/tables.js';
import { ConflictError, NotFoundError } from '../../functions/core/errors.js';
import type { ModelVersion } from '../../functions/core/model.js';
import type { NewModelVersion } from '../../functions/core/ports.js';
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

describe('setProductionVersion', () => {
  it('promotes a version and archives the previous production version', async () => {
    // Prepare
    const model = 'promoted';
    for (let i = 0; i < 3; i += 1) await registry.createVersion(newVersion(model));

    // Act
    const first = await registry.setProductionVersion(model, '1', 'bob');
    const second = await registry.setProductionVersion(model, '2', 'carol');

    // Assess
    expect(first).toStrictEqual({
      model,
      productionVersion: '1',
      latestVersion: 3,
      revision: 4,
      updatedAt: NOW.toISOString(),
      updatedBy: 'bob',
    });
    expect(second).toStrictEqual({ ...first, productionVersion: '2', revision: 5, updatedBy: 'carol' });
    expect(await registry.getModel(model)).toStrictEqual(second);
    const stages = (await registry.listVersions(model)).map((v) => [v.version, v.stage, v.revision]);
    expect(stages).toEqual([
      ['1', 'archived', 3],
      ['2', 'production', 2],
      ['3', 'development', 1],
    ]);
  });

  it('is a no-op for the version that is already in production', async () => {
    // Prepare
    const model = 'steady';
    await registry.createVersion(newVersion(model));
    const promoted = await registry.setProductionVersion(model, '1', 'bob');

    // Act
    const again = await registry.setProductionVersion(model, '1', 'carol');

    // Assess
    expect(again).toStrictEqual(promoted);
    expect(await registry.getVersion(model, '1')).toMatchObject({ stage: 'production', revision: 2 });
  });

  it('refuses an archived version', async () => {
    // Prepare
    const model = 'retired';
    await registry.createVersion(newVersion(model));
    await registry.createVersion(newVersion(model));
    await registry.setProductionVersion(model, '1', 'bob');
    await registry.setProductionVersion(model, '2', 'bob');

    // Act
    const error = await rejection(registry.setProductionVersion(model, '1', 'bob'));

    // Assess
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ code: 'VERSION_ARCHIVED' });
    expect(await registry.getModel(model)).toMatchObject({ productionVersion: '2' });
  });

  it('leaves exactly one production version when two promotions race', async () => {
    // Prepare
    const model = 'race-to-prod';
    for (let i = 0; i < 3; i += 1) await registry.createVersion(newVersion(model));

    // Act
    const results = await Promise.allSettled([
      registry.setProductionVersion(model, '1', 'bob'),
      registry.setProductionVersion(model, '2', 'carol'),
      registry.setProductionVersion(model, '3', 'dave'),
    ]);

    // Assess: each promotion either won in turn or found its version archived by a later one.
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toMatchObject({ code: 'VERSION_ARCHIVED' });
    }
    const record = await registry.getModel(model);
    const production = (await registry.listVersions(model)).filter((v) => v.stage === 'production');
    expect(production.map((v) => v.version)).toEqual([record?.productionVersion]);
  });

  it('reports an unknown model or version with stable codes', async () => {
    // Prepare
    await registry.createVersion(newVersion('known'));

    // Act
    const noModel = await rejection(registry.setProductionVersion('unknown', '1', 'bob'));
    const noVersion = await rejection(registry.setProductionVersion('known', '7', 'bob'));

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
