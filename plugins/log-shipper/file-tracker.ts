// One file being tailed: an open descriptor read by offset into a shared buffer, split
// into lines. Knows its identity, what was read and what the sink acknowledged.
import type { FileHandle } from 'node:fs/promises';
import { type FileIdentity, fingerprint, hashHead, readStart } from './file-identity.ts';
import { FLAG_PARTIAL, FLAG_SPLIT } from './event.ts';

export type TrackerState = 'active' | 'draining' | 'closed';

/** Receives each line as a byte range of the shared buffer; endOffset is where the next line starts. */
export interface LineHandler {
  /** Before the lines of a read: [0, end) of `buf` is where its complete lines are. */
  chunk(buf: Buffer, end: number): void;
  line(tracker: FileTracker, buf: Buffer, start: number, end: number, flags: number, endOffset: number): void;
}

export interface ReadOptions {
  maxLineSize: number;
  partialLineTimeout: number;
  fingerprintSize: number;
}

export class FileTracker implements FileIdentity {
  readonly path: string;
  readonly fh: FileHandle;
  readonly dev: number;
  readonly ino: number;
  fpLen = 0;
  fpHash = '';
  /** Next byte not yet turned into an event: the start of a partial line, if any. */
  readOffset: number;
  /** Everything before this offset was acknowledged by the sink. */
  ackedOffset: number;
  size: number;
  state: TrackerState = 'active';
  /** New data may be waiting (a watch event, a poll tick, or the last read filled the buffer). */
  dirty = true;
  /**
   * Before the next read, make sure the file was not truncated and refilled: the last read reached
   * the end, or reading was held back (a full buffer) while the file could change, or nothing was
   * read yet. Reading on regardless would ship the new content's middle as the old one's rest.
   */
  verifyFirst = true;
  /** The descriptor's mtime at the last poll check (NaN: not checked yet). */
  mtimeMs = Number.NaN;
  /** When the size last grew (or the file was opened); drives rotateWait. */
  lastGrowth = Date.now();
  private partialSince = 0;
  /** The line at readOffset is the tail of one already split: flag it too. */
  private inSplit = false;
  closing?: Promise<void>;

  /**
   * The file's first bytes (up to fingerprintSize), as read when it was opened and then by this
   * tracker's own reads: fpHash hashes them. Never re-read to extend the identity: a
   * copytruncate between a read and such a look gave the tracker the new content's identity with
   * the old content's offset, and it skipped that much of the new content (the soak: 26 lines).
   */
  private head: Buffer;

  /** `head`: the file's first bytes when it was opened (OpenFile.head). */
  constructor(path: string, fh: FileHandle, stat: { dev: number; ino: number; size: number }, offset: number, head: Buffer) {
    this.path = path;
    this.fh = fh;
    this.dev = stat.dev;
    this.ino = stat.ino;
    this.size = stat.size;
    this.readOffset = offset;
    this.ackedOffset = offset;
    this.head = head;
    this.fpLen = head.length;
    this.fpHash = hashHead(head);
  }

  get lag(): number {
    return Math.max(0, this.size - this.ackedOffset);
  }

  /**
   * One read of the file's first bytes (up to fingerprintSize): false when they no longer start
   * with what this tracker knows (truncated and rewritten); otherwise its identity grows to cover
   * them, a stronger one to find the file by, even while it cannot be read (a full buffer).
   * Checked and grown from the same read: two reads could see new content in between.
   */
  async checkIdentity(fingerprintSize: number, scratch: Buffer): Promise<boolean> {
    const got = await readStart(this.fh, fingerprintSize, scratch);
    if (got < this.fpLen || hashHead(scratch.subarray(0, this.fpLen)) !== this.fpHash) return false;
    if (got > this.fpLen) {
      this.head = Buffer.from(scratch.subarray(0, got));
      this.fpLen = got;
      this.fpHash = hashHead(this.head);
    }
    return true;
  }

  /** This file starts with the bytes `other`'s identity covers (it is a copy of them, say). */
  startsWith(other: FileIdentity): boolean {
    return other.fpLen > 0 && this.fpLen >= other.fpLen && hashHead(this.head.subarray(0, other.fpLen)) === other.fpHash;
  }

