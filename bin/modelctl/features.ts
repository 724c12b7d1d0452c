/**
 * `modelctl features load <table> <csv>`: a CSV of entity rows into a DynamoDB table in the plain
 * online-feature layout (one item per entity, the entity column as the partition key, a feature
 * per attribute, `event_timestamp` as UTC text; the rules are `feature-rows.ts`'s).
 *
 * Unlike the rest of modelctl it talks to DynamoDB, not to the API: with the AWS SDK's own
 * resolution of credentials, region and endpoint (`AWS_PROFILE`, `AWS_REGION`,
 * `AWS_ENDPOINT_URL_DYNAMODB`, ...), or, with `--local`, to the DynamoDB of a running `npm start`,
 * found through its data folder (`local/aws-endpoint-file.ts`) and called with the same client
 * settings as the local stack's own (`localClients`).
 *
 * How a load goes, so that a bad row never leaves half a load behind:
 * 1. The CSV is read once, streamed, to check every row (the items are not kept: only each key
 *    and the last line it is on, so the later row of a key wins).
 * 2. The table is looked up: its key must be the load's; with `--create` a missing table is
 *    created (on-demand) and waited for until ACTIVE.
 * 3. The CSV is read again and each key's last row is written, BatchWriteItem by 25 items, one
 *    batch at a time; the items DynamoDB leaves unprocessed are sent again after a capped
 *    exponential backoff. A failure stops the load at that batch and says at which line: items
 *    of earlier batches are written; loading the file again is safe (each item is put whole).
 */
import path from 'node:path';
import type { BatchWriteItemCommand, DynamoDBClient, TableDescription, WriteRequest } from '@aws-sdk/client-dynamodb';
import type { Command } from 'commander';
import { errorName } from '../../functions/adapters/aws-errors.js';
import { FILE, FOLDER, TEXT, choice, free } from './args.js';
import { type Call, type Cli, action, command, option, outputOptions } from './command.js';
import { type CliIo, UsageError, messageOf, pause, plural, shown } from './common.js';
import {
  KEY_TYPES,
  type Item,
  type KeyType,
  type Layout,
  RowError,
  TIMESTAMP_ATTRIBUTE,
  csvRecords,
  planLayout,
  rowItem,
} from './feature-rows.js';
import { type OpenedFile, openFile } from './uploads.js';

interface LoadOptions {
  readonly key?: string;
  readonly keyType?: KeyType;
  readonly timestampColumn?: string;
  readonly create?: boolean;
  readonly local?: boolean;
  readonly dataDir?: string;
}

/** Items per BatchWriteItem call, DynamoDB's most. */
export const BATCH_ITEMS = 25;
/** How long a load waits for a new table to be ACTIVE, in seconds. */
const CREATE_WAIT_SECONDS = 300;

/** The AWS SDK's DynamoDB client, loaded when a load runs (the other commands never need it). */
const sdk = () => import('@aws-sdk/client-dynamodb');

/** A table name (3 to 255 of `a-z A-Z 0-9 _ - .`) or a table's ARN. */
const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;
const TABLE_ARN = /^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table\/[a-zA-Z0-9_.-]{3,255}$/;

