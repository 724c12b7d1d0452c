/**
 * The rows of a CSV of entities as items of the plain online-feature layout (one DynamoDB item per
 * entity, `modelctl features load`): the header read as attribute names, each cell typed, every
 * rule DynamoDB would refuse a write for checked first, with the line it is on.
 *
 * - The header names the attributes: each 1 to {@link MAX_NAME_BYTES} bytes of UTF-8, unique.
 *   The key column (`--key`, else the first) becomes the partition key attribute;
 *   {@link TIMESTAMP_ATTRIBUTE} is reserved for the timestamp.
 * - A cell is a number (`N`) when it is a JSON number (`-?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?`), sent
 *   as written (never through a float): at most 38 significant digits, magnitude from 1E-130 to
 *   below 1E+126, as DynamoDB takes them; `true` / `false` are booleans (`BOOL`); an empty cell is
 *   no attribute (a missing feature); anything else is a string (`S`), kept as it is (not trimmed).
 * - The key cell is never empty; with `--key-type number` it is a number as above. At most
 *   {@link MAX_KEY_BYTES} bytes.
 * - The timestamp cell is an ISO-8601 date-time with its UTC offset (`2026-11-30T12:00:00Z`,
 *   `2026-11-30 13:00:00.250+01:00`), stored as UTC with milliseconds (`2026-11-30T12:00:00.250Z`);
 *   an empty one is no timestamp (of unknown age).
 * - An item is at most 400 KB, as DynamoDB counts it (names and values).
 *
 * No AWS SDK here: items are DynamoDB JSON (`{ N: '1.5' }`), which the SDK's low-level client sends as is.
 */
