// The agent's own series, beside the ones plugins register through their context.
import { type Counter, Gauge } from './prom-client.ts';
import type { InstanceStatus } from './host/instance-supervisor.ts';
import type { MetricsRegistry } from './metrics.ts';
import { VERSION } from './version.ts';

export interface CoreMetrics {
  reloads: Counter<string>;
  unhandledErrors: Counter<string>;
}

export function registerCoreMetrics(metrics: MetricsRegistry, status: () => Record<string, InstanceStatus>): CoreMetrics {
  const reloads = metrics.family<Counter<string>>('counter', {
    name: 'sidekick_config_reloads_total', help: 'Config reloads by result', labelNames: ['result'],
  }, false);
  const unhandledErrors = metrics.family<Counter<string>>('counter', {
    name: 'sidekick_unhandled_errors_total', help: 'Errors that escaped every handler (bugs)',
  }, false);
  metrics.family<Gauge<string>>('gauge', {
    name: 'sidekick_build_info', help: 'Always 1; the version label says which build runs', labelNames: ['version'],
  }, false).labels({ version: VERSION }).set(1);
  // Computed when scraped, from the same reports /readyz uses.
  new Gauge({
    name: 'sidekick_plugin_ready',
    help: '1 when the plugin instance is running and ready',
    labelNames: ['instance', 'type'],
    registers: [metrics.registry],
    collect() {
      this.reset();
      for (const [name, s] of Object.entries(status())) this.labels({ instance: name, type: s.type }).set(s.ready ? 1 : 0);
    },
  });
  return { reloads, unhandledErrors };
}
