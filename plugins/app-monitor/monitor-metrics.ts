// The sidekick_app_* series, named as process-exporter and the Prometheus conventions name
// them, labelled by instance and the app's stable `name` (never a pid). Bound once.
import type { PluginMetrics } from '../../src/plugin-api.ts';

/** `processes`: whether the config watches processes (their counters then show 0 from the start). */
export function createMonitorMetrics(metrics: PluginMetrics, name: string, processes: boolean) {
  const by = { name };
  const g = (metric: string, help: string) => metrics.gauge({ name: metric, help, labelNames: ['name'] }).labels(by);
  // Counters show 0 from the start, so the first restart or OOM kill is an increase().
  // (The cgroup ones only once the cgroup is read: a 0 would claim what is not known.)
  const c = (metric: string, help: string, zero = processes) => {
    const child = metrics.counter({ name: metric, help, labelNames: ['name'] }).labels(by);
    if (zero) child.inc(0);
    return child;
  };
  const probes = metrics.counter({ name: 'sidekick_app_probes_total', help: 'Probes of the app by result', labelNames: ['result'] });
  return {
    up: g('sidekick_app_up', '1 while at least one process of the app is seen, else 0'),
    processes: g('sidekick_app_processes', 'Processes of the app seen at the last poll'),
    cpu: c('sidekick_app_cpu_seconds_total', 'CPU time (user and system) used by the app\'s processes'),
    resident: g('sidekick_app_resident_memory_bytes', 'Resident memory of the app\'s processes, summed'),
    virtual: g('sidekick_app_virtual_memory_bytes', 'Virtual memory of the app\'s processes, summed'),
    openFds: g('sidekick_app_open_fds', 'Open file descriptors of the app\'s processes, summed'),
    maxFds: g('sidekick_app_max_fds', 'Soft limit of open file descriptors (RLIMIT_NOFILE) of the app\'s main process'),
    worstFdRatio: g('sidekick_app_worst_fd_ratio', 'Highest open/limit ratio of file descriptors among the app\'s processes'),
    threads: g('sidekick_app_threads', 'Threads of the app\'s processes, summed'),
    startTime: g('sidekick_app_start_time_seconds', 'Start time of the app\'s main process, Unix seconds'),
    restarts: c('sidekick_app_restarts_total', 'Times the app\'s main process came back with a new pid'),
    cgMemory: g('sidekick_app_cgroup_memory_bytes', 'memory.current of the app\'s cgroup'),
    cgMemoryLimit: g('sidekick_app_cgroup_memory_limit_bytes', 'memory.max of the app\'s cgroup (0: no limit)'),
    cgOomKills: c('sidekick_app_cgroup_oom_kills_total', 'OOM kills in the app\'s cgroup (memory.events oom_kill), seen since the agent started', false),
    cgCpu: c('sidekick_app_cgroup_cpu_seconds_total', 'CPU time of the app\'s cgroup (cpu.stat usage_usec), since the agent started', false),
    cgPeriods: c('sidekick_app_cgroup_cpu_periods_total', 'CFS periods elapsed in the app\'s cgroup (cpu.stat nr_periods), since the agent started', false),
    cgThrottledPeriods: c('sidekick_app_cgroup_cpu_throttled_periods_total', 'CFS periods in which the app\'s cgroup was throttled (cpu.stat nr_throttled)', false),
    cgThrottledSeconds: c('sidekick_app_cgroup_cpu_throttled_seconds_total', 'Time the app\'s cgroup was throttled (cpu.stat throttled_usec)', false),
    probeUp: metrics.gauge({ name: 'sidekick_app_probe_success', help: '1 when the last probe of the app succeeded, else 0' }),
    probeSeconds: metrics.gauge({ name: 'sidekick_app_probe_duration_seconds', help: 'Duration of the last probe of the app' }),
    probeOk: probes.labels({ result: 'up' }),
    probeDown: probes.labels({ result: 'down' }),
  };
}

export type MonitorMetrics = ReturnType<typeof createMonitorMetrics>;
