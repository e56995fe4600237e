// Closing a client connection without waiting forever on the client: after our last bytes,
// end() alone keeps the socket until they are flushed and the peer closes its side, which a
// client that stops reading (a full socket) or never closes never does. As nginx: the last
// bytes must make progress within send_timeout, then we read and discard what the client still
// sends (so our close does not reset a response it has yet to read) for at most lingering_time,
// and at most lingering_timeout without anything arriving; then the socket is destroyed.
import type { Duplex } from 'node:stream';

export interface CloseLimits {
  /** nginx send_timeout: the longest our queued bytes may sit without any of them leaving. */
  readonly sendTimeoutMs: number;
  /** nginx lingering_time: the longest we wait for the client's close once ours is sent. */
  readonly lingeringTimeMs: number;
  /** nginx lingering_timeout: the longest we wait for more from the client while lingering. */
  readonly lingeringTimeoutMs: number;
}

const CLOSING = Symbol('sidekick.tls-terminator.closing');
type Closing = Duplex & { [CLOSING]?: Linger };

class Linger {
  private readonly socket: Closing;
  private readonly limits: CloseLimits;
  private timer?: NodeJS.Timeout;
  private left: number;
  private lingerUntil = 0;

  constructor(socket: Closing, limits: CloseLimits) {
    this.socket = socket;
    this.limits = limits;
    this.left = socket.writableLength;
    socket.once('close', this.closed);
    if (socket.writableFinished) {
      this.flushed();
      return;
    }
    this.arm(limits.sendTimeoutMs, this.sendExpired);
    socket.once('finish', this.flushed);
  }

  private arm(ms: number, fn: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(fn, ms);
    this.timer.unref();
  }

  /** send_timeout counts from the last progress, not from end(): a slow reader that reads is served. */
  private readonly sendExpired = (): void => {
    const left = this.socket.writableLength;
    if (left > 0 && left < this.left) {
      this.left = left;
      return this.arm(this.limits.sendTimeoutMs, this.sendExpired);
    }
    this.socket.destroy();
  };

  private readonly flushed = (): void => {
    if (this.socket.destroyed) return;
    this.lingerUntil = performance.now() + this.limits.lingeringTimeMs;
    this.socket.on('data', this.discard);
    this.socket.resume(); // a paused socket would never see the client's FIN
    this.arm(Math.min(this.limits.lingeringTimeoutMs, this.limits.lingeringTimeMs), this.lingerExpired);
  };

  private readonly discard = (): void => {
    const left = this.lingerUntil - performance.now();
    if (left <= 0) return void this.socket.destroy();
    this.arm(Math.min(this.limits.lingeringTimeoutMs, left), this.lingerExpired);
  };

  private readonly lingerExpired = (): void => {
    this.socket.destroy();
  };

  private readonly closed = (): void => {
    clearTimeout(this.timer);
  };
}

/** end() with optional last bytes, then destroy the socket within the limits whatever the client does. */
export function endWithin(socket: Duplex, limits: CloseLimits, last?: string): void {
  if (socket.destroyed) return;
  if (last === undefined) socket.end();
  else socket.end(last, 'latin1');
  const s = socket as Closing;
  if (s[CLOSING] || s.destroyed) return;
  s[CLOSING] = new Linger(s, limits);
}
