// A plugin `type` can be a built-in name, a path relative to the config file, or an npm
// package installed in a node_modules at or above the config file's directory, found by
// Node's own resolver (ES module and CommonJS packages, `exports` or `main`). The packages are
// real directories laid out on disk.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { tempDir } from '../helpers/agent-process.ts';

let dir: { path: string; cleanup: () => Promise<void> };

const pluginSource = (type: string) => `export default {
  type: '${type}',
  description: 'package plugin',
  configSchema: (v) => v.strictObject({ word: v.pipe(v.string(), v.description('a word')) }),
  create() { return { async start() {}, async stop() {} }; },
};
`;

/** A package directory under `root`/node_modules with `package.json` and `files`. */
async function installPackage(root: string, pkg: Record<string, unknown>, files: Record<string, string>): Promise<void> {
  const at = join(root, 'node_modules', String(pkg.name));
  await mkdir(at, { recursive: true });
  await writeFile(join(at, 'package.json'), JSON.stringify(pkg));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(at, name)), { recursive: true });
    await writeFile(join(at, name), text);
  }
}

const cjsSource = (type: string) => `module.exports = {
  type: '${type}',
  description: 'commonjs package plugin',
  configSchema: (v) => v.strictObject({ word: v.string() }),
  create() { return { async start() {}, async stop() {} }; },
};
`;

beforeAll(async () => {
  dir = await tempDir();
  // ES module, conditional exports: Node picks "default"; "import" points at a file that would throw.
  await installPackage(
    dir.path,
    { name: 'sidekick-plugin-hello', type: 'module', exports: { '.': { types: './index.d.ts', import: './broken.js', default: './lib/index.js' } } },
    { 'lib/index.js': pluginSource('hello'), 'broken.js': 'throw new Error("not this one");\n' },
  );
  await installPackage(dir.path, { name: '@acme/sidekick-plugin', type: 'module', main: 'main.js' }, { 'main.js': pluginSource('acme').replace('export default', 'export const plugin =') });
  await installPackage(dir.path, { name: 'sidekick-plugin-string-export', type: 'module', exports: './src/plugin.js' }, { 'src/plugin.js': pluginSource('string-export') });
  await installPackage(dir.path, { name: 'sidekick-plugin-cjs' }, { 'index.js': cjsSource('cjs') });
  await installPackage(dir.path, { name: 'sidekick-plugin-import-only', type: 'module', exports: { '.': { import: './index.js' } } }, { 'index.js': pluginSource('import-only') });
  await installPackage(dir.path, { name: 'sidekick-plugin-no-main', main: 'gone.js' }, {});
  // Nearest node_modules wins: the same name installed beside a config in a subdirectory.
  await installPackage(join(dir.path, 'nested'), { name: 'sidekick-plugin-string-export', type: 'module', exports: './nearer.js' }, { 'nearer.js': pluginSource('nearer') });
  await mkdir(join(dir.path, 'nested/deeper'), { recursive: true });
  await mkdir(join(dir.path, 'local'));
  await writeFile(join(dir.path, 'local/mine.mjs'), pluginSource('mine'));
  // A schema from another library, reached only through the Standard Schema interface.
  await writeFile(
    join(dir.path, 'local/standard.mjs'),
    pluginSource('standard').replace(
      /configSchema: .*,\n/,
      `configSchema: { '~standard': { version: 1, vendor: 'hand-made', validate: (x) =>
        typeof x.port === 'number' ? { value: { port: x.port * 2 } } : { issues: [{ message: 'port must be a number', path: [{ key: 'port' }] }] } } },\n`,
    ),
  );
});
afterAll(() => dir.cleanup());

async function load(yaml: string, sub = '') {
  const file = join(dir.path, sub, 'sidekick.yaml');
  await writeFile(file, yaml);
  return loadConfig(file, {});
}

describe('plugin resolution', () => {
  it('loads a package by name from node_modules next to the config, and a scoped one exporting `plugin`', async () => {
    const config = await load('plugins:\n  a:\n    type: sidekick-plugin-hello\n    word: hi\n  b:\n    type: "@acme/sidekick-plugin"\n    word: yo\n');
    expect(config.instances.map((i) => [i.name, i.descriptor.type, i.config])).toEqual([
      ['a', 'hello', { word: 'hi' }],
      ['b', 'acme', { word: 'yo' }],
    ]);
  });

  it('loads a package with a string `exports`, and a CommonJS package by `main` defaults', async () => {
    const config = await load('plugins:\n  s:\n    type: sidekick-plugin-string-export\n    word: a\n  c:\n    type: sidekick-plugin-cjs\n    word: b\n');
    expect(config.instances.map((i) => [i.descriptor.type, i.config])).toEqual([
      ['string-export', { word: 'a' }],
      ['cjs', { word: 'b' }],
    ]);
  });

  it("resolves from the config file's directory upwards, the nearest node_modules first", async () => {
    const nested = await load('plugins:\n  s:\n    type: sidekick-plugin-string-export\n    word: a\n  h:\n    type: sidekick-plugin-hello\n    word: b\n', 'nested/deeper');
    expect(nested.instances.map((i) => i.descriptor.type)).toEqual(['nearer', 'hello']);
  });

  it('says why an installed package cannot be loaded: "." exported only under "import", a missing main', async () => {
    const importOnly = await load('plugins:\n  a:\n    type: sidekick-plugin-import-only\n').catch((e: Error) => e);
    expect((importOnly as Error).message).toMatch(/cannot load plugin "sidekick-plugin-import-only": .*exports.*not only "import"/);
    const noMain = await load('plugins:\n  a:\n    type: sidekick-plugin-no-main\n').catch((e: Error) => e);
    expect((noMain as Error).message).toMatch(/cannot load plugin "sidekick-plugin-no-main": Cannot find module '.*gone\.js'/);
  });

  it('loads a path relative to the config file', async () => {
    const config = await load('plugins:\n  m:\n    type: ./local/mine.mjs\n    word: x\n');
    expect(config.instances[0]!.descriptor.type).toBe('mine');
  });

  it("validates a package plugin's keys with its own schema", async () => {
    const err = await load('plugins:\n  a:\n    type: sidekick-plugin-hello\n    wrod: hi\n').catch((e: Error) => e);
    expect((err as Error).message).toContain('plugins.a.word: required key is missing');
    expect((err as Error).message).toContain('plugins.a.wrod: unknown key; allowed keys: word (did you mean "word"?)');
  });

  it('takes any Standard Schema: its output is the config, its issues name the key', async () => {
    const config = await load('plugins:\n  s:\n    type: ./local/standard.mjs\n    port: 21\n');
    expect(config.instances[0]!.config).toEqual({ port: 42 });
    const err = await load('plugins:\n  s:\n    type: ./local/standard.mjs\n    port: "21"\n').catch((e: Error) => e);
    expect((err as Error).message).toContain('plugins.s.port: port must be a number');
  });

  it('says a package that is not installed is an unknown type', async () => {
    await expect(load('plugins:\n  a:\n    type: sidekick-plugin-missing\n')).rejects.toThrow(/plugins\.a\.type: unknown plugin type "sidekick-plugin-missing"/);
  });
});
