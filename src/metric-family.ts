// A metric family and its series, written out in Prometheus' text exposition format (0.0.4).
// Series are plain numbers: bound once (labels()), each update a few field writes, formatted
// only when /metrics is scraped. The agent's own code, not a library's: prom-client's index
// loads @opentelemetry/api (see docs/decisions/0011-own-prometheus-exposition.md).
import { loadUtil } from './builtin-modules.ts';
import type { LabelValues } from './plugin-api.ts';

export type MetricKind = 'counter' | 'gauge' | 'histogram';
export interface SeriesOf { counter: CounterSeries; gauge: GaugeSeries; histogram: HistogramSeries }
type Labels = Record<string, string | number>;
export interface FamilyConfig {
  name: string;
  help: string;
  labelNames: readonly string[];
  buckets?: readonly number[];
  /** Runs before each scrape, to set values computed then (process figures, readiness). */
  collect?: (family: MetricFamily<any>) => void | Promise<void>;
}

export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;


export class MetricFamily<K extends MetricKind = MetricKind> {
  readonly name: string;
  readonly help: string;
  readonly type: K;
  readonly collect?: FamilyConfig['collect'];
  /** Series in the order of their first update: one made but never updated is not shown. */
  readonly shown = new Set<Series>();
  private readonly bound = new Map<string, Series>();
  private readonly labelNames: readonly string[];
  private readonly sortedNames: readonly string[];
  private readonly upperBounds: readonly number[];

  constructor(kind: K, config: FamilyConfig) {
    if (!config.help) throw new Error('Missing mandatory help parameter');
    if (!METRIC_NAME.test(config.name)) throw new Error('Invalid metric name');
    if (!config.labelNames.every((l) => LABEL_NAME.test(l) && !l.startsWith('__'))) throw new Error('Invalid label name');
    if (kind === 'histogram' && config.labelNames.includes('le')) throw new Error('le is a reserved label keyword');
    const buckets = config.buckets ?? DEFAULT_BUCKETS;
    if (buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) {
      throw new Error(`${config.name}: buckets must be finite and increasing`);
    }
    this.name = config.name;
    this.help = config.help;
    this.type = kind;
    this.collect = config.collect;
    this.labelNames = config.labelNames;
    this.sortedNames = [...config.labelNames].sort();
    this.upperBounds = kind === 'histogram' ? [...buckets] : [];
    // An unlabelled family has one series, shown from the start (a counter at 0 is news).
    if (this.labelNames.length === 0) this.labels({}).show();
  }

  /** The series for these label values (a subset of the label names); one per label set. */
  labels(values: LabelValues, made?: (series: Series) => void): SeriesOf[K] {
    for (const name in values) if (!this.labelNames.includes(name)) this.refuse(name);
    // Keyed by sorted names, undefined values skipped, so label objects that differ only in key
    // order share a series instead of printing it twice.
    let key = '';
    for (const name of this.sortedNames) {
      const v = values[name];
      if (v !== undefined) key += `${name}\0${v}\0`;
    }
    let series = this.bound.get(key) as SeriesOf[K] | undefined;
    if (!series) {
      const labels = { ...values };
      series = (this.type === 'counter' ? new CounterSeries(this, key, labels)
        : this.type === 'gauge' ? new GaugeSeries(this, key, labels)
        : new HistogramSeries(this, key, labels, this.upperBounds)) as SeriesOf[K];
      this.bound.set(key, series);
      made?.(series);
    }
    return series;
  }

  /** A plugin instance's series: `instance` first, then `extra`. */
  bind(instance: string, extra: LabelValues, made: (series: Series) => void): SeriesOf[K] {
    if (!this.labelNames.includes('instance')) this.refuse('instance');
    return this.labels({ instance, ...extra }, made);
  }

  private refuse(label: string): never {
    throw new Error(`Added label "${label}" is not included in initial labelset: ${loadUtil().inspect(this.labelNames)}`);
  }

  /** Drop a series (its instance was removed): its values go, later updates to it are not shown. */
  remove(series: Series): void {
    this.shown.delete(series);
    if (this.bound.get(series.key) === series) this.bound.delete(series.key);
    series.retire();
  }

