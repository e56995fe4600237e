// Keep-alive connections to the app: LIFO idle list (the warmest socket first), a cap on
// open connections with a FIFO wait queue, and idle sockets the app closed dropped at once.
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

export class UpstreamPool {
  private readonly idle: Socket[] = [];
  private readonly waiting: Waiter[] = [];
  private open = 0;
  private closed = false;
  private readonly target: UpstreamTarget;
  private readonly max: number;
  private readonly maxIdle: number;
  private readonly onread?: OnReadOpts;

  constructor(target: UpstreamTarget, max: number, maxIdle: number, onRead?: UpstreamRead) {
    this.target = target;
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
    if (this.open >= this.max) {
      this.waiting.push(w);
      return;
    }
    this.open++;
    const s = dial(this.target, this.onread ? { onread: this.onread } : undefined, true);
    s.on('error', noop); // an idle socket's reset must not crash the process; exchanges add their own listener
    s.once('close', () => this.open--);
    s.on('end', onPooledEnd);
    s.on('close', onPooledEnd);
    w.leased({ socket: s, reused: false });
  }

  /** Back to the pool after a complete exchange; the next waiter gets it directly. */
  release(s: Socket): void {
    const next = this.waiting.shift();
    if (next) return next.leased({ socket: s, reused: true });
    if (this.closed || this.idle.length >= this.maxIdle || s.destroyed) return void s.destroy();
    (s as PoolSocket)[IDLE] = this;
    this.idle.push(s);
  }

  /** A socket that cannot be reused: its slot goes to the next waiter. */
  discard(s: Socket): void {
    s.destroy();
    const next = this.waiting.shift();
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
    for (const s of this.idle.splice(0)) s.destroy();
    for (const w of this.waiting.splice(0)) w.leased(sidekickError('ERR_SIDEKICK_TLS_UPSTREAM_CLOSED', 'upstream pool closed'));
  }
}
