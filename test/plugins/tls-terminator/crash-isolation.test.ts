// One request must not kill the agent. End to end: the request line that used to crash the
// process (`GET /v HTTP/2.0` over an http/1.1 connection) and its relatives get 505/400 as
// nginx 1.22 answers them, and afterwards another client is served and the agent's other plugin
// is still ready. Unit: an exception thrown inside a data-plane handler is caught at that
// boundary, counted by stage, logged with the connection's identifiers, and costs that one
// connection a 500.
import { ConnectionLimiter } from '../../../plugins/tls-terminator/connection-limiter.ts';
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { PluginMetrics } from '../../../src/plugin-api.ts';
import type { ConnectionInfo } from '../../../plugins/tls-terminator/connection-info.ts';
import { FastConnection, type FastFront } from '../../../plugins/tls-terminator/http/fast-connection.ts';
import { InternalErrors } from '../../../plugins/tls-terminator/internal-errors.ts';
import { createMetrics } from '../../../plugins/tls-terminator/metrics.ts';
import { type AgentPair, startAgentPair } from './http/agent-pair.ts';
import { statuses, tlsRaw } from './http/raw-app.ts';

describe('a request that used to crash the agent', () => {
  let pair: AgentPair;
  beforeAll(async () => {
    pair = await startAgentPair((dir) => `  logs:
    type: log-shipper
    include: ["${dir}/logs/*.log"]
    sink:
      type: file
      path: ${dir}/shipped.ndjson
`);
  });
  afterAll(() => pair?.close());

  it.each(['fast', 'node'] as const)('is answered on the %s path, and the agent and its other plugin keep running', async (path) => {
    const port = pair.ports[path];
    // nginx 1.22 over its HTTP/1 listener: 505 for HTTP/2.0, 3.0 and 10.0, 400 for HTTP/0.9 and PRI.
    // It serves HTTP/1.2 as 1.1 and a bare `GET /v` as HTTP/0.9; refusing those is stricter.
    const cases: Array<[string, number]> = [
      ['GET /v HTTP/2.0\r\nHost: x\r\n\r\n', 505],
      ['POST /v HTTP/2.0\r\nHost: x\r\nContent-Length: 2\r\n\r\nab', 505],
      ['GET /ws HTTP/2.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 505],
      ['GET /v HTTP/3.0\r\nHost: x\r\n\r\n', 505],
      ['GET /v HTTP/1.2\r\nHost: x\r\n\r\n', 505],
      ['GET /v HTTP/0.9\r\nHost: x\r\n\r\n', 400],
      ['GET /v\r\n\r\n', 400],
      ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400],
    ];
    for (const [bytes, status] of cases) expect([bytes, statuses(await tlsRaw(port, bytes))]).toEqual([bytes, [status]]);
    expect(pair.app.requests.filter((r) => r.line.includes('/v') || r.line.includes('/ws'))).toEqual([]);

    expect(pair.agent.child.exitCode).toBe(null);
    expect(statuses(await tlsRaw(port, 'GET /after HTTP/1.1\r\nHost: x\r\n\r\n', 1))).toEqual([200]);
    const ready = await fetch(`${pair.agent.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    const status = await pair.agent.status();
    const logs = status.plugins?.logs ?? status.instances?.logs;
    expect(logs?.ready).toBe(true);
    expect(await pair.metrics()).not.toMatch(/sidekick_tls_terminator_internal_errors_total\{[^}]*\} [1-9]/);
  });
});

describe('an exception inside a handler', () => {
  function fakeMetrics() {
    const counts = new Map<string, number>();
    const child = (key: string) => ({
      inc: (n = 1) => void counts.set(key, (counts.get(key) ?? 0) + n),
      dec: () => {}, set: () => {}, observe: () => {},
    });
    const metric = (o: { name: string }) => ({ ...child(o.name), labels: (v: Record<string, string>) => child(`${o.name}${JSON.stringify(v)}`) });
    return { counts, plugin: { counter: metric, gauge: metric, histogram: metric } as unknown as PluginMetrics };
  }

  class FakeSocket extends EventEmitter {
    out = '';
    ended = false;
    destroyed = false;
    writable = true;
    write(s: string | Buffer): boolean {
      this.out += typeof s === 'string' ? s : s.toString('latin1');
      return true;
    }
    end(s?: string): this {
      if (s) this.write(s);
      this.ended = true;
      this.writable = false;
      return this;
    }
    destroy(): this {
      this.destroyed = true;
      return this;
    }
    pause(): this {
      return this;
    }
    resume(): this {
      return this;
    }
    cork(): void {}
    uncork(): void {}
  }

  it('is caught at the fast path\'s data boundary: 500 to that connection, counted by stage, logged with the client', () => {
    const { counts, plugin } = fakeMetrics();
    const metrics = createMetrics(plugin);
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const errors = new InternalErrors(metrics, log);
    const front = {
      context: { metrics, log, errors, upstreamLabel: 'app', upstreamTimeoutMs: 1000, requestDone() {} },
      pool: { acquire() { throw new TypeError('a bug in the pool'); } },
      limits: { timeoutMs: 1000, stallTimeoutMs: 1000 },
      fingerprintHeaders: false, forwardOptions: { fingerprintHeaders: false },
      maxHeaderSize: 16384, maxHeaders: 100, headersTimeoutMs: 1000,
      closeLimits: { sendTimeoutMs: 1000, lingeringTimeMs: 1000, lingeringTimeoutMs: 1000 },
      limiter: new ConnectionLimiter(Infinity, { evicted: () => {} }), requestTimeoutMs: 1000, idleTimeoutMs: 1000, extraHeadText: '', draining: false,
      requestStarted() {}, admit() { return 1; }, clientRejected() {}, handOff() {}, forget() {},
    } as unknown as FastFront;
    const info: ConnectionInfo = {
      clientAddress: '192.0.2.7', clientPort: 51234, peerAddress: '192.0.2.7', trusted: false, ja3: '', ja4: '', sni: 'app.example', tlsVersion: 'TLSv1.3', forbidden: false,
    };
    const socket = new FakeSocket();
    new FastConnection(front, socket as never, info);
    expect(() => socket.emit('data', Buffer.from('GET /p HTTP/1.1\r\nHost: x\r\n\r\n'))).not.toThrow();
    expect(socket.out).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n[\s\S]*connection: close\r\n/);
    expect(socket.ended).toBe(true);
    expect(counts.get('sidekick_tls_terminator_internal_errors_total{"stage":"fast_data"}')).toBe(1);
    expect(lines).toContainEqual(expect.objectContaining({
      stage: 'fast_data', client: '192.0.2.7', clientPort: 51234, sni: 'app.example', err: expect.objectContaining({ message: 'a bug in the pool' }),
    }));
  });
});
