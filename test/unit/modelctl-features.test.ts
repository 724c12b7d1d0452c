/**
 * `modelctl features load`'s rules that the embedded DynamoDB cannot provoke or that are cheaper
 * to walk here: numbers as DynamoDB bounds them, timestamps to UTC, item sizes, and the
 * BatchWriteItem loop's retries of unprocessed items (a client that leaves items unprocessed, as
 * a throttled table does; dynalite never does).
 */
import type { BatchWriteItemCommand, WriteRequest } from '@aws-sdk/client-dynamodb';
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS, type BatchWriter, MAX_SENDS_WITHOUT_PROGRESS, putBatch } from '../../bin/modelctl/features.js';
import { type Item, cellValue, csvRecords, itemBytes, readNumber, utcTimestamp } from '../../bin/modelctl/feature-rows.js';

describe('cells', () => {
  it.each([
    ['0', { N: '0' }],
    ['-0.5e-3', { N: '-0.5e-3' }],
    ['12345678901234567890123456789012345678', { N: '12345678901234567890123456789012345678' }],
    ['1000000000000000000000000000000000000000000', { N: '1000000000000000000000000000000000000000000' }],
    ['9.9999999999999999999999999999999999999E+125', { N: '9.9999999999999999999999999999999999999E+125' }],
    ['1e-130', { N: '1e-130' }],
    ['true', { BOOL: true }],
    ['false', { BOOL: false }],
    ['True', { BOOL: true }],
    ['False', { BOOL: false }],
    ['TRUE', { S: 'TRUE' }],
    ['007', { S: '007' }],
    ['+1', { S: '+1' }],
    ['.5', { S: '.5' }],
    ['1.', { S: '1.' }],
    ['0x10', { S: '0x10' }],
    ['Infinity', { S: 'Infinity' }],
    [' 1', { S: ' 1' }],
    ['', undefined],
  ])('%j is %j', (cell, value) => {
    expect(cellValue(cell, () => 'here')).toEqual(value);
  });

  it.each([
    [
      '123456789012345678901234567890123456789',
      'here is "123456789012345678901234567890123456789", a number that has 39 significant digits',
    ],
    ['1e126', 'here is "1e126", a number that is larger than DynamoDB stores'],
    ['1e-131', 'here is "1e-131", a number that is closer to 0 than DynamoDB stores'],
    ['1e99999999999999999999999', 'larger than DynamoDB stores'],
  ])('refuses %s', (cell, message) => {
    expect(() => cellValue(cell, () => 'here')).toThrow(message);
  });

  it('reads numbers to the form DynamoDB compares keys by', () => {
    expect(['1', '1.0', '10e-1', '0.1e1', '1.000e0'].map((text) => readNumber(text)?.canonical)).toEqual([
      '1e0',
      '1e0',
      '1e0',
      '1e0',
      '1e0',
    ]);
    expect(['0', '-0', '0.000', '0e5'].map((text) => readNumber(text)?.canonical)).toEqual(['0', '0', '0', '0']);
    expect(readNumber('-1500')?.canonical).toBe('-15e2');
    expect(readNumber('abc')).toBeUndefined();
  });
});

describe('timestamps', () => {
  it.each([
    ['2026-11-30T12:00:00Z', '2026-11-30T12:00:00.000Z'],
    ['2026-11-30t12:00z', '2026-11-30T12:00:00.000Z'],
    ['2026-11-30 13:00:00+01:00', '2026-11-30T12:00:00.000Z'],
    ['2026-11-30T06:30:00.5-0530', '2026-11-30T12:00:00.500Z'],
    ['2026-11-30T12:00:00.123999+00', '2026-11-30T12:00:00.123Z'],
    ['2026-01-01T00:30:00+01:00', '2025-12-31T23:30:00.000Z'],
    ['2028-02-29T00:00:00Z', '2028-02-29T00:00:00.000Z'],
  ])('%s is %s', (text, utc) => {
    expect(utcTimestamp(text)).toEqual({ ok: true, value: utc });
  });

  it.each([
    ['2026-11-30', 'is not an ISO-8601 date-time'],
    ['2026-11-30T12:00:00', 'has no UTC offset'],
    ['2027-02-29T00:00:00Z', 'is not a date-time that exists'],
    ['2026-11-30T24:00:00Z', 'is not a date-time that exists'],
    ['2026-11-30T12:00:60Z', 'is not a date-time that exists'],
    ['2026-11-30T12:00:00+25:00', 'has an offset that is none'],
    ['1764504000', 'is not an ISO-8601 date-time'],
  ])('%s %s', (text, problem) => {
    const read = utcTimestamp(text);
    expect(read.ok).toBe(false);
    expect(read.ok ? '' : read.problem).toContain(problem);
  });
});