/** `features` and its commands, on `program`. */
export function addFeatureCommands(program: Command, cli: Cli): void {
  const features = command(program, {
    name: 'features',
    summary: 'online feature tables in DynamoDB',
    group: 'Predictions:',
    usage: '<command> [options]',
    description:
      "Online features: per-entity values a model version's onlineFeatures read from DynamoDB by the request's entity key. " +
      "These commands talk to DynamoDB with the AWS SDK's credentials and region (or npm start's DynamoDB with --local), not to the API.",
    after: 'Example:\n  modelctl features load customer-features customers.csv --create --local',
  });
  const load = command(features, {
    name: 'load <table> <csv>',
    summary: 'load a CSV of entity rows into a table (plain layout)',
    description:
      'Load a CSV of entity rows into a DynamoDB table in the plain layout: one item per entity, the key column as the ' +
      'partition key, one attribute per other column. A cell that is a JSON number is stored as a number (N, as written, ' +
      'at most 38 digits), true or false as a boolean, an empty cell not at all (a missing feature), anything else as ' +
      `a string. ${TIMESTAMP_ATTRIBUTE} holds when the values were computed, as UTC ISO-8601 text: from the timestamp ` +
      'column, else the load time. Every row is checked before anything is written; a key given twice keeps its later row.',
    args: { table: free('table name'), csv: FILE },
    after: [
      'Examples:',
      '  modelctl features load customer-features customers.csv --create --local',
      '  AWS_PROFILE=ml AWS_REGION=eu-west-1 modelctl features load customer-features customers.csv --key customer_id',
      '',
      'Exit codes: 0 loaded; 1 a row, the CSV, the table or DynamoDB refused (one line saying which); 2 a usage mistake.',
    ].join('\n'),
  });
  option(load, '--key <column>', 'the entity column, the partition key (default: the first column)', TEXT);
  option(load, '--key-type <type>', `how the key is typed: ${KEY_TYPES.join(' or ')} (default string)`, choice(KEY_TYPES));
  option(
    load,
    '--timestamp-column <name>',
    `the column of ISO-8601 date-times stored as ${TIMESTAMP_ATTRIBUTE} (default: ${TIMESTAMP_ATTRIBUTE} when the CSV has it, else the load time)`,
    TEXT,
  );
  load.option('--create', 'create the table when it does not exist (on-demand, the key from --key and --key-type)');
  load.option('--local', "load into npm start's DynamoDB (found through its data folder) instead of AWS's");
  option(load, '--data-dir <dir>', "with --local: npm start's data folder (default: $DATA_DIR, else .data)", FOLDER);
  outputOptions(load);
  load.action(action(cli, loadFeatures));
}

/** What a load did, as `-o json` prints it. */
export interface LoadSummary {
  readonly table: string;
  readonly file: string;
  readonly key: { readonly name: string; readonly type: KeyType };
  /** Whether this load created the table (`--create`). */
  readonly created: boolean;
  /** Data rows read (the header not counted). */
  readonly rows: number;
  /** Items written: one per distinct key. */
  readonly items: number;
  /** Rows of a key that a later row of the same key replaced. */
  readonly replaced: number;
  /** BatchWriteItem calls, retries of unprocessed items not counted. */
  readonly batches: number;
  readonly features: readonly string[];
  /** Where `event_timestamp` came from: a column (`rowsWithout`: its empty cells, items stored without one), or the load time. */
  readonly timestamp:
    | { readonly from: 'column'; readonly column: string; readonly rowsWithout: number }
    | { readonly from: 'load-time'; readonly value: string };
  /** `npm start`'s DynamoDB endpoint with `--local`; else absent (the SDK's own). */
  readonly endpoint?: string;
}

async function loadFeatures(call: Call<LoadOptions>): Promise<number> {
  const { io, opts } = call;
  const [table = '', file = ''] = call.args as string[];
  if (!TABLE_NAME.test(table) && !TABLE_ARN.test(table))
    throw new UsageError(`<table> is a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _ - .) or a table's ARN, not ${shown(table)}.`);
  if (opts.dataDir !== undefined && !opts.local) throw new UsageError("--data-dir goes with --local (npm start's data folder).");
  const keyType = opts.keyType ?? 'string';
  const loadTime = new Date((io.now ?? Date.now)()).toISOString();

  // 1. Every row checked, nothing kept but each key's last line.
  const opened = await openFile(io, file, 'Give one CSV file.');
  const checked = await checkRows(
    opened,
    file,
    {
      keyType,
      ...(opts.key === undefined ? {} : { key: opts.key }),
      ...(opts.timestampColumn === undefined ? {} : { timestampColumn: opts.timestampColumn }),
    },
    loadTime,
  );
  const { layout } = checked;

  // 2. The table, as this load needs it.
  const target = opts.local ? await localTarget(io, opts.dataDir) : await awsTarget(io);
  try {
    let created = false;
    try {
      created = await prepareTable(target, table, layout.key, opts.create === true);
    } catch (error) {
      throw new Error(dynamoProblem(error, target, table));
    }

    // 3. Each key's last row, by batches.
    const written = await writeRows(target, table, opened, file, checked, loadTime);
    const summary: LoadSummary = {
      table,
      file,
      key: { name: layout.key.name, type: layout.key.type },
      created,
      rows: checked.rows,
      items: written.items,
      replaced: checked.rows - checked.lastLines.size,
      batches: written.batches,
      features: layout.features.map((f) => f.name),
      timestamp: layout.timestamp
        ? { from: 'column', column: layout.timestamp.name, rowsWithout: checked.withoutTimestamp }
        : { from: 'load-time', value: loadTime },
      ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    };
    call.print(summary, summaryText);
    return 0;
  } finally {
    target.destroy();
  }
}

