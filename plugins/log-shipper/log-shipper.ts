// The running log-shipper: discovery -> trackers (read by offset) -> event builder ->
// delivery (batches, retries, dead letters) -> acknowledged offsets -> checkpoints.
// All file reads and rotation checks run in ONE loop (the pump), so a tracker is never
// read and replaced at the same time.
import { stat } from 'node:fs/promises';
import type { HealthReport, PluginContext, PluginInstance, StopOptions } from '../../src/plugin-api.ts';
import { BacklogProgress } from './backlog-progress.ts';
import type { LogShipperConfig } from './config-schema.ts';
import { CheckpointStore, type Checkpoint, PartlyUnreadableCheckpoints, UnreadableCheckpoints } from './checkpoint-store.ts';
import { DeadLetter } from './dead-letter.ts';
import { Delivery } from './delivery.ts';
import type { Sink } from './event.ts';
import { EventBuilder } from './event-builder.ts';
import { FileDiscovery } from './file-discovery.ts';
import { type OpenFile, fingerprint, openFile } from './file-identity.ts';
import { FileTracker, type ReadOptions } from './file-tracker.ts';
import { ShipperMetrics } from './metrics.ts';
import { RecordEncoder } from './record.ts';
import { findMissedRotations } from './missed-rotations.ts';
import { planRestore } from './restore-plan.ts';
import { findRotated } from './rotated-file-finder.ts';
import { createSink } from './sinks/create-sink.ts';

export class LogShipper implements PluginInstance {
  private readonly config: LogShipperConfig;
  private readonly ctx: PluginContext;
  private readonly discovery: FileDiscovery;
  private readonly store: CheckpointStore;
  private readonly metrics: ShipperMetrics;
  private readonly encoder: RecordEncoder;
  private readonly readOpts: ReadOptions;
  private readonly readBuf: Buffer;
  private readonly fpScratch: Buffer;
  private sink?: Sink;
  private delivery?: Delivery;
  private builder?: EventBuilder;
  /** The tracker currently reading each watched path. */
  private readonly active = new Map<string, FileTracker>();
  /** Renamed, deleted or copied-away files still being read to their end. */
  private readonly draining = new Set<FileTracker>();
  /** Closed, but some of their events are not acknowledged yet: still checkpointed. */
  private readonly retired = new Set<FileTracker>();
  /**
   * Files read to their end and closed, by device:inode. Remembered (and checkpointed) so a
   * rotated file that the globs also match (app.log.1 for `*.log*`) is not read again.
   */
  private readonly finished = new Map<string, Checkpoint>();
  /** Trackers replaced after a truncation: their identity is stale and must not be remembered. */
  private readonly superseded = new WeakSet<FileTracker>();
  /**
   * Truncated trackers whose unacknowledged bytes the copy's tracker checkpoints instead: the
   * copy holds the same bytes at the same offsets, so their acknowledgements move the copy's offset.
   */
  private readonly handedOver = new WeakMap<FileTracker, FileTracker>();
  /** Paths seen by the watcher and not yet opened. */
  private readonly seenQueue = new Set<string>();
  private restored = false;
  private stopped = false;
  /** Bytes acknowledged by the sink since start, for the backlog's rate. */
  private ackedBytes = 0;
  private readonly progress: BacklogProgress;
  private progressTimer?: NodeJS.Timeout;
  private wake: (() => void) | undefined;
  private pumping?: Promise<void>;
  private stopping?: Promise<void>;
  private lastError: { message: string; at: string } | undefined;

  constructor(config: LogShipperConfig, ctx: PluginContext) {
    this.config = config;
    this.ctx = ctx;
    const resolve = (g: string) => ctx.resolvePath(g);
    this.discovery = new FileDiscovery(config.include.map(resolve), config.exclude.map(resolve));
    // What the next rotation check would look for (readMissed), a restart looks for instead.
    this.store = new CheckpointStore(ctx.dataDir, () => this.checkpoints(), () => this.lastCheck - this.config.pollInterval);
    this.metrics = new ShipperMetrics(ctx.metrics, config.buffer);
    this.encoder = new RecordEncoder(config.labels);
    this.readOpts = { maxLineSize: config.maxLineSize, partialLineTimeout: config.partialLineTimeout, fingerprintSize: config.fingerprintSize };
    this.readBuf = Buffer.allocUnsafe(config.readBufferSize);
    this.fpScratch = Buffer.allocUnsafe(config.fingerprintSize);
    this.progress = new BacklogProgress(config.progress.minBacklog, ctx.logger);
  }

