// http mode end to end: real agent, real app, real TLS clients (node https/http2, ws, curl).
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { type App, type Terminator, eventually, request, startApp, startTerminator, tempDir, tlsVisit } from './helpers.ts';

// Every test runs twice: on the HTTP/1.1 fast path (the default) and with it off, so Node's http
// server, which the fast path hands unusual requests to, stays tested on its own too.
describe.each([true, false])('http1FastPath: %s', (fastPath) => {
  let app: App;
  let term: Terminator;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    app = await startApp();
    // WebSocket echo on the same app port, as a legacy app would serve it.
    const wss = new WebSocketServer({ server: app.server });
    wss.on('connection', (ws, req) => {
      ws.send(`hello ${req.headers['x-forwarded-for']}`);
      ws.on('message', (m) => ws.send(`echo:${m}`));
    });
    const t = await tempDir();
    term = await startTerminator(t.path, `    upstream: ${app.url}\n    http1FastPath: ${fastPath}\n    fingerprint: { headers: true }\n    hsts: { maxAge: 1d }\n    timeouts: { upstream: 1s }\n`);
    cleanup = async () => {
      await term.agent.stop();
      wss.close();
      await app.close();
      await t.cleanup();
    };
  });
  afterAll(() => cleanup?.());

  describe('http mode', () => {
    it('proxies HTTP/1.1 with forwarding headers and HSTS, keeping the app response', async () => {
      const res = await request(term.port, { path: '/echo?a=1', headers: { 'x-custom': 'kept', 'x-latin': 'caf\u00e9' } });
      expect(res.status).toBe(200);
      expect(res.headers['strict-transport-security']).toBe('max-age=86400');
      const seen = JSON.parse(res.body.toString());
      expect(seen.url).toBe('/echo?a=1');
      expect(seen.headers['x-custom']).toBe('kept');
      expect(seen.headers['x-latin']).toBe('caf\u00e9'); // byte 0xE9 passed through, not re-encoded
      expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(seen.headers['x-forwarded-proto']).toBe('https');
      expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${term.port}`);
      expect(seen.headers.forwarded).toBe(`for=127.0.0.1;proto=https;host="127.0.0.1:${term.port}"`);
      expect(seen.headers['x-ja4-fingerprint']).toMatch(/^t1[23][di]\d{4}00_[0-9a-f]{12}_[0-9a-f]{12}$/);
    });

    it('strips every client-sent copy of forwarding, identity and fingerprint headers', async () => {
      const spoof = {
        'X-Forwarded-For': '6.6.6.6', 'x-forwarded-proto': 'http', 'X-Forwarded-Host': 'evil', Forwarded: 'for=6.6.6.6',
        'Client-Cert': ':AAAA:', 'Client-Cert-Chain': ':AAAA:', 'X-Client-Cert-Subject': 'CN=admin', 'X-Client-Cert-SAN': 'URI:spiffe://x',
        'X-JA3-Fingerprint': 'fake', 'X-JA4-Fingerprint': 'fake', 'X-Real-IP': '6.6.6.6', 'X-Forwarded-Client-Cert': 'Hash=1',
      };
      const res = await request(term.port, { path: '/echo', headers: spoof });
      const seen = JSON.parse(res.body.toString());
      const raw: string[] = seen.rawHeaders;
      const values = (name: string) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === name);
      expect(values('x-forwarded-for')).toEqual(['127.0.0.1']);
      expect(values('x-forwarded-proto')).toEqual(['https']);
      expect(values('x-forwarded-host')).toEqual([`127.0.0.1:${term.port}`]);
      expect(values('forwarded')).toEqual([`for=127.0.0.1;proto=https;host="127.0.0.1:${term.port}"`]);
      for (const name of ['client-cert', 'client-cert-chain', 'x-client-cert-subject', 'x-client-cert-san', 'x-real-ip', 'x-forwarded-client-cert']) {
        expect(values(name), name).toEqual([]);
      }
      expect(values('x-ja3-fingerprint')).toHaveLength(1);
      expect(values('x-ja3-fingerprint')[0]).toMatch(/^[0-9a-f]{32}$/);
      expect(values('x-ja4-fingerprint')[0]).not.toBe('fake');
    });

    it('serves HTTP/2 clients (ALPN h2) and proxies them as HTTP/1.1, with cookies joined', async () => {
      const session = http2.connect(`https://127.0.0.1:${term.port}`, { rejectUnauthorized: false });
      try {
        const body = await new Promise<string>((resolve, reject) => {
          const s = session.request({ ':path': '/echo', cookie: ['a=1', 'b=2'], 'x-forwarded-for': '6.6.6.6' });
          let out = '';
          s.setEncoding('utf8').on('data', (c) => (out += c)).on('end', () => resolve(out)).on('error', reject);
        });
        const seen = JSON.parse(body);
        expect(session.alpnProtocol).toBe('h2');
        expect(seen.httpVersion).toBe('1.1');
        expect(seen.headers.cookie).toBe('a=1; b=2');
        expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
        expect(seen.headers.host).toBe(`127.0.0.1:${term.port}`);
        expect(seen.headers['x-ja4-fingerprint']).toMatch(/h2_/);
      } finally {
        session.close();
      }
    });

    it('streams a large upload and a large download intact (HTTP/1.1 and HTTP/2)', async () => {
      const size = 24 * 1024 * 1024 + 7;
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4096) payload[i] = i & 0xff;
      const up = await request(term.port, { path: '/upload', method: 'POST', body: payload });
      expect(JSON.parse(up.body.toString())).toEqual({ bytes: size, sha256: createHash('sha256').update(payload).digest('hex') });

      const down = await request(term.port, { path: `/download?bytes=${size}` });
      expect(down.body.length).toBe(size);

      const session = http2.connect(`https://127.0.0.1:${term.port}`, { rejectUnauthorized: false });
      try {
        const got = await new Promise<number>((resolve, reject) => {
          const s = session.request({ ':path': `/download?bytes=${size}` });
          let n = 0;
          s.on('data', (c: Buffer) => (n += c.length)).on('end', () => resolve(n)).on('error', reject);
        });
        expect(got).toBe(size);
        const h2up = await new Promise<string>((resolve, reject) => {
          const s = session.request({ ':path': '/upload', ':method': 'POST' });
          let out = '';
          s.setEncoding('utf8').on('data', (c) => (out += c)).on('end', () => resolve(out)).on('error', reject);
          s.end(payload);
        });
        expect(JSON.parse(h2up).bytes).toBe(size);
      } finally {
        session.close();
      }
    });

    it('never buffers a download the client does not read: the app is held back, then cancelled', async () => {
      const total = 2 * 1024 * 1024 * 1024;
      const before = app.downloads.length;
      const req = https.get({ host: '127.0.0.1', port: term.port, path: `/download?bytes=${total}`, rejectUnauthorized: false, agent: false });
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject));
      res.pause(); // a client that stops reading
      const progress = await eventually(() => {
        const p = app.downloads[before];
        if (!p) throw new Error('download not started');
        return p;
      });
      // Wait until the app is blocked: its byte count stops moving (bounded polling).
      let last = -1;
      for (let i = 0; i < 100 && progress.sent !== last; i++) {
        last = progress.sent;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(progress.sent).toBe(last);
      expect(progress.sent).toBeLessThan(64 * 1024 * 1024); // socket buffers, not the whole 2 GiB
      // Held back longer than timeouts.upstream (1s here): a stalled reader is not a slow app.
      // Still bounded by socket buffers, not equal to `last`: on a loaded machine the kernel's
      // buffer autotuning can let a few more MiB through after a quiet 100 ms (a CI run saw +1.4 MiB).
      await new Promise((r) => setTimeout(r, 1500));
      expect(progress.closed).toBe(false);
      expect(progress.sent).toBeLessThan(64 * 1024 * 1024);
      req.destroy();
      await eventually(() => expect(progress.closed).toBe(true));
    });

    it('reuses client keep-alive connections', async () => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
      const ports = new Set<number>();
      for (let i = 0; i < 5; i++) {
        const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
          https.get({ host: '127.0.0.1', port: term.port, path: '/echo', agent }, resolve).on('error', reject));
        ports.add(res.socket.localPort!);
        res.resume();
        await new Promise((r) => res.on('end', r));
      }
      agent.destroy();
      expect(ports.size).toBe(1);
    });

    it('proxies WebSocket upgrades both ways', async () => {
      const ws = new WebSocket(`wss://127.0.0.1:${term.port}/ws`, { rejectUnauthorized: false });
      const messages: string[] = [];
      await new Promise<void>((resolve, reject) => {
        ws.on('message', (m) => {
          messages.push(String(m));
          if (messages.length === 1) ws.send('ping-1');
          else ws.close();
        });
        ws.on('close', () => resolve());
        ws.on('error', reject);
      });
      expect(messages).toEqual(['hello 127.0.0.1', 'echo:ping-1']);
    });

    it('relays Expect: 100-continue from the app', async () => {
      const res = await new Promise<{ continued: boolean; status: number; body: string }>((resolve, reject) => {
        let continued = false;
        const req = https.request({ host: '127.0.0.1', port: term.port, path: '/upload', method: 'POST', rejectUnauthorized: false, agent: false,
          headers: { expect: '100-continue', 'content-length': 5 } });
        req.on('continue', () => {
          continued = true;
          req.end('hello');
        });
        req.on('response', (r) => {
          let body = '';
          r.on('data', (c) => (body += c)).on('end', () => resolve({ continued, status: r.statusCode!, body }));
        });
        req.on('error', reject);
      });
      expect(res.continued).toBe(true);
      expect(JSON.parse(res.body).bytes).toBe(5);
    });

    it('answers 504 with a short body when the app is too slow, and logs it', async () => {
      const res = await request(term.port, { path: '/slow?ms=5000' });
      expect(res.status).toBe(504);
      expect(res.body.toString()).toBe('upstream timed out\n');
      await term.agent.waitForLog((l) => l.msg === 'app too slow: 504' && l.path === '/slow?ms=5000');
    });

    it('writes one access-log line per request with method, path, status, bytes, client, TLS version and JA4', async () => {
      await request(term.port, { path: '/echo?log=1', servername: 'localhost' });
      const line = await term.agent.waitForLog((l) => l.msg === 'request' && l.path === '/echo?log=1');
      expect(line).toMatchObject({ method: 'GET', status: 200, client: '127.0.0.1', sni: 'localhost', tls: 'TLSv1.3' });
      expect(line.bytes).toBeGreaterThan(0);
      expect(line.ja4).toMatch(/^t13d/);
      expect(typeof line.ms).toBe('number');
    });

    it('exports request, connection and certificate metrics', async () => {
      const text = await term.metrics();
      expect(text).toMatch(/sidekick_tls_terminator_requests_total\{instance="https",class="2xx"\} [1-9]/);
      expect(text).toMatch(/sidekick_tls_terminator_requests_total\{instance="https",class="5xx"\} [1-9]/);
      expect(text).toMatch(/sidekick_tls_terminator_request_duration_seconds_count\{instance="https"\} [1-9]/);
      expect(text).toMatch(/sidekick_tls_terminator_cert_expiry_timestamp_seconds\{instance="https",cert="self-signed"\} \d{10}/);
      expect(text).toMatch(/sidekick_tls_terminator_active_connections\{instance="https"\}/);
    });

    it('resumes TLS sessions (tickets) on TLS 1.2 and TLS 1.3', async () => {
      for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
        const first = await tlsVisit(term.port, version);
        expect(first.reused).toBe(false);
        expect(first.session).toBeInstanceOf(Buffer);
        expect((await tlsVisit(term.port, version, first.session)).reused, version).toBe(true);
      }
    });

    it('picks the cipher in server order: AES-128-GCM, unless the client puts ChaCha20 first', async () => {
      const negotiated = (opts: { ciphers?: string; maxVersion?: 'TLSv1.2' }) =>
        new Promise<string>((resolve, reject) => {
          const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false, ...opts });
          s.on('secureConnect', () => (resolve(s.getCipher().standardName), s.destroy()));
          s.on('error', reject);
        });
      // Node's own client lists TLS_AES_256_GCM_SHA384 first: the server's order wins.
      expect(await negotiated({})).toBe('TLS_AES_128_GCM_SHA256');
      expect(await negotiated({ ciphers: 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256' })).toBe('TLS_CHACHA20_POLY1305_SHA256');
      expect(await negotiated({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256' })).toBe('TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
    });

    it('offers only TLS 1.2 and up', async () => {
      const err = await new Promise<Error | undefined>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
        s.on('secureConnect', () => (s.destroy(), resolve(undefined)));
        s.on('error', resolve);
      });
      expect(err).toBeInstanceOf(Error);
      const ok = await request(term.port, { path: '/echo', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
      expect(ok.status).toBe(200);
    });
  });

  describe('http mode, app down', () => {
    it('answers 502 with a short body and a log line', async () => {
      const t = await tempDir();
      const free = http.createServer();
      await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
      const deadPort = (free.address() as { port: number }).port;
      await new Promise((r) => free.close(r));
      const term2 = await startTerminator(t.path, `    upstream: http://127.0.0.1:${deadPort}\n`);
      try {
        const res = await request(term2.port, { path: '/x' });
        expect(res.status).toBe(502);
        expect(res.body.toString()).toBe('upstream unavailable\n');
        await term2.agent.waitForLog((l) => l.msg === 'app unreachable: 502' && l.err === 'ECONNREFUSED');
      } finally {
        await term2.agent.stop();
        await t.cleanup();
      }
    });
  });
});
