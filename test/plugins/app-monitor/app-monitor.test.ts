// app-monitor against real processes: a child that allocates memory, opens files, burns CPU and
// is restarted; a real HTTP app for the probe; names and pid files that lead nowhere.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import plugin from '../../../plugins/app-monitor/index.ts';
import type { AppMonitor } from '../../../plugins/app-monitor/app-monitor.ts';
import { createTestContext, type TestContext } from '../../helpers/plugin-context.ts';
import { configProblems, parseConfig } from '../../helpers/plugin-config.ts';
import { configSchema } from '../../../plugins/app-monitor/config-schema.ts';
import { parsePrometheusText } from '../../helpers/prometheus-text.ts';
import { type FakeApp, startFakeApp, uniqueName } from './helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function monitor(config: Record<string, unknown>): Promise<{ m: AppMonitor; ctx: TestContext }> {
  const ctx = await createTestContext('watch', 'app-monitor');
  const parsed = parseConfig(configSchema, config);
  const m = (await plugin.create(parsed, ctx)) as AppMonitor;
  cleanups.push(async () => {
    await m.stop();
    await ctx.cleanup();
  });
  return { m, ctx };
}

async function app(name: string, maxFds: number): Promise<FakeApp> {
  const a = await startFakeApp(name, maxFds);
  cleanups.push(() => a.kill());
  return a;
}

