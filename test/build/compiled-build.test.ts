// The container image runs the compiled JavaScript, not the TypeScript sources: build it the
// way the Dockerfile does and check that the result loads every built-in plugin and runs.
import { spawnSync } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_PLUGINS } from '../../src/plugins/builtin-plugins.ts';

const ROOT = resolve(import.meta.dirname, '../..');
// Inside the repository, so the compiled files resolve node_modules as they do in the image.
const OUT = join(ROOT, '.build-test');

async function jsFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.js')).map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  await rm(OUT, { recursive: true, force: true });
  spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', OUT], { encoding: 'utf8' });
}, 120_000);
afterAll(() => rm(OUT, { recursive: true, force: true }));

describe('the compiled build', () => {
  it('has no import of a .ts file left', async () => {
    const offenders: string[] = [];
    for (const file of await jsFiles(OUT)) {
      const text = await readFile(file, 'utf8');
      if (/(from\s+|import\s*\(\s*)['"][^'"]+\.ts['"]/.test(text)) offenders.push(file.slice(OUT.length + 1));
    }
    expect(offenders).toEqual([]);
  });

  it('validates a config that uses every built-in plugin, loading each from dist/', async () => {
    const blocks: Record<string, string> = {
      'tls-terminator': '  https:\n    type: tls-terminator\n    listen: 127.0.0.1:0\n    upstream: http://127.0.0.1:9\n',
      'config-sync': '  cfg:\n    type: config-sync\n    source:\n      dir:\n        path: /tmp\n    target: /tmp/never-written\n',
      'log-shipper': '  logs:\n    type: log-shipper\n    include: ["/tmp/none/*.log"]\n    sink:\n      type: stdout\n',
    };
    const file = join(OUT, 'all.yaml');
    await writeFile(file, `plugins:\n${Object.keys(BUILTIN_PLUGINS).map((t) => blocks[t] ?? '').join('')}`);
    const script = `const m = await import(${JSON.stringify(join(OUT, 'src/cli.js'))}); process.exitCode = await m.main(['validate', '--config', ${JSON.stringify(file)}]);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const type of Object.keys(BUILTIN_PLUGINS)) expect(r.stdout).toContain(`(${type})`);
  });
});