/** What the checking pass learned. */
interface CheckedRows {
  readonly layout: Layout;
  /** Data rows. */
  readonly rows: number;
  /** Each key (as DynamoDB compares keys) and the line of its last row. */
  readonly lastLines: Map<string, number>;
  readonly withoutTimestamp: number;
}

/** The checking pass: the header's layout, and every row as an item (thrown away), or the first row that is refused. */
async function checkRows(
  opened: OpenedFile,
  file: string,
  options: { readonly keyType: KeyType; readonly key?: string; readonly timestampColumn?: string },
  loadTime: string,
): Promise<CheckedRows> {
  let layout: Layout | undefined;
  let rows = 0;
  let withoutTimestamp = 0;
  const lastLines = new Map<string, number>();
  for await (const { line, cells } of csvRecords(file, opened.stream())) {
    if (!layout) {
      layout = planLayout(file, cells, options);
      continue;
    }
    const row = rowItem(file, layout, cells, line, loadTime);
    rows++;
    if (!row.timestamped) withoutTimestamp++;
    lastLines.set(row.identity, line);
  }
  if (!layout) throw new RowError(`${file} is empty: it needs a header line (the attribute names) and a line per entity.`);
  return { layout, rows, lastLines, withoutTimestamp };
}

/** The DynamoDB a load writes to. */
interface Target {
  readonly client: DynamoDBClient;
  /** `npm start`'s endpoint (`--local`). */
  readonly endpoint?: string;
  /** `npm start`'s data folder (`--local`). */
  readonly dataDir?: string;
  /** Where the table is looked for, for messages: ` in region eu-west-1`, ` in npm start's DynamoDB (ENDPOINT)`. */
  readonly place: string;
  destroy(): void;
}

/**
 * DynamoDB as the AWS SDK finds it: its credential chain, region and endpoint settings (the
 * environment, the shared config files). No region is an error here, before any call.
 */
async function awsTarget(io: CliIo): Promise<Target> {
  const { DynamoDBClient } = await sdk();
  const client = new DynamoDBClient({});
  let region: string;
  try {
    region = await client.config.region();
  } catch {
    client.destroy();
    throw new Error('no AWS region: set AWS_REGION (or a region in your AWS profile), or use --local for the DynamoDB of npm start.');
  }
  const endpoint = io.env['AWS_ENDPOINT_URL_DYNAMODB'] ?? io.env['AWS_ENDPOINT_URL'];
  return { client, place: ` in region ${region}${endpoint ? ` at ${endpoint}` : ''}`, destroy: () => client.destroy() };
}

