// Acknowledged read positions, persisted in the instance's data directory the safe way:
// write a temp file, fsync it, rename it over the old one, fsync the directory.
// Writes are coalesced: at most one in flight, and one more if something changed meanwhile.
import { open, readFile, rename } from 'node:fs/promises';
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

  constructor(dataDir: string, collect: () => Checkpoint[]) {
    this.file = join(dataDir, 'checkpoints.json');
    this.collect = collect;
  }

  async load(): Promise<Checkpoint[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const data = JSON.parse(text) as { version: number; files: Checkpoint[] };
    if (data.version !== VERSION || !Array.isArray(data.files)) throw new Error(`${this.file}: unknown checkpoint format`);
    return data.files;
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
