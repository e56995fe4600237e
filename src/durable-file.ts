// Writes that survive power loss, not only a crash of the process. rename(2) alone is atomic
// for running readers, but after a power cut the new name can point at a file whose bytes never
// reached the disk (ext4 data=writeback, XFS), or the rename itself can be undone because the
// directory was not flushed. The order that holds on every Linux filesystem: write a temporary
// file, fsync it, rename it over the old one, fsync the directory.
import { open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface DurableWriteOptions {
  /** File mode of a newly created file (default 0o644, minus the umask). */
  mode?: number;
  /**
   * Temporary name (default `<path>.tmp`). A fixed name means a write cut short by a kill leaves
   * one stale file that the next write replaces, never a growing heap of them.
   */
  tmp?: string;
}

/**
 * Replaces `path` with `data` atomically and durably: readers see the old or the new content,
 * never a mix, and once this resolves the new content survives a power loss. On failure (a full
 * disk) the temporary file is removed and the old content stays.
 */
export async function writeFileDurably(path: string, data: string | Uint8Array, opts: DurableWriteOptions = {}): Promise<void> {
  const tmp = opts.tmp ?? `${path}.tmp`;
  try {
    const fh = await open(tmp, 'w', opts.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDir(dirname(path));
}

/** Flushes a directory's entries (names created, renamed or removed in it) to the disk. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** rename(2), then the directories of both names flushed: the move survives a power loss. */
export async function renameDurably(from: string, to: string): Promise<void> {
  await rename(from, to);
  await syncDir(dirname(to));
  if (dirname(from) !== dirname(to)) await syncDir(dirname(from));
}

/**
 * Flushes every file and directory under `root` (and `root` itself), deepest first, so a tree
 * built file by file (a staged version) is whole on disk before a rename makes it visible.
 * Symbolic links are not followed.
 */
export async function syncTree(root: string): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) await syncTree(path);
    else if (entry.isFile()) await syncFile(path);
  }
  await syncDir(root);
}

/** fsync of a file already written (and closed) by someone else, e.g. a download stream. */
export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