/** The DynamoDB of the `npm start` running on `dataDir`, with the local stack's own client settings. */
async function localTarget(io: CliIo, dataDirOption: string | undefined): Promise<Target> {
  const [{ localAwsFilePath, parseLocalAwsFile }, { localClients }] = await Promise.all([
    import('../../local/aws-endpoint-file.js'),
    import('../../local/aws-servers.js'),
  ]);
  const dataDir = path.resolve(dataDirOption ?? io.env['DATA_DIR'] ?? '.data');
  const file = localAwsFilePath(dataDir);
  const notRunning = `npm start is not running on ${dataDir}`;
  const advice = 'start it with npm start (DATA_DIR or --data-dir name its data folder when it is not .data)';
  let text: string;
  try {
    text = (await io.readFile(file)).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${notRunning} (no ${path.basename(file)} there): ${advice}.`);
    throw new Error(`cannot read ${file}: ${messageOf(error)}`);
  }
  const parsed = parseLocalAwsFile(text);
  if (!parsed.ok) throw new Error(`${file} is not as npm start writes it (${parsed.problem}): restart npm start.`);
  if (!isRunning(parsed.value.pid))
    throw new Error(`${notRunning} (the npm start that wrote ${path.basename(file)}, pid ${parsed.value.pid}, has exited): ${advice}.`);
  const endpoint = parsed.value.dynamodbEndpoint;
  const clients = localClients({ dynamoEndpoint: endpoint, s3Endpoint: parsed.value.s3Endpoint });
  return { client: clients.dynamo, endpoint, dataDir, place: ` in npm start's DynamoDB (${endpoint})`, destroy: () => clients.destroy() };
}

/** Whether a process with this id runs (one we may not signal does). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes sure `table` exists with `key` as its only key: created when absent and `create` (then
 * waited for until ACTIVE); resolves whether it was created. A table with another key, or
 * absent without `create`, throws an error whose message says so.
 */
async function prepareTable(target: Target, table: string, key: Layout['key'], create: boolean): Promise<boolean> {
  const { CreateTableCommand } = await sdk();
  const { client, place } = target;
  let described = await describeTable(client, table);
  let created = false;
  if (!described) {
    if (!create) {
      throw new Error(
        `table ${table} does not exist${place}. Add --create to create it (on-demand, partition key ${keyText(key.name, key.type)}).`,
      );
    }
    try {
      const reply = await client.send(
        new CreateTableCommand({
          TableName: table,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: key.name, AttributeType: key.type === 'number' ? 'N' : 'S' }],
          KeySchema: [{ AttributeName: key.name, KeyType: 'HASH' }],
        }),
      );
      described = reply.TableDescription;
      created = true;
    } catch (error) {
      // Created meanwhile by someone else: its key is checked below like any table's.
      if (errorName(error) !== 'ResourceInUseException') throw error;
      described = await describeTable(client, table);
    }
    if (!described) throw new Error(`table ${table} is being created${place} but cannot be read yet: load again in a moment.`);
  }
  checkKey(table, described, key);
  const status = described.TableStatus;
  if (status === 'ACTIVE' || status === 'UPDATING') return created;
  if (status !== 'CREATING' && !created)
    throw new Error(`table ${table} is ${status ?? 'in an unknown state'}${place}: it takes no writes now.`);
  await waitUntilActive(client, table, place);
  return created;
}

/** Reads the table's status, waiting longer each time (to 5 s), until it is ACTIVE; at most {@link CREATE_WAIT_SECONDS}. */
async function waitUntilActive(client: DynamoDBClient, table: string, place: string): Promise<void> {
  const deadline = Date.now() + CREATE_WAIT_SECONDS * 1_000;
  for (let wait = 250; ; wait = Math.min(wait * 2, 5_000)) {
    // Right after CreateTable, DynamoDB may not know the table yet: that is waited out too.
    const status = (await describeTable(client, table))?.TableStatus;
    if (status === 'ACTIVE') return;
    if (Date.now() > deadline)
      throw new Error(
        `table ${table} is not ACTIVE after ${CREATE_WAIT_SECONDS} s${place} (${status ?? 'not found'}): load again once it is.`,
      );
    await pause(wait, undefined);
  }
}

