/**
 * The batch jobs' input formats (functions/core/batch-input.ts) over an in-memory DataObjects
 * and real files: CSV (quotes, line breaks in fields, CRLF, broken lines), JSON Lines (blank and
 * broken lines), Parquet written by hyparquet-writer (float, int64, string, timestamp columns,
 * several row groups). Checks the submission checks, the plan's splits (bounds, order, row
 * numbers across files) and that reading every split gives every record exactly once, in order,
 * including over random inputs (fast-check) and 100,000 rows read as a stream.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import type { BatchFormat, InputFile, Split } from '../../functions/core/batch-contract.js';
import {
  INSPECT_BYTES,
  MAX_RECORD_BYTES,
  inspectInput,
  planSplits,
  readSplit,
  splitSizing,
  type PlanSummary,
  type SplitEntry,
} from '../../functions/core/batch-input.js';
import { AppError } from '../../functions/core/errors.js';
import { CORRUPTIONS, IRIS_FEATURES, irisBatch, irisRow, type Corruption } from '../fixtures/batch-data.js';
import { rejection } from '../fixtures/errors.js';
import { InMemoryDataObjects } from '../fixtures/in-memory-data.js';

const BUCKET = 'input';

interface Planned {
  readonly summary: PlanSummary;
  readonly splits: Split[];
}

async function plan(
  objects: InMemoryDataObjects,
  files: InputFile[],
  format: BatchFormat,
  rowsPerBatch = 500,
  maxBatchBytes?: number,
): Promise<Planned> {
  const splits: Split[] = [];
  const summary = await planSplits(objects, { files, format, rowsPerBatch, ...(maxBatchBytes ? { maxBatchBytes } : {}) }, (split) => {
    splits.push(split);
  });
  return { summary, splits };
}

async function readAll(objects: InMemoryDataObjects, planned: Planned, format: BatchFormat): Promise<SplitEntry[]> {
  const entries: SplitEntry[] = [];
  for (const split of planned.splits) entries.push(...(await readSplit(objects, split, format, planned.summary.columns)));
  return entries;
}

/** Stores one file and plans and reads it. */
async function roundTrip(
  body: string | Uint8Array,
  format: BatchFormat,
  rowsPerBatch = 500,
  chunkBytes = 7,
): Promise<{ planned: Planned; entries: SplitEntry[]; objects: InMemoryDataObjects; file: InputFile }> {
  const objects = new InMemoryDataObjects({ chunkBytes });
  const file = objects.set({ bucket: BUCKET, key: `data.${format}` }, body);
  const planned = await plan(objects, [file], format, rowsPerBatch);
  return { planned, entries: await readAll(objects, planned, format), objects, file };
}

function codeOf(entry: SplitEntry | undefined): string | undefined {
  return entry?.error?.code;
}

describe('splitSizing', () => {
  it('keeps a batch of splitsPerBatch splits within rowsPerBatch records and maxBatchBytes bytes', () => {
    // Act
    const sizes = [1, 500, 1000, 1001, 2500, 10_000].map((rows) => splitSizing(rows, 4 * 1024 * 1024));

    // Assess
    expect(sizes).toStrictEqual([
      { splitsPerBatch: 1, splitRows: 1, splitBytes: 4194304 },
      { splitsPerBatch: 1, splitRows: 500, splitBytes: 4194304 },
      { splitsPerBatch: 1, splitRows: 1000, splitBytes: 4194304 },
      { splitsPerBatch: 2, splitRows: 500, splitBytes: 2097152 },
      { splitsPerBatch: 3, splitRows: 833, splitBytes: 1398101 },
      { splitsPerBatch: 10, splitRows: 1000, splitBytes: 419430 },
    ]);
    expect(() => splitSizing(0)).toThrow(RangeError);
    expect(() => splitSizing(1.5)).toThrow(RangeError);
    expect(() => splitSizing(10, 0)).toThrow(RangeError);
  });
});

