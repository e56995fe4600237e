// A local directory, typically a mounted ConfigMap. When it has the AtomicWriter layout we
// read through `..data` resolved once, so a kubelet swap in the middle of a poll cannot give
// us a mix of two versions. Fingerprints are content hashes, cached by inode/size/mtime, so
// a kubelet swap that changes nothing is not a change and an idle poll hashes nothing.
// Symlinks are followed only while they stay inside the source (the kubelet's own
// `name -> ..data/name` links do): one that leaves it (`b.txt -> /etc/passwd`, a link to an
// outside directory) fails the version, as an S3 key that escapes the prefix does.
import { createHash } from 'node:crypto';
import { copyFile, lstat, readFile, readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { ConfigSyncError } from '../errors.ts';
import { checkRelativePath } from '../safe-path.ts';
import type { Listing, Source, SourceEntry } from './source.ts';

const MAX_DEPTH = 32;
const RACY_MS = 2000;

export class DirSource implements Source {
  readonly description: string;
  private readonly root: string;
  private readonly maxFiles: number;
  private readonly maxBytes: number;
  private hashes = new Map<string, string>(); // "dev:ino:size:mtime" -> sha256
  private base = '';
  /** realpath of the source root, taken at each poll: links must resolve inside it. */
  private rootReal = '';

  constructor(root: string, limits: { maxFiles: number; maxFileSize: number }) {
    this.root = root;
    this.description = `dir:${root}`;
    this.maxFiles = limits.maxFiles;
    this.maxBytes = limits.maxFileSize;
  }

  async list(): Promise<Listing> {
    // The kubelet deletes the old version right after the swap: a walk of it can fail, or worse,
    // see a half-deleted directory without an error. Only a walk that ends with `..data` still
    // naming the version it started on is trusted; otherwise walk the new one.
    for (let attempt = 1; ; attempt++) {
      const base = await resolveBase(this.root);
      this.rootReal = await realpath(this.root);
      const entries: SourceEntry[] = [];
      const seen = new Map<string, string>();
      let failure: unknown;
      try {
        await this.walk(base, '', 0, entries, seen);
      } catch (err) {
        failure = err;
      }
      const moved = (await resolveBase(this.root)) !== base;
      if (moved && attempt < 3) continue;
      if (moved) throw new ConfigSyncError('ERR_SIDEKICK_SYNC_SOURCE_CHANGED', `${this.root} changed while it was listed`);
      if (failure) throw failure;
      this.base = base;
      this.hashes = seen; // forget files that are gone
      return { entries };
    }
  }

  private async walk(dir: string, rel: string, depth: number, out: SourceEntry[], seen: Map<string, string>): Promise<void> {
    if (depth > MAX_DEPTH) throw new ConfigSyncError('ERR_SIDEKICK_SYNC_LIMIT', `${dir}: deeper than ${MAX_DEPTH} levels (symlink loop?)`);
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      if (name.startsWith('..')) continue; // AtomicWriter internals (..data, ..2026_...)
      const path = rel ? `${rel}/${name}` : name;
      const full = join(dir, name);
      if ((await lstat(full)).isSymbolicLink()) await this.checkLink(full, path);
      const st = await stat(full); // follows the top-level `name -> ..data/name` links
      if (st.isDirectory()) {
        await this.walk(full, path, depth + 1, out, seen);
        continue;
      }
      if (!st.isFile()) continue;
      if (out.length >= this.maxFiles) {
        throw new ConfigSyncError('ERR_SIDEKICK_SYNC_LIMIT', `${this.root}: more than limits.maxFiles (${this.maxFiles}) files`);
      }
      if (st.size > this.maxBytes) {
        throw new ConfigSyncError('ERR_SIDEKICK_SYNC_LIMIT', `${path} is larger than limits.maxFileSize (${this.maxBytes} bytes)`);
      }
      const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
      let hash = this.hashes.get(key);
      if (!hash) hash = createHash('sha256').update(await readFile(full)).digest('hex');
      // File times tick at the kernel's coarse clock and inodes are reused, so a file rewritten
      // within a tick can look unchanged. As git does with "racy" entries, trust the cache only
      // for files last modified well before now.
      if (Date.now() - st.mtimeMs > RACY_MS) seen.set(key, hash);
      out.push({ path: checkRelativePath(path), fingerprint: hash, size: st.size });
    }
  }

  /** A link (or a chain of them) must end inside the source directory. */
  private async checkLink(full: string, path: string): Promise<void> {
    let resolved: string;
    try {
      resolved = await realpath(full);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // dangling: stat() reports it
      throw err;
    }
    if (resolved !== this.rootReal && !resolved.startsWith(this.rootReal + sep)) {
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_UNSAFE_PATH', `${path} in ${this.root} is a symlink that leaves the source (to ${resolved}); refused`);
    }
  }

  async download(entry: SourceEntry, file: string): Promise<number> {
    const from = join(this.base, entry.path);
    // Listed and copied at different moments: a link swapped in between is checked again.
    const resolved = await realpath(from).catch(() => from);
    if (resolved !== this.rootReal && !resolved.startsWith(this.rootReal + sep)) {
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_UNSAFE_PATH', `${entry.path} in ${this.root} resolves outside the source (to ${resolved}); refused`);
    }
    try {
      await copyFile(resolved, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_SOURCE_CHANGED', `${entry.path} disappeared from ${this.root} while it was copied`, { cause: err });
    }
    const st = await stat(file);
    if (st.size !== entry.size) {
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_SOURCE_CHANGED', `${entry.path} changed while it was copied`);
    }
    return st.size;
  }
}

async function resolveBase(root: string): Promise<string> {
  try {
    return await realpath(join(root, '..data'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    await stat(root);
  } catch (err) {
    throw new ConfigSyncError('ERR_SIDEKICK_SYNC_SOURCE', `source directory ${root}: ${(err as Error).message}`, { cause: err });
  }
  return root;
}
