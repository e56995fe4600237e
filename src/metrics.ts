// One Prometheus registry for the process. Plugins get helpers that add the
// `instance` label for them, so two instances of a type share one metric family.
import {
  type FamilyConfig, MetricFamily, type MetricKind, type Series,
} from './metric-family.ts';
import type {
  CounterMetric, GaugeMetric, HistogramMetric, LabelValues, MetricOptions, PluginMetrics,
} from './plugin-api.ts';
import { registerProcessMetrics } from './process-metrics.ts';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface FamilyOptions extends MetricOptions {
  buckets?: readonly number[];
  collect?: FamilyConfig['collect'];
}

export class MetricsRegistry {
  readonly contentType = CONTENT_TYPE;
  /** Every family, in the order registered (the order of the scrape). */
  private readonly families = new Map<string, MetricFamily<any>>();
  /** Series each instance made, for forget(). */
  private readonly made = new Map<string, Series[]>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) registerProcessMetrics(this);
  }

  /** A family outside the `sidekick_` namespace: the process_* and nodejs_* ones. */
  register<K extends MetricKind>(kind: K, config: FamilyConfig): MetricFamily<K> {
    if (this.families.has(config.name)) throw new Error(`A metric with the name ${config.name} has already been registered.`);
    const family = new MetricFamily(kind, config);
    this.families.set(config.name, family);
    return family;
  }

  /**
   * A family for the agent's own series; created once, later calls with the same name return it
   * (replaced instances keep counting). With `withInstance`, `instance` is its first label.
   */
  family<K extends MetricKind>(kind: K, opts: FamilyOptions, withInstance = true): MetricFamily<K> {
    if (!opts.name.startsWith('sidekick_')) throw new Error(`metric "${opts.name}" must be prefixed "sidekick_"`);
    const existing = this.families.get(opts.name);
    if (existing) {
      if (existing.type !== kind) throw new Error(`metric "${opts.name}" already registered as a ${existing.type}`);
      return existing as MetricFamily<K>;
    }
    const labelNames = [...(withInstance ? ['instance'] : []), ...(opts.labelNames ?? [])];
    return this.register(kind, { name: opts.name, help: opts.help, labelNames, buckets: opts.buckets, collect: opts.collect });
  }

  /** The text for GET /metrics: each family's collect() first, then every family in order. */
  async metrics(): Promise<string> {
    const families = [...this.families.values()];
    await Promise.all(families.map((f) => f.collect?.(f)));
    // Families apart by a blank line, as prom-client writes them (the format ignores blank lines).
    return `${families.map((f) => f.write().slice(0, -1)).join('\n\n')}\n`;
  }

  forInstance(instance: string): PluginMetrics {
    let made = this.made.get(instance);
    if (!made) this.made.set(instance, (made = []));
    const record = (series: Series) => made.push(series);
    // One series per label set, made on first use: plugins call labels() on failure paths (a bad
    // handshake, a 502), and a series recorded per call would grow without bound under a flood.
    const bind = <K extends MetricKind>(family: MetricFamily<K>, extra: LabelValues) => family.bind(instance, extra, record);
    const none: LabelValues = {};
    return {
      counter: (opts): CounterMetric => {
        const family = this.family('counter', opts);
        const own = bind(family, none);
        return { inc: (v) => own.inc(v), labels: (l) => bind(family, l) };
      },
      gauge: (opts): GaugeMetric => {
        const family = this.family('gauge', opts);
        const own = bind(family, none);
        return {
          set: (v) => own.set(v), inc: (v) => own.inc(v), dec: (v) => own.dec(v),
          labels: (l) => bind(family, l),
        };
      },
      histogram: (opts): HistogramMetric => {
        const family = this.family('histogram', opts);
        const own = bind(family, none);
        return { observe: (v) => own.observe(v), labels: (l) => bind(family, l) };
      },
    };
  }

  /** Drop every series of a removed instance, so /metrics does not report ghosts. */
  forget(instance: string): void {
    for (const series of this.made.get(instance) ?? []) series.remove();
    this.made.delete(instance);
  }
}
