// The protection keys: nginx/Envoy vocabulary, defaults, and mistakes named by key.
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../../plugins/tls-terminator/config-schema.ts';
import { configProblems, parseConfig } from '../../../helpers/plugin-config.ts';

const base = { listen: '127.0.0.1:8443', upstream: 'http://127.0.0.1:8080' };
const problems = (extra: Record<string, unknown>) => configProblems(configSchema, { ...base, ...extra });

describe('protection config', () => {
  it('reads rates as nginx writes them and fills the defaults', () => {
    const c = parseConfig(configSchema, {
      ...base,
      rateLimits: [{ key: 'address', rate: '600r/m' }, { key: 'header:X-Api-Key', rate: '2.5r/s', burst: 10 }],
      concurrency: {},
      circuitBreaker: {},
    });
    expect(c.rateLimits[0]).toEqual({ key: 'address', rate: 10, methods: [], pathPrefix: '/', maxKeys: 100_000 });
    expect(c.rateLimits[1]).toMatchObject({ rate: 2.5, burst: 10 });
    expect(c.concurrency).toEqual({ maxRequests: 64, maxPending: 128, pendingTimeout: 5000 });
    expect(c.circuitBreaker).toEqual({ consecutiveFailures: 5, failOn: ['connect', 'timeout', '5xx'], baseEjectionTime: 30_000, maxEjectionTime: 300_000, readiness: false });
  });

  it('names the key of each mistake', () => {
    expect(problems({ rateLimits: [{ key: 'address', rate: '10/s' }] })[0]).toMatch(/^rateLimits\[0\]\.rate: expected a rate like "10r\/s"/);
    expect(problems({ rateLimits: [{ key: 'cookie', rate: '1r/s' }] })[0]).toMatch(/^rateLimits\[0\]\.key: expected address, forwarded, ja4, global or header:<name>/);
    expect(problems({ rateLimits: [{ key: 'address', rate: '1r/s', burst: 0 }] })[0]).toMatch(/^rateLimits\[0\]\.burst/);
    expect(problems({ rateLimits: [{ key: 'address', rate: '1r/s', colour: 'red' }] })[0]).toMatch(/^rateLimits\[0\]\.colour: unknown key/);
    expect(problems({ rateLimits: [{ key: 'forwarded', rate: '1r/s' }] })).toEqual([
      'rateLimits[0].key: forwarded reads X-Forwarded-For from trustedProxies only, and none are set (behind the PROXY protocol, address is already the client)',
    ]);
    expect(problems({ rateLimits: [{ name: 'a', key: 'address', rate: '1r/s' }, { name: 'a', key: 'ja4', rate: '1r/s' }] })[0]).toMatch(/^rateLimits\[1\]\.name: "a" names two rules/);
    expect(problems({ mode: 'tcp', upstream: 'tcp://127.0.0.1:5432', concurrency: {} })[0]).toMatch(/^concurrency: is for http mode/);
    expect(problems({ circuitBreaker: { failOn: [] } })[0]).toMatch(/^circuitBreaker\.failOn/);
    expect(problems({ circuitBreaker: { baseEjectionTime: '1m', maxEjectionTime: '10s' } })[0]).toMatch(/^circuitBreaker\.maxEjectionTime: must not be less/);
  });
});
