// The http source against a real HTTP server: conditional requests, 5xx and timeouts with
// backoff, source down then back.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/agent-process.ts';
import { readTarget, runSync, waitFor, type Running } from './helpers.ts';

let work: { path: string; cleanup: () => Promise<void> };
let server: Server;
let url: string;
let handler: (req: IncomingMessage, res: ServerResponse) => void;
const requests: Array<{ inm?: string; ims?: string; status: number }> = [];
let running: Running | undefined;

beforeEach(async () => {
  work = await tempDir('cs-http-');
  requests.length = 0;
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/app.json`;
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await work.cleanup();
});

/** Serves `body` with an ETag or a Last-Modified, answering 304 to a matching conditional request. */
function serve(state: { body: string; etag?: string; lastModified?: string }) {
  handler = (req, res) => {
    const inm = req.headers['if-none-match'];
    const ims = req.headers['if-modified-since'];
    const fresh = (state.etag && inm === state.etag) || (!state.etag && state.lastModified && ims === state.lastModified);
    const status = fresh ? 304 : 200;
    requests.push({ ...(inm ? { inm } : {}), ...(ims ? { ims } : {}), status });
    if (state.etag) res.setHeader('etag', state.etag);
    if (state.lastModified) res.setHeader('last-modified', state.lastModified);
    if (fresh) return res.writeHead(304).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(state.body);
  };
}

const start = (extra: Record<string, unknown> = {}) =>
  runSync({ source: { http: { url } }, target: join(work.path, 'target'), interval: '30ms', ...extra }).then((r) => (running = r));

describe('config-sync http source', () => {
  it('uses If-None-Match: an unchanged file costs a 304 and nothing else', async () => {
    const state = { body: '{"v":1}', etag: '"v1"' };
    serve(state);
    const r = await start();
    await waitFor('publish', () => r.details().version?.generation === 1);
    expect(await readTarget(join(work.path, 'target'))).toEqual({ 'app.json': '{"v":1}' });
    await waitFor('conditional polls', () => requests.filter((q) => q.status === 304).length >= 3);
    expect(requests.slice(1).every((q) => q.inm === '"v1"')).toBe(true);
    expect(await r.metric('sidekick_config_sync_downloaded_bytes_total')).toBe(7);
    Object.assign(state, { body: '{"v":2}', etag: '"v2"' });
    await waitFor('second publish', () => r.details().version?.generation === 2);
    expect(await readTarget(join(work.path, 'target'))).toEqual({ 'app.json': '{"v":2}' });
  });

  it('uses If-Modified-Since when there is no ETag, and a 200 with the same bytes is not a new version', async () => {
    const state = { body: 'a: 1\n', lastModified: 'Tue, 24 Nov 2026 10:00:00 GMT' };
    serve(state);
    const r = await start({ source: { http: { url, file: 'settings.yaml' } } });
    await waitFor('publish', () => r.details().version?.generation === 1);
    await waitFor('conditional polls', () => requests.filter((q) => q.ims === state.lastModified && q.status === 304).length >= 2);
    state.lastModified = 'Tue, 24 Nov 2026 11:00:00 GMT'; // touched, same content
    await waitFor('refetch', () => requests.some((q) => q.ims === 'Tue, 24 Nov 2026 10:00:00 GMT' && q.status === 200));
    await waitFor('back to 304', () => requests.filter((q) => q.ims === state.lastModified && q.status === 304).length >= 2);
    expect(r.details().version.generation).toBe(1);
    expect(await readTarget(join(work.path, 'target'))).toEqual({ 'settings.yaml': 'a: 1\n' });
  });

  it('retries 5xx with growing backoff, keeps the old version, then catches up', async () => {
    const state = { body: '{"v":1}', etag: '"v1"' };
    serve(state);
    const r = await start({ backoff: { initial: '100ms', max: '10s' } });
    await waitFor('publish', () => r.details().version?.generation === 1);
    handler = (_req, res) => {
      requests.push({ status: 503 });
      res.writeHead(503).end('busy');
    };
    // Read the delay together with the failure count it belongs to: on a loaded machine the
    // first sample can come after the second failure already.
    const sample = () => {
      const d = r.details();
      return d.consecutiveFailures >= 1 && d.retryInMs ? { n: d.consecutiveFailures as number, ms: d.retryInMs as number } : undefined;
    };
    const first = (await waitFor('first failure', sample))!;
    const later = (await waitFor('four failures', () => {
      const s = sample();
      return s && s.n >= 4 ? s : undefined;
    }))!;
    // Full jitter keeps each delay within [ceiling/2, ceiling], and the ceiling doubles per failure.
    expect(first.ms).toBeLessThanOrEqual(100 * 2 ** (first.n - 1));
    expect(first.ms).toBeGreaterThanOrEqual(50 * 2 ** (first.n - 1));
    expect(later.ms).toBeGreaterThanOrEqual(Math.min(50 * 2 ** (later.n - 1), 5_000));
    expect(later.ms).toBeLessThanOrEqual(Math.min(100 * 2 ** (later.n - 1), 10_000));
    expect(r.details().lastError).toMatchObject({ code: 'ERR_SIDEKICK_SYNC_SOURCE' });
    expect(r.details().lastError.message).toContain('HTTP 503');
    expect(r.instance.health!().ready).toBe(true); // last good version keeps serving
    expect(await readTarget(join(work.path, 'target'))).toEqual({ 'app.json': '{"v":1}' });
    Object.assign(state, { body: '{"v":2}', etag: '"v2"' });
    serve(state);
    await waitFor('publish after recovery', () => r.details().version?.generation === 2, 20_000);
    expect(r.details().consecutiveFailures).toBe(0);
    expect(r.details().lastError).toBe(null);
  });

  it('times out a server that never answers, then syncs once it does', async () => {
    const hung: ServerResponse[] = [];
    handler = (_req, res) => void hung.push(res);
    const r = await start({ timeout: '100ms', backoff: { initial: '10ms', max: '50ms' } });
    await waitFor('timeouts', () => r.details().consecutiveFailures >= 2);
    expect(r.details().lastError.code).toBe('ERR_SIDEKICK_SYNC_TIMEOUT');
    expect(r.instance.health!()).toMatchObject({ ready: false });
    serve({ body: '{}', etag: '"x"' });
    await waitFor('publish', () => r.details().version?.generation === 1);
    expect(r.instance.health!().ready).toBe(true);
    for (const res of hung) res.destroy();
  });

  it('stop aborts a hung poll, closes its connection, and returns the same promise twice', async () => {
    let closed = false;
    let arrived = false;
    handler = (req) => {
      arrived = true;
      req.socket.once('close', () => (closed = true));
    };
    const r = await start({ timeout: '1h' });
    await waitFor('request in flight', () => arrived);
    const ac = new AbortController();
    const first = r.instance.stop({ deadline: Date.now() + 5000, signal: ac.signal });
    const second = r.instance.stop({ deadline: Date.now() + 5000, signal: ac.signal });
    expect(second).toBe(first);
    await first;
    await waitFor('connection closed by the client', () => closed);
    expect(r.details().version).toBe(null);
  });

  it('refuses a body over limits.maxFileSize', async () => {
    serve({ body: 'x'.repeat(5000) });
    const r = await start({ limits: { maxFileSize: 1000 } });
    await waitFor('refusal', () => r.details().lastError?.code === 'ERR_SIDEKICK_SYNC_LIMIT');
    expect(r.details().version).toBe(null);
  });
});
