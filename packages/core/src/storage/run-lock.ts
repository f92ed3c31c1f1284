import { randomUUID } from 'node:crypto';
import { link, open, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { FerryError } from '../errors.ts';
import { withFileMutex } from '../util/fs.ts';

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

/** A lock file's text, its holder (undefined when unreadable: a holder that crashed while writing it) and mtime. */
async function readLock(
  file: string,
): Promise<{ text: string; info: RunLockInfo | undefined; touched: number } | undefined> {
  try {
    const text = await readFile(file, 'utf8');
    const touched = (await stat(file)).mtimeMs;
    let info: RunLockInfo | undefined;
    try {
      info = JSON.parse(text) as RunLockInfo;
    } catch {
      info = undefined;
    }
    return { text, info, touched };
  } catch {
    return undefined; // none
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
 * Remove a stale lock without racing another process that takes it over at the same moment: under the
 * takeover mutex (`<lock>.takeover`), the lock is read again and removed only if it is still the stale lock
 * that was read. Returns whether no lock is there now (false: another taker's fresh lock is).
 */
export async function removeStale(file: string, staleText: string): Promise<boolean> {
  return withFileMutex(`${file}.takeover`, async () => {
    const now = await readFile(file, 'utf8').catch(() => undefined);
    if (now === undefined) return true;
    if (now !== staleText) return false;
    await rm(file, { force: true });
    return true;
  });
}

/** Error codes of a filesystem without hard links (SMB shares, some FUSE mounts). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** Put the lock written aside into place; EEXIST when a lock is there. */
async function place(written: string, file: string, mine: RunLockInfo): Promise<void> {
  try {
    await link(written, file);
  } catch (error) {
    if (!NO_HARD_LINKS.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    // No hard links here: exclusive create, then write (a reader may briefly see it empty).
    const handle = await open(file, 'wx');
    try {
      await handle.writeFile(JSON.stringify(mine));
    } finally {
      await handle.close();
    }
  }
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
  // The lock appears whole or not at all: written aside, then linked into place (link fails if it exists),
  // so no one ever reads a half-written lock of a live holder and takes it for a crashed one.
  const written = `${file}.${PROCESS_TOKEN}.new`;
  await writeFile(written, JSON.stringify(mine));
  for (let attempt = 0; ; attempt++) {
    try {
      await place(written, file, mine);
      await rm(written, { force: true });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        await rm(written, { force: true });
        throw error;
      }
      const lock = await readLock(file);
      const holder = lock && isLive(file, lock) ? lock.info : undefined;
      if (holder || attempt >= 2 || (lock && !(await removeStale(file, lock.text)))) {
        await rm(written, { force: true });
        throw new FerryError(
          'PIPELINE_BUSY',
          `pipeline '${pipeline}' is already running${holder ? ` (pid ${holder.pid} on ${holder.host}, since ${holder.startedAt})` : ''}: ` +
            `wait for it to finish. If that run is gone, its lock ${file} expires ${LOCK_STALE_MS / 1000} s after its last heartbeat.`,
          { context: { pipeline, lock: file, ...(holder ? { holder } : {}) } },
        );
      }
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