import { pipeline, Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { PLAIN_TIMESTAMP_ATTRIBUTE } from '../../functions/core/features/declaration.js';
import { UsageError, messageOf, shown } from './common.js';

/** The attribute of the time the feature values were computed (ISO-8601 UTC text): the one the serving path reads. */
export const TIMESTAMP_ATTRIBUTE = PLAIN_TIMESTAMP_ATTRIBUTE;
/** DynamoDB's largest item, in bytes (names and values). */
export const MAX_ITEM_BYTES = 400 * 1024;
/** DynamoDB's largest partition key value, in bytes. */
export const MAX_KEY_BYTES = 2048;
/** The longest attribute name taken, in bytes of UTF-8 (DynamoDB's bound on key and expression names). */
export const MAX_NAME_BYTES = 255;
/** A record of more characters is refused as a broken CSV (an unclosed quote swallowing the file). */
const MAX_RECORD_CHARS = 4 * 1024 * 1024;

/** How the key column's cells are typed: `S` or `N`. */
export const KEY_TYPES = ['string', 'number'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** A DynamoDB attribute value, as the low-level client takes it. */
export type Value = { readonly S: string } | { readonly N: string } | { readonly BOOL: boolean };
export type Item = Record<string, Value>;

/** A row the load refuses, or a CSV it cannot read: `FILE line N: why`. */
export class RowError extends Error {}

/** The columns of a CSV as the layout uses them. */
export interface Layout {
  readonly columns: readonly string[];
  readonly key: { readonly name: string; readonly index: number; readonly type: KeyType };
  /** The timestamp's column; none: every item gets the load time. */
  readonly timestamp?: { readonly name: string; readonly index: number };
  /** The feature columns, in the CSV's order. */
  readonly features: readonly { readonly name: string; readonly index: number }[];
}

/** What `features load` was told about the columns. */
export interface LayoutOptions {
  /** `--key`. @default the first column */
  readonly key?: string;
  readonly keyType: KeyType;
  /** `--timestamp-column`. @default `event_timestamp` when the CSV has it */
  readonly timestampColumn?: string;
}

/**
 * The layout of a CSV from its header (line 1 of `file`). A header DynamoDB could not store is a
 * {@link RowError}; an option that names no column is a {@link UsageError}.
 */
export function planLayout(file: string, header: readonly string[], options: LayoutOptions): Layout {
  const utf8 = new TextEncoder();
  for (const [i, name] of header.entries()) {
    if (name === '') throw new RowError(`${file} line 1: column ${i + 1} has no name (each column's name becomes its attribute's).`);
    const bytes = utf8.encode(name).length;
    if (bytes > MAX_NAME_BYTES)
      throw new RowError(
        `${file} line 1: the name of column ${i + 1} is ${bytes} bytes; attribute names are 1 to ${MAX_NAME_BYTES} bytes.`,
      );
    const first = header.indexOf(name);
    if (first !== i)
      throw new RowError(`${file} line 1: columns ${first + 1} and ${i + 1} are both named ${shown(name)}; names must be unique.`);
  }
  const columns = `its columns: ${listed(header)}`;
  const keyName = options.key ?? header[0] ?? '';
  if (options.key !== undefined && !header.includes(options.key))
    throw new UsageError(`--key ${shown(options.key)} is not a column of ${file} (${columns}).`);
  if (keyName === TIMESTAMP_ATTRIBUTE)
    throw new UsageError(
      `The key column of ${file} would be ${TIMESTAMP_ATTRIBUTE}, which is reserved for the timestamp: name the entity's column with --key.`,
    );
  let timestampName: string | undefined;
  if (options.timestampColumn !== undefined) {
    if (!header.includes(options.timestampColumn))
      throw new UsageError(`--timestamp-column ${shown(options.timestampColumn)} is not a column of ${file} (${columns}).`);
    if (options.timestampColumn === keyName)
      throw new UsageError(`--timestamp-column and the key name the same column, ${shown(keyName)}: give each its own.`);
    if (options.timestampColumn !== TIMESTAMP_ATTRIBUTE && header.includes(TIMESTAMP_ATTRIBUTE))
      throw new RowError(
        `${file} line 1: the column ${TIMESTAMP_ATTRIBUTE} is reserved for the timestamp, which --timestamp-column takes from ${shown(options.timestampColumn)}: rename or drop one of them.`,
      );
    timestampName = options.timestampColumn;
  } else if (header.includes(TIMESTAMP_ATTRIBUTE)) {
    timestampName = TIMESTAMP_ATTRIBUTE;
  }
  return {
    columns: header,
    key: { name: keyName, index: header.indexOf(keyName), type: options.keyType },
    ...(timestampName === undefined ? {} : { timestamp: { name: timestampName, index: header.indexOf(timestampName) } }),
    features: header.flatMap((name, index) => (name === keyName || name === timestampName ? [] : [{ name, index }])),
  };
}

/** At most 10 names, quoted, for a message. */
function listed(names: readonly string[]): string {
  const some = names.slice(0, 10).map(shown).join(', ');
  return names.length > 10 ? `${some}, ... (${names.length} in all)` : some;
}

/** One data row as an item. */
export interface RowItem {
  /** The key as DynamoDB compares it (a number's canonical form: `1.50` and `1.5` are one item). */
  readonly identity: string;
  readonly item: Item;
  /** Whether the item has a timestamp (from its cell or the load time). */
  readonly timestamped: boolean;
}

/**
 * The item of one data row (its cells in the header's order, `line` its first line in `file`);
 * `loadTime` is the timestamp of every item when the layout has no timestamp column. A cell
 * DynamoDB would refuse is a {@link RowError} naming the line.
 */
export function rowItem(file: string, layout: Layout, cells: readonly string[], line: number, loadTime: string): RowItem {
  const at = `${file} line ${line}`;
  const keyCell = cells[layout.key.index] ?? '';
  const keyName = layout.key.name;
  if (keyCell === '') throw new RowError(`${at}: the key ${shown(keyName)} is empty; every row needs one.`);
  let key: Value;
  let identity: string;
  if (layout.key.type === 'number') {
    const number = readNumber(keyCell);
    if (number === undefined)
      throw new RowError(
        `${at}: the key ${shown(keyName)} is ${shown(keyCell)}, not a number (--key-type number): write it as 42 or 4.2e1.`,
      );
    if (number.problem) throw new RowError(`${at}: the key ${shown(keyName)}, ${shown(keyCell)}, ${number.problem}.`);
    key = { N: keyCell };
    identity = number.canonical;
  } else {
    const bytes = Buffer.byteLength(keyCell);
    if (bytes > MAX_KEY_BYTES)
      throw new RowError(`${at}: the key ${shown(keyName)} is ${bytes} bytes; DynamoDB takes partition keys of at most ${MAX_KEY_BYTES}.`);
    key = { S: keyCell };
    identity = keyCell;
  }
  const item: Item = { [keyName]: key };
  for (const feature of layout.features) {
    const value = cellValue(cells[feature.index] ?? '', () => `${at}: ${shown(feature.name)}`);
    if (value) item[feature.name] = value;
  }
  let timestamped = true;
  if (layout.timestamp) {
    const cell = cells[layout.timestamp.index] ?? '';
    if (cell === '') timestamped = false;
    else {
      const normalized = utcTimestamp(cell);
      if (!normalized.ok) throw new RowError(`${at}: ${layout.timestamp.name} ${shown(cell)} ${normalized.problem}.`);
      item[TIMESTAMP_ATTRIBUTE] = { S: normalized.value };
    }
  } else {
    item[TIMESTAMP_ATTRIBUTE] = { S: loadTime };
  }
  const bytes = itemBytes(item);
  if (bytes > MAX_ITEM_BYTES)
    throw new RowError(
      `${at}: the item is ${bytes} bytes (names and values); DynamoDB stores items of at most ${MAX_ITEM_BYTES} (400 KB).`,
    );
  return { identity, item, timestamped };
}

/** A feature cell's value; `undefined` for an empty cell (no attribute). `where` names it in a refusal. */
export function cellValue(cell: string, where: () => string): Value | undefined {
  if (cell === '') return undefined;
  // JSON's spelling, and Python's (pandas writes a bool column as True/False).
  if (cell === 'true' || cell === 'True') return { BOOL: true };
  if (cell === 'false' || cell === 'False') return { BOOL: false };
  const number = readNumber(cell);
  if (number === undefined) return { S: cell };
  if (number.problem) throw new RowError(`${where()} is ${shown(cell)}, a number that ${number.problem}.`);
  return { N: cell };
}

/** A JSON number. */
const JSON_NUMBER = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;
/** DynamoDB's numbers: 38 significant digits, magnitudes from 1E-130 to below 1E+126. */
const MAX_DIGITS = 38;
const MAX_LEADING_EXPONENT = 125;
const MIN_LEADING_EXPONENT = -130;

/**
 * `text` read as a JSON number: its canonical form (`-15e-1` for `-1.50`, `0` for any zero), and
 * why DynamoDB would refuse it, if it would; `undefined` when it is no JSON number.
 */
export function readNumber(text: string): { canonical: string; problem?: string } | undefined {
  const match = JSON_NUMBER.exec(text);
  if (!match) return undefined;
  const [, sign = '', whole = '', fraction = '', exponentText = '0'] = match;
  // value = digits × 10^exponent, digits without leading or trailing zeros.
  let digits = `${whole}${fraction}`.replace(/^0+/, '');
  if (digits === '') return { canonical: '0' };
  let exponent = Number(exponentText) - fraction.length;
  const trimmed = digits.replace(/0+$/, '');
  exponent += digits.length - trimmed.length;
  digits = trimmed;
  const canonical = `${sign}${digits}e${exponent}`;
  const leading = exponent + digits.length - 1;
  if (digits.length > MAX_DIGITS)
    return { canonical, problem: `has ${digits.length} significant digits; DynamoDB keeps at most ${MAX_DIGITS}` };
  if (!(leading <= MAX_LEADING_EXPONENT)) return { canonical, problem: 'is larger than DynamoDB stores (below 1E+126)' };
  if (!(leading >= MIN_LEADING_EXPONENT)) return { canonical, problem: 'is closer to 0 than DynamoDB stores (from 1E-130)' };
  return { canonical };
}

/** An ISO-8601 date-time with an offset: date, `T` or a space, hh:mm[:ss[.fraction]], `Z` or ±hh[:mm]. */
const DATE_TIME =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?$/;

/**
 * An ISO-8601 date-time as UTC text with milliseconds (`2026-11-30T12:00:00.000Z`; digits past the
 * millisecond are dropped), or why it is not one (a phrase after the value).
 */
export function utcTimestamp(text: string): { ok: true; value: string } | { ok: false; problem: string } {
  const match = DATE_TIME.exec(text);
  const example = 'such as 2026-11-30T12:00:00Z';
  if (!match) return { ok: false, problem: `is not an ISO-8601 date-time ${example}` };
  const [, year, month, day, hour, minute, second = '0', fraction = '', offset] = match;
  if (offset === undefined)
    return { ok: false, problem: `has no UTC offset: end it with Z (UTC) or +hh:mm, ${example} (a time without one could be any zone's)` };
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  const ms = Number(fraction.slice(0, 3).padEnd(3, '0'));
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, ms);
  const valid = date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
  if (!valid) return { ok: false, problem: `is not a date-time that exists ${example}` };
  let offsetMinutes = 0;
  if (!/^[Zz]$/.test(offset)) {
    const [oh = 0, om = 0] = [offset.slice(1, 3), offset.slice(3).replace(':', '')].map((part) => Number(part || '0'));
    if (oh > 23 || om > 59) return { ok: false, problem: `has an offset that is none, ${example}` };
    offsetMinutes = (offset.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  const utc = new Date(date.getTime() - offsetMinutes * 60_000);
  if (utc.getUTCFullYear() < 0 || utc.getUTCFullYear() > 9999) return { ok: false, problem: `is out of the years 0000 to 9999 in UTC` };
  return { ok: true, value: utc.toISOString() };
}

/** An item's size as DynamoDB counts it: each name's UTF-8 bytes and its value's (a number: 1 byte per 2 digits, plus 1). */
export function itemBytes(item: Item): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name);
    if ('S' in value) bytes += Buffer.byteLength(value.S);
    else if ('N' in value) bytes += Math.ceil((readNumber(value.N)?.canonical.replace(/^-/, '').split('e')[0]?.length ?? 1) / 2) + 1;
    else bytes += 1;
  }
  return bytes;
}