async function series(ctx: TestContext, metric: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const family = parsePrometheusText(await ctx.metricsRegistry.metrics()).get(metric);
  const s = family?.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

describe('app-monitor processes', () => {
  it('reports memory, fds against their limit, CPU, threads and start time of a real process, and counts a restart', async () => {
    const name = uniqueName();
    const before = Date.now() / 1000;
    const first = await app(name, 777);
    const after = Date.now() / 1000;
    const { m, ctx } = await monitor({ process: { name }, cgroup: 'off', interval: '1h' });
    await m.start();
    const by = { instance: 'watch', name };
    expect(await series(ctx, 'sidekick_app_up', by)).toBe(1);
    expect(await series(ctx, 'sidekick_app_processes', by)).toBe(1);
    expect(await series(ctx, 'sidekick_app_max_fds', by)).toBe(777);
    const start = (await series(ctx, 'sidekick_app_start_time_seconds', by))!;
    expect(start).toBeGreaterThanOrEqual(Math.floor(before) - 1);
    expect(start).toBeLessThanOrEqual(after + 1);
    expect(await series(ctx, 'sidekick_app_threads', by)).toBeGreaterThan(1); // node's libuv pool
    const rss0 = (await series(ctx, 'sidekick_app_resident_memory_bytes', by))!;
    const vsz0 = (await series(ctx, 'sidekick_app_virtual_memory_bytes', by))!;
    const fds0 = (await series(ctx, 'sidekick_app_open_fds', by))!;
    const cpu0 = (await series(ctx, 'sidekick_app_cpu_seconds_total', by))!;
    expect(rss0).toBeGreaterThan(0);
    expect(fds0).toBeGreaterThanOrEqual(3);

    await first.send('alloc 64');
    await first.send('open 50');
    await first.send('burn 300');
    await m.poll();
    expect(await series(ctx, 'sidekick_app_resident_memory_bytes', by)).toBeGreaterThanOrEqual(rss0 + 60 * 1024 * 1024);
    expect(await series(ctx, 'sidekick_app_virtual_memory_bytes', by)).toBeGreaterThanOrEqual(vsz0 + 60 * 1024 * 1024);
    expect(await series(ctx, 'sidekick_app_open_fds', by)).toBe(fds0 + 50);
    expect(await series(ctx, 'sidekick_app_worst_fd_ratio', by)).toBeCloseTo((fds0 + 50) / 777, 5);
    const cpu1 = (await series(ctx, 'sidekick_app_cpu_seconds_total', by))!;
    // 300 ms of user time; /proc counts whole 10 ms ticks, so allow two of truncation.
    expect(cpu1 - cpu0).toBeGreaterThanOrEqual(0.28);
    expect(await series(ctx, 'sidekick_app_restarts_total', by)).toBe(0);
    const listed = (m.health().details!.processes as Array<{ pid: number; openFds: number }>);
    expect(listed).toEqual([expect.objectContaining({ pid: first.pid, openFds: fds0 + 50, maxFds: 777 })]);

    await first.kill();
    await m.poll();
    expect(await series(ctx, 'sidekick_app_up', by)).toBe(0);
    expect(m.health().details!.problems).toEqual([expect.objectContaining({ code: 'ERR_SIDEKICK_APP_NOT_FOUND' })]);

    const second = await app(name, 777);
    await m.poll();
    expect(second.pid).not.toBe(first.pid);
    expect(await series(ctx, 'sidekick_app_up', by)).toBe(1);
    expect(await series(ctx, 'sidekick_app_restarts_total', by)).toBe(1);
    expect(m.health().details).toMatchObject({ restarts: 1, up: true });
    expect(m.health().details!.problems).toBeUndefined();
    // A counter never goes back, though the new process has used less CPU than the old one.
    expect(await series(ctx, 'sidekick_app_cpu_seconds_total', by)).toBeGreaterThanOrEqual(cpu1);
    expect(await series(ctx, 'sidekick_app_resident_memory_bytes', by)).toBeLessThan(rss0 + 60 * 1024 * 1024);
  });

  it('does not count the CPU of a running app twice when a reload replaces the instance', async () => {
    const name = uniqueName();
    const a = await app(name, 1024);
    await a.send('burn 200');
    const { m, ctx } = await monitor({ process: { name }, cgroup: 'off', interval: '1h' });
    await m.start();
    await a.send('burn 100');
    await m.poll();
    const by = { instance: 'watch', name };
    const counted = (await series(ctx, 'sidekick_app_cpu_seconds_total', by))!;
    // The burn after the first poll counts; the 200 ms before it does not.
    const total = (m.health().details!.processes as Array<{ cpuSeconds: number }>)[0]!.cpuSeconds;
    expect(counted).toBeGreaterThanOrEqual(0.08);
    expect(counted).toBeLessThanOrEqual(total - 0.18);
    await m.stop();
    // The replacement shares the series, as the agent's instances do across a reload.
    const replacement = (await plugin.create(parseConfig(configSchema, { process: { name }, cgroup: 'off', interval: '1h' }), ctx)) as AppMonitor;
    cleanups.push(() => replacement.stop());
    await replacement.start();
    expect(await series(ctx, 'sidekick_app_cpu_seconds_total', by)).toBe(counted);
    await a.send('burn 100');
    await replacement.poll();
    expect(await series(ctx, 'sidekick_app_cpu_seconds_total', by)).toBeGreaterThanOrEqual(counted + 0.08);
  });

  it('follows the pid in a pid file, and names a missing or stale one', async () => {
    const a = await app(uniqueName(), 1024);
    const { m, ctx } = await monitor({ process: { pidFile: 'app.pid' }, cgroup: 'off', interval: '1h' });
    await m.start();
    const by = { instance: 'watch', name: 'app' }; // the pid file's base name
    expect(await series(ctx, 'sidekick_app_up', by)).toBe(0);
    expect(m.health()).toMatchObject({ ready: true, details: { problems: [{ code: 'ERR_SIDEKICK_APP_PID_FILE', message: expect.stringContaining('ENOENT') }] } });

    await writeFile(join(ctx.dataDir, 'app.pid'), `${a.pid}\n`);
    await m.poll();
    expect(await series(ctx, 'sidekick_app_up', by)).toBe(1);
    expect(await series(ctx, 'sidekick_app_max_fds', by)).toBe(1024);

    await a.kill();
    await m.poll();
    expect(await series(ctx, 'sidekick_app_up', by)).toBe(0);
    const [problem] = m.health().details!.problems as Array<{ code: string; message: string }>;
    expect(problem!.code).toBe('ERR_SIDEKICK_APP_NOT_FOUND');
    expect(problem!.message).toContain(`pid ${a.pid}`);
  });

  it('names a process it cannot find, and stays ready and running', async () => {
    const name = uniqueName();
    const { m, ctx } = await monitor({ process: { name }, cgroup: 'off', interval: '1h' });
    await m.start();
    const h = m.health();
    expect(h.ready).toBe(true);
    expect(h.details).toMatchObject({ up: false, processes: [] });
    const [problem] = h.details!.problems as Array<{ code: string; message: string }>;
    expect(problem!.code).toBe('ERR_SIDEKICK_APP_NOT_FOUND');
    expect(problem!.message).toContain(`no process named "${name}"`);
    expect(await series(ctx, 'sidekick_app_up', { name })).toBe(0);
    expect(ctx.failures).toEqual([]);
  });
});

describe('app-monitor permissions', () => {
  // The test runs as root, which reads every /proc entry: the monitor runs in a child process that
  // becomes nobody (65534) and watches an app owned by root, as a sidecar with another user would.
  it.skipIf(process.getuid?.() !== 0)("names another user's unreadable fds, and still reports what it can read", async () => {
    const name = uniqueName();
    const a = await app(name, 1024);
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/poll-as.ts'), name, '65534'], { env: { ...process.env, HOME: '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
    const [code] = await once(child, 'exit');
    expect(code, err).toBe(0);
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.uid).toBe(65534);
    expect(r.health.ready).toBe(true);
    expect(r.health.details.up).toBe(true);
    expect(r.health.details.processes).toEqual([expect.objectContaining({ pid: a.pid, residentBytes: expect.any(Number) })]);
    expect(r.health.details.processes[0].residentBytes).toBeGreaterThan(0);
    expect(r.health.details.processes[0].openFds).toBeUndefined();
    const [problem] = r.health.details.problems;
    expect(problem.code).toBe('ERR_SIDEKICK_APP_PERMISSION');
    expect(problem.message).toContain(`/proc/${a.pid}/fd: EACCES`);
    expect(problem.message).toContain('CAP_SYS_PTRACE');
  });
});