describe('inspectInput', () => {
  it('CSV: the header (byte order mark dropped) that every file shares, skipping empty files', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const files = [
      objects.set({ bucket: BUCKET, key: 'in/a.csv' }, '\ufeffsepal_length_cm,"petal, width",species\r\n5.1,0.2,setosa\r\n'),
      objects.set({ bucket: BUCKET, key: 'in/b.csv' }, ''),
      objects.set({ bucket: BUCKET, key: 'in/c.csv' }, 'sepal_length_cm,"petal, width",species\n6.3,1.8,virginica'),
    ];

    // Act
    const inspected = await inspectInput(objects, files, 'csv');

    // Assess
    expect(inspected).toStrictEqual({ columns: ['sepal_length_cm', 'petal, width', 'species'] });
  });

  it("CSV: refuses a file whose header differs from the first file's, naming both and the column", async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const files = [
      objects.set({ bucket: BUCKET, key: 'in/a.csv' }, 'x,y,z\n1,2,3\n'),
      objects.set({ bucket: BUCKET, key: 'in/b.csv' }, 'x,y,z\n4,5,6\n'),
      objects.set({ bucket: BUCKET, key: 'in/c.csv' }, 'x,Y,z\n7,8,9\n'),
      objects.set({ bucket: BUCKET, key: 'in/d.csv' }, 'x,y\n7,8\n'),
    ];

    // Act
    const error = await rejection(inspectInput(objects, files, 'csv'));

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'INPUT_UNREADABLE', path: ['input', 'uri'] });
    expect(error.message).toBe(
      's3://input/in/c.csv: its header differs from that of s3://input/in/a.csv: column 2 is "Y", not "y". Every file of a CSV input must have the same header.',
    );
  });

  it('CSV: reads only the first 64 KiB of each file, and refuses a header longer than that', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const longHeader = Array.from({ length: 8_000 }, (_, i) => `column_${i}`).join(',');
    const files = [
      objects.set({ bucket: BUCKET, key: 'ok.csv' }, `a,b\n${'1,2\n'.repeat(50_000)}`),
      objects.set({ bucket: BUCKET, key: 'long.csv' }, `${longHeader}\n${'1,'.repeat(7_999)}1\n`),
    ];

    // Act
    const error = await rejection(inspectInput(objects, files, 'csv'));

    // Assess
    expect(longHeader.length).toBeGreaterThan(INSPECT_BYTES);
    expect(error).toMatchObject({
      code: 'INPUT_UNREADABLE',
      message: expect.stringContaining('s3://input/long.csv: its header does not end within the first 64 KiB'),
    });
    expect(objects.ranges.map(({ key, start, end }) => ({ key, start, end }))).toEqual(
      expect.arrayContaining([
        { key: 'ok.csv', start: 0, end: INSPECT_BYTES },
        { key: 'long.csv', start: 0, end: INSPECT_BYTES },
      ]),
    );
    expect(objects.streams).toHaveLength(0);
  });

  it.each([
    ['a column named twice', 'a,b,a\n1,2,3\n', 'its header names the column "a" twice'],
    [
      'a UTF-16 file',
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a,b\n1,2\n', 'utf16le')]),
      'it is UTF-16 encoded; save it as UTF-8.',
    ],
    [
      'a header that is not UTF-8',
      Buffer.from([0x61, 0xc3, 0x28, 0x2c, 0x62, 0x0a, 0x31, 0x2c, 0x32, 0x0a]),
      'its header is not valid UTF-8',
    ],
    ['a header with an unclosed quote', '"a,b\n1,2\n', 'its header (line 1) is not valid CSV: a quoted field is never closed'],
  ])('CSV: refuses %s', async (_, body, message) => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const file = objects.set({ bucket: BUCKET, key: 'bad.csv' }, body);

    // Act
    const error = await rejection(inspectInput(objects, [file], 'csv'));

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'INPUT_UNREADABLE', path: ['input', 'uri'] });
    expect(error.message).toContain(`s3://input/bad.csv: ${message}`);
  });

  it('EMPTY_INPUT when every file is empty, or a CSV read whole holds only its header', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const empty = [objects.set({ bucket: BUCKET, key: 'e1.csv' }, ''), objects.set({ bucket: BUCKET, key: 'e2.csv' }, '')];
    const headerOnly = [objects.set({ bucket: BUCKET, key: 'h1.csv' }, 'a,b\n'), objects.set({ bucket: BUCKET, key: 'h2.csv' }, 'a,b\n\n')];
    const blank = [objects.set({ bucket: BUCKET, key: 'b.jsonl' }, '\n  \n')];

    // Act
    const errors = await Promise.all([
      rejection(inspectInput(objects, empty, 'csv')),
      rejection(inspectInput(objects, headerOnly, 'csv')),
      rejection(inspectInput(objects, blank, 'jsonl')),
      rejection(inspectInput(objects, [], 'parquet')),
    ]);

    // Assess
    for (const error of errors) expect(error).toMatchObject({ status: 400, code: 'EMPTY_INPUT', path: ['input', 'uri'] });
    expect(errors[0]?.message).toContain('its 2 files hold nothing');
  });

  it('JSON Lines: the keys of the first non-blank line, which may be longer than 64 KiB', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const big = JSON.stringify({ text: 'x'.repeat(100_000), sepal_length_cm: 5.1 });
    const files = [
      objects.set({ bucket: BUCKET, key: 'a.jsonl' }, '\n'),
      objects.set({ bucket: BUCKET, key: 'b.jsonl' }, `\ufeff\r\n  \r\n${big}\r\n{"other": 1}\n`),
    ];

    // Act
    const inspected = await inspectInput(objects, files, 'jsonl');

    // Assess
    expect(inspected).toStrictEqual({ columns: ['text', 'sepal_length_cm'] });
  });

  it.each([
    ['an array', '[5.1, 3.5]\n', 'its first record (line 1) is an array, not a JSON object'],
    ['not JSON', '\n{"a": 1,,}\n', 'its first record (line 2) is not JSON: '],
    ['not UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x0a]), 'its first record: Line 1 is not valid UTF-8'],
  ])('JSON Lines: refuses a first record that is %s', async (_, body, message) => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const file = objects.set({ bucket: BUCKET, key: 'bad.jsonl' }, body);

    // Act
    const error = await rejection(inspectInput(objects, [file], 'jsonl'));

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'INPUT_UNREADABLE', path: ['input', 'uri'] });
    expect(error.message).toContain(`s3://input/bad.jsonl: ${message}`);
  });

  it('Parquet: the top-level columns from the footer alone', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const bytes = parquet(5_000, 1_000);
    const files = [objects.set({ bucket: BUCKET, key: 'a.parquet' }, bytes), objects.set({ bucket: BUCKET, key: 'b.parquet' }, bytes)];

    // Act
    const inspected = await inspectInput(objects, files, 'parquet');

    // Assess
    expect(inspected).toStrictEqual({ columns: ['sepal_length_cm', 'petal_width_cm', 'count', 'big', 'species', 'seen_at'] });
    expect(objects.streams).toHaveLength(0);
    expect(objects.ranges.every((range) => range.end === bytes.length && range.start >= bytes.length - INSPECT_BYTES)).toBe(true);
  });

  it('Parquet: refuses a file that is not Parquet, and one whose columns differ', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const good = objects.set({ bucket: BUCKET, key: 'a.parquet' }, parquet(10, 10));
    const csv = objects.set({ bucket: BUCKET, key: 'b.parquet' }, 'a,b\n1,2\n');
    const other = objects.set(
      { bucket: BUCKET, key: 'c.parquet' },
      new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'sepal_length_cm', data: [1.5], type: 'DOUBLE' }] })),
    );

    // Act
    const notParquet = await rejection(inspectInput(objects, [good, csv], 'parquet'));
    const differs = await rejection(inspectInput(objects, [good, other], 'parquet'));

    // Assess
    expect(notParquet).toMatchObject({
      code: 'INPUT_UNREADABLE',
      message: expect.stringMatching(/^s3:\/\/input\/b\.parquet: it is not a Parquet file that can be read \(.+\)\.$/),
    });
    expect(differs).toMatchObject({
      code: 'INPUT_UNREADABLE',
      message: expect.stringContaining(
        's3://input/c.parquet: its columns differ from those of s3://input/a.parquet: it lacks petal_width_cm, count, big, species, seen_at.',
      ),
    });
  });

  it('a listed file that is gone is 404 INPUT_NOT_FOUND', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const file = objects.set({ bucket: BUCKET, key: 'gone.csv' }, 'a\n1\n');
    objects.delete(file);

    // Act
    const error = await rejection(inspectInput(objects, [file], 'csv'));

    // Assess
    expect(error).toMatchObject({ status: 404, code: 'INPUT_NOT_FOUND', path: ['input', 'uri'] });
  });
});

