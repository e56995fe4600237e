// direction: outbound (egress TLS origination): the app calls a plain local port, Sidekick opens
// verified TLS (or mTLS) to the destination. Real destinations: Node's https server and
// `openssl s_server`. A certificate that does not verify is a 502 and an error line, never clear text.
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { type AddressInfo, connect, createServer } from 'node:net';
import { type TLSSocket, createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/free-port.ts';
import { type Pki, type Terminator, createPki, startTerminator, tempDir } from './helpers.ts';

let dir: { path: string; cleanup(): Promise<void> };
let pki: Pki;
type Pair = { cert: string; key: string };
let dest: Pair;
let expired: Pair;
let unknown: Pair;
let clientA: Pair;
let clientB: Pair;

beforeAll(async () => {
  dir = await tempDir('sidekick-egress-');
  pki = createPki(dir.path);
  dest = pki.issue('dest', { cn: 'dest.internal', san: 'DNS:dest.internal,IP:127.0.0.1' });
  expired = pki.issue('expired', { cn: 'dest.internal', san: 'DNS:dest.internal', days: -1 });
  unknown = pki.issue('unknown', { cn: 'dest.internal', san: 'DNS:dest.internal', selfSigned: true });
  clientA = pki.issue('client-a', { cn: 'client-a', san: 'URI:spiffe://test/a', client: true });
  clientB = pki.issue('client-b', { cn: 'client-b', san: 'URI:spiffe://test/b', client: true });
});
afterAll(() => dir.cleanup());

interface Destination {
  port: number;
  /** TLS connections accepted so far. */
  connections: number;
  /** Requests its handler saw. */
  requests: number;
  close(): Promise<void>;
}

/** Node's https server: answers JSON with the Host it got and the client certificate's CN. */
async function nodeDestination(pair: Pair, opts: { port?: number; mtls?: boolean } = {}): Promise<Destination> {
  const server = https.createServer({
    cert: readFileSync(pair.cert), key: readFileSync(pair.key),
    ...(opts.mtls ? { requestCert: true, rejectUnauthorized: true, ca: readFileSync(pki.ca) } : {}),
  }, (req, res) => {
    d.requests++;
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => res.end(JSON.stringify({ url: req.url, host: req.headers.host, xff: req.headers['x-forwarded-for'] ?? null, body, client: (req.socket as TLSSocket).getPeerCertificate()?.subject?.CN ?? null })));
  });
  const d: Destination = { port: 0, connections: 0, requests: 0, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  server.on('secureConnection', () => d.connections++);
  await new Promise<void>((r) => server.listen(opts.port ?? 0, '127.0.0.1', r));
  d.port = (server.address() as AddressInfo).port;
  return d;
}

/** `openssl s_server` on a free port; resolves once it accepts. */
async function opensslServer(args: string[]): Promise<{ port: number; proc: ChildProcess; close(): Promise<void> }> {
  const port = await freePort();
  const proc = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', dest.cert, '-key', dest.key, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c) => {
      out += c;
      if (out.includes('ACCEPT')) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`openssl s_server exited ${code}: ${out}`)));
  });
  proc.stdout!.resume();
  proc.stderr!.resume();
  return { port, proc, close: () => new Promise<void>((r) => (proc.exitCode !== null ? r() : (proc.once('exit', () => r()), proc.kill()))) };
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
afterAll(() => keepAlive.destroy());

/** The app's plain HTTP call to Sidekick's local egress port. */
function call(port: number, path = '/', body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', agent: keepAlive }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function egress(upstream: string, tlsYaml: string, extra = ''): Promise<Terminator & { cleanup(): Promise<void> }> {
  const d = await tempDir();
  const term = await startTerminator(d.path, `    direction: outbound\n    upstream: ${upstream}\n    upstreamTls: { ${tlsYaml} }\n${extra}`);
  return Object.assign(term, { cleanup: async () => { await term.agent.stop(); await d.cleanup(); } });
}

const tlsFailure = (t: Terminator) => t.agent.waitForLog((l) => /TLS to the app failed/.test(l.msg ?? ''));

