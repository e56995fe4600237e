// endWithin: a socket we end is destroyed whatever the peer does: a peer that reads nothing (full
// socket: send_timeout), one that reads all but never closes (lingering_timeout), one that keeps
// sending (lingering_time); a peer that reads is served every byte.
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { endWithin } from '../../../../plugins/tls-terminator/http/bounded-close.ts';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanup.splice(0)) fn();
});

/** A connected pair on loopback: [server side, client side]. */
async function pair(): Promise<[Socket, Socket]> {
  // allowHalfOpen: the client never closes its side unless a test ends it.
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const side = await accepted;
  server.close();
  side.on('error', () => {});
  client.on('error', () => {});
  cleanup.push(() => (side.destroy(), client.destroy()));
  return [side, client];
}

const closed = (s: Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));
const BIG = 'x'.repeat(32 * 1024 * 1024); // more than loopback's socket buffers hold

describe('endWithin', () => {
  it('destroys a socket whose peer reads nothing once send_timeout passes without progress', async () => {
    const [side, client] = await pair();
    client.pause(); // never reads: the kernel buffers fill and our last bytes cannot leave
    endWithin(side, { sendTimeoutMs: 200, lingeringTimeMs: 60_000, lingeringTimeoutMs: 60_000 }, BIG);
    await closed(side);
    expect(side.writableFinished).toBe(false);
  });

  it('serves every byte to a peer that reads, then destroys it when it never closes (lingering_timeout)', async () => {
    const [side, client] = await pair();
    let got = 0;
    client.on('data', (c: Buffer) => (got += c.length));
    const ended = new Promise<void>((r) => client.once('end', () => r()));
    endWithin(side, { sendTimeoutMs: 5_000, lingeringTimeMs: 60_000, lingeringTimeoutMs: 200 }, BIG);
    await ended;
    expect(got).toBe(BIG.length);
    await closed(side);
  });

  it('destroys a socket whose peer keeps sending after our close, once lingering_time is over', async () => {
    const [side, client] = await pair();
    const tick = setInterval(() => client.writable && client.write('more'), 20);
    cleanup.push(() => clearInterval(tick));
    let discarded = 0;
    side.on('data', (c: Buffer) => (discarded += c.length));
    endWithin(side, { sendTimeoutMs: 5_000, lingeringTimeMs: 300, lingeringTimeoutMs: 10_000 }, 'bye');
    await closed(side);
    expect(discarded).toBeGreaterThan(0);
  });
});
