// Batches events, sends one batch at a time (so acknowledgements come back in file order),
// retries transient failures forever with backoff + jitter (Retry-After wins), dead-letters
// permanent rejections, and only then advances the files' acknowledged offsets.
// Events are encoded into the batch's bytes as they arrive: the buffer holds wire bytes.
import { backoffDelay } from '../../src/plugin-api.ts';
import { ByteWriter, OffsetList } from './byte-writer.ts';
import type { DeadLetter } from './dead-letter.ts';
import type { LogEvent, Payload, SendResult, Sink } from './event.ts';
import type { FileTracker } from './file-tracker.ts';

export interface Batch {
  w: ByteWriter;
  starts: OffsetList;
  /** Highest end offset per file in this batch: acknowledged together. */
  marks: Map<FileTracker, number>;
  payload?: Payload;
}

export interface DeliveryOptions {
  maxBytes: number;
  maxEvents: number;
  maxWait: number;
  initialDelay: number;
  maxDelay: number;
  /** The memory buffer: writers enough to fill it are kept for reuse (see newBatch). */
  buffer?: number;
}

export interface DeliveryHooks {
  acked(batch: Batch): void;
  retried(error: string, delayMs: number): void;
  deadLettered(count: number, error: string): void;
  /** The dead-letter file could not be written: the batch stays unacknowledged and the write is retried. */
  deadLetterFailed(error: string, delayMs: number): void;
  sent(count: number): void;
}

/** A batch is sealed once past maxBytes: room for the last event's overshoot without growing. */
const SLACK = 64 * 1024;

export class Delivery {
  private readonly sink: Sink;
  private readonly opts: DeliveryOptions;
  private readonly hooks: DeliveryHooks;
  private readonly deadLetter: DeadLetter;
  private readonly pool: Array<{ w: ByteWriter; starts: OffsetList }> = [];
  private readonly poolMax: number;
  private current: Batch;
  private readonly queue: Batch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();
  /** Encoded bytes pushed and not yet acknowledged (the memory buffer in use). */
  buffered = 0;
  lastError: { message: string; at: string } | undefined;
  private idleWaiters: Array<() => void> = [];
  private spaceWaiters: Array<() => void> = [];

  constructor(sink: Sink, opts: DeliveryOptions, deadLetter: DeadLetter, hooks: DeliveryHooks) {
    this.sink = sink;
    this.opts = {
      ...opts,
      maxBytes: sink.batchLimits?.maxBytes ?? opts.maxBytes,
      maxWait: sink.batchLimits?.maxWait ?? opts.maxWait,
      maxEvents: sink.batchLimits?.maxBytes ? Number.MAX_SAFE_INTEGER : opts.maxEvents,
    };
    this.hooks = hooks;
    this.deadLetter = deadLetter;
    this.poolMax = Math.ceil((opts.buffer ?? 4 * this.opts.maxBytes) / this.opts.maxBytes) + 1;
    this.current = this.newBatch();
  }

  push(event: LogEvent, tracker: FileTracker, endOffset: number): void {
    const b = this.current;
    const w = b.w;
    const before = w.len;
    if (b.starts.n === 0) this.sink.begin?.(w);
    b.starts.push(w.len);
    this.sink.encode(event, w);
    b.marks.set(tracker, endOffset);
    this.buffered += w.len - before;
    if (w.len >= this.opts.maxBytes || b.starts.n >= this.opts.maxEvents) this.seal();
    else if (this.timer === undefined) this.timer = setTimeout(() => this.seal(), this.opts.maxWait);
  }

  /** Hands the open batch to the sender (on size, on maxWait, on shutdown). */
  seal(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const b = this.current;
    if (b.starts.n === 0) return;
    const count = b.starts.n;
    b.starts.push(b.w.len);
    const before = b.w.len;
    this.sink.end?.(b.w);
    this.buffered += b.w.len - before;
    b.payload = { bytes: b.w.view(), count, starts: b.starts.view() };
    this.queue.push(b);
    this.current = this.newBatch();
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && !this.abort.signal.aborted) this.seal();
      else for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  /**
   * The reader caught up with every file: send the open batch now if nothing is in flight,
   * rather than waiting out maxWait (under load batches still fill up while one is in flight).
   */
  caughtUp(): void {
    if (this.running === undefined && this.current.starts.n > 0) this.seal();
    // Idle again after a burst: give back the writers a big buffer needed, keeping the two
    // that steady tailing cycles through (one filling, one in flight).
    else if (this.running === undefined && this.pool.length > 2) this.pool.length = 2;
  }