describe('CSV', () => {
  it('reads quoted commas, quotes and line breaks, CRLF, blank lines and a last line without a break', async () => {
    // Prepare
    const body = [
      'id,text,value\r\n', // line 1
      '1,"a, b",1.5\r\n', // 2
      '2,"say ""hi""",2\r\n', // 3
      '\r\n', // 4: blank, not a record
      '3,"two\r\nlines",3\r\n', // 5-6
      '4,"three\nmore\nlines",4\n', // 7-9
      '5,plain,5', // 10, no final break
    ].join('');

    // Act
    const { planned, entries } = await roundTrip(body, 'csv');

    // Assess
    expect(planned.summary).toStrictEqual({ rows: 5, splitCount: 1, splitsPerBatch: 1, columns: ['id', 'text', 'value'] });
    expect(planned.splits).toStrictEqual([
      {
        index: 0,
        file: 0,
        bucket: BUCKET,
        key: 'data.csv',
        firstRow: 0,
        rows: 5,
        start: 15,
        end: Buffer.byteLength(body),
        firstLine: 2,
        etag: expect.stringMatching(/^"[0-9a-f]{32}"$/),
      },
    ]);
    expect(entries).toStrictEqual([
      { row: 0, line: 2, record: { id: '1', text: 'a, b', value: '1.5' } },
      { row: 1, line: 3, record: { id: '2', text: 'say "hi"', value: '2' } },
      { row: 2, line: 5, record: { id: '3', text: 'two\r\nlines', value: '3' } },
      { row: 3, line: 7, record: { id: '4', text: 'three\nmore\nlines', value: '4' } },
      { row: 4, line: 10, record: { id: '5', text: 'plain', value: '5' } },
    ]);
  });

  it('makes error records of short and long rows, unclosed and stray quotes, and reads on', async () => {
    // Prepare
    const body = [
      'a,b,c\n', // 1
      '1,2,3\n', // 2 row 0
      '4,5\n', // 3 row 1: short
      '6,7,8,9\n', // 4 row 2: long
      '10,"11,12\n', // 5 row 3: unclosed quote...
      '13,14,15\n', // 6 row 4
      '16,"17"x,18\n', // 7 row 5: ...which closes here, wrongly: this line is broken too
      '19,2"0,21\n', // 8 row 6: a quote inside an unquoted field
      '22,23,24\n', // 9 row 7
      '25,"26,27\n', // 10 row 8: unclosed to the end of the file
      '28,29,30\n', // 11 row 9
    ].join('');

    // Act
    const { planned, entries } = await roundTrip(body, 'csv', 3);

    // Assess
    expect(planned.summary.rows).toBe(10);
    expect(entries.map((e) => [e.row, e.line, codeOf(e) ?? e.record])).toStrictEqual([
      [0, 2, { a: '1', b: '2', c: '3' }],
      [1, 3, 'CSV_FIELD_COUNT'],
      [2, 4, 'CSV_FIELD_COUNT'],
      [3, 5, 'INVALID_CSV'],
      [4, 6, { a: '13', b: '14', c: '15' }],
      [5, 7, 'INVALID_CSV'],
      [6, 8, 'INVALID_CSV'],
      [7, 9, { a: '22', b: '23', c: '24' }],
      [8, 10, 'INVALID_CSV'],
      [9, 11, { a: '28', b: '29', c: '30' }],
    ]);
    expect(entries[1]?.error).toStrictEqual({
      code: 'CSV_FIELD_COUNT',
      message: 'Line 3 has 2 fields; the header has 3 (a, b, c). Every row needs one field per column (quote a field that holds a comma).',
      path: [],
    });
    expect(entries[3]?.error?.message).toBe(
      'Line 5 is not valid CSV: a quoted field is never closed (a field that begins with " must end with ", and a " inside it must be doubled: ""). The line begins "10,\\"11,12".',
    );
    expect(entries[6]?.error?.message).toContain('a " appears inside a field that does not begin with one');
  });

  it('a quote left open for more than 1 MiB costs its line only; a line over 1 MiB is RECORD_TOO_LARGE', async () => {
    // Prepare: no other quote follows the open one, so csv-parse gives up at its record bound.
    const rest = '3,4\n'.repeat(300_000);
    const unclosed = `a,b\n1,"2\n${rest}`;
    const longLine = `a,b\n5,6\n1,"${'x'.repeat(MAX_RECORD_BYTES + 10)}\n7,8\n`;

    // Act
    const first = await roundTrip(unclosed, 'csv', 500, 65_536);
    const second = await roundTrip(longLine, 'csv', 500, 65_536);

    // Assess
    expect(first.planned.summary.rows).toBe(300_001);
    expect(first.entries[0]).toMatchObject({
      row: 0,
      line: 2,
      error: { code: 'INVALID_CSV', message: expect.stringContaining('a quoted field is never closed') },
    });
    expect(first.entries.slice(1).every((e, i) => e.line === i + 3 && (e.record as { b: string }).b === '4')).toBe(true);
    expect(second.entries.map((e) => [e.line, codeOf(e) ?? e.record])).toStrictEqual([
      [2, { a: '5', b: '6' }],
      [3, 'RECORD_TOO_LARGE'],
      [4, { a: '7', b: '8' }],
    ]);
  }, 30_000);

  it('a header-only file has no rows and no splits, but its columns', async () => {
    // Act
    const { planned, entries } = await roundTrip('a,b\r\n', 'csv');

    // Assess
    expect(planned.summary).toStrictEqual({ rows: 0, splitCount: 0, splitsPerBatch: 1, columns: ['a', 'b'] });
    expect(entries).toStrictEqual([]);
  });

  it('refuses a record that is not UTF-8 or holds a NUL, and keeps a column named __proto__ as a key', async () => {
    // Prepare
    const body = Buffer.concat([
      Buffer.from('__proto__,b\nx,1\n'),
      Buffer.from([0x79, 0xff, 0x2c, 0x32, 0x0a]),
      Buffer.from('z\u0000,3\n'),
    ]);

    // Act
    const { entries } = await roundTrip(body, 'csv');

    // Assess
    expect(Object.getPrototypeOf(entries[0]?.record)).toBe(Object.prototype);
    expect(Object.entries(entries[0]?.record as object)).toStrictEqual([
      ['__proto__', 'x'],
      ['b', '1'],
    ]);
    expect(entries.slice(1).map((e) => [e.line, e.error?.code])).toStrictEqual([
      [3, 'MALFORMED_UTF8'],
      [4, 'NUL_IN_RECORD'],
    ]);
  });

  it('reads the header itself when a split comes without columns', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const file = objects.set({ bucket: BUCKET, key: 'data.csv' }, 'a,b\n1,2\n');
    const { splits } = await plan(objects, [file], 'csv');

    // Act
    const entries = await readSplit(objects, splits[0] as Split, 'csv');

    // Assess
    expect(entries).toStrictEqual([{ row: 0, line: 2, record: { a: '1', b: '2' } }]);
  });
});

