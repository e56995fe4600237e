// The config-sync runtime: poll the source (interval minus jitter, or backoff after errors),
// stage a changed version, validate it, publish it atomically, then hand it to the reload loop.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { backoffDelay, sleep, type HealthReport, type PluginContext, type PluginInstance, type StopOptions } from '../../src/plugin-api.ts';
import { AtomicPublisher } from './atomic-publisher.ts';
import type { ConfigSyncConfig } from './config-schema.ts';
import { asTargetError, ConfigSyncError, errorCode } from './errors.ts';
import { checkListing, diffManifest, manifestId } from './manifest.ts';
import { createReloadAction } from './reload-action.ts';
import { ReloadLoop } from './reload-loop.ts';
import type { Listing, Source } from './sources/source.ts';
import { stageVersion } from './stage-version.ts';
import { createSyncMetrics, type SyncMetrics } from './sync-metrics.ts';
import { loadState, saveState, type PublishedVersion, type SyncState } from './sync-state.ts';
import { validateVersion } from './validate-version.ts';

const MAX_FILES_IN_STATUS = 100;

interface LastError {
  code: string;
  message: string;
  at: string;
}

export class ConfigSync implements PluginInstance {
  private readonly config: ConfigSyncConfig;
  private readonly ctx: PluginContext;
  private readonly log: Logger;
  private readonly metrics: SyncMetrics;
  private readonly publisher: AtomicPublisher;
  private readonly source: Source;
  private readonly reloads?: ReloadLoop;
  private readonly pollAbort = new AbortController();
  private state: SyncState = {};
  private checked?: { listing: Listing; id: string };
  private loop?: Promise<void>;
  private stopping?: Promise<void>;
  private lock: Promise<unknown> = Promise.resolve();
  private failures = 0;
  private racedPolls = 0;
  private retryInMs?: number;
  private lastSuccessAt = 0;
  /** When the last poll ended and how (formatted for /status only when asked). */
  private lastPollAt = 0;
  private lastPollResult = '';
  /** The poll in progress, for its timeout and for stop (polls never overlap: exclusive()). */
  private inFlight?: AbortController;
  /** Every poll's timeout: one timer re-armed at each start, not a new timer and timer list per poll. */
  private pollTimer?: NodeJS.Timeout;
  private lastError?: LastError;
  private lastValidationError?: LastError;
  /** The state in memory is newer than dataDir's (a save failed): the next poll saves it first. */
  private stateDirty = false;

  constructor(config: ConfigSyncConfig, ctx: PluginContext, source: Source) {
    this.config = config;
    this.ctx = ctx;
    this.log = ctx.logger;
    this.metrics = createSyncMetrics(ctx.metrics);
    const target = ctx.resolvePath(config.target);
    this.publisher = new AtomicPublisher(target);
    this.source = source;
    if (config.reload) {
      this.reloads = new ReloadLoop({
        config: config.reload,
        action: createReloadAction(config.reload, target, ctx.resolvePath),
        logger: this.log,
        metrics: this.metrics,
        currentVersion: () => this.state.current?.generation ?? 0,
        target,
        onUnhealthy: (version, why) => this.exclusive(() => this.rollback(version, why)),
        onSettled: (version) => void this.exclusive(() => this.settleReload(version)),
      });
    }
  }

  async start(): Promise<void> {
    try {
      await this.publisher.init();
    } catch (err) {
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_PUBLISH', `cannot create target ${this.publisher.target}: ${(err as Error).message}`, { cause: err });
    }
    const saved = await loadState(this.ctx.dataDir);
    const live = await this.publisher.current();
    this.state = await this.recover(saved, live);
    // Staging directories of a run cut short (and a `..data_tmp`): only what is kept survives.
    await this.publisher.prune([this.state.current?.dir, this.state.previous?.dir, live].filter((d): d is string => !!d));
    this.updateVersionMetrics();
    this.log.info({ source: this.source.description, target: this.publisher.target, intervalMs: this.config.interval }, 'config sync started');
    if (this.state.reloadOwed !== undefined && this.reloads && this.state.current) {
      this.log.info({ version: this.state.current.generation }, 'the last run ended before the app was told (or found healthy) about the published version; reloading it now');
      this.reloads.request();
    } else if (this.state.reloadOwed !== undefined) {
      delete this.state.reloadOwed;
    }
    this.loop = this.run();
  }

