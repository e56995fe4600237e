// A file is device + inode + a hash of its first bytes. The inode alone is reused by the
// filesystem (a new file would inherit an old offset); the first bytes alone collide for
// small or same-header files. Together neither happens.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

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
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, got);
    if (bytesRead === 0) return undefined;
    got += bytesRead;
  }
  return createHash('sha256').update(buf.subarray(0, len)).digest('base64url').slice(0, 22);
}

export function sameInode(a: { dev: number; ino: number }, b: { dev: number; ino: number }): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}
