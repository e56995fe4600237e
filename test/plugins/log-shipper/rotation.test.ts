// Rotation the way logrotate does it (the real logrotate binary), truncation, deletion,
// inode reuse and rotation while the shipper was stopped. Every line checked by content.
import { execFile } from 'node:child_process';
import { appendFileSync, copyFileSync, renameSync, truncateSync } from 'node:fs';
import { copyFile, open, readFile, rename, stat, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRotatedName } from '../../../plugins/log-shipper/missed-rotations.ts';
import { Receiver, type Shipper, eventually, expectAllOnce, lines, startShipper, tempDir, writeLines } from './helpers.ts';

const run = promisify(execFile);

/** Last written an hour ago: a rotation from before the shipper ran, not one it might have missed. */
async function ageFile(path: string): Promise<void> {
  const then = new Date(Date.now() - 3_600_000);
  await utimes(path, then, then);
}

async function logrotate(dir: string, file: string, mode: 'create' | 'copytruncate'): Promise<void> {
  const conf = join(dir, 'logrotate.conf');
  await writeFile(conf, `${file} {\n  rotate 5\n  ${mode}\n  nocompress\n  missingok\n}\n`);
  await run('logrotate', ['-f', '-s', join(dir, 'logrotate.state'), conf]);
}

describe('log-shipper rotation', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let rx: Receiver;
  let shipper: Shipper | undefined;
  let dataDir: { path: string; cleanup: () => Promise<void> };
  let file: string;

  beforeEach(async () => {
    dir = await tempDir();
    dataDir = await tempDir();
    rx = await new Receiver().listen();
    file = join(dir.path, 'app.log');
  });
  afterEach(async () => {
    await shipper?.stop();
    shipper = undefined;
    await rx.close();
    await dir.cleanup();
    await dataDir.cleanup();
  });

  const start = (extra: Record<string, unknown> = {}) =>
    startShipper({ include: [join(dir.path, '*.log')], sink: { type: 'http', url: rx.url }, ...extra }, { dataDir: dataDir.path });

  /** Makes the receiver refuse everything until released, so reading stops at the buffer limit. */
  function holdReceiver(): () => void {
    let held = true;
    rx.respond = () => (held ? { status: 503 } : { status: 200 });
    return () => (held = false);
  }

  it('rename + create (logrotate create): reads the old file to its end, then the new one', async () => {
    // rotateWait generous: the app below writes to the renamed file after logrotate, even on a slow machine.
    shipper = await start({ rotateWait: '3s' });
    const app = await open(file, 'a');
    const a = lines('a', 200);
    await app.write(a.map((l) => l + '\n').join(''));
    await eventually(() => expect(rx.messages().length).toBeGreaterThan(0));
    await logrotate(dir.path, file, 'create');
    // The app still holds the old descriptor for a moment: these land in app.log.1.
    const b = lines('b', 200);
    await app.write(b.map((l) => l + '\n').join(''));
    await app.close();
    const c = lines('c', 200);
    await writeLines(file, c);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c]));
    expect(rx.messages().filter((m) => m.startsWith('a') || m.startsWith('b'))).toEqual([...a, ...b]);
    expect(rx.messages().filter((m) => m.startsWith('c'))).toEqual(c);
  });

  it('rename + create when the globs match the rotated names too (app.log*): nothing is read twice, across a restart', async () => {
    const glob = { include: [join(dir.path, 'app.log*')] };
    shipper = await start(glob);
    const a = lines('a', 300);
    await writeLines(file, a);
    await eventually(() => expectAllOnce(rx.messages(), a));
    await logrotate(dir.path, file, 'create');
    const b = lines('b', 300);
    await writeLines(file, b);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]));
    await logrotate(dir.path, file, 'create'); // app.log.1 -> app.log.2, app.log -> app.log.1
    const c = lines('c', 300);
    await writeLines(file, c);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c]));
    await shipper.stop();
    shipper = await start(glob);
    const d = lines('d', 10);
    await writeLines(file, d);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c, ...d]));
  });

  it('copytruncate (logrotate copytruncate) while reading is paused: the unread tail comes from the copy, nothing twice', async () => {
    const release = holdReceiver();
    const a = lines('a', 20_000);
    await writeLines(file, a);
    shipper = await start({ buffer: '64KiB', readBufferSize: '16KiB', maxLineSize: '16KiB' });
    await eventually(() => expect(rx.requests.length).toBeGreaterThan(0));
    await logrotate(dir.path, file, 'copytruncate');
    expect((await stat(file)).size).toBe(0);
    const c = lines('c', 300);
    await writeLines(file, c);
    release();
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...c]), 400);
  });

  it('copytruncate twice while the first copy is still read: the second copy takes the first copy\'s old name and is found', async () => {
    // Found by the soak: the draining tracker was named app.log.1 after the first copy; logrotate then
    // shifted it to app.log.2 and put the second copy at app.log.1, which the search skipped by name.
    const release = holdReceiver();
    const a = lines('a', 20_000);
    await writeLines(file, a);
    shipper = await start({ buffer: '64KiB', readBufferSize: '16KiB', maxLineSize: '16KiB', rotateWait: '5s' });
    await eventually(() => expect(rx.requests.length).toBeGreaterThan(0));
    await logrotate(dir.path, file, 'copytruncate');
    await eventually(() => expect(shipper!.logs.some((l) => l.msg === 'file truncated; restarting at 0' && l.copy === `${file}.1`)).toBe(true));
    const b = lines('b', 2_000);
    await writeLines(file, b);
    // The new content's identity (its first KiB) is known before the second rotation.
    await eventually(async () => {
      const saved = JSON.parse(await readFile(join(dataDir.path, 'checkpoints.json'), 'utf8')).files;
      expect(saved.some((c: { path: string; fpLen: number; done?: boolean }) => c.path === file && c.fpLen === 1024 && !c.done)).toBe(true);
    });
    await logrotate(dir.path, file, 'copytruncate'); // a -> app.log.2, b copied to app.log.1, app.log emptied
    const c = lines('c', 300);
    await writeLines(file, c);
    release();
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c]), 400);
    expect(shipper.logs.filter((l) => String(l.msg).startsWith('LOG LINES LOST'))).toEqual([]);
  });

  it('copytruncate while reading waits on a full buffer: the file is checked before reading on', async () => {
    // Found by the copytruncate-twice test (1 run in 5): the reader stopped mid-file at the buffer
    // limit, the file was copied, truncated and refilled, and the next read took the new content's
    // middle for the old content's rest. The poll is slow here so that only the reader can notice.
    const release = holdReceiver();
    const a = lines('a', 20_000);
    await writeLines(file, a);
    shipper = await start({ buffer: '64KiB', readBufferSize: '16KiB', maxLineSize: '16KiB', pollInterval: '30s', rotateWait: '5s' });
    await eventually(() => expect(rx.requests.length).toBeGreaterThan(0));
    const c = lines('c', 5_000); // longer than what was read of a: a read at the old offset finds bytes
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    appendFileSync(file, c.map((l) => l + '\n').join(''));
    release();
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...c]), 400);
    expect(shipper.logs.filter((l) => String(l.msg).startsWith('LOG LINES LOST'))).toEqual([]);
  });

  it('inode reuse while the rotated file is still drained: the emptied file renamed back to the live name is read from 0', async () => {
    // Found by the soak: the new app.log had the inode of app.log.1, which was still being drained,
    // so it was taken for that file renamed; its first lines were never shipped.
    shipper = await start({ rotateWait: '30s' });
    const a = lines('a', 100);
    await writeLines(file, a);
    await eventually(() => expectAllOnce(rx.messages(), a));
    await rename(file, `${file}.1`);
    const b = lines('b', 50);
    await writeLines(file, b);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]));
    // app.log -> app.log.2; app.log.1 (still draining: rotateWait) emptied and renamed to app.log.
    await rename(file, `${file}.2`);
    await truncate(`${file}.1`, 0);
    await rename(`${file}.1`, file);
    const c = lines('c', 300);
    await writeLines(file, c);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c]));
  });

  it('rotated twice between two checks while running: the file in between is read too', async () => {
    // Found by the soak: app.log renamed, a new app.log written and renamed again before a check
    // saw it; the middle file sat as app.log.1 with no tracker and was never shipped.
    shipper = await start({ include: [file], pollInterval: '1500ms' });
    const a = lines('a', 100);
    await writeLines(file, a);
    await eventually(() => expectAllOnce(rx.messages(), a));
    await rename(file, `${file}.1`);
    const b = lines('b', 10);
    await writeLines(file, b);
    await rename(`${file}.1`, `${file}.2`);
    await rename(file, `${file}.1`);
    const c = lines('c', 20);
    await writeLines(file, c);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c]));
  });

  it('rotated twice, then a checkpoint save, then a kill before the next check: the file in between is read after the restart', async () => {
    // Found by the soak (seed 543497421, 6 lines lost): the middle file was written before the last
    // checkpoint save, so a restart took it for an old rotation (older than the save) and skipped it.
    const other = join(dir.path, 'other.log');
    const at = lines('a', 100);
    await writeLines(file, at);
    // No rotation check after the first one: the state a kill right after the rotations leaves.
    shipper = await start({ pollInterval: '1h' });
    await eventually(() => expectAllOnce(rx.messages(), at));
    await rename(file, `${file}.1`);
    const b = lines('b', 6);
    await writeLines(file, b);
    await rename(`${file}.1`, `${file}.2`);
    await rename(file, `${file}.1`);
    const bWritten = (await stat(`${file}.1`)).mtimeMs;
    const c = lines('c', 20);
    await writeLines(file, c);
    // Another file acknowledged: a checkpoint save that knows nothing of the middle file.
    const o = lines('o', 10);
    await writeLines(other, o);
    await eventually(() => expectAllOnce(rx.messages(), [...at, ...o]));
    const saved = join(dataDir.path, 'checkpoints.json');
    await eventually(async () => {
      expect((await stat(saved)).mtimeMs).toBeGreaterThan(bWritten);
      expect(JSON.parse(await readFile(saved, 'utf8')).files.some((f: { path: string }) => f.path === other)).toBe(true);
    });
    await shipper.stop();
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...at, ...o, ...b, ...c]));
  });

  it('a file tracked while empty, read, then emptied and rewritten while stopped (same inode): read from 0', async () => {
    // Found by the soak (6 lines lost, the last one cut): a file tracked while empty kept an empty
    // fingerprint while its lines were read and acknowledged, so its checkpoint matched any content
    // of that inode; logrotate-style inode reuse while stopped then resumed the new content mid-file.
    await writeFile(file, '');
    shipper = await start({ pollInterval: '1h' }); // no rotation check after the first: reads only
    const a = lines('a', 5);
    await writeLines(file, a);
    await eventually(() => expectAllOnce(rx.messages(), a));
    await shipper.stop();
    await truncate(file, 0);
    const b = lines('b', 40);
    await writeLines(file, b);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]));
  });

  it('copytruncate twice between two checks while running: the second copy is read too', async () => {
    // Found by the soak (23 lines lost): lines written between two copytruncates 17 ms apart lived
    // only in the second copy, which no tracker had seen; the search found the first copy only.
    shipper = await start({ include: [file], pollInterval: '1500ms' });
    const a = lines('a', 100);
    await writeLines(file, a);
    await eventually(() => expectAllOnce(rx.messages(), a));
    const b = lines('b', 23);
    // Synchronous: the shipper (same process) cannot look in between.
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    appendFileSync(file, b.map((l) => l + '\n').join(''));
    renameSync(`${file}.1`, `${file}.2`);
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    const c = lines('c', 20);
    appendFileSync(file, c.map((l) => l + '\n').join(''));
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c]));
  });

  it('copytruncate of a file tracked while empty, before any look at its first lines: the copy is read', async () => {
    // Found by the soak (5 lines lost): the tracker of an empty file has no identity, so after the
    // copytruncate its new content looked like the first; only the copy held the first lines.
    await writeFile(file, '');
    shipper = await start({ include: [file], pollInterval: '1500ms' });
    await eventually(() => expect(shipper!.logs.some((l) => l.msg === 'log-shipper tailing')).toBe(true));
    const a = lines('a', 5);
    // Synchronous: the shipper (same process) cannot look in between.
    appendFileSync(file, a.map((l) => l + '\n').join(''));
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    const b = lines('b', 20);
    appendFileSync(file, b.map((l) => l + '\n').join(''));
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]));
  });

  it('plain truncation: restarts at 0 without re-shipping', async () => {
    shipper = await start();
    const a = lines('a', 100);
    await writeLines(file, a);
    await eventually(() => expectAllOnce(rx.messages(), a));
    await truncate(file, 0);
    const b = lines('b', 10); // shorter than what was read: size < offset
    await writeLines(file, b);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]));
    // Truncated and refilled past the old offset before the next check: caught by the fingerprint.
    await truncate(file, 0);
    const c = lines('c', 300);
    await writeLines(file, c);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c]));
    // Truncated and refilled to exactly the length already read: neither size nor offset moves.
    const read = (await stat(file)).size;
    await truncate(file, 0);
    const d = lines('d', 300);
    await writeLines(file, d);
    expect((await stat(file)).size).toBe(read);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c, ...d]));
  });

  it('a file deleted while being read is read to its end from the open descriptor', async () => {
    const release = holdReceiver();
    const a = lines('a', 20_000);
    await writeLines(file, a);
    shipper = await start({ buffer: '64KiB', readBufferSize: '16KiB', maxLineSize: '16KiB' });
    await eventually(() => expect(rx.requests.length).toBeGreaterThan(0));
    await unlink(file);
    release();
    await eventually(() => expectAllOnce(rx.messages(), a), 400);
  });

  it('inode reuse never hands a new file the old offset', async () => {
    const a = lines('a', 100);
    await writeLines(file, a);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), a));
    await shipper.stop();
    const old = await stat(file);
    await unlink(file);
    const b = lines('b', 150);
    await writeLines(file, b);
    const now = await stat(file);
    const cpFile = join(dataDir.path, 'checkpoints.json');
    const cp = JSON.parse(await readFile(cpFile, 'utf8'));
    expect(cp.files[0].ino).toBe(old.ino);
    if (now.ino !== old.ino || now.dev !== old.dev) {
      // ext4 hands the freed inode straight back (real reuse); other filesystems may not: then make
      // the checkpoint say so, which is exactly the state real reuse leaves behind.
      cp.files[0].ino = now.ino;
      cp.files[0].dev = now.dev;
      await writeFile(cpFile, JSON.stringify(cp));
    }
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]));
  });

  it('rotation while stopped (rename): the rest of the rotated file is read from the checkpoint', async () => {
    const a = lines('a', 100);
    await writeLines(file, a);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), a));
    await shipper.stop();
    const b = lines('b', 100);
    await writeLines(file, b);
    await rename(file, `${file}.1`);
    const c = lines('c', 100);
    await writeLines(file, c);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c]));
  });

  it('a file created and rotated away entirely while stopped (logrotate twice) is read too; older rotations are not', async () => {
    const old = lines('old', 20);
    await writeLines(`${file}.3`, old); // rotated before the shipper ever ran: not to be shipped
    await ageFile(`${file}.3`);
    const a = lines('a', 50);
    await writeLines(file, a);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), a));
    await shipper.stop();
    const b = lines('b', 50);
    await writeLines(file, b);
    await logrotate(dir.path, file, 'create'); // app.log (A) -> app.log.1, new app.log (B)
    const c = lines('c', 50);
    await writeLines(file, c);
    await logrotate(dir.path, file, 'create'); // A -> app.log.2, B -> app.log.1, new app.log
    const d = lines('d', 50);
    await writeLines(file, d);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c, ...d]));
    // Another restart reads none of it again (B is known by identity now).
    await shipper.stop();
    shipper = await start();
    const e = lines('e', 10);
    await writeLines(file, e);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c, ...d, ...e]));
  });

  it('a file created and rotated away while stopped, before the shipper had seen any file: read too', async () => {
    // The shipper ran (a checkpoint was saved) but had no file yet, as when it is killed before the
    // app's first file is discovered: the rotated sibling of the file matched now is found by its mtime.
    await writeLines(`${file}.3`, lines('old', 20)); // rotated before the shipper ever ran: not to be shipped
    await ageFile(`${file}.3`);
    shipper = await start();
    await shipper.stop();
    const a = lines('a', 50);
    await writeLines(file, a);
    await logrotate(dir.path, file, 'create'); // app.log (A) -> app.log.1, new app.log (B)
    const b = lines('b', 50);
    await writeLines(file, b);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]));
  });

  it('logrotate copytruncate twice while stopped: the rest from the older copy, the whole newer copy, then the file', async () => {
    const a = lines('a', 50);
    await writeLines(file, a);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), a));
    await shipper.stop();
    const b = lines('b', 50);
    await writeLines(file, b);
    await logrotate(dir.path, file, 'copytruncate'); // a+b copied to app.log.1, app.log emptied
    const c = lines('c', 50);
    await writeLines(file, c);
    await logrotate(dir.path, file, 'copytruncate'); // a+b now app.log.2, c copied to app.log.1
    const d = lines('d', 50);
    await writeLines(file, d);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c, ...d]));
  });

  it('copytruncate while stopped, the new content starting with the same bytes (a banner) but shorter: read from 0', async () => {
    // Same inode and same first bytes at the checkpointed path, but smaller than the checkpoint's
    // offset: truncated and rewritten, not the old file. It used to be resumed at its end (new lines skipped).
    const banner = Array.from({ length: 30 }, (_, i) => `=== legacy app v1.2.3 starting, config line ${i} ${'-'.repeat(20)}`);
    const a = lines('a', 100);
    await writeLines(file, [...banner, ...a]);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...banner, ...a]));
    await shipper.stop();
    const b = lines('b', 50);
    await writeLines(file, b);
    await logrotate(dir.path, file, 'copytruncate'); // banner+a+b copied to app.log.1, app.log emptied
    const c = lines('c', 10);
    await writeLines(file, [...banner, ...c]);
    rx.records.length = 0;
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...b, ...banner, ...c]));
  });

  it('finds rotated names with dateext and extension, and skips compressed ones', () => {
    expect(isRotatedName('app.log', 'app.log.1')).toBe(true);
    expect(isRotatedName('app.log', 'app.log-20261124')).toBe(true);
    expect(isRotatedName('app.log', 'app-20261124.log')).toBe(true);
    expect(isRotatedName('app.log', 'app.log.2.gz')).toBe(false);
    expect(isRotatedName('app.log', 'app.log')).toBe(false);
    expect(isRotatedName('app.log', 'other.log.1')).toBe(false);
    expect(isRotatedName('app.log', 'application.log')).toBe(false);
  });

  it('copytruncate while stopped: the unread tail is read from the copy', async () => {
    const a = lines('a', 100);
    await writeLines(file, a);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), a));
    await shipper.stop();
    const b = lines('b', 100);
    await writeLines(file, b);
    await copyFile(file, `${file}.1`);
    await truncate(file, 0);
    const c = lines('c', 20);
    await writeLines(file, c);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c]));
  });

  it('counts and logs bytes lost when a file read but not yet shipped is deleted while stopped', async () => {
    const release = holdReceiver();
    const a = lines('a', 10);
    await writeLines(file, a);
    shipper = await start();
    await eventually(() => expect(rx.requests.length).toBeGreaterThan(0));
    await shipper.stop(200);
    await unlink(file);
    release();
    shipper = await start();
    const lost = a.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    const text = await shipper.ctx.metricsRegistry.metrics();
    expect(text).toContain(`sidekick_log_shipper_lost_bytes_total{instance="logs"} ${lost}`);
    expect(rx.messages()).toEqual([]);
  });
});
