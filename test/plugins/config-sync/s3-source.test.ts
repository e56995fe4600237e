// The s3 source against a real S3 API server (s3rver) through the real SDK.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/agent-process.ts';
import { BUCKET, dataLink, readTarget, runSync, startS3, useS3rverCredentials, versionDirs, waitFor, type Running, type S3Server } from './helpers.ts';

let s3: S3Server;
let work: { path: string; cleanup: () => Promise<void> };
let running: Running | undefined;
let prefixSeq = 0;

beforeAll(async () => {
  useS3rverCredentials();
  s3 = await startS3();
  work = await tempDir('cs-s3-');
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
});
afterAll(async () => {
  await s3?.close();
  await work?.cleanup();
});

/** Each test gets its own prefix and target, so tests cannot see each other's objects. */
async function start(extra: Record<string, unknown> = {}) {
  const prefix = `app${++prefixSeq}/`;
  const target = join(work.path, `target${prefixSeq}`);
  const reloadLog = join(work.path, `reloads${prefixSeq}.log`);
  return {
    prefix,
    target,
    reloadLog,
    go: async () => {
      running = await runSync({
        source: { s3: { bucket: BUCKET, prefix, endpoint: s3.endpoint, forcePathStyle: true } },
        target,
        interval: '50ms',
        reload: { exec: { command: ['/bin/sh', '-c', `echo reload >> ${reloadLog}`] } },
        ...extra,
      });
      return running;
    },
  };
}

const reloadCount = (file: string) => readFile(file, 'utf8').then((t) => t.split('\n').filter(Boolean).length, () => 0);