  /**
   * The state to resume from, given what `..data` points at: the recorded version, or the one
   * recorded as about to go live (the run ended between the swap and the save after it).
   * Generations and rejected versions are kept in every case.
   */
  private async recover(saved: SyncState, live: string | undefined): Promise<SyncState> {
    const lastGeneration = Math.max(saved.lastGeneration ?? 0, saved.current?.generation ?? 0, saved.pending?.generation ?? 0);
    const state: SyncState = {
      ...(lastGeneration ? { lastGeneration } : {}),
      ...(saved.rejectedId ? { rejectedId: saved.rejectedId } : {}),
    };
    const kept = async (v: PublishedVersion | undefined) => (v && (await exists(join(this.publisher.target, v.dir))) ? v : undefined);
    if (saved.pending && saved.pending.dir === live) {
      const { rollback, cursor, ...version } = saved.pending;
      state.current = version;
      // After a rollback the version left behind is the rejected one, not a way back.
      const previous = rollback ? undefined : await kept(saved.current);
      if (previous && previous.dir !== version.dir) state.previous = previous;
      if (cursor) state.cursor = cursor;
      if (this.reloads) state.reloadOwed = version.generation;
      this.log.info({ version: version.generation, dir: version.dir }, 'adopted the version the last run published just before it ended');
    } else if (saved.current && saved.current.dir === live) {
      // Restart with the volume intact: keep serving what is there, republish nothing.
      state.current = saved.current;
      const previous = await kept(saved.previous);
      if (previous) state.previous = previous;
      if (saved.cursor) state.cursor = saved.cursor;
      if (saved.reloadOwed !== undefined && this.reloads) state.reloadOwed = saved.reloadOwed;
      this.log.info({ version: saved.current.generation, dir: saved.current.dir }, 'adopted the published version from the last run');
    } else if (live) {
      this.log.info({ dir: live }, 'target has a version this agent has no record of; it will be replaced by the next sync');
    }
    if (saved.pending || saved.reloadOwed !== state.reloadOwed) {
      this.stateDirty = true; // written by the first poll (not here: a full dataDir must not stop the start)
    }
    return state;
  }

  stop(opts: StopOptions): Promise<void> {
    this.stopping ??= this.doStop(opts);
    return this.stopping;
  }

  health(): HealthReport {
    const current = this.state.current;
    const ready = !this.config.requireInitialSync || current !== undefined;
    if (this.lastSuccessAt) this.metrics.sinceSuccess.set((Date.now() - this.lastSuccessAt) / 1000);
    const files = current ? Object.keys(current.files) : [];
    return {
      ready,
      ...(ready ? {} : { reason: this.lastError ? `no version published yet: ${this.lastError.message}` : 'waiting for the first sync' }),
      details: {
        source: this.source.description,
        target: this.publisher.target,
        version: current ? { generation: current.generation, id: current.id, dir: current.dir, publishedAt: current.publishedAt } : null,
        files: files.slice(0, MAX_FILES_IN_STATUS),
        ...(files.length > MAX_FILES_IN_STATUS ? { filesOmitted: files.length - MAX_FILES_IN_STATUS } : {}),
        previousVersion: this.state.previous ? { generation: this.state.previous.generation, id: this.state.previous.id } : null,
        lastPoll: this.lastPollAt ? { at: new Date(this.lastPollAt).toISOString(), result: this.lastPollResult } : null,
        lastSuccessAt: this.lastSuccessAt ? new Date(this.lastSuccessAt).toISOString() : null,
        consecutiveFailures: this.failures,
        retryInMs: this.failures ? (this.retryInMs ?? null) : null,
        lastError: this.lastError ?? null,
        lastValidationError: this.lastValidationError ?? null,
        lastReload: this.reloads?.last ?? null,
        reloadOwed: this.state.reloadOwed ?? null,
      },
    };
  }

  private async run(): Promise<void> {
    const signal = AbortSignal.any([this.pollAbort.signal, this.ctx.signal]);
    const onStop = () => this.inFlight?.abort(signal.reason);
    signal.addEventListener('abort', onStop, { once: true });
    try {
      await this.pollLoop(signal);
    } finally {
      signal.removeEventListener('abort', onStop);
      clearTimeout(this.pollTimer);
    }
  }

