// validate.command and reload.exec under the real agent: a command whose grandchild hangs
// (and holds the output pipes) is stopped at the timeout with its whole process group, and
// reported as a timeout; an agent stopped during validation does not count it as a refusal.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAgent, tempDir, type AgentProcess } from '../../helpers/agent-process.ts';
import { agentDetails, agentMetric, killAgent, liveVersion, waitFor, writeConfigMap } from './helpers.ts';

let work: { path: string; cleanup: () => Promise<void> };
const agents: AgentProcess[] = [];
const pids: number[] = [];

beforeEach(async () => {
  work = await tempDir('cs-cmd-');
});
afterEach(async () => {
  for (const a of agents.splice(0)) await killAgent(a);
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  await work.cleanup();
});

const yaml = (plugin: string) => `
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
${plugin}`;

/** Alive and not a zombie (an orphan's zombie waits for a reaper that may not exist here). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

/** A script that, while `flag` exists, starts a grandchild that holds stdout open and waits for it. */
async function hangingScript(name: string, flag: string, pidFile: string): Promise<string> {
  const file = join(work.path, name);
  await writeFile(file, `#!/bin/sh\nif [ -e ${flag} ]; then sleep 1000 & echo $! > ${pidFile}; wait; fi\nexit 0\n`, { mode: 0o755 });
  return file;
}

async function start(plugin: string): Promise<AgentProcess> {
  const agent = await startAgent(work.path, yaml(plugin));
  agents.push(agent);
  return agent;
}

describe('config-sync commands', () => {
  it('a validate.command whose grandchild hangs times out (ERR_SIDEKICK_SYNC_COMMAND_TIMEOUT), its group is killed, and the plugin goes on', async () => {
    const flag = join(work.path, 'hang');
    const pidFile = join(work.path, 'grandchild.pid');
    await writeFile(flag, '');
    const script = await hangingScript('validate.sh', flag, pidFile);
    await writeConfigMap(join(work.path, 'configmap'), { version: '1' });
    const agent = await start(`    validate: { command: ["${script}", "{dir}"], timeout: 300ms }\n`);
    await waitFor('command timeout reported', async () => (await agentDetails(agent)).lastError?.code === 'ERR_SIDEKICK_SYNC_COMMAND_TIMEOUT');
    const details = await agentDetails(agent);
    expect(details.lastError.message).toMatch(/validate\.command .*timeout/);
    expect(details.lastValidationError).toBeNull(); // too slow is not "refused"
    expect(await agentMetric(agent.adminUrl, 'sidekick_config_sync_validation_failures_total{instance="app-config"}')).toBe(0);
    const grandchild = Number(await readFile(pidFile, 'utf8'));
    pids.push(grandchild);
    await waitFor('the grandchild killed with its group', async () => !(await alive(grandchild)));
    await rm(flag);
    await waitFor('published once the command is quick', async () => (await liveVersion(join(work.path, 'shared/config')))?.version === '1');
  });

  it('a reload.exec command whose grandchild hangs is a timeout error, and later publishes still reload', async () => {
    const flag = join(work.path, 'hang');
    const pidFile = join(work.path, 'grandchild.pid');
    await writeFile(flag, '');
    const script = await hangingScript('reload.sh', flag, pidFile);
    await writeConfigMap(join(work.path, 'configmap'), { version: '1' });
    const agent = await start(`    reload:\n      exec: { command: ["${script}"], timeout: 300ms }\n`);
    await waitFor('reload timeout reported', async () => (await agentDetails(agent)).lastReload?.code === 'ERR_SIDEKICK_SYNC_COMMAND_TIMEOUT');
    expect((await agentDetails(agent)).lastReload).toMatchObject({ result: 'error', version: 1 });
    const grandchild = Number(await readFile(pidFile, 'utf8'));
    pids.push(grandchild);
    await waitFor('the grandchild killed with its group', async () => !(await alive(grandchild)));
    await rm(flag);
    await writeConfigMap(join(work.path, 'configmap'), { version: '2' });
    await waitFor('version 2 reloaded', async () => {
      const last = (await agentDetails(agent)).lastReload;
      return last?.version === 2 && last.result === 'ok';
    });
  });

  it('SIGTERM during validation is not a validation failure, and the command is stopped', async () => {
    const started = join(work.path, 'started');
    const script = join(work.path, 'validate.sh');
    await writeFile(script, `#!/bin/sh\necho $$ > ${started}\nsleep 1000\n`, { mode: 0o755 });
    await writeConfigMap(join(work.path, 'configmap'), { version: '1' });
    const agent = await start(`    validate: { command: ["${script}", "{dir}"], timeout: 60s }\n`);
    await waitFor('validation started', () => readFile(started, 'utf8').then((t) => t.endsWith('\n'), () => false));
    const command = Number(await readFile(started, 'utf8'));
    pids.push(command);
    expect(await agent.stop('SIGTERM')).toBe(0);
    agents.splice(0);
    expect(agent.logs.filter((l) => l.code === 'ERR_SIDEKICK_SYNC_VALIDATION')).toEqual([]);
    expect(await alive(command)).toBe(false);
    expect(await liveVersion(join(work.path, 'shared/config'))).toBeUndefined();
  });
});
