// SIGTERM/SIGINT: readiness false at once, plugins drain within shutdownTimeout, exit 0.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AgentProcess, agentSandbox } from '../helpers/agent-process.ts';
import { RECORDER, events, eventually } from '../helpers/recorder.ts';

const box = agentSandbox();

const config = (timeout: string, drainMs: number) =>
  `admin:\n  listen: 127.0.0.1:0\ndataDir: ./data\nshutdownTimeout: ${timeout}\nplugins:\n` +
  `  slow:\n    type: ${RECORDER}\n    events: events.log\n    drainMs: ${drainMs}\n`;

describe('shutdown', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s turns readiness false at once, drains, exits 0', async (signal) => {
    const agent = await box.start(config('10s', 600));
    expect((await fetch(`${agent.adminUrl}/readyz`)).status).toBe(200);
    agent.child.kill(signal);
    await agent.waitForLog((l) => l.msg === 'shutting down: draining plugins');
    const ready = await fetch(`${agent.adminUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false, reasons: ['shutting down'] });
    expect(await agent.exited).toBe(0);
    expect(await events(join(box.dir, 'events.log'))).toEqual(['slow create 1', 'slow start', 'slow stop drained']);
  });

  it('forces plugins that outlast shutdownTimeout and still exits 0', async () => {
    const agent = await box.start(config('300ms', 60_000));
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(await events(join(box.dir, 'events.log'))).toEqual(['slow create 1', 'slow start', 'slow stop forced']);
  });

  it('a second signal exits at once', async () => {
    const agent = await box.start(config('60s', 60_000));
    agent.child.kill('SIGTERM');
    await agent.waitForLog((l) => l.msg === 'shutting down: draining plugins');
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(143);
    expect(agent.stderr()).toContain('second SIGTERM, exiting at once');
    // the drain never finished
    expect(await events(join(box.dir, 'events.log'))).toEqual(['slow create 1', 'slow start']);
  });

  it('a signal during start-up stops what started, starts nothing more, and exits 0', async () => {
    const yaml = `admin:\n  listen: 127.0.0.1:0\ndataDir: ./data\nplugins:\n` +
      `  slow:\n    type: ${RECORDER}\n    events: events.log\n    startDelayMs: 800\n` +
      `  never:\n    type: ${RECORDER}\n    events: events.log\n`;
    const agent = await box.start(yaml, { waitReady: false });
    await eventually(async () => expect(await events(join(box.dir, 'events.log'))).toEqual(['slow create 1']));
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(await events(join(box.dir, 'events.log'))).toEqual(['slow create 1', 'slow start', 'slow stop']);
  });
});
