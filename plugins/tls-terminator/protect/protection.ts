// What stands between a parsed request and the app: the rate-limit rules (429), then the
// circuit breaker (503 while the app is ejected). The concurrency limit is the upstream pool's
// (a bounded queue with a timeout), reported here. One object per instance; a request that
// passes allocates nothing here.
import type { Logger, PluginMetrics } from '../../../src/plugin-api.ts';
import { Admit, CircuitBreaker, type FailureClass } from './circuit-breaker.ts';
import { type Keep, type RateRule, RateRuleState, type RequestView } from './rate-limits.ts';
import type { Clock } from './token-buckets.ts';

export interface ProtectConfig {
  rateLimits: RateRule[];
  circuitBreaker?: {
    consecutiveFailures: number;
    failOn: FailureClass[];
    baseEjectionTime: number;
    maxEjectionTime: number;
    readiness: boolean;
  } | undefined;
}

/** A request refused before it reaches the app. */
export interface Refusal {
  status: 429 | 503;
  retryAfter: number;
  body: string;
  /** For the access log and the `rejected` metric. */
  reason: 'rate_limited' | 'circuit_open' | 'queue_full' | 'queue_timeout';
  rule?: string;
}

export { Admit };

/**
 * A refusal as HTTP/1.1 bytes, for the paths that write to the socket themselves (the fast path,
 * upgrades). `connection`: a `connection: ...` line with its CRLF, or ''.
 */
export function refusalText(r: Refusal, connection: string): string {
  const reason = r.status === 429 ? 'Too Many Requests' : 'Service Unavailable';
  return `HTTP/1.1 ${r.status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: ${r.retryAfter}\r\ncontent-length: ${r.body.length}\r\n${connection}\r\n${r.body}`;
}

export class Protection {
  readonly rules: RateRuleState[];
  readonly breaker?: CircuitBreaker;
  private readonly limited: { inc(): void }[];
  private readonly keys: { set(v: number): void }[];
  private readonly readiness: boolean;

  constructor(cfg: ProtectConfig, deps: { metrics: PluginMetrics; log: Logger; clock: Clock; keep: Keep; trusted: (address: string) => boolean }) {
    const { metrics, log, clock } = deps;
    this.rules = cfg.rateLimits.map((r, i) => new RateRuleState(r, i, clock, deps.keep, deps.trusted));
    const limited = metrics.counter({ name: 'sidekick_tls_terminator_rate_limited_total', help: 'Requests refused with 429 by a rate-limit rule, by rule', labelNames: ['rule'] });
    const keys = metrics.gauge({ name: 'sidekick_tls_terminator_rate_limit_keys', help: 'Keys (clients, fingerprints, header values) a rate-limit rule remembers, by rule', labelNames: ['rule'] });
    const evictions = metrics.counter({
      name: 'sidekick_tls_terminator_rate_limit_evictions_total',
      help: 'Keys a rate-limit rule forgot to stay within maxKeys (least recently seen first), by rule',
      labelNames: ['rule'],
    });
    this.limited = this.rules.map((r) => limited.labels({ rule: r.name }));
    this.keys = this.rules.map((r) => keys.labels({ rule: r.name }));
    this.rules.forEach((r, i) => {
      const evicted = evictions.labels({ rule: r.name });
      r.buckets.onEvict = () => evicted.inc();
      this.keys[i]!.set(r.buckets.size);
    });
    const b = cfg.circuitBreaker;
    this.readiness = !!b?.readiness;
    if (b) {
      const state = metrics.gauge({ name: 'sidekick_tls_terminator_circuit_state', help: 'Circuit breaker in front of the app: 1 for the current state (closed, open, half_open)', labelNames: ['state'] });
      const ejections = metrics.counter({ name: 'sidekick_tls_terminator_circuit_ejections_total', help: 'Times the circuit breaker ejected the app (opened)' });
      const gauges = { closed: state.labels({ state: 'closed' }), open: state.labels({ state: 'open' }), half_open: state.labels({ state: 'half_open' }) };
      gauges.closed.set(1);
      gauges.open.set(0);
      gauges.half_open.set(0);
      this.breaker = new CircuitBreaker({
        ...b,
        clock,
        changed: (to, why) => {
          for (const [s, g] of Object.entries(gauges)) g.set(s === to ? 1 : 0);
          if (to === 'open') {
            ejections.inc();
            log.warn({ why, retryInMs: this.breaker!.retryAfter() * 1000 }, 'circuit breaker open: app ejected, requests get 503');
          } else log.info({ why }, `circuit breaker ${to === 'closed' ? 'closed: app back' : 'half-open'}`);
        },
      });
    }
  }

  /**
   * Refused (an object, made only then), or Admit.Normal / Admit.Probe. An upgrade (WebSocket)
   * is rate-limited only: the breaker judges requests, and a long-lived tunnel is not one.
   */
  admit(r: RequestView, upgrade = false): Refusal | Admit {
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      if (!rule.applies(r)) continue;
      const key = rule.keyOf(r);
      if (!key) continue;
      const before = rule.buckets.size;
      const wait = rule.buckets.take(key);
      if (rule.buckets.size !== before) this.keys[i]!.set(rule.buckets.size);
      if (wait > 0) {
        this.limited[i]!.inc();
        return { status: 429, retryAfter: wait, body: 'too many requests\n', reason: 'rate_limited', rule: rule.name };
      }
    }
    if (!this.breaker || upgrade) return Admit.Normal;
    const a = this.breaker.admit();
    if (a !== Admit.Refused) return a;
    return { status: 503, retryAfter: this.breaker.retryAfter(), body: 'app unavailable (circuit breaker open)\n', reason: 'circuit_open' };
  }

  /** Why /readyz should say not ready, if it should. */
  notReady(): string | undefined {
    return this.readiness && this.breaker?.current() === 'open' ? 'circuit breaker open: the app is failing' : undefined;
  }

  status(): Record<string, unknown> {
    return {
      ...(this.rules.length ? { rateLimits: this.rules.map((r) => ({ name: r.name, keys: r.buckets.size })) } : {}),
      ...(this.breaker ? { circuitBreaker: this.breaker.status() } : {}),
    };
  }
}
