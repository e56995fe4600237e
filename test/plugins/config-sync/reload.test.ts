// Telling the app: a real child process that records the signals it gets, a real HTTP
// reload endpoint, commands; coalescing of bursts; rollback after a failed health check.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/agent-process.ts';
import { readTarget, runSync, startSignalRecorder, waitFor, writeConfigMap, type Running } from './helpers.ts';

let work: { path: string; cleanup: () => Promise<void> };
let running: Running | undefined;
const cleanups: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  work = await tempDir('cs-reload-');
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
  for (const c of cleanups.splice(0).reverse()) await c();
  await work.cleanup();
});

const src = () => join(work.path, 'src');
const target = () => join(work.path, 'target');
const start = (reload: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  runSync({ source: { dir: { path: src() } }, target: target(), interval: '20ms', reload, ...extra }).then((r) => (running = r));

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('config-sync reload', () => {
  it('sends the signal to the app found by pid file, once per published version', async () => {
    const app = await startSignalRecorder(work.path);
    cleanups.push(() => app.stop());
    await writeConfigMap(src(), { 'app.conf': 'v1' });
    const r = await start({ signal: { name: 'SIGHUP', pidFile: app.pidFile } });
    await waitFor('first SIGHUP', async () => (await app.signals()).length === 1);
    await writeConfigMap(src(), { 'app.conf': 'v2' });
    await waitFor('second SIGHUP', async () => (await app.signals()).length === 2);
    const idle = await r.metric('sidekick_config_sync_polls_total', { result: 'unchanged' });
    await waitFor('idle polls', async () => (await r.metric('sidekick_config_sync_polls_total', { result: 'unchanged' })) >= idle + 5);
    expect(await app.signals()).toEqual(['SIGHUP', 'SIGHUP']);
    expect(r.details().lastReload).toMatchObject({ result: 'ok', version: 2 });
    expect(await r.metric('sidekick_config_sync_reloads_total', { result: 'ok' })).toBe(2);
  });

  it('finds the app by process name (argv[0]) and signals only the top-most match', async () => {
    const name = `cs-fake-app-${process.pid}`;
    const log = join(work.path, 'named.log');
    // bash's `exec -a` sets argv[0]; the trap records the signal like an app re-reading its config.
    const child = spawn('bash', ['-c', `exec -a ${name} bash -c 'trap "echo USR1 >> ${log}" USR1; echo up > ${log}.up; while :; do sleep 0.05; done'`], { stdio: 'ignore' });
    const exited = new Promise((res) => child.once('exit', res));
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    await waitFor('named app up', () => readFile(`${log}.up`).then(() => true, () => false));
    await writeConfigMap(src(), { 'app.conf': 'v1' });
    const r = await start({ signal: { name: 'SIGUSR1', process: name } });
    await waitFor('USR1 recorded', () => readFile(log, 'utf8').then((t) => t.includes('USR1'), () => false));
    expect(r.details().lastReload).toMatchObject({ result: 'ok' });
    expect(r.details().lastReload.detail).toContain(`pid ${child.pid}`);
  });

  it('explains a signal to a missing process: stale pid file, or no process of that name', async () => {
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => gone.once('exit', r));
    const pidFile = join(work.path, 'stale.pid');
    await writeFile(pidFile, `${gone.pid}\n`);
    await writeConfigMap(src(), { 'app.conf': 'v1' });
    const r = await start({ signal: { pidFile } });
    await waitFor('reload error', () => r.details().lastReload?.result === 'error');
    expect(r.details().lastReload.code).toBe('ERR_SIDEKICK_SYNC_RELOAD');
    expect(r.details().lastReload.detail).toMatch(/ESRCH.*shareProcessNamespace: true/);
    expect(await r.metric('sidekick_config_sync_reloads_total', { result: 'error' })).toBe(1);
    expect(r.details().version.generation).toBe(1); // the version is published all the same
    await r.stop();

    const byName = await runSync({ source: { dir: { path: src() } }, target: join(work.path, 't2'), interval: '20ms', reload: { signal: { process: 'no-such-app-xyz' } } });
    running = byName;
    await waitFor('reload error', () => byName.details().lastReload?.result === 'error');
    expect(byName.details().lastReload.detail).toMatch(/no process named "no-such-app-xyz".*shareProcessNamespace: true/);
  });

  it('re-reads an empty pid file (an app between open and write), then says it is empty', async () => {
    const pidFile = join(work.path, 'empty.pid');
    await writeFile(pidFile, '');
    await writeConfigMap(src(), { 'app.conf': 'v1' });
    const r = await start({ signal: { pidFile } });
    await waitFor('reload error', () => r.details().lastReload?.result === 'error');
    expect(r.details().lastReload.detail).toMatch(/pidFile .*empty\.pid is empty \(still empty after \d+ ms\)/);
  });

  // The agent runs as root here, so a real EPERM needs the signalling side to be someone else:
  // the runtime runs in a child process as nobody (65534) and targets an app owned by root.
  // As non-root, any root-owned process (pid 1) is a real EPERM target.
  const root = process.getuid?.() === 0;
  it('explains a signal the kernel refuses (EPERM): run as the app\'s user', async () => {
    const { chmod, mkdir, readFile: read } = await import('node:fs/promises');
    await chmod(work.path, 0o777); // tempDir is 0700: nobody must reach the source and write the target
    await writeConfigMap(src(), { 'app.conf': 'a=1\n' });
    let detail: string;
    if (root) {
      const app = await startSignalRecorder(work.path); // owned by root
      cleanups.push(() => app.stop());
      await chmod(app.pidFile, 0o644);
      await mkdir(target(), { mode: 0o777 });
      await chmod(target(), 0o777);
      // The child starts as root and becomes uid 65534 once its code is loaded (see the fixture):
      // it needs no access to this checkout or its Node, only to the test's own directory.
      const blocked = await unreachableByOthers(work.path);
      if (blocked) throw new Error(`precondition: uid 65534 cannot reach the test directory ${work.path} (${blocked}); point TMPDIR at a directory other users can search`);
      const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/sync-once.ts'), src(), target(), app.pidFile, '65534'], {
        env: { ...process.env, HOME: '/tmp' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
      const code = await new Promise((r, reject) => {
        child.once('exit', r);
        child.once('error', (e) => reject(new Error(`cannot run ${process.execPath}: ${e.message}`)));
      });
      expect(code, err).toBe(0);
      const last = JSON.parse(out.trim().split('\n').pop()!);
      expect(last.uid).toBe(65534);
      expect(last.result).toBe('error');
      expect(last.code).toBe('ERR_SIDEKICK_SYNC_RELOAD');
      detail = last.detail;
      expect(await app.signals()).toEqual([]); // the kernel really refused it
      expect(detail).toContain(`pid ${app.pid}`);
    } else {
      const owner = (await read('/proc/1/status', 'utf8')).match(/^Uid:\s+(\d+)/m)?.[1];
      if (owner === String(process.getuid?.())) return; // pid 1 is ours: no EPERM target on this machine
      const pidFile = join(work.path, 'init.pid');
      await writeFile(pidFile, '1\n');
      const r = await start({ signal: { name: 'SIGHUP', pidFile } });
      detail = (await waitFor('reload error', () => r.details().lastReload)).detail;
    }
    expect(detail).toMatch(/permission denied \(EPERM\)/);
    expect(detail).toMatch(/same securityContext\.runAsUser/);
    expect(detail).toMatch(/shareProcessNamespace: true/);
  });

  it('skips the reload while the pid file does not exist yet (the app starts after its sidecar), and signals once it does', async () => {
    const pidFile = join(work.path, 'later.pid');
    await writeConfigMap(src(), { 'app.conf': 'v1' });
    const r = await start({ signal: { name: 'SIGHUP', pidFile } });
    await waitFor('reload skipped', () => r.details().lastReload?.result === 'skipped');
    expect(r.details().lastReload).toMatchObject({ version: 1, code: 'ERR_SIDEKICK_SYNC_APP_NOT_STARTED' });
    expect(await r.metric('sidekick_config_sync_reloads_total', { result: 'skipped' })).toBe(1);
    expect(await r.metric('sidekick_config_sync_reloads_total', { result: 'error' })).toBe(0);

    const app = await startSignalRecorder(work.path);
    cleanups.push(() => app.stop());
    await writeFile(pidFile, await readFile(app.pidFile, 'utf8'));
    await writeConfigMap(src(), { 'app.conf': 'v2' });
    await waitFor('SIGHUP for v2', async () => (await app.signals()).length === 1);
    expect(r.details().lastReload).toMatchObject({ result: 'ok', version: 2 });
  });

  it('calls the HTTP reload endpoint, retrying a failed call', async () => {
    const calls: string[] = [];
    const base = await listen((req, res) => {
      calls.push(req.method!);
      res.writeHead(calls.length === 1 ? 500 : 204).end();
    });
    await writeConfigMap(src(), { 'app.conf': 'v1' });
    const r = await start({ http: { url: `${base}/-/reload`, retries: 2 } });
    await waitFor('reload ok', () => r.details().lastReload?.result === 'ok');
    expect(calls).toEqual(['POST', 'POST']);
    expect(r.details().lastReload.detail).toContain('HTTP 204');
  });

  it('reports an HTTP reload that never gets the expected status', async () => {
    const base = await listen((_req, res) => res.writeHead(200).end());
    await writeConfigMap(src(), { 'app.conf': 'v1' });
    const r = await start({ http: { url: `${base}/reload`, method: 'PUT', expectedStatus: 202, retries: 1 } });
    await waitFor('reload error', () => r.details().lastReload?.result === 'error');
    expect(r.details().lastReload.detail).toMatch(/PUT .* failed after 2 attempt\(s\): HTTP 200/);
  });

  it('coalesces a burst of publishes into one reload', async () => {
    const log = join(work.path, 'reloads.log');
    const gate = join(work.path, 'gate');
    // The first reload blocks until the test opens the gate; versions published meanwhile must share one reload.
    const command = ['/bin/sh', '-c', `echo start >> ${log}; while [ ! -e ${gate} ]; do sleep 0.02; done`];
    await writeConfigMap(src(), { 'app.conf': 'v1' });
    const r = await start({ exec: { command } });
    await waitFor('first reload running', () => readFile(log, 'utf8').then((t) => t.includes('start'), () => false));
    for (let v = 2; v <= 5; v++) {
      await writeConfigMap(src(), { 'app.conf': `v${v}` });
      await waitFor(`publish v${v}`, () => r.details().version?.generation === v);
    }
    await writeFile(gate, '');
    await waitFor('second reload', async () => (await r.metric('sidekick_config_sync_reloads_total', { result: 'ok' })) === 2);
    const idle = await r.metric('sidekick_config_sync_polls_total', { result: 'unchanged' });
    await waitFor('idle polls', async () => (await r.metric('sidekick_config_sync_polls_total', { result: 'unchanged' })) >= idle + 5);
    expect(await r.metric('sidekick_config_sync_publishes_total')).toBe(5);
    expect(await r.metric('sidekick_config_sync_reloads_total', { result: 'ok' })).toBe(2);
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['start', 'start']);
    expect(r.details().lastReload.version).toBe(5);
  });

  it('rolls back to the previous version when the app is unhealthy after the reload', async () => {
    // The "app" is healthy while the published app.conf does not say "bad".
    const health = await listen(async (_req, res) => {
      const conf = await readFile(join(target(), 'app.conf'), 'utf8').catch(() => '');
      res.writeHead(conf.includes('bad') ? 503 : 200).end();
    });
    const log = join(work.path, 'reloads.log');
    await writeConfigMap(src(), { 'app.conf': 'good 1' });
    const r = await start({
      exec: { command: ['/bin/sh', '-c', `cat {dir}/app.conf >> ${log}; echo >> ${log}`] },
      healthCheck: { url: `${health}/healthz`, timeout: '300ms', interval: '20ms' },
    });
    await waitFor('first reload', () => r.details().lastReload?.result === 'ok');
    await writeConfigMap(src(), { 'app.conf': 'bad 2', 'extra.conf': 'x' });
    await waitFor('rollback', async () => (await r.metric('sidekick_config_sync_rollbacks_total')) === 1);
    await waitFor('reload after rollback', async () => (await r.metric('sidekick_config_sync_reloads_total', { result: 'ok' })) === 3);
    expect(await readTarget(target())).toEqual({ 'app.conf': 'good 1' });
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['good 1', 'bad 2', 'good 1']);
    expect(r.details().version.generation).toBe(1);
    // The bad version is not published again while the source still has it.
    const idle = await r.metric('sidekick_config_sync_polls_total', { result: 'unchanged' });
    await waitFor('idle polls', async () => (await r.metric('sidekick_config_sync_polls_total', { result: 'unchanged' })) >= idle + 5);
    expect(await r.metric('sidekick_config_sync_publishes_total')).toBe(2);
    await writeConfigMap(src(), { 'app.conf': 'good 3' });
    await waitFor('next good version', () => r.details().version?.generation === 3);
    expect(await readTarget(target())).toEqual({ 'app.conf': 'good 3' });
  });

  /**
   * An app that reloads in the background: POST /-/reload returns at once and the new files are
   * read `loadMs` later; until then it keeps answering on the old config. A config with "bad" in
   * app.conf makes it unhealthy. /healthz says which VERSION it runs.
   */
  async function asyncApp(loadMs: number) {
    const state = { version: 'none', healthy: true, reloads: [] as string[] };
    const load = async () => {
      const conf = await readFile(join(target(), 'app.conf'), 'utf8');
      state.version = (await readFile(join(target(), 'VERSION'), 'utf8').catch(() => 'none')).trim();
      state.healthy = !conf.includes('bad');
      state.reloads.push(state.version);
    };
    const base = await listen((req, res) => {
      if (req.url === '/-/reload') {
        setTimeout(() => void load(), loadMs);
        return res.writeHead(202).end();
      }
      res.writeHead(state.healthy ? 200 : 503).end(`version=${state.version}\n`);
    });
    return { base, state };
  }

  it('expectBody: waits until the app serves the version just published; a bad one that never shows up is rolled back', async () => {
    const app = await asyncApp(150);
    await writeConfigMap(src(), { 'app.conf': 'good', VERSION: '1\n' });
    const r = await start({
      http: { url: `${app.base}/-/reload` },
      healthCheck: { url: `${app.base}/healthz`, timeout: '1500ms', interval: '20ms', expectBody: 'version={file:VERSION}' },
    });
    await waitFor('v1 healthy', () => r.details().lastReload?.detail.includes('then healthy (HTTP 200)'));
    expect(app.state.version).toBe('1');
    await writeConfigMap(src(), { 'app.conf': 'bad', VERSION: '2\n' });
    // The app answers 200 "version=1" for 150 ms after the reload: that must not count as healthy.
    await waitFor('rollback', async () => (await r.metric('sidekick_config_sync_rollbacks_total')) === 1, 10_000);
    // lastReload is already the reload back to v1; the failed check is the last error.
    expect(r.details().lastError).toMatchObject({ code: 'ERR_SIDEKICK_SYNC_UNHEALTHY' });
    expect(r.details().lastError.message).toMatch(/last: HTTP 503/);
    await waitFor('app back on v1', () => app.state.reloads.join() === '1,2,1', 10_000);
    expect(r.details().version.generation).toBe(1);
    await writeConfigMap(src(), { 'app.conf': 'good', VERSION: '3\n' });
    await waitFor('v3 healthy', () => r.details().lastReload?.version === 3 && r.details().lastReload.detail.includes('then healthy'), 10_000);
    expect(app.state.version, app.state.reloads.join()).toBe('3');
    expect(await r.metric('sidekick_config_sync_rollbacks_total')).toBe(1);
  });

  it('expectBody naming a file the version does not have: the version cannot be verified and is rolled back', async () => {
    const app = await asyncApp(0);
    await writeConfigMap(src(), { 'app.conf': 'good', VERSION: '1\n' });
    const r = await start({
      http: { url: `${app.base}/-/reload` },
      healthCheck: { url: `${app.base}/healthz`, timeout: '1s', interval: '20ms', expectBody: 'version={file:VERSION}' },
    });
    await waitFor('v1 healthy', () => r.details().lastReload?.result === 'ok');
    await writeConfigMap(src(), { 'app.conf': 'good too' });
    await waitFor('rollback', async () => (await r.metric('sidekick_config_sync_rollbacks_total')) === 1, 10_000);
    expect(r.details().lastError.message).toMatch(/\{file:VERSION\}.*does not have \(ENOENT\)/);
  });

  it('delay and successThreshold: a quick 2xx on the old config right after the reload does not pass the check', async () => {
    const app = await asyncApp(150);
    await writeConfigMap(src(), { 'app.conf': 'good', VERSION: '1\n' });
    const r = await start({
      http: { url: `${app.base}/-/reload` },
      healthCheck: { url: `${app.base}/healthz`, timeout: '2s', interval: '50ms', delay: '400ms', successThreshold: 3 },
    });
    await waitFor('v1 healthy', () => r.details().lastReload?.result === 'ok' && app.state.version === '1', 10_000);
    await writeConfigMap(src(), { 'app.conf': 'bad', VERSION: '2\n' });
    await waitFor('rollback', async () => (await r.metric('sidekick_config_sync_rollbacks_total')) === 1, 10_000);
    expect(r.details().lastError.message).toMatch(/within 2000 ms after reload \(last: HTTP 503\)/);
    await waitFor('app back on v1', () => app.state.version === '1' && app.state.healthy, 10_000);
  });
});

/** Why a user who is neither owner nor group could not reach `path` (a directory on the way without o+x, the file without o+r), or undefined. */
async function unreachableByOthers(path: string): Promise<string | undefined> {
  const { stat } = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  const st = await stat(path);
  if (!(st.mode & 0o004)) return `${path} is mode ${(st.mode & 0o777).toString(8)}, not readable by others`;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const d = await stat(dir);
    if (!(d.mode & 0o001)) return `directory ${dir} is mode ${(d.mode & 0o777).toString(8)}, not searchable by others`;
    if (dir === dirname(dir)) return undefined;
  }
}
