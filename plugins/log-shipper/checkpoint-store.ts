// Acknowledged read positions, persisted in the instance's data directory the safe way:
// write a temp file, fsync it, rename it over the old one, fsync the directory.
// Writes are coalesced: at most one in flight, and one more if something changed meanwhile.
import { copyFile, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SidekickError, writeFileDurably } from '../../src/plugin-api.ts';

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
  /** The write in flight. */
  private writing: Promise<void> | undefined;
  /** The one write queued behind it, shared by every save() asked for meanwhile. */
  private queued: Promise<void> | undefined;
  private readonly collect: () => Checkpoint[];
  private readonly lookedSince: () => number;
  /** When the loaded checkpoints were written (the file's mtime, ms), if there was a file. */
  savedAt: number | undefined;
  /**
   * From the loaded file: a file changed since then may be one the agent never saw (ms; at
   * most savedAt). A save comes between two rotation checks, so it can postdate a file created
   * and renamed away before the next check would have found it.
   */
  unseenSince: number | undefined;

  /** `lookedSince`: when the files not in `collect()` were last looked for (ms since the epoch). */
  constructor(dataDir: string, collect: () => Checkpoint[], lookedSince: () => number) {
    this.file = join(dataDir, 'checkpoints.json');
    this.collect = collect;
    this.lookedSince = lookedSince;
  }

  /**
   * The saved checkpoints. Throws UnreadableCheckpoints (after setting the file aside) when the
   * file cannot be used at all, and PartlyUnreadableCheckpoints (with the usable entries, after
   * copying the file aside) when some entries are malformed: state must not keep the agent down.
   */
  async load(): Promise<Checkpoint[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
      this.savedAt = (await stat(this.file)).mtimeMs;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      // EISDIR, EIO and the like: the same as unparsable, if the file can at least be moved.
      return this.setAside(err as Error);
    }
    let data: { version?: number; files?: unknown[] } | undefined;
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
    if (data?.version !== VERSION || !Array.isArray(data.files)) return this.setAside();
    // Files older than the checkpoint files (no unseenSince) could hide such a file: bounded by the save.
    const since = (data as { unseenSince?: unknown }).unseenSince;
    this.unseenSince = typeof since === 'number' && Number.isFinite(since) ? Math.min(since, this.savedAt!) : this.savedAt;
    const files = data.files.filter(isCheckpoint);
    if (files.length === data.files.length) return files;
    const copy = `${this.file}.unreadable-${Date.now()}`;
    await copyFile(this.file, copy);
    throw new PartlyUnreadableCheckpoints(copy, files, data.files.length - files.length);
  }

  /** Unusable state: moved aside for a human; files are then read from their start (duplicates, never loss). */
  private async setAside(cause?: Error): Promise<never> {
    const aside = `${this.file}.unreadable-${Date.now()}`;
    try {
      await rename(this.file, aside);
    } catch {
      throw cause ?? new Error(`cannot move the unreadable ${this.file} aside`);
    }
    throw new UnreadableCheckpoints(aside);
  }

  /**
   * Schedules a write of the current positions; resolves when a write that includes them is done:
   * the next one to start, never a later one. Waiting for the writes to stop instead held the
   * tailer for as long as acknowledgements kept asking for more (seconds under load: the soak).
   */
  save(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.writing) return this.start();
    const settled = this.writing.catch(() => {});
    this.queued = settled.then(() => {
      this.queued = undefined;
      return this.start();
    });
    return this.queued;
  }

  private start(): Promise<void> {
    const write = (async () => {
      // Taken before the entries: a look that ends while they are collected is not counted.
      const unseenSince = this.lookedSince();
      await this.write(this.collect(), unseenSince);
    })();
    const writing = write.finally(() => {
      if (this.writing === writing) this.writing = undefined;
    });
    this.writing = writing;
    return writing;
  }

  private async write(files: Checkpoint[], unseenSince: number): Promise<void> {
    await writeFileDurably(this.file, JSON.stringify({ version: VERSION, savedAt: new Date().toISOString(), unseenSince, files }));
  }
}

/** What restore relies on: a malformed entry (hand-edited, an older format) would throw in the middle of it. */
function isCheckpoint(c: unknown): c is Checkpoint {
  if (typeof c !== 'object' || c === null) return false;
  const o = c as Record<string, unknown>;
  const count = (k: string) => Number.isSafeInteger(o[k]) && (o[k] as number) >= 0;
  return (
    typeof o.path === 'string' &&
    o.path.startsWith('/') &&
    typeof o.fpHash === 'string' &&
    ['dev', 'ino', 'fpLen', 'offset', 'size'].every(count) &&
    (o.done === undefined || typeof o.done === 'boolean')
  );
}

export class UnreadableCheckpoints extends SidekickError {
  readonly aside: string;
  constructor(aside: string) {
    super('ERR_SIDEKICK_LOGS_CHECKPOINTS', `checkpoint file unreadable; moved to ${aside}, starting without checkpoints`);
    this.aside = aside;
  }
}

export class PartlyUnreadableCheckpoints extends SidekickError {
  readonly copy: string;
  /** The well-formed entries, to resume from. */
  readonly usable: Checkpoint[];
  constructor(copy: string, usable: Checkpoint[], dropped: number) {
    super('ERR_SIDEKICK_LOGS_CHECKPOINTS', `${dropped} malformed checkpoint entries ignored (their files are read from their start); the file is copied to ${copy}`);
    this.copy = copy;
    this.usable = usable;
  }
}
