// The running agent: config, logger, metrics, admin endpoint, plugin host, and
// the signals that drive them (SIGHUP reload, SIGTERM/SIGINT drain).
import type { Logger } from 'pino';
import type { AddressInfo } from 'node:net';
import { AdminServer } from './admin/admin-server.ts';
import { ConfigError } from './config/config-error.ts';
import { ConfigWatcher } from './config/config-watcher.ts';
import { type CoreMetrics, registerCoreMetrics } from './core-metrics.ts';
import { type LoadedConfig, parseConfig, readConfigFile } from './config/load-config.ts';
import { PluginHost } from './host/plugin-host.ts';
import { countersByInstance, renderStatusPage } from './admin/status-page.ts';
import { createLogger, logDestination, redactUrlCredentials, type RootLogger } from './logger.ts';
import { MetricsRegistry } from './metrics.ts';
import { VERSION } from './version.ts';

const TICK_MS = 500;

export interface AgentOptions {
  env?: NodeJS.ProcessEnv;
  /** Log destination; stdout by default. */
  logStream?: NodeJS.WritableStream;
}

interface ReloadRecord {
  at: string;
  result: 'success' | 'failure' | 'unchanged';
  trigger: string;
  error?: string;
}

export class Agent {
  private config: LoadedConfig;
  private readonly log: RootLogger;
  private readonly logger: Logger;
  private readonly metrics = new MetricsRegistry();
  private readonly host: PluginHost;
  private admin: AdminServer;
  private watcher?: ConfigWatcher;
  private readonly env: NodeJS.ProcessEnv;
  private readonly startedAt = Date.now();
  // Liveness: a 500 ms tick, and how late its last run was. (No histogram of our own: the process
  // metrics already sample the loop every 10 ms, and a second sampler was about a quarter of the
  // idle agent's event-loop wake-ups.)
  private lastTick = Date.now();
  private lastTickLateMs = 0;
  private tick?: NodeJS.Timeout;
  private shuttingDown?: Promise<void>;
  private started = false;
  private reloads: Promise<void> = Promise.resolve();
  private lastAttemptedHash: string;
  private lastReload?: ReloadRecord;
  private readonly coreMetrics: CoreMetrics;
  adminAddress?: AddressInfo;

  private constructor(config: LoadedConfig, opts: AgentOptions) {
    this.config = config;
    this.env = opts.env ?? process.env;
    this.lastAttemptedHash = config.hash;
    this.log = createLogger(config.core.log.level, opts.logStream, config.core.log.format);
    this.logger = this.log.logger;
    this.host = new PluginHost({ log: this.log, metrics: this.metrics });
    this.admin = this.createAdmin();
    this.coreMetrics = registerCoreMetrics(this.metrics, () => this.host.status());
  }

  /** Load and validate the config. Throws ConfigError for a bad file. */
  static async load(file: string, opts: AgentOptions = {}): Promise<Agent> {
    const raw = await readConfigFile(file);
    const config = await parseConfig(raw.file, raw.text, raw.hash, opts.env ?? process.env);
    return new Agent(config, { ...opts, logStream: await logDestination(config.core.log.format, opts.logStream) });
  }

  /** Bind the admin endpoint and start every plugin; rolls back and throws on failure. */
  async start(): Promise<void> {
    this.tick = setInterval(() => {
      const now = Date.now();
      this.lastTickLateMs = Math.max(0, now - this.lastTick - TICK_MS);
      this.lastTick = now;
    }, TICK_MS).unref();
    this.adminAddress = await this.admin.listen(this.config.core.admin.listen);
    try {
      await this.host.start(this.config);
    } catch (err) {
      await this.admin.close();
      clearInterval(this.tick);
      throw err;
    }
    this.started = true;
    if (this.config.core.watchConfig) this.watch();
    this.logger.info(
      { admin: `${this.adminAddress.address}:${this.adminAddress.port}`, config: this.config.file, plugins: this.config.instances.map((i) => `${i.name}:${i.type}`) },
      `sidekick ${VERSION} ready`,
    );
  }

  /** Reload the config as a transaction. `force` retries a file that failed before. */
  reload(trigger: string, force = false): Promise<void> {
    this.reloads = this.reloads.then(() => this.doReload(trigger, force));
    return this.reloads;
  }

