/**
 * `modelctl features load` against the DynamoDB of a real `npm start` (one for the file, in a
 * child process, on its own data folder): the endpoint file it writes and removes; each cell's
 * type as read back with the SDK (numbers as written, booleans, strings, empty cells absent), the
 * timestamps in UTC or the load time, the later row of a key winning, several batches; `--create`
 * and loading again into the existing table; a table with another key, or none, refused; a bad
 * row refused with its line before anything is written; usage mistakes (exit 2); and the
 * installed command with the SDK's own settings (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_REGION`).
 *
 * modelctl runs in-process (`modelctl(argv, io)`, real files) except where the process itself is
 * the point: the installed command, its environment, its one-line failures.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type AttributeValue, DescribeTableCommand, ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_AWS_FILE, type LocalAwsFile } from '../../local/aws-endpoint-file.js';
import { type LocalClients, localClients } from '../../local/aws-servers.js';
import { runModelctl, type ModelctlRun } from '../fixtures/modelctl.js';
import { startNpmStart, type NpmStart } from '../fixtures/npm-start.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const HEADER = 'customer_id,avg_order_value,orders_30d,vip,segment,note,event_timestamp';

let server: NpmStart;
let dataDir: string;
let work: string;
let endpoints: LocalAwsFile;
let clients: LocalClients;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'modelctl-features-'));
  work = await mkdtemp(path.join(os.tmpdir(), 'modelctl-features-work-'));
  server = await startNpmStart(dataDir, { LOCAL_AUTH: 'insecure', ACCESS_LOG: 'off' }, 90_000);
  endpoints = JSON.parse(await readFile(path.join(dataDir, LOCAL_AWS_FILE), 'utf8')) as LocalAwsFile;
  clients = localClients({ dynamoEndpoint: endpoints.dynamodbEndpoint, s3Endpoint: endpoints.s3Endpoint });
}, 120_000);

afterAll(async () => {
  clients?.destroy();
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGINT');
    await server.exited;
  }
  await rm(dataDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
}, 60_000);

/** Writes a CSV file in the working folder; its path. */
async function csv(name: string, lines: readonly string[]): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

/** `modelctl features load ...` in-process, against npm start's DynamoDB (`--local`). */
function load(...argv: string[]): Promise<ModelctlRun> {
  return runModelctl({ url: undefined, token: undefined }, ['features', 'load', ...argv, '--local', '--data-dir', dataDir]);
}

/** Every item of a table, by its key attribute's value. */
async function itemsOf(table: string, key: string): Promise<Map<string, Record<string, AttributeValue>>> {
  const items = new Map<string, Record<string, AttributeValue>>();
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await clients.dynamo.send(new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start } : {}) }));
    for (const item of page.Items ?? []) items.set(item[key]?.S ?? item[key]?.N ?? '', item);
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** Whether a table exists in npm start's DynamoDB. */
async function exists(table: string): Promise<boolean> {
  return clients.dynamo.send(new DescribeTableCommand({ TableName: table })).then(
    () => true,
    (error: { name?: string }) => {
      if (error.name === 'ResourceNotFoundException') return false;
      throw error;
    },
  );
}

/** The installed command (`bin/modelctl-bin.mjs`) in its own process, with `env` as its whole environment (plus PATH). */
function installed(argv: readonly string[], env: Record<string, string>): Promise<ModelctlRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/modelctl-bin.mjs'), ...argv],
      { cwd: work, env: { PATH: process.env['PATH'] ?? '', HOME: work, ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? -1) : 0, out: stdout, err: stderr }),
    );
  });
}

it('npm start says in its data folder where its DynamoDB and S3 listen, and with which region', async () => {
  // Act
  const tables = await clients.dynamo.send(new ListTablesCommand({}));

  // Assess
  expect(endpoints).toEqual({
    dynamodbEndpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) as unknown,
    s3Endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) as unknown,
    region: 'us-east-1',
    pid: expect.any(Number) as unknown,
  });
  expect(() => process.kill(endpoints.pid, 0)).not.toThrow();
  expect(tables.TableNames).toContain('onnx-registry');
});

