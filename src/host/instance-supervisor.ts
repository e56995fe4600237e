// Runs one plugin instance: provision, start, restart with backoff after a
// run-time failure, stop once. Other instances never see its failures.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { InstanceSpec } from '../config/load-config.ts';
import { type RootLogger, redactUrlCredentials } from '../logger.ts';
import type { MetricsRegistry } from '../metrics.ts';
import type { PluginContext, PluginInstance } from '../plugin-api.ts';
import { backoffDelay, sleep } from './backoff.ts';
import { sidekickError } from '../errors.ts';
import type { InstanceMemory } from './instance-memory.ts';

export type InstanceState = 'new' | 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped';

export interface SupervisorDeps extends SupervisorSettings {
  log: RootLogger;
  metrics: MetricsRegistry;
  /** State handed from an instance to its replacement (PluginContext.keep). */
  memory: InstanceMemory;
  dataDir: string;
  configDir: string;
}

/** The core's `restart` and `shutdownTimeout` settings; a reload can change them. */
export interface SupervisorSettings {
  restart: { initialDelay: number; maxDelay: number };
  /** Budget for stopping a failed instance before its restart. */
  stopTimeout: number;
  /** A start() that has not settled by then counts as failed: one plugin must not hang start-up. */
  startTimeout: number;
}

export interface InstanceStatus {
  type: string;
  state: InstanceState;
  ready: boolean;
  reason?: string;
  since: string;
  restarts: number;
  lastError?: { message: string; code?: string; at: string };
  details?: Record<string, unknown>;
}

export class InstanceSupervisor {
  readonly spec: InstanceSpec;
  private deps: SupervisorDeps;
  private readonly logger: Logger;
  private state: InstanceState = 'new';
  private since = new Date();
  private instance?: PluginInstance;
  private controller?: AbortController;
  private attempt = 0;
  private restarts = 0;
  private runningSince = 0;
  private lastError?: InstanceStatus['lastError'];
  private readonly life = new AbortController(); // aborted by stop(): ends the restart loop
  private stopping?: Promise<void>;
  private launching = false;
  private launchDone?: Promise<void>;
  private launchFailure?: Error;
  private readonly restartCounter;

  constructor(spec: InstanceSpec, deps: SupervisorDeps) {
    this.spec = spec;
    this.deps = deps;
    this.logger = deps.log.child({ instance: spec.name, plugin: spec.type });
    this.restartCounter = deps.metrics
      .family('counter', { name: 'sidekick_plugin_restarts_total', help: 'Restarts of a plugin instance after a run-time failure' })
      .labels({ instance: spec.name });
  }

  get name(): string {
    return this.spec.name;
  }

  /** First start: rejects if the instance cannot start, so the caller can roll back. */
  async start(): Promise<void> {
    this.setState('starting');
    await this.launch();
    this.setState('running');
    this.logger.info('plugin started');
  }

  /** Like start(), but a failure goes to the restart loop instead of the caller. */
  startOrRetry(): Promise<void> {
    return this.start().catch((err) => this.failed(err as Error, undefined));
  }

  stop(deadline: number): Promise<void> {
    this.stopping ??= this.doStop(deadline);
    return this.stopping;
  }

  /** New restart settings from a reload that kept this instance; a backoff already waiting keeps its delay. */
  retune(settings: SupervisorSettings): void {
    this.deps = { ...this.deps, ...settings };
  }

  status(): InstanceStatus {
    let health;
    if (this.state === 'running' && this.instance?.health) {
      try {
        health = this.instance.health();
      } catch (err) {
        health = { ready: false, reason: `health check threw: ${(err as Error).message}` };
      }
    }
    const ready = this.state === 'running' && (health?.ready ?? true);
    const reason = ready ? undefined : (health?.reason ?? this.stateReason());
    return {
      type: this.spec.type,
      state: this.state,
      ready,
      ...(reason ? { reason } : {}),
      since: this.since.toISOString(),
      restarts: this.restarts,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(health?.details ? { details: health.details } : {}),
    };
  }

  private stateReason(): string {
    if (this.state === 'restarting') return `restarting after error: ${this.lastError?.message ?? 'unknown'}`;
    return this.state;
  }

  private launch(): Promise<void> {
    const done = this.doLaunch();
    this.launchDone = done.then(() => {}, () => {});
    return done;
  }