describe('JSON Lines', () => {
  it('every line is a record: blank and broken ones become errors, CRLF and a last line without a break are fine', async () => {
    // Prepare
    const body = Buffer.concat([
      Buffer.from('\ufeff{"a": 1}\r\n'), // 1
      Buffer.from('\n'), // 2: blank
      Buffer.from('{"a": 2,}\n'), // 3: not JSON
      Buffer.from('[1, 2]\n'), // 4: JSON, not an object (the codec judges it)
      Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0x22, 0x7d, 0x0a]), // 5: not UTF-8
      Buffer.from('{"a": "\u0000"}\n'), // 6: a raw NUL
      Buffer.from('   \n'), // 7: blank
      Buffer.from('{"a": 7, "__proto__": {"x": 1}}'), // 8, no final break
    ]);

    // Act
    const { planned, entries } = await roundTrip(body, 'jsonl');

    // Assess
    expect(planned.summary).toStrictEqual({ rows: 8, splitCount: 1, splitsPerBatch: 1, columns: [] });
    expect(entries.map((e) => [e.row, e.line, codeOf(e) ?? e.record])).toStrictEqual([
      [0, 1, { a: 1 }],
      [1, 2, 'INVALID_JSON'],
      [2, 3, 'INVALID_JSON'],
      [3, 4, [1, 2]],
      [4, 5, 'MALFORMED_UTF8'],
      [5, 6, 'NUL_IN_RECORD'],
      [6, 7, 'INVALID_JSON'],
      [7, 8, JSON.parse('{"a": 7, "__proto__": {"x": 1}}')],
    ]);
    expect(entries[1]?.error?.message).toBe(
      'Line 2 is blank; every line of a JSON Lines file must hold one JSON value (remove blank lines).',
    );
    expect(entries[2]?.error?.message).toMatch(/^Line 3 is not JSON: .+\. The line begins "\{\\"a\\": 2,\}"\.$/);
    expect(Object.getPrototypeOf(entries[7]?.record)).toBe(Object.prototype);
  });

  it('the empty remainder after a final line break is not a record; a line of its own is', async () => {
    // Act
    const one = await roundTrip('{"a": 1}\n', 'jsonl');
    const two = await roundTrip('{"a": 1}\n\n', 'jsonl');

    // Assess
    expect(one.planned.summary.rows).toBe(1);
    expect(two.planned.summary.rows).toBe(2);
    expect(codeOf(two.entries[1])).toBe('INVALID_JSON');
  });

  it('quotes at most 64 characters of a broken line', async () => {
    // Prepare
    const line = `{"text": "${'y'.repeat(5_000)}`;

    // Act
    const { entries } = await roundTrip(`${line}\n`, 'jsonl');

    // Assess
    const message = entries[0]?.error?.message ?? '';
    expect(message.length).toBeLessThan(400);
    expect(message).toContain(`The line begins ${JSON.stringify(`${line.slice(0, 64)}…`)}.`);
  });

  it('a record over 1 MiB gets a split of its own and RECORD_TOO_LARGE, without being read', async () => {
    // Prepare
    const huge = JSON.stringify({ text: 'z'.repeat(MAX_RECORD_BYTES) });
    const body = `{"a": 1}\n${huge}\n{"a": 3}\n`;
    const objects = new InMemoryDataObjects();
    const file = objects.set({ bucket: BUCKET, key: 'huge.jsonl' }, body);

    // Act
    const planned = await plan(objects, [file], 'jsonl');
    const entries = await readAll(objects, planned, 'jsonl');

    // Assess
    expect(planned.splits.map((s) => [s.firstRow, s.rows])).toStrictEqual([
      [0, 1],
      [1, 1],
      [2, 1],
    ]);
    expect(entries.map((e) => codeOf(e) ?? e.record)).toStrictEqual([{ a: 1 }, 'RECORD_TOO_LARGE', { a: 3 }]);
    expect(entries[1]?.error?.message).toBe(
      `The record on line 2 is ${huge.length + 1} bytes long; a record is at most 1048576 bytes (1 MiB).`,
    );
    expect(objects.ranges.every((range) => range.end - range.start < 100)).toBe(true);
  });
});

