// Tells the app about new versions, one reload at a time: publishes that arrive while a
// reload runs (or during `debounce`) are coalesced into a single next reload. With a health
// check, an app that does not come back healthy makes the owner roll back and reload again.
import type { Logger } from 'pino';
import { sleep } from '../../src/plugin-api.ts';
import type { ReloadConfig } from './config-schema.ts';
import { errorCode } from './errors.ts';
import { expectedBody, waitHealthy } from './health-probe.ts';
import type { ReloadAction } from './reload-action.ts';
import type { SyncMetrics } from './sync-metrics.ts';

export interface ReloadReport {
  at: string;
  version: number;
  result: 'ok' | 'skipped' | 'error' | 'unhealthy';
  detail: string;
  code?: string;
}

export class ReloadLoop {
  last?: ReloadReport;
  private pending = false;
  private running?: Promise<void>;
  private readonly config: ReloadConfig;
  private readonly action: ReloadAction;
  private readonly logger: Logger;
  private readonly metrics: SyncMetrics;
  private readonly currentVersion: () => number;
  private readonly target: string;
  private readonly onUnhealthy: (version: number, why: string) => Promise<void>;
  private readonly onSettled: (version: number) => void;
  private readonly abort = new AbortController();

  constructor(opts: {
    config: ReloadConfig;
    action: ReloadAction;
    logger: Logger;
    metrics: SyncMetrics;
    currentVersion: () => number;
    /** The published directory: healthCheck.expectBody reads {file:PATH} from it. */
    target: string;
    onUnhealthy: (version: number, why: string) => Promise<void>;
    /** The app was told about `version` (and, with a health check, serves it healthily). */
    onSettled: (version: number) => void;
  }) {
    this.config = opts.config;
    this.action = opts.action;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    this.currentVersion = opts.currentVersion;
    this.target = opts.target;
    this.onUnhealthy = opts.onUnhealthy;
    this.onSettled = opts.onSettled;
  }

  request(): void {
    this.pending = true;
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when no reload is running or pending (drain on stop). */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Give up at once: an in-flight HTTP call or command is aborted. */
  destroy(): void {
    this.abort.abort();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (this.pending && !signal.aborted) {
      if (this.config.debounce > 0) await sleep(this.config.debounce, signal);
      this.pending = false;
      const version = this.currentVersion();
      const check = this.config.healthCheck;
      // What the app must answer once it serves this version: read now, before a later
      // publish can replace the files.
      let expected: string | undefined;
      let unverifiable: string | undefined;
      if (check?.expectBody) {
        try {
          expected = await expectedBody(check.expectBody, this.target);
        } catch (err) {
          unverifiable = (err as Error).message;
        }
      }
      try {
        const detail = await this.action(signal);
        this.metrics.reloadOk.inc();
        this.last = { at: new Date().toISOString(), version, result: 'ok', detail };
        this.logger.info({ version, detail }, 'app reloaded');
      } catch (err) {
        const code = errorCode(err);
        if (code === 'ERR_SIDEKICK_SYNC_APP_NOT_STARTED') {
          this.metrics.reloadSkipped.inc();
          this.last = { at: new Date().toISOString(), version, result: 'skipped', detail: (err as Error).message, code };
          this.logger.info({ version }, (err as Error).message);
          this.onSettled(version);
          continue;
        }
        this.metrics.reloadError.inc();
        this.last = { at: new Date().toISOString(), version, result: 'error', detail: (err as Error).message, code };
        this.logger.error({ version, code, err }, 'reload failed');
        continue;
      }
      if (signal.aborted) continue;
      if (!check) {
        this.onSettled(version);
        continue;
      }
      let why: string;
      if (unverifiable) why = unverifiable;
      else {
        const { healthy, last } = await waitHealthy(check, signal, expected);
        if (healthy && this.last?.version === version) this.last = { ...this.last, detail: `${this.last.detail}; then healthy (${last})` };
        // Cut short by the stop deadline: still owed, settled by the next start.
        if (signal.aborted) continue;
        if (healthy) {
          this.onSettled(version);
          continue;
        }
        why = `app not healthy at ${check.url} within ${check.timeout} ms after reload (last: ${last})`;
      }
      this.last = { at: new Date().toISOString(), version, result: 'unhealthy', detail: why, code: 'ERR_SIDEKICK_SYNC_UNHEALTHY' };
      this.logger.error({ version, code: 'ERR_SIDEKICK_SYNC_UNHEALTHY' }, why);
      try {
        await this.onUnhealthy(version, why);
      } catch (err) {
        this.logger.error({ version, code: errorCode(err), err }, 'rollback failed; the unhealthy version stays published');
      }
    }
  }
}