describe('direction: outbound, http mode', () => {
  it('verifies the destination, keeps one TLS connection alive, rewrites Host, adds no forwarding headers, logs and counts', async () => {
    const d = await nodeDestination(dest);
    const t = await egress(`https://127.0.0.1:${d.port}`, `ca: ${pki.ca}, serverName: dest.internal`);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await call(t.port, `/get/${i}`);
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body)).toEqual({ url: `/get/${i}`, host: `dest.internal:${d.port}`, xff: null, body: '', client: null });
      }
      const post = await call(t.port, '/post', 'x'.repeat(100_000));
      expect(JSON.parse(post.body).body.length).toBe(100_000);
      expect(d.connections).toBe(1);
      await t.agent.waitForLog((l) => l.msg === 'request' && l.path === '/post' && l.status === 200);
      expect(await t.metrics()).toMatch(/sidekick_tls_terminator_requests_total\{[^}]*class="2xx"[^}]*\} 4/);
    } finally {
      await t.cleanup();
      await d.close();
    }
  });

  for (const [what, pair, tlsYaml, code] of [
    ['a certificate for another host', () => dest, () => `ca: ${pki.ca}, serverName: other.internal`, /ALTNAME/],
    ['an expired certificate', () => expired, () => `ca: ${pki.ca}, serverName: dest.internal`, /CERT_HAS_EXPIRED/],
    ['a certificate from an unknown CA', () => unknown, () => `ca: ${pki.ca}, serverName: dest.internal`, /SELF_SIGNED|UNABLE_TO_VERIFY/],
  ] as const) {
    it(`answers 502 and logs an error for ${what}; the request never reaches the destination`, async () => {
      const d = await nodeDestination(pair());
      const t = await egress(`https://127.0.0.1:${d.port}`, tlsYaml());
      try {
        const r = await call(t.port, '/secret');
        expect(r.status).toBe(502);
        const line = await tlsFailure(t);
        expect(line.level).toBe('error');
        expect(line.err).toMatch(code);
        expect(d.requests).toBe(0);
      } finally {
        await t.cleanup();
        await d.close();
      }
    });
  }

  it('mTLS with openssl s_server -Verify: refused without a client certificate, served with one', async () => {
    const s = await opensslServer(['-www', '-Verify', '1', '-CAfile', pki.ca]);
    const without = await egress(`https://127.0.0.1:${s.port}`, `ca: ${pki.ca}, serverName: dest.internal`);
    const withCert = await egress(`https://127.0.0.1:${s.port}`, `ca: ${pki.ca}, serverName: dest.internal, cert: ${clientA.cert}, key: ${clientA.key}`);
    try {
      expect((await call(without.port)).status).toBe(502);
      expect((await tlsFailure(without)).err).toMatch(/CERTIFICATE_REQUIRED|HANDSHAKE|ALERT/);
      const ok = await call(withCert.port);
      expect(ok.status).toBe(200);
      expect(ok.body).toContain('client-a'); // s_server -www prints the client certificate it verified
    } finally {
      await without.cleanup();
      await withCert.cleanup();
      await s.close();
    }
  });

  it('recovers when the destination restarts (pooled connections dropped, new ones made)', async () => {
    let d = await nodeDestination(dest);
    const port = d.port;
    const t = await egress(`https://127.0.0.1:${port}`, `ca: ${pki.ca}, serverName: dest.internal`);
    try {
      expect((await call(t.port, '/before')).status).toBe(200);
      await d.close();
      d = await nodeDestination(dest, { port });
      for (let i = 0; i < 3; i++) expect((await call(t.port, `/after/${i}`)).status).toBe(200);
      expect(d.connections).toBe(1);
    } finally {
      await t.cleanup();
      await d.close();
    }
  });

  it("protects the destination from the app: a rate limit and a breaker on the egress listener", async () => {
    const d = await nodeDestination(dest);
    const t = await egress(`https://127.0.0.1:${d.port}`, `ca: ${pki.ca}, serverName: dest.internal`, `    rateLimits: [{ key: global, rate: 1r/m, burst: 2, pathPrefix: /limited }]
    circuitBreaker: { consecutiveFailures: 2, baseEjectionTime: 1m }
`);
    try {
      expect([(await call(t.port, '/limited')).status, (await call(t.port, '/limited')).status, (await call(t.port, '/limited')).status]).toEqual([200, 200, 429]);
      expect(d.requests).toBe(2);
      await d.close(); // the destination goes away: two failures eject it
      expect([(await call(t.port, '/a')).status, (await call(t.port, '/b')).status]).toEqual([502, 502]);
      expect((await call(t.port, '/c')).status).toBe(503);
      expect((await t.status()).instances.https.details.protection.circuitBreaker.state).toBe('open');
    } finally {
      await t.cleanup();
    }
  });

  it('presents a rotated client certificate without a restart', async () => {
    const d = await nodeDestination(dest, { mtls: true });
    const live = { cert: `${dir.path}/live-client.crt`, key: `${dir.path}/live-client.key` };
    copyFileSync(clientA.cert, live.cert);
    copyFileSync(clientA.key, live.key);
    const t = await egress(`https://127.0.0.1:${d.port}`, `ca: ${pki.ca}, serverName: dest.internal, cert: ${live.cert}, key: ${live.key}`);
    try {
      expect(JSON.parse((await call(t.port)).body).client).toBe('client-a');
      copyFileSync(clientB.key, live.key);
      copyFileSync(clientB.cert, live.cert);
      await t.agent.waitForLog((l) => l.msg === 'upstream TLS files reloaded' && /client-b/.test(l.clientCert?.subject ?? ''));
      expect(JSON.parse((await call(t.port)).body).client).toBe('client-b');
    } finally {
      await t.cleanup();
      await d.close();
    }
  });
});

