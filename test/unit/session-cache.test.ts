/**
 * The session cache's policy with stand-in sessions: least recently used out by count and by
 * bytes, sessions in use never freed (reference counting), each evicted session freed exactly
 * once, and concurrent first uses sharing one creation.
 */
import { describe, expect, it } from '@jest/globals';
import { SessionCache, type Created, type Lease } from '../../functions/adapters/session-cache.js';

interface Fake {
  readonly name: string;
}

function setup(maxSessions: number, maxBytes: number) {
  const freed: string[] = [];
  const created: string[] = [];
  const cache = new SessionCache<Fake>({ maxSessions, maxBytes }, (session) => {
    freed.push(session.name);
  });
  const make = (name: string, bytes: number) => async (): Promise<Created<Fake>> => {
    created.push(name);
    return { session: { name }, bytes };
  };
  /** Acquires `name` (of `bytes`) and gives it back at once: one finished request. */
  const use = async (name: string, bytes = 10): Promise<void> => {
    (await cache.acquire(name, bytes, make(name, bytes))).release();
  };
  const hold = (name: string, bytes = 10): Promise<Lease<Fake>> => cache.acquire(name, bytes, make(name, bytes));
  return { cache, freed, created, use, hold, make };
}

describe('SessionCache', () => {
  it('keeps at most maxSessions idle sessions, evicting the least recently used and freeing it', async () => {
    // Prepare
    const { cache, freed, created, use } = setup(2, 1_000);
    await use('a');
    await use('b');
    await use('a'); // a is now more recent than b

    // Act
    await use('c');

    // Assess
    expect(freed).toEqual(['b']);
    expect(created).toEqual(['a', 'b', 'c']);
    expect(cache.stats()).toMatchObject({ sessions: 2, bytes: 20, busy: 0, freed: 1 });
  });

  it('keeps the summed bytes within maxBytes, evicting as many old sessions as it takes', async () => {
    // Prepare
    const { cache, freed, use } = setup(10, 100);
    await use('a', 40);
    await use('b', 40);
    await use('c', 20);

    // Act: 70 more bytes need a (40) and b (40) to go
    await use('d', 70);

    // Assess
    expect(freed).toEqual(['a', 'b']);
    expect(cache.stats()).toMatchObject({ sessions: 2, bytes: 90 });
  });

  it('makes room before creating: the old session is freed before the new one is built', async () => {
    // Prepare
    const { cache, freed, use } = setup(1, 1_000);
    await use('a');
    let freedWhenCreating: string[] = [];

    // Act
    const lease = await cache.acquire('b', 10, async () => {
      freedWhenCreating = [...freed];
      return { session: { name: 'b' }, bytes: 10 };
    });
    lease.release();

    // Assess
    expect(freedWhenCreating).toEqual(['a']);
  });

  it('counts a session as the bytes its creation reports, not the estimate', async () => {
    // Prepare
    const { cache, freed, use, make } = setup(10, 100);
    await use('a', 30);

    // Act: estimated at 10, but it is 90 once created: a has to go
    (await cache.acquire('b', 10, make('b', 90))).release();

    // Assess
    expect(freed).toEqual(['a']);
    expect(cache.stats()).toMatchObject({ sessions: 1, bytes: 90 });
  });

  it('never frees a session a request holds, however many others come and go', async () => {
    // Prepare: a is in use (a run in flight) when b and c arrive in a cache of one
    const { cache, freed, use, hold } = setup(1, 1_000);
    const inFlight = await hold('a');

    // Act
    await use('b');
    await use('c');
    const whileHeld = [...freed];
    inFlight.release();
    await use('d');

    // Assess: b and c went as soon as they were idle; a only once released and least recently used
    expect(whileHeld).toEqual(['b', 'c']);
    expect(freed).toEqual(['b', 'c', 'a']);
    expect(cache.stats()).toMatchObject({ sessions: 1, busy: 0 });
  });

  it('holds more than the bound while more sessions are in use at once, then trims back', async () => {
    // Prepare
    const { cache, freed, hold } = setup(1, 15);
    const a = await hold('a');
    const b = await hold('b');

    // Act / Assess
    expect(cache.stats()).toMatchObject({ sessions: 2, busy: 2, bytes: 20 });
    expect(freed).toEqual([]);
    a.release();
    expect(freed).toEqual(['a']);
    b.release();
    expect(cache.stats()).toMatchObject({ sessions: 1, busy: 0, bytes: 10 });
  });

  it('serves a session larger than maxBytes (the version being served is never refused), and frees it once idle and replaced', async () => {
    // Prepare
    const { cache, freed, hold, use } = setup(4, 50);
    const big = await hold('big', 80);

    // Act
    await use('small', 10);
    const whileHeld = [...freed];
    big.release();

    // Assess
    expect(whileHeld).toEqual(['small']);
    expect(freed).toEqual(['small', 'big']);
    expect(cache.stats().sessions).toBe(0);
  });

  it('frees each session exactly once, however often its leases are released', async () => {
    // Prepare
    const { freed, hold, use } = setup(1, 1_000);
    const first = await hold('a');
    const second = await hold('a');

    // Act
    first.release();
    first.release();
    first.release();
    await use('b');
    const beforeLast = [...freed];
    second.release();
    second.release();
    await use('c');

    // Assess: the repeated releases of `first` did not steal `second`'s hold on a
    expect(beforeLast).toEqual(['b']);
    expect(freed).toEqual(['b', 'a']);
  });

  it('creates a session once for concurrent first uses, and each holds it', async () => {
    // Prepare
    const { cache, created, make } = setup(2, 1_000);
    let finish: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const slow = async () => {
      await gate;
      return make('a', 10)();
    };

    // Act
    const pending = [cache.acquire('a', 10, slow), cache.acquire('a', 10, slow), cache.acquire('a', 10, slow)];
    expect(cache.stats()).toMatchObject({ sessions: 1, busy: 1 });
    finish();
    const leases = await Promise.all(pending);

    // Assess
    expect(created).toEqual(['a']);
    expect(leases.map((l) => l.created)).toEqual([true, false, false]);
    expect(new Set(leases.map((l) => l.session)).size).toBe(1);
  });

  it('never evicts a session that is still being created', async () => {
    // Prepare
    const { cache, freed, use, make } = setup(1, 1_000);
    let finish: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const loading = cache.acquire('a', 10, async () => {
      await gate;
      return make('a', 10)();
    });

    // Act
    await use('b');
    finish();
    (await loading).release();

    // Assess
    expect(freed).toEqual(['b']);
    expect(cache.stats()).toMatchObject({ sessions: 1, busy: 0 });
  });

  it('does not keep a failed creation: the next acquire creates again', async () => {
    // Prepare
    const { cache, make } = setup(2, 1_000);
    const failing = async (): Promise<Created<Fake>> => {
      throw new Error('store down');
    };

    // Act
    await expect(cache.acquire('a', 10, failing)).rejects.toThrow('store down');
    const lease = await cache.acquire('a', 10, make('a', 10));

    // Assess
    expect(lease.created).toBe(true);
    expect(cache.stats()).toMatchObject({ sessions: 1, bytes: 10, busy: 1 });
  });

  it('reports a session that fails to free, and still forgets it', async () => {
    // Prepare
    const errors: string[] = [];
    const cache = new SessionCache<Fake>(
      { maxSessions: 1, maxBytes: 1_000 },
      async () => {
        throw new Error('release failed');
      },
      (error, key) => errors.push(`${key}: ${(error as Error).message}`),
    );
    (await cache.acquire('a', 1, async () => ({ session: { name: 'a' }, bytes: 1 }))).release();

    // Act
    (await cache.acquire('b', 1, async () => ({ session: { name: 'b' }, bytes: 1 }))).release();
    await new Promise((resolve) => setImmediate(resolve));

    // Assess
    expect(errors).toEqual(['a: release failed']);
    expect(cache.stats()).toMatchObject({ sessions: 1, freed: 1 });
  });

  it('refuses limits that are not whole numbers ≥ 0', () => {
    expect(() => new SessionCache({ maxSessions: -1, maxBytes: 10 }, () => undefined)).toThrow(RangeError);
    expect(() => new SessionCache({ maxSessions: 1, maxBytes: 1.5 }, () => undefined)).toThrow(RangeError);
  });
});
