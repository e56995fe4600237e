// What the app sends back, byte for byte (a raw TCP app): framing variants reach the client
// intact, a lying or smuggling app gets 502, and a kept-alive connection the app closed is
// replaced without failing the request.
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Terminator, request, startTerminator, tempDir } from './helpers.ts';

let app: Server;
let term: Terminator;
let cleanup: () => Promise<void>;
const sockets = new Set<Socket>();
let connections = 0;
const heads: string[] = [];

// Each request path picks a canned response; requests are read up to the blank line.
const RESPONSES: Record<string, string> = {
  '/chunked-trailers': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n',
  '/no-content': 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n',
  '/not-modified': 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
  '/head': 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n',
  '/until-close': 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close',
  '/two-lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  '/cl-and-te': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  '/early-hints': 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  '/close-after': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok',
  '/ws-refused': 'HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\nno ws\r\n',
  '/cookies': 'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n',
  '/hop-by-hop': 'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Drop\r\nKeep-Alive: timeout=5\r\nX-A:1\r\nX-Drop: secret\r\n'
    + 'X-B: \xe9 v \r\nTE: trailers\r\nUpgrade: h2c\r\nContent-Length: 2\r\nTrailer: X-Sum\r\n\r\nok',
};

beforeAll(async () => {
  app = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.setEncoding('latin1').on('data', (c: string) => {
      buf += c;
      let end;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const path = head.split(' ')[1]!;
        heads.push(head);
        const reply = RESPONSES[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n';
        s.write(reply, 'latin1');
        if (path === '/until-close' || path === '/close-after') s.end();
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const t = await tempDir();
  term = await startTerminator(t.path, `    upstream: http://127.0.0.1:${(app.address() as AddressInfo).port}\n`);
  cleanup = async () => {
    await term.agent.stop();
    for (const s of sockets) s.destroy();
    app.close();
    await t.cleanup();
  };
});
afterAll(() => cleanup?.());

describe('app response framing', () => {
  it('passes chunked bodies (extensions and trailers dropped), 204, 304, HEAD and close-delimited bodies', async () => {
    expect((await request(term.port, { path: '/chunked-trailers' })).body.toString()).toBe('hello world');
    const nc = await request(term.port, { path: '/no-content' });
    expect([nc.status, nc.headers['x-a'], nc.body.length]).toEqual([204, '1', 0]);
    const nm = await request(term.port, { path: '/not-modified' });
    expect([nm.status, nm.headers.etag]).toEqual([304, '"x"']);
    const head = await request(term.port, { path: '/head', method: 'HEAD' });
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, '1234', 0]);
    expect((await request(term.port, { path: '/until-close' })).body.toString()).toBe('body until close');
    const hints = await request(term.port, { path: '/early-hints' });
    expect([hints.status, hints.body.toString()]).toEqual([200, 'ok']);
    expect((await request(term.port, { path: '/cookies' })).headers['set-cookie']).toEqual(['a=1', 'b=2']);
  });

  it('sends the app\'s end-to-end field lines on byte for byte, without hop-by-hop or Connection-named ones', async () => {
    const { connect: tlsConnect } = await import('node:tls');
    const reply = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
        s.write('GET /hop-by-hop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      let out = '';
      s.setEncoding('latin1').on('data', (c) => (out += c));
      s.on('close', () => resolve(out));
      s.on('error', reject);
    });
    // The client asked to close: the one Connection line is Sidekick's own.
    expect(reply).toBe('HTTP/1.1 200 OK\r\nX-A:1\r\nX-B: \xe9 v \r\nContent-Length: 2\r\nconnection: close\r\n\r\nok');
  });

  it('answers 502 when the app sends conflicting lengths or Content-Length with Transfer-Encoding', async () => {
    for (const path of ['/two-lengths', '/cl-and-te']) {
      const res = await request(term.port, { path });
      expect(res.status, path).toBe(502);
    }
    expect((await request(term.port, { path: '/chunked-trailers' })).status).toBe(200);
  });

  it('replaces a kept-alive connection the app closed, without failing the request', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await request(term.port, { path: '/close-after' });
      expect(res.body.toString()).toBe('ok');
    }
    // Close every idle app-side connection behind the proxy's back, then keep going.
    for (const s of sockets) s.destroy();
    const before = connections;
    for (let i = 0; i < 5; i++) expect((await request(term.port, { path: '/chunked-trailers' })).status).toBe(200);
    expect(connections).toBeGreaterThan(before);
  });
});

describe('refused upgrade', () => {
  it('relays the refusal and closes, so nothing else the client sends reaches the app unfiltered', async () => {
    const { connect: tlsConnect } = await import('node:tls');
    const reply = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
        s.write('GET /ws-refused HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
        // A second request smuggled behind the refused upgrade, with a spoofed identity header.
        setTimeout(() => s.write('GET /cookies HTTP/1.1\r\nHost: x\r\nClient-Cert: :AAAA:\r\n\r\n'), 100);
      });
      let out = '';
      s.setEncoding('latin1').on('data', (c) => (out += c));
      s.on('close', () => resolve(out));
      s.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*no ws\r\n$/);
    expect(heads.some((h) => /client-cert/i.test(h))).toBe(false);
  });
});