  async start(): Promise<void> {
    const { config, ctx } = this;
    this.sink = await createSink(config.sink, { ctx, encoder: this.encoder, labels: config.labels });
    const deadLetter = new DeadLetter(config.deadLetterFile ? ctx.resolvePath(config.deadLetterFile) : `${ctx.dataDir}/dead-letter.ndjson`);
    const m = this.metrics;
    this.delivery = new Delivery(this.sink, { ...config.batch, ...config.retry, buffer: config.buffer }, deadLetter, {
      acked: (batch) => {
        for (const [t, off] of batch.marks) {
          if (off > t.ackedOffset) {
            this.ackedBytes += off - t.ackedOffset;
            t.ackedOffset = off;
          }
          const copy = this.handedOver.get(t);
          if (copy && off > copy.ackedOffset) copy.ackedOffset = off;
        }
        m.batchesAcked.inc();
        this.store.save().catch((err) => this.error('cannot write checkpoints', err));
        this.kick();
      },
      sent: (n) => m.eventsSent.inc(n),
      retried: (error, delayMs) => {
        m.batchesRetried.inc();
        ctx.logger.warn({ error, delayMs: Math.round(delayMs) }, 'sink failed; retrying batch');
      },
      deadLettered: (n, error) => {
        m.batchesDeadLettered.inc();
        m.eventsDeadLettered.inc(n);
        ctx.logger.error({ events: n, error, file: deadLetter.path }, 'sink rejected events permanently; written to the dead-letter file');
      },
      deadLetterFailed: (error, delayMs) => ctx.logger.error({ error, delayMs: Math.round(delayMs) }, 'rejected events not written to the dead-letter file; retrying (the batch stays unacknowledged)'),
    });
    this.builder = new EventBuilder(config, this.delivery);
    const checkpoints = await this.store.load().catch((err) => {
      if (err instanceof PartlyUnreadableCheckpoints) {
        this.error('some checkpoints lost: their files will be read again from their start', err);
        return err.usable;
      }
      if (!(err instanceof UnreadableCheckpoints)) throw err;
      this.error('checkpoints lost: files will be read again from their start', err);
      return [];
    });
    await this.discovery.start({
      seen: (p) => {
        const t = this.active.get(p);
        if (t) t.dirty = true;
        else this.seenQueue.add(p);
        this.kick();
      },
      gone: () => this.kick(),
      error: (err) => this.error('file watcher error', err),
    });
    await this.restore(checkpoints);
    this.restored = true;
    this.pumping = this.pump().catch((err) => {
      this.error('tailer failed', err);
      ctx.fail(err as Error);
    });
    ctx.logger.info({ files: [...this.active.keys()], include: config.include, sink: config.sink.type, behindBytes: this.behind() }, 'log-shipper tailing');
    this.progress.begin(this.ackedBytes);
    this.progressTimer = setInterval(() => this.progress.sample(this.behind(), this.ackedBytes), config.progress.interval).unref();
  }

  stop(opts: StopOptions): Promise<void> {
    this.stopping ??= this.doStop(opts);
    return this.stopping;
  }

  health(): HealthReport {
    const files = [...this.active.values(), ...this.draining].map((t) => t.snapshot());
    const details = {
      sink: this.config.sink.type,
      files,
      buffer: { usedBytes: this.delivery?.buffered ?? 0, limitBytes: this.config.buffer },
      pendingBatches: this.delivery?.pendingBatches ?? 0,
      ...(this.progress.report() ? { progress: this.progress.report() } : {}),
      ...(this.lastError || this.delivery?.lastError ? { lastError: newest(this.lastError, this.delivery?.lastError) } : {}),
    };
    return this.restored ? { ready: true, details } : { ready: false, reason: 'restoring checkpoints', details };
  }

  /** Bytes in the tailed files not yet acknowledged by the sink. */
  private behind(): number {
    let bytes = 0;
    for (const t of this.active.values()) bytes += t.lag;
    for (const t of this.draining) bytes += t.lag;
    return bytes;
  }

