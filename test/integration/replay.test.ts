/**
 * Replays on the local stack (issue 13's replay acceptance point): the sample model captures
 * 10,000 single-row requests drawn from its data set; a replay against the same version agrees
 * on every label with no difference at all; a replay against a retrained version reports exactly
 * what this test finds by running both models itself (onnxruntime-node, straight from their
 * bytes) on the captured inputs. Then what a replay refuses, and what it cannot replay.
 */
import { readFileSync } from 'node:fs';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import * as ort from 'onnxruntime-node';
import type { BatchJob } from '../../functions/core/batch-contract.js';
import type { CaptureRecord } from '../../functions/core/capture.js';
import type { ReplayReport } from '../../functions/core/replay/compare.js';
import { S3CaptureReader } from '../../functions/adapters/s3-capture.js';
import {
  CLASS_LABELS,
  FEATURES,
  TARGET,
  TRAINING,
  buildIrisOnnx,
  parseCsv,
  seededRandom,
  stratifiedSplit,
  toExamples,
  trainSoftmaxRegression,
} from '../../scripts/sample-model.js';
import { LOCAL_CAPTURE_BUCKET, SAMPLE_MODEL } from '../../local/stack.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { call, errorOf } from '../fixtures/http.js';
import { runModelctl } from '../fixtures/modelctl.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const table = parseCsv(read('data/iris.csv'));
const examples = toExamples(table, FEATURES, TARGET, CLASS_LABELS);
const REQUESTS = 10_000;
/** Requests in flight at once. */
const CONCURRENCY = 32;

interface JobReply {
  job: BatchJob;
  report?: ReplayReport;
}