  /** Resolves when buffered bytes fall below `limit` (or delivery is aborted). */
  waitForSpace(limit: number): Promise<void> {
    if (this.buffered < limit || this.abort.signal.aborted) return Promise.resolve();
    return new Promise((r) => this.spaceWaiters.push(r));
  }

  /** Seals the open batch and resolves once everything pushed so far is acknowledged. */
  flush(): Promise<void> {
    this.seal();
    if (this.running === undefined) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Gives up on whatever is in flight: its offsets stay unacknowledged and are read again next time. */
  destroy(): void {
    this.abort.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const w of [...this.idleWaiters.splice(0), ...this.spaceWaiters.splice(0)]) w();
  }

  get pendingBatches(): number {
    return this.queue.length + (this.current.starts.n > 0 ? 1 : 0);
  }

  /**
   * Writers come back to the pool once acknowledged, up to as many as the buffer can hold: a
   * writer dropped instead is garbage V8 only frees once external memory grows by tens of MB,
   * and that garbage, not the buffer, was most of the peak RSS while shipping.
   */
  private newBatch(): Batch {
    const { w, starts } = this.pool.pop() ?? { w: new ByteWriter(Math.min(this.opts.maxBytes + SLACK, 8 << 20)), starts: new OffsetList() };
    w.len = 0;
    starts.n = 0;
    return { w, starts, marks: new Map() };
  }

  private async drain(): Promise<void> {
    const signal = this.abort.signal;
    while (this.queue.length > 0 && !signal.aborted) {
      const batch = this.queue[0]!;
      if (!(await this.deliver(batch.payload!, signal))) return;
      this.queue.shift();
      this.buffered -= batch.w.len;
      this.hooks.acked(batch);
      batch.payload = undefined;
      if (this.pool.length < this.poolMax) this.pool.push({ w: batch.w, starts: batch.starts });
      if (this.spaceWaiters.length) for (const w of this.spaceWaiters.splice(0)) w();
    }
  }

  /** True once the payload is fully handled (accepted or dead-lettered); false if aborted. */
  private async deliver(payload: Payload, signal: AbortSignal): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      let result: SendResult | void;
      let retryAll = false;
      let rejectAll = false;
      try {
        result = await this.sink.send(payload, signal);
      } catch (err) {
        if (signal.aborted) return false;
        const e = err as Error & { retryable?: boolean; retryAfterMs?: number };
        result = { error: e.message, ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}) };
        if (e.retryable === false) rejectAll = true;
        else retryAll = true;
      }
      const error = result?.error ?? 'rejected';
      const rejected = rejectAll ? payload.count : (result?.rejected?.length ?? 0);
      if (rejected > 0) {
        if (!(await this.writeDeadLetter(payload, rejectAll ? undefined : result!.rejected!, error, signal))) return false;
        this.hooks.deadLettered(rejected, error);
        this.noteError(error);
      }
      const retry = retryAll ? payload.count : (result?.retry?.length ?? 0);
      this.hooks.sent(payload.count - retry - rejected);
      if (retry === 0) return true;
      if (!retryAll) payload = this.subset(payload, result!.retry!);
      const delay = result?.retryAfterMs ?? backoffDelay(attempt, this.opts.initialDelay, this.opts.maxDelay);
      this.noteError(error);
      this.hooks.retried(error, delay);
      if (!(await sleep(delay, signal))) return false;
    }
  }

  /**
   * Rejected events count as handled only once they are durably in the dead-letter file. A
   * write that fails (full disk, a missing directory) is retried with backoff like a send,
   * the batch staying unacknowledged; it used to reject the delivery loop and stall it.
   */
  private async writeDeadLetter(p: Payload, indexes: number[] | undefined, error: string, signal: AbortSignal): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deadLetter.write(p, indexes, error, this.sink);
        return true;
      } catch (err) {
        const message = `cannot write the dead-letter file ${this.deadLetter.path}: ${(err as Error).message}`;
        const delay = backoffDelay(attempt, this.opts.initialDelay, this.opts.maxDelay);
        this.noteError(message);
        this.hooks.deadLetterFailed(message, delay);
        if (!(await sleep(delay, signal))) return false;
      }
    }
  }

  /** A new payload of some of the events (items a bulk API asked to resend). */
  private subset(p: Payload, indexes: number[]): Payload {
    const w = new ByteWriter(p.bytes.length);
    this.sink.begin?.(w);
    const starts: number[] = [];
    for (const i of indexes) {
      starts.push(w.len);
      w.bytes(p.bytes, p.starts[i]!, p.starts[i + 1]!);
    }
    starts.push(w.len);
    this.sink.end?.(w);
    return { bytes: w.view(), count: indexes.length, starts };
  }

  private noteError(message: string): void {
    this.lastError = { message, at: new Date().toISOString() };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve(!signal.aborted);
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
