// The checkpoint store on its own: what a save() promises, with acknowledgements asking for
// saves faster than a durable write completes (the tailer awaits saves, so this is its pace).
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Checkpoint, CheckpointStore } from '../../../plugins/log-shipper/checkpoint-store.ts';
import { tempDir } from './helpers.ts';

describe('log-shipper checkpoint store', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.cleanup();
  });

  it('a save resolves once a write that includes it is done, however many saves come after it', async () => {
    let writes = 0;
    let offset = 0;
    const entry = (): Checkpoint => ({ path: '/var/log/app.log', dev: 1, ino: 2, fpLen: 0, fpHash: '', offset, size: offset });
    const store = new CheckpointStore(dir.path, () => (writes++, [entry()]), () => 0);
    // An acknowledgement storm: a new position and a save on every turn, for 40 writes at most.
    let storming = true;
    const storm = (async () => {
      while (storming && writes < 40) {
        offset++;
        void store.save();
        await new Promise((r) => setImmediate(r));
      }
    })();
    await new Promise((r) => setImmediate(r));
    const before = writes;
    offset = 1_000_000;
    await store.save();
    const waitedFor = writes - before;
    storming = false;
    await storm;
    await store.save();
    // The write in flight may have collected before the call; the next one did not.
    expect(waitedFor).toBeLessThanOrEqual(2);
    const saved = JSON.parse(await readFile(store.file, 'utf8')) as { files: Checkpoint[] };
    expect(saved.files[0]!.offset).toBeGreaterThanOrEqual(1_000_000);
  });

  it('a failed write rejects its callers and the next save writes again', async () => {
    let fail = true;
    const store = new CheckpointStore(dir.path, () => {
      if (fail) throw new Error('disk says no');
      return [];
    }, () => 0);
    await expect(store.save()).rejects.toThrow('disk says no');
    fail = false;
    await store.save();
    expect(JSON.parse(await readFile(store.file, 'utf8')).files).toEqual([]);
  });
});
