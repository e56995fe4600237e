// What goes over the wire to the store, through the real SDK to a real s3rver behind a proxy
// that records every request: a poll is one signed ListObjectsV2 per listing page and nothing
// else; objects are downloaded once, on a change. s3rver runs in a child process (its
// continuation tokens need --openssl-legacy-provider) so that a paged listing works too.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/agent-process.ts';
import { BUCKET, readTarget, runSync, startS3, useS3rverCredentials, waitFor, type Running, type S3Server } from './helpers.ts';

let s3: S3Server;
let work: { path: string; cleanup: () => Promise<void> };
let proxy: Server;
let endpoint: string;
let running: Running | undefined;
const seen: Array<{ method: string; url: URL; headers: IncomingHttpHeaders }> = [];

beforeAll(async () => {
  useS3rverCredentials();
  s3 = await startS3({ inChildProcess: true });
  work = await tempDir('cs-s3-requests-');
  const upstream = new URL(s3.endpoint);
  proxy = createServer((req, res) => {
    seen.push({ method: req.method!, url: new URL(req.url!, 'http://store'), headers: req.headers });
    const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
});
afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((r) => proxy?.close(r));
  await s3?.close();
  await work?.cleanup();
});

const isList = (r: (typeof seen)[number]) => r.method === 'GET' && r.url.searchParams.get('list-type') === '2';
const polls = async (r: Running) => (await r.metric('sidekick_config_sync_polls_total')) as number;

async function idleRequests(prefix: string, objects: number, pageSize?: number) {
  const files: Record<string, string> = {};
  for (let i = 0; i < objects; i++) files[`f${i}.conf`] = `v${i}\n`;
  for (const [k, v] of Object.entries(files)) await s3.put(`${prefix}${k}`, v);
  seen.length = 0;
  const r = (running = await runSync({
    source: { s3: { bucket: BUCKET, prefix, endpoint, forcePathStyle: true, ...(pageSize ? { pageSize } : {}) } },
    target: join(work.path, prefix),
    interval: '30ms',
    jitter: 0,
  }));
  await waitFor('first publish', () => r.details().version?.generation === 1);
  expect(await readTarget(join(work.path, prefix))).toEqual(files);
  const unchanged = await r.metric('sidekick_config_sync_polls_total', { result: 'unchanged' });
  await waitFor('20 idle polls', async () => (await r.metric('sidekick_config_sync_polls_total', { result: 'unchanged' })) >= unchanged + 20);
  // Polls counted first, then the requests: these include every request of those polls, and
  // at most those of the poll in flight and of one that finished in between.
  const n = await polls(r);
  const sent = [...seen];
  return { n, sent };
}

describe('config-sync s3 source: requests to the store', () => {
  it('an idle poll of a one-page prefix is one ListObjectsV2, signed with SigV4; each object is downloaded once', async () => {
    const { n, sent } = await idleRequests('single/', 3);
    const lists = sent.filter(isList);
    expect(lists.length).toBeGreaterThanOrEqual(n);
    expect(lists.length).toBeLessThanOrEqual(n + 2);
    for (const l of lists) {
      expect(l.url.searchParams.get('prefix')).toBe('single/');
      expect(l.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/);
    }
    const others = sent.filter((r) => !isList(r));
    expect(others.map((r) => `${r.method} ${r.url.pathname}`).sort()).toEqual(['f0.conf', 'f1.conf', 'f2.conf'].map((f) => `GET /${BUCKET}/single/${f}`));
  });

  it('an idle poll of a paged prefix is one ListObjectsV2 per page, following the continuation token', async () => {
    const { n, sent } = await idleRequests('paged/', 5, 2); // 3 pages
    const lists = sent.filter(isList);
    expect(lists.length).toBeGreaterThanOrEqual(3 * n);
    expect(lists.length).toBeLessThanOrEqual(3 * (n + 2));
    // Each poll starts without a token and goes on with the token of the page before.
    expect(lists.filter((l) => !l.url.searchParams.has('continuation-token')).length).toBeGreaterThanOrEqual(n);
    expect(lists.filter((l) => !l.url.searchParams.has('continuation-token')).length).toBeLessThanOrEqual(n + 2);
    expect(sent.filter((r) => !isList(r))).toHaveLength(5);
  });
});
