import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../src/metrics.ts';
// prom-client is the reference the agent's own exposition is compared with (a dev dependency;
// the agent does not load it).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parsePrometheusText } from './helpers/prometheus-text.ts';

describe('plugin metric helpers', () => {
  it('label every series with the instance and share one family between instances', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const opts = { name: 'sidekick_things_total', help: 'Things', labelNames: ['kind'] };
    const a = registry.forInstance('a').counter(opts);
    const b = registry.forInstance('b').counter(opts);
    a.inc();
    a.labels({ kind: 'x' }).inc(2);
    b.labels({ kind: 'y' }).inc();
    const text = await registry.metrics();
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
    const text = await registry.metrics();
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
    expect(await registry.metrics()).toContain('sidekick_failures_total{instance="a",reason="garbage"} 10000');
    registry.forget('a');
    expect(await registry.metrics()).not.toContain('instance="a"');
  });

  it('refuses names without the sidekick_ prefix and a name reused as another kind', () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const m = registry.forInstance('a');
    expect(() => m.counter({ name: 'requests_total', help: 'x' })).toThrow(/must be prefixed "sidekick_"/);
    m.counter({ name: 'sidekick_dual', help: 'x' });
    expect(() => m.gauge({ name: 'sidekick_dual', help: 'x' })).toThrow(/already registered as a counter/);
  });
});

