// The config watcher wakes for the config file and a ConfigMap's `..data` swap, not for
// whatever else is written in the same directory.
import { appendFile, mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigWatcher } from '../../src/config/config-watcher.ts';
import { tempDir } from '../helpers/agent-process.ts';
import { eventually } from '../helpers/recorder.ts';

let dir: { path: string; cleanup: () => Promise<void> };
let watcher: ConfigWatcher | undefined;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  watcher?.close();
  await dir.cleanup();
});

const settle = () => new Promise((r) => setTimeout(r, 400));

describe('ConfigWatcher', () => {
  it('ignores other files in the directory and fires for the config file itself', async () => {
    const file = join(dir.path, 'sidekick.yaml');
    await writeFile(file, 'plugins: {}\n');
    let calls = 0;
    watcher = new ConfigWatcher(file, () => calls++, 3_600_000);
    for (let i = 0; i < 20; i++) await appendFile(join(dir.path, 'app.log'), `line ${i}\n`);
    await settle();
    expect(calls).toBe(0);
    await writeFile(file, 'plugins: {}\n# edited\n');
    await eventually(() => expect(calls).toBe(1));
  });

  it('fires for a ConfigMap ..data symlink swap, which never touches the file', async () => {
    await mkdir(join(dir.path, '..v1'));
    await mkdir(join(dir.path, '..v2'));
    await writeFile(join(dir.path, '..v1/sidekick.yaml'), 'plugins: {}\n');
    await writeFile(join(dir.path, '..v2/sidekick.yaml'), 'plugins: {}\n# v2\n');
    await symlink('..v1', join(dir.path, '..data'));
    await symlink('..data/sidekick.yaml', join(dir.path, 'sidekick.yaml'));
    let calls = 0;
    watcher = new ConfigWatcher(join(dir.path, 'sidekick.yaml'), () => calls++, 3_600_000);
    await symlink('..v2', join(dir.path, '..data_tmp'));
    await rename(join(dir.path, '..data_tmp'), join(dir.path, '..data'));
    await eventually(() => expect(calls).toBe(1));
  });
});
