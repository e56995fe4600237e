// A metric family whose plugin series are plain numbers. prom-client's labelled children hash
// the label object and look the series up on every inc()/observe(); a request on the TLS fast
// path made two such calls. Here a series is bound once (labels()) and each update is a few
// field writes; prom-client's registry still formats the text, from what get() returns.
import type * as Prom from 'prom-client';
import { Counter, Gauge, Histogram, type Registry } from './prom-client.ts';
import type { LabelValues } from './plugin-api.ts';

export type MetricKind = 'counter' | 'gauge' | 'histogram';
export type DirectMetric = Prom.Counter<string> | Prom.Gauge<string> | Prom.Histogram<string>;
type Labels = Record<string, string | number>;

// node:util on the error paths only: an ES import of it costs the idle agent ~0.3 MB of RSS.
const util = () => process.getBuiltinModule('node:util');
type Value = { labels: Labels; value: number; metricName?: string; exemplar?: null };
export interface FamilyConfig { name: string; help: string; labelNames: string[]; buckets?: number[] }

/**
 * Registered with the registry in place of a prom-client metric (its get()/reset() contract).
 * `direct` is a real prom-client metric, not registered, for the agent's own series
 * (family().labels(...)); its values are listed before the bound series'.
 */
export class MetricFamily {
  name: string;
  readonly help: string;
  readonly type: MetricKind;
  readonly aggregator: string;
  readonly direct: DirectMetric;
  /** Series in the order of their first update, like prom-client's: an unused child is not shown. */
  readonly shown = new Set<Series>();
  private readonly bound = new Map<string, Series>();
  private readonly labelNames: readonly string[];
  private readonly sortedNames: readonly string[];
  private readonly upperBounds: readonly number[];

  constructor(kind: MetricKind, config: FamilyConfig, registry: Registry) {
    // prom-client checks the name and label names (and `le`) and supplies the default buckets.
    const direct = { ...config, registers: [] };
    this.direct = kind === 'counter' ? new Counter(direct) : kind === 'gauge' ? new Gauge(direct) : new Histogram(direct);
    this.name = config.name;
    this.help = config.help;
    this.type = kind;
    this.aggregator = (this.direct as unknown as { aggregator: string }).aggregator;
    this.labelNames = config.labelNames;
    this.sortedNames = [...config.labelNames].sort();
    // The direct metric's own bounds (prom-client's defaults when none are given), so both kinds
    // of series in one family always print the same buckets.
    // A copy: prom-client freezes its array, and V8 reads a frozen array's elements more slowly.
    this.upperBounds = kind === 'histogram' ? [...(this.direct as unknown as { upperBounds: number[] }).upperBounds] : [];
    registry.registerMetric(this as unknown as Prom.Metric);
  }

  /** The series for `instance` plus `extra`; made on first call, one per label set however often asked. */
  bind(instance: string, extra: LabelValues, made: (series: Series) => void): Series {
    if (!this.labelNames.includes('instance')) this.refuse('instance');
    for (const name in extra) if (!this.labelNames.includes(name)) this.refuse(name);
    // Keyed like prom-client's hash (sorted names, undefined values skipped), so label objects
    // that differ only in key order share a series instead of printing it twice.
    let key = '';
    for (const name of this.sortedNames) {
      const v = name in extra ? extra[name] : name === 'instance' ? instance : undefined;
      if (v !== undefined) key += `${name}\0${v}\0`;
    }
    let series = this.bound.get(key);
    if (!series) {
      const labels = { instance, ...extra };
      series = this.type === 'counter' ? new CounterSeries(this, key, labels)
        : this.type === 'gauge' ? new GaugeSeries(this, key, labels)
        : new HistogramSeries(this, key, labels, this.upperBounds);
      this.bound.set(key, series);
      made(series);
    }
    return series;
  }

  private refuse(label: string): never {
    throw new Error(`Added label "${label}" is not included in initial labelset: ${util().inspect(this.labelNames)}`);
  }

  /** Drop a series (its instance was removed): its values go, later updates to it are not shown. */
  remove(series: Series): void {
    this.shown.delete(series);
    this.bound.delete(series.key);
    series.retire();
  }

