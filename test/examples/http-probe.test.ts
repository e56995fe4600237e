// The example third-party plugin, loaded by path from a config file by the real agent.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent, tempDir } from '../helpers/agent-process.ts';
import { eventually } from '../helpers/recorder.ts';

const PLUGIN = resolve(import.meta.dirname, '../../examples/plugins/http-probe.js');
let agent: AgentProcess | undefined;
let app: Server | undefined;
let cleanup: (() => Promise<void>) | undefined;

afterEach(async () => {
  await agent?.stop('SIGKILL');
  app?.close();
  await cleanup?.();
});

describe('examples/plugins/http-probe.js', () => {
  it('loads from a path and makes readiness follow the app', async () => {
    let healthy = true;
    app = createServer((_req, res) => res.writeHead(healthy ? 200 : 500).end());
    await new Promise<void>((r) => app!.listen(0, '127.0.0.1', r));
    const port = (app.address() as AddressInfo).port;
    const dir = await tempDir();
    cleanup = dir.cleanup;
    agent = await startAgent(
      dir.path,
      `admin:\n  listen: 127.0.0.1:0\ndataDir: ./data\nplugins:\n  app-health:\n    type: ${PLUGIN}\n    url: http://127.0.0.1:${port}/health\n    intervalMs: 50\n`,
    );
    expect((await fetch(`${agent.adminUrl}/readyz`)).status).toBe(200);
    healthy = false;
    const body: any = await eventually(async () => {
      const res = await fetch(`${agent!.adminUrl}/readyz`);
      expect(res.status).toBe(503);
      return res.json();
    });
    expect(body.reasons).toEqual([`app-health: http://127.0.0.1:${port}/health: HTTP 500`]);
    const metrics = await (await fetch(`${agent.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/sidekick_http_probe_total\{instance="app-health",result="failed"\} [1-9]/);
  });

  it('refuses a config with a bad URL, naming the key', async () => {
    const dir = await tempDir();
    cleanup = dir.cleanup;
    agent = await startAgent(dir.path, `admin:\n  listen: 127.0.0.1:0\nplugins:\n  probe:\n    type: ${PLUGIN}\n    url: not a url\n`, { waitReady: false });
    expect(await agent.exited).toBe(78);
    expect(agent.stderr()).toContain('plugins.probe.url: expected a URL like');
  });
});
