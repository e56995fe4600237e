// Reload as a transaction: SIGHUP or a file change; changed instances replaced,
// unchanged ones untouched, a bad file or failed start leaves the old set running.
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AgentProcess, agentSandbox, freePort } from '../helpers/agent-process.ts';
import { RECORDER, events, eventually } from '../helpers/recorder.ts';

const box = agentSandbox();

const config = (plugins: string, extra = 'watchConfig: false\n') =>
  `admin:\n  listen: 127.0.0.1:0\ndataDir: ./data\n${extra}plugins:\n${plugins}`;
const recorder = (name: string, keys = '') => `  ${name}:\n    type: ${RECORDER}\n    events: events.log\n${keys}`;
const reloaded = (l: Record<string, any>) => l.msg === 'config reloaded';
const refused = (l: Record<string, any>) => typeof l.msg === 'string' && /^config reload (refused|failed)/.test(l.msg);

async function hup(a: AgentProcess, match: (l: Record<string, any>) => boolean) {
  const before = a.logs.length;
  a.child.kill('SIGHUP');
  return a.waitForLog((l) => a.logs.indexOf(l) >= before && match(l));
}

describe('SIGHUP', () => {
  it('with a good file replaces changed instances, starts new ones, stops removed ones, keeps the rest', async () => {
    const agent = await box.start(config(recorder('keep') + recorder('change') + recorder('remove')));
    await writeFile(join(box.dir, 'sidekick.yaml'), config(recorder('keep') + recorder('change', '    label: v2\n') + recorder('add')));
    const line = await hup(agent, reloaded);
    expect(line).toMatchObject({ started: ['change', 'add'], stopped: ['change', 'remove'], kept: ['keep'] });
    const lines = await events(join(box.dir, 'events.log'));
    expect(lines.filter((l) => l.startsWith('keep'))).toEqual(['keep create 1', 'keep start']);
    expect(lines.slice(6)).toEqual(expect.arrayContaining(['change stop', 'remove stop', 'change create 2 v2', 'add create 1']));
    const status = await agent.status();
    expect(Object.keys(status.instances)).toEqual(['keep', 'change', 'add']);
    expect(status.config.lastReload).toMatchObject({ result: 'success', trigger: 'SIGHUP' });
    const metrics = await (await fetch(`${agent.adminUrl}/metrics`)).text();
    expect(metrics).toContain('sidekick_config_reloads_total{result="success"} 1');
    expect(metrics).not.toMatch(/instance="remove"/);
  });

  it('with a bad file keeps the old set running and says why', async () => {
    const agent = await box.start(config(recorder('one')));
    await writeFile(join(box.dir, 'sidekick.yaml'), config(recorder('one', '    bogus: 1\n')));
    const line = await hup(agent, refused);
    expect(line.msg).toContain('plugins.one.bogus: unknown key');
    expect(await events(join(box.dir, 'events.log'))).toEqual(['one create 1', 'one start']);
    const status = await agent.status();
    expect(status.instances.one.state).toBe('running');
    expect(status.config.lastReload).toMatchObject({ result: 'failure' });
    expect((await fetch(`${agent.adminUrl}/readyz`)).status).toBe(200);
  });

  it('whose new instance fails to start restores the old set', async () => {
    const agent = await box.start(config(recorder('one') + recorder('two')));
    await writeFile(join(box.dir, 'sidekick.yaml'), config(recorder('one', '    label: v2\n') + recorder('two') + recorder('three', '    failStart: true\n')));
    const line = await hup(agent, refused);
    expect(line.msg).toContain('plugin "three" failed to start');
    const lines = (await events(join(box.dir, 'events.log'))).slice(4);
    // one was replaced, the new one stopped again, and the old config put back; two never touched
    expect(lines).toEqual(['one stop', 'one create 2 v2', 'one start', 'three create 1', 'three start-failed', 'three stop', 'one stop', 'one create 3']
      .concat(['one start']));
    const status = await agent.status();
    expect(Object.keys(status.instances)).toEqual(['one', 'two']);
    expect(status.instances.one.state).toBe('running');
  });

  it('with an unchanged file does nothing', async () => {
    const agent = await box.start(config(recorder('one')));
    const line = await hup(agent, (l) => l.msg === 'config unchanged; nothing to reload');
    expect(line).toBeDefined();
    expect(await events(join(box.dir, 'events.log'))).toEqual(['one create 1', 'one start']);
  });

  it('with only whitespace changed replaces nothing', async () => {
    const agent = await box.start(config(recorder('one')));
    await writeFile(join(box.dir, 'sidekick.yaml'), `# a comment\n${config(recorder('one'))}\n\n`);
    const line = await hup(agent, reloaded);
    expect(line).toMatchObject({ started: [], stopped: [], kept: ['one'] });
    expect(await events(join(box.dir, 'events.log'))).toEqual(['one create 1', 'one start']);
  });

  it('applies new restart settings to the instances it keeps', async () => {
    const restart = (delay: string) => `watchConfig: false\nrestart:\n  initialDelay: ${delay}\n  maxDelay: ${delay}\n`;
    const flaky = recorder('flaky', '    failAfterMs: 3000\n    failTimes: 1\n');
    const agent = await box.start(config(flaky, restart('1h')));
    await writeFile(join(box.dir, 'sidekick.yaml'), config(flaky, restart('50ms')));
    expect(await hup(agent, reloaded)).toMatchObject({ started: [], kept: ['flaky'] });
    // With the old settings this restart would wait an hour.
    const line = await agent.waitForLog((l) => l.msg === 'restarting plugin after delay');
    expect(line.delayMs).toBeLessThanOrEqual(50);
    await agent.waitForLog((l) => l.msg === 'plugin restarted');
  });
});