  private async doLaunch(): Promise<void> {
    const controller = new AbortController();
    this.controller = controller;
    const dataDir = join(this.deps.dataDir, this.spec.name);
    try {
      await mkdir(dataDir, { recursive: true });
    } catch (err) {
      throw new Error(`cannot create data directory ${dataDir}: ${(err as Error).message} (set dataDir to a writable path)`);
    }
    const ctx: PluginContext = {
      name: this.spec.name,
      type: this.spec.type,
      logger: this.logger,
      logFormat: this.deps.log.format,
      metrics: this.deps.metrics.forInstance(this.spec.name),
      dataDir,
      signal: controller.signal,
      resolvePath: (p) => resolve(this.deps.configDir, p),
      keep: this.deps.memory.forLaunch(this.spec.name),
      fail: (error) => {
        // A stale instance (already replaced or stopping) cannot fail the current one.
        if (this.controller !== controller || controller.signal.aborted) return;
        if (this.launching) this.launchFailure ??= error;
        else this.failed(error, controller);
      },
    };
    this.launching = true;
    this.launchFailure = undefined;
    try {
      const instance = await this.spec.descriptor.create(this.spec.config, ctx);
      this.instance = instance;
      try {
        await withTimeout(instance.start(), this.deps.startTimeout, `start() did not finish within ${this.deps.startTimeout} ms (restart.startTimeout)`);
        if (this.launchFailure) throw this.launchFailure;
      } catch (err) {
        this.instance = undefined; // stopped here; stop() must not stop it twice
        await this.stopInstance(instance, controller, Date.now() + this.deps.stopTimeout);
        throw err;
      }
    } finally {
      this.launching = false;
    }
    if (controller.signal.aborted) throw new Error('stopped while starting');
    this.runningSince = Date.now();
  }

  private failed(error: Error, controller: AbortController | undefined): void {
    if (this.life.signal.aborted || this.state === 'restarting') return;
    this.lastError = { message: redactUrlCredentials(error.message), ...codeOf(error), at: new Date().toISOString() };
    this.logger.error({ err: error }, 'plugin failed; restarting with backoff');
    this.setState('restarting');
    void this.restartLoop(controller);
  }

  private async restartLoop(failedController: AbortController | undefined): Promise<void> {
    const instance = this.instance;
    if (instance && failedController) {
      this.instance = undefined;
      await this.stopInstance(instance, failedController, Date.now() + this.deps.stopTimeout);
    }
    // A plugin that ran for a while before failing starts the backoff over.
    if (this.runningSince && Date.now() - this.runningSince > this.deps.restart.maxDelay) this.attempt = 0;
    while (!this.life.signal.aborted) {
      const delay = backoffDelay(this.attempt++, this.deps.restart.initialDelay, this.deps.restart.maxDelay);
      this.logger.info({ delayMs: delay, attempt: this.attempt }, 'restarting plugin after delay');
      await sleep(delay, this.life.signal);
      if (this.life.signal.aborted) return;
      try {
        await this.launch();
        if (this.life.signal.aborted) return;
        this.restarts++;
        this.restartCounter.inc();
        this.setState('running');
        this.logger.info({ restarts: this.restarts }, 'plugin restarted');
        return;
      } catch (err) {
        const e = err as Error;
        this.lastError = { message: redactUrlCredentials(e.message), ...codeOf(e), at: new Date().toISOString() };
        this.logger.error({ err: e }, 'plugin restart failed');
      }
    }
  }

  private async doStop(deadline: number): Promise<void> {
    this.life.abort();
    this.setState('stopping');
    // Let a start in progress settle first (up to the deadline): stopping a half-started
    // instance would race its own start().
    if (this.launchDone) await Promise.race([this.launchDone, sleep(Math.max(0, deadline - Date.now()))]);
    const instance = this.instance;
    if (instance && this.controller) await this.stopInstance(instance, this.controller, deadline);
    this.setState('stopped');
    this.deps.log.forget(this.logger);
    this.logger.info('plugin stopped');
  }

  private async stopInstance(instance: PluginInstance, controller: AbortController, deadline: number): Promise<void> {
    controller.abort();
    const force = new AbortController();
    const remaining = Math.max(0, deadline - Date.now());
    const timer = setTimeout(() => force.abort(), remaining);
    try {
      // A plugin that ignores its deadline must not hold shutdown hostage: give it one more second.
      const stopped = instance.stop({ deadline, signal: force.signal });
      await Promise.race([stopped, sleep(remaining + 1000)]);
    } catch (err) {
      this.logger.warn({ err }, 'plugin stop failed');
    } finally {
      clearTimeout(timer);
    }
  }

  private setState(state: InstanceState): void {
    this.state = state;
    this.since = new Date();
  }
}

function codeOf(err: Error): { code?: string } {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? { code } : {};
}

async function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(sidekickError('ERR_SIDEKICK_PLUGIN_START_TIMEOUT', message)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
