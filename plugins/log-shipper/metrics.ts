// The log-shipper's metrics (sidekick_log_shipper_*). Children are bound once here,
// so the hot path only calls inc()/set().
import type { PluginMetrics } from '../../src/plugin-api.ts';
import type { FileTracker } from './file-tracker.ts';

export class ShipperMetrics {
  readonly readBytes;
  readonly readLines;
  readonly eventsSent;
  readonly batchesAcked;
  readonly batchesRetried;
  readonly batchesDeadLettered;
  readonly eventsDeadLettered;
  readonly lostBytes;
  readonly rotations;
  readonly bufferBytes;
  private readonly filesTracked;
  private readonly fileLag;
  private readonly lagged = new Set<string>();

  constructor(m: PluginMetrics, bufferLimit: number) {
    this.readBytes = m.counter({ name: 'sidekick_log_shipper_read_bytes_total', help: 'Bytes read from log files and turned into events' });
    this.readLines = m.counter({ name: 'sidekick_log_shipper_read_lines_total', help: 'Lines read from log files' });
    this.eventsSent = m.counter({ name: 'sidekick_log_shipper_events_sent_total', help: 'Events accepted by the sink' });
    const batches = m.counter({ name: 'sidekick_log_shipper_batches_total', help: 'Batches by outcome', labelNames: ['result'] });
    this.batchesAcked = batches.labels({ result: 'acknowledged' });
    this.batchesRetried = batches.labels({ result: 'retried' });
    this.batchesDeadLettered = batches.labels({ result: 'dead_lettered' });
    this.eventsDeadLettered = m.counter({ name: 'sidekick_log_shipper_dead_lettered_events_total', help: 'Events written to the dead-letter file' });
    this.lostBytes = m.counter({ name: 'sidekick_log_shipper_lost_bytes_total', help: 'Bytes of files removed or truncated before they were shipped' });
    this.rotations = m.counter({ name: 'sidekick_log_shipper_rotations_total', help: 'Rotations seen, by kind', labelNames: ['kind'] });
    this.bufferBytes = m.gauge({ name: 'sidekick_log_shipper_buffer_bytes', help: 'Bytes of events read and not yet acknowledged' });
    m.gauge({ name: 'sidekick_log_shipper_buffer_limit_bytes', help: 'Configured buffer size' }).set(bufferLimit);
    this.filesTracked = m.gauge({ name: 'sidekick_log_shipper_files_tracked', help: 'Files open and being read' });
    this.fileLag = m.gauge({ name: 'sidekick_log_shipper_file_lag_bytes', help: 'File size minus acknowledged offset', labelNames: ['file'] });
  }

  /** Called on each poll tick, not per line. */
  update(active: Map<string, FileTracker>, draining: Set<FileTracker>): void {
    this.filesTracked.set(active.size + draining.size);
    const now = new Set<string>();
    for (const t of active.values()) {
      now.add(t.path);
      this.fileLag.labels({ file: t.path }).set(t.lag);
    }
    // A file no longer tracked reports 0 rather than a stale lag.
    for (const p of this.lagged) if (!now.has(p)) this.fileLag.labels({ file: p }).set(0);
    this.lagged.clear();
    for (const p of now) this.lagged.add(p);
  }
}