describe('app-monitor cgroup', () => {
  it('reads cgroup v2 files: gauges as they are, counters from the first reading', async () => {
    const { m: probeDir, ctx: c0 } = await monitor({ process: { name: uniqueName() }, cgroup: 'off' });
    void probeDir;
    const dir = join(c0.dataDir, 'cg');
    await mkdir(dir);
    const write = (usage: number, throttled: number, ooms: number, current: number) =>
      Promise.all([
        writeFile(join(dir, 'memory.current'), `${current}\n`),
        writeFile(join(dir, 'memory.max'), 'max\n'),
        writeFile(join(dir, 'memory.events'), `low 0\nhigh 0\nmax 3\noom ${ooms}\noom_kill ${ooms}\noom_group_kill 0\n`),
        writeFile(join(dir, 'cpu.stat'), `usage_usec ${usage}\nuser_usec ${usage}\nsystem_usec 0\nnr_periods 100\nnr_throttled ${throttled}\nthrottled_usec ${throttled * 1000}\n`),
      ]);
    await write(5_000_000, 2, 1, 1000);
    const { m, ctx } = await monitor({ probe: { tcp: ':1' }, cgroup: dir, interval: '1h' });
    await m.start();
    expect(await series(ctx, 'sidekick_app_cgroup_memory_bytes')).toBe(1000);
    expect(await series(ctx, 'sidekick_app_cgroup_memory_limit_bytes')).toBe(0);
    expect(await series(ctx, 'sidekick_app_cgroup_oom_kills_total')).toBe(0); // the baseline
    // No process is watched: no process series, not even zeros.
    expect(await series(ctx, 'sidekick_app_restarts_total')).toBeUndefined();
    expect(await series(ctx, 'sidekick_app_up')).toBeUndefined();
    await write(7_500_000, 5, 2, 2000);
    await writeFile(join(dir, 'memory.max'), '4096\n');
    await m.poll();
    expect(await series(ctx, 'sidekick_app_cgroup_memory_bytes')).toBe(2000);
    expect(await series(ctx, 'sidekick_app_cgroup_memory_limit_bytes')).toBe(4096);
    expect(await series(ctx, 'sidekick_app_cgroup_cpu_seconds_total')).toBeCloseTo(2.5, 6);
    expect(await series(ctx, 'sidekick_app_cgroup_cpu_throttled_periods_total')).toBe(3);
    expect(await series(ctx, 'sidekick_app_cgroup_cpu_throttled_seconds_total')).toBeCloseTo(0.003, 9);
    expect(await series(ctx, 'sidekick_app_cgroup_oom_kills_total')).toBe(1);
    expect(m.health().details!.cgroup).toMatchObject({ dir, memoryBytes: 2000 });
  });

  it("reads the app's own cgroup on a cgroup v2 host, and says why not elsewhere", async () => {
    const { m, ctx } = await monitor({ probe: { tcp: ':1' }, interval: '1h' });
    await m.start();
    if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      expect(await series(ctx, 'sidekick_app_cgroup_memory_bytes')).toBeGreaterThan(0);
    } else {
      const [problem] = m.health().details!.problems as Array<{ code: string; message: string }>;
      expect(problem).toMatchObject({ code: 'ERR_SIDEKICK_APP_CGROUP', message: expect.stringContaining('cgroup figures not readable') });
      expect(await series(ctx, 'sidekick_app_cgroup_oom_kills_total')).toBeUndefined(); // not a claimed 0
    }
  });
});

