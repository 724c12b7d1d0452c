/**
 * The local DynamoDB front's transactions (local/aws/transactions.ts), through the real SDK: all or
 * nothing within a process, conditions checked without touching the items, and a transaction a
 * kill cut short undone at the next start, secondary-index entries included.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GetCommand, PutCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { ensureTables, REGISTRY_KEYS } from '../../functions/adapters/tables.js';
import { localClients, startLocalAws, TRANSACTION_JOURNAL_DIR, type LocalAws, type LocalClients } from '../../local/aws-servers.js';

const TABLES = { registry: 'registry', predictionLog: 'prediction-log' };
const modelKey = (model: string) => ({ pk: REGISTRY_KEYS.pk(model), sk: REGISTRY_KEYS.modelSk });
const modelItem = (model: string, revision: number) => ({
  ...modelKey(model),
  modelIndex: REGISTRY_KEYS.modelIndexValue,
  model,
  latestVersion: 1,
  revision,
  updatedAt: 'then',
  updatedBy: 'test',
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** The model names the sparse `models` index lists. */
async function listed(clients: LocalClients): Promise<string[]> {
  const { Items = [] } = await clients.documents.send(
    new QueryCommand({
      TableName: TABLES.registry,
      IndexName: REGISTRY_KEYS.modelsIndexName,
      KeyConditionExpression: 'modelIndex = :m',
      ExpressionAttributeValues: { ':m': REGISTRY_KEYS.modelIndexValue },
    }),
  );
  return Items.map((item) => String(item.model));
}

async function item(clients: LocalClients, model: string): Promise<Record<string, unknown> | undefined> {
  return (await clients.documents.send(new GetCommand({ TableName: TABLES.registry, Key: modelKey(model), ConsistentRead: true }))).Item;
}

describe('within a running process', () => {
  let aws: LocalAws;
  let clients: LocalClients;

  beforeAll(async () => {
    aws = await startLocalAws();
    clients = localClients(aws);
    await ensureTables(clients.dynamo, TABLES);
  });

  afterAll(async () => {
    clients.destroy();
    await aws.stop();
  });

  it('a condition that fails cancels the transaction and leaves every item (and the index) as it was', async () => {
    // Prepare
    await clients.documents.send(new PutCommand({ TableName: TABLES.registry, Item: modelItem('held', 3) }));

    // Act
    const error = await rejection(
      clients.documents.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: TABLES.registry, Item: modelItem('fresh', 1), ConditionExpression: 'attribute_not_exists(pk)' } },
            {
              Update: {
                TableName: TABLES.registry,
                Key: modelKey('held'),
                UpdateExpression: 'SET revision = :r',
                ConditionExpression: 'revision = :old',
                ExpressionAttributeValues: { ':r': 4, ':old': 2 },
              },
            },
          ],
        }),
      ),
    );

    // Assess
    expect(error).toMatchObject({
      name: 'TransactionCanceledException',
      CancellationReasons: [{ Code: 'None' }, { Code: 'ConditionalCheckFailed' }],
    });
    expect(await item(clients, 'held')).toEqual(modelItem('held', 3));
    expect(await item(clients, 'fresh')).toBeUndefined();
    expect((await listed(clients)).filter((m) => m === 'held' || m === 'fresh')).toEqual(['held']);
  });

  it('a write that fails half-way is undone: all or nothing', async () => {
    // Prepare
    await clients.documents.send(new PutCommand({ TableName: TABLES.registry, Item: modelItem('first', 1) }));

    // Act: the second update cannot apply (no such attribute to add to).
    const error = await rejection(
      clients.documents.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: TABLES.registry,
                Key: modelKey('first'),
                UpdateExpression: 'SET revision = revision + :one',
                ExpressionAttributeValues: { ':one': 1 },
              },
            },
            { Put: { TableName: TABLES.registry, Item: modelItem('second', 1) } },
            {
              Update: {
                TableName: TABLES.registry,
                Key: modelKey('first-missing'),
                UpdateExpression: 'SET nothing = nothing + :one',
                ExpressionAttributeValues: { ':one': 1 },
              },
            },
          ],
        }),
      ),
    );

    // Assess
    expect(error).toMatchObject({
      name: 'TransactionCanceledException',
      CancellationReasons: [{ Code: 'None' }, { Code: 'None' }, { Code: 'ValidationError' }],
    });
    expect(await item(clients, 'first')).toEqual(modelItem('first', 1));
    expect(await item(clients, 'second')).toBeUndefined();
    expect(await listed(clients)).not.toContain('second');
  });
});

