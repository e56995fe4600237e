// JA3/JA4: the FoxIO spec's example, the library's version bug fixed, values checked against an
// independent computation of the very ClientHello real clients (node tls, curl) send, split
// records, deny list, /status counts.
import { execFile, spawn } from 'node:child_process';
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { calculateJa4 as libraryJa4, readTlsClientHello } from 'read-tls-client-hello';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClientHello } from '../../../../plugins/tls-terminator/tls/client-hello-reader.ts';
import { computeJa4 } from '../../../../plugins/tls-terminator/tls/fingerprint.ts';
import { parseClientHello } from '../../../../plugins/tls-terminator/tls/client-hello-parser.ts';
import { buildHandshake, captureClientHello, fingerprintsOf, toRecords } from '../client-hello.ts';
import { type App, type Terminator, request, startApp, startTerminator, tempDir } from '../helpers.ts';

const run = promisify(execFile);

/** Sends `bytes` over a real loopback connection and runs the plugin's reader on the far end. */
async function readerSees(bytes: Buffer, chunks = 1) {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  try {
    const sock = await new Promise<Socket>((r) => server.once('connection', r));
    const step = Math.ceil(bytes.length / chunks);
    for (let i = 0; i < bytes.length; i += step) {
      client.write(bytes.subarray(i, i + step));
      await new Promise((r) => setTimeout(r, 5));
    }
    const got = await readClientHello(sock, 2000);
    sock.destroy();
    return got;
  } finally {
    client.destroy();
    server.close();
  }
}

// The example in FoxIO's JA4 technical details, plus GREASE values that must be ignored.
const SPEC = {
  ciphers: [0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035],
  extensions: [0x1a1a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015],
  sigAlgs: [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
  alpn: [Buffer.from('h2'), Buffer.from('http/1.1')],
  versions: [0x2a2a, 0x0304, 0x0303],
};

describe('JA4 computation', () => {
  it("matches the FoxIO specification's example (JA4 and JA4_r), GREASE ignored", async () => {
    const { hello, firstAlpn } = await readerSees(toRecords(buildHandshake(SPEC)));
    const r = computeJa4(hello, firstAlpn);
    expect(r.ja4).toBe('t13d1516h2_8daaf6152771_e5627efa2ab1');
    expect(r.ja4r).toBe(
      't13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601',
    );
  });

  it('takes the highest supported_versions entry, where the library always says "13"', async () => {
    const handshake = buildHandshake({ ...SPEC, versions: [0x0303, 0x0302] });
    const { hello, firstAlpn } = await readerSees(toRecords(handshake));
    expect(computeJa4(hello, firstAlpn).ja4.slice(0, 3)).toBe('t12');
    const lib = await readTlsClientHello(Readable.from([toRecords(handshake)], { objectMode: false }));
    expect(libraryJa4(lib).slice(0, 3)).toBe('t13'); // the bug this plugin works around
  });

  it('prints non-alphanumeric ALPN values as hex, per the spec examples', async () => {
    for (const [alpn, want] of [[[0xab], 'ab'], [[0xab, 0xcd], 'ad'], [[0x30, 0xab], '3b'], [[0x30, 0x31, 0xab, 0xcd], '3d'], [[0x30, 0xab, 0xcd, 0x31], '01']] as const) {
      const { hello, firstAlpn } = await readerSees(toRecords(buildHandshake({ ...SPEC, alpn: [Buffer.from(alpn)] })));
      expect(computeJa4(hello, firstAlpn).ja4.slice(8, 10)).toBe(want);
    }
  });

  it('reads a ClientHello split over several records and several TCP segments', async () => {
    const handshake = buildHandshake(SPEC);
    const { hello, firstAlpn } = await readerSees(toRecords(handshake, 50), 7);
    expect(computeJa4(hello, firstAlpn).ja4).toBe('t13d1516h2_8daaf6152771_e5627efa2ab1');
  });
});

describe('synchronous ClientHello parser', () => {
  it("agrees field by field with read-tls-client-hello's own parser on real and synthetic hellos", async () => {
    const records = [
      toRecords(buildHandshake(SPEC)),
      toRecords(buildHandshake({ ...SPEC, alpn: [Buffer.from([0x30, 0xab])] })),
      await captureClientHello((port) => tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false })),
      await captureClientHello((port) => tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' })),
    ];
    for (const record of records) {
      const lib = await readTlsClientHello(Readable.from([record], { objectMode: false }));
      const ours = parseClientHello(record.subarray(5, 5 + record.readUInt16BE(3)));
      expect(ours.hello).toEqual(lib);
    }
    expect(() => parseClientHello(Buffer.from([1, 0, 0, 10, 3, 3, 0]))).toThrow(/shorter/);
  });
});