/** A Parquet file of `rows` rows in groups of `rowGroupSize`: float, int64, string and timestamp columns. */
function parquet(rows: number, rowGroupSize: number): Uint8Array {
  const columnData: ColumnSource[] = [
    { name: 'sepal_length_cm', data: Float64Array.from({ length: rows }, (_, i) => 4 + (i % 40) / 10), type: 'DOUBLE' },
    {
      name: 'petal_width_cm',
      data: Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? null : (i % 25) / 10)),
      type: 'FLOAT',
      nullable: true,
    },
    { name: 'count', data: BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * 3n - 7n), type: 'INT64' },
    { name: 'big', data: BigInt64Array.from({ length: rows }, (_, i) => 9007199254740993n + BigInt(i)), type: 'INT64' },
    {
      name: 'species',
      data: Array.from({ length: rows }, (_, i) => ['setosa', 'versicolor', 'virginica', 'ĉu "ne"?'][i % 4] as string),
      type: 'STRING',
    },
    { name: 'seen_at', data: Array.from({ length: rows }, (_, i) => new Date(Date.UTC(2026, 0, 1) + i * 1000)), type: 'TIMESTAMP' },
  ];
  return new Uint8Array(parquetWriteBuffer({ columnData, rowGroupSize }));
}

function parquetRecord(i: number): Record<string, unknown> {
  return {
    sepal_length_cm: 4 + (i % 40) / 10,
    petal_width_cm: i % 7 === 3 ? null : Math.fround((i % 25) / 10),
    count: i * 3 - 7,
    big: String(9007199254740993n + BigInt(i)),
    species: ['setosa', 'versicolor', 'virginica', 'ĉu "ne"?'][i % 4],
    seen_at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
  };
}

describe('Parquet', () => {
  it('splits by row groups and reads plain values: floats, int64 as numbers or exact strings, strings, null, ISO times', async () => {
    // Prepare: groups of 400 rows; 250 rows per split cut each group in two.
    const rows = 1_000;
    const objects = new InMemoryDataObjects();
    const file = objects.set({ bucket: BUCKET, key: 'data.parquet' }, parquet(rows, 400));

    // Act
    const planned = await plan(objects, [file], 'parquet', 250);
    const entries = await readAll(objects, planned, 'parquet');

    // Assess
    expect(planned.summary).toStrictEqual({ rows, splitCount: 5, splitsPerBatch: 1, columns: [] });
    expect(planned.splits.map((s) => [s.firstRow, s.fileRow, s.rows])).toStrictEqual([
      [0, 0, 250],
      [250, 250, 150],
      [400, 400, 250],
      [650, 650, 150],
      [800, 800, 200],
    ]);
    expect(planned.splits.every((s) => s.start === undefined && s.end === undefined)).toBe(true);
    expect(entries).toHaveLength(rows);
    entries.forEach((entry, i) => expect(entry).toStrictEqual({ row: i, record: parquetRecord(i) }));
  });

  it('puts consecutive small row groups in one split, and reads only the columns asked for', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const file = objects.set({ bucket: BUCKET, key: 'small-groups.parquet' }, parquet(95, 10));

    // Act
    const planned = await plan(objects, [file], 'parquet', 40);
    const entries: SplitEntry[] = [];
    for (const split of planned.splits) entries.push(...(await readSplit(objects, split, 'parquet', ['species', 'count', 'not_there'])));

    // Assess
    expect(planned.splits.map((s) => [s.fileRow, s.rows])).toStrictEqual([
      [0, 40],
      [40, 40],
      [80, 15],
    ]);
    expect(entries).toHaveLength(95);
    expect(entries[93]).toStrictEqual({ row: 93, record: { count: 93 * 3 - 7, species: 'versicolor' } });
    expect(entries[91]).toStrictEqual({ row: 91, record: { count: 91 * 3 - 7, species: 'ĉu "ne"?' } });
  });

  it('cuts row groups by bytes too, from their uncompressed size', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const file = objects.set({ bucket: BUCKET, key: 'data.parquet' }, parquet(1_000, 1_000));

    // Act
    const planned = await plan(objects, [file], 'parquet', 1_000, 8_192);

    // Assess: about 40 bytes a row, so about 200 rows per 8 KiB split.
    expect(planned.splits.length).toBeGreaterThan(3);
    expect(planned.splits.reduce((n, s) => n + s.rows, 0)).toBe(1_000);
    expect(new Set(planned.splits.slice(0, -1).map((s) => s.rows)).size).toBe(1);
  });
});

describe('several files', () => {
  it('numbers rows across files in order, never lets a split span two files, and skips empty files (a byte order mark too)', async () => {
    // Prepare
    const objects = new InMemoryDataObjects({ chunkBytes: 5 });
    const files = [
      objects.set({ bucket: BUCKET, key: 'p/1.csv' }, 'a,b\n1,1\n2,2\n3,3\n'),
      objects.set({ bucket: BUCKET, key: 'p/2.csv' }, ''),
      objects.set({ bucket: BUCKET, key: 'p/3.csv' }, 'a,b\n'),
      objects.set({ bucket: BUCKET, key: 'p/4.csv' }, '\ufeffa,b\r\n4,4\r\n5,5\r\n'),
    ];

    // Act
    const planned = await plan(objects, files, 'csv', 2);
    const entries = await readAll(objects, planned, 'csv');

    // Assess
    expect(planned.splits.map((s) => [s.index, s.file, s.key, s.firstRow, s.rows, s.firstLine])).toStrictEqual([
      [0, 0, 'p/1.csv', 0, 2, 2],
      [1, 0, 'p/1.csv', 2, 1, 4],
      [2, 3, 'p/4.csv', 3, 2, 2],
    ]);
    expect(entries.map((e) => [e.row, e.line, (e.record as { a: string }).a])).toStrictEqual([
      [0, 2, '1'],
      [1, 3, '2'],
      [2, 4, '3'],
      [3, 2, '4'],
      [4, 3, '5'],
    ]);
  });

  it('refuses, in the plan too, a file whose header differs', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const files = [
      objects.set({ bucket: BUCKET, key: 'p/1.csv' }, 'a,b\n1,1\n'),
      objects.set({ bucket: BUCKET, key: 'p/2.csv' }, 'a,c\n2,2\n'),
    ];

    // Act
    const error = await rejection(plan(objects, files, 'csv'));

    // Assess
    expect(error).toMatchObject({
      status: 400,
      code: 'INPUT_UNREADABLE',
      message: expect.stringContaining('s3://input/p/2.csv: its header differs from that of s3://input/p/1.csv: column 2 is "c", not "b"'),
    });
  });

  it('numbers Parquet rows across files, and JSON Lines lines per file', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const parquetFiles = [
      objects.set({ bucket: BUCKET, key: 'q/1.parquet' }, parquet(30, 30)),
      objects.set({ bucket: BUCKET, key: 'q/2.parquet' }, parquet(20, 20)),
    ];
    const jsonFiles = [
      objects.set({ bucket: BUCKET, key: 'j/1.jsonl' }, '{"i":0}\n{"i":1}\n'),
      objects.set({ bucket: BUCKET, key: 'j/2.jsonl' }, '{"i":2}'),
    ];

    // Act
    const parquetPlan = await plan(objects, parquetFiles, 'parquet', 1000);
    const parquetEntries = await readAll(objects, parquetPlan, 'parquet');
    const jsonPlan = await plan(objects, jsonFiles, 'jsonl', 1000);
    const jsonEntries = await readAll(objects, jsonPlan, 'jsonl');

    // Assess
    expect(parquetPlan.splits.map((s) => [s.file, s.firstRow, s.fileRow, s.rows])).toStrictEqual([
      [0, 0, 0, 30],
      [1, 30, 0, 20],
    ]);
    expect(parquetEntries[35]).toStrictEqual({ row: 35, record: parquetRecord(5) });
    expect(jsonEntries.map((e) => [e.row, e.line, e.record])).toStrictEqual([
      [0, 1, { i: 0 }],
      [1, 2, { i: 1 }],
      [2, 1, { i: 2 }],
    ]);
  });
});

