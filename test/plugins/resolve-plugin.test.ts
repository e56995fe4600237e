// A plugin `type` can be a built-in name, a path relative to the config file, or an npm
// package installed next to the config file (ESM-only packages included).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

beforeAll(async () => {
  dir = await tempDir();
  const pkg = join(dir.path, 'node_modules/sidekick-plugin-hello');
  await mkdir(pkg, { recursive: true });
  await writeFile(join(pkg, 'package.json'), JSON.stringify({ name: 'sidekick-plugin-hello', type: 'module', exports: { '.': { import: './index.js' } } }));
  await writeFile(join(pkg, 'index.js'), pluginSource('hello'));
  const scoped = join(dir.path, 'node_modules/@acme/sidekick-plugin');
  await mkdir(scoped, { recursive: true });
  await writeFile(join(scoped, 'package.json'), JSON.stringify({ name: '@acme/sidekick-plugin', type: 'module', main: 'main.js' }));
  await writeFile(join(scoped, 'main.js'), pluginSource('acme').replace('export default', 'export const plugin ='));
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

async function load(yaml: string) {
  const file = join(dir.path, 'sidekick.yaml');
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
