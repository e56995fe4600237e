// Graceful drain on SIGTERM, PROXY protocol v1/v2, trusted forwarding CIDRs, tcp mode, unix
// socket upstream, HTTP->HTTPS redirect listener.
import http from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, eventually, request, startApp, startTerminator, tempDir } from './helpers.ts';

let app: App;
beforeAll(async () => {
  app = await startApp();
});
afterAll(() => app.close());

/** TLS over a TCP connection that first sends `preface` (a PROXY header). */
function viaProxyHeader(port: number, preface: Buffer | string, path = '/echo'): Promise<any> {
  return new Promise((resolve, reject) => {
    const tcp = connect(port, '127.0.0.1', () => {
      tcp.write(preface);
      const s = tlsConnect({ socket: tcp, rejectUnauthorized: false, servername: 'localhost' }, () => s.write(`GET ${path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n`));
      let out = '';
      s.setEncoding('utf8').on('data', (c) => (out += c));
      s.on('end', () => {
        try {
          resolve(JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1)));
        } catch {
          reject(new Error(`not a JSON reply: ${out}`));
        }
      });
      s.on('error', reject);
    });
    tcp.on('error', reject);
  });
}

describe('graceful shutdown', () => {
  it('finishes an in-flight slow request on SIGTERM, refuses new connections, then exits 0', async () => {
    const t = await tempDir();
    const term = await startTerminator(t.path, `    upstream: ${app.url}\n`);
    try {
      const inflight = request(term.port, { path: '/slow?ms=1500' });
      inflight.catch(() => {}); // awaited below; a failed assertion before that must not leave it unhandled
      await eventually(async () => expect((await term.status()).instances.https.details.inFlightRequests).toBe(1));
      const exited = term.agent.stop('SIGTERM');
      await term.agent.waitForLog((l) => /shutting down/.test(l.msg));
      // Refused, or reset: a connection that reached the listen backlog just before the listener
      // closed is reset by the kernel ("socket disconnected before secure TLS connection").
      await expect(request(term.port, { path: '/echo' })).rejects.toMatchObject({ code: expect.stringMatching(/^(ECONNREFUSED|ECONNRESET)$/) });
      const res = await inflight;
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('slow done');
      expect(await exited).toBe(0);
    } finally {
      await term.agent.stop();
      await t.cleanup();
    }
  });

  it('sends HTTP/2 clients a GOAWAY and lets their open stream finish', async () => {
    const t = await tempDir();
    const term = await startTerminator(t.path, `    upstream: ${app.url}\n`);
    const http2 = await import('node:http2');
    const session = http2.connect(`https://127.0.0.1:${term.port}`, { rejectUnauthorized: false });
    try {
      let goaway = false;
      session.on('goaway', () => (goaway = true));
      const body = new Promise<string>((resolve, reject) => {
        const s = session.request({ ':path': '/slow?ms=1000' });
        let out = '';
        s.setEncoding('utf8').on('data', (c) => (out += c)).on('end', () => resolve(out)).on('error', reject);
      });
      await eventually(async () => expect((await term.status()).instances.https.details.inFlightRequests).toBe(1));
      const exited = term.agent.stop('SIGTERM');
      expect(await body).toBe('slow done');
      expect(goaway).toBe(true);
      expect(await exited).toBe(0);
    } finally {
      session.destroy();
      await term.agent.stop();
      await t.cleanup();
    }
  });
});