it('sizes an item as DynamoDB does: names, UTF-8 text, a byte per two digits plus one, a byte per boolean', () => {
  const item: Item = { id: { S: 'é' }, n: { N: '-123.4500' }, b: { BOOL: true } };
  // id: 2 + 2 bytes; n: 1 + (5 significant digits: 3 + 1); b: 1 + 1.
  expect(itemBytes(item)).toBe(4 + 5 + 2);
});

describe('putBatch', () => {
  const items: Item[] = Array.from({ length: 25 }, (_, i) => ({ id: { S: `k${i}` } }));

  /** A client that leaves the first `left[i]` requests of its i-th call unprocessed; the requests it was sent. */
  function throttled(left: readonly number[]): BatchWriter & { sent: WriteRequest[][] } {
    const sent: WriteRequest[][] = [];
    return {
      sent,
      async send(command: BatchWriteItemCommand) {
        const requests = command.input.RequestItems?.['features'] ?? [];
        const keep = left[sent.length] ?? 0;
        sent.push(requests);
        return keep === 0 ? {} : { UnprocessedItems: { features: requests.slice(0, keep) } };
      },
    };
  }

  it('sends the unprocessed items again, after waits that double up to a cap', async () => {
    // Prepare
    const client = throttled([20, 20, 20, 20, 20, 20, 20, 20, 5]);
    const waits: number[] = [];

    // Act
    await putBatch(client, 'features', items, async (ms) => void waits.push(ms));

    // Assess
    expect(client.sent.map((requests) => requests.length)).toEqual([25, 20, 20, 20, 20, 20, 20, 20, 20, 5]);
    expect(client.sent[1]).toEqual(client.sent[0]?.slice(0, 20));
    expect(waits).toHaveLength(9);
    waits.forEach((ms, attempt) => {
      const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
      expect(ms).toBeGreaterThanOrEqual(ceiling / 2);
      expect(ms).toBeLessThanOrEqual(ceiling);
    });
    expect(Math.max(...waits)).toBeLessThanOrEqual(BACKOFF_CAP_MS);
  });

  it(`gives up after ${MAX_SENDS_WITHOUT_PROGRESS} sends in a row that write none of them`, async () => {
    // Prepare
    const client = throttled(Array.from({ length: 100 }, () => 25));

    // Act
    const put = putBatch(client, 'features', items, async () => undefined);

    // Assess
    await expect(put).rejects.toThrow(`DynamoDB left 25 items unprocessed ${MAX_SENDS_WITHOUT_PROGRESS} times in a row`);
    expect(client.sent).toHaveLength(MAX_SENDS_WITHOUT_PROGRESS);
  });
});