describe('app-monitor probe', () => {
  async function httpApp(status = 200): Promise<{ server: Server; port: number; setStatus(s: number): void }> {
    let current = status;
    const server = createServer((_req, res) => res.writeHead(current).end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    return { server, port: (server.address() as { port: number }).port, setStatus: (s) => (current = s) };
  }

  it('reports up, then down when the app stops, and holds readiness while down', async () => {
    const a = await httpApp();
    const { m, ctx } = await monitor({ probe: { http: `http://127.0.0.1:${a.port}/healthz`, readiness: true, interval: '1h' }, cgroup: 'off' });
    await m.start();
    expect(m.health()).toMatchObject({ ready: true, details: { probe: { up: true, result: 'HTTP 200' } } });
    expect(await series(ctx, 'sidekick_app_probe_success')).toBe(1);
    expect(await series(ctx, 'sidekick_app_probe_duration_seconds')).toBeGreaterThan(0);

    a.server.closeAllConnections();
    await new Promise<void>((r) => a.server.close(() => r()));
    await m.runProbe();
    const h = m.health();
    expect(h.ready).toBe(false);
    expect(h.reason).toContain('ECONNREFUSED');
    expect(await series(ctx, 'sidekick_app_probe_success')).toBe(0);
    expect(await series(ctx, 'sidekick_app_probes_total', { result: 'up' })).toBe(1);
    expect(await series(ctx, 'sidekick_app_probes_total', { result: 'down' })).toBe(1);
  });

  it('checks the expected status, and leaves readiness alone unless asked', async () => {
    const a = await httpApp(503);
    const { m } = await monitor({ probe: { http: `http://127.0.0.1:${a.port}/`, interval: '1h' }, cgroup: 'off' });
    await m.start();
    expect(m.health()).toMatchObject({ ready: true, details: { probe: { up: false, result: 'HTTP 503' } } });
    const { m: strict } = await monitor({ probe: { http: `http://127.0.0.1:${a.port}/`, expectedStatus: 204, readiness: true, interval: '1h' }, cgroup: 'off' });
    a.setStatus(200);
    await strict.start();
    expect(strict.health()).toMatchObject({ ready: false, reason: expect.stringContaining('HTTP 200') });
    a.setStatus(204);
    await strict.runProbe();
    expect(strict.health().ready).toBe(true);
  });

  it('connects over TCP, and times out on a peer that never answers', async () => {
    const a = await httpApp();
    const { m } = await monitor({ probe: { tcp: `127.0.0.1:${a.port}`, interval: '1h' }, cgroup: 'off' });
    await m.start();
    expect(m.health().details!.probe).toMatchObject({ up: true, result: 'connected' });
    // A server that accepts and never answers: the http probe gives up at its timeout.
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => (silent.closeAllConnections(), silent.close(() => r()))));
    const { m: slow } = await monitor({ probe: { http: `http://127.0.0.1:${(silent.address() as { port: number }).port}/`, timeout: '200ms', interval: '1h' }, cgroup: 'off' });
    await slow.start();
    expect(slow.health().details!.probe).toMatchObject({ up: false, result: 'timeout after 200 ms' });
  });
});

describe('app-monitor config', () => {
  it.each([
    [{}, 'nothing to watch'],
    [{ process: { name: 'a', pidFile: 'b' } }, 'exactly one of name or pidFile'],
    [{ probe: { http: 'http://x/', tcp: ':1' } }, 'exactly one of http or tcp'],
    [{ probe: { tcp: 'nowhere' } }, 'host:port'],
    [{ probe: { http: 'https://x/' } }, 'http:// URL'],
    [{ probe: { tcp: ':1', every: '1s' } }, 'every'],
  ])('refuses %j', (config, message) => {
    expect(configProblems(configSchema, config).join('\n')).toContain(message);
  });
});