describe('PROXY protocol and trusted forwarding headers', () => {
  it('takes the client address from PROXY v1 and v2 headers sent by a configured balancer', async () => {
    const t = await tempDir();
    const term = await startTerminator(t.path, `    upstream: ${app.url}\n    proxyProtocol: { from: [127.0.0.0/8] }\n`);
    try {
      const v1 = await viaProxyHeader(term.port, 'PROXY TCP4 203.0.113.7 10.0.0.1 51234 8443\r\n');
      expect(v1.headers['x-forwarded-for']).toBe('203.0.113.7');
      const v2 = Buffer.concat([
        Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x21, 0x11, 0x00, 0x0c]),
        Buffer.from([198, 51, 100, 9, 10, 0, 0, 1]), Buffer.from([0xc8, 0x00, 0x20, 0xfb]),
      ]);
      const viaV2 = await viaProxyHeader(term.port, v2);
      expect(viaV2.headers['x-forwarded-for']).toBe('198.51.100.9');
      expect(viaV2.headers.forwarded).toBe('for=198.51.100.9;proto=https;host="app"');
      // A v1 header whose address is not an IP (here trying to inject a header line) is refused.
      await expect(viaProxyHeader(term.port, 'PROXY TCP4 1.2.3.4\nX-Evil:1 10.0.0.1 51234 8443\r\n')).rejects.toThrow();
      // From a configured balancer, a connection without the header is refused.
      await expect(request(term.port, { path: '/echo' })).rejects.toThrow();
    } finally {
      await term.agent.stop();
      await t.cleanup();
    }
  });

  it('tells a tcp-mode app the client address in a PROXY v1 or v2 header of its own (sendProxyProtocol)', async () => {
    // The app records what each connection sends up to the client's "hello", then answers.
    const seen: Buffer[] = [];
    const raw = createServer((s) => {
      let got = Buffer.alloc(0);
      s.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
        if (got.toString('latin1').endsWith('hello')) (seen.push(got), s.end('ok'));
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const upstream = `tcp://127.0.0.1:${(raw.address() as AddressInfo).port}`;
    const [ta, tb] = [await tempDir(), await tempDir()];
    const direct = await startTerminator(ta.path, `    mode: tcp\n    upstream: ${upstream}\n    sendProxyProtocol: v1\n`);
    const behindLb = await startTerminator(tb.path, `    mode: tcp\n    upstream: ${upstream}\n    proxyProtocol: { from: [127.0.0.0/8] }\n    sendProxyProtocol: v2\n`);
    /** Client bytes "hello" over TLS, after `preface` on the TCP connection; resolves with the local port. */
    const visit = (port: number, preface = '') =>
      new Promise<number>((resolve, reject) => {
        const tcp = connect(port, '127.0.0.1', () => {
          if (preface) tcp.write(preface);
          const s = tlsConnect({ socket: tcp, rejectUnauthorized: false }, () => s.write('hello'));
          s.on('data', () => {});
          s.on('end', () => resolve(tcp.localPort!));
          s.on('error', reject);
        });
        tcp.on('error', reject);
      });
    try {
      const clientPort = await visit(direct.port);
      expect(seen[0]!.toString('latin1')).toBe(`PROXY TCP4 127.0.0.1 127.0.0.1 ${clientPort} ${direct.port}\r\nhello`);
      await visit(behindLb.port, 'PROXY TCP4 203.0.113.7 10.0.0.1 51234 8443\r\n');
      const port = Buffer.alloc(2);
      port.writeUInt16BE(behindLb.port);
      expect(seen[1]!.toString('hex')).toBe(
        `0d0a0d0a000d0a515549540a2111000c${'cb007107'}${'7f000001'}${'c822'}${port.toString('hex')}${Buffer.from('hello').toString('hex')}`,
      );
    } finally {
      await direct.agent.stop();
      await behindLb.agent.stop();
      raw.close();
      await ta.cleanup();
      await tb.cleanup();
    }
  });

  it('keeps and appends to forwarding headers only from trusted CIDRs', async () => {
    const t = await tempDir();
    const term = await startTerminator(t.path, `    upstream: ${app.url}\n    trustedProxies: [127.0.0.1]\n`);
    try {
      const res = await request(term.port, { path: '/echo', headers: { 'x-forwarded-for': '203.0.113.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example', forwarded: 'for=203.0.113.1' } });
      const h = JSON.parse(res.body.toString()).headers;
      expect(h['x-forwarded-for']).toBe('203.0.113.1, 127.0.0.1');
      expect(h['x-forwarded-host']).toBe('shop.example');
      expect(h.forwarded).toBe(`for=203.0.113.1, for=127.0.0.1;proto=https;host="127.0.0.1:${term.port}"`);
    } finally {
      await term.agent.stop();
      await t.cleanup();
    }
  });
});

describe('tcp mode', () => {
  it('terminates TLS and pipes bytes both ways to a raw TCP app', async () => {
    const echo = createServer((s) => s.on('data', (c: Buffer) => s.write(Buffer.concat([Buffer.from('echo:'), c]))));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const t = await tempDir();
    const term = await startTerminator(t.path, `    mode: tcp\n    upstream: tcp://127.0.0.1:${(echo.address() as AddressInfo).port}\n`);
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false }, () => s.write('PING\n'));
        s.setEncoding('utf8').once('data', (d) => (resolve(d), s.end()));
        s.on('error', reject);
      });
      expect(reply).toBe('echo:PING\n');
      await term.agent.waitForLog((l) => l.msg === 'connection' && l.bytesIn > 0);
    } finally {
      await term.agent.stop();
      echo.close();
      await t.cleanup();
    }
  });
});

describe('unix socket upstream and redirect listener', () => {
  it('proxies to an app on a unix socket and redirects plain HTTP to https with a 308', async () => {
    const t = await tempDir();
    const sock = join(t.path, 'app.sock');
    const unixApp = http.createServer((req, res) => res.end(`unix ${req.url}`));
    await new Promise<void>((r) => unixApp.listen(sock, r));
    const term = await startTerminator(t.path, `    upstream: ${sock}\n    redirectHttp: { listen: 127.0.0.1:0 }\n`);
    try {
      expect((await request(term.port, { path: '/u' })).body.toString()).toBe('unix /u');
      const status = await term.status();
      const redirectPort = status.instances.https.details.redirectPort;
      const res = await fetch(`http://127.0.0.1:${redirectPort}/a?b=1`, { redirect: 'manual' });
      expect(res.status).toBe(308);
      expect(res.headers.get('location')).toBe(`https://127.0.0.1:${term.port}/a?b=1`);
    } finally {
      await term.agent.stop();
      unixApp.close();
      await t.cleanup();
    }
  });
});