describe('split sizing', () => {
  it('bounds splits by rows and by bytes; a record larger than the byte bound is alone', async () => {
    // Prepare: 99 records of 10 bytes, and one of 299 at row 50.
    const lines = Array.from({ length: 100 }, (_, i) =>
      i === 50 ? `${'9'.repeat(294)},${String(i).padStart(3, '0')}\n` : `${String(i).padStart(5, '0')},${String(i).padStart(3, '0')}\n`,
    );
    const body = `a,b\n${lines.join('')}`;
    const objects = new InMemoryDataObjects({ chunkBytes: 64 });
    const file = objects.set({ bucket: BUCKET, key: 'sized.csv' }, body);

    // Act: at most 8 records a split; then 1,500 rows a batch, so 2 splits a batch of 90 bytes: 45 bytes a split.
    const byRows = await plan(objects, [file], 'csv', 8);
    const byBytes = await plan(objects, [file], 'csv', 1_500, 90);
    const entries = await readAll(objects, byBytes, 'csv');

    // Assess
    expect(byRows.splits.every((s) => s.rows <= 8)).toBe(true);
    expect(byRows.splits).toHaveLength(13);
    expect(byBytes.summary.splitsPerBatch).toBe(2);
    for (const split of byBytes.splits) {
      const bytes = (split.end ?? 0) - (split.start ?? 0);
      if (split.rows > 1) expect(bytes).toBeLessThanOrEqual(45);
      else expect(bytes === 10 || bytes === 299).toBe(true);
    }
    expect(byBytes.splits.find((s) => s.firstRow === 50)).toMatchObject({ rows: 1, start: 4 + 500, end: 4 + 500 + 299 });
    expect(byBytes.splits.filter((s) => s.rows === 4)).toHaveLength(24);
    expect(entries.map((e) => e.row)).toStrictEqual(Array.from({ length: 100 }, (_, i) => i));
    expect((entries[50]?.record as { b: string }).b).toBe('050');
  });
});

describe('INPUT_CHANGED', () => {
  async function planned(body: string, format: BatchFormat): Promise<{ objects: InMemoryDataObjects; file: InputFile; splits: Split[] }> {
    const objects = new InMemoryDataObjects();
    const file = objects.set({ bucket: BUCKET, key: `c.${format}` }, body);
    const { splits } = await plan(objects, [file], format, 2);
    return { objects, file, splits };
  }

  it('a read of a file that shrank, moved its line breaks or holds other records since the plan', async () => {
    // Prepare
    const shrunk = await planned('a,b\n1,1\n2,2\n3,3\n', 'csv');
    shrunk.objects.set(shrunk.file, 'a,b\n1,1\n');
    const shifted = await planned('{"i":1}\n{"i":2}\n{"i":3}\n', 'jsonl');
    shifted.objects.set(shifted.file, '{"i":10}\n{"i":2}\n{"i":3}\n');
    const merged = await planned('a,b\n1,1\n2,2\n3,3\n', 'csv');
    merged.objects.set(merged.file, 'a,b\n"1,\n2",\n3,3\n');
    const gone = await planned('{"i":1}\n', 'jsonl');
    gone.objects.delete(gone.file);

    // Act
    const errors = await Promise.all([
      rejection(readSplit(shrunk.objects, shrunk.splits[1] as Split, 'csv', ['a', 'b'])),
      rejection(readSplit(shifted.objects, shifted.splits[0] as Split, 'jsonl')),
      rejection(readSplit(merged.objects, merged.splits[0] as Split, 'csv', ['a', 'b'])),
      rejection(readSplit(gone.objects, gone.splits[0] as Split, 'jsonl')),
    ]);

    // Assess
    for (const error of errors) expect(error).toMatchObject({ status: 409, code: 'INPUT_CHANGED', path: ['input', 'uri'] });
    expect(errors.map((e) => e.message)).toStrictEqual([
      's3://input/c.csv changed since the job was submitted (it ends before byte 16); submit the job again.',
      's3://input/c.jsonl changed since the job was submitted (byte 16 no longer follows a line break); submit the job again.',
      's3://input/c.csv changed since the job was submitted (bytes 4–12 hold 1 record, not the 2 planned); submit the job again.',
      's3://input/c.jsonl changed since the job was submitted (it no longer exists); submit the job again.',
    ]);
  });

  it('a plan of a file whose ETag or size differs from its listing, and a Parquet read past its rows', async () => {
    // Prepare
    const objects = new InMemoryDataObjects();
    const listed = objects.set({ bucket: BUCKET, key: 'e.csv' }, 'a\n1\n');
    objects.set(listed, 'a\n2\n');
    const resized = { ...objects.set({ bucket: BUCKET, key: 'r.csv' }, 'a\n1\n'), size: 99 };
    const pq = objects.set({ bucket: BUCKET, key: 'p.parquet' }, parquet(100, 100));
    const { splits } = await plan(objects, [pq], 'parquet', 100);
    objects.set(pq, parquet(50, 50));

    // Act
    const etag = await rejection(plan(objects, [listed], 'csv'));
    const size = await rejection(plan(objects, [resized], 'csv'));
    const rows = await rejection(readSplit(objects, splits[0] as Split, 'parquet'));

    // Assess
    expect(etag).toMatchObject({ status: 409, code: 'INPUT_CHANGED', message: expect.stringContaining('(its ETag differs)') });
    expect(size).toMatchObject({ status: 409, code: 'INPUT_CHANGED', message: expect.stringContaining('(it holds 4 bytes, not 99)') });
    // The split names the version it was planned from: the replaced file is refused by its ETag.
    expect(rows).toMatchObject({
      status: 409,
      code: 'INPUT_CHANGED',
      message: expect.stringContaining('(its ETag differs: it was replaced)'),
    });
    // A split without an ETag (an S3-compatible server that gives none) is judged by its rows.
    const { etag: _etag, ...unversioned } = splits[0] as Split;
    const fewer = await rejection(readSplit(objects, unversioned, 'parquet'));
    expect(fewer).toMatchObject({
      status: 409,
      code: 'INPUT_CHANGED',
      message: expect.stringContaining('(it holds 50 rows, fewer than the 100 planned)'),
    });
  });
});

