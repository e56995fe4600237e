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

  it('refuses names without the sidekick_ prefix and a name reused as another kind', () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const m = registry.forInstance('a');
    expect(() => m.counter({ name: 'requests_total', help: 'x' })).toThrow(/must be prefixed "sidekick_"/);
    m.counter({ name: 'sidekick_dual', help: 'x' });
    expect(() => m.gauge({ name: 'sidekick_dual', help: 'x' })).toThrow(/already registered as a counter/);
  });
});
