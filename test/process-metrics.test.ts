// The process_* and nodejs_* series: the names dashboards expect, plausible values, and a scrape
// the strict reader accepts.
import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../src/metrics.ts';
import { parsePrometheusText } from './helpers/prometheus-text.ts';

describe('process metrics', () => {
  it('reports CPU, memory, file descriptors, the event loop, the heap, GC and the Node version', async () => {
    const registry = new MetricsRegistry();
    const first = parsePrometheusText(await registry.metrics());
    // Work between scrapes: CPU, allocation and a GC for the counters to move.
    let junk: number[][] = [];
    for (let i = 0; i < 2000; i++) junk.push(new Array(1000).fill(i));
    junk = [];
    // The event loop delay is sampled every 10 ms: let a few samples be taken.
    await new Promise((r) => setTimeout(r, 50));
    const families = parsePrometheusText(await registry.metrics());
    const one = (name: string) => {
      const f = families.get(name);
      expect(f, name).toBeDefined();
      expect(f!.help.length, name).toBeGreaterThan(0);
      return f!.samples.find((s) => s.name === name)!.value;
    };
    const cpu = one('process_cpu_seconds_total');
    expect(cpu).toBeGreaterThan(first.get('process_cpu_seconds_total')!.samples[0]!.value);
    expect(cpu).toBeCloseTo(one('process_cpu_user_seconds_total') + one('process_cpu_system_seconds_total'), 6);
    expect(families.get('process_cpu_seconds_total')!.type).toBe('counter');
    expect(Math.abs(one('process_start_time_seconds') - (Date.now() / 1000 - process.uptime()))).toBeLessThan(2);
    const rss = one('process_resident_memory_bytes');
    expect(rss).toBeGreaterThan(10 * 2 ** 20);
    expect(rss).toBeLessThan(one('process_virtual_memory_bytes'));
    expect(one('process_heap_bytes')).toBeGreaterThan(0);
    expect(one('process_open_fds')).toBeGreaterThan(2);
    expect(one('process_max_fds')).toBeGreaterThanOrEqual(one('process_open_fds'));
    expect(one('nodejs_eventloop_lag_seconds')).toBeGreaterThan(0);
    for (const s of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99']) expect(one(`nodejs_eventloop_lag_${s}_seconds`)).toBeGreaterThanOrEqual(0);
    expect(one('nodejs_active_resources_total')).toBe(families.get('nodejs_active_resources')!.samples.reduce((n, s) => n + s.value, 0));
    expect(one('nodejs_heap_size_used_bytes')).toBeLessThanOrEqual(one('nodejs_heap_size_total_bytes'));
    expect(one('nodejs_external_memory_bytes')).toBeGreaterThan(0);
    const spaces = families.get('nodejs_heap_space_size_used_bytes')!.samples.map((s) => s.labels.space);
    expect(spaces).toContain('old');
    expect(spaces).toContain('new');
    expect(families.get('nodejs_version_info')!.samples[0]!.labels).toEqual({
      version: process.version, major: String(process.versions.node.split('.')[0]), minor: process.versions.node.split('.')[1], patch: process.versions.node.split('.')[2],
    });
    expect(families.get('nodejs_gc_duration_seconds')!.type).toBe('histogram');
  });

  it('counts garbage collections by kind', async () => {
    const registry = new MetricsRegistry();
    let junk: object[] = [];
    const gcs = async () => parsePrometheusText(await registry.metrics()).get('nodejs_gc_duration_seconds')!.samples
      .filter((s) => s.name === 'nodejs_gc_duration_seconds_count').reduce((n, s) => n + s.value, 0);
    // Allocate until the observer has seen a collection (GC entries arrive asynchronously).
    for (let round = 0; round < 200 && (await gcs()) === 0; round++) {
      for (let i = 0; i < 20_000; i++) junk.push({ i });
      junk = [];
      await new Promise(setImmediate);
    }
    expect(await gcs()).toBeGreaterThan(0);
    const kinds = parsePrometheusText(await registry.metrics()).get('nodejs_gc_duration_seconds')!.samples.map((s) => s.labels.kind);
    expect(kinds.every((k) => ['major', 'minor', 'incremental', 'weakcb'].includes(k!))).toBe(true);
  });
});
