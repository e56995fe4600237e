// Keep-alive connections to the app: LIFO idle list (the warmest socket first), a cap on
// open connections (one request each: the requests in flight to the app) with a FIFO wait
// queue, bounded in length and in time when asked, and idle sockets the app closed dropped at once.
// With `onRead`, app sockets read into one buffer shared by the pool (net's `onread`): no
// 64 KiB allocation and no Readable push/'data' emit per response; the callback must be done
// with the bytes when it returns.
import type { OnReadOpts, Socket } from 'node:net';
import { dial } from './dial.ts';
import type { UpstreamTarget } from './upstream-target.ts';
import { sidekickError } from '../../../src/plugin-api.ts';

/** Whoever waits for a connection: an object rather than a callback, so a request allocates no closure for it. */
export interface Waiter {
  leased(lease: Lease | Error): void;
}

export interface Lease {
  socket: Socket;
  /** The socket served a request before: a failure with no response byte may be a stale connection. */
  reused: boolean;
}

/** Called with `this` the socket; the bytes are `buf[0, n)`, valid only during the call. false pauses the socket. */
export type UpstreamRead = (this: Socket, n: number, buf: Buffer) => boolean;

const noop = () => {};

// Set while a socket waits in the idle list. Its 'end'/'close' listeners are installed once, when
// it is created, and look at this: a listener pair added and removed per request (once() makes a
// wrapper closure each time) showed in a keep-alive CPU profile.
const IDLE = Symbol('sidekick.tls-terminator.idle-in');
type PoolSocket = Socket & { [IDLE]?: UpstreamPool };
function onPooledEnd(this: PoolSocket): void {
  this[IDLE]?.forget(this);
}

/** The queue in front of the app (the tls-terminator's `concurrency`): beyond it, or after waiting `timeoutMs`, a waiter gets ERR_SIDEKICK_TLS_OVERLOADED. */
export interface QueueLimits {
  maxWaiting: number;
  timeoutMs: number;
}

export class UpstreamPool {
  private readonly idle: Socket[] = [];
  private readonly waiting: Waiter[] = [];
  /** When each waiter queued (performance.now()), in step with `waiting`. */
  private readonly since: number[] = [];
  private timer?: NodeJS.Timeout;
  private readonly queue?: QueueLimits;
  private open = 0;
  private closed = false;
  private readonly target: UpstreamTarget;
  private readonly max: number;
  private readonly maxIdle: number;
  private readonly onread?: OnReadOpts;

  constructor(target: UpstreamTarget, max: number, maxIdle: number, onRead?: UpstreamRead, queue?: QueueLimits) {
    this.target = target;
    if (queue) this.queue = queue;
    this.max = max;
    this.maxIdle = maxIdle;
    // The buffer we pass is a Buffer, so the callback gets one (the typings only promise a Uint8Array).
    if (onRead) this.onread = { buffer: Buffer.allocUnsafeSlow(64 * 1024), callback: onRead as OnReadOpts['callback'] };
  }

  get size(): { open: number; idle: number; waiting: number } {
    return { open: this.open, idle: this.idle.length, waiting: this.waiting.length };
  }

  acquire(w: Waiter, fresh = false): void {
    if (this.closed) return w.leased(sidekickError('ERR_SIDEKICK_TLS_UPSTREAM_CLOSED', 'upstream pool closed'));
    if (!fresh) {
      const s = this.idle.pop() as PoolSocket | undefined;
      if (s) {
        s[IDLE] = undefined;
        return w.leased({ socket: s, reused: true });
      }
    }
    if (this.open >= this.max) return this.enqueue(w);
    this.open++;
    const s = dial(this.target, this.onread ? { onread: this.onread } : undefined, true);
    s.on('error', noop); // an idle socket's reset must not crash the process; exchanges add their own listener
    s.once('close', () => this.open--);
    s.on('end', onPooledEnd);
    s.on('close', onPooledEnd);
    w.leased({ socket: s, reused: false });
  }

  private enqueue(w: Waiter): void {
    const q = this.queue;
    if (!q) return void this.waiting.push(w);
    if (this.waiting.length >= q.maxWaiting) return w.leased(overloaded('queue_full', `${q.maxWaiting} requests already wait for the app`));
    this.waiting.push(w);
    this.since.push(performance.now());
    this.timer ??= setTimeout(this.expire, q.timeoutMs).unref();
  }

  /** The next waiter, if any (FIFO). */
  private nextWaiter(): Waiter | undefined {
    if (this.queue) this.since.shift();
    return this.waiting.shift();
  }

  /** Waiters past the queue timeout get their 503; the timer is re-armed for the oldest one left. */
  private readonly expire = (): void => {
    this.timer = undefined;
    const q = this.queue!;
    const now = performance.now();
    while (this.since.length && now - this.since[0]! >= q.timeoutMs) {
      this.since.shift();
      this.waiting.shift()!.leased(overloaded('queue_timeout', `no app connection free within ${q.timeoutMs} ms`));
    }
    if (this.since.length) this.timer = setTimeout(this.expire, Math.max(1, q.timeoutMs - (now - this.since[0]!))).unref();
  };

  /** A waiter whose client went away leaves the queue, so it holds no place in a bounded one. */
  cancel(w: Waiter): void {
    const i = this.waiting.indexOf(w);
    if (i < 0) return;
    this.waiting.splice(i, 1);
    if (this.queue) this.since.splice(i, 1);
  }

  /** Back to the pool after a complete exchange; the next waiter gets it directly. */
  release(s: Socket): void {
    const next = this.nextWaiter();
    if (next) return next.leased({ socket: s, reused: true });
    if (this.closed || this.idle.length >= this.maxIdle || s.destroyed) return void s.destroy();
    (s as PoolSocket)[IDLE] = this;
    this.idle.push(s);
  }

  /** A socket that cannot be reused: its slot goes to the next waiter. */
  discard(s: Socket): void {
    s.destroy();
    const next = this.nextWaiter();
    if (!next) return;
    // The slot frees when 'close' fires; open a new connection for the waiter right after.
    if (s.closed) this.acquire(next);
    else s.once('close', () => this.acquire(next));
  }

  forget(s: Socket): void {
    (s as PoolSocket)[IDLE] = undefined;
    const i = this.idle.indexOf(s);
    if (i >= 0) this.idle.splice(i, 1);
    s.destroy();
  }

  /** Closes the idle connections: the next requests connect afresh (a new client certificate). */
  dropIdle(): void {
    for (const s of this.idle.splice(0)) {
      (s as PoolSocket)[IDLE] = undefined;
      s.destroy();
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.since.length = 0;
    for (const s of this.idle.splice(0)) s.destroy();
    for (const w of this.waiting.splice(0)) w.leased(sidekickError('ERR_SIDEKICK_TLS_UPSTREAM_CLOSED', 'upstream pool closed'));
  }
}

type OverloadReason = 'queue_full' | 'queue_timeout';

function overloaded(reason: OverloadReason, message: string): Error & { reason: OverloadReason } {
  return Object.assign(sidekickError('ERR_SIDEKICK_TLS_OVERLOADED', message), { reason });
}
