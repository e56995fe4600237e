// Files created and rotated away entirely while the agent was down: logrotate ran twice (or
// the app rotated twice), so a whole file now sits under a rotated name the globs do not
// match (app.log.1, app.log-20261124, app-20261124.log), with no checkpoint of its own.
// A rotated sibling of a checkpointed path (or of a path the globs match now: the agent may
// have died before it ever saw the first such file), written to after the last checkpoint was
// saved and not a file already known by identity, can only be such a file: it is read from 0.
// Older siblings (rotations from before the agent was installed or before the stop) are left alone.
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { Checkpoint } from './checkpoint-store.ts';
import { type OpenFile, fingerprint, openFile } from './file-identity.ts';

/** What rotation tools compress to: never tailed as text. */
const COMPRESSED = /\.(gz|bz2|xz|zst|lz4|z|zip|br)$/i;

/** app.log -> app.log.1, app.log-2026..., app.log_old; with logrotate's `extension .log`: app-2026....log, app.1.log. */
export function isRotatedName(base: string, name: string): boolean {
  if (name === base || COMPRESSED.test(name)) return false;
  if (name.startsWith(base) && /^[.\-_]./.test(name.slice(base.length))) return true;
  const ext = extname(base);
  if (ext === '') return false;
  const stem = base.slice(0, -ext.length);
  return name.endsWith(ext) && name.startsWith(stem) && /^[.\-_]./.test(name.slice(stem.length, -ext.length));
}

export interface MissedOptions {
  /** When the checkpoints were last saved (ms): only files written since are candidates. */
  since: number;
  /** Names never to look at (matched by the globs, or excluded by them). */
  skip: (path: string) => boolean;
  /** Files already being read, by identity (their names may have moved on since they were opened). */
  taken?: (st: { dev: number; ino: number }) => boolean;
  /** Paths the globs match now: their rotated siblings are looked for too. */
  matched?: string[];
  scratch: Buffer;
}

/** The missed files, open, oldest first (the order they were written in). */
export async function findMissedRotations(checkpoints: Checkpoint[], opts: MissedOptions): Promise<OpenFile[]> {
  const bases = new Map<string, Set<string>>();
  for (const path of [...checkpoints.map((c) => c.path), ...(opts.matched ?? [])]) {
    const dir = dirname(path);
    if (!bases.has(dir)) bases.set(dir, new Set());
    bases.get(dir)!.add(basename(path));
  }
  const found: Array<{ file: OpenFile; mtime: number }> = [];
  for (const [dir, names] of bases) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const path = join(dir, name);
      if (opts.skip(path) || ![...names].some((b) => isRotatedName(b, name))) continue;
      const st = await stat(path).catch(() => undefined);
      if (!st?.isFile() || st.size === 0 || st.mtimeMs < opts.since) continue;
      const file = await openFile(path, opts.scratch).catch(() => undefined);
      if (!file) continue;
      if (opts.taken?.(file.st) || (await known(file, checkpoints, opts.scratch))) await file.fh.close();
      else found.push({ file, mtime: st.mtimeMs });
    }
  }
  return found.sort((a, b) => a.mtime - b.mtime).map((f) => f.file);
}

/** A checkpointed file under another name (same inode and first bytes): not a missed one. */
async function known(file: OpenFile, checkpoints: Checkpoint[], scratch: Buffer): Promise<boolean> {
  for (const c of checkpoints) {
    // An entry of a file that was empty (no fingerprint) tells nothing of content: its inode, freed
    // (an empty live file deleted), is handed to the next new file, which is not that file.
    if (c.fpLen === 0) continue;
    if (c.dev === file.st.dev && c.ino === file.st.ino && (await fingerprint(file.fh, c.fpLen, scratch)) === c.fpHash) return true;
  }
  return false;
}