// Bound series keep their own numbers; these tests make the same calls on prom-client's own
// classes and compare whole scrapes, so a lost value, a bucket off by one or a different order shows.
describe('bound series give the scrape prom-client gives', () => {
  const BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  const DEFAULT_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const nudge = (x: number, sign: number) => x + sign * Math.max(Number.EPSILON, Math.abs(x) * Number.EPSILON);
  // Every bound exactly, just above and just below it, negative, zero, past the last bound, and
  // fractions whose sums round differently when added in another order.
  const OBSERVED = [...new Set([...BOUNDS, ...DEFAULT_BOUNDS].flatMap((b) => [b, nudge(b, 1), nudge(b, -1)])),
    -1, 0, 31, 1e6, 0.1 + 0.2, 1 / 3, 0.00021, 0.00034];
  const AMOUNTS = [undefined, 0, 1, 2, 0.1, 0.7, 1 / 3, 1e-9, 12345.678];
  type Op = (v: number | undefined) => void;

  /** Our registry and a prom-client one; ops[i] and refOps[i] are the same call on each. */
  function twins() {
    const ours = new MetricsRegistry({ defaultMetrics: false });
    const ref = new Registry();
    const rc = new Counter({ name: 'sidekick_t_requests_total', help: 'Requests', labelNames: ['instance', 'class'], registers: [ref] });
    const rg = new Gauge({ name: 'sidekick_t_level', help: 'Level', labelNames: ['instance', 'pool'], registers: [ref] });
    const rh = new Histogram({ name: 'sidekick_t_seconds', help: 'Durations', labelNames: ['instance', 'route'], buckets: BOUNDS, registers: [ref] });
    const rd = new Histogram({ name: 'sidekick_t_default_seconds', help: 'Default buckets', labelNames: ['instance'], registers: [ref] });
    const ops: Op[] = [];
    const refOps: Op[] = [];
    for (const instance of ['a', 'b']) {
      const m = ours.forInstance(instance);
      const c = m.counter({ name: 'sidekick_t_requests_total', help: 'Requests', labelNames: ['class'] });
      const g = m.gauge({ name: 'sidekick_t_level', help: 'Level', labelNames: ['pool'] });
      const h = m.histogram({ name: 'sidekick_t_seconds', help: 'Durations', labelNames: ['route'], buckets: BOUNDS });
      const d = m.histogram({ name: 'sidekick_t_default_seconds', help: 'Default buckets' });
      const ok = c.labels({ class: '2xx' });
      const route = h.labels({ route: '/r' });
      ops.push(
        (v) => c.inc(v), (v) => ok.inc(v), (v) => c.labels({ class: '5xx' }).inc(v),
        (v) => g.set(v ?? -2), (v) => g.inc(v), (v) => g.dec(v), (v) => g.labels({ pool: 'x' }).dec(v), (v) => g.labels({ pool: 'x' }).set(v ?? 3),
        (v) => h.observe(v ?? 0.005), (v) => route.observe(v ?? 1), (v) => d.observe(v ?? 10),
      );
      refOps.push(
        (v) => rc.labels({ instance }).inc(v), (v) => rc.labels({ instance, class: '2xx' }).inc(v), (v) => rc.labels({ instance, class: '5xx' }).inc(v),
        (v) => rg.labels({ instance }).set(v ?? -2), (v) => rg.labels({ instance }).inc(v), (v) => rg.labels({ instance }).dec(v),
        (v) => rg.labels({ instance, pool: 'x' }).dec(v), (v) => rg.labels({ instance, pool: 'x' }).set(v ?? 3),
        (v) => rh.labels({ instance }).observe(v ?? 0.005), (v) => rh.labels({ instance, route: '/r' }).observe(v ?? 1),
        (v) => rd.labels({ instance }).observe(v ?? 10),
      );
    }
    return { ours, ref, ops, refOps };
  }

  async function expectSame(ours: MetricsRegistry, ref: Registry) {
    const text = await ours.metrics();
    expect(text).toBe(await ref.metrics());
    parsePrometheusText(text);
  }

  it('match after every kind of update, scraped as they go', async () => {
    const { ours, ref, ops, refOps } = twins();
    await expectSame(ours, ref); // families declared, no series yet
    let seed = 7; // xorshift32: the same sequence every run
    const next = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const used = new Set<number>();
    let histogramCalls = 0;
    for (let i = 1; i <= 3000; i++) {
      const op = next(ops.length);
      const isHistogram = op % 11 >= 8;
      const v = isHistogram ? OBSERVED[histogramCalls++ % OBSERVED.length] : AMOUNTS[next(AMOUNTS.length)];
      used.add(op);
      ops[op]!(v);
      refOps[op]!(v);
      if (i % 250 === 0) await expectSame(ours, ref);
    }
    expect(used.size).toBe(ops.length);
    expect(histogramCalls).toBeGreaterThan(OBSERVED.length * 2); // every observed value went to some histogram
    const text = await ours.metrics();
    expect(text).toContain('sidekick_t_seconds_bucket{le="+Inf",instance="a",route="/r"}');
    expect(text).toContain('sidekick_t_default_seconds_bucket{le="10",instance="b"}');
    expect(text).toContain('sidekick_t_level{instance="b",pool="x"}');
  });

  it('count a value exactly on a bound in that bound\'s bucket (le is inclusive)', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const h = registry.forInstance('a').histogram({ name: 'sidekick_b_seconds', help: 'b', buckets: [0.1, 0.5, 1] });
    for (const v of [0.1, 0.5, 1, nudge(0.1, -1), nudge(1, 1), 2, -3]) h.observe(v);
    const text = await registry.metrics();
    expect(text).toContain([
      'sidekick_b_seconds_bucket{le="0.1",instance="a"} 3',
      'sidekick_b_seconds_bucket{le="0.5",instance="a"} 4',
      'sidekick_b_seconds_bucket{le="1",instance="a"} 5',
      'sidekick_b_seconds_bucket{le="+Inf",instance="a"} 7',
      `sidekick_b_seconds_sum{instance="a"} ${0.1 + 0.5 + 1 + nudge(0.1, -1) + nudge(1, 1) + 2 - 3}`,
      'sidekick_b_seconds_count{instance="a"} 7',
    ].join('\n'));
  });

  it('show a series from its first update, not from labels(), in first-update order', async () => {
    const ours = new MetricsRegistry({ defaultMetrics: false });
    const ref = new Registry();
    const m = ours.forInstance('a');
    const c = m.counter({ name: 'sidekick_o_total', help: 'o', labelNames: ['k'] });
    const h = m.histogram({ name: 'sidekick_o_seconds', help: 'o' });
    const rc = new Counter({ name: 'sidekick_o_total', help: 'o', labelNames: ['instance', 'k'], registers: [ref] });
    new Histogram({ name: 'sidekick_o_seconds', help: 'o', labelNames: ['instance'], registers: [ref] });
    const [x, y] = [c.labels({ k: 'x' }), c.labels({ k: 'y' })];
    void h;
    await expectSame(ours, ref);
    y.inc(0);
    rc.labels({ instance: 'a', k: 'y' }).inc(0);
    x.inc();
    rc.labels({ instance: 'a', k: 'x' }).inc();
    c.inc(4);
    rc.labels({ instance: 'a' }).inc(4);
    await expectSame(ours, ref);
    expect(await ours.metrics()).toMatch(/k="y"\} 0\n.*k="x"\} 1\n.*instance="a"\} 4/);
  });

  it('share one series between label objects that differ only in key order', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const c = registry.forInstance('a').counter({ name: 'sidekick_k_total', help: 'k', labelNames: ['p', 'q'] });
    expect(c.labels({ p: 1, q: 2 })).toBe(c.labels({ q: 2, p: '1' }));
    c.labels({ p: 1, q: 2 }).inc();
    c.labels({ q: 2, p: 1 }).inc();
    expect((await registry.metrics()).match(/sidekick_k_total\{/g)).toHaveLength(1);
    expect(await registry.metrics()).toContain('sidekick_k_total{instance="a",p="1",q="2"} 2');
  });

  it('refuse what prom-client refuses, with its messages', () => {
    const m = new MetricsRegistry({ defaultMetrics: false }).forInstance('a');
    const ref = new Registry();
    const c = m.counter({ name: 'sidekick_e_total', help: 'e', labelNames: ['k'] });
    const g = m.gauge({ name: 'sidekick_e_level', help: 'e' });
    const h = m.histogram({ name: 'sidekick_e_seconds', help: 'e' });
    const rcf = new Counter({ name: 'sidekick_e_total', help: 'e', labelNames: ['instance', 'k'], registers: [ref] });
    const rc = rcf.labels({ instance: 'a' });
    const rg = new Gauge({ name: 'sidekick_e_level', help: 'e', labelNames: ['instance'], registers: [ref] }).labels({ instance: 'a' });
    const rh = new Histogram({ name: 'sidekick_e_seconds', help: 'e', labelNames: ['instance'], registers: [ref] }).labels({ instance: 'a' });
    const message = (f: () => void) => {
      try {
        f();
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('did not throw');
    };
    const bad = 'x' as unknown as number;
    for (const [ours, theirs] of [
      [() => c.inc(-1), () => rc.inc(-1)], [() => c.inc(Infinity), () => rc.inc(Infinity)],
      [() => h.observe(NaN), () => rh.observe(NaN)], [() => h.observe(-Infinity), () => rh.observe(-Infinity)],
      [() => g.set(bad), () => rg.set(bad)], [() => g.inc(bad), () => rg.inc(bad)],
    ] as const) expect(message(ours)).toBe(message(theirs));
    expect(message(() => c.labels({ nope: 1 }))).toBe(message(() => rcf.inc({ instance: 'a', nope: 1 } as never, 1)));
  });

  it('keep the agent\'s own series beside bound ones in one family', async () => {
    const ours = new MetricsRegistry({ defaultMetrics: false });
    const ref = new Registry();
    const direct = ours.family('counter', { name: 'sidekick_d_total', help: 'd' });
    const reloads = ours.family('counter', { name: 'sidekick_d_reloads_total', help: 'r', labelNames: ['result'] }, false);
    const bare = ours.family('counter', { name: 'sidekick_d_errors_total', help: 'e' }, false).labels({});
    const rd = new Counter({ name: 'sidekick_d_total', help: 'd', labelNames: ['instance'], registers: [ref] });
    const rr = new Counter({ name: 'sidekick_d_reloads_total', help: 'r', labelNames: ['result'], registers: [ref] });
    const rb = new Counter({ name: 'sidekick_d_errors_total', help: 'e', registers: [ref] });
    await expectSame(ours, ref); // an unlabelled counter shows 0 from the start
    direct.labels({ instance: 'x' }).inc();
    rd.labels({ instance: 'x' }).inc();
    ours.forInstance('a').counter({ name: 'sidekick_d_total', help: 'd' }).inc(2);
    rd.labels({ instance: 'a' }).inc(2);
    reloads.labels({ result: 'ok' }).inc();
    rr.labels({ result: 'ok' }).inc();
    bare.inc();
    rb.inc();
    await expectSame(ours, ref);
    // A family made without the instance label cannot take a plugin's series.
    expect(() => ours.forInstance('a').counter({ name: 'sidekick_d_reloads_total', help: 'r', labelNames: ['result'] }))
      .toThrow('Added label "instance" is not included');
  });

  it('keep counting across a replaced instance and forget only the removed one', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const opts = { name: 'sidekick_r_total', help: 'r', labelNames: ['k'] };
    const hopts = { name: 'sidekick_r_seconds', help: 'r' };
    const first = registry.forInstance('a').counter(opts);
    first.inc(3);
    first.labels({ k: 'x' }).inc();
    registry.forInstance('a').histogram(hopts).observe(0.2);
    const replaced = registry.forInstance('a');
    replaced.counter(opts).inc(2);
    replaced.histogram(hopts).observe(0.3);
    registry.forInstance('b').counter(opts).inc(7);
    let text = await registry.metrics();
    expect(text).toContain('sidekick_r_total{instance="a"} 5');
    expect(text).toContain('sidekick_r_seconds_count{instance="a"} 2');
    registry.forget('a');
    first.inc(100); // a stopped instance's late update is not a ghost
    text = await registry.metrics();
    expect(text).not.toContain('instance="a"');
    expect(text).toContain('sidekick_r_total{instance="b"} 7');
    registry.forInstance('a').counter(opts).inc(); // the name reused later starts afresh, once
    text = await registry.metrics();
    expect(text.match(/sidekick_r_total\{instance="a"\} 1\n/g)).toHaveLength(1);
  });
});