  /** False when the first fpLen bytes no longer hash the same: the file was truncated and rewritten. */
  async fingerprintHolds(scratch: Buffer): Promise<boolean> {
    if (this.fpLen === 0) return true;
    return (await fingerprint(this.fh, this.fpLen, scratch)) === this.fpHash;
  }

  /**
   * Reads one buffer's worth from readOffset and hands out every complete line.
   * Returns true when the buffer was filled (more may be waiting), 'changed' (nothing handed out)
   * when `scratch` is given, verifyFirst is set and the file no longer starts as it did.
   */
  async readChunk(buf: Buffer, opts: ReadOptions, handler: LineHandler, now: number, scratch?: Buffer): Promise<boolean | 'changed'> {
    const { bytesRead } = await this.fh.read(buf, 0, buf.length, this.readOffset);
    // Checked after the read, not beside it: a file replaced before or during the read fails the
    // check, so nothing read from the new content passes for the old one's rest. Only reads after
    // a short one or a pause check, so a backlog read in full buffers pays nothing for it.
    if (scratch !== undefined && this.verifyFirst && !(await this.fingerprintHolds(scratch))) return 'changed';
    const base = this.readOffset;
    if (this.fpLen < opts.fingerprintSize && base <= this.fpLen && base + bytesRead > this.fpLen) this.extendHead(buf, base, bytesRead, opts.fingerprintSize);
    if (base + bytesRead > this.size) {
      this.size = base + bytesRead;
      this.lastGrowth = now;
    }
    this.verifyFirst = bytesRead < buf.length;
    if (bytesRead === 0) return false;
    const max = opts.maxLineSize;
    let start = 0;
    handler.chunk(buf, buf.lastIndexOf(10, bytesRead - 1) + 1);
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl === -1 || nl >= bytesRead) break;
      const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
      while (end - start > max) start = this.split(buf, start, max, base, handler);
      handler.line(this, buf, start, end, this.inSplit ? FLAG_SPLIT : 0, base + nl + 1);
      this.inSplit = false;
      start = nl + 1;
    }
    // A remainder as long as a line may be is an overlong line: ship it in pieces now.
    while (bytesRead - start >= max) start = this.split(buf, start, max, base, handler);
    if (start < bytesRead && bytesRead < buf.length) {
      // A last line without its newline: wait for the rest, up to partialLineTimeout.
      if (this.partialSince === 0) this.partialSince = now;
      if (now - this.partialSince >= opts.partialLineTimeout) {
        handler.line(this, buf, start, bytesRead, FLAG_PARTIAL | (this.inSplit ? FLAG_SPLIT : 0), base + bytesRead);
        this.inSplit = false;
        start = bytesRead;
      }
    }
    if (start === bytesRead) this.partialSince = 0;
    this.readOffset = base + start;
    return bytesRead === buf.length;
  }

  /** Takes the bytes of this read that follow `head` into it, up to fingerprintSize. */
  private extendHead(buf: Buffer, base: number, bytesRead: number, fingerprintSize: number): void {
    const end = Math.min(base + bytesRead, fingerprintSize);
    this.head = Buffer.concat([this.head, buf.subarray(this.fpLen - base, end - base)]);
    this.fpLen = this.head.length;
    this.fpHash = hashHead(this.head);
  }

  /** Emits [start, start+max) cut back to a UTF-8 character boundary; returns the new start. */
  private split(buf: Buffer, start: number, max: number, base: number, handler: LineHandler): number {
    let cut = start + max;
    // Back up to the first byte of a character that would be cut in half. Only bytes before
    // the cut are looked at: with maxLineSize equal to readBufferSize the cut is the buffer's end.
    let lead = cut - 1;
    while (lead > start && cut - lead < 4 && (buf[lead]! & 0xc0) === 0x80) lead--;
    const b = buf[lead]!;
    if (lead > start && lead + (b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1) > cut) cut = lead;
    handler.line(this, buf, start, cut, FLAG_SPLIT, base + cut);
    this.inSplit = true;
    return cut;
  }

  close(): Promise<void> {
    this.state = 'closed';
    this.closing ??= this.fh.close().catch(() => {});
    return this.closing;
  }

  snapshot() {
    return { path: this.path, state: this.state, size: this.size, readOffset: this.readOffset, ackedOffset: this.ackedOffset, lag: this.lag };
  }
}
