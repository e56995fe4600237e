// One Prometheus registry for the process. Plugins get helpers that add the
// `instance` label for them, so two instances of a type share one metric family.
import { Registry, collectDefaultMetrics } from './prom-client.ts';
import {
  type CounterSeries, type DirectMetric, type GaugeSeries, type HistogramSeries, MetricFamily, type MetricKind, type Series,
} from './metric-family.ts';
import type {
  CounterMetric, GaugeMetric, HistogramMetric, LabelValues, MetricOptions, PluginMetrics,
} from './plugin-api.ts';

export class MetricsRegistry {
  readonly registry = new Registry();
  private readonly families = new Map<string, MetricFamily>();
  /** Series each instance made, for forget(). */
  private readonly made = new Map<string, Series[]>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics(this.registry);
  }

  /**
   * The prom-client metric of a family, for the agent's own series; created once, later calls
   * with the same name return it (replaced instances keep counting).
   */
  family<M extends DirectMetric>(kind: MetricKind, opts: MetricOptions & { buckets?: number[] }, withInstance = true): M {
    return this.familyOf(kind, opts, withInstance).direct as M;
  }

  private familyOf(kind: MetricKind, opts: MetricOptions & { buckets?: number[] }, withInstance = true): MetricFamily {
    if (!opts.name.startsWith('sidekick_')) throw new Error(`metric "${opts.name}" must be prefixed "sidekick_"`);
    const existing = this.families.get(opts.name);
    if (existing) {
      if (existing.type !== kind) throw new Error(`metric "${opts.name}" already registered as a ${existing.type}`);
      return existing;
    }
    const labelNames = [...(withInstance ? ['instance'] : []), ...(opts.labelNames ?? [])];
    const config = { name: opts.name, help: opts.help, labelNames, ...(opts.buckets ? { buckets: opts.buckets } : {}) };
    const family = new MetricFamily(kind, config, this.registry);
    this.families.set(opts.name, family);
    return family;
  }

  forInstance(instance: string): PluginMetrics {
    let made = this.made.get(instance);
    if (!made) this.made.set(instance, (made = []));
    const record = (series: Series) => made.push(series);
    // One series per label set, made on first use: plugins call labels() on failure paths (a bad
    // handshake, a 502), and a series recorded per call would grow without bound under a flood.
    const bind = <S extends Series>(family: MetricFamily, extra: LabelValues) => family.bind(instance, extra, record) as S;
    const none: LabelValues = {};
    return {
      counter: (opts): CounterMetric => {
        const family = this.familyOf('counter', opts);
        const own = bind<CounterSeries>(family, none);
        return { inc: (v) => own.inc(v), labels: (l) => bind<CounterSeries>(family, l) };
      },
      gauge: (opts): GaugeMetric => {
        const family = this.familyOf('gauge', opts);
        const own = bind<GaugeSeries>(family, none);
        return {
          set: (v) => own.set(v), inc: (v) => own.inc(v), dec: (v) => own.dec(v),
          labels: (l) => bind<GaugeSeries>(family, l),
        };
      },
      histogram: (opts): HistogramMetric => {
        const family = this.familyOf('histogram', opts);
        const own = bind<HistogramSeries>(family, none);
        return { observe: (v) => own.observe(v), labels: (l) => bind<HistogramSeries>(family, l) };
      },
    };
  }

  /** Drop every series of a removed instance, so /metrics does not report ghosts. */
  forget(instance: string): void {
    for (const series of this.made.get(instance) ?? []) series.remove();
    this.made.delete(instance);
  }
}
