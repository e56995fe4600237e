// At start: which offset each file resumes from. A checkpoint matches a file by device +
// inode + first bytes (checked on the open descriptor); checkpoints left over belong to
// files rotated (renamed or copied) while the agent was down, looked for in the same
// directory, or to files that are gone.
import type { Checkpoint } from './checkpoint-store.ts';
import { type OpenFile, fingerprint, openFile } from './file-identity.ts';
import { findMissedRotations } from './missed-rotations.ts';
import { type Entry, type Found, findRotated } from './rotated-file-finder.ts';

/** Directory listings shared by one restore's searches (each directory listed once). */
type Listings = Map<string, Entry[]>;

export interface RestorePlan {
  open: Array<{ file: OpenFile; offset: number | 'end'; state: 'active' | 'draining' }>;
  rotated: Array<{ file: string; now: string; kind: string; offset: number }>;
  lost: Array<{ path: string; bytes: number }>;
  /** Files created and rotated away while the agent was down, read from 0. */
  missed: string[];
}

export interface RestoreOptions {
  readFrom: 'beginning' | 'end';
  /** When the checkpoints were saved (ms since the epoch), if there were any. */
  savedAt: number | undefined;
  /** Files changed since then may never have been seen by the stopped agent (default: savedAt). */
  unseenSince?: number;
  /** Paths the agent would never tail (the exclude globs). */
  excluded: (path: string) => boolean;
}

/** `paths`: the files the globs match now. Every file in the plan is open. */
export async function planRestore(paths: string[], checkpoints: Checkpoint[], opts: RestoreOptions, scratch: Buffer): Promise<RestorePlan> {
  const plan = await resumeCheckpointed(paths, checkpoints, opts, scratch);
  if (opts.savedAt !== undefined) await addMissedRotations(plan, paths, checkpoints, opts.unseenSince ?? opts.savedAt, opts.excluded, scratch);
  return plan;
}

/**
 * Where each checkpointed file is now, and the live files with no checkpoint. Files already in
 * the plan are judged by identity, never by the name they had when found: the app may rotate
 * while the agent restores, and a name planned a moment ago may hold another file now.
 */
export async function resumeCheckpointed(paths: string[], checkpoints: Checkpoint[], opts: RestoreOptions, scratch: Buffer, listings: Listings = new Map()): Promise<RestorePlan> {
  const { readFrom } = opts;
  const plan: RestorePlan = { open: [], rotated: [], lost: [], missed: [] };
  const used = new Set<Checkpoint>();
  const fresh: Array<{ file: OpenFile; known: boolean }> = [];
  for (const path of paths) {
    const file = await openFile(path, scratch);
    if (!file) continue;
    const { st, fh } = file;
    // Same inode is not enough (inodes are reused): the first bytes must match too.
    const sameInode = checkpoints.filter((c) => c.dev === st.dev && c.ino === st.ino && !used.has(c));
    let cp: Checkpoint | undefined;
    // Several entries for one file (renamed while its first reader was unacknowledged): the lowest offset is the safe one.
    for (const c of sameInode) {
      // An entry with no fingerprint but an offset (an older agent's) cannot tell a reused inode: not resumed.
      if ((c.fpLen > 0 || c.offset === 0) && st.size >= c.offset && (!cp || c.offset < cp.offset) && (await fingerprint(fh, c.fpLen, scratch)) === c.fpHash) cp = c;
    }
    if (cp) {
      for (const c of sameInode) if (c.fpHash === cp.fpHash) used.add(c);
      plan.open.push({ file, offset: cp.offset, state: 'active' });
    } else fresh.push({ file, known: sameInode.length > 0 });
  }
  const unfound: Checkpoint[] = [];
  const opened = (e: { dev: number; ino: number }) => plan.open.some((o) => o.file.st.dev === e.dev && o.file.st.ino === e.ino);
  const settle = async (cp: Checkpoint, found: Found) => {
    plan.rotated.push({ file: cp.path, now: found.file.path, kind: found.kind, offset: cp.offset });
    const i = fresh.findIndex((f) => f.file.path === found.file.path);
    plan.open.push({ file: found.file, offset: cp.offset, state: i >= 0 ? 'active' : 'draining' });
    // The same file's other entries are read by this one, not lost.
    for (const c of checkpoints) if (c.dev === cp.dev && c.ino === cp.ino && c.fpHash === cp.fpHash) used.add(c);
    if (i >= 0) await fresh.splice(i, 1)[0]!.file.fh.close();
  };
  // Lowest offset first: a file checkpointed twice (under two names) resumes from the safe one.
  for (const cp of [...checkpoints].sort((a, b) => a.offset - b.offset)) {
    // Entries of files finished before the stop and no longer matched are dropped here,
    // so the state file does not grow forever.
    if (used.has(cp) || cp.done) continue;
    const found = await findRotated(cp.path, cp, opened, scratch, listings);
    if (found) await settle(cp, found);
    else if (cp.size > cp.offset) unfound.push(cp);
  }
  // The listings may predate a rotation made during the restore (a copy created since): one
  // fresh look before a file is called lost.
  const relisted: Listings = new Map();
  for (const cp of unfound) {
    if (used.has(cp)) continue;
    const found = await findRotated(cp.path, cp, opened, scratch, relisted);
    if (found) await settle(cp, found);
  }
  // A truncated file and its copy can both be checkpointed for a moment (same first bytes): once
  // one of them is found, the other is the same content, not a loss.
  const foundContent = new Set([...used].filter((c) => c.fpLen > 0).map((c) => `${c.fpLen}:${c.fpHash}`));
  for (const cp of unfound) if (!used.has(cp) && !foundContent.has(`${cp.fpLen}:${cp.fpHash}`)) plan.lost.push({ path: cp.path, bytes: cp.size - cp.offset });
  // `readFrom: end` is for the files present at the very first start: once there are checkpoints,
  // a file not in them appeared while the agent was down and is read whole, like any new file.
  const firstStart = opts.savedAt === undefined;
  for (const f of fresh) plan.open.push({ file: f.file, offset: f.known || readFrom === 'beginning' || !firstStart ? 0 : 'end', state: 'active' });
  return plan;
}

/**
 * Adds the files created and rotated away while the agent was down (changed since `since`), read
 * from 0. A file the plan holds open is passed over by identity: under a running rotation the
 * name it was found by may hold the very file this looks for (found by the soak: it was skipped).
 */
export async function addMissedRotations(plan: RestorePlan, paths: string[], checkpoints: Checkpoint[], since: number, excluded: (path: string) => boolean, scratch: Buffer): Promise<void> {
  const matched = new Set(paths);
  const planned = new Set(plan.open.map((o) => `${o.file.st.dev}:${o.file.st.ino}`));
  const skip = (p: string) => matched.has(p) || excluded(p);
  const taken = (st: { dev: number; ino: number }) => planned.has(`${st.dev}:${st.ino}`);
  for (const file of await findMissedRotations(checkpoints, { since, skip, taken, scratch, matched: paths })) {
    plan.missed.push(file.path);
    plan.open.push({ file, offset: 0, state: 'draining' });
  }
}