  private async doStop({ signal }: StopOptions): Promise<void> {
    this.stopped = true;
    clearInterval(this.progressTimer);
    this.kick();
    await this.pumping;
    await this.discovery.close();
    const delivery = this.delivery;
    if (delivery) {
      this.builder?.flushIdle(Number.POSITIVE_INFINITY);
      const aborted = new Promise<void>((r) => (signal.aborted ? r() : signal.addEventListener('abort', () => r(), { once: true })));
      await Promise.race([delivery.flush(), aborted]);
      delivery.destroy();
    }
    await this.store.save().catch((err) => this.error('cannot write checkpoints', err));
    await this.sink?.close().catch(() => {});
    for (const t of [...this.active.values(), ...this.draining]) await t.close();
    this.ctx.logger.info({ unacknowledgedBytes: delivery?.buffered ?? 0 }, 'log-shipper stopped');
  }

  /** Resume every checkpointed file, and find where files rotated while we were down went. */
  private async restore(checkpoints: Checkpoint[]): Promise<void> {
    const opts = { readFrom: this.config.readFrom, savedAt: this.store.savedAt, unseenSince: this.store.unseenSince, excluded: (p: string) => this.discovery.excluded(p) };
    const plan = await planRestore(this.takeSeen(), checkpoints, opts, this.fpScratch);
    for (const r of plan.rotated) this.ctx.logger.info(r, 'file rotated while stopped; reading the rest');
    for (const file of plan.missed) this.ctx.logger.info({ file }, 'file created and rotated while stopped; reading it');
    for (const l of plan.lost) this.lost(l.path, l.bytes);
    for (const o of plan.open) await this.track(o.file, o.offset === 'end' ? o.file.st.size : o.offset, o.state, undefined, false);
    // Files found again under new names, and files lost, are settled now, not at the first acknowledgement.
    await this.persist();
  }

  /**
   * Writes the checkpoints now. Every file is in them from the moment it is tracked (offset
   * 0 included): a file only checkpointed once something of it was acknowledged is forgotten
   * if the agent dies before that and the file is rotated away.
   */
  private persist(): Promise<void> {
    return this.store.save().catch((err) => this.error('cannot write checkpoints', err));
  }

  private takeSeen(): string[] {
    const paths = [...this.seenQueue];
    this.seenQueue.clear();
    return paths;
  }

  /** A path the watcher reported that no active tracker reads under that name. */
  private async openSeen(path: string, persist = true): Promise<void> {
    const file = await this.open(path);
    if (!file) return;
    const { st, fh } = file;
    const same = (t: FileTracker) => t.dev === st.dev && t.ino === st.ino;
    let offset = 0;
    let acked: number | undefined;
    // Renamed while we read it under its old name (the rotation check may not have run yet).
    if ([...this.active.values()].some(same)) {
      await fh.close();
      return;
    }
    const drainer = [...this.draining].find(same);
    if (drainer) {
      if (st.size >= drainer.readOffset && (await drainer.fingerprintHolds(this.fpScratch))) {
        await fh.close();
        return;
      }
      // Inode reuse: the rotated file still being drained was emptied and renamed back to a live
      // name (found by the soak). Its old content is gone; the new content is a new file, read from 0.
      await this.endReused(drainer);
    }
    const retired = [...this.retired].find((t) => same(t) && !this.superseded.has(t));
    const key = `${st.dev}:${st.ino}`;
    const known = retired ?? this.finished.get(key);
    if (known && (retired !== undefined || verifiable(known as Checkpoint)) && (await fingerprint(fh, known.fpLen, this.fpScratch)) === known.fpHash) {
      // Read before under another name: go on from where that left off, never from 0.
      if (retired) {
        offset = retired.readOffset;
        acked = retired.ackedOffset;
        this.retired.delete(retired);
      } else offset = this.finished.get(key)!.offset;
    }
    this.finished.delete(key); // matched, or a stale entry of a reused inode
    await this.track(file, offset, 'active', acked, persist);
  }

  private async open(path: string): Promise<OpenFile | undefined> {
    try {
      return await openFile(path, this.fpScratch);
    } catch (err) {
      this.error(`cannot open ${path}`, err);
      return undefined;
    }
  }