/** RFC 4180 text of a field: quoted when it holds a comma, quote or line break (or is a lone empty field). */
function csvField(value: string, alone: boolean): string {
  return /[",\r\n]/.test(value) || (alone && value === '') ? `"${value.replaceAll('"', '""')}"` : value;
}

describe('every record in exactly one split, in order (property)', () => {
  const fieldText = fc
    .array(fc.constantFrom('a', 'Z', '7', ' ', ',', '"', '\n', '\r\n', '\r', 'é', '🌸', '""'), { maxLength: 6 })
    .map((parts) => parts.join(''));

  it('CSV: random records, line breaks, chunk sizes and batch bounds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }).chain((width) =>
          fc.record({
            width: fc.constant(width),
            records: fc.array(fc.array(fieldText, { minLength: width, maxLength: width }), { maxLength: 40 }),
            newline: fc.constantFrom('\n', '\r\n'),
            blankLines: fc.array(fc.nat(40), { maxLength: 5 }),
            finalBreak: fc.boolean(),
            chunkBytes: fc.integer({ min: 1, max: 50 }),
            rowsPerBatch: fc.integer({ min: 1, max: 12 }),
            maxBatchBytes: fc.integer({ min: 1, max: 400 }),
          }),
        ),
        async ({ width, records, newline, blankLines, finalBreak, chunkBytes, rowsPerBatch, maxBatchBytes }) => {
          // Prepare
          const header = Array.from({ length: width }, (_, i) => `c${i}`);
          let body = header.join(',') + newline;
          const lines: number[] = [];
          records.forEach((fields, i) => {
            for (const at of blankLines) if (at === i) body += newline;
            lines.push(body.split('\n').length);
            body += fields.map((f) => csvField(f, width === 1)).join(',') + (finalBreak || i < records.length - 1 ? newline : '');
          });
          const objects = new InMemoryDataObjects({ chunkBytes });
          const file = objects.set({ bucket: BUCKET, key: 'prop.csv' }, body);

          // Act
          const planned = await plan(objects, [file], 'csv', rowsPerBatch, maxBatchBytes);
          const entries = await readAll(objects, planned, 'csv');

          // Assess
          const { splitRows, splitBytes } = splitSizing(rowsPerBatch, maxBatchBytes);
          expect(planned.summary.rows).toBe(records.length);
          planned.splits.forEach((split, i) => {
            expect(split.index).toBe(i);
            expect(split.rows).toBeLessThanOrEqual(splitRows);
            if (split.rows > 1) expect((split.end ?? 0) - (split.start ?? 0)).toBeLessThanOrEqual(splitBytes);
          });
          expect(entries.map((e) => e.row)).toStrictEqual(records.map((_, i) => i));
          expect(entries.map((e) => e.line)).toStrictEqual(lines);
          expect(entries.map((e) => e.record)).toStrictEqual(
            records.map((fields) => Object.fromEntries(header.map((name, k) => [name, fields[k]]))),
          );
        },
      ),
      { numRuns: 300, seed: 11 },
    );
  });

  it('CSV: random broken text never stops the plan, and the reader agrees with it on every record', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a', ',', '"', '\n', '\r\n', '\r', ' ', '""', 'b,c'), { maxLength: 80 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 9 }),
        async (tokens, chunkBytes, rowsPerBatch) => {
          // Prepare
          const objects = new InMemoryDataObjects({ chunkBytes });
          const file = objects.set({ bucket: BUCKET, key: 'garbage.csv' }, `h1,h2\n${tokens.join('')}`);

          // Act
          const planned = await plan(objects, [file], 'csv', rowsPerBatch);
          const entries = await readAll(objects, planned, 'csv');

          // Assess
          expect(entries.map((e) => e.row)).toStrictEqual(Array.from({ length: planned.summary.rows }, (_, i) => i));
          for (const entry of entries) expect(entry.record === undefined).toBe(entry.error !== undefined);
          const lines = entries.map((e) => e.line ?? 0);
          expect(lines).toStrictEqual([...lines].sort((x, y) => x - y));
        },
      ),
      { numRuns: 500, seed: 12 },
    );
  });

  it('JSON Lines: random lines, each one record with its line number', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.jsonValue().map((v) => JSON.stringify(v)),
            fc.constantFrom('', '  ', '{', 'nul', '"x'),
          ),
          { maxLength: 30 },
        ),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 7 }),
        async (lines, newline, finalBreak, chunkBytes, rowsPerBatch) => {
          // Prepare
          const body = lines.join(newline) + (finalBreak && lines.length > 0 ? newline : '');
          const objects = new InMemoryDataObjects({ chunkBytes });
          const file = objects.set({ bucket: BUCKET, key: 'prop.jsonl' }, body);
          // The oracle: lines of the text, less the empty remainder after a final break.
          const expected = body.split('\n').map((line) => line.replace(/\r$/, ''));
          if (expected[expected.length - 1] === '') expected.pop();

          // Act
          const planned = await plan(objects, [file], 'jsonl', rowsPerBatch);
          const entries = await readAll(objects, planned, 'jsonl');

          // Assess
          expect(entries.map((e) => [e.row, e.line])).toStrictEqual(expected.map((_, i) => [i, i + 1]));
          entries.forEach((entry, i) => {
            const text = expected[i] as string;
            let value: unknown;
            try {
              value = text.trim() === '' ? undefined : (JSON.parse(text) as unknown);
            } catch {
              value = undefined;
            }
            if (value === undefined) expect(entry.error?.code).toBe('INVALID_JSON');
            else expect(entry.record).toStrictEqual(value);
          });
        },
      ),
      { numRuns: 300, seed: 13 },
    );
  });
});

