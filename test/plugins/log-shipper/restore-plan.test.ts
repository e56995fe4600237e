// The restore plan on its own, for states a crash can leave that the end-to-end tests reach only by chance.
import { copyFile, open, rename, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../../plugins/log-shipper/checkpoint-store.ts';
import { fingerprint, hashHead } from '../../../plugins/log-shipper/file-identity.ts';
import { addMissedRotations, planRestore, resumeCheckpointed } from '../../../plugins/log-shipper/restore-plan.ts';
import { findRotated } from '../../../plugins/log-shipper/rotated-file-finder.ts';
import { lines, tempDir, writeLines } from './helpers.ts';

async function checkpointOf(path: string, offset: number): Promise<Checkpoint> {
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    const fpLen = Math.min(1024, st.size);
    return { path, dev: st.dev, ino: st.ino, fpLen, fpHash: (await fingerprint(fh, fpLen, Buffer.alloc(1024)))!, offset, size: st.size };
  } finally {
    await fh.close();
  }
}

describe('log-shipper restore plan', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.cleanup();
  });

  it('a kill right after copytruncate was seen (the file and its copy both checkpointed): the copy is read once, nothing reported lost', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(file, lines('a', 100));
    await copyFile(file, `${file}.1`);
    const both = [await checkpointOf(file, 0), await checkpointOf(`${file}.1`, 0)];
    await truncate(file, 0);
    await writeLines(file, lines('b', 10));
    const plan = await planRestore([file], both, { readFrom: 'beginning', savedAt: (await stat(file)).mtimeMs, excluded: () => false }, Buffer.alloc(1024));
    try {
      expect(plan.lost).toEqual([]);
      expect(plan.open.map((o) => [o.file.path, o.offset]).sort()).toEqual([[file, 0], [`${file}.1`, 0]]);
    } finally {
      for (const o of plan.open) await o.file.fh.close();
    }
  });
});

