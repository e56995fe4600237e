// An example third-party plugin: polls an HTTP URL and reports ready only while it
// answers 2xx. Plain JavaScript; its only import is the plugin kit, spelled as any plugin
// package spells it, and the agent hands it valibot (`v`) for its schema.
// Load it with `type: ./path/to/http-probe.js` (relative to the config file).
import { definePlugin } from 'sidekick/plugin-api';

export default definePlugin({
  type: 'http-probe',
  description: 'Polls an HTTP URL; ready while it answers 2xx',
  configSchema: (v) =>
    v.strictObject({
      url: v.pipe(v.string(), v.url(), v.description('URL to GET, e.g. the app health endpoint')),
      intervalMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.description('Milliseconds between probes')), 2000),
      timeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.description('Milliseconds before a probe counts as failed')), 1000),
    }),
  create(config, ctx) {
    const probes = ctx.metrics.counter({ name: 'sidekick_http_probe_total', help: 'Probes by result', labelNames: ['result'] });
    const ok = probes.labels({ result: 'ok' });
    const failed = probes.labels({ result: 'failed' });
    let timer;
    let last = { ok: false, error: 'not probed yet', at: undefined };

    async function probe() {
      try {
        const res = await fetch(config.url, { signal: AbortSignal.timeout(config.timeoutMs) });
        await res.body?.cancel();
        last = res.ok ? { ok: true, at: new Date().toISOString() } : { ok: false, error: `HTTP ${res.status}`, at: new Date().toISOString() };
      } catch (err) {
        last = { ok: false, error: err.cause?.code ?? err.message, at: new Date().toISOString() };
      }
      (last.ok ? ok : failed).inc();
      if (!last.ok) ctx.logger.debug({ url: config.url, error: last.error }, 'probe failed');
    }

    return {
      async start() {
        await probe();
        timer = setInterval(probe, config.intervalMs);
      },
      async stop() {
        clearInterval(timer);
      },
      health() {
        return {
          ready: last.ok,
          ...(last.ok ? {} : { reason: `${config.url}: ${last.error}` }),
          details: { url: config.url, lastProbe: last },
        };
      },
    };
  },
});