/** The table's description, `undefined` when it does not exist. */
async function describeTable(client: DynamoDBClient, table: string): Promise<TableDescription | undefined> {
  const { DescribeTableCommand } = await sdk();
  try {
    return (await client.send(new DescribeTableCommand({ TableName: table }))).Table;
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

/** A table whose key is not `key` alone (same name, same type) is refused, naming both keys. */
function checkKey(table: string, described: TableDescription, key: Layout['key']): void {
  const schema = described.KeySchema ?? [];
  const typeOf = (name: string | undefined) => described.AttributeDefinitions?.find((a) => a.AttributeName === name)?.AttributeType;
  const hash = schema.find((k) => k.KeyType === 'HASH');
  const range = schema.find((k) => k.KeyType === 'RANGE');
  const wanted = key.type === 'number' ? 'N' : 'S';
  if (hash?.AttributeName === key.name && typeOf(hash.AttributeName) === wanted && !range) return;
  const theirs = [hash, range]
    .flatMap((k) =>
      k ? [`${k.KeyType === 'HASH' ? 'partition' : 'sort'} key ${k.AttributeName} (${typeOf(k.AttributeName) ?? '?'})`] : [],
    )
    .join(' and ');
  throw new Error(
    `table ${table} has ${theirs || 'no key'}; this load's key is ${keyText(key.name, key.type)} alone (--key, --key-type): ` +
      'load into a table with that key, or give the key of this one.',
  );
}

/** `customer_id (S, string)`. */
function keyText(name: string, type: KeyType): string {
  return `${name} (${type === 'number' ? 'N' : 'S'}, ${type})`;
}

/** The writing pass: each key's last row, {@link BATCH_ITEMS} per call. */
async function writeRows(
  target: Target,
  table: string,
  opened: OpenedFile,
  file: string,
  checked: CheckedRows,
  loadTime: string,
): Promise<{ items: number; batches: number }> {
  const { layout, lastLines } = checked;
  let items = 0;
  let batches = 0;
  let rows = 0;
  let pending: { line: number; item: Item }[] = [];
  const flush = async () => {
    const first = pending[0]?.line ?? 0;
    const last = pending[pending.length - 1]?.line ?? first;
    try {
      await putBatch(
        target.client,
        table,
        pending.map((p) => p.item),
      );
    } catch (error) {
      throw new Error(
        `the load stopped at the batch of ${file} lines ${first} to ${last}, with ${plural(items, 'item')} of ${lastLines.size} written: ` +
          `${dynamoProblem(error, target, table).replace(/[^.!?]$/, '$&.')} Once that is solved, loading the file again is safe: each item is put whole.`,
      );
    }
    items += pending.length;
    batches++;
    pending = [];
  };
  let header = true;
  try {
    for await (const { line, cells } of csvRecords(file, opened.stream())) {
      if (header) {
        header = false;
        continue;
      }
      rows++;
      const row = rowItem(file, layout, cells, line, loadTime);
      if (lastLines.get(row.identity) !== line) continue;
      pending.push({ line, item: row.item });
      if (pending.length === BATCH_ITEMS) await flush();
    }
  } catch (error) {
    if (error instanceof RowError)
      throw new Error(`${file} changed while it was loaded (${error.message}) after ${plural(items, 'item')} were written.`);
    throw error;
  }
  if (pending.length > 0) await flush();
  if (rows !== checked.rows) throw new Error(`${file} changed while it was loaded (${checked.rows} rows, then ${rows}).`);
  return { items, batches };
}

/** The backoff between sends of unprocessed items: from {@link BACKOFF_BASE_MS}, doubling, at most {@link BACKOFF_CAP_MS}. */
export const BACKOFF_BASE_MS = 50;
export const BACKOFF_CAP_MS = 5_000;
/** Sends in a row that write none of the unprocessed items before the batch is given up. */
export const MAX_SENDS_WITHOUT_PROGRESS = 10;

/** What {@link putBatch} needs of a client: `send` of BatchWriteItem. */
export interface BatchWriter {
  send(command: BatchWriteItemCommand): Promise<{ UnprocessedItems?: Record<string, WriteRequest[]> | undefined }>;
}

/**
 * Puts `items` (at most {@link BATCH_ITEMS}, no key twice) with BatchWriteItem, sending the
 * unprocessed ones again after a capped exponential backoff with jitter; throws when
 * {@link MAX_SENDS_WITHOUT_PROGRESS} sends in a row write none of them, or when DynamoDB refuses
 * the call (the SDK has retried throttling and server errors by then).
 */
export async function putBatch(
  client: BatchWriter,
  table: string,
  items: readonly Item[],
  wait: (ms: number) => Promise<void> = (ms) => pause(ms, undefined),
): Promise<void> {
  const { BatchWriteItemCommand } = await sdk();
  let requests: WriteRequest[] = items.map((item) => ({ PutRequest: { Item: item } }));
  let stalled = 0;
  for (let attempt = 0; ; attempt++) {
    const reply = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } }));
    const left = Object.values(reply.UnprocessedItems ?? {}).flat();
    if (left.length === 0) return;
    stalled = left.length < requests.length ? 0 : stalled + 1;
    if (stalled >= MAX_SENDS_WITHOUT_PROGRESS)
      throw new Error(
        `DynamoDB left ${plural(left.length, 'item')} unprocessed ${MAX_SENDS_WITHOUT_PROGRESS} times in a row (the table's throughput is exhausted).`,
      );
    requests = left;
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
    await wait(ceiling / 2 + Math.random() * (ceiling / 2));
  }
}

