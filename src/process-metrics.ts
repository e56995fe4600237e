// The process_* and nodejs_* series, with the names and help of prom-client's default metrics
// (what Node dashboards expect), computed when scraped from Node's public APIs. Left out:
// nodejs_active_handles and nodejs_active_requests, which need process._getActiveHandles() and
// _getActiveRequests(), Node's private functions; nodejs_active_resources counts the same things.
import { readdirSync, readFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import type { HistogramSeries, MetricFamily } from './metric-family.ts';
import type { MetricsRegistry } from './metrics.ts';

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

export function registerProcessMetrics(registry: MetricsRegistry): void {
  const gauge = (name: string, help: string, collect?: (f: MetricFamily<'gauge'>) => void | Promise<void>, labelNames: string[] = []) =>
    registry.register('gauge', { name, help, labelNames, collect });
  const one = (family: MetricFamily<'gauge'>) => family.labels({});

  // CPU: counters advanced by what process.cpuUsage() says was spent since the last scrape.
  let last = process.cpuUsage();
  const cpu = (name: string, help: string, collect?: () => void) =>
    registry.register('counter', { name, help, labelNames: [], collect }).labels({});
  const user = cpu('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', () => {
    const now = process.cpuUsage();
    user.inc((now.user - last.user) / 1e6);
    system.inc((now.system - last.system) / 1e6);
    total.inc((now.user - last.user + now.system - last.system) / 1e6);
    last = now;
  });
  const system = cpu('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.');
  const total = cpu('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.');

  const started = Math.round(Date.now() / 1000 - process.uptime());
  gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', (f) => one(f).set(started));

  // /proc is Linux's: elsewhere these series stay at 0 rather than fail the scrape.
  const rss = one(gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => {
    const status = procFile('/proc/self/status');
    rss.set(kib(status, 'VmRSS'));
    virtual.set(kib(status, 'VmSize'));
    heap.set(kib(status, 'VmData'));
  }));
  const virtual = one(gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.'));
  const heap = one(gauge('process_heap_bytes', 'Process heap size in bytes.'));
  gauge('process_open_fds', 'Number of open file descriptors.', (f) => {
    // Minus the descriptor readdirSync() itself had open.
    try {
      one(f).set(readdirSync('/proc/self/fd').length - 1);
    } catch {
      // not Linux
    }
  });
  const maxFds = Number(/^Max open files\s+(\d+)/m.exec(procFile('/proc/self/limits'))?.[1] ?? 0);
  gauge('process_max_fds', 'Maximum number of open file descriptors.', (f) => one(f).set(maxFds));

  // Event loop: the delay a setImmediate() sees at scrape time, and the distribution sampled
  // every 10 ms since the last scrape.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const lag = one(gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.', async () => {
    const start = process.hrtime.bigint();
    await new Promise(setImmediate);
    lag.set(Number(process.hrtime.bigint() - start) / 1e9);
    // No sample since the last scrape (scrapes under 10 ms apart): the gauges keep their values.
    if (delay.count === 0) return;
    for (const [series, value] of [
      [lagMin, delay.min], [lagMax, delay.max], [lagMean, delay.mean], [lagStddev, delay.stddev],
      [lagP50, delay.percentile(50)], [lagP90, delay.percentile(90)], [lagP99, delay.percentile(99)],
    ] as const) series.set(value / 1e9);
    delay.reset();
  }));
  const lagMin = one(gauge('nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.'));
  const lagMax = one(gauge('nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.'));
  const lagMean = one(gauge('nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.'));
  const lagStddev = one(gauge('nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the recorded event loop delays.'));
  const lagP50 = one(gauge('nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.'));
  const lagP90 = one(gauge('nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the recorded event loop delays.'));
  const lagP99 = one(gauge('nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.'));

  gauge('nodejs_active_resources', 'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.', (f) => {
    const byType = new Map<string, number>();
    for (const type of process.getActiveResourcesInfo()) byType.set(type, (byType.get(type) ?? 0) + 1);
    f.clear();
    for (const [type, n] of byType) f.labels({ type }).set(n);
  }, ['type']);
  gauge('nodejs_active_resources_total', 'Total number of active resources.', (f) => one(f).set(process.getActiveResourcesInfo().length));

  const heapTotal = one(gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', () => {
    const usage = process.memoryUsage();
    heapTotal.set(usage.heapTotal);
    heapUsed.set(usage.heapUsed);
    external.set(usage.external);
  }));
  const heapUsed = one(gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.'));
  const external = one(gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.'));
  const space = (kind: string, collect?: () => void) =>
    gauge(`nodejs_heap_space_size_${kind}_bytes`, `Process heap space size ${kind} from Node.js in bytes.`, collect, ['space']);
  // One pass over V8's statistics sets all three families.
  const spaceTotal = space('total', () => {
    for (const s of getHeapSpaceStatistics()) {
      const name = s.space_name.slice(0, s.space_name.indexOf('_space'));
      (spaceTotal.labels({ space: name })).set(s.space_size);
      (spaceUsed.labels({ space: name })).set(s.space_used_size);
      (spaceAvailable.labels({ space: name })).set(s.space_available_size);
    }
  });
  const spaceUsed = space('used');
  const spaceAvailable = space('available');
  const [major, minor, patch] = process.versions.node.split('.');
  const version = registry.register('gauge', { name: 'nodejs_version_info', help: 'Node.js version info.', labelNames: ['version', 'major', 'minor', 'patch'] });
  (version.labels({ version: process.version, major: major!, minor: minor!, patch: patch! })).set(1);

  const gc = registry.register('histogram', {
    name: 'nodejs_gc_duration_seconds',
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'],
    buckets: [0.001, 0.01, 0.1, 1, 2, 5],
  });
  const byKind = new Map<string, HistogramSeries>();
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_KINDS[(entry as unknown as { detail: { kind: number } }).detail.kind];
      if (!kind) continue;
      let series = byKind.get(kind);
      if (!series) byKind.set(kind, (series = gc.labels({ kind })));
      series.observe(entry.duration / 1000);
    }
  }).observe({ entryTypes: ['gc'] });
}

function procFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** A `Name:   123 kB` line of /proc/self/status, in bytes. */
function kib(status: string, name: string): number {
  return Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
}