describe('fingerprints of real clients through the agent', () => {
  let app: App;
  let term: Terminator;
  let cleanup: () => Promise<void>;
  const nodeOpts = { servername: 'localhost', ALPNProtocols: ['http/1.1'], rejectUnauthorized: false };

  beforeAll(async () => {
    app = await startApp();
    const t = await tempDir();
    term = await startTerminator(t.path, `    upstream: ${app.url}\n    fingerprint: { headers: true }\n`);
    cleanup = async () => {
      await term.agent.stop();
      await app.close();
      await t.cleanup();
    };
  });
  afterAll(() => cleanup?.());

  it('passes JA3/JA4 equal to an independent computation of the same node ClientHello', async () => {
    const captured = await captureClientHello((port) => tlsConnect({ host: '127.0.0.1', port, ...nodeOpts }));
    const want = fingerprintsOf(captured);
    const res = await request(term.port, { path: '/echo', ...nodeOpts });
    const seen = JSON.parse(res.body.toString()).headers;
    expect(seen['x-ja4-fingerprint']).toBe(want.ja4);
    expect(seen['x-ja3-fingerprint']).toBe(want.ja3);
  });

  it('passes JA3/JA4 equal to an independent computation of the same curl ClientHello', async () => {
    const curlArgs = (port: number) => ['-sk', '--http1.1', '--max-time', '5', '--resolve', `localhost:${port}:127.0.0.1`, `https://localhost:${port}/echo`];
    const captured = await captureClientHello((port) => {
      const child = spawn('curl', curlArgs(port), { stdio: 'ignore' });
      return { destroy: () => child.kill(), on: (e: string, f: () => void) => void child.on(e, f) };
    });
    const want = fingerprintsOf(captured);
    const { stdout } = await run('curl', curlArgs(term.port));
    const seen = JSON.parse(stdout).headers;
    expect(seen['x-ja4-fingerprint']).toBe(want.ja4);
    expect(seen['x-ja3-fingerprint']).toBe(want.ja3);
    expect(want.ja4).toMatch(/^t13d\d{4}h1_/);
  });

  it('fingerprints a ClientHello split over two TLS records the same as an unsplit one', async () => {
    // A TCP relay that re-frames the client's first record as two records.
    const relay = createServer((client) => {
      const up = connect(term.port, '127.0.0.1');
      let first = true;
      client.on('data', (c: Buffer) => {
        if (first && c[0] === 0x16 && c.length >= 5 + c.readUInt16BE(3)) {
          first = false;
          const len = c.readUInt16BE(3);
          const hs = c.subarray(5, 5 + len);
          up.write(Buffer.concat([splitInTwo(hs), c.subarray(5 + len)]));
        } else up.write(c);
      });
      up.pipe(client);
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
      client.on('close', () => up.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const direct = JSON.parse((await request(term.port, { path: '/echo', ...nodeOpts })).body.toString()).headers['x-ja4-fingerprint'];
      const res = await request((relay.address() as AddressInfo).port, { path: '/echo', ...nodeOpts });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString()).headers['x-ja4-fingerprint']).toBe(direct);
    } finally {
      relay.close();
    }
  });

  it('counts fingerprints in /status', async () => {
    const status = await term.status();
    const fp = status.instances.https.details.fingerprints;
    expect(fp.total).toBeGreaterThanOrEqual(3);
    expect(fp.top[0].count).toBeGreaterThanOrEqual(1);
    expect(fp.top[0].ja4).toMatch(/^t1/);
  });
});

function splitInTwo(hs: Buffer): Buffer {
  const mid = Math.floor(hs.length / 2);
  const rec = (b: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff]), b]);
  return Buffer.concat([rec(hs.subarray(0, mid)), rec(hs.subarray(mid))]);
}

describe('fingerprint deny list', () => {
  it('closes connections whose JA4 is denied and serves the others', async () => {
    const app = await startApp();
    const t = await tempDir();
    const denied = { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' as const, servername: 'localhost', rejectUnauthorized: false };
    const captured = await captureClientHello((port) => tlsConnect({ host: '127.0.0.1', port, ...denied }));
    const { ja4 } = fingerprintsOf(captured);
    const term = await startTerminator(t.path, `    upstream: ${app.url}\n    fingerprint: { deny: ['${ja4}'] }\n`);
    try {
      await expect(request(term.port, { path: '/echo', ...denied })).rejects.toThrow();
      expect((await request(term.port, { path: '/echo', servername: 'localhost' })).status).toBe(200);
      await term.agent.waitForLog((l) => l.msg === 'connection refused by fingerprint policy' && l.ja4 === ja4);
      expect(await term.metrics()).toMatch(/sidekick_tls_terminator_rejected_total\{instance="https",reason="fingerprint"\} 1/);
    } finally {
      await term.agent.stop();
      await app.close();
      await t.cleanup();
    }
  });
});

