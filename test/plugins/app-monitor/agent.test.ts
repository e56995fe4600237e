// The real agent, started from a config file on ephemeral ports, watching a real process and
// probing a real HTTP app: /metrics, /status and /readyz as a scraper and the kubelet see them.
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { agentSandbox } from '../../helpers/agent-process.ts';
import { parsePrometheusText } from '../../helpers/prometheus-text.ts';
import { type FakeApp, startFakeApp, uniqueName } from './helpers.ts';

const sandbox = agentSandbox();
const apps: FakeApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.kill()));
});

/** Polls `check` until it returns true; the bound is generous, the wait is on the condition. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('app-monitor in the agent', () => {
  it('reports the app in /metrics and /status, and /readyz follows the probe', async () => {
    const name = uniqueName();
    const app = await startFakeApp(name, 900);
    apps.push(app);
    const http = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as { port: number }).port;
    try {
      const agent = await sandbox.start(`admin:
  listen: 127.0.0.1:0
dataDir: ${sandbox.dir}/data
plugins:
  app:
    type: app-monitor
    process:
      name: ${name}
    interval: 100ms
    probe:
      http: http://127.0.0.1:${port}/healthz
      interval: 100ms
      timeout: 1s
      readiness: true
  ghost:
    type: app-monitor
    process:
      name: ${name}-none
`);
      const metrics = parsePrometheusText(await (await fetch(`${agent.adminUrl}/metrics`)).text());
      const value = (metric: string, labels: Record<string, string>) =>
        metrics.get(metric)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
      expect(value('sidekick_app_up', { instance: 'app', name })).toBe(1);
      expect(value('sidekick_app_max_fds', { instance: 'app', name })).toBe(900);
      expect(value('sidekick_app_resident_memory_bytes', { instance: 'app', name })).toBeGreaterThan(0);
      expect(value('sidekick_app_restarts_total', { instance: 'app', name })).toBe(0);
      expect(value('sidekick_app_probe_success', { instance: 'app' })).toBe(1);
      expect(value('sidekick_app_up', { instance: 'ghost', name: `${name}-none` })).toBe(0);
      // No pid in any label: cardinality stays one series per instance and name.
      for (const family of metrics.values()) for (const s of family.samples) expect(Object.keys(s.labels)).not.toContain('pid');

      const status = await agent.status();
      expect(status.instances.app).toMatchObject({ state: 'running', ready: true, details: { up: true, processes: [{ pid: app.pid, maxFds: 900 }], probe: { up: true } } });
      expect(status.instances.ghost).toMatchObject({ state: 'running', ready: true, details: { up: false, problems: expect.arrayContaining([expect.objectContaining({ code: 'ERR_SIDEKICK_APP_NOT_FOUND' })]) } });
      expect((await fetch(`${agent.adminUrl}/readyz`)).status).toBe(200);

      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      // (A probe in flight at the close may see ECONNRESET first; the next ones are refused.)
      await until(async () => {
        const res = await fetch(`${agent.adminUrl}/readyz`);
        const body = (await res.json()) as { reasons?: string[] };
        return res.status === 503 && JSON.stringify(body.reasons).includes('ECONNREFUSED');
      }, '/readyz to fail, naming the refused probe, with the app stopped');

      await app.kill();
      const again = await startFakeApp(name, 900);
      apps.push(again);
      await until(async () => (await agent.status()).instances.app.details.restarts === 1, 'the restart to be counted');
      const after = parsePrometheusText(await (await fetch(`${agent.adminUrl}/metrics`)).text());
      expect(after.get('sidekick_app_restarts_total')!.samples.find((s) => s.labels.instance === 'app')!.value).toBe(1);
      expect(await agent.stop()).toBe(0);
    } finally {
      http.closeAllConnections();
      http.close();
    }
  });
});
