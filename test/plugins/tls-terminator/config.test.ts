// Config contract: defaults, and bad input rejected with an error that names the key.
import { describe, expect, it } from 'vitest';
import descriptor from '../../../plugins/tls-terminator/index.ts';
import { configSchema } from '../../../plugins/tls-terminator/config-schema.ts';
import { spawnAgent } from '../../helpers/agent-process.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './helpers.ts';
import { configProblems, parseConfig } from '../../helpers/plugin-config.ts';

const issuePaths = (c: unknown) => configProblems(configSchema, c);

describe('tls-terminator config', () => {
  it('fills sensible defaults from the two required keys', () => {
    const c = parseConfig(configSchema, { listen: '0.0.0.0:8443', upstream: 'http://127.0.0.1:8080' });
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(c.mode).toBe('http');
    expect(c.tls.minVersion).toBe('TLSv1.2');
    expect(c.tls.maxVersion).toBe('TLSv1.3');
    expect(c.tls.handshakeTimeout).toBe(10_000);
    expect(c.timeouts).toEqual({ headers: 10_000, request: 300_000, idle: 60_000, upstream: 60_000, send: 60_000, lingeringTime: 30_000, lingeringTimeout: 5_000 });
    expect(c.limits.maxHeaderSize).toBe(16 * 1024);
    expect(c.fingerprint.headers).toBe(false);
    expect(descriptor.type).toBe('tls-terminator');
  });

  it('accepts the example from the issue', () => {
    expect(issuePaths({
      listen: '0.0.0.0:8443', upstream: 'http://127.0.0.1:8080', mode: 'http',
      tls: { cert: '/etc/sidekick/tls/tls.crt', key: '/etc/sidekick/tls/tls.key', clientCa: '/etc/sidekick/tls/ca.crt', clientAuth: 'require', minVersion: 'TLSv1.2' },
      fingerprint: { headers: true },
    })).toEqual([]);
  });

  it('names the key of every mistake', () => {
    expect(issuePaths({ listen: '0.0.0.0:8443', upstream: 'http://x:1', tls: { cert: 'a.crt' } })).toEqual([expect.stringMatching(/^tls\.key: tls\.cert and tls\.key must be set together/)]);
    expect(issuePaths({ listen: '0.0.0.0:8443', upstream: 'http://x:1', tls: { clientAuth: 'require' } })[0]).toMatch(/^tls\.clientCa: .*needs tls\.clientCa/);
    expect(issuePaths({ listen: '0.0.0.0:8443', upstream: 'ftp://x' })[0]).toMatch(/^upstream: /);
    expect(issuePaths({ listen: 'nope', upstream: 'http://x:1' })[0]).toMatch(/^listen: /);
    expect(issuePaths({ listen: '1', upstream: 'http://x:1', tls: { minVersion: 'TLSv1' } })[0]).toMatch(/^tls\.minVersion: /);
    expect(issuePaths({ listen: '1', upstream: 'http://x:1', tls: { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' } })).toEqual(['tls.maxVersion: must not be lower than tls.minVersion (TLSv1.3)']);
    expect(issuePaths({ listen: '1', upstream: 'http://x:1', sendProxyProtocol: 'v2' })).toEqual(['sendProxyProtocol: is for tcp mode; in http mode the app gets X-Forwarded-For and Forwarded']);
    expect(issuePaths({ listen: '1', upstream: 'tcp://x:1', mode: 'tcp', sendProxyProtocol: 'v3' })[0]).toMatch(/^sendProxyProtocol: /);
    expect(issuePaths({ listen: '1', upstream: 'http://x:1', trustedProxies: ['10.0.0.0/33'] })[0]).toMatch(/^trustedProxies\[0\]: .*CIDR/);
    expect(issuePaths({ listen: '1', upstream: 'http://x:1', timeouts: { headers: '10 parsecs' } })[0]).toMatch(/^timeouts\.headers: /);
    expect(issuePaths({ listen: '1', upstream: 'http://x:1', tls: { certFile: 'x' } })[0]).toMatch(/^tls\.certFile: unknown key/);
    expect(issuePaths({ listen: '1', upstream: 'http://x:1', timeouts: { request: '2s' } })).toEqual(['timeouts.headers: must not exceed timeouts.request (10000 ms > 2000 ms)']);
    expect(issuePaths({ listen: '1', upstream: 'http://x:1', timeouts: { request: '0s', headers: '1m' } })).toEqual([]);
  });

  it('checks https/tls upstreams, upstreamTls and direction: outbound', () => {
    const base = { listen: '127.0.0.1:15101' };
    expect(issuePaths({ ...base, upstream: 'https://app:8443', upstreamTls: { ca: 'ca.crt' } })).toEqual([]);
    expect(issuePaths({ ...base, upstream: 'tls://db:5433', mode: 'tcp', upstreamTls: { insecureSkipVerify: true } })).toEqual([]);
    expect(issuePaths({ ...base, upstream: 'http://app:8080', upstreamTls: { ca: 'ca.crt' } })).toEqual(['upstreamTls: needs an "https://" (http mode) or "tls://" (tcp mode) upstream']);
    expect(issuePaths({ ...base, upstream: 'tls://app:1' })).toEqual(['upstream: in http mode, a TLS app is "https://host:port"']);
    expect(issuePaths({ ...base, upstream: 'https://app:1', mode: 'tcp' })).toEqual(['upstream: in tcp mode, a TLS app is "tls://host:port"']);
    expect(issuePaths({ ...base, upstream: 'https://app:1', upstreamTls: { cert: 'c.crt' } })).toEqual(['upstreamTls.key: upstreamTls.cert and upstreamTls.key must be set together']);
    expect(issuePaths({ ...base, upstream: 'https://app:1', upstreamTls: { ca: 'ca.crt', insecureSkipVerify: true } })[0]).toMatch(/^upstreamTls\.ca: is unused/);
    expect(issuePaths({ ...base, direction: 'outbound', upstream: 'https://billing.internal:443', upstreamTls: { cert: 'c', key: 'k' } })).toEqual([]);
    expect(issuePaths({ ...base, direction: 'outbound', upstream: 'http://billing.internal:80' })[0]).toMatch(/^upstream: direction: outbound originates TLS/);
    expect(issuePaths({ ...base, direction: 'outbound', upstream: 'https://b:443', tls: { cert: 'a', key: 'b' } })[0]).toMatch(/^tls\.cert: is for inbound TLS/);
  });

  it('makes the agent refuse to start on a bad config, naming the key', async () => {
    const t = await tempDir();
    try {
      const file = join(t.path, 'sidekick.yaml');
      await writeFile(file, `admin: { listen: 127.0.0.1:0 }\ndataDir: ${t.path}/data\nplugins:\n  https:\n    type: tls-terminator\n    listen: 127.0.0.1:0\n    upstream: http://127.0.0.1:1\n    tls: { clientAuth: require }\n`);
      const agent = await spawnAgent(['run', '--config', file], { waitReady: false });
      expect(await agent.exited).not.toBe(0);
      expect(agent.stderr() + JSON.stringify(agent.logs)).toMatch(/clientCa/);
    } finally {
      await t.cleanup();
    }
  });
});
