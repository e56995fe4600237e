// What kubelet, Prometheus and a human see on the admin endpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent, tempDir } from '../helpers/agent-process.ts';
import { RECORDER, eventually } from '../helpers/recorder.ts';
import { parsePrometheusText } from '../helpers/prometheus-text.ts';

let dir: { path: string; cleanup: () => Promise<void> };
let agent: AgentProcess;
const SECRET = 's3cr3t-Value-that-must-not-leak';

beforeAll(async () => {
  dir = await tempDir();
  agent = await startAgent(
    dir.path,
    `admin:\n  listen: 127.0.0.1:0\ndataDir: ./data\nlog:\n  level: debug\nplugins:\n` +
      `  web:\n    type: ${RECORDER}\n    events: events.log\n    serve: true\n    password: \${SECRET_PW}\n` +
      `  lazy:\n    type: ${RECORDER}\n    events: events.log\n    ready: false\n`,
    { env: { SECRET_PW: SECRET } },
  );
});
afterAll(async () => {
  await agent?.stop('SIGKILL');
  await dir.cleanup();
});

const get = (path: string, init?: RequestInit) => fetch(`${agent.adminUrl}${path}`, init);

describe('admin endpoint', () => {
  it('/healthz says the process is alive', async () => {
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', eventLoopDelayMs: expect.any(Number) });
  });

  it('/healthz does not answer a probe while the event loop is wedged, and answers again after', async () => {
    const port = (await agent.status()).instances.web.details.port;
    const wedged = fetch(`http://127.0.0.1:${port}/block?ms=3000`);
    // The plugin's request is taken before the probe's: wait until the agent stops answering.
    await eventually(async () => {
      const answered = await get('/healthz', { signal: AbortSignal.timeout(1000) }).then(() => true, () => false);
      expect(answered).toBe(false);
    });
    await wedged;
    expect((await get('/healthz')).status).toBe(200);
  });

  it('/readyz is 503 with the reason while a plugin is not ready', async () => {
    const res = await get('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ready: false, reasons: ['lazy: told not to be ready'] });
  });

  it('/metrics has the default process metrics and sidekick_* series labelled by instance', async () => {
    const port = (await agent.status()).instances.web.details.port;
    await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
    await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
    const res = await get('/metrics');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    // The whole scrape reads back under the format's rules, every family with its HELP and TYPE.
    const families = parsePrometheusText(text);
    for (const f of families.values()) {
      expect(f.help, f.name).not.toBe('');
      expect(f.type, f.name).not.toBe('untyped');
      if (f.type === 'counter') expect(f.name).toMatch(/_total$/);
    }
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    const cpu = Number(/^process_cpu_seconds_total (\S+)$/m.exec(text)?.[1]);
    const user = Number(/^process_cpu_user_seconds_total (\S+)$/m.exec(text)?.[1]);
    const system = Number(/^process_cpu_system_seconds_total (\S+)$/m.exec(text)?.[1]);
    expect(cpu).toBeGreaterThan(0);
    expect(cpu).toBeCloseTo(user + system, 6);
    expect(text).toContain('sidekick_recorder_requests_total{instance="web"} 2');
    expect(text).toContain('sidekick_plugin_ready{instance="web",type="');
    expect(text).toMatch(/sidekick_plugin_ready\{instance="lazy",type="[^"]+"\} 0/);
    expect(text).toMatch(/sidekick_build_info\{version="\d+\.\d+\.\d+"\} 1/);
  });

  it('/status shows version, uptime and each instance', async () => {
    const status: any = await (await get("/status")).json();
    expect(status).toMatchObject({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      uptimeSeconds: expect.any(Number),
      state: 'running',
      config: { file: expect.stringMatching(/sidekick\.yaml$/), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(status.instances.web).toMatchObject({ type: RECORDER, state: 'running', ready: true, restarts: 0, details: { launches: 1 } });
    expect(status.instances.lazy).toMatchObject({ state: 'running', ready: false, reason: 'told not to be ready' });
  });

  it('never shows a secret in /status, /metrics or the logs', async () => {
    const everything = [
      await (await get('/status')).text(),
      await (await get('/metrics')).text(),
      JSON.stringify(agent.logs),
    ].join('\n');
    expect(everything).not.toContain(SECRET);
  });

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    expect((await get('/nope')).status).toBe(404);
    const post = await get('/status', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await get('/healthz', { method: 'HEAD' });
    expect(head.status).toBe(200);
  });
});