describe('connection limits and idle timeout', () => {
  it('refuses connections beyond maxConnections when none is idle, and closes idle keep-alive connections', async () => {
    const t = await tempDir();
    const term = await startTerminator(t.path, `    upstream: ${app.url}\n    limits: { maxConnections: 2 }\n    timeouts: { idle: 300ms }\n`);
    const open: Array<ReturnType<typeof tlsConnect>> = [];
    try {
      for (let i = 0; i < 2; i++) {
        open.push(await new Promise((resolve, reject) => {
          // Mid-request (a head on its way): not idle, so not closed to make room (limits.test.ts).
          const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
            s.write('GET /echo HTTP/1.1\r\nHost: x\r\n', () => resolve(s));
          });
          s.on('error', reject);
        }));
      }
      await expect(request(term.port, { path: '/echo' })).rejects.toThrow();
      expect(await term.metrics()).toMatch(/sidekick_tls_terminator_rejected_total\{instance="https",reason="max_connections"\} [1-9]/);
      // An idle keep-alive connection is closed by the server after a request.
      const first = open[0]!;
      const closed = new Promise<string>((resolve) => {
        let out = '';
        first.setEncoding('utf8').on('data', (c) => (out += c));
        first.on('close', () => resolve(out));
      });
      first.write('\r\n');
      expect(await closed).toMatch(/^HTTP\/1\.1 200 OK/);
      open[1]!.destroy();
      await eventually(async () => expect((await request(term.port, { path: '/echo' })).status).toBe(200));
    } finally {
      for (const s of open) s.destroy();
      await term.agent.stop();
      await t.cleanup();
    }
  });
});

describe('access log', () => {
  it('writes every request line before exit, even when buffered', async () => {
    const t = await tempDir();
    const term = await startTerminator(t.path, `    upstream: ${app.url}\n`);
    const https = await import('node:https');
    const agent = new https.Agent({ keepAlive: true, maxSockets: 4, rejectUnauthorized: false });
    try {
      await Promise.all(Array.from({ length: 60 }, (_, i) => request(term.port, { path: `/echo?n=${i}`, agent })));
      expect(await term.agent.stop('SIGTERM')).toBe(0);
      const lines = term.agent.logs.filter((l) => l.msg === 'request' && /^\/echo\?n=\d+$/.test(l.path));
      expect(new Set(lines.map((l) => l.path)).size).toBe(60);
      expect(lines[0]).toMatchObject({ level: 'info', instance: 'https', plugin: 'tls-terminator', method: 'GET', status: 200 });
    } finally {
      agent.destroy();
      await term.agent.stop();
      await t.cleanup();
    }
  });

  it('follows the agent log level: nothing at warn', async () => {
    const t = await tempDir();
    const { spawnAgent } = await import('../../helpers/agent-process.ts');
    const { writeFile } = await import('node:fs/promises');
    // At warn the agent logs no "ready" line: use a known admin port to find the plugin's port.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const adminPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const file = join(t.path, 'sidekick.yaml');
    await writeFile(file, `admin: { listen: 127.0.0.1:${adminPort} }\nlog: { level: warn }\ndataDir: ${t.path}/data\nplugins:\n  https:\n    type: tls-terminator\n    listen: 127.0.0.1:0\n    upstream: ${app.url}\n`);
    const agent = await spawnAgent(['run', '--config', file], { waitReady: false });
    agent.adminUrl = `http://127.0.0.1:${adminPort}`;
    try {
      const port = await eventually(async () => (await agent.status()).instances.https.details.port as number);
      expect((await request(port, { path: '/echo?quiet=1' })).status).toBe(200);
      expect(await agent.stop('SIGTERM')).toBe(0);
      expect(agent.logs.filter((l) => l.msg === 'request')).toEqual([]);
    } finally {
      await agent.stop();
      await t.cleanup();
    }
  });
});

describe('slow-read clients', () => {
  it('closes a response the client stops reading for longer than timeouts.idle, freeing the app connection', async () => {
    const t = await tempDir();
    const term = await startTerminator(t.path, `    upstream: ${app.url}\n    timeouts: { idle: 500ms }\n`);
    const https = await import('node:https');
    try {
      const before = app.downloads.length;
      const req = https.get({ host: '127.0.0.1', port: term.port, path: `/download?bytes=${1024 ** 3}`, rejectUnauthorized: false, agent: false });
      const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject));
      res.pause();
      await eventually(() => expect(app.downloads[before]?.closed).toBe(true));
      // The client, once it reads again, finds the response cut off (it sees the close only then).
      res.on('error', () => {});
      res.resume();
      await new Promise((r) => res.once('close', r));
      expect(res.complete).toBe(false);
      expect(app.downloads[before]!.sent).toBeLessThan(1024 ** 3);
      await term.agent.waitForLog((l) => l.msg === 'request' && l.note === 'ERR_SIDEKICK_TLS_CLIENT_STALLED mid-response');
    } finally {
      await term.agent.stop();
      await t.cleanup();
    }
  });
});
