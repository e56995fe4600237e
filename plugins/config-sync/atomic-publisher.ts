// Publishes a directory the way the kubelet's AtomicWriter does: every version in its own
// hidden `..<timestamp>` directory, a `..data` symlink replaced by rename(2) (one atomic step
// that switches every file at once), and stable top-level `name -> ..data/name` links.
import { randomInt } from 'node:crypto';
import { lstat, mkdir, readdir, readlink, rename, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from '../../src/plugin-api.ts';
import { ConfigSyncError } from './errors.ts';

const DATA = '..data';
const DATA_TMP = '..data_tmp';

export class AtomicPublisher {
  readonly target: string;

  constructor(target: string) {
    this.target = target;
  }

  async init(): Promise<void> {
    await mkdir(this.target, { recursive: true, mode: 0o755 });
  }

  /** Name of the version directory `..data` points at, if any. */
  async current(): Promise<string | undefined> {
    try {
      return await readlink(join(this.target, DATA));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** A fresh, empty version directory inside the target (same filesystem, so the swap is a rename). */
  async stage(): Promise<string> {
    const name = versionDirName(new Date());
    await mkdir(join(this.target, name), { mode: 0o755 });
    return name;
  }

  /**
   * Switch `..data` to `version`; visible links follow `topLevel`; versions not in `keep` are
   * removed. Throws only if `version` did not go live (the caller may discard it); a failed
   * clean-up after the switch is returned instead, for the log.
   */
  async commit(version: string, topLevel: ReadonlySet<string>, keep: readonly string[]): Promise<Error | undefined> {
    for (const name of topLevel) await this.ensureVisibleLink(name);
    const tmp = join(this.target, DATA_TMP);
    await rm(tmp, { force: true });
    await symlink(version, tmp);
    // The version directory's name and the visible links reach the disk before `..data` can
    // point at them, and the swap itself once it is done: after a power loss `..data` names one
    // complete version (the staged tree was synced by stageVersion).
    await syncDir(this.target);
    await rename(tmp, join(this.target, DATA));
    await syncDir(this.target);
    try {
      await this.removeStaleLinks(topLevel);
      await this.prune([version, ...keep]);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }

  async discard(version: string): Promise<void> {
    await rm(join(this.target, version), { recursive: true, force: true });
  }

  /** Remove version directories (and a leftover `..data_tmp`) not listed in `keep`. */
  async prune(keep: readonly string[]): Promise<void> {
    for (const name of await readdir(this.target)) {
      if (!name.startsWith('..') || name === DATA || keep.includes(name)) continue;
      await rm(join(this.target, name), { recursive: true, force: true });
    }
  }

  private async ensureVisibleLink(name: string): Promise<void> {
    const path = join(this.target, name);
    const want = `${DATA}/${name}`;
    try {
      const st = await lstat(path);
      if (st.isSymbolicLink() && (await readlink(path)) === want) return;
      throw new ConfigSyncError(
        'ERR_SIDEKICK_SYNC_PUBLISH',
        `${path} exists and is not the link ${want}; the target must be managed by config-sync only`,
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await symlink(want, path);
  }

  private async removeStaleLinks(topLevel: ReadonlySet<string>): Promise<void> {
    for (const name of await readdir(this.target)) {
      if (name.startsWith('..') || topLevel.has(name)) continue;
      const path = join(this.target, name);
      const st = await lstat(path);
      // Only our own links: anything else in the target was put there by someone else.
      if (st.isSymbolicLink() && (await readlink(path)).startsWith(`${DATA}/`)) await unlink(path);
    }
  }
}

function versionDirName(at: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp = `${at.getUTCFullYear()}_${p(at.getUTCMonth() + 1)}_${p(at.getUTCDate())}_${p(at.getUTCHours())}_${p(at.getUTCMinutes())}_${p(at.getUTCSeconds())}`;
  // Milliseconds plus random digits: two versions in the same millisecond still get their own directory.
  return `..${stamp}.${p(at.getUTCMilliseconds(), 3)}${p(randomInt(1_000_000), 6)}`;
}
