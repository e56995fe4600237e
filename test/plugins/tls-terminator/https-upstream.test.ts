// `upstream: https://` and `tls://`: an app that serves TLS itself, with its certificate verified
// against upstreamTls.ca (or, said loudly, not verified at all). Real TLS app servers: Node's
// https server for http mode, a TLS echo server for tcp mode.
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Pki, createPki, request, startTerminator, tempDir } from './helpers.ts';

let dir: { path: string; cleanup(): Promise<void> };
let pki: Pki;
let good: { cert: string; key: string };
let selfSigned: { cert: string; key: string };

beforeAll(async () => {
  dir = await tempDir('sidekick-https-up-');
  pki = createPki(dir.path);
  good = pki.issue('app', { cn: 'app.internal', san: 'DNS:app.internal,IP:127.0.0.1' });
  selfSigned = pki.issue('selfsigned', { cn: 'legacy', san: 'DNS:legacy', selfSigned: true });
});
afterAll(() => dir.cleanup());

async function httpsApp(pair: { cert: string; key: string }): Promise<{ port: number; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server = https.createServer({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }, (req, res) => {
    seen.push(`${req.method} ${req.url} ${(req.socket as import('node:tls').TLSSocket).getProtocol()}`);
    res.end(`tls app says hi to ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

describe('upstream: https:// (http mode)', () => {
  it('verifies the app against upstreamTls.ca and proxies over TLS, keep-alive reused', async () => {
    const app = await httpsApp(good);
    const term = await startTerminator(dir.path, `    upstream: https://127.0.0.1:${app.port}\n    upstreamTls: { ca: ${pki.ca} }\n`);
    try {
      for (const path of ['/a', '/b', '/c']) {
        const r = await request(term.port, { path });
        expect(r.status).toBe(200);
        expect(r.body.toString()).toBe(`tls app says hi to ${path}`);
      }
      expect(app.seen.map((s) => s.split(' ')[2])).toEqual(['TLSv1.3', 'TLSv1.3', 'TLSv1.3']);
      expect(term.agent.logs.some((l) => /insecureSkipVerify/.test(l.msg ?? ''))).toBe(false);
    } finally {
      await term.agent.stop();
      await app.close();
    }
  });

  it('takes a new CA bundle without a restart (the app re-issued by a new CA, as cert-manager rotates one)', async () => {
    const newCaDir = join(dir.path, 'new-ca');
    mkdirSync(newCaDir);
    const newPki = createPki(newCaDir);
    const reissued = newPki.issue('app2', { cn: 'app.internal', san: 'DNS:app.internal,IP:127.0.0.1' });
    const bundle = join(dir.path, 'bundle.crt');
    copyFileSync(pki.ca, bundle);
    const app = await httpsApp(reissued);
    const term = await startTerminator(dir.path, `    upstream: https://127.0.0.1:${app.port}\n    upstreamTls: { ca: ${bundle} }\n`);
    try {
      expect((await request(term.port, { path: '/before' })).status).toBe(502); // the old CA does not know it
      copyFileSync(newPki.ca, bundle);
      await term.agent.waitForLog((l) => l.msg === 'upstream TLS files reloaded');
      const r = await request(term.port, { path: '/after' });
      expect(r.status).toBe(200);
      expect(app.seen).toEqual(['GET /after TLSv1.3']);
    } finally {
      await term.agent.stop();
      await app.close();
    }
  });

  it('answers 502 with an error log when the app certificate does not verify, and never sends in clear', async () => {
    const app = await httpsApp(selfSigned); // not signed by the CA we trust
    const term = await startTerminator(dir.path, `    upstream: https://127.0.0.1:${app.port}\n    upstreamTls: { ca: ${pki.ca}, serverName: legacy }\n`);
    try {
      const r = await request(term.port, { path: '/secret' });
      expect(r.status).toBe(502);
      const line = await term.agent.waitForLog((l) => /TLS to the app failed/.test(l.msg ?? ''));
      expect(line.level).toBe('error');
      expect(line.err).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
      expect(app.seen).toEqual([]);
      expect(await term.metrics()).toMatch(/sidekick_tls_terminator_upstream_errors_total\{[^}]*reason="tls"[^}]*\} 1/);
    } finally {
      await term.agent.stop();
      await app.close();
    }
  });

  it('refuses a certificate for another name (serverName checked)', async () => {
    const app = await httpsApp(good);
    const term = await startTerminator(dir.path, `    upstream: https://127.0.0.1:${app.port}\n    upstreamTls: { ca: ${pki.ca}, serverName: other.internal }\n`);
    try {
      expect((await request(term.port)).status).toBe(502);
      const line = await term.agent.waitForLog((l) => /TLS to the app failed/.test(l.msg ?? ''));
      expect(line.err).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      await term.agent.stop();
      await app.close();
    }
  });

  it('with insecureSkipVerify accepts a self-signed app and says so at start', async () => {
    const app = await httpsApp(selfSigned);
    const term = await startTerminator(dir.path, `    upstream: https://127.0.0.1:${app.port}\n    upstreamTls: { insecureSkipVerify: true }\n`);
    try {
      const warn = term.agent.logs.find((l) => /insecureSkipVerify/.test(l.msg ?? ''));
      expect(warn?.level).toBe('warn');
      const r = await request(term.port, { path: '/x' });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('tls app says hi to /x');
    } finally {
      await term.agent.stop();
      await app.close();
    }
  });
});

describe('upstream: tls:// (tcp mode)', () => {
  it('pipes bytes to a verified TLS app; an unverified one closes the client with an error log', async () => {
    const server = createTlsServer({ cert: readFileSync(good.cert), key: readFileSync(good.key) }, (s) => s.on('data', (d) => s.write(`echo:${d}`)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const roundTrip = (termPort: number) => new Promise<string>((resolve) => {
      let got = '';
      const c = tlsConnect({ host: '127.0.0.1', port: termPort, rejectUnauthorized: false }, () => c.write('ping'));
      c.on('data', (d) => {
        got += d;
        if (got.length >= 9) c.end();
      });
      c.on('close', () => resolve(got));
      c.on('error', () => {});
    });
    // Each agent in its own directory: an agent watches its config file, which the next start would rewrite.
    const okDir = await tempDir();
    const badDir = await tempDir();
    const ok = await startTerminator(okDir.path, `    mode: tcp\n    upstream: tls://127.0.0.1:${port}\n    upstreamTls: { ca: ${pki.ca} }\n`);
    const bad = await startTerminator(badDir.path, `    mode: tcp\n    upstream: tls://127.0.0.1:${port}\n    upstreamTls: { ca: ${selfSigned.cert}, serverName: legacy }\n`);
    try {
      const got = await roundTrip(ok.port);
      expect(got).toBe('echo:ping');
      expect(await roundTrip(bad.port)).toBe('');
      const line = await bad.agent.waitForLog((l) => /TLS to the app failed/.test(l.msg ?? ''));
      expect(line.level).toBe('error');
    } finally {
      await ok.agent.stop();
      await bad.agent.stop();
      server.close();
      await okDir.cleanup();
      await badDir.cleanup();
    }
  });
});