describe('direction: outbound, tcp mode', () => {
  it('wraps a plain TCP stream in verified TLS to openssl s_server', async () => {
    const s = await opensslServer(['-rev']);
    const t = await egress(`tls://127.0.0.1:${s.port}`, `ca: ${pki.ca}, serverName: dest.internal`, '    mode: tcp\n');
    try {
      const got = await new Promise<string>((resolve, reject) => {
        let b = '';
        const c = connect(t.port, '127.0.0.1', () => c.write('hello\n'));
        c.on('data', (x) => {
          b += x;
          if (b.includes('olleh')) {
            c.destroy();
            resolve(b);
          }
        });
        c.on('error', reject);
      });
      expect(got).toContain('olleh');
    } finally {
      await t.cleanup();
      await s.close();
    }
  });

  it('resumes the TLS session on the next connection, as nginx proxy_ssl_session_reuse does', async () => {
    const resumed: boolean[] = [];
    const server = createTlsServer({ cert: readFileSync(dest.cert), key: readFileSync(dest.key) }, (s) => {
      resumed.push(s.isSessionReused());
      s.on('data', (d) => s.write(`echo:${d}`));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const t = await egress(`tls://127.0.0.1:${(server.address() as AddressInfo).port}`, `ca: ${pki.ca}, serverName: dest.internal`, '    mode: tcp\n');
    const once = () => new Promise<void>((resolve, reject) => {
      const c = connect(t.port, '127.0.0.1', () => c.write('x'));
      c.on('data', () => c.end());
      c.on('close', () => resolve());
      c.on('error', reject);
    });
    try {
      await once();
      await once();
      expect(resumed).toEqual([false, true]);
    } finally {
      await t.cleanup();
      server.close();
    }
  });

  it('offers upstreamTls.alpn: an h2c app reaches an HTTP/2-only destination over TLS; without it, refused', async () => {
    let refused = 0;
    const server = http2.createSecureServer({ cert: readFileSync(dest.cert), key: readFileSync(dest.key), allowHTTP1: false }, (req, res) => {
      res.end(`${req.url} over ${req.stream.session?.alpnProtocol}`);
    });
    server.on('unknownProtocol', (s) => (refused++, s.destroy())); // no h2 negotiated: RFC 9113 3.2
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const target = `tls://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const h2 = await egress(target, `ca: ${pki.ca}, serverName: dest.internal, alpn: [h2]`, '    mode: tcp\n');
    const plain = await egress(target, `ca: ${pki.ca}, serverName: dest.internal`, '    mode: tcp\n');
    /** The app's cleartext HTTP/2 call (prior knowledge), as a gRPC client makes it. */
    const h2c = (port: number, path: string) => new Promise<string>((resolve, reject) => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on('error', reject);
      session.on('close', () => reject(new Error('session closed before the response')));
      const req = session.request({ ':path': path });
      let body = '';
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.setEncoding('utf8').on('data', (c) => (body += c));
      // A stream the session's end cut short ends too, but without a response.
      req.on('end', () => (status === 200 ? resolve(body) : reject(new Error(`no response (status ${status})`)), session.close()));
      req.on('error', reject);
    });
    try {
      expect(await h2c(h2.port, '/echo.Echo/Say')).toBe('/echo.Echo/Say over h2');
      await expect(h2c(plain.port, '/')).rejects.toThrow();
      expect(refused).toBe(1);
    } finally {
      await h2.cleanup();
      await plain.cleanup();
      server.close();
    }
  });

  it('refuses upstreamTls.alpn in http mode, naming the key', async () => {
    const d = await tempDir();
    try {
      await expect(startTerminator(d.path, '    direction: outbound\n    upstream: https://127.0.0.1:1\n    upstreamTls: { alpn: [h2] }\n')).rejects.toThrow(/upstreamTls\.alpn.*tcp mode/s);
    } finally {
      await d.cleanup();
    }
  });

  it('closes the app connection when the destination accepts TCP but never finishes TLS (timeouts.upstream)', async () => {
    const held: import('node:net').Socket[] = [];
    const silent = createServer((s) => held.push(s)); // accepts, never answers the ClientHello
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const t = await egress(`tls://127.0.0.1:${(silent.address() as AddressInfo).port}`, `ca: ${pki.ca}, serverName: dest.internal`, '    mode: tcp\n    timeouts: { upstream: 300ms }\n');
    try {
      await new Promise<void>((resolve, reject) => {
        const c = connect(t.port, '127.0.0.1', () => c.write('hello\n'));
        c.on('close', () => resolve());
        c.on('error', reject);
      });
      const line = await t.agent.waitForLog((l) => /not up in time/.test(l.msg ?? ''));
      expect(line.timeoutMs).toBe(300);
      expect(await t.metrics()).toMatch(/sidekick_tls_terminator_upstream_errors_total\{[^}]*reason="timeout"[^}]*\} 1/);
    } finally {
      await t.cleanup();
      for (const s of held) s.destroy();
      silent.close();
    }
  });

  it('refuses a plain upstream for direction: outbound (never a downgrade)', async () => {
    const d = await tempDir();
    try {
      await expect(startTerminator(d.path, '    direction: outbound\n    upstream: http://127.0.0.1:1\n')).rejects.toThrow();
    } finally {
      await d.cleanup();
    }
  });
});