describe('the CSV must be UTF-8: bytes that are not are refused, never replaced', () => {
  /** The records of `chunks`, or the refusal's message. */
  async function read(...chunks: number[][]): Promise<string[][] | string> {
    async function* source(): AsyncGenerator<Uint8Array> {
      for (const chunk of chunks) yield Uint8Array.from(chunk);
    }
    try {
      const out: string[][] = [];
      for await (const record of csvRecords('keys.csv', source())) out.push([...record.cells]);
      return out;
    } catch (error) {
      return (error as Error).message;
    }
  }
  const text = (t: string) => [...Buffer.from(t, 'utf8')];

  it.each([
    ['Latin-1 é in a key (two such keys would become one item)', [[...text('id,x\nk'), 0xe9, ...text(',1\n')]], 'byte 0xE9 on line 2'],
    ['a stray continuation byte', [[...text('id,x\na,1\nb,'), 0x80, ...text('z\n')]], 'byte 0x80 on line 3'],
    ['a sequence cut by a line break', [[...text('id,x\na,'), 0xc3, ...text('\n')]], 'byte 0xC3 on line 2'],
    ['a file that ends inside a character', [[...text('id,x\na,'), 0xe2, 0x82]], 'ends inside a character'],
  ])('%s', async (_what, chunks, where) => {
    const message = await read(...chunks);
    expect(typeof message).toBe('string');
    expect(message).toContain('keys.csv is not UTF-8');
    expect(message).toContain(where);
  });

  it('refuses UTF-16 big-endian (the parser would misread it) and UTF-16 little-endian with an unpaired surrogate', async () => {
    const big = Buffer.from('id,x\ncafé,1\ncafè,2\n', 'utf16le').swap16();
    expect(await read([0xfe, 0xff, ...big])).toContain('keys.csv is UTF-16 big-endian, which is not read here');
    const lone = [0xff, 0xfe, ...Buffer.from('id,x\na', 'utf16le'), 0x00, 0xd8, ...Buffer.from(',1\n', 'utf16le')];
    expect(await read(lone)).toContain('keys.csv is not valid UTF-16: an unpaired surrogate on line 2');
  });

  it('takes UTF-8 split anywhere between chunks, with or without a byte order mark, and UTF-16 with its mark', async () => {
    const bytes = text('id,x\n€uro,1\n');
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(await read(bytes.slice(0, cut), bytes.slice(cut))).toEqual([
        ['id', 'x'],
        ['€uro', '1'],
      ]);
    }
    expect(await read([0xef, 0xbb, 0xbf, ...bytes])).toEqual([
      ['id', 'x'],
      ['€uro', '1'],
    ]);
    expect(await read([0xff, 0xfe, ...Buffer.from('id,x\na,1\n', 'utf16le')])).toEqual([
      ['id', 'x'],
      ['a', '1'],
    ]);
  });
});

describe('modelctl register and versions show what a version reads by key and caches', () => {
  it('names each group (features, table, layout, entity) and the cache', async () => {
    const { versionLines } = await import('../../bin/modelctl/models.js');
    const text = versionLines(
      {
        model: 'churn',
        version: '4',
        stage: 'development',
        revision: 1,
        metadata: {
          features: ['age', 'spend', 'visits'],
          onlineFeatures: [
            {
              entity: 'customer_id',
              entityType: 'string',
              source: { layout: 'feast', table: 'shop.customer_stats', entityKeySerializationVersion: 3 },
              features: ['spend', 'visits'],
              onMissingEntity: 'refuse',
              onMissingFeature: 'refuse',
              onStale: 'refuse',
            },
          ],
          predictionCache: { maxEntries: 500, ttlSeconds: 60 },
        },
        artifact: { bucket: 'b', key: 'k', sha256: 'ab'.repeat(32), sizeBytes: 1234 },
        signature: {
          inputs: [{ name: 'x', type: 'float32', shape: ['N', 3] }],
          outputs: [{ name: 'y', type: 'float32', shape: ['N', 1] }],
        },
        registeredBy: 'alice',
        registeredAt: '2026-12-01T00:00:00.000Z',
      },
      'Registered churn version 4.',
    );
    expect(text).toMatch(/by key +spend, visits from shop\.customer_stats \(feast\) by customer_id/);
    expect(text).toMatch(/cache +500 answers per sandbox, 60 s each/);
  });

  it('the versions table counts the features read by key', async () => {
    const { versionsTable } = await import('../../bin/modelctl/models.js');
    const base = {
      model: 'churn',
      stage: 'development' as const,
      revision: 1,
      artifact: { bucket: 'b', key: 'k', sha256: 'ab'.repeat(32), sizeBytes: 1 },
      signature: { inputs: [], outputs: [] },
      registeredBy: 'alice',
      registeredAt: '2026-12-01T00:00:00.000Z',
    };
    const group = {
      entity: 'customer_id',
      entityType: 'string' as const,
      source: { layout: 'plain' as const, table: 'customers' },
      features: ['spend', 'visits'],
      onMissingEntity: 'refuse' as const,
      onMissingFeature: 'refuse' as const,
      onStale: 'refuse' as const,
    };
    const text = versionsTable([
      { ...base, version: '1', metadata: { features: ['age', 'spend', 'visits'] } },
      { ...base, version: '2', metadata: { features: ['age', 'spend', 'visits'], onlineFeatures: [group] } },
    ]);
    const rows = text
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((line) => line.split(/ {2,}/)[6]);
    expect(rows).toEqual(['3', '3 (2 by key)']);
  });
});
