/**
 * TransactWriteItems and TransactGetItems for the local DynamoDB, which dynalite 4 lacks: run as
 * single-item dynalite calls while the front server (`dynamo.ts`) holds its exclusive lock, so no
 * request sees half a transaction. Conditions are all checked before anything is written (on
 * writes that change nothing), failures come back as AWS sends them
 * (`TransactionCanceledException` with one `CancellationReasons` entry per item:
 * `ConditionalCheckFailed`, or `ValidationError` for an update that cannot apply to the item),
 * and a write that fails half-way is undone. With a data folder a transaction is also atomic
 * across a kill of the process: the items' images from before it are journaled (fsynced) before
 * its first write, and a start that finds a journal entry undoes that transaction before serving
 * (`TransactionJournal`). ClientRequestToken idempotency is not emulated.
 */
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { type Dynalite, type DynamoResponse, errorType, type Json } from './dynalite.js';

/**
 * A step of a transaction: its value, or the DynamoDB error response that ends the transaction.
 * (A tagged union: `Json` and `DynamoResponse` cannot be told apart by their properties.)
 */
type Step<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly response: DynamoResponse };

function ok<T>(value: T): Step<T> {
  return { ok: true, value };
}

function fail<T>(response: DynamoResponse): Step<T> {
  return { ok: false, response };
}

const ACTION_KINDS = ['ConditionCheck', 'Put', 'Delete', 'Update'] as const;
type ActionKind = (typeof ACTION_KINDS)[number];

interface WriteAction {
  readonly kind: ActionKind;
  readonly params: Json;
  readonly tableName: string;
  readonly key: Json;
}