  private async track(file: OpenFile, offset: number, state: 'active' | 'draining', acked?: number, persist = true): Promise<FileTracker> {
    const t = new FileTracker(file.path, file.fh, file.st, Math.min(offset, file.st.size), file.head);
    if (acked !== undefined) t.ackedOffset = acked;
    t.state = state;
    if (state === 'active') this.active.set(file.path, t);
    else this.draining.add(t);
    this.ctx.logger.debug({ file: file.path, offset: t.readOffset, state }, 'tracking file');
    if (persist) await this.persist();
    return t;
  }

  private async pump(): Promise<void> {
    const { pollInterval, buffer } = this.config;
    const delivery = this.delivery!;
    const builder = this.builder!;
    let nextCheck = 0;
    while (!this.stopped) {
      let now = Date.now();
      if (now >= nextCheck) {
        await this.checkFiles(now);
        this.lastCheck = now;
        nextCheck = now + pollInterval;
      }
      // Many files at once (a burst of new files) share one checkpoint write, still before any is read.
      const seen = this.takeSeen().filter((p) => !this.active.has(p));
      for (const p of seen) await this.openSeen(p, false);
      if (seen.length > 0) await this.persist();
      let more = false;
      for (const t of [...this.active.values(), ...this.draining]) {
        if (!t.dirty || this.stopped) continue;
        if (delivery.buffered + builder.heldBytes >= buffer) break;
        now = Date.now();
        builder.now = now;
        const before = t.readOffset;
        const lines = builder.lines;
        const fpLen = t.fpLen;
        const read = await t.readChunk(this.readBuf, this.readOpts, builder, now, this.fpScratch);
        if (read === 'changed') {
          // Truncated and written again since the last read: reading on would ship the middle of new content.
          if (t.state === 'active') await this.truncated(t);
          else await this.endReused(t);
          more = true;
          continue;
        }
        t.dirty = read;
        // The read grew the identity (it covers what is read, so an entry's offset never passes
        // its fingerprint): save it, a stronger one to find the file by after a crash.
        if (t.fpLen !== fpLen) {
          void this.persist();
          if (fpLen === 0 && t.fpLen > 0) await this.firstContent(t);
        }
        this.metrics.readBytes.inc(t.readOffset - before);
        this.metrics.readLines.inc(builder.lines - lines);
        more ||= t.dirty;
      }
      this.metrics.bufferBytes.set(delivery.buffered);
      if (this.stopped) break;
      if (delivery.buffered + builder.heldBytes >= buffer) {
        // Full: the files on disk are the buffer until the sink acknowledges something.
        // Waits for room for what the builder holds too: waiting on the delivery buffer alone
        // resolved at once when the held batch made it full, a loop of promises only that starved
        // the timer meant to seal that batch (found by the copytruncate-twice test: a hang).
        await Promise.race([delivery.waitForSpace(buffer - builder.heldBytes), this.sleep(pollInterval)]);
        // A file left mid-way may have been truncated and refilled meanwhile (copytruncate while the
        // sink was down: found by the copytruncate-twice test, 300 lines lost 1 run in 5).
        for (const t of this.active.values()) t.verifyFirst = true;
        for (const t of this.draining) t.verifyFirst = true;
      } else if (!more) {
        if (this.config.batch.sendWhenCaughtUp && builder.heldBytes === 0) delivery.caughtUp();
        await this.sleep(Math.max(0, nextCheck - Date.now()));
      }
    }
  }

  /** Rotation, truncation, deletion and growth checks; also closes drained files. */
  /** When the previous rotation check ran (ms). */
  private lastCheck = Date.now();