describe('log-shipper restore while the app keeps rotating', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.cleanup();
  });

  it('finds a file renamed again after the directory was listed (logrotate shifting .1 to .2 during the restore)', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(file, lines('a', 100));
    const st = await stat(file);
    const fh = await open(file, 'r');
    const fpHash = (await fingerprint(fh, 1024, Buffer.alloc(1024)))!;
    await fh.close();
    const cp: Checkpoint = { path: file, dev: st.dev, ino: st.ino, fpLen: 1024, fpHash, offset: 500, size: st.size };
    // The listing the restore made: the file was app.log.1 then; it is app.log.2 by the time it is opened.
    await rename(file, `${file}.2`);
    const listings = new Map([[dir.path, [{ path: `${file}.1`, dev: st.dev, ino: st.ino, size: st.size }]]]);
    const found = await findRotated(file, cp, () => false, Buffer.alloc(1024), listings);
    try {
      expect(found?.file.path).toBe(`${file}.2`);
      expect(found?.kind).toBe('renamed');
    } finally {
      await found?.file.fh.close();
    }
  });

  it('a file checkpointed under two names resumes once, from the lower offset, and is not reported lost', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(file, lines('a', 100));
    const st = await stat(file);
    const fh = await open(file, 'r');
    const fpHash = (await fingerprint(fh, 1024, Buffer.alloc(1024)))!;
    await fh.close();
    const base = { dev: st.dev, ino: st.ino, fpLen: 1024, fpHash, size: st.size };
    const entries: Checkpoint[] = [
      { ...base, path: `${file}.1`, offset: 3000 },
      { ...base, path: `${file}.3`, offset: 1200 },
    ];
    await rename(file, `${file}.4`);
    const plan = await planRestore([], entries, { readFrom: 'beginning', savedAt: Date.now() + 60_000, excluded: () => false }, Buffer.alloc(1024));
    try {
      expect(plan.lost).toEqual([]);
      expect(plan.open.map((o) => [o.file.path, o.offset])).toEqual([[`${file}.4`, 1200]]);
    } finally {
      for (const o of plan.open) await o.file.fh.close();
    }
  });

  it('a rotated file whose inode an empty, finished file had is read as a missed rotation', async () => {
    // The soak: an empty live file checkpointed (no fingerprint), deleted, its inode given to a file
    // created and rotated away while the agent was down: it passed for the empty file and was skipped.
    const file = join(dir.path, 'app.log');
    await writeLines(file, lines('a', 10));
    await rename(file, `${file}.1`);
    const st = await stat(`${file}.1`);
    const empty: Checkpoint = { path: file, dev: st.dev, ino: st.ino, fpLen: 0, fpHash: '', offset: 0, size: 0, done: true };
    const plan = await planRestore([], [empty], { readFrom: 'beginning', savedAt: st.mtimeMs - 1000, excluded: () => false }, Buffer.alloc(1024));
    try {
      expect(plan.missed).toEqual([`${file}.1`]);
      expect(plan.open.map((o) => [o.file.path, o.offset])).toEqual([[`${file}.1`, 0]]);
    } finally {
      for (const o of plan.open) await o.file.fh.close();
    }
  });

  // The soak (1,238 lines lost): the app copytruncated twice during one restore, so the names the
  // restore had found files under held other files by the time it looked for missed rotations.
  it('a file moved onto a name the restore had planned for another file is still read (judged by identity)', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(`${file}.1`, lines('old', 50));
    await writeLines(file, lines('live', 5));
    const old = await checkpointOf(`${file}.1`, 1000);
    const live = await checkpointOf(file, 0);
    const savedAt = Date.now() - 1000;
    const plan = await resumeCheckpointed([file], [old, live], { readFrom: 'beginning', savedAt, excluded: () => false }, Buffer.alloc(1024));
    try {
      expect(plan.open.map((o) => o.file.path)).toEqual([file, `${file}.1`]);
      // logrotate runs now: the planned file moves on to .2, a file nobody has read takes its name.
      await rename(`${file}.1`, `${file}.2`);
      await writeLines(`${file}.1`, lines('new', 20));
      await addMissedRotations(plan, [file], [old, live], savedAt, () => false, Buffer.alloc(1024));
      expect(plan.missed).toEqual([`${file}.1`]);
      expect(plan.open.map((o) => [o.file.path, o.offset])).toEqual([[file, 0], [`${file}.1`, 1000], [`${file}.1`, 0]]);
      expect(plan.open[2]!.file.st.ino).not.toBe(plan.open[1]!.file.st.ino);
    } finally {
      for (const o of plan.open) await o.file.fh.close();
    }
  });

  it('a copy made after the restore listed the directory is found, not reported lost', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(file, lines('a', 100));
    const cp = await checkpointOf(file, 500);
    const st = await stat(file);
    // The listing the restore made before logrotate's copytruncate: only the live file.
    const listings = new Map([[dir.path, [{ path: file, dev: st.dev, ino: st.ino, size: st.size }]]]);
    await copyFile(file, `${file}.1`);
    await truncate(file, 0);
    const plan = await resumeCheckpointed([], [cp], { readFrom: 'beginning', savedAt: Date.now(), excluded: () => false }, Buffer.alloc(1024), listings);
    try {
      expect(plan.lost).toEqual([]);
      expect(plan.rotated).toEqual([{ file, now: `${file}.1`, kind: 'copied', offset: 500 }]);
    } finally {
      for (const o of plan.open) await o.file.fh.close();
    }
  });

  // The soak (2,117 lines lost): the live file was opened by the restore, copytruncated before the
  // restore ended, and only then fingerprinted: the new content passed for what had been opened.
  it('a file the restore opened keeps the identity it had then, so a copytruncate during the restore is seen', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(file, lines('before', 40));
    const before = await checkpointOf(file, 0);
    const plan = await resumeCheckpointed([file], [], { readFrom: 'beginning', savedAt: Date.now(), excluded: () => false }, Buffer.alloc(1024));
    try {
      await copyFile(file, `${file}.1`);
      await truncate(file, 0);
      await writeLines(file, lines('after', 40));
      const [live] = plan.open;
      expect(live!.file.head.length).toBe(before.fpLen);
      expect(hashHead(live!.file.head)).toBe(before.fpHash);
      expect(await fingerprint(live!.file.fh, before.fpLen, Buffer.alloc(1024))).not.toBe(before.fpHash);
    } finally {
      for (const o of plan.open) await o.file.fh.close();
    }
  });
});