describe('config-sync s3 source', () => {
  it('first sync publishes the prefix as a tree in the AtomicWriter layout, nested prefixes included', async () => {
    const t = await start();
    await s3.put(`${t.prefix}app.json`, '{"a":1}');
    await s3.put(`${t.prefix}conf.d/db/main.yaml`, 'host: db\n');
    await s3.put(`${t.prefix}conf.d/`, ''); // a console "folder" marker is not a file
    const r = await t.go();
    await waitFor('first publish', () => r.details().version);
    expect(await readTarget(t.target)).toEqual({ 'app.json': '{"a":1}', 'conf.d/db/main.yaml': 'host: db\n' });
    const link = await dataLink(t.target);
    expect(link).toMatch(/^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/);
    const { readlink } = await import('node:fs/promises');
    expect(await readlink(join(t.target, 'app.json'))).toBe('..data/app.json');
    expect(await readlink(join(t.target, 'conf.d'))).toBe('..data/conf.d');
    expect(r.instance.health!().ready).toBe(true);
    expect(r.details().files.sort()).toEqual(['app.json', 'conf.d/db/main.yaml']);
    expect(await r.metric('sidekick_config_sync_version')).toBe(1);
    await waitFor('one reload', async () => (await reloadCount(t.reloadLog)) === 1);
  });

  it('a change publishes a new version and keeps the previous one; no change means no download, no publish, no reload', async () => {
    const t = await start();
    await s3.put(`${t.prefix}a.txt`, 'one');
    await s3.put(`${t.prefix}b.txt`, 'bee');
    const r = await t.go();
    await waitFor('first publish', () => r.details().version?.generation === 1);
    const first = await dataLink(t.target);
    await s3.put(`${t.prefix}a.txt`, 'two!');
    await waitFor('second publish', () => r.details().version?.generation === 2);
    expect(await readTarget(t.target)).toEqual({ 'a.txt': 'two!', 'b.txt': 'bee' });
    expect(await versionDirs(t.target)).toEqual([first, await dataLink(t.target)].sort());
    // Only the changed object was downloaded the second time.
    expect(await r.metric('sidekick_config_sync_downloaded_bytes_total')).toBe(3 + 3 + 4);
    await waitFor('two reloads', async () => (await reloadCount(t.reloadLog)) === 2);

    const polls = await r.metric('sidekick_config_sync_polls_total', { result: 'unchanged' });
    await waitFor('five idle polls', async () => (await r.metric('sidekick_config_sync_polls_total', { result: 'unchanged' })) >= polls + 5);
    expect(await r.metric('sidekick_config_sync_downloaded_bytes_total')).toBe(10);
    expect(await r.metric('sidekick_config_sync_publishes_total')).toBe(2);
    expect(await reloadCount(t.reloadLog)).toBe(2);
    expect(r.details().version.generation).toBe(2);
  });

  it('mirrors deletions: the visible link and the file go away', async () => {
    const t = await start();
    await s3.put(`${t.prefix}keep.txt`, 'k');
    await s3.put(`${t.prefix}gone.txt`, 'g');
    await s3.put(`${t.prefix}dir/gone.txt`, 'g');
    const r = await t.go();
    await waitFor('first publish', () => r.details().version?.generation === 1);
    // Two requests: a poll between them publishes the first deletion alone, then the second.
    await s3.del(`${t.prefix}gone.txt`);
    await s3.del(`${t.prefix}dir/gone.txt`);
    await waitFor('both deletions published', async () => JSON.stringify(await readTarget(t.target).catch(() => null)) === '{"keep.txt":"k"}');
    expect(r.details().version.generation).toBeGreaterThanOrEqual(2);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(t.target)).filter((n) => !n.startsWith('..'))).toEqual(['keep.txt']);
    expect(await r.metric('sidekick_config_sync_changes_total', { kind: 'deleted' })).toBe(2);
  });

  it('downloads an object whose ETag is unchanged but whose size changed', async () => {
    const t = await start();
    await s3.put(`${t.prefix}kms.conf`, 'short');
    const r = await t.go();
    await waitFor('first publish', () => r.details().version?.generation === 1);
    // A store whose ETag is not a content hash (SSE-KMS, multipart): rewrite the object's bytes
    // in s3rver's store and keep its recorded MD5, so the listing shows the same ETag, new size.
    // Written beside the store and renamed in: writeFile in place truncates first, and a poll
    // listing the empty file in between would publish it.
    const objectFile = join(s3.storeDir, BUCKET, `${t.prefix}kms.conf._S3rver_object`);
    const staged = join(s3.storeDir, `kms-${prefixSeq}.tmp`);
    await writeFile(staged, 'much longer content');
    await rename(staged, objectFile);
    await waitFor('second publish', () => r.details().version?.generation === 2);
    expect(await readTarget(t.target)).toEqual({ 'kms.conf': 'much longer content' });
  });

  it('refuses keys that would escape the target or use reserved names, and keeps the last good version', async () => {
    const t = await start({ backoff: { initial: '50ms', max: '200ms' } });
    await s3.put(`${t.prefix}good.txt`, 'good');
    const r = await t.go();
    await waitFor('first publish', () => r.details().version?.generation === 1);
    for (const bad of ['..data/evil', 'x/..', '..2026_01_01_00_00_00.1/evil']) {
      await s3.put(`${t.prefix}${bad}`, 'evil');
      await waitFor(`refusal of ${bad}`, () => r.details().lastError?.code === 'ERR_SIDEKICK_SYNC_UNSAFE_PATH' && r.details().lastError.message.includes(JSON.stringify(bad)));
      await s3.del(`${t.prefix}${bad}`);
      await waitFor('recovery', () => r.details().lastError === null);
    }
    expect(await readTarget(t.target)).toEqual({ 'good.txt': 'good' });
    expect(r.details().version.generation).toBe(1);
    expect(await r.metric('sidekick_config_sync_errors_total', { code: 'ERR_SIDEKICK_SYNC_UNSAFE_PATH' })).toBeGreaterThanOrEqual(3);
  });

  it('refuses oversize objects and versions over the file-count limit', async () => {
    const t = await start({ limits: { maxFileSize: '1KiB', maxFiles: 2 }, backoff: { initial: '50ms', max: '200ms' } });
    await s3.put(`${t.prefix}small.txt`, 'small');
    const r = await t.go();
    await waitFor('first publish', () => r.details().version?.generation === 1);
    await s3.put(`${t.prefix}big.bin`, Buffer.alloc(2048, 1));
    await waitFor('size refusal', () => r.details().lastError?.code === 'ERR_SIDEKICK_SYNC_LIMIT' && r.details().lastError.message.includes('big.bin'));
    // third.txt goes in first, so no state the poller can see is a publishable two-file version.
    await s3.put(`${t.prefix}third.txt`, '3');
    await s3.put(`${t.prefix}big.bin`, 'now small');
    const errors = await r.metric('sidekick_config_sync_polls_total', { result: 'error' });
    await waitFor('two polls of the final state', async () => (await r.metric('sidekick_config_sync_polls_total', { result: 'error' })) >= errors + 2);
    expect(r.details().lastError?.message).toContain('limits.maxFiles');
    expect(await readTarget(t.target)).toEqual({ 'small.txt': 'small' });
    expect(await r.metric('sidekick_config_sync_downloaded_bytes_total')).toBe(5);
  });

  it('keeps serving when the store is down and catches up when it is back, with backoff', async () => {
    const t = await start({ backoff: { initial: '20ms', max: '80ms' } });
    await s3.put(`${t.prefix}v.txt`, '1');
    const r = await t.go();
    await waitFor('first publish', () => r.details().version?.generation === 1);
    // Point a second instance at a port nothing listens on: "store down".
    const down = await runSync({
      source: { s3: { bucket: BUCKET, prefix: t.prefix, endpoint: 'http://127.0.0.1:1', forcePathStyle: true } },
      target: join(work.path, `down${prefixSeq}`),
      interval: '50ms',
      backoff: { initial: '20ms', max: '80ms' },
    });
    try {
      await waitFor('three failures', () => down.details().consecutiveFailures >= 3);
      expect(down.instance.health!().ready).toBe(false);
      expect(down.instance.health!().reason).toMatch(/no version published yet: source error/);
      expect(down.details().lastError.code).toBe('ERR_SIDEKICK_SYNC_SOURCE');
    } finally {
      await down.stop();
    }
  });
});