describe('100,000 rows, streamed', () => {
  it('plans from a stream read chunk by chunk, reads each split with one bounded range, and gets every row back', async () => {
    // Prepare
    const rows = 100_000;
    const { bytes } = irisBatch({ rows, format: 'csv', species: true });
    const objects = new InMemoryDataObjects({ chunkBytes: 16 * 1024 });
    const file = objects.set({ bucket: BUCKET, key: 'iris-100k.csv' }, bytes);
    const chunksAtFirstSplit: number[] = [];

    // Act
    const splits: Split[] = [];
    const summary = await planSplits(objects, { files: [file], format: 'csv', rowsPerBatch: 1000 }, (split) => {
      if (splits.length === 0) chunksAtFirstSplit.push(objects.streams[0]?.yielded ?? 0);
      splits.push(split);
    });
    const rangesBefore = objects.ranges.length;
    let read = 0;
    let mismatches = 0;
    for (const split of splits) {
      for (const entry of await readSplit(objects, split, 'csv', summary.columns)) {
        const iris = irisRow(entry.row);
        const record = entry.record as Record<string, string>;
        if (entry.row !== read || record['species'] !== iris.species || IRIS_FEATURES.some((f) => record[f] !== iris.text[f]))
          mismatches += 1;
        read += 1;
      }
    }

    // Assess
    const stream = objects.streams[0];
    expect(summary).toStrictEqual({ rows, splitCount: 100, splitsPerBatch: 1, columns: [...IRIS_FEATURES, 'species'] });
    expect(objects.streams).toHaveLength(1);
    expect(stream?.chunks).toBeGreaterThan(100);
    expect(stream?.finished).toBe(true);
    // The first split was written when only a few chunks had been read: the file was never held whole.
    expect(chunksAtFirstSplit[0]).toBeLessThan(5);
    const reads = objects.ranges.slice(rangesBefore);
    expect(reads).toHaveLength(100);
    for (const [i, range] of reads.entries()) expect(range.end - range.start).toBe((splits[i]?.end ?? 0) - (splits[i]?.start ?? 0) + 1);
    expect(read).toBe(rows);
    expect(mismatches).toBe(0);
  }, 60_000);
});

describe('the batch-data fixture', () => {
  it.each<[BatchFormat, Corruption[]]>([
    ['csv', [...CORRUPTIONS]],
    ['jsonl', [...CORRUPTIONS]],
    ['parquet', ['nan', 'missing-field']],
  ])('%s: clean rows read back as iris rows, corrupted rows as the fixture says', async (format, kinds) => {
    // Prepare: each corruption twice, the malformed ones apart and next to each other.
    const corrupt = new Map<number, Corruption>();
    kinds.forEach((kind, k) => {
      corrupt.set(10 + k * 7, kind);
      corrupt.set(200 + k, kind);
    });
    const data = irisBatch({ rows: 300, format, corrupt, rowGroupSize: 64 });

    // Act
    const { planned, entries } = await roundTrip(data.bytes, format, 50);

    // Assess
    expect(planned.summary.rows).toBe(300);
    const byReader = new Set(['INVALID_CSV', 'CSV_FIELD_COUNT', 'INVALID_JSON']);
    for (const entry of entries) {
      const corruption = data.corrupted.find((c) => c.row === entry.row);
      if (corruption && byReader.has(corruption.code)) {
        expect([entry.row, entry.error?.code]).toStrictEqual([corruption.row, corruption.code]);
        continue;
      }
      expect(entry.error).toBeUndefined();
      const record = entry.record as Record<string, unknown>;
      const iris = irisRow(entry.row);
      const value = (f: (typeof IRIS_FEATURES)[number]): unknown => (format === 'csv' ? iris.text[f] : iris.values[f]);
      const expected: Record<string, unknown> = Object.fromEntries(IRIS_FEATURES.map((f) => [f, value(f)]));
      if (corruption?.kind === 'wrong-type') expected['sepal_length_cm'] = 'abc';
      if (corruption?.kind === 'nan') expected['petal_width_cm'] = format === 'csv' ? 'NaN' : format === 'jsonl' ? Infinity : Number.NaN;
      if (corruption?.kind === 'missing-field') {
        if (format === 'parquet') expected['petal_width_cm'] = null;
        else delete expected['petal_width_cm'];
      }
      expect(record).toStrictEqual(expected);
    }
  });

  it('refuses corruptions Parquet cannot hold, and rows out of range', () => {
    // Act, Assess
    expect(() => irisBatch({ rows: 10, format: 'parquet', corrupt: { 3: 'malformed' } })).toThrow(RangeError);
    expect(() => irisBatch({ rows: 10, format: 'csv', corrupt: { 10: 'nan' } })).toThrow(RangeError);
  });
});

it('never throws a plain Error for anything the input holds', async () => {
  // Prepare: every error above is an AppError; this checks the types of the thrown values themselves.
  const objects = new InMemoryDataObjects();
  const file = objects.set({ bucket: BUCKET, key: 'x.parquet' }, 'PAR1 not really');

  // Act
  const error = await inspectInput(objects, [file], 'parquet').catch((e: unknown) => e);

  // Assess
  expect(error).toBeInstanceOf(AppError);
});
