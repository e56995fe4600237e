// Builds a complete version in a fresh hidden directory of the target: unchanged files are
// hard-linked from the published version (files are never written in place, so sharing an
// inode is safe), changed ones are downloaded. Any failure removes the directory: a partial
// version is never published.
import { copyFile, link, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { syncTree } from '../../src/plugin-api.ts';
import type { AtomicPublisher } from './atomic-publisher.ts';
import type { Limits } from './config-schema.ts';
import { asTargetError } from './errors.ts';
import type { Source, SourceEntry } from './sources/source.ts';
import type { PublishedVersion } from './sync-state.ts';

export interface StagedVersion {
  dir: string;
  downloadedBytes: number;
  downloadedFiles: number;
}

export async function stageVersion(opts: {
  publisher: AtomicPublisher;
  source: Source;
  entries: readonly SourceEntry[];
  current: PublishedVersion | undefined;
  limits: Limits;
  signal: AbortSignal;
  onBytes: (n: number) => void;
}): Promise<StagedVersion> {
  const { publisher, source, entries, current, limits, signal } = opts;
  let dir: string;
  try {
    dir = await publisher.stage();
  } catch (err) {
    throw asTargetError(err, publisher.target);
  }
  const root = join(publisher.target, dir);
  const made = new Set<string>([root]);
  let downloadedBytes = 0;
  let downloadedFiles = 0;
  try {
    for (const entry of entries) {
      signal.throwIfAborted();
      const dest = join(root, entry.path);
      const parent = dirname(dest);
      if (!made.has(parent)) {
        await mkdir(parent, { recursive: true, mode: 0o755 });
        made.add(parent);
      }
      const old = current?.files[entry.path];
      if (current && old && old.fingerprint === entry.fingerprint && old.size === entry.size) {
        if (await reuse(join(publisher.target, current.dir, entry.path), dest)) continue;
      }
      const n = await source.download(entry, dest, limits.maxFileSize, signal);
      downloadedBytes += n;
      downloadedFiles++;
      opts.onBytes(n);
    }
    // Every byte and name of the version on disk before the swap can make it the published one.
    await syncTree(root);
    return { dir, downloadedBytes, downloadedFiles };
  } catch (err) {
    await publisher.discard(dir).catch(() => undefined);
    throw asTargetError(err, publisher.target);
  }
}

async function reuse(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch {
    try {
      await copyFile(from, to);
      return true;
    } catch {
      return false; // gone from the published version (someone deleted it): download again
    }
  }
}
