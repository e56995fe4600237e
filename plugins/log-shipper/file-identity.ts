// A file is device + inode + a hash of its first bytes. The inode alone is reused by the
// filesystem (a new file would inherit an old offset); the first bytes alone collide for
// small or same-header files. Together neither happens.
import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';

export interface FileIdentity {
  dev: number;
  ino: number;
  /** How many leading bytes the hash covers (less than fingerprintSize while the file is small). */
  fpLen: number;
  fpHash: string;
}

/** Hash of the first `len` bytes, or undefined if the file has fewer. */
export async function fingerprint(fh: FileHandle, len: number, scratch: Buffer): Promise<string | undefined> {
  if (len === 0) return '';
  const buf = len <= scratch.length ? scratch : Buffer.allocUnsafe(len);
  if ((await readStart(fh, len, buf)) < len) return undefined;
  return hashHead(buf.subarray(0, len));
}

/** Reads the file's first `len` bytes into `into` (from 0); returns how many there were. */
export async function readStart(fh: FileHandle, len: number, into: Buffer): Promise<number> {
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(into, got, len - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** The identity hash of a file's first bytes (as `fingerprint` computes it from the file). */
export function hashHead(bytes: Buffer): string {
  return bytes.length === 0 ? '' : createHash('sha256').update(bytes).digest('base64url').slice(0, 22);
}

export function sameInode(a: { dev: number; ino: number }, b: { dev: number; ino: number }): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * An open file and what fstat says about it. Identity decisions are made on the open
 * descriptor, never on a path stat followed by an open: a rotation in between would make
 * the two different files.
 */
export interface OpenFile {
  path: string;
  fh: FileHandle;
  st: { dev: number; ino: number; size: number };
  /**
   * Its first bytes as they were when it was opened (up to the scratch buffer's length). A tracker's
   * identity is made of these and of what it reads itself, never of a later read: a file
   * copytruncated in between would pass for unchanged, and its copy would never be looked for.
   */
  head: Buffer;
}

/**
 * Opens a regular file and reads its identity at once; undefined if it is gone or not a regular
 * file (errors other than ENOENT are thrown). `scratch` is fingerprintSize long.
 */
export async function openFile(path: string, scratch: Buffer): Promise<OpenFile | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') return undefined;
    throw err;
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    return undefined;
  }
  const got = await readStart(fh, Math.min(st.size, scratch.length), scratch);
  // Fewer bytes than the stat said: truncated since. The identity is what is there now.
  return { path, fh, st: { dev: st.dev, ino: st.ino, size: st.size }, head: Buffer.from(scratch.subarray(0, got)) };
}
