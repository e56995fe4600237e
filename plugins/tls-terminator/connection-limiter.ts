// limits.maxConnections with nginx's order of sacrifice: when every slot is taken, the oldest idle
// HTTP connection (kept alive between requests, or handshaken with no request yet) is closed to
// make room, as nginx's ngx_drain_connections closes its "reusable" connections; a new client is
// refused only when no connection is idle. Without this, N clients that connect and then never
// send keep every slot until their timeouts, and nobody else is served. Connections mid-handshake,
// mid-request and tcp-mode pipes are never idle: the handshake, headers and request timeouts
// bound those.
import type { Duplex } from 'node:stream';

/** Why a connection is idle: a metric label. */
export type IdleReason = 'keepalive' | 'no_request';

export interface LimiterMetrics {
  /** A connection was closed to make room for a new one. */
  evicted(reason: IdleReason): void;
}

const LIMITER = Symbol('sidekick.tls-terminator.limiter');
type Tracked = Duplex & { [LIMITER]?: ConnectionLimiter };
// Shared (no closure per connection); `this` is the socket.
function onClose(this: Tracked): void {
  this[LIMITER]?.busy(this);
}

export class ConnectionLimiter {
  readonly max: number;
  private readonly metrics: LimiterMetrics;
  /** Idle connections, oldest first (a Map keeps insertion order; idle() re-inserts). */
  private readonly idleSince = new Map<Duplex, IdleReason>();

  constructor(max: number, metrics: LimiterMetrics) {
    this.max = max;
    this.metrics = metrics;
  }

  /** This connection may be closed to make room until busy() is called (or it closes). */
  idle(socket: Duplex, reason: IdleReason): void {
    if (socket.destroyed) return;
    const t = socket as Tracked;
    if (!t[LIMITER]) {
      t[LIMITER] = this;
      socket.once('close', onClose);
    }
    this.idleSince.delete(socket);
    this.idleSince.set(socket, reason);
  }

  /** A request started on it (or it closed, or left HTTP): never evicted. */
  busy(socket: Duplex): void {
    this.idleSince.delete(socket);
  }

  get idleCount(): number {
    return this.idleSince.size;
  }

  /**
   * Room for one more connection when `open` are open: true if there is a free slot, or if the
   * oldest idle connection was closed for it; false: refuse the new one.
   */
  admit(open: number): boolean {
    if (open < this.max) return true;
    for (const [socket, reason] of this.idleSince) {
      this.idleSince.delete(socket);
      if (socket.destroyed) continue;
      socket.destroy();
      this.metrics.evicted(reason);
      return true;
    }
    return false;
  }
}