  private async checkFiles(now: number): Promise<void> {
    for (const t of [...this.active.values()]) {
      const st = await stat(t.path).catch(() => undefined);
      if (!st || st.ino !== t.ino || st.dev !== t.dev) {
        // Renamed or deleted: the descriptor still holds the data; read it to its end.
        this.active.delete(t.path);
        t.state = 'draining';
        this.draining.add(t);
        this.metrics.rotations.labels({ kind: st ? 'rename' : 'delete' }).inc();
        this.ctx.logger.info({ file: t.path, kind: st ? 'rename' : 'delete' }, 'file rotated; draining the old one');
        // Its size as it stands, saved below: a deleted file killed before it was read to its
        // end is counted lost by that size (a test under load counted only what had been read).
        t.size = Math.max(t.size, (await t.fh.stat()).size);
        if (st?.isFile() && this.discovery.matches(t.path)) await this.openSeen(t.path, false);
        await this.persist();
        if (st) await this.readMissed(t.path);
        continue;
      }
      const fst = await t.fh.stat();
      const size = fst.size;
      // Read to the end, no watch event since, and not written since the last check (a truncation
      // or any write moves mtime): no fingerprint read and no read, so an idle file costs two stats.
      if (!t.dirty && size === t.readOffset && size === t.size && fst.mtimeMs === t.mtimeMs) continue;
      t.mtimeMs = fst.mtimeMs;
      const fpLen = t.fpLen;
      if (size < t.readOffset || !(await t.checkIdentity(this.config.fingerprintSize, this.fpScratch))) {
        await this.truncated(t);
        continue;
      }
      if (size > t.size) {
        t.size = size;
        t.lastGrowth = now;
      }
      t.dirty = true;
      // A stronger identity to find the file by after a crash (an empty file has none yet).
      if (t.fpLen !== fpLen) void this.persist();
      if (fpLen === 0 && t.fpLen > 0) await this.firstContent(t);
    }
    for (const t of [...this.draining]) {
      const size = (await t.fh.stat()).size;
      if (size > t.size) {
        t.size = size;
        t.lastGrowth = now;
      }
      t.dirty = true;
      if (t.readOffset < size || now - t.lastGrowth < this.config.rotateWait) continue;
      await t.readChunk(this.readBuf, { ...this.readOpts, partialLineTimeout: 0 }, this.builder!, now);
      this.builder!.flushIdle(now, t);
      this.draining.delete(t);
      this.retired.add(t);
      await t.close();
      this.ctx.logger.info({ file: t.path, bytes: t.readOffset }, 'finished rotated file');
    }
    this.builder!.flushIdle(now);
    for (const t of this.retired) {
      if (t.ackedOffset < t.readOffset) continue;
      this.retired.delete(t);
      if (!this.superseded.has(t)) this.remember(t);
    }
    this.metrics.update(this.active, this.draining);
  }

  /**
   * Rotated twice between two checks (found by the soak): a file created under the live name and
   * renamed away before any check saw it sits under a rotated name with no tracker. Written since
   * the previous check and not known by identity, it is read from 0, as at a restart.
   */
  private async readMissed(path: string, copiedFrom?: FileTracker): Promise<void> {
    const known = this.checkpoints();
    const tracked = new Set([...this.active.values(), ...this.draining].map((d) => `${d.dev}:${d.ino}`));
    const missed = await findMissedRotations(
      [...known, { path, dev: -1, ino: -1, fpLen: 0, fpHash: '', offset: 0, size: 0 }],
      { since: this.lastCheck - this.config.pollInterval, skip: (p) => this.active.has(p), taken: (st) => tracked.has(`${st.dev}:${st.ino}`), scratch: this.fpScratch },
    );
    for (const file of missed) {
      if (copiedFrom && (await this.copyOfRead(file, copiedFrom))) {
        await file.fh.close();
        continue;
      }
      this.ctx.logger.info({ file: file.path }, 'file created and rotated between two checks; reading it');
      await this.track(file, 0, 'draining');
    }
  }

  /**
   * A live file tracked while empty has just shown its first bytes. Content written and then
   * copytruncated between two looks (found by the soak: 5 lines lost) left no trace in it: no
   * identity to mismatch, no offset to exceed. Only the copy holds that content: look for it.
   */
  private async firstContent(t: FileTracker): Promise<void> {
    if (t.state === 'active' && t.fpLen > 0) await this.readMissed(t.path);
  }

  /** A copy of what `t` already read (its first bytes, no longer than that): nothing in it to read. */
  private async copyOfRead(file: OpenFile, t: FileTracker): Promise<boolean> {
    return t.fpLen > 0 && file.st.size <= t.readOffset && (await fingerprint(file.fh, t.fpLen, this.fpScratch)) === t.fpHash;
  }

