// Full disks under the real agent: a dataDir that cannot take the state, and a target that
// cannot take the new version. Each is a 1 MiB tmpfs mounted for the test (the tests run as
// root here; without the right to mount they fail at once and say so).
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAgent, tempDir, type AgentProcess } from '../../helpers/agent-process.ts';
import { agentDetails, agentMetric, killAgent, liveVersion, startConfigApp, versionDirs, waitFor, writeConfigMap } from './helpers.ts';

let work: { path: string; cleanup: () => Promise<void> };
const agents: AgentProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  work = await tempDir('cs-full-');
});
afterEach(async () => {
  for (const a of agents.splice(0)) await killAgent(a);
  for (const c of cleanups.splice(0).reverse()) await c();
  await work.cleanup();
});

async function mountSmallTmpfs(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`this test needs to mount a tmpfs (run as root): ${(err as Error).message}`);
  }
  cleanups.push(async () => execFileSync('umount', [dir]));
}

/** Fills the file system of `dir` to the last byte. */
async function fill(file: string): Promise<void> {
  await writeFile(file, Buffer.alloc(4 << 20)).then(
    () => Promise.reject(new Error(`${file}: 4 MiB fit, the disk is not small`)),
    (err: NodeJS.ErrnoException) => (err.code === 'ENOSPC' ? undefined : Promise.reject(err)),
  );
}

const config = (pidFile: string) => `
admin: { listen: 127.0.0.1:0 }
dataDir: ./data
plugins:
  app-config:
    type: config-sync
    source:
      dir: { path: ./configmap }
    target: ./shared/config
    interval: 50ms
    backoff: { initial: 20ms, max: 100ms }
    reload:
      signal: { name: SIGHUP, pidFile: ${pidFile} }
`;

const v = (n: number, extra: Record<string, string> = {}) => ({ version: String(n), 'a.conf': `a=${n}\n`, ...extra });

describe('config-sync on a full disk', () => {
  it('a full dataDir refuses the new version visibly (status, metric, log), leaves nothing behind, then catches up', async () => {
    const data = join(work.path, 'data');
    await mountSmallTmpfs(data);
    const target = join(work.path, 'shared/config');
    const app = await startConfigApp(work.path, target);
    cleanups.push(() => app.stop());
    await writeConfigMap(join(work.path, 'configmap'), v(1));
    const agent = await startAgent(work.path, config(app.pidFile));
    agents.push(agent);
    await waitFor('app on version 1', async () => (await app.loaded()).at(-1) === '1');
    const filler = join(data, 'filler');
    await fill(filler);

    await writeConfigMap(join(work.path, 'configmap'), v(2));
    const logged = await agent.waitForLog((l) => l.code === 'ERR_SIDEKICK_SYNC_STATE');
    expect(logged.err ?? logged.msg).toMatch(/ENOSPC|no space/);
    const details = await agentDetails(agent);
    expect(details.lastError).toMatchObject({ code: 'ERR_SIDEKICK_SYNC_STATE' });
    expect(details.lastError.message).toContain(join(data, 'app-config'));
    expect(await agentMetric(agent.adminUrl, 'sidekick_config_sync_errors_total{instance="app-config",code="ERR_SIDEKICK_SYNC_STATE"}')).toBeGreaterThan(0);
    // Refused, not half done: the app's version stays live.
    expect(await liveVersion(target)).toEqual(v(1));
    expect(await app.loaded()).toEqual(['1']);

    // Space back: the running agent catches up (the refused version was not marked as seen).
    await rm(filler);
    await waitFor('app on version 2', async () => (await app.loaded()).at(-1) === '2');
    expect(await liveVersion(target)).toEqual(v(2));
    expect((await agentDetails(agent)).version.generation).toBe(2);
    // Every failed attempt cleaned up after itself (looked at once stopped: a retry in flight stages).
    expect(await agent.stop()).toBe(0);
    agents.splice(0);
    expect(await readdir(join(data, 'app-config'))).toEqual(['state.json']);
    expect((await versionDirs(target)).length).toBe(2); // version 2 and the previous, version 1
  });

  it('a full target refuses the new version with ERR_SIDEKICK_SYNC_TARGET and keeps the last good one', async () => {
    const shared = join(work.path, 'shared');
    await mountSmallTmpfs(shared);
    const target = join(shared, 'config');
    const app = await startConfigApp(work.path, target);
    cleanups.push(() => app.stop());
    await writeConfigMap(join(work.path, 'configmap'), v(1));
    const agent = await startAgent(work.path, config(app.pidFile));
    agents.push(agent);
    await waitFor('app on version 1', async () => (await app.loaded()).at(-1) === '1');

    // 2 MiB does not fit on the 1 MiB volume.
    await writeConfigMap(join(work.path, 'configmap'), v(2, { 'big.bin': 'x'.repeat(2 << 20) }));
    await waitFor('target error', async () => (await agentDetails(agent)).lastError?.code === 'ERR_SIDEKICK_SYNC_TARGET');
    const details = await agentDetails(agent);
    expect(details.lastError.message).toMatch(new RegExp(`${target}.*(ENOSPC|no space)`));
    expect(details.version.generation).toBe(1);
    expect(await agentMetric(agent.adminUrl, 'sidekick_config_sync_errors_total{instance="app-config",code="ERR_SIDEKICK_SYNC_TARGET"}')).toBeGreaterThan(0);
    expect(await agentMetric(agent.adminUrl, 'sidekick_config_sync_errors_total{instance="app-config",code="ERR_SIDEKICK_SYNC_SOURCE"}')).toBe(0);
    // Retries stage afresh each time: look once they have stopped (SIGTERM removes the one in flight).
    expect(await agent.stop()).toBe(0);
    agents.splice(0);
    expect(await liveVersion(target)).toEqual(v(1));
    expect((await versionDirs(target)).length).toBe(1);
    expect(await app.loaded()).toEqual(['1']);
  });
});
