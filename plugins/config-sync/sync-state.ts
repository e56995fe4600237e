// What survives an agent restart (in ctx.dataDir): the published version, its manifest and
// the source's validators. On start the state is trusted only if `..data` still points at
// that version, so a fresh emptyDir gets a full sync and an intact one gets no republish.
// The state is written before `..data` moves (`pending`, `reloadOwed`), not only after: a
// kill between the swap and the next save must neither reuse a generation nor forget that
// the app has not been told.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from '../../src/plugin-api.ts';
import { ConfigSyncError } from './errors.ts';
import type { SourceCursor } from './sources/source.ts';

export interface ManifestEntry {
  fingerprint: string;
  size: number;
}

export interface PublishedVersion {
  /** Directory name inside the target, e.g. `..2026_11_24_12_00_00.123456789`. */
  dir: string;
  /** Hash of the manifest: equal versions have equal ids whatever the source. */
  id: string;
  generation: number;
  publishedAt: string;
  files: Record<string, ManifestEntry>;
}

export interface SyncState {
  current?: PublishedVersion;
  previous?: PublishedVersion;
  /**
   * The version `..data` is about to point at (written before the swap). At start, if `..data`
   * points at it, the swap happened: it is the current version and `current` the previous one
   * (none after a rollback: the version rolled away from is the rejected one).
   */
  pending?: PublishedVersion & { rollback?: boolean; cursor?: SourceCursor };
  cursor?: SourceCursor;
  /** Highest generation ever published: generations never repeat, even after a rollback. */
  lastGeneration?: number;
  /** A version refused by validation or rolled back: not tried again until the source changes. */
  rejectedId?: string;
  /**
   * Generation the app may not have been told about (set before the swap, cleared once a
   * reload of it, and its health check, finished): a restart reloads the app again.
   */
  reloadOwed?: number;
}

const FILE = 'state.json';
const TMP = `${FILE}.tmp`;

export async function loadState(dataDir: string): Promise<SyncState> {
  // A save cut short by a kill leaves its temporary file; it is never read.
  await rm(join(dataDir, TMP), { force: true }).catch(() => undefined);
  try {
    return JSON.parse(await readFile(join(dataDir, FILE), 'utf8')) as SyncState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return {};
    throw err;
  }
}

/** Temp file, fsync, rename, fsync of the directory; a failure (full disk) removes the temporary file and throws ERR_SIDEKICK_SYNC_STATE. */
export async function saveState(dataDir: string, state: SyncState): Promise<void> {
  try {
    // Durably: the state (`pending`, `reloadOwed`) must be on disk before `..data` moves.
    await writeFileDurably(join(dataDir, FILE), JSON.stringify(state), { tmp: join(dataDir, TMP) });
  } catch (err) {
    throw new ConfigSyncError('ERR_SIDEKICK_SYNC_STATE', `cannot save the state in ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
}
