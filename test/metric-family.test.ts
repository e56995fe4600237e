// The exposition format the agent writes itself: every line read back by a strict parser of the
// format, and the escapes and spellings prom-client's tests above do not reach.
import { describe, expect, it } from 'vitest';
import { escapeHelp, formatLabels, formatValue, MetricFamily } from '../src/metric-family.ts';
import { MetricsRegistry } from '../src/metrics.ts';
import { parsePrometheusText } from './helpers/prometheus-text.ts';

describe('metric family exposition', () => {
  it('escapes HELP and label values so that they read back unchanged', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const help = 'a \\ backslash,\na line feed and "quotes"';
    const values = ['plain', 'back\\slash', 'line\nfeed', 'say "hi"', '\\"\n', '', 'ünïcödé {},='];
    const m = registry.forInstance('a').counter({ name: 'sidekick_esc_total', help, labelNames: ['v'] });
    values.forEach((v, i) => m.labels({ v }).inc(i + 1));
    const text = await registry.metrics();
    expect(text).toContain('# HELP sidekick_esc_total a \\\\ backslash,\\na line feed and "quotes"\n');
    const family = parsePrometheusText(text).get('sidekick_esc_total')!;
    expect(family.help).toBe(help);
    expect(family.type).toBe('counter');
    expect(family.samples.map((s) => [s.labels.v, s.value])).toEqual(values.map((v, i) => [v, i + 1]));
    expect(family.samples.every((s) => s.labels.instance === 'a')).toBe(true);
  });

  it('spells non-finite values as Prometheus reads them', async () => {
    expect([NaN, Infinity, -Infinity, 0, -0.5, 1e-9, 2 ** 53].map(formatValue)).toEqual(['NaN', '+Inf', '-Inf', '0', '-0.5', '1e-9', '9007199254740992']);
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const g = registry.forInstance('a').gauge({ name: 'sidekick_odd', help: 'odd', labelNames: ['k'] });
    g.labels({ k: 'nan' }).set(NaN);
    g.labels({ k: 'inf' }).set(Infinity);
    g.labels({ k: 'neg' }).set(-Infinity);
    const samples = parsePrometheusText(await registry.metrics()).get('sidekick_odd')!.samples;
    expect(samples.map((s) => s.value)).toEqual([NaN, Infinity, -Infinity]);
  });

  it('writes histograms the strict reader accepts: le increasing, cumulative, +Inf = _count', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const h = registry.forInstance('a').histogram({ name: 'sidekick_h_seconds', help: 'h', labelNames: ['r'], buckets: [0.001, 0.5, 2] });
    for (const v of [0, 0.001, 0.3, 0.5, 1, 2, 3, 1000]) h.labels({ r: 'x' }).observe(v);
    h.observe(0.7);
    const family = parsePrometheusText(await registry.metrics()).get('sidekick_h_seconds')!;
    const x = family.samples.filter((s) => s.labels.r === 'x');
    expect(x.map((s) => [s.name, s.labels.le, s.value])).toEqual([
      ['sidekick_h_seconds_bucket', '0.001', 2], ['sidekick_h_seconds_bucket', '0.5', 4], ['sidekick_h_seconds_bucket', '2', 6],
      ['sidekick_h_seconds_bucket', '+Inf', 8], ['sidekick_h_seconds_sum', undefined, 1006.801], ['sidekick_h_seconds_count', undefined, 8],
    ]);
    expect(family.samples.filter((s) => s.labels.r === undefined && s.name.endsWith('_count'))[0]!.value).toBe(1);
  });

  it('refuses bad names, label names, le on a histogram and unordered buckets', () => {
    const make = (kind: 'counter' | 'histogram', name: string, labelNames: string[] = [], buckets?: number[]) => () => new MetricFamily(kind, { name, help: 'x', labelNames, buckets });
    expect(make('counter', '1st_total')).toThrow('Invalid metric name');
    expect(make('counter', 'a-b')).toThrow('Invalid metric name');
    expect(make('counter', 'ok_total', ['bad-label'])).toThrow('Invalid label name');
    expect(make('counter', 'ok_total', ['__reserved'])).toThrow('Invalid label name');
    expect(make('histogram', 'ok_seconds', ['le'])).toThrow('le is a reserved label keyword');
    expect(make('histogram', 'ok_seconds', [], [1, 0.5])).toThrow('buckets must be finite and increasing');
    expect(make('histogram', 'ok_seconds', [], [1, Infinity])).toThrow('buckets must be finite and increasing');
    expect(() => new MetricFamily('gauge', { name: 'ok', help: '', labelNames: [] })).toThrow('Missing mandatory help parameter');
    const registry = new MetricsRegistry({ defaultMetrics: false });
    registry.register('gauge', { name: 'up', help: 'x', labelNames: [] });
    expect(() => registry.register('gauge', { name: 'up', help: 'y', labelNames: [] })).toThrow('already been registered');
  });

  it('runs collect() before each scrape, awaited, and clear() drops the series it made before', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    let ready = ['a', 'b'];
    registry.family('gauge', {
      name: 'sidekick_c_ready', help: 'c', labelNames: ['instance'],
      async collect(family) {
        await new Promise(setImmediate);
        family.clear();
        for (const i of ready) family.labels({ instance: i }).set(1);
      },
    }, false);
    expect(parsePrometheusText(await registry.metrics()).get('sidekick_c_ready')!.samples.map((s) => s.labels.instance)).toEqual(['a', 'b']);
    ready = ['b'];
    expect(parsePrometheusText(await registry.metrics()).get('sidekick_c_ready')!.samples.map((s) => s.labels.instance)).toEqual(['b']);
  });

  it('formats label pairs in the order given and skips undefined values', () => {
    expect(formatLabels({ b: 1, a: 'x', c: undefined as unknown as string })).toBe('b="1",a="x"');
    expect(escapeHelp('a\\b\nc"d')).toBe('a\\\\b\\nc"d');
  });
});