describe('a load into a new table (--create)', () => {
  const table = 'customer-features';
  let result: ModelctlRun;

  beforeAll(async () => {
    // Prepare: 60 plain rows, then rows of each kind of cell, then c-001 again (it wins).
    const plain = Array.from({ length: 60 }, (_, i) => {
      const id = `c-${String(i).padStart(3, '0')}`;
      return `${id},${i}.5,${i},${i % 2 === 0},gold,first,2026-11-30T12:00:00Z`;
    });
    const file = await csv('customers.csv', [
      HEADER,
      ...plain,
      'c-big,12345678901234567890123456789012345678,-3.25,false,007,"quoted, with a comma",2026-11-30T13:00:00+01:00',
      'c-words,0.1,1e5,TRUE,NaN, 5,2026-11-30 12:00:00.123456Z',
      'c-empty,,,,,,',
      'c-001,99.5,7,,platinum,,2026-12-01T00:00:00-05:30',
    ]);

    // Act
    result = await load(table, file, '--create');
  }, 60_000);

  it('creates the table with the key column as its partition key and reports what it wrote', async () => {
    // Assess
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out.split('\n')).toEqual([
      'Created table customer-features (partition key customer_id (S, string), on-demand).',
      `Loaded 63 items into customer-features from ${path.join(work, 'customers.csv')} (64 rows, 1 row replaced by a later row of the same key; 3 batches).`,
      'Key customer_id (S, string); 5 features: avg_order_value, orders_30d, vip, segment, note.',
      'event_timestamp: from its own column, as UTC; 1 row without one, stored without it (of unknown age).',
      '',
    ]);
    const described = await clients.dynamo.send(new DescribeTableCommand({ TableName: table }));
    expect(described.Table?.KeySchema).toEqual([{ AttributeName: 'customer_id', KeyType: 'HASH' }]);
    expect(described.Table?.AttributeDefinitions).toEqual([{ AttributeName: 'customer_id', AttributeType: 'S' }]);
    expect(described.Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it('stores numbers as written, true and false as booleans, the rest as strings, and no attribute for an empty cell', async () => {
    // Act
    const items = await itemsOf(table, 'customer_id');

    // Assess
    expect(items.size).toBe(63);
    expect(items.get('c-002')).toEqual({
      customer_id: { S: 'c-002' },
      avg_order_value: { N: '2.5' },
      orders_30d: { N: '2' },
      vip: { BOOL: true },
      segment: { S: 'gold' },
      note: { S: 'first' },
      event_timestamp: { S: '2026-11-30T12:00:00.000Z' },
    });
    expect(items.get('c-003')?.['vip']).toEqual({ BOOL: false });
    // 38 digits, which a float would round; not a JSON number: "007", "TRUE", "NaN", " 5" (not trimmed).
    expect(items.get('c-big')).toEqual({
      customer_id: { S: 'c-big' },
      avg_order_value: { N: '12345678901234567890123456789012345678' },
      orders_30d: { N: '-3.25' },
      vip: { BOOL: false },
      segment: { S: '007' },
      note: { S: 'quoted, with a comma' },
      event_timestamp: { S: '2026-11-30T12:00:00.000Z' },
    });
    expect(items.get('c-words')).toEqual({
      customer_id: { S: 'c-words' },
      avg_order_value: { N: '0.1' },
      // DynamoDB keeps a number's value, not its spelling: 1e5 reads back as 100000.
      orders_30d: { N: '100000' },
      vip: { S: 'TRUE' },
      segment: { S: 'NaN' },
      note: { S: ' 5' },
      event_timestamp: { S: '2026-11-30T12:00:00.123Z' },
    });
    expect(items.get('c-empty')).toEqual({ customer_id: { S: 'c-empty' } });
  });

  it("keeps a key's later row whole: its values, and none of the earlier row's", async () => {
    // Act
    const items = await itemsOf(table, 'customer_id');

    // Assess: c-001's first row had vip and note; its later row leaves them empty.
    expect(items.get('c-001')).toEqual({
      customer_id: { S: 'c-001' },
      avg_order_value: { N: '99.5' },
      orders_30d: { N: '7' },
      segment: { S: 'platinum' },
      event_timestamp: { S: '2026-12-01T05:30:00.000Z' },
    });
  });

  it('loads again into the existing table (with or without --create); without a timestamp column, every item gets the load time', async () => {
    // Prepare
    const file = await csv('scores.csv', ['customer_id,score', 'c-000,0.75', 'c-new,0.5']);
    const before = Date.now();

    // Act
    const again = await load(table, file, '--create', '-o', 'json');
    const text = await load(table, file);
    const items = await itemsOf(table, 'customer_id');

    // Assess
    expect(again.err).toBe('');
    const summary = JSON.parse(again.out) as { timestamp: { value: string } };
    expect(summary).toEqual({
      table,
      file,
      key: { name: 'customer_id', type: 'string' },
      created: false,
      rows: 2,
      items: 2,
      replaced: 0,
      batches: 1,
      features: ['score'],
      timestamp: { from: 'load-time', value: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown },
      endpoint: endpoints.dynamodbEndpoint,
    });
    expect(Date.parse(summary.timestamp.value)).toBeGreaterThanOrEqual(before - 1);
    expect(text).toMatchObject({ code: 0, err: '' });
    expect(text.out).toMatch(
      new RegExp(
        `^event_timestamp: the load time, \\S+Z, on every item \\(${file} has no event_timestamp column; --timestamp-column names another\\)\\.$`,
        'm',
      ),
    );
    // Each item is put whole: c-000's other features are gone.
    expect(Object.keys(items.get('c-000') ?? {}).sort()).toEqual(['customer_id', 'event_timestamp', 'score']);
    expect(items.get('c-new')?.['score']).toEqual({ N: '0.5' });
    expect(items.size).toBe(64);
  });
});

describe('number keys and a named timestamp column', () => {
  const table = 'store-features';

  it('--key, --key-type number, --timestamp-column: 1 and 1.0 are one item, the later row wins', async () => {
    // Prepare
    const file = await csv('stores.csv', [
      'visits,store,ts,region',
      '10,1,2026-11-30T12:00:00Z,north',
      '20,2,2026-11-30T12:00:00Z,south',
      '30,1.0,2026-11-30T14:00:00+02:00,east',
    ]);

    // Act
    const result = await load(table, file, '--key', 'store', '--key-type', 'number', '--timestamp-column', 'ts', '--create');
    const items = await itemsOf(table, 'store');

    // Assess
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out).toContain('(3 rows, 1 row replaced by a later row of the same key; 1 batch)');
    expect(result.out).toContain('event_timestamp: from column ts, as UTC.');
    expect([...items.keys()].sort()).toEqual(['1', '2']);
    expect(items.get('1')).toEqual({
      store: { N: '1' },
      visits: { N: '30' },
      region: { S: 'east' },
      event_timestamp: { S: '2026-11-30T12:00:00.000Z' },
    });
  });

  it('refuses to load into a table whose key is another, naming both', async () => {
    // Prepare
    const file = await csv('wrong-key.csv', [HEADER, 'c-1,1,1,true,gold,x,2026-11-30T12:00:00Z']);

    // Act
    const result = await load(table, file);

    // Assess
    expect(result).toEqual({
      code: 1,
      out: '',
      err:
        "modelctl: table store-features has partition key store (N); this load's key is customer_id (S, string) alone (--key, --key-type): " +
        'load into a table with that key, or give the key of this one.\n',
    });
    expect((await itemsOf(table, 'store')).size).toBe(2);
  });
});

it('refuses a table that does not exist, saying to add --create', async () => {
  // Prepare
  const file = await csv('one.csv', [HEADER, 'c-1,1,1,true,gold,x,2026-11-30T12:00:00Z']);

  // Act
  const result = await load('no-such-table', file);

  // Assess
  expect(result).toEqual({
    code: 1,
    out: '',
    err: `modelctl: table no-such-table does not exist in npm start's DynamoDB (${endpoints.dynamodbEndpoint}). Add --create to create it (on-demand, partition key customer_id (S, string)).\n`,
  });
  expect(await exists('no-such-table')).toBe(false);
});

describe('a bad row or header: refused with its line, before anything is written (not even the table)', () => {
  const row = (id: string, extra: Partial<Record<'aov' | 'ts', string>> = {}) =>
    `${id},${extra.aov ?? '1.5'},2,true,gold,x,${extra.ts ?? '2026-11-30T12:00:00Z'}`;
  it.each([
    ['an empty key', [HEADER, row('c-1'), row('c-2'), row('')], [], 'line 4: the key "customer_id" is empty; every row needs one.'],
    [
      'a key that is no number (--key-type number)',
      [HEADER, row('1'), row('x1')],
      ['--key-type', 'number'],
      'line 3: the key "customer_id" is "x1", not a number (--key-type number): write it as 42 or 4.2e1.',
    ],
    [
      'a number of 39 digits',
      [HEADER, row('c-1', { aov: '123456789012345678901234567890123456789' })],
      [],
      'line 2: "avg_order_value" is "123456789012345678901234567890123456789", a number that has 39 significant digits; DynamoDB keeps at most 38.',
    ],
    [
      'a number DynamoDB cannot hold',
      [HEADER, row('c-1'), row('c-2', { aov: '1e400' })],
      [],
      'line 3: "avg_order_value" is "1e400", a number that is larger than DynamoDB stores (below 1E+126).',
    ],
    [
      'a date that does not exist',
      [HEADER, row('c-1', { ts: '2026-02-30T00:00:00Z' })],
      [],
      'line 2: event_timestamp "2026-02-30T00:00:00Z" is not a date-time that exists such as 2026-11-30T12:00:00Z.',
    ],
    [
      'a time without its UTC offset',
      [HEADER, row('c-1', { ts: '2026-11-30T12:00:00' })],
      [],
      'line 2: event_timestamp "2026-11-30T12:00:00" has no UTC offset: end it with Z (UTC) or +hh:mm, such as 2026-11-30T12:00:00Z (a time without one could be any zone\'s).',
    ],
    [
      'an item over 400 KB',
      [HEADER, row('c-1'), `c-2,1,2,true,gold,${'x'.repeat(410_000)},`],
      [],
      'line 3: the item is 410062 bytes (names and values); DynamoDB stores items of at most 409600 (400 KB).',
    ],
    [
      'a bad row after a quoted cell over two lines (lines are counted, not records)',
      [HEADER, 'c-1,1,2,true,gold,"two\nlines",', row('')],
      [],
      'line 4: the key "customer_id" is empty; every row needs one.',
    ],
    ['a column named twice', ['customer_id,a,b,a', 'c-1,1,2,3'], [], 'line 1: columns 2 and 4 are both named "a"; names must be unique.'],
    [
      'a column without a name',
      ['customer_id,,b', 'c-1,1,2'],
      [],
      "line 1: column 2 has no name (each column's name becomes its attribute's).",
    ],
  ])('%s', async (name, lines, options, message) => {
    // Prepare
    const table = `bad-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}`;
    const file = await csv(`${table}.csv`, lines);

    // Act
    const result = await load(table, file, '--create', ...options);

    // Assess
    expect(result).toEqual({ code: 1, out: '', err: `modelctl: ${file} ${message}\n` });
    expect(await exists(table)).toBe(false);
  });

  it.each([
    ['a row with a cell too many', [HEADER, row('c-1'), `${row('c-2')},extra`], 'Invalid Record Length: expect 7, got 8 on line 3.'],
    [
      'a quote never closed',
      [HEADER, 'c-1,"1,2,true,gold,x,'],
      'Quote Not Closed: the parsing is finished with an opening quote at line 2.',
    ],
  ])('%s: the CSV is refused as such', async (_name, lines, message) => {
    // Prepare
    const file = await csv('broken.csv', lines);

    // Act
    const result = await load('broken-table', file, '--create');

    // Assess
    expect(result).toEqual({ code: 1, out: '', err: `modelctl: ${file} is not valid CSV: ${message}\n` });
    expect(await exists('broken-table')).toBe(false);
  });
});

describe('usage mistakes: exit 2, one line and the help to read, nothing read or written', () => {
  it.each([
    [['t-table', 'x.csv', '--key-type', 'int'], '--key-type is one of string, number, not "int".'],
    [['ab', 'x.csv'], '<table> is a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _ - .) or a table\'s ARN, not "ab".'],
    [['t-table', 'x.csv', '--data-dir', '.data'], "--data-dir goes with --local (npm start's data folder)."],
    [
      ['t-table', 'HEADER', '--key', 'customer', '--local'],
      '--key "customer" is not a column of FILE (its columns: "customer_id", "avg_order_value",',
    ],
    [['t-table', 'HEADER', '--timestamp-column', 'ts', '--local'], '--timestamp-column "ts" is not a column of FILE'],
    [
      ['t-table', 'TIMESTAMP_FIRST', '--local'],
      "The key column of FILE would be event_timestamp, which is reserved for the timestamp: name the entity's column with --key.",
    ],
  ])('%j', async (argv, message) => {
    // Prepare: files named in the line are written first; the usage check must come before any table is touched.
    const header = await csv('header-only.csv', [HEADER]);
    const first = await csv('timestamp-first.csv', ['event_timestamp,customer_id', '2026-11-30T12:00:00Z,c-1']);
    const files: Record<string, string> = { HEADER: header, TIMESTAMP_FIRST: first };
    const line = argv.map((word) => files[word] ?? word);

    // Act
    const result = await runModelctl({ url: undefined, token: undefined }, ['features', 'load', ...line]);

    // Assess
    const file = line[1] ?? '';
    expect({ code: result.code, out: result.out }).toEqual({ code: 2, out: '' });
    const [firstLine = '', ...rest] = result.err.split('\n');
    expect(firstLine.startsWith(message.replace('FILE', file))).toBe(true);
    expect(rest).toEqual(['Run "modelctl features load --help" for usage.', '']);
    expect(await exists('t-table')).toBe(false);
  });
});

describe('the installed command, with the SDK settings of its environment', () => {
  it('finds DynamoDB through AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION and the key variables, and streams the file', async () => {
    // Prepare: 30 rows (two batches), no --local: the SDK's own resolution.
    const lines = [HEADER, ...Array.from({ length: 30 }, (_, i) => `env-${i},${i},${i},false,blue,,2026-11-30T12:00:00Z`)];
    const file = await csv('env.csv', lines);
    const env = {
      AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodbEndpoint,
      AWS_REGION: endpoints.region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_CONFIG_FILE: path.join(work, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'no-aws-credentials'),
    };

    // Act
    const result = await installed(['features', 'load', 'env-features', file, '--create'], env);
    const items = await itemsOf('env-features', 'customer_id');

    // Assess
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toContain(`Loaded 30 items into env-features from ${file} (30 rows; 2 batches).`);
    expect(items.size).toBe(30);
    expect(items.get('env-7')).toEqual({
      customer_id: { S: 'env-7' },
      avg_order_value: { N: '7' },
      orders_30d: { N: '7' },
      vip: { BOOL: false },
      segment: { S: 'blue' },
      event_timestamp: { S: '2026-11-30T12:00:00.000Z' },
    });
  }, 60_000);

  it('says in one line, without a stack trace, what is missing: a region, a file', async () => {
    // Prepare
    const file = await csv('region.csv', [HEADER, 'c-1,1,1,true,gold,x,2026-11-30T12:00:00Z']);
    const noConfig = {
      AWS_CONFIG_FILE: path.join(work, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'no-aws-credentials'),
    };

    // Act
    const noRegion = await installed(['features', 'load', 'env-features', file], noConfig);
    const noFile = await installed(
      ['features', 'load', 'env-features', path.join(work, 'missing.csv'), '--local', '--data-dir', dataDir],
      {},
    );

    // Assess
    expect(noRegion).toEqual({
      code: 1,
      out: '',
      err: 'modelctl: no AWS region: set AWS_REGION (or a region in your AWS profile), or use --local for the DynamoDB of npm start.\n',
    });
    expect(noFile).toEqual({ code: 1, out: '', err: `modelctl: cannot read ${path.join(work, 'missing.csv')}: no such file.\n` });
  }, 60_000);
});

describe('--local when npm start is not running', () => {
  it('a DynamoDB that does not answer, an exited npm start, a stopped one: each says to start it', async () => {
    // Prepare: an endpoint file as a live process (this one) would leave it, but nothing listens there.
    const file = await csv('local.csv', [HEADER, 'c-1,1,1,true,gold,x,2026-11-30T12:00:00Z']);
    const deadEnd = await mkdtemp(path.join(work, 'dead-end-'));
    await writeFile(
      path.join(deadEnd, LOCAL_AWS_FILE),
      JSON.stringify({ ...endpoints, dynamodbEndpoint: 'http://127.0.0.1:9', pid: process.pid } satisfies LocalAwsFile),
    );
    // One left by a killed npm start: its process has exited.
    const exited = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['-e', '']);
      child.once('exit', () => resolve(child.pid ?? 0));
    });
    const stale = await mkdtemp(path.join(work, 'stale-'));
    await writeFile(path.join(stale, LOCAL_AWS_FILE), JSON.stringify({ ...endpoints, pid: exited } satisfies LocalAwsFile));

    // Act
    // In its own process: the SDK keeps a refused connection's timer for a second after the error.
    const silent = await installed(['features', 'load', 'any-table', file, '--local', '--data-dir', deadEnd], {});
    const gone = await runModelctl({ url: undefined, token: undefined }, [
      'features',
      'load',
      'any-table',
      file,
      '--local',
      '--data-dir',
      stale,
    ]);
    server.child.kill('SIGINT');
    const code = await server.exited;
    const stopped = await load('any-table', file);

    // Assess
    expect(silent).toEqual({
      code: 1,
      out: '',
      err: `modelctl: npm start's DynamoDB does not answer at http://127.0.0.1:9 (ECONNREFUSED): is npm start still running on ${deadEnd}? Start it with npm start.\n`,
    });
    expect(gone).toEqual({
      code: 1,
      out: '',
      err: `modelctl: npm start is not running on ${stale} (the npm start that wrote local-aws.json, pid ${exited}, has exited): start it with npm start (DATA_DIR or --data-dir name its data folder when it is not .data).\n`,
    });
    expect(code).toBe(0);
    expect(existsSync(path.join(dataDir, LOCAL_AWS_FILE))).toBe(false);
    expect(stopped).toEqual({
      code: 1,
      out: '',
      err: `modelctl: npm start is not running on ${dataDir} (no local-aws.json there): start it with npm start (DATA_DIR or --data-dir name its data folder when it is not .data).\n`,
    });
  }, 60_000);
});