/**
 * `source`, checked to be UTF-8 as it streams (or UTF-16 little-endian, known by its byte order
 * mark, which the parser decodes; big-endian is refused). Bytes that are not valid text are
 * refused, never replaced by U+FFFD: two keys that differ only in such bytes would otherwise
 * become one item.
 *
 * @throws RowError `FILE is not UTF-8: byte 0xE9 on line N ...`
 */
async function* strictText(file: string, source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let decoder = new TextDecoder('utf-8', { fatal: true });
  let first = true;
  let utf16 = false;
  let line = 1;
  for await (const chunk of source) {
    if (first) {
      first = false;
      if (chunk.length >= 2 && chunk[0] === 0xfe && chunk[1] === 0xff) {
        // The CSV parser reads UTF-8 and UTF-16 little-endian only: big-endian text would be misread.
        throw new RowError(`${file} is UTF-16 big-endian, which is not read here. Save it as UTF-8 (spreadsheets: "CSV UTF-8").`);
      }
      utf16 = chunk.length >= 2 && chunk[0] === 0xff && chunk[1] === 0xfe;
      if (utf16) decoder = new TextDecoder('utf-16le', { fatal: true });
    }
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      throw new RowError(
        utf16
          ? `${file} is not valid UTF-16: an unpaired surrogate on line ${lineOfReplacement(chunk, line)}. Save it as UTF-8.`
          : `${file} is not UTF-8: ${badByte(chunk, line)}. Save it as UTF-8 (spreadsheets: "CSV UTF-8").`,
      );
    }
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) line++;
    yield chunk;
  }
  try {
    decoder.decode();
  } catch {
    throw new RowError(
      `${file} is not ${utf16 ? 'valid UTF-16' : 'UTF-8'}: it ends inside a character, on line ${line}. Save it as UTF-8.`,
    );
  }
}

