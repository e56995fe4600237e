// tcp-pipe reads the app into one shared buffer. Whatever Node has to queue on the client's TLS
// socket (a write still in flight, or the socket corked as here) must be a copy: the next read
// reuses the buffer while the queued bytes wait.
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { expect, it } from 'vitest';
import { pipeToApp, tcpPipe } from '../../../../plugins/tls-terminator/tcp/tcp-pipe.ts';
import { createPki, tempDir } from '../helpers.ts';

it('sends the client every app read that waited in its queue, each its own bytes', async () => {
  const t = await tempDir();
  const { cert, key } = createPki(t.path).issue('server', { cn: 'localhost', san: 'DNS:localhost', selfSigned: true });
  // Distinct pieces, each read on its own (a pause between them), all while the client socket is corked.
  const pieces = Array.from({ length: 20 }, (_, i) => Buffer.alloc(1000, 65 + i));
  const sockets: Socket[] = [];
  const app = createServer(async (s) => {
    sockets.push(s);
    for (const piece of pieces) {
      s.write(piece);
      await new Promise((r) => setTimeout(r, 5));
    }
    s.end();
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const pipe = tcpPipe({
    target: { kind: 'tcp', host: '127.0.0.1', port: (app.address() as AddressInfo).port, label: 'app' },
    log: pino({ level: 'silent' }),
    access: undefined,
    sendProxyProtocol: 'off',
    upstreamError: () => {},
    internalError: () => {},
  });
  const front = createTlsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (s: TLSSocket) => {
    sockets.push(s);
    s.cork();
    pipeToApp(s, pipe);
    setTimeout(() => s.uncork(), 300);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  try {
    const got = await new Promise<Buffer>((resolve, reject) => {
      const c = tlsConnect({ host: '127.0.0.1', port: (front.address() as AddressInfo).port, rejectUnauthorized: false });
      sockets.push(c);
      const parts: Buffer[] = [];
      c.on('data', (b: Buffer) => parts.push(b));
      c.on('end', () => resolve(Buffer.concat(parts)));
      c.on('error', reject);
    });
    expect(got.toString('latin1')).toBe(Buffer.concat(pieces).toString('latin1'));
  } finally {
    for (const s of sockets) s.destroy();
    app.close();
    front.close();
    await t.cleanup();
  }
});
