// The plugin host as a user meets it: the real agent process started from a config file.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentSandbox } from '../helpers/agent-process.ts';
import { RECORDER, events, eventually } from '../helpers/recorder.ts';

const box = agentSandbox();

const header = (extra = '') => `admin:\n  listen: 127.0.0.1:0\ndataDir: ./data\nrestart:\n  initialDelay: 100ms\n  maxDelay: 400ms\n${extra}plugins:\n`;
const recorder = (name: string, keys = '') => `  ${name}:\n    type: ${RECORDER}\n    events: events.log\n${keys}`;

describe('start', () => {
  it('starts instances in config order and gives each its own data directory', async () => {
    const agent = await box.start(header() + recorder('first') + recorder('second'));
    expect(await events(join(box.dir, 'events.log'))).toEqual(['first create 1', 'first start', 'second create 1', 'second start']);
    const status = await agent.status();
    expect(Object.keys(status.instances)).toEqual(['first', 'second']);
    // each instance counts its launches in its own data dir
    expect(status.instances.first.details.launches).toBe(1);
  });

  it('a failed start stops the ones already started and exits non-zero with the reason', async () => {
    const agent = await box.start(header() + recorder('first') + recorder('second', '    failStart: true\n') + recorder('third'), { waitReady: false });
    const code = await agent.exited;
    expect(code).toBe(1);
    expect(agent.stderr()).toContain('plugin "second" failed to start: recorder was told to fail at start');
    expect(await events(join(box.dir, 'events.log'))).toEqual([
      'first create 1', 'first start', 'second create 1', 'second start-failed', 'second stop', 'first stop',
    ]);
  });

  it('a start that hangs counts as failed after restart.startTimeout, and rolls back', async () => {
    const agent = await box.start(
      header().replace('  maxDelay: 400ms\n', '  maxDelay: 400ms\n  startTimeout: 300ms\n') + recorder('first') + recorder('stuck', '    startDelayMs: 600000\n'),
      { waitReady: false },
    );
    expect(await agent.exited).toBe(1);
    expect(agent.stderr()).toContain('plugin "stuck" failed to start: start() did not finish within 300 ms (restart.startTimeout)');
    expect(await events(join(box.dir, 'events.log'))).toEqual(['first create 1', 'first start', 'stuck create 1', 'stuck stop', 'first stop']);
  });

  it('exits non-zero when the admin port is taken', async () => {
    const agent = await box.start(header() + recorder('first'));
    const port = new URL(agent.adminUrl).port;
    const other = await box.start(header().replace('127.0.0.1:0', `127.0.0.1:${port}`) + recorder('x'), { waitReady: false });
    expect(await other.exited).toBe(1);
    expect(other.stderr()).toMatch(/admin endpoint cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
  });
});

describe('a plugin that fails at run time', () => {
  it('is restarted with backoff, shown degraded meanwhile, while the others keep serving', async () => {
    const agent = await box.start(
      header() + recorder('steady', '    serve: true\n') + recorder('flaky', '    failAfterMs: 150\n    failTimes: 3\n'),
    );
    const steadyPort = (await agent.status()).instances.steady.details.port;
    const served: string[] = [];
    let sawDegraded = false;
    // Poll the steady plugin and readiness until flaky has been restarted three times.
    await eventually(async () => {
      served.push(await (await fetch(`http://127.0.0.1:${steadyPort}/`)).text());
      const ready = await fetch(`${agent.adminUrl}/readyz`);
      if (ready.status === 503) {
        const body: any = await ready.json();
        expect(body.reasons[0]).toMatch(/^flaky: restarting after error: recorder run-time failure \d/);
        sawDegraded = true;
      }
      const flaky = (await agent.status()).instances.flaky;
      expect(flaky.restarts).toBe(3);
      expect(flaky.state).toBe('running');
    }, 300, 20);
    expect(sawDegraded).toBe(true);
    expect(new Set(served)).toEqual(new Set(['steady 1\n']));

    const lines = await events(join(box.dir, 'events.log'));
    expect(lines.filter((l) => l.startsWith('steady'))).toEqual(['steady create 1', 'steady start']);
    expect(lines.filter((l) => l.startsWith('flaky'))).toEqual([
      'flaky create 1', 'flaky start', 'flaky fail', 'flaky stop',
      'flaky create 2', 'flaky start', 'flaky fail', 'flaky stop',
      'flaky create 3', 'flaky start', 'flaky fail', 'flaky stop',
      'flaky create 4', 'flaky start',
    ]);
    const status = await agent.status();
    expect(status.instances.flaky.lastError).toMatchObject({ message: 'recorder run-time failure 3', code: 'ERR_RECORDER' });
    const metrics = await (await fetch(`${agent.adminUrl}/metrics`)).text();
    expect(metrics).toContain('sidekick_plugin_restarts_total{instance="flaky"} 3');

    // The delays grew: each restart waited longer than the one before (full-jitter floor is half the ceiling).
    const delays = agent.logs.filter((l) => l.msg === 'restarting plugin after delay').map((l) => l.delayMs);
    expect(delays).toHaveLength(3);
    expect(delays[0]).toBeGreaterThanOrEqual(50);
    expect(delays[0]).toBeLessThanOrEqual(100);
    expect(delays[2]).toBeGreaterThanOrEqual(200);
  });

  it('a restart whose start fails keeps retrying', async () => {
    const agent = await box.start(header() + recorder('flaky', '    failAfterMs: 50\n    failTimes: 1\n'));
    await agent.waitForLog((l) => l.msg === 'plugin restarted');
    expect((await agent.status()).instances.flaky.state).toBe('running');
  });

  it("a plugin's unhandled promise rejection is logged and counted, and the agent keeps running", async () => {
    const agent = await box.start(header() + recorder('steady', '    serve: true\n') + recorder('buggy', '    forgetRejection: true\n'));
    const line = await agent.waitForLog((l) => l.level === 'error' && /unhandled promise rejection/.test(l.msg));
    expect(line.err.message).toBe('forgotten rejection');
    const port = (await agent.status()).instances.steady.details.port;
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('steady 1\n');
    expect(await (await fetch(`${agent.adminUrl}/metrics`)).text()).toContain('sidekick_unhandled_errors_total 1');
  });
});