describe('replays of captured requests', () => {
  let stack: TestStack;
  let reader: S3CaptureReader;
  /** The window of the 10,000 requests. */
  let since: string;
  let until: string;
  let retrained: Uint8Array;

  beforeAll(async () => {
    stack = await startTestStack({
      auth: 'insecure',
      rateLimit: false,
      driftIntervalMs: 0,
      env: { POINTER_CACHE_MS: '100', LOG_LEVEL: 'WARN' },
    });
    reader = new S3CaptureReader({ client: stack.clients.s3, bucket: LOCAL_CAPTURE_BUCKET });
    expect((await call(stack.url, 'PUT', '/v1/models/iris/capture', { samplePercent: 100 })).status).toBe(200);
    // The endpoint trusts the capture settings it read for POINTER_CACHE_MS.
    await new Promise((resolve) => setTimeout(resolve, 150));
    await call(stack.url, 'GET', '/v2/models/iris/ready');
    await new Promise((resolve) => setTimeout(resolve, 50));

    // 10,000 single rows drawn (with replacement) from the data set, sent concurrently.
    since = new Date().toISOString();
    const random = seededRandom(13);
    const rows = Array.from(
      { length: REQUESTS },
      () => (examples[Math.floor(random() * examples.length)] as (typeof examples)[number]).features,
    );
    let next = 0;
    const failures: number[] = [];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < rows.length) {
          const row = rows[next++] as readonly number[];
          const reply = await call(stack.url, 'POST', '/v1/models/iris/predict', {
            features: Object.fromEntries(FEATURES.map((f, j) => [f, row[j]])),
          });
          if (reply.status !== 200) failures.push(reply.status);
        }
      }),
    );
    expect(failures).toEqual([]);
    await stack.flush();
    until = new Date(Date.now() + 1).toISOString();

    // A retrained version: the same data and split, a tenth of the iterations.
    const split = stratifiedSplit(examples, TRAINING.testFraction, TRAINING.seed);
    retrained = buildIrisOnnx(trainSoftmaxRegression(split.train, CLASS_LABELS.length, { ...TRAINING, iterations: 200 }));
    const metadata = JSON.parse(read('models/iris/metadata.json')) as Record<string, unknown>;
    delete metadata['goldenInputs'];
    const version = await stack.registry.register({
      model: 'iris',
      bytes: retrained,
      metadata: { ...metadata, description: 'iris, retrained with 200 iterations' },
      actor: 'replay-test',
    });
    expect(version.version).toBe('2');
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  async function replay(body: Record<string, unknown>): Promise<JobReply> {
    const submitted = await call(stack.url, 'POST', '/v1/models/iris/replays', body);
    expect({ status: submitted.status, body: submitted.status === 202 ? 'job' : submitted.body }).toEqual({ status: 202, body: 'job' });
    const { job } = submitted.body as { job: BatchJob };
    expect(job).toMatchObject({ model: 'iris', input: { format: 'capture' }, replay: { maxRequests: body['maxRequests'] ?? 100_000 } });
    for (;;) {
      const reply = await call(stack.url, 'GET', `/v1/models/iris/batch-jobs/${job.jobId}`);
      const answer = reply.body as JobReply;
      if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(answer.job.state)) return answer;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function capturedRecords(from: string, to: string): Promise<readonly CaptureRecord[]> {
    const { records, capped, invalid } = await reader.read({ model: 'iris', versions: ['1'], from, to, maxRecords: 2 * REQUESTS });
    expect({ capped, invalid }).toEqual({ capped: false, invalid: 0 });
    return records;
  }

  it('reports 100% agreement for a replay of 10,000 requests against the same version', async () => {
    // Act
    const { job, report } = await replay({ version: '1', since, until });

    // Assess
    expect(job.state).toBe('SUCCEEDED');
    expect(job.progress).toEqual({ rowsRead: REQUESTS, predicted: REQUESTS, failed: 0 });
    expect(report).toMatchObject({
      model: 'iris',
      targetVersion: '1',
      sourceVersions: ['1'],
      window: { since, until },
      capture: { inWindow: REQUESTS, replayed: REQUESTS, capped: false, unreadableLines: 0 },
      requests: REQUESTS,
      compared: REQUESTS,
      rowsCompared: REQUESTS,
      truncatedRequests: 0,
      labels: { rows: REQUESTS, identical: REQUESTS, share: 1 },
      maxAbsDiff: 0,
      outputs: {
        probabilities: { kind: 'numeric', requests: REQUESTS, elements: 3 * REQUESTS, differing: 0, maxAbsDiff: 0, meanAbsDiff: 0 },
        label: { kind: 'exact', requests: REQUESTS, elements: REQUESTS, differing: 0 },
      },
      outputsNotCompared: {},
      mostDifferent: [],
      notReplayable: { total: 0, byCode: {} },
    });
  }, 120_000);

  it('reports, against a retrained version, the differences a direct comparison finds', async () => {
    // Prepare: both models run here, on the captured inputs, straight from their bytes
    const records = await capturedRecords(since, until);
    expect(records).toHaveLength(REQUESTS);
    const features = Float32Array.from(records.flatMap((r) => FEATURES.map((f) => r.features?.[f]?.[0] as number)));
    const run = async (bytes: Uint8Array) => {
      const session = await ort.InferenceSession.create(bytes);
      try {
        const outputs = await session.run({ features: new ort.Tensor('float32', features, [records.length, FEATURES.length]) });
        return outputs['probabilities']?.data as Float32Array;
      } finally {
        await session.release();
      }
    };
    const [before, after] = await Promise.all([run(readFileSync(SAMPLE_MODEL.file)), run(retrained)]);
    const argmax = (p: Float32Array, r: number) =>
      [0, 1, 2].reduce((best, j) => ((p[r * 3 + j] as number) > (p[r * 3 + best] as number) ? j : best), 0);
    let changedLabels = 0;
    let max = 0;
    let sum = 0;
    const perRequest = records.map((record, r) => {
      let worst = 0;
      for (let j = 0; j < 3; j++) {
        const d = Math.abs((before[r * 3 + j] as number) - (after[r * 3 + j] as number));
        sum += d;
        worst = Math.max(worst, d);
      }
      max = Math.max(max, worst);
      const changed = argmax(before, r) !== argmax(after, r);
      if (changed) changedLabels++;
      return { requestId: record.requestId, worst, changed };
    });
    // The retrained model is a different model: the comparison has something to find.
    expect(changedLabels).toBeGreaterThan(0);

    // Act
    const { job, report } = await replay({ version: '2', since, until, sourceVersions: ['1'] });

    // Assess
    expect(job.state).toBe('SUCCEEDED');
    expect(report).toMatchObject({
      targetVersion: '2',
      sourceVersions: ['1'],
      requests: REQUESTS,
      compared: REQUESTS,
      rowsCompared: REQUESTS,
      labels: { rows: REQUESTS, identical: REQUESTS - changedLabels },
      outputs: { label: { kind: 'exact', elements: REQUESTS, differing: changedLabels } },
      notReplayable: { total: 0, byCode: {} },
    });
    const probabilities = report?.outputs['probabilities'];
    expect(Math.abs((report?.labels?.share as number) - (REQUESTS - changedLabels) / REQUESTS)).toBeLessThan(1e-12);
    expect(Math.abs((probabilities?.maxAbsDiff as number) - max)).toBeLessThan(1e-6);
    expect(Math.abs((probabilities?.meanAbsDiff as number) - sum / (3 * REQUESTS))).toBeLessThan(1e-6);
    expect(Math.abs((report?.maxAbsDiff as number) - max)).toBeLessThan(1e-6);
    // The ten that differ most: the largest differences this test found, in order.
    const expected = [...perRequest].sort((a, b) => b.worst - a.worst).slice(0, 10);
    expect(report?.mostDifferent).toHaveLength(10);
    report?.mostDifferent.forEach((entry, i) => {
      expect(Math.abs(entry.maxAbsDiff - (expected[i]?.worst as number))).toBeLessThan(1e-6);
      const mine = perRequest.find((p) => p.requestId === entry.requestId);
      expect(mine && Math.abs(mine.worst - entry.maxAbsDiff) < 1e-6).toBe(true);
      expect(entry.differingLabels).toBe(mine?.changed ? 1 : 0);
    });
  }, 120_000);

  it('prints the report with modelctl replay --wait, and says what a replay needs', async () => {
    // Act
    const done = await runModelctl({ url: stack.url, token: undefined }, [
      'replay',
      'iris',
      '--version',
      '2',
      '--since',
      since,
      '--until',
      until,
      '--source-versions',
      '1',
      '--wait',
      '--interval',
      '0.1',
    ]);
    const submitted = await runModelctl({ url: stack.url, token: undefined }, [
      'replay',
      'iris',
      '--version',
      '1',
      '--since',
      since,
      '--until',
      until,
      '--max-requests',
      '10',
      '--json',
    ]);
    const missing = await runModelctl({ url: stack.url, token: undefined }, ['replay', 'iris', '--since', '1h']);
    const refused = await runModelctl({ url: stack.url, token: undefined }, ['replay', 'iris', '--version', '1', '--since', 'yesterday']);

    // Assess
    expect({ code: done.code, err: done.err }).toMatchObject({
      code: 0,
      err: expect.stringMatching(/^Replay job-\S+ of iris: captured requests of 1 version \(1\) from /) as string,
    });
    const lines = done.out.split('\n');
    expect(lines[0]).toMatch(
      /^iris: replay against version 2 of 10000 requests of version 1: \d+ of 10000 labels identical \(\d+(\.\d+)?%\), max abs diff [0-9.e-]+$/,
    );
    expect(lines[1]).toBe(`window ${since} to ${until}: 10000 captured, 10000 replayed; 10000 compared (10000 rows), 0 not replayable`);
    expect(lines[2]).toMatch(/^OUTPUT +KIND +REQUESTS +ELEMENTS +DIFFERING +MAX ABS DIFF +MEAN ABS DIFF$/);
    expect(lines.slice(3, 5).map((l) => l.split(/ +/).slice(0, 4))).toEqual([
      ['label', 'exact', '10000', '10000'],
      ['probabilities', 'numeric', '10000', '30000'],
    ]);
    expect(done.out).toContain('\ndiffering most:\nROW');
    // The progress counts what the job counts: captured requests (one record each), not rows.
    expect(done.err).toMatch(/^iris: 10000 \/ 10000 requests \(100%\) {2}SUCCEEDED$/m);
    expect(submitted.code).toBe(0);
    expect(JSON.parse(submitted.out)).toMatchObject({
      job: { model: 'iris', modelVersion: '1', input: { format: 'capture' }, replay: { maxRequests: 10, sourceVersions: ['1'] } },
    });
    expect({ code: missing.code, err: missing.err.split('\n')[0] }).toEqual({
      code: 2,
      err: '"replay" needs --version (the version to replay against) and --since (90s, 30m, 1h, 2d, or an ISO-8601 time with its zone).',
    });
    expect({ code: refused.code, err: refused.err }).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^400 INVALID_WINDOW: "since" must be a duration/) as string,
    });
  }, 60_000);

  it('replays the newest maxRequests of a window that holds more', async () => {
    // Act
    const { job, report } = await replay({ version: '1', since, until, maxRequests: 250 });

    // Assess
    expect(job.state).toBe('SUCCEEDED');
    expect(report).toMatchObject({
      capture: { inWindow: REQUESTS, replayed: 250, maxRequests: 250, capped: true },
      requests: 250,
      compared: 250,
      labels: { share: 1 },
    });
    const newest = (await capturedRecords(since, until))
      .slice(-250)
      .map((r) => r.requestId)
      .sort();
    const key = job.output.predictions.replace(`s3://${LOCAL_CAPTURE_BUCKET}/`, '');
    const text = await (
      await stack.clients.s3.send(new GetObjectCommand({ Bucket: LOCAL_CAPTURE_BUCKET, Key: key }))
    ).Body?.transformToString();
    const lines = (text ?? '')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { row: number; requestId: string; sourceVersion: string });
    expect(lines.map((l) => l.row)).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(lines.map((l) => l.requestId).sort()).toEqual(newest);
  }, 60_000);

  it('counts requests it cannot replay by their code, and replays the rest', async () => {
    // Prepare: capture now drops a feature the model takes
    expect((await call(stack.url, 'PUT', '/v1/models/iris/capture', { samplePercent: 100, drop: ['sepal_width_cm'] })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await call(stack.url, 'GET', '/v2/models/iris/ready');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const from = new Date().toISOString();
    for (const example of examples.slice(0, 5)) {
      const reply = await call(stack.url, 'POST', '/v1/models/iris/predict', {
        features: Object.fromEntries(FEATURES.map((f, j) => [f, example.features[j]])),
      });
      expect(reply.status).toBe(200);
    }
    await stack.flush();
    const records = await capturedRecords(from, new Date(Date.now() + 1).toISOString());
    expect(records.map((r) => r.redaction?.dropped)).toEqual(records.map(() => ['sepal_width_cm']));

    // Act: the five, and the 10,000 before them
    const { job, report } = await replay({ version: '2', since });

    // Assess: the job succeeds, the five are counted by code with their request ids in errors.jsonl
    expect(job.state).toBe('SUCCEEDED');
    expect(report).toMatchObject({
      requests: REQUESTS + 5,
      compared: REQUESTS,
      notReplayable: { total: 5, byCode: { FEATURE_DROPPED: 5 } },
    });
    const key = job.output.errors.replace(`s3://${LOCAL_CAPTURE_BUCKET}/`, '');
    const text = await (
      await stack.clients.s3.send(new GetObjectCommand({ Bucket: LOCAL_CAPTURE_BUCKET, Key: key }))
    ).Body?.transformToString();
    const errors = (text ?? '')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { code: string; requestId: string; sourceVersion: string; path: string[] });
    expect(errors.map((e) => e.requestId).sort()).toEqual(records.map((r) => r.requestId).sort());
    expect(
      errors.every((e) => e.code === 'FEATURE_DROPPED' && e.sourceVersion === '1' && e.path.join('.') === 'features.sepal_width_cm'),
    ).toBe(true);

    // Act: the five alone, with modelctl: nothing can be compared
    const cli = await runModelctl({ url: stack.url, token: undefined }, [
      'replay',
      'iris',
      '--version',
      '2',
      '--since',
      from,
      '--wait',
      '--interval',
      '0.1',
    ]);
    const jobId = /^Replay (job-\S+) of iris/.exec(cli.err)?.[1] ?? '';
    const status = await runModelctl({ url: stack.url, token: undefined }, ['batch', 'status', 'iris', jobId]);

    // Assess: it says so and why, with no difference; the job's counts are requests
    expect(cli.code).toBe(0);
    expect(cli.out.split('\n').slice(0, 3)).toEqual([
      'iris: replay against version 2 of 5 requests of version 1: nothing compared (no request could be replayed: FEATURE_DROPPED 5), max abs diff -',
      expect.stringMatching(/: 5 captured, 5 replayed; 0 compared \(0 rows\), 5 not replayable$/) as unknown,
      'no output compared',
    ]);
    expect(cli.err).toMatch(/^iris: 5 \/ 5 requests \(100%\) {2}SUCCEEDED$/m);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/\n {2}requests {5}5 read of 5 \(100%\)\n {2}compared {5}0\n {2}unreplayable 5\n/);
  }, 60_000);

  it('refuses a replay it cannot make, and says why', async () => {
    const cases: [string, unknown, number, string, string][] = [
      ['an unknown target', { version: '9', since: '1h' }, 404, 'VERSION_NOT_FOUND', 'version'],
      [
        'an unknown source version',
        { version: '1', since: '1h', sourceVersions: ['1', '7'] },
        404,
        'VERSION_NOT_FOUND',
        'sourceVersions[1]',
      ],
      ['a start in the future', { version: '1', since: '2999-01-01T00:00:00Z' }, 400, 'INVALID_WINDOW', 'since'],
      ['an unparsable start', { version: '1', since: 'yesterday' }, 400, 'INVALID_WINDOW', 'since'],
      ['a start without its zone', { version: '1', since: '2026-11-30T12:00:00' }, 400, 'INVALID_WINDOW', 'since'],
      ['an end before the start', { version: '1', since: '1h', until: '2020-01-01T00:00:00Z' }, 400, 'INVALID_WINDOW', 'until'],
      ['a window of years', { version: '1', since: '2020-01-01T00:00:00Z' }, 400, 'INVALID_WINDOW', 'since'],
      [
        'a window with nothing captured',
        { version: '1', since: '2020-01-01T00:00:00Z', until: '2020-01-01T01:00:00Z' },
        404,
        'NO_CAPTURED_REQUESTS',
        'since',
      ],
      ['too many requests', { version: '1', since: '1h', maxRequests: 100_001 }, 400, 'INVALID_REQUEST', 'maxRequests'],
      ['no target', { since: '1h' }, 400, 'MISSING_FIELD', 'version'],
      ['an unknown field', { version: '1', since: '1h', everything: true }, 400, 'UNKNOWN_FIELD', 'everything'],
    ];
    for (const [what, body, status, code, path] of cases) {
      const reply = await call(stack.url, 'POST', '/v1/models/iris/replays', body);
      const error = errorOf(reply);
      expect({ what, status: reply.status, code: error.code, path: error.path }).toEqual({ what, status, code, path });
    }
    expect(errorOf(await call(stack.url, 'POST', '/v1/models/nobody/replays', { version: '1', since: '1h' })).code).toBe('MODEL_NOT_FOUND');
  });
});
