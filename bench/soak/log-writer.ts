// The app side of the log-shipper soak: appends numbered lines to several files at a varying
// rate and rotates them every way logrotate (or an app) can. It knows which line is in which
// file, so it only destroys a file's content (truncate in place, delete, inode reuse) once every
// line of it has reached the sink: whatever is missing at the end was lost by the agent.
import { closeSync, copyFileSync, ftruncateSync, openSync, renameSync, truncateSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Rng } from './soak-kit.ts';

export const ROTATIONS = ['rename', 'double-rename', 'copytruncate', 'truncate', 'delete', 'inode-reuse'] as const;
export type Rotation = (typeof ROTATIONS)[number];

/** One inode's worth of lines (a file keeps its object across renames). */
interface Content {
  seqs: number[];
}

interface LogFile {
  index: number;
  path: string;
  fd: number;
  current: Content;
  /** rotated[0] is `path.1`, rotated[1] `path.2`, ... */
  rotated: Content[];
  nextSeq: number;
}

export class LogWriter {
  readonly files: LogFile[];
  /** received[file][seq]: how many times the sink accepted that line. */
  readonly received: Uint16Array[];
  readonly rotations: Record<Rotation, number> = { rename: 0, 'double-rename': 0, copytruncate: 0, truncate: 0, delete: 0, 'inode-reuse': 0 };
  /** Rotations asked for that fell back to a safe kind (content not shipped yet). */
  fallbacks = 0;
  bytesWritten = 0;
  /** What happened when, for the diagnosis of a kept run: rotations here, kills and starts from the soak. */
  readonly trace: string[] = [];
  private readonly began = performance.now();
  private readonly rng: Rng;
  /** Per file, every line below it has been accepted. */
  private readonly low: number[];

  constructor(dir: string, count: number, rng: Rng) {
    this.rng = rng;
    this.files = Array.from({ length: count }, (_, index) => {
      const path = join(dir, `app${index}.log`);
      return { index, path, fd: openSync(path, 'a'), current: { seqs: [] }, rotated: [], nextSeq: 0 };
    });
    this.received = this.files.map(() => new Uint16Array(1 << 16));
    this.low = this.files.map(() => 0);
  }

  get linesWritten(): number {
    return this.files.reduce((n, f) => n + f.nextSeq, 0);
  }

  /** Appends `n` lines spread over random files. */
  write(n: number): void {
    const per = this.files.map(() => 0);
    for (let i = 0; i < n; i++) per[this.rng.int(0, this.files.length - 1)]!++;
    for (const f of this.files) {
      const k = per[f.index]!;
      if (k > 0) this.append(f, k);
    }
  }

  private append(f: LogFile, k: number): void {
    let text = '';
    for (let i = 0; i < k; i++) {
      const seq = f.nextSeq++;
      f.current.seqs.push(seq);
      // Varying lengths (and a long line now and then) so reads end mid-line at random places.
      const pad = this.rng.chance(0.002) ? 4000 : this.rng.int(0, 160);
      text += `L${f.index} ${seq} ${'x'.repeat(pad)}\n`;
    }
    this.bytesWritten += writeSync(f.fd, text);
  }

  /** Called by the sink for each line it accepted. */
  accept(file: number, seq: number): void {
    let counts = this.received[file];
    if (!counts) return;
    if (seq >= counts.length) {
      const grown = new Uint16Array(Math.max(seq + 1, counts.length * 2));
      grown.set(counts);
      this.received[file] = counts = grown;
    }
    counts[seq]!++;
  }

  private shipped(f: LogFile, c: Content): boolean {
    const counts = this.received[f.index]!;
    return c.seqs.every((s) => s < counts.length && counts[s]! > 0);
  }

