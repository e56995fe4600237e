// The app-monitor runtime: a poll of /proc and the cgroup every `interval`, a probe every
// `probe.interval`, figures kept for /status and set into the metric series. Nothing here
// throws out of a timer: what cannot be seen is named in health().details.problems.
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { type HealthReport, type PluginContext, type PluginInstance, processesByName } from '../../src/plugin-api.ts';
import { probeOnce, type ProbeOutcome } from './app-probe.ts';
import { cgroupOf, readCgroup, type CgroupFigures } from './cgroup-reader.ts';
import type { AppMonitorConfig } from './config-schema.ts';
import { createMonitorMetrics, type MonitorMetrics } from './monitor-metrics.ts';
import { readProcess, visibleProcesses, type ProcessFigures } from './proc-reader.ts';

export interface Problem {
  code: 'ERR_SIDEKICK_APP_NOT_FOUND' | 'ERR_SIDEKICK_APP_PID_FILE' | 'ERR_SIDEKICK_APP_PERMISSION' | 'ERR_SIDEKICK_APP_CGROUP';
  message: string;
}

const MAX_LISTED = 20;

export class AppMonitor implements PluginInstance {
  private readonly metrics: MonitorMetrics;
  private readonly label: string;
  private readonly pidFile?: string;
  private pollTimer?: NodeJS.Timeout;
  private probeTimer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private probing?: Promise<void>;
  private stopped?: Promise<void>;
  /** CPU seconds last counted per pid, so the counter grows by deltas and never goes back. */
  private cpuSeen = new Map<number, number>();
  private cgroupSeen?: CgroupFigures;
  private mainPid?: number;
  private restarts = 0;
  private processes: ProcessFigures[] = [];
  private problems: Problem[] = [];
  private cgroup?: CgroupFigures;
  private lastPoll?: string;
  private probe?: ProbeOutcome & { at: string };
  private consecutiveProbeFailures = 0;

  private readonly config: AppMonitorConfig;
  private readonly ctx: PluginContext;
  private readonly procDir = '/proc';
  private readonly cgroupRoot = '/sys/fs/cgroup';

  constructor(config: AppMonitorConfig, ctx: PluginContext) {
    this.config = config;
    this.ctx = ctx;
    const p = config.process;
    this.pidFile = p?.pidFile === undefined ? undefined : ctx.resolvePath(p.pidFile);
    this.label = p?.label ?? p?.name ?? (this.pidFile ? basename(this.pidFile, extname(this.pidFile)) : 'app');
    this.metrics = createMonitorMetrics(ctx.metrics, this.label, p !== undefined);
  }