/** What went wrong with a DynamoDB call, in one plain sentence (no stack, no SDK internals). */
function dynamoProblem(error: unknown, target: Target, table: string): string {
  const name = errorName(error);
  const message = messageOf(error).replace(/\s+/g, ' ').trim();
  // The SDK may hand a network error on wrapped ("AWS SDK error wrapper for Error: connect ECONNREFUSED ..."), its code in the text.
  const code = String((error as { code?: unknown } | undefined)?.code ?? /\b(E[A-Z]{4,}(?:_[A-Z]+)*)\b/.exec(message)?.[1] ?? '');
  if (target.endpoint && (/^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ETIMEDOUT)$/.test(code) || name === 'TimeoutError'))
    return `npm start's DynamoDB does not answer at ${target.endpoint} (${code || name}): is npm start still running on ${target.dataDir}? Start it with npm start.`;
  if (/^(ENOTFOUND|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|EAI_AGAIN)$/.test(code) || name === 'TimeoutError')
    return `cannot reach DynamoDB (${code || name}: ${message}): check AWS_REGION and AWS_ENDPOINT_URL_DYNAMODB, or the network.`;
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message))
    return 'no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or sign in with aws sso login), or use --local for the DynamoDB of npm start.';
  if (name === 'AccessDeniedException') return `access denied on table ${table}: ${message}`;
  if (/^(UnrecognizedClientException|InvalidSignatureException|ExpiredTokenException|MissingAuthenticationTokenException)$/.test(name))
    return `DynamoDB refused the AWS credentials (${name}): ${message}`;
  if (name === 'ResourceNotFoundException') return `table ${table} does not exist${target.place} (any more). Add --create to create it.`;
  if (name !== '' && name !== 'Error') return `DynamoDB refused (${name}): ${message}`;
  return message;
}

/** The summary as lines. */
export function summaryText(summary: LoadSummary): string {
  const lines: string[] = [];
  if (summary.created)
    lines.push(`Created table ${summary.table} (partition key ${keyText(summary.key.name, summary.key.type)}, on-demand).`);
  const replaced = summary.replaced > 0 ? `, ${plural(summary.replaced, 'row')} replaced by a later row of the same key` : '';
  lines.push(
    `Loaded ${plural(summary.items, 'item')} into ${summary.table} from ${summary.file} (${plural(summary.rows, 'row')}${replaced}; ${plural(summary.batches, 'batch', 'batches')}).`,
  );
  lines.push(
    `Key ${keyText(summary.key.name, summary.key.type)}; ${plural(summary.features.length, 'feature')}: ${summary.features.join(', ') || '-'}.`,
  );
  const timestamp = summary.timestamp;
  if (timestamp.from === 'column') {
    const without =
      timestamp.rowsWithout > 0 ? `; ${plural(timestamp.rowsWithout, 'row')} without one, stored without it (of unknown age)` : '';
    const column = timestamp.column === TIMESTAMP_ATTRIBUTE ? 'its own column' : `column ${timestamp.column}`;
    lines.push(`${TIMESTAMP_ATTRIBUTE}: from ${column}, as UTC${without}.`);
  } else {
    lines.push(
      `${TIMESTAMP_ATTRIBUTE}: the load time, ${timestamp.value}, on every item (${summary.file} has no ${TIMESTAMP_ATTRIBUTE} column; --timestamp-column names another).`,
    );
  }
  return `${lines.join('\n')}\n`;
}
