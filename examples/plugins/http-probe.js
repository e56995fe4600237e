// An example third-party plugin: polls an HTTP URL and reports ready only while it
// answers 2xx. Plain JavaScript, no dependencies: the agent hands it `z` for its schema.
// Load it with `type: ./path/to/http-probe.js` (relative to the config file).

/** @type {import('../../src/plugin-api.ts').PluginDescriptor} */
export default {
  type: 'http-probe',
  description: 'Polls an HTTP URL; ready while it answers 2xx',
  configSchema: (z) =>
    z.strictObject({
      url: z.url().describe('URL to GET, e.g. the app health endpoint'),
      intervalMs: z.number().int().positive().default(2000).describe('Milliseconds between probes'),
      timeoutMs: z.number().int().positive().default(1000).describe('Milliseconds before a probe counts as failed'),
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
};