  /** Drop every series, for a family whose collect() sets the whole set afresh at each scrape. */
  clear(): void {
    for (const series of this.bound.values()) series.retire();
    this.bound.clear();
    this.shown.clear();
  }

  /** HELP, TYPE and a line per sample, each ending in a newline. */
  write(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const s of this.shown) out += s.write(this.name);
    return out;
  }
}

export abstract class Series {
  /** Listed in the family's exposition (updated since it was made). */
  shown = false;
  private retired = false;
  protected readonly family: MetricFamily<any>;
  readonly key: string;
  /** The series' own labels, formatted once: `a="x",b="y"` (empty when it has none). */
  protected readonly labelText: string;

  constructor(family: MetricFamily<any>, key: string, labels: Labels) {
    this.family = family;
    this.key = key;
    this.labelText = formatLabels(labels);
  }

  show(): void {
    if (this.retired) return;
    this.shown = true;
    this.family.shown.add(this);
  }

  /** Its instance was removed: drop it from the family. */
  remove(): void {
    this.family.remove(this);
  }

  retire(): void {
    this.retired = true;
    this.shown = false;
  }

  abstract write(name: string): string;
}

/** A counter's or a gauge's series: one number. */
abstract class ValueSeries extends Series {
  protected value = 0;

  write(name: string): string {
    return `${name}${this.labelText ? `{${this.labelText}}` : ''} ${formatValue(this.value)}\n`;
  }
}

// The checks below are prom-client's (counter.js, gauge.js, histogram.js) with its messages,
// so a plugin written against either sees the same errors.
export class CounterSeries extends ValueSeries {
  inc(value?: number): void {
    if (value && !Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${loadUtil().format(value)}`);
    if ((value as number) < 0) throw new Error('It is not possible to decrease a counter');
    if (value === null || value === undefined) value = 1;
    this.value += value;
    if (!this.shown) this.show();
  }
}

export class GaugeSeries extends ValueSeries {
  set(value: number): void {
    if (typeof value !== 'number') throw new TypeError(`Value is not a valid number: ${loadUtil().format(value)}`);
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
    if (typeof delta !== 'number') throw new TypeError(`Delta is not a valid number: ${loadUtil().format(delta)}`);
    this.value += delta;
    if (!this.shown) this.show();
  }
}

export class HistogramSeries extends Series {
  private sum = 0;
  private count = 0;
  /** Observations per bucket, not cumulative: the first bound >= the value. */
  // Plain arrays: the agent uses no typed array otherwise, and a first one costs ~0.15 MB of RSS.
  private readonly counts: number[];
  private readonly bounds: readonly number[];

  constructor(family: MetricFamily<any>, key: string, labels: Labels, bounds: readonly number[]) {
    super(family, key, labels);
    this.bounds = bounds;
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${loadUtil().format(value)}`);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && !(value <= bounds[i]!)) i++;
    this.sum += value;
    this.count += 1;
    if (i < bounds.length) this.counts[i]! += 1;
    if (!this.shown) this.show();
  }

  // Cumulative buckets with `le` first, then +Inf, _sum and _count (prom-client's order).
  write(name: string): string {
    const rest = this.labelText ? `,${this.labelText}` : '';
    let out = '';
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i]!;
      out += `${name}_bucket{le="${formatValue(this.bounds[i]!)}"${rest}} ${acc}\n`;
    }
    out += `${name}_bucket{le="+Inf"${rest}} ${this.count}\n`;
    const own = this.labelText ? `{${this.labelText}}` : '';
    return `${out}${name}_sum${own} ${formatValue(this.sum)}\n${name}_count${own} ${this.count}\n`;
  }
}

/** A sample value: Go's ParseFloat spellings for the non-finite ones. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** HELP text: backslash and line feed escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Label pairs in the order given; values with backslash, double quote and line feed escaped. */
export function formatLabels(labels: Labels): string {
  let out = '';
  for (const name in labels) {
    const v = labels[name];
    if (v === undefined) continue;
    out += `${out ? ',' : ''}${name}="${String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`;
  }
  return out;
}
