// The durable write helper: atomic replacement, no debris on failure, and the file's content
// on disk. The fsync order itself is proven on the real agent in test/durable/fsync-order.test.ts.
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renameDurably, syncTree, writeFileDurably } from '../src/durable-file.ts';
import { tempDir } from './helpers/agent-process.ts';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir('durable-');
});
afterEach(() => dir.cleanup());

describe('writeFileDurably', () => {
  it('creates, then replaces the whole content, leaving no temporary file', async () => {
    const f = join(dir.path, 'state.json');
    await writeFileDurably(f, 'first');
    await writeFileDurably(f, 'second, longer');
    expect(await readFile(f, 'utf8')).toBe('second, longer');
    expect(await readdir(dir.path)).toEqual(['state.json']);
  });

  it('keeps the old content and removes its temporary file when the rename fails', async () => {
    const f = join(dir.path, 'busy');
    await mkdir(join(f, 'child'), { recursive: true }); // rename over a non-empty directory fails
    await expect(writeFileDurably(f, 'x')).rejects.toMatchObject({ code: expect.stringMatching(/EISDIR|ENOTEMPTY/) });
    expect((await readdir(dir.path)).sort()).toEqual(['busy']);
  });

  it('replaces a temporary file a kill left behind', async () => {
    const f = join(dir.path, 'cp.json');
    await writeFile(`${f}.tmp`, 'half a write');
    await writeFileDurably(f, 'whole');
    expect(await readFile(f, 'utf8')).toBe('whole');
    expect(await readdir(dir.path)).toEqual(['cp.json']);
  });

  it('uses the temporary name it is given', async () => {
    const f = join(dir.path, 'a');
    await writeFile(join(dir.path, 'custom.tmp'), 'stale');
    await writeFileDurably(f, 'ok', { tmp: join(dir.path, 'custom.tmp') });
    expect(await readdir(dir.path)).toEqual(['a']);
  });
});

describe('renameDurably and syncTree', () => {
  it('moves a file across directories and syncs a nested tree without following links', async () => {
    await mkdir(join(dir.path, 'x/y'), { recursive: true });
    await writeFile(join(dir.path, 'x/y/f'), 'data');
    await writeFile(join(dir.path, 'x/g'), 'g');
    await syncTree(join(dir.path, 'x'));
    await renameDurably(join(dir.path, 'x/g'), join(dir.path, 'x/y/g'));
    expect((await readdir(join(dir.path, 'x/y'))).sort()).toEqual(['f', 'g']);
  });
});