function transactionCanceled(reasons: readonly Json[]): DynamoResponse {
  const codes = reasons.map((reason) => String(reason.Code)).join(', ');
  return {
    status: 400,
    body: {
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
      Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes}]`,
      CancellationReasons: reasons,
    },
  };
}

function validationError(message: string): DynamoResponse {
  return { status: 400, body: { __type: 'com.amazon.coral.validate#ValidationException', message } };
}

/**
 * Runs transactions as single-item dynalite calls; the caller holds the exclusive lock.
 *
 * A write transaction goes in three steps. 1. Read every item and check every condition without
 * changing anything (dynalite evaluates each condition on a write that leaves the item as it is).
 * 2. Journal the image every written item has before the transaction, durably, before the first
 * write. 3. Apply the writes; then remove the journal entry and answer. A write that fails
 * half-way is undone from the same images; a process killed half-way leaves the entry, and the
 * next start undoes it before serving (`TransactionJournal.recover`). So a transaction survives a
 * kill at any instant whole or not at all.
 */
export class TransactionRunner {
  private readonly keyNames = new Map<string, string[]>();
  /** A failed write could not be undone: no transaction runs until a restart recovers it. */
  private stuck = false;

  constructor(
    private readonly dynalite: Dynalite,
    private readonly journal: TransactionJournal,
  ) {}

  async write(input: Json): Promise<DynamoResponse> {
    if (this.stuck) {
      return {
        status: 500,
        body: {
          __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
          message: 'A transaction could not be undone; restart the local servers (the start undoes it).',
        },
      };
    }
    const parsed = await this.parseWriteActions(input.TransactItems);
    if (!parsed.ok) return parsed.response;
    const actions = parsed.value;

    // 1. Every item as it is now, and every condition checked against it.
    const images: Array<Json | undefined> = [];
    const reasons: Json[] = [];
    for (const action of actions) {
      const current = await this.currentItem(action.tableName, action.key);
      if (!current.ok) return current.response;
      images.push(current.value);
      const checked = await this.checkCondition(action, current.value);
      if (!checked.ok) return checked.response;
      reasons.push(checked.value);
    }
    if (reasons.some((reason) => reason.Code !== 'None')) return transactionCanceled(reasons);

    // 2. The images to put back, durable before anything is written.
    const undo: UndoEntry[] = actions.flatMap((action, i) => {
      if (action.kind === 'ConditionCheck') return [];
      const before = images[i];
      return [{ tableName: action.tableName, key: action.key, ...(before ? { before } : {}) }];
    });
    const entry = await this.journal.begin(undo);

    // 3. The writes; the first that fails undoes them all.
    let failed: { index: number; response: DynamoResponse } | undefined;
    try {
      for (const [index, action] of actions.entries()) {
        if (action.kind === 'ConditionCheck') continue;
        const { ReturnValuesOnConditionCheckFailure: _ignored, ...params } = action.params;
        const applied = await this.dynalite.call(`${action.kind}Item`, params);
        if (applied.status !== 200) {
          failed = { index, response: applied };
          break;
        }
      }
    } catch (error) {
      await this.undo(undo, entry);
      throw error;
    }
    if (failed) {
      await this.undo(undo, entry);
      const { index, response } = failed;
      if (errorType(response) !== 'ValidationException') return response;
      // AWS reports an item's data error (e.g. `SET n = n + :one` on a missing `n`) as a
      // cancellation with a `ValidationError` reason for that item.
      const message = typeof response.body.message === 'string' ? response.body.message : 'Validation error';
      return transactionCanceled(actions.map((_, i) => (i === index ? { Code: 'ValidationError', Message: message } : { Code: 'None' })));
    }
    await this.journal.end(entry);
    return { status: 200, body: {} };
  }

  /** Undoes a transaction whose write failed; if that fails too, its entry stays for the next start. */
  private async undo(undo: readonly UndoEntry[], entry: string | undefined): Promise<void> {
    try {
      await undoWrites(this.dynalite, undo, { sweepIndexes: false });
    } catch (error) {
      // Nothing may build on a half-applied transaction until a restart undoes it.
      this.stuck = true;
      throw error;
    }
    await this.journal.end(entry);
  }

  async get(input: Json): Promise<DynamoResponse> {
    const items = input.TransactItems;
    if (!Array.isArray(items) || items.length < 1 || items.length > 100) {
      return validationError('TransactItems must contain between 1 and 100 items');
    }
    const responses: Json[] = [];
    for (const item of items as Json[]) {
      const get = item.Get as Json | undefined;
      if (!get) return validationError('Each TransactGetItem must contain Get');
      const result = await this.dynalite.call('GetItem', { ...get, ConsistentRead: true });
      if (result.status !== 200) return result;
      responses.push(result.body.Item ? { Item: result.body.Item } : {});
    }
    return { status: 200, body: { Responses: responses } };
  }

  private async parseWriteActions(items: unknown): Promise<Step<WriteAction[]>> {
    if (!Array.isArray(items) || items.length < 1 || items.length > 100) {
      return fail(validationError('TransactItems must contain between 1 and 100 items'));
    }
    const actions: WriteAction[] = [];
    const seen = new Set<string>();
    for (const item of items as Json[]) {
      const kinds = ACTION_KINDS.filter((kind) => item[kind] !== undefined);
      const kind = kinds[0];
      if (kinds.length !== 1 || !kind) {
        return fail(validationError('Each TransactWriteItem must contain exactly one of ConditionCheck, Put, Delete, Update'));
      }
      const params = item[kind] as Json;
      const tableName = String(params.TableName);
      let key: Json;
      if (kind === 'Put') {
        const names = await this.keyAttributeNames(tableName);
        if (!names.ok) return names;
        const putItem = (params.Item ?? {}) as Json;
        key = Object.fromEntries(names.value.map((name) => [name, putItem[name]]));
      } else {
        key = (params.Key ?? {}) as Json;
      }
      const identity = `${tableName}\u0000${canonicalJson(key)}`;
      if (seen.has(identity)) {
        return fail(validationError('Transaction request cannot include multiple operations on one item'));
      }
      seen.add(identity);
      actions.push({ kind, params, tableName, key });
    }
    return ok(actions);
  }

  private async keyAttributeNames(tableName: string): Promise<Step<string[]>> {
    const known = this.keyNames.get(tableName);
    if (known) return ok(known);
    const described = await this.dynalite.call('DescribeTable', { TableName: tableName });
    if (described.status !== 200) return fail(described);
    const schema = ((described.body.Table as Json | undefined)?.KeySchema ?? []) as Array<{ AttributeName: string }>;
    const names = schema.map((element) => element.AttributeName);
    this.keyNames.set(tableName, names);
    return ok(names);
  }

  private async currentItem(tableName: string, key: Json): Promise<Step<Json | undefined>> {
    const read = await this.dynalite.call('GetItem', { TableName: tableName, Key: key, ConsistentRead: true });
    if (read.status !== 200) return fail(read);
    return ok(read.body.Item as Json | undefined);
  }

  /**
   * A cancellation reason (`{ Code: 'None' }` when the condition holds), or an error to return as
   * is. dynalite evaluates the condition on a write that changes nothing, whatever its outcome:
   * the item put back exactly as it is, or the delete of an item that is not there.
   */
  private async checkCondition(action: WriteAction, current: Json | undefined): Promise<Step<Json>> {
    const condition = action.params.ConditionExpression;
    if (typeof condition !== 'string') return ok({ Code: 'None' });
    const names = usedPlaceholders(condition, action.params.ExpressionAttributeNames, /#[A-Za-z0-9_]+/g);
    const values = usedPlaceholders(condition, action.params.ExpressionAttributeValues, /:[A-Za-z0-9_]+/g);
    const expression = {
      TableName: action.tableName,
      ConditionExpression: condition,
      ...(names ? { ExpressionAttributeNames: names } : {}),
      ...(values ? { ExpressionAttributeValues: values } : {}),
    };
    const checked = current
      ? await this.dynalite.call('PutItem', { ...expression, Item: current })
      : await this.dynalite.call('DeleteItem', { ...expression, Key: action.key });
    if (checked.status === 200) return ok({ Code: 'None' });
    if (errorType(checked) !== 'ConditionalCheckFailedException') return fail(checked);
    const reason: Json = { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' };
    if (action.params.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && current) reason.Item = current;
    return ok(reason);
  }
}

// ---------------------------------------------------------------------------------------------
// Crash consistency: the transaction journal

/** Folder of `<dataDir>` that holds the journal of the transaction in flight. */
export const TRANSACTION_JOURNAL_DIR = 'dynamodb-transactions';

/** One item a transaction writes, as it was before: what undoing the transaction puts back. */
interface UndoEntry {
  readonly tableName: string;
  readonly key: Json;
  /** The item before the transaction; absent when there was none. */
  readonly before?: Json;
}

/**
 * The write-ahead journal of the local DynamoDB's transactions, one file per transaction in
 * flight under `<dataDir>/dynamodb-transactions/`: the images of the items it writes as they
 * were before it, written whole (a temporary file, fsynced, then renamed) before its first
 * write, removed after its last. A file found at startup is a transaction a kill cut short;
 * `recover` puts its items back as they were before it, index entries included. Without a data
 * folder (in memory) nothing survives a kill anyway, and nothing is journaled.
 *
 * It covers a kill of the process at any instant (SIGKILL, a crash): every write dynalite has
 * acknowledged is in the operating system's hands by then. Not a power cut: dynalite does not
 * fsync its own writes.
 */
export class TransactionJournal {
  private sequence = 0;
  /** An entry `end` could not remove: no transaction runs until it is gone (see `begin`). */
  private unremoved: string | undefined;

  constructor(private readonly directory: string | undefined) {}

  /**
   * Records the images; resolves once they are on disk. Returns the entry to `end`. Refuses
   * (throws) while the entry of an earlier transaction cannot be removed: a start would undo that
   * one, and it must be the last applied for that to be right.
   */
  async begin(undo: readonly UndoEntry[]): Promise<string | undefined> {
    if (!this.directory || undo.length === 0) return undefined;
    if (this.unremoved) await this.end(this.unremoved);
    this.sequence += 1;
    const name = path.join(this.directory, `${String(this.sequence).padStart(12, '0')}.json`);
    const temporary = `${name}.tmp`;
    const file = await open(temporary, 'w');
    try {
      await file.writeFile(JSON.stringify(undo));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, name);
    return name;
  }

  /** The transaction is applied (or undone): its images are no longer needed. */
  async end(entry: string | undefined): Promise<void> {
    if (!entry) return;
    this.unremoved = entry;
    await rm(entry, { force: true });
    this.unremoved = undefined;
  }

  /**
   * Undoes every transaction a kill cut short, newest first, and removes its entry (a temporary
   * file is an entry that was never complete: its transaction wrote nothing). Idempotent: a
   * kill during recovery leaves the entries for the next start. Returns how many it undid.
   */
  async recover(dynalite: Dynalite): Promise<number> {
    if (!this.directory) return 0;
    await mkdir(this.directory, { recursive: true });
    const names = (await readdir(this.directory)).sort();
    for (const name of names.filter((n) => n.endsWith('.tmp'))) await rm(path.join(this.directory, name), { force: true });
    const entries = names.filter((n) => n.endsWith('.json')).reverse();
    for (const name of entries) {
      const file = path.join(this.directory, name);
      let undo: UndoEntry[];
      try {
        undo = JSON.parse(await readFile(file, 'utf8')) as UndoEntry[];
      } catch (error) {
        throw new Error(
          `the DynamoDB transaction journal ${file} cannot be read (${error instanceof Error ? error.message : String(error)}); something else changed the data folder`,
        );
      }
      await undoWrites(dynalite, undo, { sweepIndexes: true });
      await rm(file, { force: true });
    }
    return entries.length;
  }
}

/**
 * Puts every item of `undo` back as it was, last first. With `sweepIndexes`, first removes every
 * secondary-index entry of the item's key: dynalite writes an item's index entries and the item
 * in separate steps, so a kill between them can leave an index entry of an image the table
 * never got (a model the `models` index lists that does not exist).
 */
async function undoWrites(dynalite: Dynalite, undo: readonly UndoEntry[], options: { sweepIndexes: boolean }): Promise<void> {
  for (const entry of [...undo].reverse()) {
    if (options.sweepIndexes && !(await sweepIndexEntries(dynalite, entry.tableName, entry.key))) continue;
    const restored = entry.before
      ? await dynalite.call('PutItem', { TableName: entry.tableName, Item: entry.before })
      : await dynalite.call('DeleteItem', { TableName: entry.tableName, Key: entry.key });
    if (restored.status !== 200) {
      throw new Error(`could not undo a transaction's write to an item of ${entry.tableName}: ${errorType(restored)}`);
    }
  }
}

