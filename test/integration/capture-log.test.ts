/**
 * Delivery of captured requests (`functions/adapters/capture-log.ts`): the queue groups records by
 * partition and writes one JSON Lines object per partition to the embedded S3 server; a bucket it
 * cannot reach, or a full queue, sends records to the fallback log line with its metric, never
 * dropping one; the Firehose delivery (only mocked: there is no local Firehose) chunks
 * PutRecordBatch calls at 500 records and 4 MiB, puts again what a call reports failed, and hands
 * what never went in to the fallback.
 */
import { FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { GetObjectCommand, ListObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { BufferedCaptureLog, FirehoseCaptureDelivery, S3CaptureDelivery, type CaptureBatch } from '../../functions/adapters/capture-log.js';
import { createMetrics } from '../../functions/adapters/emf-metrics.js';
import { ensureBucket, localClients, startLocalAws, type LocalAws, type LocalClients } from '../../local/aws-servers.js';
import { captureOutput, jsonLines } from '../fixtures/output.js';

const BUCKET = 'capture-test';
let aws: LocalAws;
let clients: LocalClients;

beforeAll(async () => {
  aws = await startLocalAws();
  clients = localClients(aws);
  await ensureBucket(clients.s3, BUCKET);
  // Starting the local DynamoDB and S3 servers: the guard against a hang, not a speed limit.
}, 30_000);

afterAll(async () => {
  clients.destroy();
  await aws.stop();
});

const line = (id: string) => JSON.stringify({ captureVersion: 1, requestId: id });
const pending = (id: string, model: string, modelVersion: string, timestamp: string) => ({
  model,
  modelVersion,
  timestamp,
  build: () => line(id),
});

describe('BufferedCaptureLog over S3', () => {
  it('writes one JSON Lines object per model, version and date, every record in it', async () => {
    // Prepare
    const log = new BufferedCaptureLog({ delivery: new S3CaptureDelivery({ client: clients.s3, bucket: BUCKET }), flushDelayMs: 60_000 });

    // Act
    log.write(pending('a', 'm1', '1', '2026-11-30T23:59:59.999Z'));
    log.write(pending('b', 'm1', '1', '2026-11-30T10:00:00.000Z'));
    log.write(pending('c', 'm1', '1', '2026-12-01T00:00:00.000Z'));
    log.write(pending('d', 'm1', '2', '2026-11-30T10:00:00.000Z'));
    log.write(pending('e', 'm2', '1', '2026-11-30T10:00:00.000Z'));
    expect(log.pending()).toBe(5);
    await log.flush();

    // Assess
    expect(log.pending()).toBe(0);
    const listed = await clients.s3.send(new ListObjectsCommand({ Bucket: BUCKET, Prefix: 'capture/' }));
    const byPartition = new Map<string, string>();
    for (const object of listed.Contents ?? []) {
      const key = object.Key ?? '';
      const text = await (await clients.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToString();
      byPartition.set(key.slice(0, key.lastIndexOf('/') + 1), text ?? '');
    }
    expect(Object.fromEntries(byPartition)).toEqual({
      'capture/model=m1/version=1/date=2026-11-30/': `${line('a')}\n${line('b')}\n`,
      'capture/model=m1/version=1/date=2026-12-01/': `${line('c')}\n`,
      'capture/model=m1/version=2/date=2026-11-30/': `${line('d')}\n`,
      'capture/model=m2/version=1/date=2026-11-30/': `${line('e')}\n`,
    });
  });

  it('builds a record only once its settings are known, and leaves out one they no longer capture', async () => {
    // Prepare: two records whose settings are being re-read
    const delivered: CaptureBatch[] = [];
    const log = new BufferedCaptureLog({ delivery: { deliver: async (batch) => void delivered.push(batch) }, flushDelayMs: 60_000 });
    let settle: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => {
      settle = resolve;
    });
    let capturing: boolean | undefined;
    log.write({
      model: 'm',
      modelVersion: '1',
      timestamp: '2026-11-30T00:00:00.000Z',
      ready,
      build: () => (capturing ? line('kept') : undefined),
    });
    log.write({
      model: 'm',
      modelVersion: '1',
      timestamp: '2026-11-30T00:00:00.000Z',
      ready,
      build: () => (capturing === undefined ? line('too early') : undefined),
    });

    // Act: the flush waits for the settings
    const flushed = log.flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(delivered).toEqual([]);
    capturing = true;
    settle();
    await flushed;

    // Assess
    expect(delivered).toEqual([{ model: 'm', modelVersion: '1', date: '2026-11-30', lines: [line('kept')] }]);
    expect(log.pending()).toBe(0);
  });

  it('delivers on its own after flushDelayMs', async () => {
    const delivered: CaptureBatch[] = [];
    const log = new BufferedCaptureLog({ delivery: { deliver: async (batch) => void delivered.push(batch) }, flushDelayMs: 20 });
    log.write(pending('x', 'm', '1', '2026-11-30T00:00:00.000Z'));
    for (let i = 0; i < 100 && delivered.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(delivered).toEqual([{ model: 'm', modelVersion: '1', date: '2026-11-30', lines: [line('x')] }]);
  });

  it('logs every record it cannot deliver, whole, with a CaptureFallback metric', async () => {
    // Prepare: an S3 endpoint nothing listens on
    const unreachable = new S3Client({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      forcePathStyle: true,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      maxAttempts: 1,
    });
    const log = new BufferedCaptureLog({
      delivery: new S3CaptureDelivery({ client: unreachable, bucket: BUCKET }),
      metrics: createMetrics('OnnxServing'),
    });

    // Act
    log.write(pending('lost-1', 'm', '1', '2026-11-30T00:00:00.000Z'));
    log.write(pending('lost-2', 'm', '1', '2026-11-30T00:00:00.000Z'));
    const printed = await captureOutput(() => log.flush());

    // Assess
    const lines = jsonLines(printed);
    const fallen = lines.filter((l) => l['message'] === 'capture record not delivered');
    expect(fallen.map((l) => l['record'])).toEqual([line('lost-1'), line('lost-2')]);
    expect(fallen[0]).toMatchObject({
      level: 'ERROR',
      model: 'm',
      modelVersion: '1',
      date: '2026-11-30',
      error: expect.stringContaining('could not write'),
    });
    expect(lines.find((l) => '_aws' in l)).toMatchObject({ Model: 'm', CaptureFallback: 2 });
    unreachable.destroy();
  });

  it('sends a record past its queue bound straight to the fallback', async () => {
    const fallen: string[] = [];
    const log = new BufferedCaptureLog({
      delivery: { deliver: async () => undefined },
      maxQueued: 2,
      flushDelayMs: 60_000,
      fallback: (_batch, lines) => void fallen.push(...lines),
    });
    for (const id of ['1', '2', '3']) log.write(pending(id, 'm', '1', '2026-11-30T00:00:00.000Z'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(fallen).toEqual([line('3')]);
    expect(log.pending()).toBe(2);
    await log.flush();
  });
});

describe('FirehoseCaptureDelivery', () => {
  const firehose = mockClient(FirehoseClient);
  afterEach(() => firehose.reset());

  const delivery = () =>
    new FirehoseCaptureDelivery({ client: async () => new FirehoseClient({ region: 'us-east-1' }), streamName: 'onnx-capture' });
  const batch = (lines: string[]): CaptureBatch => ({ model: 'm', modelVersion: '1', date: '2026-11-30', lines });

  it('puts every record with its line break, at most 500 records and 4 MiB per call', async () => {
    firehose.on(PutRecordBatchCommand).callsFake((input: { Records: unknown[] }) => ({
      FailedPutCount: 0,
      RequestResponses: input.Records.map(() => ({ RecordId: 'r' })),
    }));
    const small = Array.from({ length: 1_234 }, (_, i) => line(`s${i}`));
    const large = Array.from({ length: 9 }, (_, i) => `${'x'.repeat(1_000_000)}${i}`);

    await delivery().deliver(batch(small));
    await delivery().deliver(batch(large));

    const calls = firehose.commandCalls(PutRecordBatchCommand).map((c) => c.args[0].input);
    const sizes = calls.map((input) => input.Records?.length);
    expect(sizes).toEqual([500, 500, 234, 4, 4, 1]);
    for (const input of calls) {
      expect(input.DeliveryStreamName).toBe('onnx-capture');
      const bytes = (input.Records ?? []).reduce((n, r) => n + (r.Data?.byteLength ?? 0), 0);
      expect(bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    }
    const sent = calls.flatMap((input) => (input.Records ?? []).map((r) => Buffer.from(r.Data ?? new Uint8Array()).toString('utf8')));
    expect(sent).toEqual([...small, ...large].map((l) => `${l}\n`));
  });

  it('puts again the records a call reports failed, and hands what never went in to the fallback', async () => {
    // The first call fails records 1 and 3; the second fails record 3 again; the third fails it once more.
    let call = 0;
    firehose.on(PutRecordBatchCommand).callsFake((input: { Records: { Data: Uint8Array }[] }) => {
      call++;
      const failing = (data: Uint8Array) => {
        const text = Buffer.from(data).toString('utf8');
        return text.includes('"r3"') || (call === 1 && text.includes('"r1"'));
      };
      const responses = input.Records.map((r) =>
        failing(r.Data) ? { ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'slow down' } : { RecordId: 'ok' },
      );
      return { FailedPutCount: responses.filter((r) => 'ErrorCode' in r).length, RequestResponses: responses };
    });
    const lines = ['r0', 'r1', 'r2', 'r3'].map(line);

    const outcome = await delivery()
      .deliver(batch(lines))
      .then(
        () => undefined,
        (error: unknown) => error,
      );

    expect(outcome).toMatchObject({ name: 'UndeliveredError', lines: [line('r3')] });
    const attempts = firehose.commandCalls(PutRecordBatchCommand).map((c) =>
      (c.args[0].input.Records ?? []).map((r) =>
        Buffer.from(r.Data ?? new Uint8Array())
          .toString('utf8')
          .trim(),
      ),
    );
    expect(attempts).toEqual([lines, [line('r1'), line('r3')], [line('r3')]]);
  });

  it('hands a whole chunk to the fallback when its call fails', async () => {
    firehose.on(PutRecordBatchCommand).rejects(new Error('ResourceNotFoundException: no such stream'));
    const fallen: string[] = [];
    const log = new BufferedCaptureLog({ delivery: delivery(), fallback: (_b, lines) => void fallen.push(...lines) });
    log.write(pending('f1', 'm', '1', '2026-11-30T00:00:00.000Z'));
    log.write(pending('f2', 'm', '1', '2026-11-30T00:00:00.000Z'));
    await log.flush();
    expect(fallen).toEqual([line('f1'), line('f2')]);
  });
});
