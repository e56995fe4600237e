// The restore plan on its own, for states a crash can leave that the end-to-end tests reach only by chance.
import { copyFile, open, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../../plugins/log-shipper/checkpoint-store.ts';
import { fingerprint } from '../../../plugins/log-shipper/file-identity.ts';
import { planRestore } from '../../../plugins/log-shipper/restore-plan.ts';
import { lines, tempDir, writeLines } from './helpers.ts';

describe('log-shipper restore plan', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.cleanup();
  });

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
