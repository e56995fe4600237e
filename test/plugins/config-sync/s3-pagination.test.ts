// Listings of more than one page, and polls that repeat the last listing, against a real
// s3rver through the real SDK. s3rver runs in a child process with --openssl-legacy-provider:
// its continuation tokens are DES-encrypted, which Node's default OpenSSL 3 refuses.
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/agent-process.ts';
import { BUCKET, readTarget, runSync, startS3, useS3rverCredentials, waitFor, type Running, type S3Server } from './helpers.ts';

let s3: S3Server;
let work: { path: string; cleanup: () => Promise<void> };
let running: Running | undefined;

beforeAll(async () => {
  useS3rverCredentials();
  s3 = await startS3({ inChildProcess: true });
  work = await tempDir('cs-s3p-');
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
});
afterAll(async () => {
  await s3?.close();
  await work?.cleanup();
});

const sync = async (prefix: string, extra: Record<string, unknown> = {}) => {
  running = await runSync({
    source: { s3: { bucket: BUCKET, prefix, endpoint: s3.endpoint, forcePathStyle: true, ...extra } },
    target: join(work.path, prefix),
    interval: '30ms',
    jitter: 0,
  });
  return running;
};
const polls = (r: Running) => r.metric('sidekick_config_sync_polls_total', { result: 'unchanged' });

describe('config-sync s3 listings', () => {
  it('follows continuation tokens across pages: every key of a prefix larger than one page is published, changes on any page are seen', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 7; i++) files[i < 3 ? `a${i}.conf` : `sub/dir/b${i}.conf`] = `v1 ${i}\n`;
    for (const [k, v] of Object.entries(files)) await s3.put(`paged/${k}`, v);
    const r = await sync('paged/', { pageSize: 2 }); // 4 pages
    const target = join(work.path, 'paged/');
    await waitFor('first publish', () => r.details().version?.generation === 1);
    expect(await readTarget(target)).toEqual(files);

    const before = await polls(r);
    await waitFor('three unchanged polls', async () => (await polls(r)) >= before + 3);
    expect(r.details().version.generation).toBe(1);

    // One change on the first page, one on the last, one deletion in the middle: three
    // requests, so a poll may land between them and publish an intermediate version first.
    await s3.put('paged/a0.conf', 'v2 0\n');
    await s3.put('paged/sub/dir/b6.conf', 'v2 6\n');
    await s3.del('paged/sub/dir/b4.conf');
    const want = { ...files, 'a0.conf': 'v2 0\n', 'sub/dir/b6.conf': 'v2 6\n' };
    delete (want as Record<string, string>)['sub/dir/b4.conf'];
    // A walk that straddles a publish can meet a path that just went away: look again.
    await waitFor('final version', async () => JSON.stringify(await readTarget(target).catch(() => null)) === JSON.stringify(want));
    // The files are visible from the swap on; the publish is counted once the swap's clean-up is done.
    await waitFor('final version counted', async () => (await r.metric('sidekick_config_sync_changes_total', { kind: 'deleted' })) >= 1);
    expect(r.details().version.generation).toBeGreaterThanOrEqual(2);
    expect(r.details().version.generation).toBeLessThanOrEqual(4);
    // Whatever the intermediate versions were, each change is counted once.
    expect(await r.metric('sidekick_config_sync_changes_total', { kind: 'modified' })).toBe(2);
    expect(await r.metric('sidekick_config_sync_changes_total', { kind: 'deleted' })).toBe(1);
  });

  it('a poll whose listing repeats the last one byte for byte publishes nothing, and the next real change (same size) is still seen', async () => {
    await s3.put('same/app.conf', 'colour=red\n');
    await s3.put('same/db.conf', 'host=a\n');
    const r = await sync('same/');
    const target = join(work.path, 'same/');
    await waitFor('first publish', () => r.details().version?.generation === 1);
    const before = await polls(r);
    await waitFor('five unchanged polls', async () => (await polls(r)) >= before + 5);
    expect(await r.metric('sidekick_config_sync_downloaded_bytes_total')).toBe('colour=red\n'.length + 'host=a\n'.length);
    await s3.put('same/app.conf', 'colour=blu\n'); // same size: only the ETag tells
    await waitFor('second publish', () => r.details().version?.generation === 2);
    expect((await readTarget(target))['app.conf']).toBe('colour=blu\n');
    // An unsafe key added later fails the poll every time, not only the first (a failed listing is not remembered).
    await s3.put('same/..evil', 'x');
    await waitFor('two failed polls', async () => (await r.metric('sidekick_config_sync_errors_total', { code: 'ERR_SIDEKICK_SYNC_UNSAFE_PATH' })) >= 2, 15_000);
    expect(r.details().version.generation).toBe(2);
    await s3.del('same/..evil');
  });
});
