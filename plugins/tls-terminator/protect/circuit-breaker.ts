// The circuit breaker in front of the app, after Envoy's outlier detection: after
// `consecutiveFailures` failed requests in a row the app is ejected for an ejection time
// (base x the number of times in a row it was ejected, capped), during which requests are
// answered 503 without reaching it. Then one probe request goes through (half-open): its success
// closes the breaker, its failure ejects the app again for longer. A request is a failure by
// its outcome at the app (connect error, timeout, 5xx as configured), never because its client
// went away.
import type { Clock } from './token-buckets.ts';

export type BreakerState = 'closed' | 'open' | 'half_open';
export type FailureClass = 'connect' | 'timeout' | '5xx' | 'gateway';

export interface BreakerOptions {
  consecutiveFailures: number;
  baseEjectionTime: number;
  maxEjectionTime: number;
  failOn: readonly FailureClass[];
  clock: Clock;
  /** A state change, for the log and the metrics. */
  changed(to: BreakerState, why: string): void;
}

/** What admit() says: refused, a normal request, or the one probe of a half-open breaker. */
export const Admit = { Refused: 0, Normal: 1, Probe: 2 } as const;
export type Admit = (typeof Admit)[keyof typeof Admit];

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private failures = 0;
  private ejections = 0;
  private openUntil = 0;
  private probing = false;
  private readonly o: BreakerOptions;
  private readonly connect: boolean;
  private readonly timeout: boolean;
  private readonly any5xx: boolean;
  private readonly gateway: boolean;
  private openedTotal = 0;

  constructor(o: BreakerOptions) {
    this.o = o;
    this.connect = o.failOn.includes('connect');
    this.timeout = o.failOn.includes('timeout');
    this.any5xx = o.failOn.includes('5xx');
    this.gateway = o.failOn.includes('gateway');
  }

  admit(): Admit {
    if (this.state === 'closed') return Admit.Normal;
    if (this.state === 'open') {
      if (this.o.clock() < this.openUntil) return Admit.Refused;
      this.move('half_open', 'ejection time over: one probe request');
    }
    if (this.probing) return Admit.Refused;
    this.probing = true;
    return Admit.Probe;
  }

  /** Whole seconds until the app may be tried again (Retry-After), at least 1. */
  retryAfter(): number {
    return Math.max(1, Math.ceil((this.openUntil - this.o.clock()) / 1000));
  }

  /** The app answered with `status`. */
  response(status: number, probe: boolean): void {
    const failed = status >= 500 && (this.any5xx || (this.gateway && status >= 502 && status <= 504));
    this.outcome(!failed, probe, `${status} from the app`);
  }

  /** No answer from the app: it refused or reset the connection, or was too slow. */
  noResponse(kind: 'connect' | 'timeout', probe: boolean): void {
    const counted = kind === 'connect' ? this.connect : this.timeout;
    // Not counted is not a success either: the count of failures in a row stands.
    if (!counted) return this.abandoned(probe);
    this.outcome(false, probe, kind === 'connect' ? 'connection to the app failed' : 'app timed out');
  }

  /** The probe ended without an outcome (its client left first): the next request probes. */
  abandoned(probe: boolean): void {
    if (probe && this.state === 'half_open') this.probing = false;
  }

  private outcome(ok: boolean, probe: boolean, why: string): void {
    if (this.state === 'half_open') {
      if (!probe) return; // requests admitted before the ejection say nothing about the app now
      this.probing = false;
      if (ok) {
        this.ejections = 0;
        this.failures = 0;
        return this.move('closed', 'probe request succeeded');
      }
      return this.eject(`probe failed: ${why}`);
    }
    if (this.state === 'open') return;
    if (ok) {
      this.failures = 0;
      return;
    }
    if (++this.failures >= this.o.consecutiveFailures) this.eject(`${this.failures} consecutive failures, the last: ${why}`);
  }

  private eject(why: string): void {
    this.ejections++;
    this.failures = 0;
    this.openedTotal++;
    const time = Math.min(this.o.maxEjectionTime, this.o.baseEjectionTime * this.ejections);
    this.openUntil = this.o.clock() + time;
    this.move('open', why);
  }

  private move(to: BreakerState, why: string): void {
    this.state = to;
    this.o.changed(to, why);
  }

  /** The state as a reader sees it now: an open breaker whose time is over is half-open (the next request probes). */
  current(): BreakerState {
    return this.state === 'open' && this.o.clock() >= this.openUntil ? 'half_open' : this.state;
  }

  status(): Record<string, unknown> {
    const state = this.current();
    return {
      state,
      consecutiveFailures: this.failures,
      ...(state === 'open' ? { retryInMs: Math.max(0, Math.round(this.openUntil - this.o.clock())) } : {}),
      ejections: this.openedTotal,
    };
  }
}
