import { hostname } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  LEASE_RENEW_MS,
  LEASE_TTL_MS,
  PipelineLease,
  type LeaseRecord,
  type LeaseStore,
} from '../../src/lease.ts';

/**
 * PipelineLease's rules over a store with the lease table's semantics (claim = the MERGE: take it when
 * free, expired or ours), with a clock the test moves. The SQL and file stores themselves run in the
 * conformance suite's lock case against each destination.
 */
function memoryStore(): LeaseStore & { rows: Map<string, LeaseRecord> } {
  const rows = new Map<string, LeaseRecord>();
  return {
    rows,
    async claim(pipeline, lease, nowMs) {
      const current = rows.get(pipeline);
      if (!current || current.holder === lease.holder || current.expiresMs < nowMs)
        rows.set(pipeline, structuredClone(lease));
      return structuredClone(rows.get(pipeline));
    },
    async release(pipeline, holder) {
      if (rows.get(pipeline)?.holder === holder) rows.delete(pipeline);
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('PipelineLease', () => {
  it('busy while held, taken over once expired; the old holder learns it lost the lease and must not commit', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let now = Date.parse('2026-11-23T12:00:00Z');
    const clock = () => now;
    const store = memoryStore();
    const a = new PipelineLease(store, 'teams', "dataset 'x'", clock);
    const b = new PipelineLease(store, 'teams', "dataset 'x'", clock);
    await a.acquire();
    const busy = (await b.acquire().catch((e: unknown) => e)) as Error;
    expect(busy).toMatchObject({ code: 'PIPELINE_BUSY' });
    expect(busy.message).toContain(
      `pipeline 'teams' is already loading into dataset 'x' (pid ${process.pid} on ${hostname()}, since 2026-11-23T12:00:00.000Z; its lease expires at 2026-11-23T12:01:00.000Z`,
    );

    // A renewal moves the expiry on.
    now += LEASE_RENEW_MS;
    await vi.advanceTimersByTimeAsync(LEASE_RENEW_MS);
    expect([...store.rows.values()][0]!.expiresMs).toBe(now + LEASE_TTL_MS);
    a.assertHeld();

    // `a` stalls (no renewals reach the store) past the TTL: `b` takes the lease over.
    now += LEASE_TTL_MS + 1;
    await b.acquire();
    // a's next renewal finds b holding it: a must stop before its next commit.
    await vi.advanceTimersByTimeAsync(LEASE_RENEW_MS);
    expect(() => a.assertHeld()).toThrow(/lost its lease/);
    await a.release(); // never removes b's lease
    expect([...store.rows.values()].length).toBe(1);
    await b.release();
    expect(store.rows.size).toBe(0);
  });

  it("a lease this process could not give back (its session died) is taken over by this process's next client", async () => {
    const store = memoryStore();
    const first = new PipelineLease(store, 'teams', "dataset 'x'");
    await first.acquire();
    const release = store.release;
    store.release = () => Promise.reject(new Error('session aborted'));
    await expect(first.release()).rejects.toThrow('session aborted');
    store.release = release;
    expect(store.rows.size).toBe(1); // still there, unexpired, held by a live pid: this one
    const next = new PipelineLease(store, 'teams', "dataset 'x'");
    await next.acquire();
    // A lease held by a live client of this process is still respected.
    await expect(new PipelineLease(store, 'teams', "dataset 'x'").acquire()).rejects.toMatchObject({
      code: 'PIPELINE_BUSY',
    });
    await next.release();
    expect(store.rows.size).toBe(0);
  });

  it('a live lease of a process that is gone from this host is taken over at once', async () => {
    const store = memoryStore();
    store.rows.set('teams', {
      holder: 'crashed-run',
      info: { host: hostname(), pid: 2 ** 30, since: 'then' }, // above pid_max: cannot be alive
      expiresMs: Date.now() + LEASE_TTL_MS,
    });
    const c = new PipelineLease(store, 'teams', "dataset 'x'");
    await c.acquire();
    expect(store.rows.get('teams')?.info.pid).toBe(process.pid);
    // On another host the same lease is respected until it expires.
    store.rows.set('teams', {
      holder: 'other-pod',
      info: { host: 'pod-7', pid: 2 ** 30, since: 'then' },
      expiresMs: Date.now() + LEASE_TTL_MS,
    });
    const d = new PipelineLease(store, 'teams', "dataset 'x'");
    await expect(d.acquire()).rejects.toMatchObject({ code: 'PIPELINE_BUSY' });
    await c.release();
  });
});