/** The line of the first character UTF-16 cannot decode in `chunk` (which starts on `line`). */
function lineOfReplacement(chunk: Uint8Array, line: number): number {
  const text = new TextDecoder('utf-16le').decode(chunk);
  const bad = text.indexOf('\uFFFD');
  let lines = line;
  for (let at = text.indexOf('\n'); at !== -1 && at < bad; at = text.indexOf('\n', at + 1)) lines++;
  return lines;
}

/**
 * Where the first byte that is not UTF-8 is in `chunk` (which starts on `line`), in words: the
 * first prefix a streaming decoder refuses ends at the byte that broke a sequence; when that byte
 * is plain ASCII, the fault is the unfinished sequence before it, reported by its first byte.
 */
function badByte(chunk: Uint8Array, line: number): string {
  let at = chunk.length - 1;
  for (let end = 1; end <= chunk.length; end++) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(chunk.subarray(0, end), { stream: true });
    } catch {
      at = end - 1;
      break;
    }
  }
  if ((chunk[at] ?? 0) < 0x80) {
    at--;
    while (at > 0 && ((chunk[at] ?? 0) & 0xc0) === 0x80) at--;
  }
  at = Math.max(0, at);
  let lines = line;
  for (let i = 0; i < at; i++) if (chunk[i] === 0x0a) lines++;
  return `byte 0x${(chunk[at] ?? 0).toString(16).toUpperCase().padStart(2, '0')} on line ${lines}`;
}

/** One CSV record: its cells and the line it starts on. */
export interface CsvRecord {
  readonly line: number;
  readonly cells: readonly string[];
}

/**
 * The records of CSV bytes (RFC 4180, UTF-8, a byte order mark dropped, empty lines skipped,
 * every record as many cells as the header), read as they stream in. A CSV that cannot be read is
 * a {@link RowError}: `FILE is not valid CSV: ... on line N.`
 */
export async function* csvRecords(file: string, source: AsyncIterable<Uint8Array>): AsyncGenerator<CsvRecord> {
  const parser = pipeline(
    Readable.from(strictText(file, source)),
    parse({ info: true, bom: true, skip_empty_lines: true, record_delimiter: ['\r\n', '\n'], max_record_size: MAX_RECORD_CHARS }),
    // Errors reach the loop below through the parser, which the pipeline destroys with them.
    () => undefined,
  );
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      // csv-parse counts the line a record ends on; a quoted cell may hold line breaks.
      const breaks = record.reduce((count, cell) => count + (cell.match(/\n/g)?.length ?? 0), 0);
      yield { line: info.lines - breaks, cells: record };
    }
  } catch (error) {
    if (error instanceof CsvError || String((error as { code?: unknown }).code).startsWith('CSV_'))
      throw new RowError(`${file} is not valid CSV: ${messageOf(error)}.`);
    throw error;
  }
}
