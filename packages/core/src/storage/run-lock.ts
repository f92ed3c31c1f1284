import { randomUUID } from 'node:crypto';
import { open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { FerryError } from '../errors.ts';

/** How often the holder touches the lock file. */
const HEARTBEAT_MS = 10_000;
/** A lock file not touched for this long is stale, whoever wrote it (a crashed run on another host). */
export const LOCK_STALE_MS = 60_000;

/** This process, as opposed to an earlier one that had the same pid (a restarted container's PID 1). */
const PROCESS_TOKEN = randomUUID();
/** Lock files this process holds (two Pipeline objects on one working folder exclude each other too). */
const heldHere = new Set<string>();

/** What a lock file says about its holder. */
export interface RunLockInfo {
  /** Process id of the holder. */
  pid: number;
  /** Host name of the holder (the pod name in Kubernetes). */
  host: string;
  /** Random id of the holder's process. */
  token: string;
  /** When the lock was taken (ISO). */
  startedAt: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The live holder of the lock file at `file`, or undefined when there is none or it is stale: not touched
 * for {@link LOCK_STALE_MS}, or written on this host by a process that is gone (or by an earlier process
 * with this process's pid). This process's own lock counts as held.
 */
export async function runLockHolder(file: string): Promise<RunLockInfo | undefined> {
  let info: RunLockInfo;
  let touched: number;
  try {
    info = JSON.parse(await readFile(file, 'utf8')) as RunLockInfo;
    touched = (await stat(file)).mtimeMs;
  } catch {
    return undefined; // none, or half-written by a holder that crashed while writing it
  }
  if (info.token === PROCESS_TOKEN) return heldHere.has(file) ? info : undefined;
  if (Date.now() - touched > LOCK_STALE_MS) return undefined;
  if (info.host === hostname() && (info.pid === process.pid || !alive(info.pid))) return undefined;
  return info;
}

/**
 * Take the run lock of a pipeline's working folder (one `extract`/`normalize`/`load`/`run` at a time per
 * folder, also across processes and hosts sharing it). The holder touches the file every 10 s; a stale
 * lock is taken over. Throws `PIPELINE_BUSY` naming the holder when it is live. Returns the release.
 */
export async function acquireRunLock(file: string, pipeline: string): Promise<() => Promise<void>> {
  const mine: RunLockInfo = {
    pid: process.pid,
    host: hostname(),
    token: PROCESS_TOKEN,
    startedAt: new Date().toISOString(),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(JSON.stringify(mine));
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = await runLockHolder(file);
      if (holder || attempt >= 2)
        throw new FerryError(
          'PIPELINE_BUSY',
          `pipeline '${pipeline}' is already running${holder ? ` (pid ${holder.pid} on ${holder.host}, since ${holder.startedAt})` : ''}: ` +
            `wait for it to finish. If that run is gone, its lock ${file} expires ${LOCK_STALE_MS / 1000} s after its last heartbeat.`,
          { context: { pipeline, lock: file, ...(holder ? { holder } : {}) } },
        );
      await rm(file, { force: true });
    }
  }
  heldHere.add(file);
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  return async () => {
    clearInterval(heartbeat);
    heldHere.delete(file);
    // Remove only our own lock (a stale-lock takeover by another process must not be undone).
    try {
      const info = JSON.parse(await readFile(file, 'utf8')) as RunLockInfo;
      if (info.token === PROCESS_TOKEN) await rm(file, { force: true });
    } catch {
      // already gone
    }
  };
}
