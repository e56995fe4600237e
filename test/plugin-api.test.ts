// The plugin kit as a third-party plugin sees it: the package export `sidekick/plugin-api`,
// resolved by Node itself, light to load, and every export documented.
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as kit from '../src/plugin-api.ts';
import { startAgent, tempDir } from './helpers/agent-process.ts';
import { eventually } from './helpers/recorder.ts';

const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLE = resolve(ROOT, 'examples/plugins/http-probe.js');

/** Runs an ES module snippet in a fresh Node process (Node's resolver, not vitest's). */
function runNode(script: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
}

describe('sidekick/plugin-api', () => {
  it('resolves from the example plugin to src/plugin-api.ts, and the example loads through it', () => {
    const r = runNode(
      // createRequire(file).resolve: resolution from the plugin's own file, through the same "exports".
      `const { createRequire } = await import('node:module');` +
        `const url = createRequire(${JSON.stringify(EXAMPLE)}).resolve('sidekick/plugin-api');` +
        `const { default: d } = await import(${JSON.stringify(pathToFileURL(EXAMPLE).href)});` +
        `console.log(JSON.stringify({ url, type: d.type, create: typeof d.create, schema: typeof d.configSchema }));`,
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ url: resolve(ROOT, 'src/plugin-api.ts'), type: 'http-probe', create: 'function', schema: 'function' });
  });

  it('the example plugin imports the kit by its package name and nothing else', async () => {
    const source = await readFile(EXAMPLE, 'utf8');
    expect([...source.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g)].map((m) => m[1])).toEqual(['sidekick/plugin-api']);
  });

  it('exposes nothing else of the package', () => {
    const r = runNode(`await import('sidekick/src/agent.ts');`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  // node:tls alone is ~2.5 MB of RSS; a config without TLS must not pay it for loading the kit.
  it('loads no networking built-in (they load on first use)', () => {
    const r = runNode(
      `await import('sidekick/plugin-api');` +
        `console.log(JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule (http|https|http2|tls|_http_server|_tls_wrap)$/.test(m))));`,
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([]);
    const after = runNode(`const k = await import('sidekick/plugin-api'); k.loadTls(); console.log(process.moduleLoadList.includes('NativeModule tls'));`);
    expect(after.stdout.trim()).toBe('true');
  });

  it('documents every export in docs/plugin-api.md', async () => {
    const doc = await readFile(resolve(ROOT, 'docs/plugin-api.md'), 'utf8');
    const runtime = Object.keys(kit);
    expect(runtime.length).toBeGreaterThan(15);
    const types = [...(await readFile(resolve(ROOT, 'src/plugin-api.ts'), 'utf8')).matchAll(/^export (?:interface|type) (\w+)/gm)].map((m) => m[1]!);
    const undocumented = [...runtime, ...types, 'Logger', 'ListenAddress'].filter((name) => !doc.includes(`\`${name}`));
    expect(undocumented).toEqual([]);
  });

  // The plugin the doc shows, run by the real agent from a directory outside the checkout that
  // has `sidekick` in its node_modules (as a plugin package installed beside the agent would).
  it('runs the minimal plugin of docs/plugin-api.md', async () => {
    const doc = await readFile(resolve(ROOT, 'docs/plugin-api.md'), 'utf8');
    const code = /## A minimal plugin\n\n```js\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(code).toContain("from 'sidekick/plugin-api'");
    const dir = await tempDir();
    const agent = { current: undefined as Awaited<ReturnType<typeof startAgent>> | undefined };
    try {
      await mkdir(join(dir.path, 'node_modules'));
      await symlink(ROOT, join(dir.path, 'node_modules/sidekick'));
      await writeFile(join(dir.path, 'probe.js'), code!);
      await writeFile(join(dir.path, 'ready'), '');
      agent.current = await startAgent(dir.path, `admin:\n  listen: 127.0.0.1:0\ndataDir: ./data\nplugins:\n  marker:\n    type: ./probe.js\n    path: ./ready\n    interval: 50ms\n`);
      expect((await fetch(`${agent.current.adminUrl}/readyz`)).status).toBe(200);
      await rm(join(dir.path, 'ready'));
      const body: any = await eventually(async () => {
        const res = await fetch(`${agent.current!.adminUrl}/readyz`);
        expect(res.status).toBe(503);
        return res.json();
      });
      expect(body.reasons).toEqual([`marker: ${join(dir.path, 'ready')} is missing`]);
    } finally {
      await agent.current?.stop('SIGKILL');
      await dir.cleanup();
    }
  });
});
