import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { FerryError, processAlive } from '@ferry/core';

/** How long a lease lives without a renewal: a holder that died is replaced after this long at most. */
export const LEASE_TTL_MS = 60_000;
/** How often a holder renews its lease (a third of the TTL: two renewals may fail before it expires). */
export const LEASE_RENEW_MS = 20_000;

/** Who holds a lease, as stored with it (for the busy message and the dead-process rule). */
export interface LeaseInfo {
  /** Host name of the holder (the pod name in Kubernetes). */
  host: string;
  /** Process id of the holder. */
  pid: number;
  /** When the holder took the lease (ISO). */
  since: string;
}

/** A lease as read back from its store. */
export interface LeaseRecord {
  /** Random id of the holding client. */
  holder: string;
  /** What the holder wrote about itself. */
  info: LeaseInfo;
  /** Expiry, milliseconds since the epoch (the holder's clock). */
  expiresMs: number;
}

/**
 * Where a destination keeps its pipeline leases: a row in a system table (warehouses) or a small file
 * (buckets). `claim` must be atomic against another client claiming the same lease at once.
 */
export interface LeaseStore {
  /**
   * Take the lease of `pipeline` when it is free, expired (`expiresMs` before `nowMs`) or already held by
   * `lease.holder`; otherwise leave it. Returns the lease as it is afterwards (undefined: none).
   */
  claim(pipeline: string, lease: LeaseRecord, nowMs: number): Promise<LeaseRecord | undefined>;
  /** Remove the lease of `pipeline` if `holder` still holds it. */
  release(pipeline: string, holder: string): Promise<void>;
}

/**
 * Holders of this process whose release failed (their client's session died mid-load, say): the next
 * client of this process takes such a lease over at once instead of waiting for it to expire.
 */
const abandoned = new Set<string>();

/**
 * A pipeline's lease at a destination without session locks (BigQuery, Snowflake, buckets): one row or
 * file per pipeline naming its holder, renewed every {@link LEASE_RENEW_MS} and expiring
 * {@link LEASE_TTL_MS} after the last renewal, so a run that died frees it within a minute (at once when
 * it ran on this host and its process is gone). Two runs of one pipeline from different working folders
 * (two containers, two machines) never load at once: the second fails with `PIPELINE_BUSY`.
 */
export class PipelineLease {
  private readonly holder = randomUUID();
  private readonly info: LeaseInfo = { host: hostname(), pid: process.pid, since: '' };
  private timer: NodeJS.Timeout | undefined;
  private lost: FerryError | undefined;
  private held = false;

  private readonly store: LeaseStore;
  private readonly pipeline: string;
  private readonly describe: string;
  private readonly now: () => number;

  /**
   * `describe` names the destination for messages (no secrets); `now` is the clock (default `Date.now`;
   * tests move it).
   */
  constructor(store: LeaseStore, pipeline: string, describe: string, now: () => number = Date.now) {
    this.store = store;
    this.pipeline = pipeline;
    this.describe = describe;
    this.now = now;
  }

  /** Take the lease (or throw `PIPELINE_BUSY` naming the holder) and start renewing it. */
  async acquire(): Promise<void> {
    if (this.held) return;
    this.info.since = new Date(this.now()).toISOString();
    let current = await this.claim();
    if (
      current &&
      current.holder !== this.holder &&
      (abandoned.has(current.holder) || this.deadHere(current))
    ) {
      // Its process is gone from this host (a crashed run, a killed container on the same node), or it is
      // this process's own lease that a dead session could not give back.
      await this.store.release(this.pipeline, current.holder);
      abandoned.delete(current.holder);
      current = await this.claim();
    }
    if (current?.holder !== this.holder) throw this.busy(current);
    this.held = true;
    this.lost = undefined;
    this.timer = setInterval(() => void this.renew(), LEASE_RENEW_MS);
    this.timer.unref();
  }

  /** Throw if a renewal found the lease expired and taken by another run (this one must not commit). */
  assertHeld(): void {
    if (this.lost) throw this.lost;
  }

  /** Stop renewing and remove the lease (if still ours). Idempotent. */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.held) return;
    this.held = false;
    try {
      await this.store.release(this.pipeline, this.holder);
    } catch (error) {
      abandoned.add(this.holder);
      throw error;
    }
  }

  private claim(): Promise<LeaseRecord | undefined> {
    const now = this.now();
    return this.store.claim(
      this.pipeline,
      { holder: this.holder, info: this.info, expiresMs: now + LEASE_TTL_MS },
      now,
    );
  }

  private deadHere(lease: LeaseRecord): boolean {
    return (
      lease.info.host === this.info.host && lease.info.pid !== process.pid && !processAlive(lease.info.pid)
    );
  }

  /** Renew; a store error is retried at the next tick (the TTL leaves room for two misses). */
  private async renew(): Promise<void> {
    try {
      const current = await this.claim();
      if (current?.holder !== this.holder && this.held) {
        this.lost = new FerryError(
          'PIPELINE_BUSY',
          `pipeline '${this.pipeline}' lost its lease on ${this.describe} (renewals failed for ${LEASE_TTL_MS / 1000} s and another run took it over); this run stops before its next commit`,
          { context: { pipeline: this.pipeline } },
        );
      }
    } catch {
      // transient: the next tick retries
    }
  }

  private busy(current: LeaseRecord | undefined): FerryError {
    const who = current
      ? ` (pid ${current.info.pid} on ${current.info.host}, since ${current.info.since}; its lease expires at ${new Date(current.expiresMs).toISOString()} unless renewed)`
      : '';
    return new FerryError(
      'PIPELINE_BUSY',
      `pipeline '${this.pipeline}' is already loading into ${this.describe}${who}: wait for it to finish. ` +
        `A run that died frees the lease ${LEASE_TTL_MS / 1000} s after its last renewal.`,
      { context: { pipeline: this.pipeline, ...(current ? { holder: current.info } : {}) } },
    );
  }
}
