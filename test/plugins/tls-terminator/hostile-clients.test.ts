// Whatever a client sends, the agent closes that connection cleanly and keeps serving:
// garbage, truncated and plain-HTTP ClientHellos, random bytes, slowloris, request smuggling,
// oversized heads.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHandshake, toRecords } from './client-hello.ts';
import { type Terminator, request, startFront } from './helpers.ts';

let term: Terminator;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ term, close } = await startFront((app) => `    upstream: ${app.url}
    tls: { handshakeTimeout: 1s }
    timeouts: { headers: 1s }
    limits: { maxHeaderSize: 8KiB }
`));
});
afterAll(() => close?.());

/** Writes raw bytes, optionally ends, and resolves with what came back once the server closed. */
function raw(bytes: Buffer | string, opts: { end?: boolean } = {}): Promise<{ reply: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(term.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => (s.destroy(), resolve({ reply: Buffer.concat(chunks), closed: false })), 4000);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => (clearTimeout(timer), resolve({ reply: Buffer.concat(chunks), closed: true })));
    s.write(bytes);
    if (opts.end) s.end();
  });
}

async function stillServing(): Promise<void> {
  expect((await request(term.port, { path: '/echo' })).status).toBe(200);
}

/** Raw HTTP/1.1 over TLS; resolves with the full reply once the server closes or goes quiet. */
function tlsRaw(text: string, quietMs = 1500): Promise<string> {
  return new Promise((resolve, reject) => {
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => s.write(text));
    let out = '';
    let timer = setTimeout(() => s.destroy(), quietMs);
    s.setEncoding('utf8').on('data', (c) => {
      out += c;
      clearTimeout(timer);
      timer = setTimeout(() => s.destroy(), quietMs);
    });
    s.on('close', () => (clearTimeout(timer), resolve(out)));
    s.on('error', reject);
  });
}

describe('broken ClientHellos', () => {
  it('answers plain HTTP on the TLS port with a 400 and closes', async () => {
    const { reply, closed } = await raw('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(closed).toBe(true);
    expect(reply.toString()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*expects HTTPS/);
    await stillServing();
  });

  it('closes garbage, truncated and wrong-type hellos without answering', async () => {
    const hello = toRecords(buildHandshake({ ciphers: [0x1301], extensions: [0x002b], versions: [0x0304] }));
    for (const bytes of [
      Buffer.from('\x16\x03\x01\x00'), // truncated record header, then EOF
      hello.subarray(0, hello.length - 10), // truncated body, then EOF
      Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02]), Buffer.alloc(4)]), // ServerHello type
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]), // empty record
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0xff, 0xff, 0xff, 0, 0, 0, 0]), // claims 16 MiB
      Buffer.from('\x00\x01\x02garbage\r\n'),
    ]) {
      const { reply, closed } = await raw(bytes, { end: true });
      expect(closed).toBe(true);
      expect(reply.length).toBe(0);
    }
    await stillServing();
    const metrics = await term.metrics();
    for (const reason of ['truncated', 'malformed', 'oversized', 'not_tls', 'plain_http']) {
      expect(metrics, reason).toMatch(new RegExp(`sidekick_tls_terminator_handshake_failures_total\\{instance="https",reason="${reason}"\\} [1-9]`));
    }
  });

  it('closes a connection that never finishes its ClientHello (handshake timeout)', async () => {
    const { closed } = await raw(Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01]));
    expect(closed).toBe(true);
  });

  it('survives a bounded random-bytes fuzz loop and keeps serving', async () => {
    const base = toRecords(buildHandshake({ ciphers: [0x1301, 0xc02b], extensions: [0x0000, 0x0010, 0x000d, 0x002b], alpn: [Buffer.from('h2')], sigAlgs: [0x0403], versions: [0x0304] }));
    const batch: Array<Promise<unknown>> = [];
    for (let i = 0; i < 120; i++) {
      let bytes: Buffer;
      if (i % 3 === 0) bytes = randomBytes(1 + (i % 200));
      else {
        // A real hello with a few random bytes flipped, so parsing goes deep before failing.
        bytes = Buffer.from(base);
        for (let k = 0; k < 1 + (i % 5); k++) bytes[5 + Math.floor(Math.random() * (bytes.length - 5))] = Math.floor(Math.random() * 256);
      }
      batch.push(raw(bytes, { end: true }));
      if (batch.length === 20) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    await stillServing();
    const status = await term.status();
    expect(status.instances.https.state).toBe('running');
    expect(status.instances.https.restarts).toBe(0);
  });
});

describe('HTTP-level abuse', () => {
  it('cuts off a slowloris client that never finishes its request head', async () => {
    const closedWith = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
        s.write('GET /echo HTTP/1.1\r\nHost: x\r\n');
        let n = 0;
        const drip = setInterval(() => {
          if (n++ < 40 && !s.destroyed) s.write(`X-Drip-${n}: y\r\n`);
        }, 200);
        let out = '';
        s.setEncoding('utf8').on('data', (c) => (out += c));
        s.on('close', () => (clearInterval(drip), resolve(out)));
        s.on('error', () => {});
      });
    });
    expect(closedWith).toMatch(/^HTTP\/1\.1 408/);
    await stillServing();
  });

  it('rejects Content-Length together with Transfer-Encoding, and duplicate Content-Length', async () => {
    const clte = await tlsRaw('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(clte).toMatch(/^HTTP\/1\.1 400/);
    expect(clte).not.toContain('"method"'); // the smuggled request never reached the app
    const dup = await tlsRaw('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd');
    expect(dup).toMatch(/^HTTP\/1\.1 400/);
    const badTe = await tlsRaw('POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n');
    expect(badTe).toMatch(/^HTTP\/1\.1 400/);
    await stillServing();
  });

  it('refuses a Host that tries to forge a Forwarded element, and gives HTTP/1.0 requests without Host one', async () => {
    // Not a uri-host (RFC 9112 3.2: 400); before the host rules it reached the app, quoted.
    const forged = await tlsRaw('GET /echo HTTP/1.1\r\nHost: a";for=6.6.6.6\r\nConnection: close\r\n\r\n');
    expect(forged).toMatch(/^HTTP\/1\.1 400 /);
    const ok = await tlsRaw('GET /echo HTTP/1.1\r\nHost: a.example;x=1\r\nConnection: close\r\n\r\n');
    const seen = JSON.parse(ok.slice(ok.indexOf('{'), ok.lastIndexOf('}') + 1));
    expect(seen.headers.forwarded).toBe('for=127.0.0.1;proto=https;host="a.example;x=1"');
    const old = await tlsRaw('GET /echo HTTP/1.0\r\n\r\n');
    const seen10 = JSON.parse(old.slice(old.indexOf('{'), old.lastIndexOf('}') + 1));
    expect(seen10.headers.host).toBe('localhost');
  });

  it('answers 431 to a request head larger than maxHeaderSize', async () => {
    const reply = await tlsRaw(`GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 431/);
    await stillServing();
  });
});