  async start(): Promise<void> {
    if (this.config.process || this.config.cgroup !== 'off') {
      await this.poll();
      this.pollTimer = setInterval(() => void this.poll(), this.config.interval);
      this.pollTimer.unref();
    }
    if (this.config.probe) {
      await this.runProbe();
      this.probeTimer = setInterval(() => void this.runProbe(), this.config.probe.interval);
      this.probeTimer.unref();
    }
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      clearInterval(this.pollTimer);
      clearInterval(this.probeTimer);
      await Promise.all([this.polling, this.probing]);
    })();
    return this.stopped;
  }

  health(): HealthReport {
    const details: Record<string, unknown> = {
      name: this.label,
      up: this.processes.length > 0,
      restarts: this.restarts,
      lastPoll: this.lastPoll,
      processCount: this.processes.length,
      // The first ones by pid: /status stays small for an app with hundreds of workers.
      processes: this.processes.slice(0, MAX_LISTED).map((p) => ({
        pid: p.pid, comm: p.comm, cpuSeconds: p.cpuSeconds, residentBytes: p.residentBytes, virtualBytes: p.virtualBytes,
        openFds: p.openFds, maxFds: p.maxFds, threads: p.threads, startTime: new Date(p.startTime * 1000).toISOString(),
      })),
    };
    if (!this.config.process) delete details.up;
    if (this.cgroup) details.cgroup = this.cgroup;
    if (this.probe) details.probe = { target: this.probeTarget(), up: this.probe.up, result: this.probe.result, seconds: this.probe.seconds, at: this.probe.at, consecutiveFailures: this.consecutiveProbeFailures };
    if (this.problems.length) details.problems = this.problems;
    const probe = this.config.probe;
    if (probe?.readiness && !this.probe?.up) {
      return { ready: false, reason: `probe of ${this.probeTarget()} failed: ${this.probe?.result ?? 'not probed yet'}`, details };
    }
    return { ready: true, details };
  }

  private probeTarget(): string {
    const p = this.config.probe!;
    return p.http ?? `${p.tcp!.host}:${p.tcp!.port}`;
  }

  /** One probe now (the timer's work; tests call it to step without waiting). */
  runProbe(): Promise<void> {
    if (this.probing) return this.probing; // a slow probe is not stacked under the next one
    this.probing = (async () => {
      const outcome = await probeOnce(this.config.probe!);
      this.probe = { ...outcome, at: new Date().toISOString() };
      this.metrics.probeUp.set(outcome.up ? 1 : 0);
      this.metrics.probeSeconds.set(outcome.seconds);
      (outcome.up ? this.metrics.probeOk : this.metrics.probeDown).inc();
      const wasDown = this.consecutiveProbeFailures > 0;
      this.consecutiveProbeFailures = outcome.up ? 0 : this.consecutiveProbeFailures + 1;
      if (outcome.up && wasDown) this.ctx.logger.info({ target: this.probeTarget() }, 'app probe succeeds again');
      if (this.consecutiveProbeFailures === 1) this.ctx.logger.warn({ target: this.probeTarget(), result: outcome.result }, 'app probe failed');
    })().finally(() => (this.probing = undefined));
    return this.probing;
  }

  /** One poll of /proc and the cgroup now (the timer's work; tests call it to step without waiting). */
  poll(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = this.pollOnce()
      .catch((err) => this.ctx.logger.error({ err }, 'app-monitor poll failed'))
      .finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const problems: Problem[] = [];
    const before = this.problems.map((p) => p.code).join();
    if (this.config.process) await this.pollProcesses(problems);
    if (this.config.cgroup !== 'off') await this.pollCgroup(problems);
    this.problems = problems;
    this.lastPoll = new Date().toISOString();
    const after = problems.map((p) => p.code).join();
    if (after !== before && problems.length) this.ctx.logger.warn({ problems }, 'app-monitor cannot see all of the app');
  }

  private async pollProcesses(problems: Problem[]): Promise<void> {
    const pids = await this.findPids(problems);
    const found: ProcessFigures[] = [];
    for (const pid of pids) {
      const figures = await readProcess(pid, this.procDir);
      if (figures) found.push(figures);
    }
    // With a pid file, the children of the main process are the app too (workers).
    if (this.pidFile && found.length === 1) {
      for (const pid of await this.childrenOf(found[0]!.pid)) {
        const figures = await readProcess(pid, this.procDir);
        if (figures) found.push(figures);
      }
    }
    const m = this.metrics;
    const seen = new Map<number, number>();
    let cpu = 0, resident = 0, virtual = 0, fds = 0, threads = 0, worst = 0;
    for (const p of found) {
      // The first poll is the baseline: the series outlives this instance (a config reload
      // replaces it), so counting a running process's past CPU again would count it twice.
      const before = this.cpuSeen.get(p.pid) ?? (this.lastPoll === undefined ? p.cpuSeconds : 0);
      cpu += Math.max(0, p.cpuSeconds - before);
      seen.set(p.pid, p.cpuSeconds);
      resident += p.residentBytes;
      virtual += p.virtualBytes;
      threads += p.threads;
      if (p.openFds !== undefined) fds += p.openFds;
      if (p.openFds !== undefined && p.maxFds) worst = Math.max(worst, p.openFds / p.maxFds);
      if (p.problem) problems.push({ code: 'ERR_SIDEKICK_APP_PERMISSION', message: `${p.problem}: run the agent as the app's user, or give it CAP_SYS_PTRACE` });
    }
    this.cpuSeen = seen;
    // The main process: the one whose parent is not the app's, oldest first.
    const pidSet = new Set(found.map((p) => p.pid));
    const main = found.filter((p) => !pidSet.has(p.ppid)).sort((a, b) => a.startTime - b.startTime || a.pid - b.pid)[0];
    if (main && this.mainPid !== undefined && main.pid !== this.mainPid) {
      this.restarts++;
      m.restarts.inc();
      this.ctx.logger.info({ pid: main.pid, previous: this.mainPid }, 'app restarted: new main pid');
    }
    if (main) this.mainPid = main.pid;
    this.processes = found;
    m.up.set(found.length > 0 ? 1 : 0);
    m.processes.set(found.length);
    if (cpu > 0) m.cpu.inc(cpu);
    m.resident.set(resident);
    m.virtual.set(virtual);
    m.openFds.set(fds);
    m.threads.set(threads);
    m.worstFdRatio.set(worst);
    if (main) {
      m.maxFds.set(main.maxFds ?? 0);
      m.startTime.set(main.startTime);
    }
  }

  private async findPids(problems: Problem[]): Promise<number[]> {
    const name = this.config.process!.name;
    if (name !== undefined) {
      const pids = await processesByName(name, this.procDir);
      if (pids.length === 0) problems.push({ code: 'ERR_SIDEKICK_APP_NOT_FOUND', message: await this.notFound(`no process named "${name}"`) });
      return pids;
    }
    let text: string;
    try {
      text = await readFile(this.pidFile!, 'utf8');
    } catch (err) {
      problems.push({ code: 'ERR_SIDEKICK_APP_PID_FILE', message: `cannot read the pid file ${this.pidFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (the app has not started, or the volume is not shared)` });
      return [];
    }
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 0) {
      problems.push({ code: 'ERR_SIDEKICK_APP_PID_FILE', message: `the pid file ${this.pidFile} holds ${JSON.stringify(text.trim().slice(0, 20))}, not a pid` });
      return [];
    }
    const figures = await readProcess(pid, this.procDir);
    if (!figures) {
      problems.push({ code: 'ERR_SIDEKICK_APP_NOT_FOUND', message: await this.notFound(`pid ${pid} from ${this.pidFile} is not running or not visible`) });
      return [];
    }
    return [pid];
  }

  /** The message for an app not found, saying whether the process namespace looks shared. */
  private async notFound(what: string): Promise<string> {
    const visible = await visibleProcesses(this.procDir).catch(() => 0);
    if (visible <= 2) return `${what}; only ${visible} process(es) visible: the process namespace is not shared with the app (Kubernetes: shareProcessNamespace: true)`;
    return `${what} among ${visible} visible processes (not started yet, exited, or another name: check comm in /proc/<pid>/comm)`;
  }

  private async childrenOf(pid: number): Promise<number[]> {
    try {
      const text = await readFile(`${this.procDir}/${pid}/task/${pid}/children`, 'utf8');
      return text.split(' ').filter(Boolean).map(Number);
    } catch {
      return []; // kernels without CONFIG_PROC_CHILDREN: the main process alone
    }
  }

  private async pollCgroup(problems: Problem[]): Promise<void> {
    let dir = this.config.cgroup;
    try {
      if (dir === 'app') {
        // The app's own cgroup while it runs; the agent's (the same pod) otherwise.
        const pid = this.mainPid !== undefined && this.processes.length ? this.mainPid : process.pid;
        dir = await cgroupOf(pid, this.procDir, this.cgroupRoot);
      }
      const figures = await readCgroup(dir);
      this.setCgroup(figures);
    } catch (err) {
      this.cgroup = undefined;
      problems.push({ code: 'ERR_SIDEKICK_APP_CGROUP', message: `cgroup figures not readable: ${(err as Error).message}` });
    }
  }

  private setCgroup(now: CgroupFigures): void {
    const m = this.metrics;
    const prev = this.cgroupSeen?.dir === now.dir ? this.cgroupSeen : undefined;
    const grow = (counter: { inc(v?: number): void }, value?: number, before?: number) => {
      if (value === undefined) return;
      counter.inc(before !== undefined && value > before ? value - before : 0);
    };
    if (now.memoryBytes !== undefined) m.cgMemory.set(now.memoryBytes);
    m.cgMemoryLimit.set(now.memoryLimitBytes ?? 0);
    // The first reading is the baseline: these counters count from the agent's start.
    grow(m.cgOomKills, now.oomKills, prev?.oomKills);
    grow(m.cgCpu, now.cpuUsageSeconds, prev?.cpuUsageSeconds);
    grow(m.cgPeriods, now.periods, prev?.periods);
    grow(m.cgThrottledPeriods, now.throttledPeriods, prev?.throttledPeriods);
    grow(m.cgThrottledSeconds, now.throttledSeconds, prev?.throttledSeconds);
    this.cgroupSeen = now;
    this.cgroup = now;
  }
}
