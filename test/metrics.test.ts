import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../src/metrics.ts';

describe('plugin metric helpers', () => {
  it('label every series with the instance and share one family between instances', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const opts = { name: 'sidekick_things_total', help: 'Things', labelNames: ['kind'] };
    const a = registry.forInstance('a').counter(opts);
    const b = registry.forInstance('b').counter(opts);
    a.inc();
    a.labels({ kind: 'x' }).inc(2);
    b.labels({ kind: 'y' }).inc();
    const text = await registry.registry.metrics();
    expect(text.match(/# TYPE sidekick_things_total counter/g)).toHaveLength(1);
    expect(text).toContain('sidekick_things_total{instance="a"} 1');
    expect(text).toContain('sidekick_things_total{instance="a",kind="x"} 2');
    expect(text).toContain('sidekick_things_total{instance="b",kind="y"} 1');
  });

  it('forget() drops a removed instance and keeps the others', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const opts = { name: 'sidekick_level', help: 'Level' };
    registry.forInstance('gone').gauge(opts).set(5);
    registry.forInstance('stays').gauge(opts).set(7);
    registry.forget('gone');
    const text = await registry.registry.metrics();
    expect(text).not.toContain('instance="gone"');
    expect(text).toContain('sidekick_level{instance="stays"} 7');
  });

  it('reuses one child per label set, however often labels() is called (failure paths call it per event)', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const failures = registry.forInstance('a').counter({ name: 'sidekick_failures_total', help: 'Failures', labelNames: ['reason'] });
    const first = failures.labels({ reason: 'garbage' });
    for (let i = 0; i < 10_000; i++) expect(failures.labels({ reason: 'garbage' })).toBe(first);
    for (let i = 0; i < 10_000; i++) failures.labels({ reason: 'garbage' }).inc();
    expect(failures.labels({ reason: 'timeout' })).not.toBe(first);
    expect(await registry.registry.metrics()).toContain('sidekick_failures_total{instance="a",reason="garbage"} 10000');
    registry.forget('a');
    expect(await registry.registry.metrics()).not.toContain('instance="a"');
  });

  it('refuses names without the sidekick_ prefix and a name reused as another kind', () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const m = registry.forInstance('a');
    expect(() => m.counter({ name: 'requests_total', help: 'x' })).toThrow(/must be prefixed "sidekick_"/);
    m.counter({ name: 'sidekick_dual', help: 'x' });
    expect(() => m.gauge({ name: 'sidekick_dual', help: 'x' })).toThrow(/already registered as a counter/);
  });
});