/**
 * Removes the item with `key` and every index entry that names it: each entry found is put as
 * the item, so that dynalite's delete computes and removes its index keys. Returns false when
 * the table no longer exists (nothing to undo there).
 */
async function sweepIndexEntries(dynalite: Dynalite, tableName: string, key: Json): Promise<boolean> {
  const described = await dynalite.call('DescribeTable', { TableName: tableName });
  if (described.status !== 200) {
    if (errorType(described) === 'ResourceNotFoundException') return false;
    throw new Error(`could not describe ${tableName} to undo a transaction: ${errorType(described)}`);
  }
  const table = (described.body.Table ?? {}) as Json;
  const indexes = [table.GlobalSecondaryIndexes, table.LocalSecondaryIndexes]
    .flatMap((list) => (Array.isArray(list) ? (list as Json[]) : []))
    .map((index) => String(index.IndexName));
  const names = Object.keys(key);
  const filter = {
    FilterExpression: names.map((_, i) => `#k${i} = :k${i}`).join(' AND '),
    ExpressionAttributeNames: Object.fromEntries(names.map((name, i) => [`#k${i}`, name])),
    ExpressionAttributeValues: Object.fromEntries(names.map((name, i) => [`:k${i}`, key[name]])),
  };
  const found: Json[] = [];
  for (const indexName of indexes) {
    let start: unknown;
    do {
      const page = await dynalite.call('Scan', {
        TableName: tableName,
        IndexName: indexName,
        ...filter,
        ...(start ? { ExclusiveStartKey: start } : {}),
      });
      if (page.status !== 200) throw new Error(`could not scan ${tableName}/${indexName} to undo a transaction: ${errorType(page)}`);
      found.push(...((page.body.Items ?? []) as Json[]));
      start = page.body.LastEvaluatedKey;
    } while (start);
  }
  for (const item of found) {
    const put = await dynalite.call('PutItem', { TableName: tableName, Item: item });
    if (put.status !== 200) throw new Error(`could not sweep an index entry of ${tableName}: ${errorType(put)}`);
  }
  const removed = await dynalite.call('DeleteItem', { TableName: tableName, Key: key });
  if (removed.status !== 200) throw new Error(`could not sweep an item of ${tableName}: ${errorType(removed)}`);
  return true;
}

/** The entries of an ExpressionAttributeNames/Values map that `expression` uses (dynalite rejects unused ones). */
function usedPlaceholders(expression: string, map: unknown, pattern: RegExp): Json | undefined {
  if (!map || typeof map !== 'object') return undefined;
  const used = new Set(expression.match(pattern) ?? []);
  const entries = Object.entries(map as Json).filter(([placeholder]) => used.has(placeholder));
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
