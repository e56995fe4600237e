// Batches events, sends one batch at a time (so acknowledgements come back in file order),
// retries transient failures forever with backoff + jitter (Retry-After wins), dead-letters
// permanent rejections, and only then advances the files' acknowledged offsets.
import type { LogEvent, SendResult, Sink } from './event.ts';
import type { FileTracker } from './file-tracker.ts';
import type { DeadLetter } from './dead-letter.ts';

export interface Batch {
  events: LogEvent[];
  bytes: number;
  /** Highest end offset per file in this batch: acknowledged together. */
  marks: Map<FileTracker, number>;
}

export interface DeliveryOptions {
  maxBytes: number;
  maxEvents: number;
  maxWait: number;
  initialDelay: number;
  maxDelay: number;
}

export interface DeliveryHooks {
  acked(batch: Batch): void;
  retried(error: string, delayMs: number): void;
  deadLettered(count: number, error: string): void;
  sent(count: number): void;
}

export class Delivery {
  private readonly sink: Sink;
  private readonly opts: DeliveryOptions;
  private readonly hooks: DeliveryHooks;
  private readonly deadLetter: DeadLetter;
  private current: Batch = newBatch();
  private readonly queue: Batch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();
  /** Bytes of events pushed and not yet acknowledged (the memory buffer in use). */
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
  }

  push(event: LogEvent, tracker: FileTracker, endOffset: number): void {
    const b = this.current;
    b.events.push(event);
    b.bytes += event.bytes;
    b.marks.set(tracker, endOffset);
    this.buffered += event.bytes;
    if (b.bytes >= this.opts.maxBytes || b.events.length >= this.opts.maxEvents) this.seal();
    else if (this.timer === undefined) this.timer = setTimeout(() => this.seal(), this.opts.maxWait);
  }

  /** Hands the open batch to the sender (on size, on maxWait, on shutdown). */
  seal(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.current.events.length === 0) return;
    this.queue.push(this.current);
    this.current = newBatch();
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && !this.abort.signal.aborted) this.seal();
      else for (const w of this.idleWaiters.splice(0)) w();
    });
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
    return this.queue.length + (this.current.events.length > 0 ? 1 : 0);
  }

  private async drain(): Promise<void> {
    const signal = this.abort.signal;
    while (this.queue.length > 0 && !signal.aborted) {
      const batch = this.queue[0]!;
      if (!(await this.deliver(batch, signal))) return;
      this.queue.shift();
      this.buffered -= batch.bytes;
      this.hooks.acked(batch);
      if (this.spaceWaiters.length) for (const w of this.spaceWaiters.splice(0)) w();
    }
  }

  /** True once the batch is fully handled (accepted or dead-lettered); false if aborted. */
  private async deliver(batch: Batch, signal: AbortSignal): Promise<boolean> {
    let events = batch.events;
    for (let attempt = 0; ; attempt++) {
      let result: SendResult | void;
      try {
        result = await this.sink.send(events, signal);
      } catch (err) {
        if (signal.aborted) return false;
        const e = err as Error & { retryable?: boolean; retryAfterMs?: number };
        result = e.retryable === false
          ? { rejected: events, error: e.message }
          : { retry: events, error: e.message, ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}) };
      }
      if (result?.rejected?.length) {
        await this.deadLetter.write(result.rejected, result.error ?? 'rejected');
        this.hooks.deadLettered(result.rejected.length, result.error ?? 'rejected');
        this.noteError(result.error ?? 'rejected');
      }
      const retry = result?.retry ?? [];
      this.hooks.sent(events.length - retry.length - (result?.rejected?.length ?? 0));
      if (retry.length === 0) return true;
      events = retry;
      const backoff = Math.min(this.opts.maxDelay, this.opts.initialDelay * 2 ** Math.min(attempt, 30));
      // Full jitter on the upper half: spreads retries of many sidecars without ever retrying at once.
      const delay = result!.retryAfterMs ?? backoff / 2 + Math.random() * (backoff / 2);
      this.noteError(result!.error ?? 'retry');
      this.hooks.retried(result!.error ?? 'retry', delay);
      if (!(await sleep(delay, signal))) return false;
    }
  }

  private noteError(message: string): void {
    this.lastError = { message, at: new Date().toISOString() };
  }
}

function newBatch(): Batch {
  return { events: [], bytes: 0, marks: new Map() };
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
