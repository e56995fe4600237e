// Resource limits under abuse, as nginx bounds them: connections we close are destroyed within
// send_timeout / lingering_time even when the client never reads or never closes; at
// maxConnections idle connections are closed first; more than limits.maxHeaders headers is 431.
import { connect } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../../plugins/tls-terminator/config-schema.ts';
import { configProblems, parseConfig } from '../../helpers/plugin-config.ts';
import { type Terminator, eventually, request, startFront } from './helpers.ts';

let term: Terminator;
let close: () => Promise<void>;
const held: Array<{ destroy(): void }> = [];

beforeAll(async () => {
  ({ term, close } = await startFront((app) => `    upstream: ${app.url}
    timeouts: { headers: 1s, request: 2s, send: 1s, lingeringTime: 2s, lingeringTimeout: 1s }
    limits: { maxHeaders: 20 }
`));
});
afterAll(async () => {
  for (const s of held) s.destroy();
  await close?.();
});

const active = async (): Promise<number> => Number(/"activeConnections":(\d+)/.exec(JSON.stringify(await term.status()))?.[1]);

/**
 * A TLS client that sends `text` and then neither reads nor closes: the TCP socket is held open
 * until the test ends. Resolves once the handshake is done and the bytes are written.
 */
function deafClient(text: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const raw = connect(term.port, '127.0.0.1');
    raw.on('error', () => {});
    held.push(raw);
    const s = tlsConnect({ socket: raw, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      s.pause();
      s.write(text, () => resolve(s));
    });
    s.on('error', reject);
  });
}

describe('clients that stop reading and never close', () => {
  it.each([
    ['fast path, 408 after the headers timeout', 'GET /echo HTTP/1.1\r\nHost: x\r\n'],
    ['fast path, the end of a Connection: close response', 'GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ["Node's path, 408 after the request timeout", 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'],
    ["Node's path, 400 for a bad head", 'GET /echo HTTP/1.1\r\nHost: x\r\nBad\x01Name: y\r\n\r\n'],
  ])('%s: the socket is destroyed within send_timeout + lingering_time', async (_name, text) => {
    await eventually(async () => expect(await active()).toBe(0));
    await deafClient(text);
    expect(await active()).toBe(1);
    await eventually(async () => expect(await active()).toBe(0));
    expect((await request(term.port, { path: '/echo' })).status).toBe(200);
  });
});

/** Raw HTTP/1.1 over TLS; resolves with the whole reply once the server closes. */
function exchange(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => s.write(text));
    let out = '';
    s.setEncoding('latin1').on('data', (c: string) => (out += c));
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}
const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-Field-${i}: ${i}\r\n`).join('');

describe('limits.maxHeaders (Envoy max_headers_count)', () => {
  it('serves a head at the limit on the fast path', async () => {
    const reply = await exchange(`GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${fields(18)}\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(reply).toContain('"x-field-17":"17"');
  });

  it('answers 431 beyond it, fast path and Node path alike, and counts it', async () => {
    const before = await term.metrics();
    const handoffs = (m: string) => Number(/http1_handoffs_total\{[^}]*reason="header_count"[^}]*\} (\d+)/.exec(m)?.[1] ?? 0);
    expect(await exchange(`GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${fields(19)}\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    expect(await exchange(`POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n${fields(19)}\r\n0\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    // A second request on a kept-alive connection, with too many fields.
    const two = await exchange(`GET /echo HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n${fields(25)}\r\n`);
    expect(two).toMatch(/^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 431 /);
    const after = await term.metrics();
    expect(handoffs(after) - handoffs(before)).toBe(2);
    expect(after).toMatch(/rejected_total\{[^}]*reason="header_too_large"[^}]*\} [3-9]/);
  });
});

