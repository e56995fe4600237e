// The breaker's states with a clock the test moves: closed -> open after N failures in a row,
// 503 for the ejection time, one probe, closed again or open for longer.
import { describe, expect, it } from 'vitest';
import { Admit, CircuitBreaker, type FailureClass } from '../../../../plugins/tls-terminator/protect/circuit-breaker.ts';

function breaker(failOn: FailureClass[] = ['connect', 'timeout', '5xx'], n = 3) {
  const clock = { now: 0 };
  const changes: string[] = [];
  const b = new CircuitBreaker({ consecutiveFailures: n, baseEjectionTime: 1000, maxEjectionTime: 2500, failOn, clock: () => clock.now, changed: (to) => changes.push(to) });
  return { b, clock, changes };
}

describe('circuit breaker', () => {
  it('opens after N failures in a row, not after N failures with a success between', () => {
    const { b, changes } = breaker();
    b.response(500, false);
    b.response(500, false);
    b.response(200, false);
    b.response(503, false);
    b.noResponse('connect', false);
    expect(b.current()).toBe('closed');
    b.noResponse('timeout', false);
    expect(b.current()).toBe('open');
    expect(b.admit()).toBe(Admit.Refused);
    expect(b.retryAfter()).toBe(1);
    expect(changes).toEqual(['open']);
  });

  it('lets exactly one probe through once the ejection time is over; its success closes it', () => {
    const { b, clock, changes } = breaker();
    for (let i = 0; i < 3; i++) b.response(500, false);
    clock.now = 999;
    expect(b.admit()).toBe(Admit.Refused);
    clock.now = 1000;
    expect(b.current()).toBe('half_open');
    expect(b.admit()).toBe(Admit.Probe);
    expect(b.admit()).toBe(Admit.Refused); // one probe at a time
    b.response(200, false); // a request from before the ejection says nothing
    expect(b.current()).toBe('half_open');
    b.response(200, true);
    expect(b.current()).toBe('closed');
    expect(b.admit()).toBe(Admit.Normal);
    expect(changes).toEqual(['open', 'half_open', 'closed']);
  });

  it('ejects for longer after a failed probe, up to maxEjectionTime', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.response(500, false);
    clock.now = 1000;
    expect(b.admit()).toBe(Admit.Probe);
    b.noResponse('connect', true); // second ejection: 2 s
    expect(b.current()).toBe('open');
    clock.now = 2999;
    expect(b.admit()).toBe(Admit.Refused);
    clock.now = 3000;
    expect(b.admit()).toBe(Admit.Probe);
    b.response(502, true); // third: 3 s, capped at 2.5 s
    clock.now = 5499;
    expect(b.admit()).toBe(Admit.Refused);
    clock.now = 5500;
    expect(b.admit()).toBe(Admit.Probe);
  });

  it('gives the probe to the next request when the probe ends with nothing learnt', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.response(500, false);
    clock.now = 1000;
    expect(b.admit()).toBe(Admit.Probe);
    b.abandoned(true);
    expect(b.admit()).toBe(Admit.Probe);
  });

  it('counts only what failOn names', () => {
    const { b } = breaker(['gateway'], 2);
    b.response(500, false);
    b.response(500, false);
    b.noResponse('connect', false);
    b.noResponse('timeout', false);
    expect(b.current()).toBe('closed');
    b.response(502, false);
    b.response(504, false);
    expect(b.current()).toBe('open');
  });
});
