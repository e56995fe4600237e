// How far behind the shipper is and how fast it catches up, for a start with a large backlog or
// the end of an outage: logged at a modest interval while behind, once when caught up, and kept
// for /status. Sampled on a timer, never per line.
import type { PluginContext } from '../../src/plugin-api.ts';

type PluginLogger = PluginContext['logger'];

export interface ProgressReport {
  behindBytes: number;
  /** Acknowledged bytes per second over the last interval. */
  rateBytesPerSecond: number;
  /** At that rate; null while nothing is acknowledged. */
  etaSeconds: number | null;
  since: string;
}

export class BacklogProgress {
  private readonly minBacklog: number;
  private readonly logger: PluginLogger;
  private lastAcked = 0;
  private lastAt = 0;
  private current: ProgressReport | null = null;

  constructor(minBacklog: number, logger: PluginLogger) {
    this.minBacklog = minBacklog;
    this.logger = logger;
  }

  /** The first sample: where the rate is measured from. */
  begin(ackedBytes: number, now = Date.now()): void {
    this.lastAcked = ackedBytes;
    this.lastAt = now;
  }

  /** One interval's sample: `behind` bytes not yet acknowledged, `acked` bytes acknowledged so far in all. */
  sample(behind: number, acked: number, now = Date.now()): void {
    const seconds = Math.max(0.001, (now - this.lastAt) / 1000);
    const rate = Math.max(0, (acked - this.lastAcked) / seconds);
    this.lastAcked = acked;
    this.lastAt = now;
    if (behind >= this.minBacklog || (this.current && behind > 0)) {
      const eta = rate > 0 ? Math.round(behind / rate) : null;
      this.current = { behindBytes: behind, rateBytesPerSecond: Math.round(rate), etaSeconds: eta, since: this.current?.since ?? new Date(now).toISOString() };
      this.logger.info(
        { behindBytes: behind, rateBytesPerSecond: Math.round(rate), etaSeconds: eta },
        `shipping backlog: ${mib(behind)} MiB behind at ${mib(rate)} MiB/s${eta === null ? '' : `, about ${eta} s left`}`,
      );
    } else if (this.current) {
      this.logger.info({ since: this.current.since }, 'backlog shipped: caught up');
      this.current = null;
    }
  }

  /** For /status: null unless a backlog is being shipped. */
  report(): ProgressReport | null {
    return this.current;
  }
}

const mib = (bytes: number) => (bytes / 1048576).toFixed(1);
