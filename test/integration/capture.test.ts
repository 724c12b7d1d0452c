/**
 * Data capture on the local stack (`functions/core/capture.ts`, `functions/adapters/capture-log.ts`,
 * `functions/adapters/s3-capture.ts`): turned on per model through the control plane, applied by
 * the endpoint to the v1 and v2 forms, redacted before anything leaves the function, delivered to
 * the embedded S3 as JSON Lines under `capture/model=/version=/date=/`, read back by the reader.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectsCommand } from '@aws-sdk/client-s3';
import { S3CaptureReader } from '../../functions/adapters/s3-capture.js';
import { DEFAULT_CAPTURE_RETENTION_DAYS, LOCAL_CAPTURE_BUCKET } from '../../local/stack.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { expireObjects } from '../../local/payload-expiry.js';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { call, errorOf } from '../fixtures/http.js';

const FEATURES = ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'] as const;

describe('data capture on the local stack', () => {
  let stack: TestStack;
  let reader: S3CaptureReader;

  beforeAll(async () => {
    // Settings are read with the production pointer and trusted for POINTER_CACHE_MS; 200 ms keeps the test short.
    stack = await startTestStack({ auth: 'insecure', rateLimit: false, env: { POINTER_CACHE_MS: '200' } });
    reader = new S3CaptureReader({ client: stack.clients.s3, bucket: LOCAL_CAPTURE_BUCKET });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('is off until turned on, and refuses settings that would not do what they say', async () => {
    expect((await call(stack.url, 'GET', '/v1/models/iris/capture')).body).toEqual({ model: 'iris', enabled: false });

    const cases: [unknown, string, string][] = [
      [{ samplePercent: 0 }, 'VALIDATION_ERROR', 'samplePercent'],
      [{ samplePercent: 101 }, 'VALIDATION_ERROR', 'samplePercent'],
      // Below what DynamoDB stores (1e-130) and what captures anything: a clear 400, not a 500.
      [{ samplePercent: 1e-300 }, 'VALIDATION_ERROR', 'samplePercent'],
      [{ samplePercent: 50, drop: ['sepal_width_cm', 'sepal_width_cm'] }, 'VALIDATION_ERROR', 'drop[1]'],
      [{ samplePercent: 50, drop: ['sepal_widht_cm'] }, 'UNKNOWN_FEATURE', 'drop[0]'],
      [{ samplePercent: 50, hash: ['petal_width_cm', 'nope'] }, 'UNKNOWN_FEATURE', 'hash[1]'],
      [{ samplePercent: 50, drop: ['petal_width_cm'], hash: ['petal_width_cm'] }, 'CONFLICTING_FIELDS', 'hash[0]'],
      [{ samplePercent: 50, maxRecordBytes: 10 }, 'VALIDATION_ERROR', 'maxRecordBytes'],
      [{ samplePercent: 50, everything: true }, 'VALIDATION_ERROR', ''],
    ];
    for (const [body, code, path] of cases) {
      const reply = await call(stack.url, 'PUT', '/v1/models/iris/capture', body);
      expect({ body, status: reply.status }).toEqual({ body, status: 400 });
      const error = errorOf(reply);
      expect({ body, code: error.code === code || (code === 'VALIDATION_ERROR' && error.code !== 'UNKNOWN_FEATURE') }).toEqual({
        body,
        code: true,
      });
      if (path) expect(error.path).toBe(path);
    }
    expect((await call(stack.url, 'PUT', '/v1/models/nobody/capture', { samplePercent: 5 })).status).toBe(404);
    expect((await call(stack.url, 'GET', '/v1/models/iris/capture')).body).toEqual({ model: 'iris', enabled: false });
  });

  it('captures v1 and v2 requests with redaction applied, partitioned by model, version and date', async () => {
    // Prepare
    const put = await call(stack.url, 'PUT', '/v1/models/iris/capture', {
      samplePercent: 100,
      drop: ['sepal_width_cm'],
      hash: ['petal_width_cm'],
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      model: 'iris',
      enabled: true,
      samplePercent: 100,
      drop: ['sepal_width_cm'],
      hash: ['petal_width_cm'],
      maxRecordBytes: 65536,
    });
    // The endpoint trusts the settings it read for POINTER_CACHE_MS (the stack read them when it started).
    await new Promise((resolve) => setTimeout(resolve, stack.config.POINTER_CACHE_MS + 50));
    await call(stack.url, 'GET', '/v2/models/iris/ready');
    const from = new Date().toISOString();
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3],
    ];

    // Act
    const v1 = await call(stack.url, 'POST', '/v1/models/iris/predict', {
      instances: rows.map((r) => Object.fromEntries(FEATURES.map((f, j) => [f, r[j]]))),
    });
    const v2 = await call(stack.url, 'POST', '/v2/models/iris/infer', {
      inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 4], data: rows[1] }],
    });
    await stack.prediction.flush();

    // Assess
    expect([v1.status, v2.status]).toEqual([200, 200]);
    const { records, invalid, capped } = await reader.read({
      model: 'iris',
      versions: ['1'],
      from,
      to: new Date(Date.now() + 1000).toISOString(),
      maxRecords: 100,
    });
    expect({ invalid, capped, count: records.length }).toEqual({ invalid: 0, capped: false, count: 2 });
    const ids = [(v1.body as { requestId: string }).requestId, (v2.body as { parameters: { request_id: string } }).parameters.request_id];
    expect(records.map((r) => r.requestId).sort()).toEqual([...ids].sort());
    const first = records.find((r) => r.requestId === ids[0]);
    const hash = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
    expect(first).toMatchObject({
      captureVersion: 1,
      model: 'iris',
      modelVersion: '1',
      functionVersion: '$LATEST',
      rows: 2,
      capturedRows: 2,
      truncated: false,
      features: { sepal_length_cm: [5.1, 6.7], petal_length_cm: [1.4, 5.2], petal_width_cm: [hash('0.2'), hash('2.3')] },
      redaction: { dropped: ['sepal_width_cm'], hashed: ['petal_width_cm'] },
    });
    expect(Object.keys(first?.features ?? {})).not.toContain('sepal_width_cm');
    expect(first?.outputs['probabilities']).toMatchObject({ datatype: 'FP32', shape: [2, 3] });
    // The stored probabilities are the ones answered.
    const answered = (v1.body as { predictions: { probabilities: Record<string, number> }[] }).predictions.flatMap((p) =>
      Object.values(p.probabilities),
    );
    expect(first?.outputs['probabilities']?.data).toEqual(answered);
    // Nothing dropped ever reaches the bucket, in any object.
    const listed = await stack.clients.s3.send(new ListObjectsCommand({ Bucket: LOCAL_CAPTURE_BUCKET, Prefix: 'capture/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key ?? '');
    const date = from.slice(0, 10);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatch(new RegExp(`^capture/model=iris/version=1/date=${date}/[0-9TZ]+-[0-9a-f-]{36}\\.jsonl$`));
      const text = await (
        await stack.clients.s3.send(new GetObjectCommand({ Bucket: LOCAL_CAPTURE_BUCKET, Key: key }))
      ).Body?.transformToString();
      for (const line of (text ?? '').trim().split('\n')) {
        const features = (JSON.parse(line) as { features: Record<string, unknown[]> }).features;
        expect(Object.keys(features)).toEqual(['sepal_length_cm', 'petal_length_cm', 'petal_width_cm']);
        expect(JSON.stringify(features)).not.toMatch(/\b(3\.5|3)\b|0\.2\b|2\.3\b/);
      }
    }
  }, 60_000);

  it('captures the share asked for, and nothing once turned off', async () => {
    // Prepare
    expect((await call(stack.url, 'PUT', '/v1/models/iris/capture', { samplePercent: 30 })).status).toBe(200);
    // The endpoint trusts the settings it read for POINTER_CACHE_MS; this stack's service reads them again now.
    await new Promise((resolve) => setTimeout(resolve, stack.config.POINTER_CACHE_MS + 50));
    await call(stack.url, 'POST', '/v1/models/iris/predict', {
      features: { sepal_length_cm: 5, sepal_width_cm: 3, petal_length_cm: 1, petal_width_cm: 0.2 },
    });
    const from = new Date().toISOString();

    // Act
    const n = 400;
    for (let i = 0; i < n; i++) {
      const reply = await call(stack.url, 'POST', '/v1/models/iris/predict', {
        features: { sepal_length_cm: 5, sepal_width_cm: 3, petal_length_cm: 1, petal_width_cm: 0.2 },
      });
      expect(reply.status).toBe(200);
    }
    await stack.prediction.flush();
    const off = await call(stack.url, 'DELETE', '/v1/models/iris/capture');
    // The first request after POINTER_CACHE_MS starts the re-read; the next ones see its result.
    await new Promise((resolve) => setTimeout(resolve, stack.config.POINTER_CACHE_MS + 50));
    await call(stack.url, 'POST', '/v1/models/iris/predict', {
      features: { sepal_length_cm: 5, sepal_width_cm: 3, petal_length_cm: 1, petal_width_cm: 0.2 },
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const offFrom = new Date().toISOString();
    for (let i = 0; i < 20; i++)
      await call(stack.url, 'POST', '/v1/models/iris/predict', {
        features: { sepal_length_cm: 5, sepal_width_cm: 3, petal_length_cm: 1, petal_width_cm: 0.2 },
      });
    await stack.prediction.flush();

    // Assess: within a 99.9% binomial bound of 30% (±3.29 σ)
    const captured = (await reader.read({ model: 'iris', versions: ['1'], from, to: offFrom, maxRecords: 10_000 })).records.length;
    const sigma = Math.sqrt(n * 0.3 * 0.7);
    expect(Math.abs(captured - n * 0.3)).toBeLessThanOrEqual(3.29 * sigma);
    expect(off.body).toEqual({ model: 'iris', enabled: false });
    expect(
      (await reader.read({ model: 'iris', versions: ['1'], from: offFrom, to: new Date(Date.now() + 1000).toISOString(), maxRecords: 100 }))
        .records,
    ).toEqual([]);
  }, 120_000);

  it("expires captured requests and replays as the capture bucket's lifecycle rule does, and nothing else", async () => {
    // Prepare: objects under capture/, replays/ and drift/ written now
    const keys = ['capture/model=x/version=1/date=2026-01-01/a.jsonl', 'replays/x/job-1/replay.json', 'drift/x/latest.json'];
    for (const key of keys) await stack.clients.s3.send(new PutObjectCommand({ Bucket: LOCAL_CAPTURE_BUCKET, Key: key, Body: '{}' }));
    const exists = (key: string) =>
      stack.clients.s3.send(new GetObjectCommand({ Bucket: LOCAL_CAPTURE_BUCKET, Key: key })).then(
        () => true,
        () => false,
      );
    const day = 86_400_000;

    // Act / Assess: within the retention nothing goes; past it, capture/ and replays/ only (as the stack does at start)
    for (const prefix of ['capture/x-none/', 'replays/'])
      expect(
        await expireObjects(
          stack.clients.s3,
          LOCAL_CAPTURE_BUCKET,
          DEFAULT_CAPTURE_RETENTION_DAYS,
          Date.now() + (DEFAULT_CAPTURE_RETENTION_DAYS - 1) * day,
          prefix,
        ),
      ).toBe(0);
    const later = Date.now() + (DEFAULT_CAPTURE_RETENTION_DAYS + 1) * day;
    expect(await expireObjects(stack.clients.s3, LOCAL_CAPTURE_BUCKET, DEFAULT_CAPTURE_RETENTION_DAYS, later, 'capture/model=x/')).toBe(1);
    expect(await expireObjects(stack.clients.s3, LOCAL_CAPTURE_BUCKET, DEFAULT_CAPTURE_RETENTION_DAYS, later, 'replays/')).toBe(1);
    expect(await Promise.all(keys.map(exists))).toEqual([false, false, true]);
  });

  it('applies a change to the first request after POINTER_CACHE_MS, not one later', async () => {
    // Prepare: capture on, and the endpoint's settings read
    expect((await call(stack.url, 'PUT', '/v1/models/iris/capture', { samplePercent: 100 })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, stack.config.POINTER_CACHE_MS + 50));
    await call(stack.url, 'GET', '/v2/models/iris/ready');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await call(stack.url, 'GET', '/v2/models/iris/ready');
    // Act: a redaction added, the cache's time passes, one request
    expect((await call(stack.url, 'PUT', '/v1/models/iris/capture', { samplePercent: 100, drop: ['petal_length_cm'] })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, stack.config.POINTER_CACHE_MS + 50));
    const from = new Date().toISOString();
    const reply = await call(stack.url, 'POST', '/v1/models/iris/predict', {
      features: { sepal_length_cm: 5, sepal_width_cm: 3, petal_length_cm: 6.66, petal_width_cm: 0.2 },
    });
    await stack.prediction.flush();

    // Assess: that very request's record already lacks the feature
    const { records } = await reader.read({
      model: 'iris',
      versions: ['1'],
      from,
      to: new Date(Date.now() + 1000).toISOString(),
      maxRecords: 10,
    });
    expect(records.map((r) => r.requestId)).toEqual([(reply.body as { requestId: string }).requestId]);
    expect(records[0]?.features).not.toHaveProperty('petal_length_cm');
    expect(records[0]?.redaction).toEqual({ dropped: ['petal_length_cm'], hashed: [] });
  });
});
