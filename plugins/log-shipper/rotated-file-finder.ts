// Where did the rest of a file go? After a rename (logrotate's default, or while the agent
// was down) the same inode lives on under another name in the same directory; after
// copytruncate the unread tail is in a copy with the same first bytes but a new inode.
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type OpenFile, fingerprint, openFile } from './file-identity.ts';

export interface Lost {
  dev: number;
  ino: number;
  fpLen: number;
  fpHash: string;
  /** The copy must hold at least this many bytes to have anything left to read. */
  offset: number;
}

export interface Found {
  file: OpenFile;
  kind: 'renamed' | 'copied';
}

/**
 * Files already accounted for. Judge by identity where you can: names shift under a running
 * rotation (a tracker opened as app.log.1 may be app.log.2 now, and app.log.1 a new copy).
 */
export type Skip = (file: Entry) => boolean;

export interface Entry {
  path: string;
  dev: number;
  ino: number;
  size: number;
}

/** Regular files of a directory; `cache` lets one restore list each directory once. */
async function list(dir: string, cache?: Map<string, Entry[]>): Promise<Entry[]> {
  const hit = cache?.get(dir);
  if (hit) return hit;
  const out: Entry[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const p = join(dir, name);
    const st = await stat(p).catch(() => undefined);
    if (st?.isFile()) out.push({ path: p, dev: st.dev, ino: st.ino, size: st.size });
  }
  cache?.set(dir, out);
  return out;
}

/**
 * Looks in `path`'s directory, passing over what `skip` says is accounted for. The file found is
 * returned open, checked on its descriptor (it cannot be swapped between check and read).
 * Rotation goes on while the agent restores (logrotate shifting app.log.1 to app.log.2): when a
 * listed file turns out to have moved, the directory is listed again, so a file renamed under
 * the agent's feet is found under its newest name instead of being reported lost.
 */
export async function findRotated(path: string, lost: Lost, skip: Skip, scratch: Buffer, cache?: Map<string, Entry[]>): Promise<Found | undefined> {
  for (let attempt = 0; ; attempt++) {
    const found = await search(path, lost, skip, scratch, cache);
    if (found !== MOVED) return found;
    if (attempt >= 10) return undefined;
    cache?.delete(dirname(path));
  }
}

const MOVED = Symbol('moved');

async function search(path: string, lost: Lost, skip: Skip, scratch: Buffer, cache?: Map<string, Entry[]>): Promise<Found | undefined | typeof MOVED> {
  const copies: Entry[] = [];
  // Without a cache the listing is fresh: a move found then is a real race too, worth one more look.
  const listing = await list(dirname(path), cache);
  for (const st of listing) {
    if (skip(st)) continue;
    if (st.dev === lost.dev && st.ino === lost.ino) {
      const f = await verified(st, lost, scratch, true);
      if (f === MOVED) return MOVED;
      if (f) return { file: f, kind: 'renamed' };
      // Same inode, other content: truncated and rewritten, so only a copy can hold the rest.
      continue;
    }
    if (st.size > lost.offset && st.size >= lost.fpLen && lost.fpLen > 0) copies.push(st);
  }
  let moved = false;
  for (const st of copies) {
    const f = await verified(st, lost, scratch, false);
    if (f === MOVED) moved = true;
    else if (f) return { file: f, kind: 'copied' };
  }
  return moved ? MOVED : undefined;
}

/** The listed file, open and checked; MOVED if the name no longer holds the listed inode. */
async function verified(entry: Entry, lost: Lost, scratch: Buffer, sameInode: boolean): Promise<OpenFile | undefined | typeof MOVED> {
  const f = await openFile(entry.path, scratch).catch(() => undefined);
  if (!f) return MOVED;
  if (f.st.dev !== entry.dev || f.st.ino !== entry.ino) {
    await f.fh.close();
    return MOVED;
  }
  const ok =
    // Same inode but shorter than the offset: truncated and written again, even if the new first bytes match.
    (sameInode ? f.st.size >= lost.offset : f.st.size > lost.offset) && (await fingerprint(f.fh, lost.fpLen, scratch)) === lost.fpHash;
  if (ok) return f;
  await f.fh.close();
  return undefined;
}
