import { afterEach, describe, expect, it } from 'vitest';
import { DbtCloudClient, type DbtCloudClientOptions, type DbtCloudWaitEvent } from '@ferry/source-dbt-cloud';
import { startEmulator, type DbtCloudEmulator } from '@ferry/source-dbt-cloud/emulator';

let emu: DbtCloudEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

const clientFor = (e: DbtCloudEmulator, over: Partial<DbtCloudClientOptions>): DbtCloudClient =>
  new DbtCloudClient({
    baseUrl: e.url,
    accountId: e.accountId,
    apiToken: e.token,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 5_000,
    timeoutMs: 3_000,
    ...over,
  });

describe('rate limits as dbt Cloud enforces them', () => {
  it('a 429 without Retry-After waits out the cooldown (with a log line per wait), then every row loads', async () => {
    emu = await startEmulator({ runs: 250, inFlightRuns: 0, seed: 2 });
    // The account's budget is spent after 2 requests; then 429s without Retry-After for 400 ms.
    emu.faults.rateLimitPerMinute = 2;
    emu.faults.rateLimitRetryAfter = null;
    emu.faults.rateLimitCooldownMs = 400;
    const waits: DbtCloudWaitEvent[] = [];
    const c = clientFor(emu, { rateLimitCooldownMs: 450, onWait: (w) => waits.push(w), pageConcurrency: 1 });
    const started = Date.now();
    const rows = await c.list('v2', `${c.accountPath}/runs/`);
    expect(rows.length).toBe(250);
    expect(emu.faults.rateLimited).toBeGreaterThan(0);
    const cooldowns = waits.filter((w) => w.reason === 'cooldown');
    expect(cooldowns.length).toBe(emu.faults.rateLimited);
    for (const w of cooldowns) {
      expect(w.ms).toBe(450);
      expect(w.message).toMatch(
        /waiting 450 ms before attempt \d+ of GET .*\/runs\/.*429 without Retry-After/,
      );
      expect(w.message).not.toContain(emu.token);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(450 * cooldowns.length);
  });

  it('the default cooldown is 5 minutes, and a total wait budget ends the run with a message naming the limit', async () => {
    emu = await startEmulator({ runs: 10, inFlightRuns: 0, seed: 2 });
    emu.faults.rateLimitPerMinute = 0;
    emu.faults.rateLimitRetryAfter = null;
    const waits: DbtCloudWaitEvent[] = [];
    // Budget below one default cooldown: the client refuses to wait 5 minutes and says why.
    const c = clientFor(emu, { maxTotalWaitMs: 60_000, onWait: (w) => waits.push(w) });
    const err = await c.list('v2', `${c.accountPath}/runs/`).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      /waiting 5 min more \(429 without Retry-After.*maxTotalWaitMs \(60 s/,
    );
    expect((err as Error).message).toContain('/runs/');
    expect((err as { code?: string }).code).toBe('DBT_CLOUD_WAIT_BUDGET');
    expect(waits).toEqual([]);
  });

  it('Retry-After: 999999 is capped at retryMaxDelayMs and said so in the log line (issue 15, item 7)', async () => {
    emu = await startEmulator({ runs: 10, inFlightRuns: 0, seed: 2 });
    emu.faults.inject({ kind: 'status', status: 429, retryAfter: '999999' }, { times: 1, path: /\/runs\/$/ });
    const waits: DbtCloudWaitEvent[] = [];
    const c = clientFor(emu, { retryMaxDelayMs: 100, onWait: (w) => waits.push(w) });
    expect((await c.list('v2', `${c.accountPath}/runs/`)).length).toBe(10);
    expect(waits).toHaveLength(1);
    expect(waits[0]!.reason).toBe('rate_limit');
    expect(waits[0]!.ms).toBe(100);
    expect(waits[0]!.message).toMatch(
      /429 with Retry-After 16666\.7 min \(capped at retryMaxDelayMs 100 ms\)/,
    );
  });

  it('paces requests below the per-account budget, shared by every client of the account', async () => {
    emu = await startEmulator({ runs: 10, inFlightRuns: 0, seed: 2 });
    // 300/min = 5 per second: 20 requests from two clients of one account take at least 3 s of windows.
    const a = clientFor(emu, { requestsPerMinute: 300 });
    const b = clientFor(emu, { requestsPerMinute: 300 });
    const started = Date.now();
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).get('v2', `${a.accountPath}/`)));
    const ms = Date.now() - started;
    expect(ms).toBeGreaterThanOrEqual(2_900);
    // No second in which more than 5 requests arrived.
    const perSecond = new Map<number, number>();
    const t0 = emu.requests.all[0]!.at;
    for (const r of emu.requests.all) {
      const s = Math.floor((r.at - t0) / 1000);
      perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
    }
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(6);
  });
});