  /** copytruncate or plain truncation: read what the copy still holds, then restart at 0. */
  private async truncated(t: FileTracker): Promise<void> {
    this.metrics.rotations.labels({ kind: 'truncate' }).inc();
    // Files read already, by identity: a draining tracker's name is stale once logrotate shifted
    // it (app.log.1 -> app.log.2), and its old name may now be this truncation's copy.
    const tracked = new Set([...this.active.values(), ...this.draining].map((d) => `${d.dev}:${d.ino}`));
    const skip = (e: { dev: number; ino: number }) => tracked.has(`${e.dev}:${e.ino}`);
    // A copy holding nothing unread is still needed while some of what was read is unacknowledged.
    const copy = await findRotated(t.path, { dev: -1, ino: -1, fpLen: t.fpLen, fpHash: t.fpHash, offset: t.ackedOffset }, skip, this.fpScratch);
    this.ctx.logger.info({ file: t.path, offset: t.readOffset, copy: copy?.file.path }, 'file truncated; restarting at 0');
    // t stays checkpointed until the copy is: a crash in between still finds the copy by t's first bytes.
    // The copy's tracker starts at t's acknowledged offset, so what t read but the sink has not
    // acknowledged is read again from the copy after a crash.
    if (copy) {
      this.handedOver.set(t, await this.track(copy.file, t.readOffset, 'draining', t.ackedOffset));
    } else if (t.size > t.readOffset && !this.beingRead(t)) this.lost(t.path, t.size - t.readOffset);
    // A fresh tracker, so late acknowledgements for the old content cannot move the new offsets.
    this.active.delete(t.path);
    this.retired.add(t);
    this.superseded.add(t);
    await t.close();
    const file = await this.open(t.path);
    if (file) await this.track(file, 0, 'active');
    // copytruncate twice between two checks (found by the soak): the second copy holds lines
    // written after the first truncation, which no tracker saw; found as a rename's are.
    await this.readMissed(t.path, t);
  }

  /**
   * Another tracker reads, from its start, a file that starts as `t` did: the copy, found as a
   * missed rotation before the truncation was noticed (a test under load: a false LOG LINES LOST
   * for lines that all arrived). Nothing of `t` is lost then.
   */
  private beingRead(t: FileTracker): boolean {
    return [...this.draining].some((d) => d !== t && d.startsWith(t));
  }

  /** A drained file emptied and written again (its inode reused): its old content is gone, stop reading it. */
  private async endReused(t: FileTracker): Promise<void> {
    if (!this.draining.delete(t)) return;
    this.ctx.logger.info({ file: t.path, offset: t.readOffset }, 'rotated file emptied and reused; no more to read from it');
    this.superseded.add(t);
    this.retired.add(t);
    if (t.size > t.readOffset) this.lost(t.path, t.size - t.readOffset);
    await t.close();
  }

  private lost(path: string, bytes: number): void {
    this.metrics.lostBytes.inc(bytes);
    this.ctx.logger.error({ file: path, bytes }, 'LOG LINES LOST: file removed or truncated before it was shipped');
  }

  private remember(t: FileTracker): void {
    this.finished.set(`${t.dev}:${t.ino}`, { ...checkpointOf(t), done: true });
    // Bounded: the oldest entries go first (their files are long gone in any real rotation scheme).
    if (this.finished.size > 10_000) this.finished.delete(this.finished.keys().next().value!);
  }

  private checkpoints(): Checkpoint[] {
    const out: Checkpoint[] = [...this.finished.values()];
    for (const t of [...this.active.values(), ...this.draining, ...this.retired]) {
      if ((t.state === 'closed' && t.ackedOffset >= t.readOffset) || this.handedOver.has(t)) continue;
      out.push(checkpointOf(t));
    }
    return out;
  }

  private kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => this.kick(), ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private error(what: string, err: unknown): void {
    const message = `${what}: ${(err as Error).message}`;
    this.lastError = { message, at: new Date().toISOString() };
    this.ctx.logger.error({ err }, what);
  }
}

/** An empty fingerprint with an offset past 0 says nothing of the content: the inode may be reused. */
function verifiable(c: { fpLen: number; offset: number }): boolean {
  return c.fpLen > 0 || c.offset === 0;
}

function checkpointOf(t: FileTracker): Checkpoint {
  return { path: t.path, dev: t.dev, ino: t.ino, fpLen: t.fpLen, fpHash: t.fpHash, offset: t.ackedOffset, size: t.size };
}

function newest<T extends { at: string }>(a: T | undefined, b: T | undefined): T | undefined {
  if (!a) return b;
  if (!b) return a;
  return a.at > b.at ? a : b;
}
