// Acknowledged read positions, persisted in the instance's data directory the safe way:
// write a temp file, fsync it, rename it over the old one, fsync the directory.
// Writes are coalesced: at most one in flight, and one more if something changed meanwhile.
import { open, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface Checkpoint {
  path: string;
  dev: number;
  ino: number;
  fpLen: number;
  fpHash: string;
  /** Acknowledged offset: everything before it reached the sink. */
  offset: number;
  /** Size last seen, to count bytes lost if the file disappears unshipped. */
  size: number;
  /** Read to its end and closed (rotated away): remembered only so it is not read again. */
  done?: boolean;
}

const VERSION = 1;

export class CheckpointStore {
  readonly file: string;
  private writing: Promise<void> | undefined;
  private again = false;
  private readonly collect: () => Checkpoint[];
  /** When the loaded checkpoints were written (the file's mtime, ms), if there was a file. */
  savedAt: number | undefined;

  constructor(dataDir: string, collect: () => Checkpoint[]) {
    this.file = join(dataDir, 'checkpoints.json');
    this.collect = collect;
  }

  async load(): Promise<Checkpoint[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
      this.savedAt = (await stat(this.file)).mtimeMs;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    let data: { version?: number; files?: Checkpoint[] } | undefined;
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
    if (data?.version === VERSION && Array.isArray(data.files)) return data.files;
    // Unreadable state must not keep the agent down: set it aside (for a human) and start over.
    // Files are then read from their start: duplicates, never loss.
    const aside = `${this.file}.unreadable-${Date.now()}`;
    await rename(this.file, aside);
    throw new UnreadableCheckpoints(aside);
  }

  /** Schedules a write of the current positions; resolves when one that includes them is done. */
  save(): Promise<void> {
    if (this.writing) {
      this.again = true;
      return this.writing;
    }
    this.writing = this.writeLoop().finally(() => (this.writing = undefined));
    return this.writing;
  }

  private async writeLoop(): Promise<void> {
    do {
      this.again = false;
      await this.write(this.collect());
    } while (this.again);
  }

  private async write(files: Checkpoint[]): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify({ version: VERSION, savedAt: new Date().toISOString(), files }));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    const dir = await open(join(this.file, '..'), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

export class UnreadableCheckpoints extends Error {
  readonly code = 'ERR_LOG_SHIPPER_CHECKPOINTS';
  readonly aside: string;
  constructor(aside: string) {
    super(`checkpoint file unreadable; moved to ${aside}, starting without checkpoints`);
    this.aside = aside;
  }
}