  rotate(kind: Rotation, fileIndex = this.rng.int(0, this.files.length - 1)): Rotation {
    const f = this.files[fileIndex]!;
    let done: Rotation = kind;
    switch (kind) {
      case 'rename':
        this.renameCreate(f);
        break;
      case 'double-rename':
        // Twice between two of the agent's checks, a few lines in between.
        this.renameCreate(f);
        this.append(f, this.rng.int(1, 20));
        this.renameCreate(f);
        break;
      case 'copytruncate':
        this.copyTruncate(f);
        break;
      case 'truncate':
        if (this.shipped(f, f.current)) {
          ftruncateSync(f.fd, 0);
          f.current = { seqs: [] };
        } else done = this.fallback(() => this.copyTruncate(f), 'copytruncate');
        break;
      case 'delete':
        if (this.shipped(f, f.current)) {
          closeSync(f.fd);
          unlinkSync(f.path);
          f.fd = openSync(f.path, 'a');
          f.current = { seqs: [] };
        } else done = this.fallback(() => this.renameCreate(f), 'rename');
        break;
      case 'inode-reuse': {
        // The oldest rotated file, emptied and renamed back: the live name gets an inode the agent
        // already knows (checkpointed, maybe still open) with other content.
        const oldest = f.rotated.at(-1);
        if (oldest && f.rotated.length >= 2 && this.shipped(f, oldest)) {
          this.renameCreate(f, false);
          const from = `${f.path}.${f.rotated.length}`;
          truncateSync(from, 0);
          renameSync(from, f.path);
          f.rotated.pop();
          f.fd = openSync(f.path, 'a');
          f.current = { seqs: [] };
        } else done = this.fallback(() => this.renameCreate(f), 'rename');
        break;
      }
    }
    this.rotations[done]++;
    this.note(`${done}${done === kind ? '' : ` (asked ${kind})`} L${f.index} next ${f.nextSeq} rotated ${f.rotated.map(span).join(' ')}`);
    return done;
  }

  private fallback(run: () => void, kind: Rotation): Rotation {
    this.fallbacks++;
    run();
    return kind;
  }

  /** logrotate's default (`create`): shift path.N to path.N+1, rename path to path.1, create path. */
  private renameCreate(f: LogFile, create = true): void {
    closeSync(f.fd);
    this.shift(f);
    renameSync(f.path, `${f.path}.1`);
    f.rotated.unshift(f.current);
    f.current = { seqs: [] };
    if (create) f.fd = openSync(f.path, 'a');
  }

  /** logrotate's `copytruncate`; the app keeps writing (O_APPEND) to the emptied file. */
  private copyTruncate(f: LogFile): void {
    this.shift(f);
    copyFileSync(f.path, `${f.path}.1`);
    ftruncateSync(f.fd, 0);
    f.rotated.unshift(f.current);
    f.current = { seqs: [] };
  }

  private shift(f: LogFile): void {
    for (let k = f.rotated.length; k >= 1; k--) renameSync(`${f.path}.${k}`, `${f.path}.${k + 1}`);
  }

  /** Lines never accepted by the sink, and extra copies accepted (beyond the first). */
  tally(): { lost: number; duplicates: number; lostRanges: string[]; duplicateRanges: string[] } {
    let lost = 0;
    let duplicates = 0;
    const lostRanges: string[] = [];
    const duplicateRanges: string[] = [];
    for (const f of this.files) {
      const counts = this.received[f.index]!;
      let from = -1;
      let dupFrom = -1;
      for (let s = 0; s <= f.nextSeq; s++) {
        const n = s < f.nextSeq && s < counts.length ? counts[s]! : s < f.nextSeq ? 0 : 1;
        if (n === 0) {
          lost++;
          if (from < 0) from = s;
        } else {
          if (from >= 0 && lostRanges.length < 20) lostRanges.push(`L${f.index} ${from}..${s - 1}`);
          from = -1;
          if (s < f.nextSeq && n > 1) {
            duplicates += n - 1;
            if (dupFrom < 0) dupFrom = s;
          } else if (dupFrom >= 0) {
            if (duplicateRanges.length < 20) duplicateRanges.push(`L${f.index} ${dupFrom}..${s - 1}`);
            dupFrom = -1;
          }
        }
      }
    }
    return { lost, duplicates, lostRanges, duplicateRanges };
  }

  /** Every line written so far (per file, below `marks`) has been accepted. */
  caughtUp(marks: readonly number[]): boolean {
    return this.files.every((f) => {
      const counts = this.received[f.index]!;
      const upTo = marks[f.index]!;
      // Lines arrive in order mostly: scan on from the first line still missing last time.
      let s = this.low[f.index]!;
      while (s < upTo && s < counts.length && counts[s]! > 0) s++;
      this.low[f.index] = s;
      return s >= upTo;
    });
  }

  note(what: string): void {
    this.trace.push(`${(performance.now() - this.began).toFixed(0).padStart(7)} ${new Date().toISOString().slice(11, 23)} ${what}`);
  }

  marks(): number[] {
    return this.files.map((f) => f.nextSeq);
  }

  close(): void {
    for (const f of this.files) closeSync(f.fd);
  }
}

const span = (c: Content) => (c.seqs.length ? `${c.seqs[0]}..${c.seqs.at(-1)}` : '-');
