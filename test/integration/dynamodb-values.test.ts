/**
 * `marshallable`: values with caller-chosen keys written through the DynamoDB document client
 * (the marshaller `lib-dynamodb` uses) to the local DynamoDB and read back unchanged (finding F2).
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { marshallable } from '../../functions/adapters/dynamodb-values.js';
import { ensureTables } from '../../functions/adapters/tables.js';
import { localClients, startLocalAws, type LocalAws, type LocalClients } from '../../local/aws-servers.js';

const TABLE = 'values';
/** Every Object.prototype member name but `__proto__`, and the type names the marshaller looks for. */
const NAMES = Object.getOwnPropertyNames(Object.prototype).filter((name) => name !== '__proto__');
const TYPE_NAMES = ['Set', 'Map', 'Object', 'String', 'Number', 'Boolean', 'Uint8Array', 'Buffer'];

let aws: LocalAws;
let clients: LocalClients;
let items = 0;

beforeAll(async () => {
  aws = await startLocalAws();
  clients = localClients(aws);
  await ensureTables(clients.dynamo, { registry: TABLE, predictionLog: `${TABLE}-log` });
});

afterAll(async () => {
  clients.destroy();
  await aws.stop();
});

/** Stores `fields` as one item (through `marshallable` unless told not to) and reads it back. */
async function roundTrip(fields: Record<string, unknown>, options: { bare?: boolean } = {}): Promise<Record<string, unknown> | undefined> {
  items += 1;
  const key = { pk: `item-${items}`, sk: 'x' };
  const item = { ...key, ...fields };
  await clients.documents.send(new PutCommand({ TableName: TABLE, Item: options.bare ? item : marshallable(item) }));
  const { Item } = await clients.documents.send(new GetCommand({ TableName: TABLE, Key: key, ConsistentRead: true }));
  if (!Item) return undefined;
  const { pk: _pk, sk: _sk, ...rest } = Item;
  return rest;
}

describe('marshallable', () => {
  it.each(NAMES)('a map keyed "%s", at any depth, is stored and read back as it was', async (name) => {
    // Prepare
    const fields = {
      metrics: { [name]: 0.9, accuracy: 0.5 },
      golden: [{ request: { instances: [{ [name]: 1.5 }] }, expected: [{ probabilities: { [name]: 0.25 } }] }],
    };

    // Act
    const back = await roundTrip(fields);

    // Assess
    expect(back).toEqual(fields);
  });

  it.each(TYPE_NAMES)('a "constructor" key whose value is an object named "%s" stays a map, not that type', async (typeName) => {
    // Prepare
    const fields = { expected: [{ constructor: { name: typeName, length: 0 } }] };

    // Act
    const back = await roundTrip(fields);

    // Assess
    expect(back).toEqual(fields);
  });

  it('is what the bare document client gets wrong: it refuses { constructor: 0.9 } and garbles { constructor: { name: "String" } }', async () => {
    await expect(roundTrip({ metrics: { constructor: 0.9 } }, { bare: true })).rejects.toThrow(/Unsupported type/);
    expect(await roundTrip({ v: { constructor: { name: 'String' } } }, { bare: true })).toEqual({ v: '[object Object]' });
  });

  it('returns the value itself when nothing needs replacing, and copies only what does', () => {
    // Prepare
    const untouched = { a: { b: [1, { c: 'd' }] } };
    const shared = { x: 1 };
    const mixed = { shared, changed: { constructor: 1 } };

    // Act
    const same = marshallable(untouched);
    const converted = marshallable(mixed);

    // Assess
    expect(same).toBe(untouched);
    expect(converted.shared).toBe(shared);
    expect(converted.changed).toBeInstanceOf(Map);
    expect(mixed.changed).toEqual({ constructor: 1 });
  });
});
