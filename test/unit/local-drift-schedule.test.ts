/**
 * The drift timer of `npm start` (`local/drift-schedule.ts`): a pass that fails, for one model or
 * as a whole, is said and retried at the next tick; it never rejects out of the timer (an
 * unhandled rejection would end the server).
 */
import { LocalDriftSchedule } from '../../local/drift-schedule.js';
import { AppError } from '../../functions/core/errors.js';
import type { DriftService, StoredDriftReport } from '../../functions/core/drift/service.js';
import type { ModelRecord } from '../../functions/core/model.js';

const model = (name: string, capture = true) =>
  ({ model: name, productionVersion: '1', capture: capture ? { samplePercent: 100 } : undefined }) as unknown as ModelRecord;

function until(check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (!check()) return;
      clearInterval(poll);
      resolve();
    }, 5);
  });
}

describe('the local drift schedule', () => {
  it('says a pass whose models cannot be listed failed, keeps ticking, and serves on', async () => {
    const lines: string[] = [];
    let listed = 0;
    const schedule = new LocalDriftSchedule({
      drift: { run: async () => ({}) } as unknown as DriftService,
      registry: {
        listModels: async () => {
          listed += 1;
          throw new Error('connect ECONNREFUSED 127.0.0.1:38875');
        },
      },
      flush: async () => undefined,
      intervalMs: 10,
      say: (line) => lines.push(line),
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      schedule.start();
      await until(() => lines.length >= 2);
      await schedule.close();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(listed).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toBe('drift: the scheduled pass failed and is tried again at the next tick: connect ECONNREFUSED 127.0.0.1:38875');
  });

  it('says a failed write of the queued records, and a direct tick rejects with it', async () => {
    const lines: string[] = [];
    const schedule = new LocalDriftSchedule({
      drift: { run: async () => ({}) } as unknown as DriftService,
      registry: { listModels: async () => [] },
      flush: async () => {
        throw new Error('the S3 server is gone');
      },
      intervalMs: 10,
      say: (line) => lines.push(line),
    });
    await expect(schedule.tick()).rejects.toThrow('the S3 server is gone');
    schedule.start();
    await until(() => lines.length >= 1);
    await schedule.close();
    expect(lines[0]).toMatch(/scheduled pass failed .*the S3 server is gone$/);
  });

  it('goes on past a model that fails, and says a missing profile once per version', async () => {
    const lines: string[] = [];
    const runs: string[] = [];
    const schedule = new LocalDriftSchedule({
      drift: {
        run: async (name: string) => {
          runs.push(name);
          if (name === 'a') throw new AppError(409, 'NO_REFERENCE_PROFILE', 'no profile');
          if (name === 'b') throw new Error('boom');
          return { drifted: false, results: [], modelVersion: '1' } as unknown as StoredDriftReport;
        },
      } as unknown as DriftService,
      registry: { listModels: async () => [model('a'), model('b'), model('c'), model('d', false)] },
      flush: async () => undefined,
      intervalMs: 0,
      say: (line) => lines.push(line),
    });
    expect(await schedule.tick()).toHaveLength(1);
    expect(await schedule.tick()).toHaveLength(1);
    expect(runs).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(lines.filter((l) => l.includes('has no reference profile'))).toHaveLength(1);
    expect(lines.filter((l) => l === 'drift: the scheduled run for model b failed: boom')).toHaveLength(2);
  });
});
