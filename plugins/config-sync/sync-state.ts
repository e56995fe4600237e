// What survives an agent restart (in ctx.dataDir): the published version, its manifest and
// the source's validators. On start the state is trusted only if `..data` still points at
// that version, so a fresh emptyDir gets a full sync and an intact one gets no republish.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  cursor?: SourceCursor;
  /** Highest generation ever published: generations never repeat, even after a rollback. */
  lastGeneration?: number;
  /** A version refused by validation or rolled back: not tried again until the source changes. */
  rejectedId?: string;
}

const FILE = 'state.json';

export async function loadState(dataDir: string): Promise<SyncState> {
  try {
    return JSON.parse(await readFile(join(dataDir, FILE), 'utf8')) as SyncState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return {};
    throw err;
  }
}

export async function saveState(dataDir: string, state: SyncState): Promise<void> {
  const tmp = join(dataDir, `${FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, join(dataDir, FILE));
}