describe('after a kill', () => {
  const folders: string[] = [];
  afterAll(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it('a journal entry found at start is undone before anything is served, index entries included', async () => {
    // Prepare: `kept` at revision 1; then what a kill in the middle of a transaction leaves: `kept`
    // already at revision 2, and `orphan` only in the `models` index (dynalite writes an item's
    // index entries before the item), with the journal entry the transaction wrote first.
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'local-transactions-'));
    folders.push(dataDir);
    const first = await startLocalAws({ dataDir });
    const firstClients = localClients(first);
    await ensureTables(firstClients.dynamo, TABLES);
    await firstClients.documents.send(new PutCommand({ TableName: TABLES.registry, Item: modelItem('kept', 1) }));
    await firstClients.documents.send(new PutCommand({ TableName: TABLES.registry, Item: modelItem('kept', 2) }));
    firstClients.destroy();
    await first.stop();
    await writeIndexEntryOnly(path.join(dataDir, 'dynamodb'), TABLES.registry, modelItem('orphan', 1));
    const journal = path.join(dataDir, TRANSACTION_JOURNAL_DIR);
    await mkdir(journal, { recursive: true });
    await writeFile(
      path.join(journal, '000000000001.json'),
      JSON.stringify([
        {
          tableName: TABLES.registry,
          key: { pk: { S: REGISTRY_KEYS.pk('kept') }, sk: { S: REGISTRY_KEYS.modelSk } },
          before: marshal(modelItem('kept', 1)),
        },
        { tableName: TABLES.registry, key: { pk: { S: REGISTRY_KEYS.pk('orphan') }, sk: { S: REGISTRY_KEYS.modelSk } } },
      ]),
    );

    // Act
    const second = await startLocalAws({ dataDir });
    const clients = localClients(second);
    const kept = await item(clients, 'kept');
    const orphan = await item(clients, 'orphan');
    const models = await listed(clients);
    const left = await readdir(journal);
    clients.destroy();
    await second.stop();

    // Assess
    expect(kept).toEqual(modelItem('kept', 1));
    expect(orphan).toBeUndefined();
    expect(models).toEqual(['kept']);
    expect(left).toEqual([]);
  });

  it('(control) the crafted index entry is listed when nothing undoes it', async () => {
    // Prepare
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'local-transactions-'));
    folders.push(dataDir);
    const first = await startLocalAws({ dataDir });
    const firstClients = localClients(first);
    await ensureTables(firstClients.dynamo, TABLES);
    firstClients.destroy();
    await first.stop();
    await writeIndexEntryOnly(path.join(dataDir, 'dynamodb'), TABLES.registry, modelItem('orphan', 1));

    // Act
    const second = await startLocalAws({ dataDir });
    const clients = localClients(second);
    const models = await listed(clients);
    const orphan = await item(clients, 'orphan');
    clients.destroy();
    await second.stop();

    // Assess
    expect({ models, orphan }).toEqual({ models: ['orphan'], orphan: undefined });
  });
});

/** DynamoDB JSON of a flat item of strings and numbers. */
function marshal(item: Record<string, string | number>): Record<string, { S: string } | { N: string }> {
  return Object.fromEntries(
    Object.entries(item).map(([name, value]) => [name, typeof value === 'number' ? { N: String(value) } : { S: value }]),
  );
}

/**
 * Writes the secondary-index entries of `item` and not the item, through dynalite's own store
 * code, on a store no server has open: the state a kill between dynalite's two steps leaves.
 */
async function writeIndexEntryOnly(storePath: string, tableName: string, item: Record<string, string | number>): Promise<void> {
  const require = createRequire(import.meta.url);
  interface Store {
    getTable(name: string, checkStatus: boolean, cb: (error: unknown, table: unknown) => void): void;
    readonly db: { close(cb: (error?: unknown) => void): void };
  }
  const db = require('dynalite/db') as {
    create(options: { path: string }): Store;
    updateIndexes(store: Store, table: unknown, existing: undefined, item: unknown, cb: (error?: unknown) => void): void;
  };
  const store = db.create({ path: storePath });
  const done = (resolve: () => void, reject: (error: unknown) => void) => (error?: unknown) => (error ? reject(error) : resolve());
  const table = await new Promise<unknown>((resolve, reject) =>
    store.getTable(tableName, false, (error, found) => (error ? reject(error) : resolve(found))),
  );
  await new Promise<void>((resolve, reject) => db.updateIndexes(store, table, undefined, marshal(item), done(resolve, reject)));
  await new Promise<void>((resolve, reject) => store.db.close(done(resolve, reject)));
}
