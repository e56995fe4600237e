// tcp mode's pipe (shared listeners, no stream.pipe): megabytes both ways through slow readers on
// each side, so both directions must hold back on a full write and resume on drain; the app's
// end reaches the client as an end; a client that goes away closes the app connection.
import { createHash } from 'node:crypto';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { eventually, startTerminator, tempDir } from './helpers.ts';

const SIZE = 3 * 1024 * 1024;
const pattern = (seed: number) => {
  const b = Buffer.allocUnsafe(SIZE);
  for (let i = 0; i < SIZE; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Reads in bursts with pauses, so the writer on the other side fills its buffers and has to wait. */
function slowRead(s: Socket, onChunk: (c: Buffer) => void): void {
  s.on('data', (c: Buffer) => {
    onChunk(c);
    s.pause();
    setTimeout(() => s.resume(), 1);
  });
}

describe('tcp mode pipe', () => {
  it('streams megabytes both ways through slow readers, byte for byte, and passes the app end on', async () => {
    const up = pattern(1);
    const down = pattern(7);
    let appGot = '';
    let appSawClose = false;
    const apps: Socket[] = [];
    const app = createServer((s) => {
      apps.push(s);
      const parts: Buffer[] = [];
      let n = 0;
      slowRead(s, (c) => {
        parts.push(c);
        n += c.length;
        if (n === SIZE) {
          appGot = sha(Buffer.concat(parts));
          s.end(down); // the whole answer, then the app's end
        }
      });
      s.on('close', () => (appSawClose = true));
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const t = await tempDir();
    const term = await startTerminator(t.path, `    mode: tcp\n    upstream: tcp://127.0.0.1:${(app.address() as AddressInfo).port}\n`);
    try {
      const got = await new Promise<Buffer>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false }, () => {
          // Written whole at once: the pipe has to pace it to the app's slow reads.
          s.write(up);
        });
        const parts: Buffer[] = [];
        slowRead(s, (c) => parts.push(c));
        s.on('end', () => resolve(Buffer.concat(parts)));
        s.on('error', reject);
      });
      expect(appGot).toBe(sha(up));
      expect(got.length).toBe(SIZE);
      expect(sha(got)).toBe(sha(down));
      await eventually(() => expect(appSawClose).toBe(true));
      const line = await term.agent.waitForLog((l) => l.msg === 'connection');
      expect(line.bytesIn).toBeGreaterThanOrEqual(SIZE);
      expect(line.bytesOut).toBeGreaterThanOrEqual(SIZE);
    } finally {
      for (const s of apps) s.destroy();
      await term.agent.stop();
      app.close();
      await t.cleanup();
    }
  }, 30_000);

  it('holds the client back while the app does not read, and lets it go once it does', async () => {
    // More than the kernel's socket buffers on both hops can hold (tcp_rmem max 32 MiB, tcp_wmem
    // 4 MiB): with backpressure the rest waits in the client; without it, the proxy would read it all.
    const big = Buffer.alloc(64 * 1024 * 1024, 'sidekick');
    let received = 0;
    let appSocket: Socket | undefined;
    const app = createServer((s) => {
      appSocket = s;
      s.pause();
      s.on('data', (c: Buffer) => (received += c.length));
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const t = await tempDir();
    const term = await startTerminator(t.path, `    mode: tcp\n    upstream: tcp://127.0.0.1:${(app.address() as AddressInfo).port}\n`);
    try {
      const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false });
      s.on('error', () => {});
      await new Promise((r) => s.once('secureConnect', r));
      s.write(big);
      await eventually(() => expect(appSocket).toBeDefined());
      await new Promise((r) => setTimeout(r, 400));
      expect(received).toBe(0);
      expect(s.writableLength).toBeGreaterThan(8 * 1024 * 1024);
      appSocket!.resume();
      await eventually(() => expect(received).toBe(big.length));
      expect(s.writableLength).toBe(0);
      s.destroy();
    } finally {
      appSocket?.destroy();
      await term.agent.stop();
      app.close();
      await t.cleanup();
    }
  }, 30_000);

  it('closes the app connection when the client goes away mid-stream', async () => {
    let appClosed = false;
    let connected!: () => void;
    const appConnected = new Promise<void>((r) => (connected = r));
    const app = createServer((s) => {
      connected();
      s.on('data', () => {});
      s.on('close', () => (appClosed = true));
      s.write(Buffer.alloc(64 * 1024)); // more than the client will read
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const t = await tempDir();
    const term = await startTerminator(t.path, `    mode: tcp\n    upstream: tcp://127.0.0.1:${(app.address() as AddressInfo).port}\n`);
    try {
      const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false }, () => s.write('hello'));
      s.on('error', () => {});
      await appConnected;
      await new Promise((r) => s.once('data', r));
      s.destroy();
      await eventually(() => expect(appClosed).toBe(true));
    } finally {
      await term.agent.stop();
      app.close();
      await t.cleanup();
    }
  }, 15_000);
});
