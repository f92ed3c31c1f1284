import { randomUUID } from 'node:crypto';
import { readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { FerryError } from '../errors.ts';
import { withFileMutex, writeFileAtomic } from '../util/fs.ts';

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

/** Whether a process with this pid exists on this host (signal 0 probes without signalling). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock file's holder (undefined when unreadable) and when it was last touched; undefined when there is none. */
async function readLock(
  file: string,
): Promise<{ info: RunLockInfo | undefined; touched: number } | undefined> {
  let text: string;
  let touched: number;
  try {
    text = await readFile(file, 'utf8');
    touched = (await stat(file)).mtimeMs;
  } catch {
    return undefined; // none
  }
  try {
    return { info: JSON.parse(text) as RunLockInfo, touched };
  } catch {
    return { info: undefined, touched };
  }
}

/** Whether a lock read by {@link readLock} has a live holder (see {@link runLockHolder}). */
function isLive(file: string, lock: { info: RunLockInfo | undefined; touched: number }): boolean {
  const info = lock.info;
  if (info === undefined) return false;
  if (info.token === PROCESS_TOKEN) return heldHere.has(file);
  if (Date.now() - lock.touched > LOCK_STALE_MS) return false;
  if (info.host === hostname() && (info.pid === process.pid || !processAlive(info.pid))) return false;
  return true;
}

/**
 * The live holder of the lock file at `file`, or undefined when there is none or it is stale: not touched
 * for {@link LOCK_STALE_MS}, or written on this host by a process that is gone (or by an earlier process
 * with this process's pid). This process's own lock counts as held.
 */
export async function runLockHolder(file: string): Promise<RunLockInfo | undefined> {
  const lock = await readLock(file);
  return lock && isLive(file, lock) ? lock.info : undefined;
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
  // Reading the lock, judging its holder and writing ours happen under one mutex, so of two processes
  // taking a free or stale lock at once exactly one wins; the lock file itself is replaced whole.
  await withFileMutex(`${file}.mutex`, async () => {
    const lock = await readLock(file);
    const holder = lock && isLive(file, lock) ? lock.info : undefined;
    if (holder)
      throw new FerryError(
        'PIPELINE_BUSY',
        `pipeline '${pipeline}' is already running (pid ${holder.pid} on ${holder.host}, since ${holder.startedAt}): ` +
          `wait for it to finish. If that run is gone, its lock ${file} expires ${LOCK_STALE_MS / 1000} s after its last heartbeat.`,
        { context: { pipeline, lock: file, holder } },
      );
    await writeFileAtomic(file, JSON.stringify(mine));
    heldHere.add(file);
  });
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  return async () => {
    clearInterval(heartbeat);
    heldHere.delete(file);
    // Remove only our own lock (a stale-lock takeover by another process must not be undone).
    await withFileMutex(`${file}.mutex`, async () => {
      if ((await readLock(file))?.info?.token === PROCESS_TOKEN) await rm(file, { force: true });
    }).catch(() => undefined);
  };
}
