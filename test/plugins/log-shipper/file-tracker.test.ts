// One tracker on its own: its identity is made of the bytes it read, so a copytruncate right
// after a read is seen at the next one (the soak: a look at the file after the read took the new
// content's first bytes for the old one's, and the tracker skipped that much of the new content).
import { copyFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashHead, openFile } from '../../../plugins/log-shipper/file-identity.ts';
import { FileTracker, type LineHandler } from '../../../plugins/log-shipper/file-tracker.ts';
import { lines, tempDir, writeLines } from './helpers.ts';

describe('log-shipper file tracker', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.cleanup();
  });

  const opts = { maxLineSize: 16 * 1024, partialLineTimeout: 1000, fingerprintSize: 1024 };
  const collect = (into: string[]): LineHandler => ({ chunk: () => {}, line: (_t, buf, start, end) => into.push(buf.toString('utf8', start, end)) });

  it('a file tracked while empty takes its identity from what it reads, and a copytruncate after that read is caught', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(file, []);
    const scratch = Buffer.alloc(1024);
    const opened = (await openFile(file, scratch))!;
    const t = new FileTracker(file, opened.fh, opened.st, 0, opened.head);
    try {
      expect(t.fpLen).toBe(0);
      const first = lines('first', 8);
      await writeLines(file, first);
      const got: string[] = [];
      const buf = Buffer.alloc(64 * 1024);
      expect(await t.readChunk(buf, opts, collect(got), Date.now(), scratch)).toBe(false);
      expect(got).toEqual(first);
      const firstBytes = Buffer.from(first.map((l) => `${l}\n`).join(''));
      expect({ fpLen: t.fpLen, fpHash: t.fpHash }).toEqual({ fpLen: firstBytes.length, fpHash: hashHead(firstBytes) });
      // logrotate's copytruncate, and the app writes on (more than was read, so the size alone says nothing).
      await copyFile(file, `${file}.1`);
      await truncate(file, 0);
      await writeLines(file, lines('second', 40));
      const after: string[] = [];
      expect(await t.readChunk(buf, opts, collect(after), Date.now(), scratch)).toBe('changed');
      expect(after).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('a tracker that cannot read grows its identity from one look at the file, and keeps the old one when the file was replaced', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(file, lines('a', 5));
    const scratch = Buffer.alloc(1024);
    const opened = (await openFile(file, scratch))!;
    const t = new FileTracker(file, opened.fh, opened.st, 0, opened.head);
    try {
      const small = { fpLen: t.fpLen, fpHash: t.fpHash };
      expect(small.fpLen).toBeLessThan(1024);
      await writeLines(file, lines('a', 100, 5));
      expect(await t.checkIdentity(1024, scratch)).toBe(true);
      expect(t.fpLen).toBe(1024);
      const full = { fpLen: t.fpLen, fpHash: t.fpHash };
      await copyFile(file, `${file}.1`);
      await truncate(file, 0);
      await writeLines(file, lines('b', 100));
      expect(await t.checkIdentity(1024, scratch)).toBe(false);
      // Still the identity of what the copy holds, so the copy can be found by it.
      expect({ fpLen: t.fpLen, fpHash: t.fpHash }).toEqual(full);
      expect(small.fpHash).not.toBe(full.fpHash);
    } finally {
      await t.close();
    }
  });

  it('knows a copy by its first bytes: a file that starts with what another tracker knows', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(file, lines('a', 100));
    await copyFile(file, `${file}.1`);
    await writeLines(`${file}.2`, lines('b', 100));
    const scratch = Buffer.alloc(1024);
    const track = async (p: string) => {
      const o = (await openFile(p, scratch))!;
      return new FileTracker(p, o.fh, o.st, 0, o.head);
    };
    // One at a time: the scratch buffer is shared, as in the agent.
    const live = await track(file);
    const copy = await track(`${file}.1`);
    const other = await track(`${file}.2`);
    try {
      expect(copy.startsWith(live)).toBe(true);
      expect(other.startsWith(live)).toBe(false);
    } finally {
      for (const t of [live, copy, other]) await t.close();
    }
  });
});
