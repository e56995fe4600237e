// The plugin inside the real agent process: /status and /readyz, SIGHUP to the app by pid
// file, and a restart of the agent that picks up the published version without republishing.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAgent, tempDir, type AgentProcess } from '../../helpers/agent-process.ts';
import { dataLink, readTarget, startSignalRecorder, waitFor, writeConfigMap } from './helpers.ts';

let work: { path: string; cleanup: () => Promise<void> };
const agents: AgentProcess[] = [];

beforeEach(async () => {
  work = await tempDir('cs-agent-');
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await work.cleanup();
});

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
    reload:
      signal: { name: SIGHUP, pidFile: ${pidFile} }
`;

describe('config-sync in the agent', () => {
  it('publishes, signals the app, shows the version in /status, and a restart republishes nothing', async () => {
    const app = await startSignalRecorder(work.path);
    try {
      await writeConfigMap(join(work.path, 'configmap'), { 'app.properties': 'x=1\n', 'conf/extra.json': '{}' });
      const first = await startAgent(work.path, config(app.pidFile));
      agents.push(first);
      await first.waitForLog((l) => l.msg === 'published new version');
      await waitFor('SIGHUP', async () => (await app.signals()).length === 1);
      const status = await first.status();
      const details = findDetails(status);
      expect(details.version.generation).toBe(1);
      expect([...details.files].sort()).toEqual(['app.properties', 'conf/extra.json']);
      expect(details.lastReload).toMatchObject({ result: 'ok', version: 1 });
      expect((await fetch(`${first.adminUrl}/readyz`)).status).toBe(200);
      const metrics = await (await fetch(`${first.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/sidekick_config_sync_publishes_total\{instance="app-config"\} 1/);
      const target = join(work.path, 'shared/config');
      const live = await dataLink(target);
      expect(await first.stop()).toBe(0);
      agents.splice(0);

      const second = await startAgent(work.path, config(app.pidFile));
      agents.push(second);
      await second.waitForLog((l) => l.msg === 'adopted the published version from the last run');
      await waitFor('idle polls', async () => {
        const text = await (await fetch(`${second.adminUrl}/metrics`)).text();
        const m = /sidekick_config_sync_polls_total\{instance="app-config",result="unchanged"\} (\d+)/.exec(text);
        return m && Number(m[1]) >= 3;
      });
      expect(second.logs.some((l) => l.msg === 'published new version')).toBe(false);
      expect(await dataLink(target)).toBe(live);
      expect(await app.signals()).toEqual(['SIGHUP']);
      expect(await readTarget(target)).toEqual({ 'app.properties': 'x=1\n', 'conf/extra.json': '{}' });
      // A change after the restart continues the generations.
      await writeConfigMap(join(work.path, 'configmap'), { 'app.properties': 'x=2\n' });
      await second.waitForLog((l) => l.msg === 'published new version' && l.version === 2);
      await waitFor('second SIGHUP', async () => (await app.signals()).length === 2);
      expect(await readFile(join(target, 'app.properties'), 'utf8')).toBe('x=2\n');
    } finally {
      await app.stop();
    }
  });

  it('refuses a config with a bad key, naming it', async () => {
    const bad = await startAgent(work.path, `
admin: { listen: 127.0.0.1:0 }
dataDir: ./data
plugins:
  app-config:
    type: config-sync
    source: { dir: { path: ./x } }
    target: ./t
    reload: { signal: { name: SIGHUP } }
`, { waitReady: false });
    agents.push(bad);
    expect(await bad.exited).not.toBe(0);
    expect(bad.stderr() + JSON.stringify(bad.logs)).toMatch(/reload.*set exactly one of pidFile or process/);
  });
});

function findDetails(status: any): any {
  const stack = [status];
  while (stack.length) {
    const v = stack.pop();
    if (v && typeof v === 'object') {
      if (v.type === 'config-sync' && v.details) return v.details;
      stack.push(...Object.values(v));
    }
  }
  return undefined;
}
