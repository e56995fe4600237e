// An S3 request in flight is aborted (its connection closed) on the poll timeout and on stop:
// the listing and a download alike (both sent with the poll's abort signal). The store is a
// real s3rver behind a proxy that can hold requests unanswered.
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/agent-process.ts';
import { BUCKET, readTarget, runSync, startS3, useS3rverCredentials, versionDirs, waitFor, type Running, type S3Server } from './helpers.ts';

let s3: S3Server;
let work: { path: string; cleanup: () => Promise<void> };
let proxy: Server;
let endpoint: string;
let running: Running | undefined;
let seq = 0;
/** Requests the proxy holds instead of forwarding, and whether their connection has closed. */
let hold: (req: IncomingMessage) => boolean = () => false;
const held: Array<{ url: string; closed: boolean }> = [];
const sockets = new Set<Socket>();

beforeAll(async () => {
  useS3rverCredentials();
  s3 = await startS3();
  work = await tempDir('cs-s3-abort-');
  const upstream = new URL(s3.endpoint);
  proxy = createServer((req, res) => {
    if (hold(req)) {
      const entry = { url: req.url ?? '', closed: false };
      held.push(entry);
      req.socket.once('close', () => (entry.closed = true));
      return; // never answered
    }
    const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  proxy.on('connection', (s: Socket) => (sockets.add(s), s.once('close', () => sockets.delete(s))));
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
  hold = () => false;
  held.length = 0;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => proxy?.close(r));
  await s3?.close();
  await work?.cleanup();
});

const isList = (req: IncomingMessage) => req.method === 'GET' && (req.url ?? '').includes('list-type=2');
const isGet = (req: IncomingMessage) => req.method === 'GET' && !isList(req);

/** `objects` are in the store before the agent starts: a first poll of an empty prefix would publish an empty version. */
async function start(extra: Record<string, unknown>, objects: Record<string, string> = {}) {
  const prefix = `abort${++seq}/`;
  const target = join(work.path, `target${seq}`);
  for (const [key, body] of Object.entries(objects)) await s3.put(`${prefix}${key}`, body);
  running = await runSync({
    source: { s3: { bucket: BUCKET, prefix, endpoint, forcePathStyle: true } },
    target,
    interval: '50ms',
    backoff: { initial: '20ms', max: '40ms' },
    reload: { exec: { command: ['/bin/true'] } },
    ...extra,
  });
  return { prefix, target, r: running };
}

describe('config-sync s3 source: requests in flight are aborted', () => {
  it('a listing the store never answers: the poll times out and its connection is closed, then syncs once answered', async () => {
    hold = isList;
    const { target, r } = await start({ timeout: '500ms' }, { 'a.txt': 'a' });
    await waitFor('two timed-out polls', () => r.details().consecutiveFailures >= 2);
    expect(r.details().lastError.code).toBe('ERR_SIDEKICK_SYNC_TIMEOUT');
    expect(held.length).toBeGreaterThanOrEqual(2);
    await waitFor('the first held listing closed by the client', () => held[0]!.closed, 5_000);
    hold = () => false;
    await waitFor('publish', () => r.details().version?.generation === 1);
    expect(await readTarget(target)).toEqual({ 'a.txt': 'a' });
  });

  it('a listing in flight on stop: stop aborts it (a 1 h timeout would otherwise hold it) and closes its connection', async () => {
    hold = isList;
    const { r } = await start({ timeout: '1h' });
    await waitFor('listing in flight', () => held.length === 1);
    await r.stop();
    await waitFor('the held listing closed by the client', () => held[0]!.closed, 5_000);
    expect(held).toHaveLength(1);
  });

  it('a download the store never answers: the poll times out, nothing is published or left staged, then syncs', async () => {
    hold = isGet;
    const { target, r } = await start({ timeout: '500ms' }, { 'b.txt': 'b' });
    await waitFor('a timed-out poll', () => r.details().lastError?.code === 'ERR_SIDEKICK_SYNC_TIMEOUT');
    expect(r.details().version).toBe(null);
    await waitFor('the held download closed by the client', () => held[0]?.closed, 5_000);
    expect(held[0]!.url).toContain('b.txt');
    hold = () => false;
    await waitFor('publish', () => r.details().version?.generation === 1);
    expect(await readTarget(target)).toEqual({ 'b.txt': 'b' });
    expect(await versionDirs(target)).toHaveLength(1); // the timed-out stages were removed
  });

  it('a download in flight on stop: stop aborts it and its staged directory is removed', async () => {
    hold = isGet;
    const { target, r } = await start({ timeout: '1h' }, { 'c.txt': 'c' });
    await waitFor('download in flight', () => held.length === 1);
    await r.stop();
    await waitFor('the held download closed by the client', () => held[0]!.closed, 5_000);
    expect(await versionDirs(target)).toEqual([]);
    expect(r.details().version).toBe(null);
  });
});