  private async pollLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let delay: number;
      try {
        await this.exclusive(() => this.poll(signal));
        this.failures = 0;
        this.racedPolls = 0;
        delay = Math.round(this.config.interval * (1 - Math.random() * this.config.jitter));
      } catch (err) {
        if (signal.aborted) break;
        if (errorCode(err) === 'ERR_SIDEKICK_SYNC_SOURCE_CHANGED' && this.racedPolls++ < 3) {
          this.log.debug({ err: (err as Error).message }, 'source changed during the poll; polling again');
          continue;
        }
        this.failures++;
        delay = backoffDelay(this.failures - 1, this.config.backoff.initial, this.config.backoff.max);
        this.recordPollError(err, delay);
        // A successful poll has just set it to 0.
        if (this.lastSuccessAt) this.metrics.sinceSuccess.set((Date.now() - this.lastSuccessAt) / 1000);
      }
      await sleep(delay, signal);
    }
  }

  private async poll(stop: AbortSignal): Promise<void> {
    // One controller per poll, not AbortSignal.any() on the long-lived stop signal, whose
    // dependants pile up in some Node versions: an aborted signal cannot be reused, and a
    // fresh one never carries a listener a past request left behind. The stop listener
    // (run()) and the timeout timer are made once and reach it through inFlight.
    const controller = new AbortController();
    const signal = controller.signal;
    this.inFlight = controller;
    if (stop.aborted) controller.abort(stop.reason);
    // unref: between polls the timer may still be armed, and must not hold the process.
    if (this.pollTimer) this.pollTimer.refresh();
    else this.pollTimer = setTimeout(() => this.inFlight?.abort(new ConfigSyncError('ERR_SIDEKICK_SYNC_TIMEOUT', 'poll timeout')), this.config.timeout).unref();
    let listing: Listing | undefined;
    try {
      if (this.stateDirty) await this.persist();
      listing = await this.source.list(this.state.cursor, signal);
      if (!listing) return this.pollDone('unchanged');
      // A source that saw nothing change hands back the very listing it gave last time
      // (S3: identical page bytes): its checks passed then, and its id is known.
      let id = this.checked?.listing === listing ? this.checked.id : undefined;
      if (id === undefined) {
        checkListing(listing.entries, this.config.limits);
        id = manifestId(listing.entries);
        this.checked = { listing, id };
      }
      if (id === this.state.current?.id || id === this.state.rejectedId) {
        if (listing.cursor) this.state.cursor = listing.cursor;
        return this.pollDone(id === this.state.current?.id ? 'unchanged' : 'unchanged (rejected version)');
      }
      await this.publish(listing, id, signal);
    } catch (err) {
      throw timeoutAware(err, signal, stop, this.config.timeout);
    } finally {
      this.inFlight = undefined;
    }
  }

  private async publish(listing: Listing, id: string, signal: AbortSignal): Promise<void> {
    const current = this.state.current;
    const diff = diffManifest(listing.entries, current?.files);
    const staged = await stageVersion({
      publisher: this.publisher,
      source: this.source,
      entries: listing.entries,
      current,
      limits: this.config.limits,
      signal,
      onBytes: (n) => this.metrics.bytes.inc(n),
    });
    const paths = listing.entries.map((e) => e.path);
    try {
      await validateVersion(join(this.publisher.target, staged.dir), paths, this.config.validate, signal);
    } catch (err) {
      await this.publisher.discard(staged.dir).catch(() => undefined);
      if (errorCode(err) !== 'ERR_SIDEKICK_SYNC_VALIDATION') throw err;
      this.state.rejectedId = id;
      if (listing.cursor) this.state.cursor = listing.cursor;
      this.metrics.validationFailures.inc();
      this.metrics.error('ERR_SIDEKICK_SYNC_VALIDATION').inc();
      this.lastValidationError = this.lastError = { code: 'ERR_SIDEKICK_SYNC_VALIDATION', message: (err as Error).message, at: new Date().toISOString() };
      this.log.error({ code: 'ERR_SIDEKICK_SYNC_VALIDATION', id, err }, 'new version failed validation; the published version stays');
      return this.pollDone('rejected');
    }
    const files: PublishedVersion['files'] = {};
    for (const e of listing.entries) files[e.path] = { fingerprint: e.fingerprint, size: e.size };
    const version: PublishedVersion = {
      dir: staged.dir,
      id,
      generation: Math.max(this.state.lastGeneration ?? 0, current?.generation ?? 0) + 1,
      publishedAt: new Date().toISOString(),
      files,
    };
    // Written before `..data` moves: a kill right after the swap must neither reuse this
    // generation nor forget the reload. A dataDir that cannot take it refuses the version.
    try {
      await this.persist({
        ...this.state,
        lastGeneration: version.generation,
        pending: { ...version, ...(listing.cursor ? { cursor: listing.cursor } : {}) },
        ...(this.reloads ? { reloadOwed: version.generation } : {}),
      });
    } catch (err) {
      await this.publisher.discard(staged.dir).catch(() => undefined);
      throw err;
    }
    let cleanupError: Error | undefined;
    try {
      cleanupError = await this.publisher.commit(staged.dir, topLevelNames(paths), current ? [current.dir] : []);
    } catch (err) {
      await this.publisher.discard(staged.dir).catch(() => undefined);
      this.stateDirty = true; // the journal names a version that did not go live: rewrite it
      const e = asTargetError(err, this.publisher.target);
      if (e instanceof ConfigSyncError) throw e;
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_PUBLISH', `cannot publish into ${this.publisher.target}: ${(err as Error).message}`, { cause: err });
    }
    if (cleanupError) this.log.warn({ err: cleanupError }, 'published, but removing old entries from the target failed');
    this.state = {
      current: version,
      lastGeneration: version.generation,
      ...(current ? { previous: current } : {}),
      ...(listing.cursor ? { cursor: listing.cursor } : {}),
      ...(this.reloads ? { reloadOwed: version.generation } : {}),
    };
    // In the same tick as the new version: /status and the metrics must never show it beside
    // the old error, failure count or counters (the poll loop's own reset comes after the awaits below).
    this.lastError = undefined;
    this.failures = 0;
    this.metrics.publishes.inc();
    this.metrics.added.inc(diff.added);
    this.metrics.modified.inc(diff.modified);
    this.metrics.deleted.inc(diff.deleted);
    this.updateVersionMetrics();
    // In the same tick too: the reload. A reload loop that ends while the save below waits on
    // the disk would otherwise tell the app about this version (it reads the current one) and
    // then be asked again for the same version: a third reload for a burst that owes one.
    this.reloads?.request();
    // Live already: a failed save is shown, retried by the next poll, and the reload still goes out.
    const saveError = await this.persist().then(() => undefined, (err: unknown) => err);
    this.log.info(
      { version: version.generation, id, dir: staged.dir, files: paths.length, ...diff, downloadedFiles: staged.downloadedFiles, downloadedBytes: staged.downloadedBytes },
      'published new version',
    );
    this.pollDone('changed');
    if (saveError) this.recordError(saveError, 'published, but saving the state failed; the next poll saves it again');
  }

  /** Health check failed after reloading `version`: go back to the previous version. */
  private async rollback(version: number, why: string): Promise<void> {
    const bad = this.state.current;
    const previous = this.state.previous;
    if (!bad || bad.generation !== version) return; // a newer version is already out; it gets its own reload
    this.lastError = { code: 'ERR_SIDEKICK_SYNC_UNHEALTHY', message: why, at: new Date().toISOString() };
    if (!previous) {
      this.log.error({ version }, 'app unhealthy after reload and there is no previous version to roll back to');
      await this.settleReload(version); // told, and nothing else to do: a restart need not tell it again
      return;
    }
    const lastGeneration = Math.max(this.state.lastGeneration ?? 0, bad.generation);
    // As for a publish: a kill during the swap back must still end on the previous version, reloaded.
    await this.persist({ ...this.state, rejectedId: bad.id, lastGeneration, pending: { ...previous, rollback: true }, reloadOwed: previous.generation });
    const cleanupError = await this.publisher.commit(previous.dir, topLevelNames(Object.keys(previous.files)), []);
    if (cleanupError) this.log.warn({ err: cleanupError }, 'rolled back, but removing the bad version from the target failed');
    this.state = {
      current: previous,
      rejectedId: bad.id,
      lastGeneration,
      reloadOwed: previous.generation,
      ...(this.state.cursor ? { cursor: this.state.cursor } : {}),
    };
    this.metrics.rollbacks.inc();
    this.updateVersionMetrics();
    this.reloads?.request(); // with the state change, as for a publish
    const saveError = await this.persist().then(() => undefined, (err: unknown) => err);
    if (saveError) this.recordError(saveError, 'rolled back, but saving the state failed; the next poll saves it again');
    this.log.warn({ from: bad.generation, to: previous.generation, badId: bad.id }, 'rolled back to the previous version');
  }

  /** The app was told about `version`: a restart no longer owes it a reload. */
  private async settleReload(version: number): Promise<void> {
    if (this.state.reloadOwed === undefined || this.state.current?.generation !== version) return;
    delete this.state.reloadOwed;
    await this.persist().catch((err: unknown) => this.recordError(err, 'saving the state after the reload failed; the next poll saves it again'));
  }

  /**
   * Saves `state` (a journal written before a swap) or, without it, the state in memory. A
   * failed save of the state in memory leaves it dirty, for the next poll to save first.
   */
  private async persist(state?: SyncState): Promise<void> {
    if (!state) this.stateDirty = true;
    await saveState(this.ctx.dataDir, state ?? this.state);
    if (!state) this.stateDirty = false;
  }

  /** An error outside a poll's own failure (the state after a swap): shown, counted, logged. */
  private recordError(err: unknown, what: string): void {
    const code = errorCode(err);
    this.metrics.error(code).inc();
    this.lastError = { code, message: (err as Error).message, at: new Date().toISOString() };
    this.log.error({ code, err: (err as Error).message }, what);
  }

  private pollDone(result: string): void {
    this.lastSuccessAt = this.lastPollAt = Date.now();
    this.lastPollResult = result;
    this.metrics.lastSuccess.set(this.lastSuccessAt / 1000);
    this.metrics.sinceSuccess.set(0);
    (result === 'changed' ? this.metrics.pollChanged : this.metrics.pollUnchanged).inc();
    if (result === 'unchanged' && this.lastError?.code !== 'ERR_SIDEKICK_SYNC_VALIDATION' && this.lastError?.code !== 'ERR_SIDEKICK_SYNC_UNHEALTHY') {
      this.lastError = undefined;
    }
    if (result === 'changed') this.lastError = undefined;
  }

  private recordPollError(err: unknown, retryInMs: number): void {
    const code = errorCode(err);
    const message = (err as Error).message;
    this.metrics.pollError.inc();
    this.metrics.error(code).inc();
    this.retryInMs = retryInMs;
    this.lastPollAt = Date.now();
    this.lastPollResult = 'error';
    this.lastError = { code, message, at: new Date(this.lastPollAt).toISOString() };
    this.log.warn({ code, err: message, attempt: this.failures, retryInMs }, 'poll failed; the published version keeps serving');
  }

  private updateVersionMetrics(): void {
    this.metrics.version.set(this.state.current?.generation ?? 0);
    this.metrics.files.set(this.state.current ? Object.keys(this.state.current.files).length : 0);
  }

  /** Polls and rollbacks both move `..data`: one at a time. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  private async doStop(opts: StopOptions): Promise<void> {
    this.pollAbort.abort();
    const onDeadline = () => this.reloads?.destroy();
    opts.signal.addEventListener('abort', onDeadline, { once: true });
    try {
      await this.loop;
      await this.lock;
      // A reload already owed to the app still goes out, until the deadline.
      await this.reloads?.idle();
      await this.lock; // the last reload's settling
    } finally {
      opts.signal.removeEventListener('abort', onDeadline);
      this.source.close?.();
    }
  }
}

function topLevelNames(paths: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const p of paths) names.add(p.split('/', 1)[0]!);
  return names;
}

function timeoutAware(err: unknown, signal: AbortSignal, stop: AbortSignal, timeout: number): unknown {
  if (signal.aborted && !stop.aborted) {
    return new ConfigSyncError('ERR_SIDEKICK_SYNC_TIMEOUT', `poll did not finish within ${timeout} ms (timeout)`, { cause: err });
  }
  if (err instanceof ConfigSyncError) return err;
  const e = err as Error & { code?: string; cause?: { code?: string }; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const detail = e.cause?.code ?? e.code ?? (status ? `HTTP ${status}` : undefined);
  return new ConfigSyncError('ERR_SIDEKICK_SYNC_SOURCE', `source error: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}${detail && !e.message.includes(detail) ? ` (${detail})` : ''}`, { cause: err });
}

function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}
