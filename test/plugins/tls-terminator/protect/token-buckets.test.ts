// The token bucket at its edges, with a clock the test moves: exact counts, never timings.
import { describe, expect, it } from 'vitest';
import { TokenBuckets } from '../../../../plugins/tls-terminator/protect/token-buckets.ts';

function buckets(rate: number, burst: number, maxKeys = 1000) {
  const clock = { now: 0 };
  const b = new TokenBuckets({ rate, burst, maxKeys, clock: () => clock.now });
  return { b, clock };
}

const takeN = (b: TokenBuckets, key: string, n: number) => Array.from({ length: n }, () => b.take(key));

describe('token buckets', () => {
  it('allows exactly `burst` at once, then one per 1/rate seconds', () => {
    const { b, clock } = buckets(10, 5);
    expect(takeN(b, 'a', 5)).toEqual([0, 0, 0, 0, 0]);
    expect(b.take('a')).toBe(1); // refused; a token is 100 ms away: Retry-After 1
    clock.now = 99;
    expect(b.take('a')).toBeGreaterThan(0);
    clock.now = 100;
    expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBeGreaterThan(0);
    clock.now = 100 + 350; // 3.5 tokens
    expect(takeN(b, 'a', 4)).toEqual([0, 0, 0, 1]);
  });

  it('never holds more than `burst`, however long the quiet spell', () => {
    const { b, clock } = buckets(1, 3);
    takeN(b, 'a', 3);
    clock.now = 3_600_000;
    expect(takeN(b, 'a', 4)).toEqual([0, 0, 0, 1]);
  });

  it('says in Retry-After how many whole seconds until the next token', () => {
    const { b } = buckets(1 / 60, 1); // 1r/m
    expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBe(60);
  });

  it('keeps one bucket per key', () => {
    const { b } = buckets(1, 2);
    expect(takeN(b, 'a', 3)).toEqual([0, 0, 1]);
    expect(takeN(b, 'b', 2)).toEqual([0, 0]);
  });

  it('stays within maxKeys under 100,000 distinct keys, dropping the least recently seen first', () => {
    const { b, clock } = buckets(1, 1, 1000);
    let evicted = 0;
    b.onEvict = () => evicted++;
    b.take('heavy'); // spent
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 100_000; i++) {
      b.take(`k${i}`);
      if (i % 500 === 0) expect(b.take('heavy')).toBeGreaterThan(0); // seen often: never evicted, still limited
      clock.now += 0.001;
    }
    expect(b.size).toBe(1000);
    expect(evicted).toBe(100_000 + 1 - 1000);
    // A million-key map would be ~100 MB; the bound keeps it to the 1,000 most recent.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(20 * 1024 * 1024);
    // The oldest of the flood are gone (a fresh, full bucket); the newest are still there (spent).
    expect(b.take('k0')).toBe(0);
    expect(b.take('k99999')).toBeGreaterThan(0);
  });
});

describe('rate-limit keys the client chooses', () => {
  it('are bounded in size: a long header value is kept as its hash, still one bucket per value', async () => {
    const { RateRuleState } = await import('../../../../plugins/tls-terminator/protect/rate-limits.ts');
    const rule = new RateRuleState(
      { key: 'header:X-Api-Key', rate: 1, burst: 1, methods: [], pathPrefix: '/', maxKeys: 1000 },
      0, () => 0, (_k, make) => make(), () => false,
    );
    const info = { clientAddress: '192.0.2.1', clientPort: 1, peerAddress: '192.0.2.1', trusted: false, ja3: '', ja4: '', sni: '', tlsVersion: '', forbidden: false };
    const view = (value: string) => ({ method: 'GET', path: '/', raw: ['X-Api-Key', value], lower: ['x-api-key'], info });
    const long = (i: number) => `${i}-${'k'.repeat(16 * 1024)}`;
    expect(rule.keyOf(view('short'))).toBe('short');
    expect(rule.keyOf(view(long(1))).length).toBeLessThanOrEqual(64);
    expect(rule.keyOf(view(long(1)))).toBe(rule.keyOf(view(long(1))));
    expect(rule.keyOf(view(long(1)))).not.toBe(rule.keyOf(view(long(2))));
    // So 1,000 kept keys hold 1,000 short strings, not 16 MB of header values.
    for (let i = 0; i < 5000; i++) rule.buckets.take(rule.keyOf(view(long(i))));
    expect(rule.buckets.size).toBe(1000);
  });
});