  /** Drain plugins within shutdownTimeout, then close the admin endpoint. Idempotent. */
  shutdown(reason: string): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.logger.info({ reason, timeoutMs: this.config.core.shutdownTimeout }, 'shutting down: draining plugins');
      this.watcher?.close();
      await this.reloads;
      await this.host.stop(Date.now() + this.config.core.shutdownTimeout);
      await this.admin.close();
      clearInterval(this.tick);
      this.logger.info('shutdown complete');
    })();
    return this.shuttingDown;
  }

  reportUnhandled(reason: unknown, fatal = false): void {
    this.coreMetrics.unhandledErrors.inc();
    const err = reason instanceof Error ? reason : new Error(String(reason));
    if (fatal) this.logger.fatal({ err }, 'uncaught exception; exiting');
    else this.logger.error({ err }, 'unhandled promise rejection (a bug: please report it); continuing');
  }

  private watch(): void {
    this.watcher = new ConfigWatcher(this.config.file, () => void this.reload('file change'));
  }

  private async doReload(trigger: string, force: boolean): Promise<void> {
    if (this.shuttingDown) return;
    const record = (result: ReloadRecord['result'], error?: string) => {
      this.lastReload = { at: new Date().toISOString(), result, trigger, ...(error ? { error: redactUrlCredentials(error) } : {}) };
      this.coreMetrics.reloads.labels({ result }).inc();
    };
    let next: LoadedConfig;
    try {
      const raw = await readConfigFile(this.config.file);
      if (raw.hash === this.config.hash || (!force && raw.hash === this.lastAttemptedHash)) {
        if (trigger === 'SIGHUP') {
          this.logger.info('config unchanged; nothing to reload');
          record('unchanged');
        }
        return;
      }
      this.lastAttemptedHash = raw.hash;
      next = await parseConfig(raw.file, raw.text, raw.hash, this.env);
    } catch (err) {
      const message = (err as Error).message;
      this.logger.error({ trigger, problems: (err as ConfigError).problems }, `config reload refused, old config keeps running: ${message}`);
      return record('failure', message);
    }
    try {
      const result = await this.host.apply(next);
      const old = this.config.core;
      this.config = next;
      if (old.log.level !== next.core.log.level) this.log.setLevel(next.core.log.level);
      if (old.log.format !== next.core.log.format) this.logger.warn(`log.format is read at start: still ${old.log.format} until a restart`);
      if (old.admin.listen.host !== next.core.admin.listen.host || old.admin.listen.port !== next.core.admin.listen.port) {
        await this.rebindAdmin();
      }
      this.logger.info({ trigger, ...result }, 'config reloaded');
      record('success');
    } catch (err) {
      const message = (err as Error).message;
      this.logger.error({ trigger, err }, `config reload failed, old plugin set restored: ${message}`);
      record('failure', message);
    }
  }

  private async rebindAdmin(): Promise<void> {
    const fresh = this.createAdmin();
    try {
      this.adminAddress = await fresh.listen(this.config.core.admin.listen);
      await this.admin.close();
      this.admin = fresh;
    } catch (err) {
      this.logger.error({ err }, 'admin endpoint keeps its old address');
    }
  }

  private createAdmin(): AdminServer {
    return new AdminServer({
      health: () => {
        const stalledMs = Date.now() - this.lastTick;
        return { ok: stalledMs < 5000, eventLoopDelayMs: this.lastTickLateMs };
      },
      readiness: () => {
        if (this.shuttingDown) return { ready: false, reasons: ['shutting down'] };
        if (!this.started) return { ready: false, reasons: ['starting'] };
        const reasons = Object.entries(this.host.status())
          .filter(([, s]) => !s.ready)
          .map(([name, s]) => `${name}: ${s.reason ?? s.state}`);
        return { ready: reasons.length === 0, reasons };
      },
      metrics: async () => ({ contentType: this.metrics.contentType, body: await this.metrics.metrics() }),
      status: () => this.status(),
      statusPage: async () => renderStatusPage(this.status(), countersByInstance(await this.metrics.metrics())),
    });
  }

  private status() {
    return {
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      startedAt: new Date(this.startedAt).toISOString(),
      state: this.shuttingDown ? 'shutting-down' : this.started ? 'running' : 'starting',
      config: {
        file: this.config.file,
        sha256: this.config.hash,
        ...(this.lastReload ? { lastReload: this.lastReload } : {}),
      },
      instances: this.host.status(),
    };
  }
}
