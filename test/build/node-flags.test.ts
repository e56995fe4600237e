// The image starts node with V8's documented start-up memory settings only. Flags changed after
// start (v8.setFlagsFromString) may, in Node's words, "result in unpredictable behavior,
// including crashes and data loss", and --no-freeze-flags-after-init turns off a V8 hardening.
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const MEMORY_FLAGS = /^--(max-semi-space-size|min-semi-space-size|heap-growing-percent|max-old-space-size)=\d+$/;

describe('node flags', () => {
  it('the Dockerfile starts node with start-up memory flags only, the same for the compile cache', async () => {
    const dockerfile = (await readFile(join(ROOT, 'Dockerfile'), 'utf8')).replace(/\\\n/g, ' ');
    const argv = (re: RegExp) => JSON.parse(re.exec(dockerfile)?.[1] ?? 'null') as string[];
    const entrypoint = argv(/^ENTRYPOINT\s+(\[.*\])\s*$/m);
    const warm = argv(/^RUN\s+(\[.*warm-compile-cache\.js"\])\s*$/m);
    expect(entrypoint[0]).toBe('node');
    const flags = entrypoint.filter((a) => a.startsWith('--'));
    expect(flags.filter((f) => !MEMORY_FLAGS.test(f))).toEqual([]);
    expect(warm.filter((a) => a.startsWith('--'))).toEqual(flags);
  });

  it('no runtime code changes V8 flags after start', async () => {
    const offenders: string[] = [];
    for (const top of ['src', 'plugins', 'bin']) {
      for (const file of await readdir(join(ROOT, top), { recursive: true })) {
        if (!/\.[jt]s$/.test(file)) continue;
        if (/setFlagsFromString|freeze-flags-after-init/.test(await readFile(join(ROOT, top, file), 'utf8'))) offenders.push(`${top}/${file}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
