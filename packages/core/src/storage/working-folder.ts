import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../errors.ts';
import { writeFileAtomic } from '../util/fs.ts';

/**
 * The marker file Ferry writes into every working folder it creates (`<data_dir>/<pipeline>/`). Ferry
 * deletes only inside folders that carry it: `ferry pipeline sync`, `drop` and the run lock's cleanup
 * refuse any other folder, so a `data_dir` pointed at someone else's files never costs them.
 */
export const WORKING_FOLDER_MARKER = '.ferry-working-folder';

/**
 * What Ferry itself keeps in a working folder. A folder without the marker (made by a Ferry from before
 * the marker) whose entries are all of these is recognised as Ferry's and gets the marker; any other
 * entry makes the folder someone else's.
 */
const FERRY_ENTRIES: ReadonlySet<string> = new Set([
  'extracted',
  'normalized',
  'loaded',
  'failed',
  'tmp',
  'schemas',
  'state.json',
  'trace.json',
  'run.lock',
  'run.lock.mutex',
  WORKING_FOLDER_MARKER,
]);
/** `writeFileAtomic`'s temp names (`state.json.tmp-<pid>-<random>`), left by a crash mid-write. */
const ATOMIC_TEMP = /^(.+)\.tmp-\d+-[a-z0-9]+$/;

function isFerryEntry(name: string): boolean {
  if (FERRY_ENTRIES.has(name)) return true;
  const m = ATOMIC_TEMP.exec(name);
  return m !== null && FERRY_ENTRIES.has(m[1]!);
}

/** Whose a folder is: `absent`, `owned` (has the marker), `ferry` (Ferry's layout, no marker yet), `empty` or `foreign`. */
export type FolderOwnership = 'absent' | 'owned' | 'ferry' | 'empty' | 'foreign';

/** Judge a folder; `strangers` lists entries Ferry never writes (at most 5, for messages). */
export async function folderOwnership(dir: string): Promise<{ kind: FolderOwnership; strangers: string[] }> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'absent', strangers: [] };
    if (code === 'ENOTDIR') return { kind: 'foreign', strangers: [path.basename(dir)] };
    throw error;
  }
  if (entries.includes(WORKING_FOLDER_MARKER)) return { kind: 'owned', strangers: [] };
  if (entries.length === 0) return { kind: 'empty', strangers: [] };
  const strangers = entries.filter((e) => !isFerryEntry(e));
  return strangers.length === 0
    ? { kind: 'ferry', strangers: [] }
    : { kind: 'foreign', strangers: strangers.sort().slice(0, 5) };
}

function notOwned(dir: string, action: string, strangers: string[]): FerryError {
  return new FerryError(
    'FOLDER_NOT_OWNED',
    `refusing to ${action} ${dir}: Ferry did not create this folder (it has no ${WORKING_FOLDER_MARKER} file` +
      `${strangers.length > 0 ? ` and holds files Ferry never writes: ${strangers.join(', ')}` : ''}). ` +
      `Point data_dir (FERRY_DATA_DIR) at a folder of its own, or move those files away; Ferry deletes only in folders it created.`,
    { context: { folder: dir, strangers } },
  );
}

/**
 * Make `dir` a working folder of Ferry's, or refuse: an absent folder is created with the marker; an
 * empty folder, or one in Ferry's own layout without a marker (older Ferry), gets the marker; a folder
 * holding anything else throws `FOLDER_NOT_OWNED` naming it, and nothing in it is touched.
 */
export async function claimWorkingFolder(dir: string, pipelineName: string): Promise<void> {
  const { kind, strangers } = await folderOwnership(dir);
  if (kind === 'owned') return;
  if (kind === 'foreign') throw notOwned(dir, 'use', strangers);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(
    path.join(dir, WORKING_FOLDER_MARKER),
    `${JSON.stringify({ createdBy: 'ferry', pipeline: pipelineName, createdAt: new Date().toISOString(), adopted: kind === 'ferry' })}\n`,
  );
}

/**
 * Throw `FOLDER_NOT_OWNED` naming `dir` unless it carries the marker; call before deleting anything in
 * it. `action` completes "refusing to … <dir>".
 */
export async function assertOwnedFolder(dir: string, action: string): Promise<void> {
  const { kind, strangers } = await folderOwnership(dir);
  if (kind !== 'owned') throw notOwned(dir, action, strangers);
}

/**
 * Delete a working folder's contents, keeping the marker and the run lock (`keep`), after checking the
 * marker. Nothing outside `dir` is touched and symlinks are removed, never followed.
 */
export async function wipeWorkingFolder(dir: string, keep: readonly string[]): Promise<void> {
  await assertOwnedFolder(dir, 'delete');
  const kept = new Set([WORKING_FOLDER_MARKER, ...keep]);
  for (const name of await readdir(dir)) {
    if (kept.has(name)) continue;
    await rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/** Remove an emptied working folder: its marker, then the folder if nothing else is left. */
export async function removeWorkingFolder(dir: string): Promise<void> {
  const { kind } = await folderOwnership(dir);
  if (kind !== 'owned') return;
  const rest = (await readdir(dir)).filter((n) => n !== WORKING_FOLDER_MARKER);
  if (rest.length > 0) return; // someone started using it again: leave it
  await rm(path.join(dir, WORKING_FOLDER_MARKER), { force: true });
  await rmdir(dir).catch(() => undefined);
}