describe('a change on disk', () => {
  it('is picked up without a signal, including a ConfigMap ..data symlink swap', async () => {
    // The layout a ConfigMap volume has: sidekick.yaml -> ..data/sidekick.yaml, ..data -> ..<timestamp>
    const v1 = join(box.dir, '..2026_01_01_00_00_00.1');
    const v2 = join(box.dir, '..2026_01_01_00_00_01.2');
    await mkdir(v1);
    await mkdir(v2);
    const plugins = (label: string) => recorder('one', `    label: ${label}\n    events: ${join(box.dir, 'events.log')}\n`).replace('    events: events.log\n', '');
    await writeFile(join(v1, 'sidekick.yaml'), config(plugins('v1'), `dataDir: ${join(box.dir, 'data')}\n`).replace('dataDir: ./data\n', ''));
    await writeFile(join(v2, 'sidekick.yaml'), config(plugins('v2'), `dataDir: ${join(box.dir, 'data')}\n`).replace('dataDir: ./data\n', ''));
    await symlink('..2026_01_01_00_00_00.1', join(box.dir, '..data'));
    await symlink('..data/sidekick.yaml', join(box.dir, 'sidekick.yaml'));
    const agent = await box.spawn(['run', '--config', join(box.dir, 'sidekick.yaml')]);

    await symlink('..2026_01_01_00_00_01.2', join(box.dir, '..data_tmp'));
    await rename(join(box.dir, '..data_tmp'), join(box.dir, '..data'));
    await agent.waitForLog(reloaded);
    await eventually(async () => expect(await events(join(box.dir, 'events.log'))).toEqual(['one create 1 v1', 'one start', 'one stop', 'one create 2 v2', 'one start']));
    expect((await agent.status()).config.lastReload).toMatchObject({ trigger: 'file change', result: 'success' });
  });

  it('a bad edit is refused once, not retried on every poll', async () => {
    const agent = await box.start(config(recorder('one'), 'watchConfig: true\n'));
    await writeFile(join(box.dir, 'sidekick.yaml'), config(recorder('one'), 'watchConfig: maybe\n'));
    await agent.waitForLog(refused);
    await new Promise((r) => setTimeout(r, 400));
    expect(agent.logs.filter(refused)).toHaveLength(1);
  });

  it('applies admin.listen and log.level changes', async () => {
    const agent = await box.start(config(recorder('one')));
    const oldUrl = agent.adminUrl;
    const free = await freePort();
    await writeFile(join(box.dir, 'sidekick.yaml'), config(recorder('one')).replace('127.0.0.1:0', `127.0.0.1:${free}`) + 'log:\n  level: warn\n');
    const before = agent.logs.length;
    agent.child.kill('SIGHUP');
    await eventually(async () => expect((await fetch(`http://127.0.0.1:${free}/readyz`)).status).toBe(200));
    await expect(fetch(`${oldUrl}/readyz`)).rejects.toThrow();
    // info lines stop once the level is warn: the reload's own success line is the last info line
    agent.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    expect(agent.logs.slice(before).filter((l) => l.msg === 'config unchanged; nothing to reload')).toEqual([]);
  });
});