describe('limits.maxHeaders over HTTP/2', () => {
  it('serves 20 fields and resets a stream with 21 (ENHANCE_YOUR_CALM), the session going on', async () => {
    const { connect: h2connect, constants } = await import('node:http2');
    const session = h2connect(`https://127.0.0.1:${term.port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    const send = (n: number) =>
      new Promise<{ status?: number; rst: number }>((resolve) => {
        const headers: Record<string, string> = { ':path': '/echo' };
        for (let i = 0; i < n; i++) headers[`x-field-${i}`] = String(i);
        const stream = session.request(headers);
        let status: number | undefined;
        stream.on('response', (h) => (status = Number(h[':status'])));
        stream.on('error', () => {});
        stream.resume();
        stream.on('close', () => resolve({ ...(status ? { status } : {}), rst: stream.rstCode ?? 0 }));
        stream.end();
      });
    try {
      expect(await send(20)).toEqual({ status: 200, rst: 0 });
      expect(await send(21)).toEqual({ rst: constants.NGHTTP2_ENHANCE_YOUR_CALM });
      expect((await send(3)).status).toBe(200);
    } finally {
      session.close();
    }
  });
});

describe('limits config', () => {
  it('has nginx-like defaults', () => {
    const c = parseConfig(configSchema, { listen: '0.0.0.0:8443', upstream: 'http://127.0.0.1:8080' });
    expect(c.timeouts).toMatchObject({ send: 60_000, lingeringTime: 30_000, lingeringTimeout: 5_000 });
    expect(c.tls.groups).toBe('X25519:prime256v1:secp384r1');
    expect(c.tls.ciphers).toMatch(/^ECDHE-ECDSA-AES128-GCM-SHA256:/);
  });

  it('names the key of every mistake', () => {
    const base = { listen: '1', upstream: 'http://x:1' };
    expect(configProblems(configSchema, { ...base, timeouts: { send: '0' } })[0]).toMatch(/^timeouts\.send: /);
    expect(configProblems(configSchema, { ...base, timeouts: { lingeringTime: 'long' } })[0]).toMatch(/^timeouts\.lingeringTime: /);
    expect(configProblems(configSchema, { ...base, tls: { groups: 'X25519:P-999' } })[0]).toMatch(/^tls\.groups: /);
    expect(configProblems(configSchema, { ...base, tls: { groups: 'X25519, P-256' } })[0]).toMatch(/^tls\.groups: /);
    expect(configProblems(configSchema, { ...base, tls: { ciphers: 'NOT-A-CIPHER' } })[0]).toMatch(/^tls\.ciphers: /);
    expect(configProblems(configSchema, { ...base, tls: { groups: 'P-256:X25519' } })).toEqual([]);
  });
});

describe('limits.maxConnections: idle connections closed first', () => {
  let small: Terminator;
  let closeSmall: () => Promise<void>;
  const clients: Array<{ socket: TLSSocket; closed: boolean }> = [];

  beforeAll(async () => {
    ({ term: small, close: closeSmall } = await startFront((app) => `    upstream: ${app.url}
    timeouts: { headers: 30s }
    limits: { maxConnections: 20 }
`));
  });
  afterAll(async () => {
    for (const c of clients) c.socket.destroy();
    await closeSmall?.();
  });

  /** A TLS client that finishes its handshake, sends `text` (if any) and stays; closed turns true when the server closes it. */
  function open(text = ''): Promise<{ socket: TLSSocket; closed: boolean }> {
    return new Promise((resolve, reject) => {
      const c = { socket: undefined as unknown as TLSSocket, closed: false };
      c.socket = tlsConnect({ host: '127.0.0.1', port: small.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
        if (text) c.socket.write(text);
        resolve(c);
      });
      c.socket.on('data', () => {});
      c.socket.on('error', () => {});
      c.socket.on('close', () => (c.closed = true));
      c.socket.once('error', reject);
      clients.push(c);
    });
  }
  const count = (m: string, name: string, reason: string) => Number(new RegExp(`${name}\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`).exec(m)?.[1] ?? 0);
  const activeOn = async (t: Terminator) => Number(/"activeConnections":(\d+)/.exec(JSON.stringify(await t.status()))?.[1]);

  it('serves a new client by closing the oldest idle connection, and refuses only when none is idle', async () => {
    const idle: Array<{ socket: TLSSocket; closed: boolean }> = [];
    for (let i = 0; i < 20; i++) idle.push(await open());
    await eventually(async () => expect(await activeOn(small)).toBe(20));

    // 20 handshaken clients with no request: a new one is served, the oldest idle one closed.
    expect((await request(small.port, { path: '/echo' })).status).toBe(200);
    await eventually(() => expect(idle[0]!.closed).toBe(true));
    expect(idle.filter((c) => c.closed)).toHaveLength(1);

    // Every slot taken again; a kept-alive connection between requests is idle too, and is now the
    // newest: idle[2] goes next.
    await eventually(async () => expect(await activeOn(small)).toBe(19)); // the request's connection is gone
    idle.push(await open());
    await eventually(async () => expect(await activeOn(small)).toBe(20));
    const answered = new Promise<void>((r) => idle[1]!.socket.once('data', () => r()));
    idle[1]!.socket.write('GET /echo HTTP/1.1\r\nHost: x\r\n\r\n');
    await answered;
    expect((await request(small.port, { path: '/echo' })).status).toBe(200);
    await eventually(() => expect(idle[2]!.closed).toBe(true));
    expect(idle.filter((c) => c.closed)).toHaveLength(2);
    let m = await small.metrics();
    expect(count(m, 'sidekick_tls_terminator_evicted_connections_total', 'no_request')).toBe(2);

    // Only busy connections (a request head on its way): the new client is refused.
    for (const c of idle) c.socket.destroy();
    await eventually(async () => expect(await activeOn(small)).toBe(0));
    for (let i = 0; i < 20; i++) await open('GET /echo HTTP/1.1\r\nHost: x\r\n');
    await eventually(async () => expect(await activeOn(small)).toBe(20));
    await expect(request(small.port, { path: '/echo' })).rejects.toThrow();
    m = await small.metrics();
    expect(count(m, 'sidekick_tls_terminator_rejected_total', 'max_connections')).toBe(1);
  });
});