  async get(): Promise<{ name: string; help: string; type: string; values: Value[]; aggregator: string }> {
    const values = (await this.direct.get()).values as Value[];
    for (const s of this.shown) s.export(values, this.name);
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** registry.resetMetrics(): every series back to no value and hidden, as prom-client's reset() does. */
  reset(): void {
    this.direct.reset();
    for (const s of this.shown) s.clear();
    this.shown.clear();
  }
}

export abstract class Series {
  /** Listed in the family's exposition (updated since creation or the last reset). */
  shown = false;
  private retired = false;
  protected readonly family: MetricFamily;
  readonly key: string;
  readonly labels: Labels;

  constructor(family: MetricFamily, key: string, labels: Labels) {
    this.family = family;
    this.key = key;
    this.labels = labels;
  }

  protected show(): void {
    if (this.retired) return;
    this.shown = true;
    this.family.shown.add(this);
  }

  clear(): void {
    this.shown = false;
    this.zero();
  }

  /** Its instance was removed: drop it from the family. */
  remove(): void {
    this.family.remove(this);
  }

  retire(): void {
    this.retired = true;
    this.clear();
  }

  protected abstract zero(): void;
  abstract export(into: Value[], name: string): void;
}

/** A counter's or a gauge's series: one number. */
abstract class ValueSeries extends Series {
  protected value = 0;

  protected zero(): void {
    this.value = 0;
  }

  export(into: Value[]): void {
    into.push({ value: this.value, labels: this.labels });
  }
}

// The checks and arithmetic below are prom-client's (counter.js, gauge.js, histogram.js) in the
// same order, so a value and an error are the same as with its children.
export class CounterSeries extends ValueSeries {
  inc(value?: number): void {
    if (value && !Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${util().format(value)}`);
    if ((value as number) < 0) throw new Error('It is not possible to decrease a counter');
    if (value === null || value === undefined) value = 1;
    this.value += value;
    if (!this.shown) this.show();
  }
}

export class GaugeSeries extends ValueSeries {
  set(value: number): void {
    if (typeof value !== 'number') throw new TypeError(`Value is not a valid number: ${util().format(value)}`);
    this.value = value;
    if (!this.shown) this.show();
  }

  inc(value?: number): void {
    this.add(value === undefined ? 1 : value);
  }

  dec(value?: number): void {
    this.add(-(value === undefined ? 1 : value));
  }

  private add(delta: number): void {
    if (typeof delta !== 'number') throw new TypeError(`Delta is not a valid number: ${util().format(delta)}`);
    this.value += delta;
    if (!this.shown) this.show();
  }
}

export class HistogramSeries extends Series {
  private sum = 0;
  private count = 0;
  /** Observations per bucket, not cumulative: the first bound >= the value, as prom-client. */
  // Plain arrays: the agent uses no typed array otherwise, and a first one costs ~0.15 MB of RSS.
  private readonly counts: number[];
  private readonly bounds: readonly number[];

  constructor(family: MetricFamily, key: string, labels: Labels, bounds: readonly number[]) {
    super(family, key, labels);
    this.bounds = bounds;
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${util().format(value)}`);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && !(value <= bounds[i]!)) i++;
    this.sum += value;
    this.count += 1;
    if (i < bounds.length) this.counts[i]! += 1;
    if (!this.shown) this.show();
  }

  protected zero(): void {
    this.sum = 0;
    this.count = 0;
    this.counts.fill(0);
  }

  // The shape of prom-client's Histogram.get(): cumulative buckets, +Inf, _sum, _count.
  export(into: Value[], name: string): void {
    const bucket = `${name}_bucket`;
    const bounds = this.bounds;
    let acc = 0;
    for (let i = 0; i < bounds.length; i++) {
      acc += this.counts[i]!;
      into.push({ value: acc, metricName: bucket, exemplar: null, labels: { le: bounds[i]!, ...this.labels } });
    }
    into.push({ value: this.count, metricName: bucket, exemplar: null, labels: { le: '+Inf', ...this.labels } });
    into.push({ value: this.sum, metricName: `${name}_sum`, exemplar: undefined, labels: { ...this.labels } });
    into.push({ value: this.count, metricName: `${name}_count`, exemplar: undefined, labels: { ...this.labels } });
  }
}
