// Idle TLS clients (handshake done, no request) held open up to limits.maxConnections: the
// agent's memory stays bounded and a normal client is still served, the oldest idle connection
// making room. 2,000 by default (about 25 s on a busy 2-core machine); SIDEKICK_TEST_IDLE=10000
// runs the 10,000 at the default maxConnections (over 2 minutes there). The figure beside
// nginx comes from bench/tls-idle-connections.bench.ts; this test guards the bound.
import { readFile } from 'node:fs/promises';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, type Terminator, eventually, request, startApp, startTerminator, tempDir } from './helpers.ts';

const N = Number(process.env.SIDEKICK_TEST_IDLE ?? 2000);
const IN_FLIGHT = 64;
// Measured at 10,000 connections: 49-51 KiB each (bench/tls-idle-connections.bench.ts, Node's
// own TLS socket about 45 of them). Twice that leaves room for a heap that has not collected yet.
const LIMIT_KIB = 100;

let app: App;
let term: Terminator;
let cleanup: () => Promise<void>;
const sockets: TLSSocket[] = [];
let closed = 0;

beforeAll(async () => {
  app = await startApp();
  const t = await tempDir('sidekick-tls-idle-');
  cleanup = t.cleanup;
  // The timeouts raised, so that no idle client is closed while held; maxConnections is N (the
  // default, 10,000, when N is).
  term = await startTerminator(t.path, `    upstream: ${app.url}\n    timeouts: { headers: 10m, request: 10m, idle: 10m }\n    limits: { maxConnections: ${N} }\n`);
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await term?.agent.stop();
  await app?.close();
  await cleanup?.();
});

async function rssKiB(pid: number): Promise<number> {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

function openIdle(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      s.removeListener('error', reject);
      resolve();
    });
    s.on('error', () => {});
    s.once('error', reject);
    s.once('close', () => closed++);
    sockets.push(s);
  });
}

const active = async () => Number(/"activeConnections":(\d+)/.exec(JSON.stringify(await term.status()))?.[1]);

describe(`${N} idle TLS connections`, () => {
  it('keep the memory they add under 100 KiB each, and a normal client is served meanwhile', { timeout: 240_000 }, async () => {
    const pid = term.agent.child.pid!;
    for (let i = 0; i < 20; i++) expect((await request(term.port, { path: '/echo' })).status).toBe(200);
    const before = await rssKiB(pid);

    let next = 0;
    let peak = before;
    const opener = async () => {
      while (next < N) {
        next++;
        await openIdle(term.port);
        if (next % 500 === 0) peak = Math.max(peak, await rssKiB(pid));
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, opener));
    await eventually(async () => expect(await active()).toBe(N), 600);
    peak = Math.max(peak, await rssKiB(pid));
    const perConnection = (peak - before) / N;
    console.log(`idle TLS connections: ${N}, agent RSS ${Math.round(before / 1024)} MiB before, ${Math.round(peak / 1024)} MiB peak, ${perConnection.toFixed(1)} KiB per connection`);
    expect(perConnection).toBeLessThan(LIMIT_KIB);

    // At maxConnections a normal client is served: one idle connection (the oldest) makes room.
    const res = await request(term.port, { path: '/echo' });
    expect(res.status).toBe(200);
    await eventually(() => expect(closed).toBe(1));
    expect(/evicted_connections_total\{[^}]*reason="no_request"[^}]*\} 1\b/.test(await term.metrics())).toBe(true);
  });
});
