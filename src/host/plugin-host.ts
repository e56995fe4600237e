// The set of running instances. Starting and reloading are transactions: either
// the new set runs, or the old one is put back as it was.
import type { InstanceSpec, LoadedConfig } from '../config/load-config.ts';
import { InstanceSupervisor, type InstanceStatus, type SupervisorDeps, type SupervisorSettings } from './instance-supervisor.ts';
import { SidekickError, sidekickError } from '../errors.ts';
import { InstanceMemory } from './instance-memory.ts';

export class PluginStartError extends SidekickError {
  readonly instance: string;
  constructor(instance: string, cause: Error) {
    super('ERR_SIDEKICK_PLUGIN_START', `plugin "${instance}" failed to start: ${cause.message}`, { cause });
    this.instance = instance;
  }
}

export interface ApplyResult {
  started: string[];
  stopped: string[];
  kept: string[];
}

type Deps = Omit<SupervisorDeps, 'dataDir' | 'configDir' | 'memory' | keyof SupervisorSettings>;

export class PluginHost {
  private supervisors: InstanceSupervisor[] = [];
  /** Started by an apply() still in progress: a shutdown must stop these too. */
  private readonly pending = new Set<InstanceSupervisor>();
  private closed = false;
  private readonly deps: Deps;
  private readonly memory = new InstanceMemory();
  private config?: LoadedConfig;

  constructor(deps: Deps) {
    this.deps = deps;
  }

  /** Start in config order; if one fails, stop the ones already started and throw. */
  async start(config: LoadedConfig): Promise<void> {
    await this.apply(config);
  }

  /**
   * Replace instances whose config changed, start new ones, stop removed ones, keep
   * unchanged ones running untouched. If a start fails, the old set is restored.
   */
  async apply(config: LoadedConfig): Promise<ApplyResult> {
    const old = this.supervisors;
    const oldByName = new Map(old.map((s) => [s.name, s]));
    const keep = new Map<string, InstanceSupervisor>();
    for (const spec of config.instances) {
      const current = oldByName.get(spec.name);
      if (current && current.spec.fingerprint === spec.fingerprint) keep.set(spec.name, current);
    }
    const toStop = old.filter((s) => !keep.has(s.name));
    const toStart = config.instances.filter((spec) => !keep.has(spec.name));
    const deadline = Date.now() + config.core.shutdownTimeout;

    await this.stopAll(toStop, deadline);
    const started: InstanceSupervisor[] = [];
    for (const spec of toStart) {
      const sup = this.supervise(spec, config);
      this.pending.add(sup);
      try {
        if (this.closed) throw sidekickError('ERR_SIDEKICK_HOST_SHUTTING_DOWN', 'shutting down');
        await sup.start();
        started.push(sup);
      } catch (err) {
        this.pending.clear();
        await this.stopAll(started, Date.now() + config.core.shutdownTimeout);
        await sup.stop(Date.now());
        if (this.config) await this.restore(toStop, this.config);
        throw new PluginStartError(spec.name, err as Error);
      }
    }
    this.pending.clear();
    const startedByName = new Map(started.map((s) => [s.name, s]));
    this.supervisors = config.instances.map((spec) => keep.get(spec.name) ?? startedByName.get(spec.name)!);
    for (const s of toStop) {
      if (config.instances.some((i) => i.name === s.name)) continue;
      this.deps.metrics.forget(s.name);
      this.memory.forget(s.name);
    }
    for (const s of started) this.memory.prune(s.name);
    // Kept instances take the new restart settings too: they are core settings, not the plugin's.
    for (const s of keep.values()) s.retune(settingsOf(config));
    this.config = config;
    return { started: started.map((s) => s.name), stopped: toStop.map((s) => s.name), kept: [...keep.keys()] };
  }

  /** Stop everything within the deadline (in parallel: they share one budget). */
  async stop(deadline: number): Promise<void> {
    this.closed = true;
    const all = [...this.supervisors, ...this.pending];
    this.supervisors = [];
    await this.stopAll(all, deadline);
  }

  status(): Record<string, InstanceStatus> {
    return Object.fromEntries(this.supervisors.map((s) => [s.name, s.status()]));
  }

  private supervise(spec: InstanceSpec, config: LoadedConfig): InstanceSupervisor {
    return new InstanceSupervisor(spec, {
      ...this.deps,
      memory: this.memory,
      dataDir: config.core.dataDir,
      configDir: config.dir,
      ...settingsOf(config),
    });
  }

  /** Put back instances that a failed reload stopped; their failures go to the restart loop. */
  private async restore(stopped: InstanceSupervisor[], config: LoadedConfig): Promise<void> {
    const fresh = new Map(stopped.map((s) => [s.name, this.supervise(s.spec, config)]));
    this.supervisors = this.supervisors.map((s) => fresh.get(s.name) ?? s);
    for (const s of this.supervisors) if (fresh.has(s.name)) await s.startOrRetry();
  }

  private async stopAll(list: InstanceSupervisor[], deadline: number): Promise<void> {
    await Promise.all(list.map((s) => s.stop(deadline)));
  }
}

function settingsOf(config: LoadedConfig): SupervisorSettings {
  return {
    restart: config.core.restart,
    stopTimeout: Math.min(config.core.shutdownTimeout, 5000),
    startTimeout: config.core.restart.startTimeout,
  };
}
