// The HTTP/1.1 fast path (fast-connection.ts) with real clients: raw TLS sockets, node https,
// curl and openssl s_client. Whether a request stayed on the fast path or went to Node's http
// server is read from sidekick_tls_terminator_http1_handoffs_total, so every test below would
// fail if the fast path silently handed everything to Node (or kept something it must not).
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { type Terminator, startTerminator, tempDir } from './helpers.ts';

const run = promisify(execFile);
let term: Terminator;
let app: http.Server;
let dir: string;
let cleanup: () => Promise<void>;
/** Paths the app was asked for, in order. */
const seenPaths: string[] = [];

beforeAll(async () => {
  app = http.createServer((req, res) => {
    seenPaths.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => ((bytes += c.length), hash.update(c)));
      req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
      return;
    }
    if (url.pathname === '/early') return void res.end('early'); // answers without reading the body
    if (url.pathname === '/bytes') {
      // Content-Length (or chunked with ?chunked) download of N pseudo-random bytes, written with backpressure.
      const n = Number(url.searchParams.get('n'));
      const data = randomBytes(n);
      res.setHeader('x-sha256', createHash('sha256').update(data).digest('hex'));
      if (!url.searchParams.has('chunked')) res.setHeader('content-length', n);
      let off = 0;
      const pump = () => {
        while (off < n) {
          const piece = data.subarray(off, (off += 60_000));
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    req.resume();
    req.on('end', () => res.end(JSON.stringify({ url: req.url, rawHeaders: req.rawHeaders })));
  });
  const wss = new WebSocketServer({ server: app });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${m}`)));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const t = await tempDir();
  dir = t.path;
  term = await startTerminator(t.path, `    upstream: http://127.0.0.1:${(app.address() as AddressInfo).port}
    fingerprint: { headers: true }
    timeouts: { headers: 1s }
    limits: { maxHeaderSize: 8KiB }
`);
  cleanup = async () => {
    await term.agent.stop();
    wss.close();
    app.closeAllConnections();
    await new Promise((r) => app.close(r));
    await t.cleanup();
  };
});
afterAll(() => cleanup?.());

async function handOffs(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await term.metrics()).matchAll(/^sidekick_tls_terminator_http1_handoffs_total\{[^}]*reason="(\w+)"[^}]*\} (\d+)/gm)) {
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

async function handOffDelta<T>(fn: () => Promise<T>): Promise<{ result: T; delta: Record<string, number> }> {
  const before = await handOffs();
  const result = await fn();
  const after = await handOffs();
  const delta: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v !== (before[k] ?? 0)) delta[k] = v - (before[k] ?? 0);
  return { result, delta };
}

/** Writes each piece in turn (a tick apart) on one TLS connection; resolves with everything read until the server closes. */
function conversation(pieces: Array<string | Buffer>, opts: { quietMs?: number } = {}): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, async () => {
      for (const p of pieces) {
        s.write(p);
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    const chunks: Buffer[] = [];
    let quiet: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => (s.destroy(), resolve({ text: Buffer.concat(chunks).toString('latin1'), closedByServer: false })), opts.quietMs ?? 3000);
    };
    arm();
    s.on('data', (c: Buffer) => (chunks.push(c), arm()));
    s.on('end', () => (clearTimeout(quiet), resolve({ text: Buffer.concat(chunks).toString('latin1'), closedByServer: true })));
    s.on('error', reject);
  });
}

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Splits a byte stream of HTTP/1.1 responses (Content-Length, chunked, or to the end). */
function responses(text: string): Parsed[] {
  const buf = Buffer.from(text, 'latin1');
  const out: Parsed[] = [];
  let off = 0;
  while (off < buf.length) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end < 0) throw new Error(`incomplete head: ${buf.subarray(off).toString()}`);
    const [status, ...lines] = buf.toString('latin1', off, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    off = end + 4;
    let body: Buffer;
    if (headers['content-length'] !== undefined) {
      body = buf.subarray(off, (off += Number(headers['content-length'])));
    } else if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = buf.indexOf('\r\n', off);
        const size = parseInt(buf.toString('latin1', off, eol), 16);
        off = eol + 2;
        if (size === 0) break;
        parts.push(buf.subarray(off, off + size));
        off += size + 2;
      }
      off += 2;
      body = Buffer.concat(parts);
    } else {
      body = buf.subarray(off);
      off = buf.length;
    }
    out.push({ status: Number(status!.split(' ')[1]), headers, body });
  }
  return out;
}

const json = (r: Parsed) => JSON.parse(r.body.toString());

describe('HTTP/1.1 fast path', () => {
  it('serves a keep-alive pipeline of plain requests, with Content-Length bodies split anywhere', async () => {
    const { result, delta } = await handOffDelta(() =>
      conversation([
        // Three requests in one write, then one whose head and body arrive in pieces.
        'GET /echo?n=1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello worldGET /echo?n=3 HTTP/1.1\r\nHost: a\r\n\r\n',
        'POST /upload HTTP/1.1\r\nHo', 'st: a\r\nContent-Length: 6\r\nConnection: close\r\n\r', '\nab', 'c', 'def',
      ]));
    expect(delta).toEqual({});
    expect(result.closedByServer).toBe(true);
    const rs = responses(result.text);
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(json(rs[0]!).url).toBe('/echo?n=1');
    expect(json(rs[1]!)).toEqual({ bytes: 11, sha256: createHash('sha256').update('hello world').digest('hex') });
    expect(json(rs[2]!).url).toBe('/echo?n=3');
    expect(json(rs[3]!).bytes).toBe(6);
    expect(rs[3]!.headers.connection).toBe('close');
  });

  it('streams large bodies both ways (Content-Length up, Content-Length and chunked down) over one keep-alive connection', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    const call = (path: string, body?: Buffer) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; port: number }>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: term.port, path, method: body ? 'POST' : 'GET', agent,
          headers: body ? { 'content-length': body.length } : {} }, (res) => {
          const parts: Buffer[] = [];
          const port = res.socket.localPort!; // the socket goes back to the agent before 'end'
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), port }));
        });
        req.on('error', reject);
        if (!body) return void req.end();
        let off = 0; // written in pieces, honouring backpressure
        const pump = () => {
          while (off < body.length) if (!req.write(body.subarray(off, (off += 100_000)))) return void req.once('drain', pump);
          req.end();
        };
        pump();
      });
    const { result, delta } = await handOffDelta(async () => {
      const data = randomBytes(6 * 1024 * 1024);
      const up = await call('/upload', data);
      const down = await call(`/bytes?n=${5 * 1024 * 1024}`);
      const chunked = await call(`/bytes?n=${3 * 1024 * 1024 + 7}&chunked`);
      return { data, up, down, chunked };
    });
    agent.destroy();
    expect(delta).toEqual({});
    const { data, up, down, chunked } = result;
    expect(JSON.parse(up.body.toString())).toEqual({ bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    expect(down.body.length).toBe(5 * 1024 * 1024);
    expect(createHash('sha256').update(down.body).digest('hex')).toBe(down.headers['x-sha256']);
    expect(chunked.headers['transfer-encoding']).toBe('chunked');
    expect(createHash('sha256').update(chunked.body).digest('hex')).toBe(chunked.headers['x-sha256']);
    expect(new Set([up.port, down.port, chunked.port]).size).toBe(1);
  });

  it('keeps concurrent downloads apart while clients read slowly, on the fast path and over HTTP/2', async () => {
    // App bytes are read into one buffer shared by every app connection; anything a client
    // response still holds after the read callback (a TLS socket queueing behind a slow reader,
    // Node's HTTP/2 response) must be a copy, or the next read overwrites it.
    const h1 = (path: string) =>
      new Promise<{ body: Buffer; sha: string | undefined }>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port: term.port, path, agent: false, rejectUnauthorized: false }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            parts.push(c);
            if (parts.length % 8 === 0) (res.pause(), setTimeout(() => res.resume(), 5)); // lets the proxy's writes queue
          });
          res.on('end', () => resolve({ body: Buffer.concat(parts), sha: res.headers['x-sha256'] as string | undefined }));
        }).on('error', reject);
      });
    const h2 = (session: http2.ClientHttp2Session, path: string) =>
      new Promise<{ body: Buffer; sha: string | undefined }>((resolve, reject) => {
        const req = session.request({ ':path': path });
        const parts: Buffer[] = [];
        let sha: string | undefined;
        req.on('response', (h) => (sha = h['x-sha256'] as string | undefined));
        req.on('data', (c: Buffer) => {
          parts.push(c);
          if (parts.length % 8 === 0) (req.pause(), setTimeout(() => req.resume(), 5));
        });
        req.on('end', () => resolve({ body: Buffer.concat(parts), sha }));
        req.on('error', reject);
        req.end();
      });
    const session = http2.connect(`https://127.0.0.1:${term.port}`, { rejectUnauthorized: false });
    const { result, delta } = await handOffDelta(() =>
      Promise.all([
        h1(`/bytes?n=${1024 * 1024 + 3}`), h1(`/bytes?n=${1024 * 1024}&chunked`), h1(`/bytes?n=${700_001}`),
        h2(session, `/bytes?n=${1024 * 1024 + 5}`), h2(session, `/bytes?n=${900_000}&chunked`),
      ]));
    session.close();
    expect(delta).toEqual({});
    expect(result.map((r) => r.body.length)).toEqual([1024 * 1024 + 3, 1024 * 1024, 700_001, 1024 * 1024 + 5, 900_000]);
    for (const r of result) expect(createHash('sha256').update(r.body).digest('hex')).toBe(r.sha);
  });

  it('ends a chunked app response to an HTTP/1.0 client by closing, and keeps 1.0 keep-alive for Content-Length ones', async () => {
    const { text, closedByServer } = await conversation([
      'GET /bytes?n=100 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
      'GET /bytes?n=70000&chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
    ]);
    expect(closedByServer).toBe(true);
    const [first, second] = responses(text);
    expect(first!.headers.connection).toBe('keep-alive');
    expect(first!.body.length).toBe(100);
    expect(second!.headers['transfer-encoding']).toBeUndefined();
    expect(second!.headers.connection).toBe('close');
    expect(createHash('sha256').update(second!.body).digest('hex')).toBe(second!.headers['x-sha256']);
  });

  it('strips spoofed forwarding, identity and fingerprint headers and Connection-named headers', async () => {
    const { result, delta } = await handOffDelta(() =>
      conversation(['GET /echo HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nforwarded: for=6.6.6.6\r\nX-Forwarded-Proto: http\r\n'
        + 'Client-Cert: :AAAA:\r\nX-Client-Cert-Subject: CN=admin\r\nX-JA4-Fingerprint: fake\r\nX-Real-IP: 6.6.6.6\r\n'
        + 'Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nX-Kept: yes\r\nConnection: close\r\n\r\n']));
    expect(delta).toEqual({});
    const raw: string[] = json(responses(result.text)[0]!).rawHeaders;
    const values = (name: string) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === name);
    expect(values('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(values('forwarded')).toEqual(['for=127.0.0.1;proto=https;host="a"']);
    expect(values('x-forwarded-proto')).toEqual(['https']);
    for (const name of ['client-cert', 'x-client-cert-subject', 'x-real-ip', 'x-secret', 'connection']) expect(values(name), name).toEqual([]);
    expect(values('x-ja4-fingerprint')[0]).toMatch(/^t13/);
    expect(values('x-kept')).toEqual(['yes']);
  });

  it('hands Upgrade, Expect and chunked requests to Node, also after fast-path requests on the same connection', async () => {
    const chunked = await handOffDelta(() =>
      conversation(['GET /echo?first HTTP/1.1\r\nHost: a\r\n\r\n', 'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n']));
    expect(chunked.delta).toEqual({ transfer_encoding: 1 });
    const rs = responses(chunked.result.text);
    expect(json(rs[0]!).url).toBe('/echo?first');
    expect(json(rs[1]!).bytes).toBe(5);

    const body = join(dir, 'body.bin');
    writeFileSync(body, randomBytes(2000));
    const expect100 = await handOffDelta(() =>
      run('curl', ['-sk', '--http1.1', '--max-time', '10', '-H', 'Expect: 100-continue', '--data-binary', `@${body}`, `https://127.0.0.1:${term.port}/upload`]));
    expect(expect100.delta).toEqual({ expect: 1 });
    expect(JSON.parse(expect100.result.stdout).bytes).toBe(2000);

    const ws = await handOffDelta(() => new Promise<string>((resolve, reject) => {
      const w = new WebSocket(`wss://127.0.0.1:${term.port}/ws`, { rejectUnauthorized: false });
      w.on('open', () => w.send('ping'));
      w.on('message', (m) => (resolve(String(m)), w.close()));
      w.on('error', reject);
    }));
    expect(ws.delta).toEqual({ upgrade: 1 });
    expect(ws.result).toBe('echo:ping');
  });

  it('rejects smuggling attempts that follow fast-path requests on the same connection', async () => {
    const attempts = [
      'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
      'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
      'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length : 4\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
      'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
      'POST /upload HTTP/1.1\r\nHost: a\r\n Content-Length: 4\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    ];
    const { result, delta } = await handOffDelta(() => Promise.all(attempts.map((a) => conversation(['GET /echo?before HTTP/1.1\r\nHost: a\r\n\r\n', a], { quietMs: 1500 }))));
    for (const [i, r] of result.entries()) {
      const rs = responses(r.text);
      expect(rs.map((x) => x.status), attempts[i]).toEqual([200, 400]);
      expect(r.closedByServer).toBe(true);
    }
    expect(seenPaths).not.toContain('/smuggled');
    expect(Object.values(delta).reduce((a, b) => a + b, 0)).toBe(attempts.length);
  });

  it('closes instead of reading on when the app answers before the request body is complete', async () => {
    const { text, closedByServer } = await conversation(['POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nGET /smuggled-early HTTP/1.1\r\n\r\n'], { quietMs: 3000 });
    expect(closedByServer).toBe(true);
    const rs = responses(text);
    expect(rs).toHaveLength(1);
    expect(rs[0]!.body.toString()).toBe('early');
    expect(seenPaths).not.toContain('/smuggled-early');
  });

  it('answers 408 to a head that stops halfway, and 431 (from Node) to one over maxHeaderSize', async () => {
    const slow = await conversation(['GET /echo HTTP/1.1\r\nHost: a\r\nX-Half'], { quietMs: 4000 });
    expect(slow.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(slow.closedByServer).toBe(true);
    const big = await handOffDelta(() => conversation([`GET /echo HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(9000)}\r\n\r\n`], { quietMs: 1500 }));
    expect(big.result.text).toMatch(/^HTTP\/1\.1 431 /);
    expect(big.delta).toEqual({ head_size: 1 });
  });

  it('serves pipelined requests from openssl s_client', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const c = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${term.port}`, '-alpn', 'http/1.1', '-quiet'], { stdio: ['pipe', 'pipe', 'ignore'] });
      let out = '';
      const timer = setTimeout(() => c.kill(), 8000);
      c.stdout.setEncoding('latin1').on('data', (d) => (out += d));
      c.on('error', reject);
      c.on('close', () => (clearTimeout(timer), resolve(out)));
      c.stdin.end('GET /echo?s=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /echo?s=2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    });
    const rs = responses(text);
    expect(rs.map((r) => json(r).url)).toEqual(['/echo?s=1', '/echo?s=2']);
  });
});
