// One Prometheus registry for the process. Plugins get helpers that add the
// `instance` label for them, so two instances of a type share one metric family.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from './prom-client.ts';
import type {
  CounterMetric, GaugeMetric, HistogramMetric, LabelValues, MetricOptions, PluginMetrics,
} from './plugin-api.ts';

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

export class MetricsRegistry {
  readonly registry = new Registry();
  private readonly families = new Map<string, { kind: string; metric: AnyMetric }>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics(this.registry);
  }

  /** Create a family once; later calls with the same name return it (replaced instances keep counting). */
  family<M extends AnyMetric>(kind: 'counter' | 'gauge' | 'histogram', opts: MetricOptions & { buckets?: number[] }, withInstance = true): M {
    if (!opts.name.startsWith('sidekick_')) throw new Error(`metric "${opts.name}" must be prefixed "sidekick_"`);
    const existing = this.families.get(opts.name);
    if (existing) {
      if (existing.kind !== kind) throw new Error(`metric "${opts.name}" already registered as a ${existing.kind}`);
      return existing.metric as M;
    }
    const labelNames = [...(withInstance ? ['instance'] : []), ...(opts.labelNames ?? [])];
    const config = { name: opts.name, help: opts.help, labelNames, registers: [this.registry] };
    const metric =
      kind === 'counter' ? new Counter(config)
      : kind === 'gauge' ? new Gauge(config)
      : new Histogram({ ...config, ...(opts.buckets ? { buckets: opts.buckets } : {}) });
    this.families.set(opts.name, { kind, metric });
    return metric as M;
  }

  forInstance(instance: string): PluginMetrics {
    const series = this.seriesOf(instance);
    // One child per label set, made on first use: plugins call labels() on failure paths (a bad
    // handshake, a 502), and a series recorded per call would grow without bound under a flood.
    const bind = <M extends AnyMetric>(family: M, extra: LabelValues) => {
      let key = (family as unknown as { name: string }).name;
      for (const k in extra) key += `\0${k}\0${extra[k]}`;
      let child = series.children.get(key);
      if (!child) {
        const labels = { instance, ...extra };
        series.list.push([family, labels]);
        series.children.set(key, (child = family.labels(labels)));
      }
      return child as ReturnType<M['labels']>;
    };
    return {
      counter: (opts): CounterMetric => {
        const family = this.family<Counter<string>>('counter', opts);
        const own = bind(family, {});
        return { inc: (v) => own.inc(v), labels: (l) => bind(family, l) };
      },
      gauge: (opts): GaugeMetric => {
        const family = this.family<Gauge<string>>('gauge', opts);
        const own = bind(family, {});
        return { set: (v) => own.set(v), inc: (v) => own.inc(v), dec: (v) => own.dec(v), labels: (l) => bind(family, l) };
      },
      histogram: (opts): HistogramMetric => {
        const family = this.family<Histogram<string>>('histogram', opts);
        const own = bind(family, {});
        return { observe: (v) => own.observe(v), labels: (l) => bind(family, l) };
      },
    };
  }

  private readonly series = new Map<string, { list: Array<[AnyMetric, LabelValues]>; children: Map<string, unknown> }>();
  private seriesOf(instance: string) {
    let entry = this.series.get(instance);
    if (!entry) this.series.set(instance, (entry = { list: [], children: new Map() }));
    return entry;
  }

  /** Drop every series of a removed instance, so /metrics does not report ghosts. */
  forget(instance: string): void {
    for (const [metric, labels] of this.series.get(instance)?.list ?? []) metric.remove(labels as Record<string, string>);
    this.series.delete(instance);
  }
}
