// The container image runs the compiled JavaScript, not the TypeScript sources: build it the
// way the Dockerfile does and check that the result loads every built-in plugin and runs.
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_PLUGINS } from '../../src/plugins/builtin-plugins.ts';
import { freePort, tempDir } from '../helpers/agent-process.ts';
import { eventually } from '../helpers/recorder.ts';

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
      'app-monitor': '  watch:\n    type: app-monitor\n    process:\n      name: nothing-by-this-name\n',
    };
    const file = join(OUT, 'all.yaml');
    await writeFile(file, `plugins:\n${Object.keys(BUILTIN_PLUGINS).map((t) => blocks[t] ?? '').join('')}`);
    const script = `const m = await import(${JSON.stringify(join(OUT, 'src/cli.js'))}); process.exitCode = await m.main(['validate', '--config', ${JSON.stringify(file)}]);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const type of Object.keys(BUILTIN_PLUGINS)) expect(r.stdout).toContain(`(${type})`);
  });

  // The image's layout (package.json, dist/, node_modules/, examples/plugins/) with the
  // Dockerfile's own RUN step that points `sidekick/plugin-api` at the compiled kit.
  it('resolves sidekick/plugin-api in the image, for the example plugin and for a plugin package', async () => {
    const image = await tempDir('sidekick-image-');
    try {
      const app = image.path;
      await mkdir(join(app, 'node_modules'), { recursive: true });
      await mkdir(join(app, 'examples/plugins'), { recursive: true });
      await mkdir(join(app, 'plugins/probe'), { recursive: true });
      await copyFile(join(ROOT, 'package.json'), join(app, 'package.json'));
      await copyFile(join(ROOT, 'examples/plugins/http-probe.js'), join(app, 'examples/plugins/http-probe.js'));
      await symlink(OUT, join(app, 'dist'));
      await writeFile(join(app, 'plugins/probe/package.json'), '{ "name": "probe", "type": "module", "main": "index.js" }\n');
      await writeFile(join(app, 'plugins/probe/index.js'), "import { definePlugin, duration } from 'sidekick/plugin-api';\nexport default definePlugin({ type: 'probe', description: typeof duration, configSchema: (v) => v.strictObject({}), create() {} });\n");
      const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
      // The RUN instruction that mentions plugin-api, its continuation lines joined.
      const lines = dockerfile.split('\n');
      let run = '';
      for (let i = lines.findIndex((l) => /^RUN .*plugin-api/.test(l)); i >= 0; i++) {
        const line = lines[i]!;
        run += line.endsWith('\\') ? `${line.slice(0, -1)} ` : line;
        if (!line.endsWith('\\')) break;
      }
      run = run.replace(/^RUN /, '');
      expect(run).toContain('node_modules/sidekick');
      const step = spawnSync('sh', ['-c', run], { cwd: app, encoding: 'utf8', env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` } });
      expect(step.stderr).toBe('');
      expect(step.status).toBe(0);
      const script = `for (const f of ${JSON.stringify([join(app, 'examples/plugins/http-probe.js'), join(app, 'plugins/probe/index.js')].map((f) => pathToFileURL(f).href))}) {` +
        `const { default: d } = await import(f); console.log(d.type, d.description, createRequire(new URL(f)).resolve('sidekick/plugin-api')); }`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { createRequire } from 'node:module'; ${script}`], { cwd: ROOT, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      // Node resolves through the links to the real file: dist/ here is a link to the build.
      const kit = join(OUT, 'src/plugin-api.js');
      expect(r.stdout.trim().split('\n')).toEqual([`http-probe Polls an HTTP URL; ready while it answers 2xx ${kit}`, `probe function ${kit}`]);
    } finally {
      await image.cleanup();
    }
  });

  // The image's RUN step: bin/warm-compile-cache.js fills NODE_COMPILE_CACHE at build time.
  const cache = join(OUT, '.compile-cache');
  it('ships a compile cache that the agent then starts from', () => {
    const warm = spawnSync(process.execPath, [join(ROOT, 'bin/warm-compile-cache.js'), OUT], { env: { ...process.env, NODE_COMPILE_CACHE: cache }, encoding: 'utf8' });
    expect(warm.stderr).toBe('');
    expect(warm.status).toBe(0);
    const script = `const m = await import(${JSON.stringify(join(OUT, 'src/cli.js'))}); process.exitCode = await m.main(['version']);`;
    // NODE_DEBUG_NATIVE=COMPILE_CACHE is Node's own report of each module it took from the cache.
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NODE_COMPILE_CACHE: cache, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/cache for file:\S+\/src\/agent\.js was accepted/);
    expect(r.stderr).toMatch(/cache for file:\S+\/src\/cli\.js was accepted/);
  });

  // A container's PID 1 gets no default signal handlers, so a SIGTERM without the agent's own
  // handler would be ignored; and the image must run with a read-only root filesystem.
  // unshare (root only) gives the compiled agent both: a new PID namespace and a private mount
  // namespace whose root is remounted read-only, with bind mounts as the pod's volumes.
  const canUnshare = spawnSync('unshare', ['--mount', '--pid', '--fork', '--mount-proc', 'true']).status === 0;
  it.skipIf(!canUnshare)('runs as PID 1 on a read-only root filesystem with every plugin, and drains on SIGTERM', async () => {
    const volume = await tempDir('sidekick-volume-');
    try {
      const v = volume.path;
      await mkdir(join(v, 'remote'));
      await mkdir(join(v, 'logs'));
      await writeFile(join(v, 'remote/app.json'), '{"v":1}\n');
      await writeFile(join(v, 'logs/app.log'), 'line one\nline two\n');
      const admin = await freePort();
      await writeFile(join(v, 'sidekick.yaml'), `admin:\n  listen: 127.0.0.1:${admin}\ndataDir: ${v}/data\nplugins:\n` +
        `  https:\n    type: tls-terminator\n    listen: 127.0.0.1:0\n    upstream: http://127.0.0.1:9\n` +
        `  cfg:\n    type: config-sync\n    source:\n      dir:\n        path: ${v}/remote\n    target: ${v}/shared/config\n` +
        `  logs:\n    type: log-shipper\n    include: ["${v}/logs/*.log"]\n    sink:\n      type: file\n      path: ${v}/shipped.ndjson\n`);
      const entry = `const m = await import(${JSON.stringify(join(OUT, 'src/cli.js'))}); process.exitCode = await m.main(['run', '--config', ${JSON.stringify(join(v, 'sidekick.yaml'))}]);`;
      const script = `mount --bind "$1" "$1" && mount -o remount,bind,ro / && if touch /sidekick-root-probe 2>/dev/null; then echo ROOT-WRITABLE; fi && exec "$2" --input-type=module -e "$3"`;
      // The compile cache lies on the read-only root, as in the image: read, never written.
      const child = spawn('unshare', ['--mount', '--pid', '--fork', '--kill-child', '--mount-proc', 'sh', '-c', script, 'sh', v, process.execPath, entry], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_COMPILE_CACHE: cache },
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      try {
        await eventually(async () => expect((await fetch(`http://127.0.0.1:${admin}/readyz`)).status).toBe(200), 300);
        await eventually(async () => expect(await readFile(join(v, 'shipped.ndjson'), 'utf8')).toContain('line two'));
        expect(await readlink(join(v, 'shared/config/..data'))).toMatch(/^\.\./);
        expect(out).not.toContain('ROOT-WRITABLE');
        expect(out).toContain('"pid":1,');
        // The agent is the child of unshare; kill(2) from outside reaches it as `docker stop` would.
        const agentPid = Number(spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.trim());
        process.kill(agentPid, 'SIGTERM');
        expect(await exited).toBe(0);
        expect(out).toContain('"msg":"shutdown complete"');
      } finally {
        child.kill('SIGKILL'); // --kill-child takes the agent with it
      }
    } finally {
      await volume.cleanup();
    }
  }, 60_000);
});
