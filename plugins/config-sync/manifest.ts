// A listing turned into a manifest: limits checked, file/directory clashes refused, an id
// that is equal for equal content, and the difference to the published version.
import { createHash } from 'node:crypto';
import type { Limits } from './config-schema.ts';
import { ConfigSyncError } from './errors.ts';
import type { SourceEntry } from './sources/source.ts';
import type { ManifestEntry } from './sync-state.ts';

export function checkListing(entries: readonly SourceEntry[], limits: Limits): void {
  if (entries.length > limits.maxFiles) {
    throw new ConfigSyncError('ERR_SIDEKICK_SYNC_LIMIT', `source has ${entries.length} files, more than limits.maxFiles (${limits.maxFiles})`);
  }
  let total = 0;
  const paths = new Set<string>();
  for (const e of entries) {
    if (e.size > limits.maxFileSize) {
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_LIMIT', `${e.path} is ${e.size} bytes, larger than limits.maxFileSize (${limits.maxFileSize})`);
    }
    total += e.size;
    if (paths.has(e.path)) throw new ConfigSyncError('ERR_SIDEKICK_SYNC_UNSAFE_PATH', `${e.path} appears twice in the source`);
    paths.add(e.path);
  }
  if (total > limits.maxTotalSize) {
    throw new ConfigSyncError('ERR_SIDEKICK_SYNC_LIMIT', `source totals ${total} bytes, more than limits.maxTotalSize (${limits.maxTotalSize})`);
  }
  for (const path of paths) {
    for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
      if (paths.has(path.slice(0, i))) {
        throw new ConfigSyncError('ERR_SIDEKICK_SYNC_UNSAFE_PATH', `${path.slice(0, i)} is both a file and a directory in the source`);
      }
    }
  }
}

export function manifestId(entries: readonly SourceEntry[]): string {
  const hash = createHash('sha256');
  for (const e of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    hash.update(`${e.path}\0${e.fingerprint}\0${e.size}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

export interface Diff {
  added: number;
  modified: number;
  deleted: number;
}

export function diffManifest(entries: readonly SourceEntry[], current: Record<string, ManifestEntry> | undefined): Diff {
  const diff = { added: 0, modified: 0, deleted: 0 };
  let kept = 0;
  for (const e of entries) {
    const old = current?.[e.path];
    if (!old) diff.added++;
    else {
      kept++;
      if (old.fingerprint !== e.fingerprint || old.size !== e.size) diff.modified++;
    }
  }
  diff.deleted = Object.keys(current ?? {}).length - kept;
  return diff;
}
