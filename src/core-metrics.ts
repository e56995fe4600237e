// The agent's own series, beside the ones plugins register through their context.
import type { InstanceStatus } from './host/instance-supervisor.ts';
import type { CounterSeries, MetricFamily } from './metric-family.ts';
import type { MetricsRegistry } from './metrics.ts';
import { VERSION } from './version.ts';

export interface CoreMetrics {
  /** Labelled by `result`. */
  reloads: MetricFamily<'counter'>;
  unhandledErrors: CounterSeries;
}

export function registerCoreMetrics(metrics: MetricsRegistry, status: () => Record<string, InstanceStatus>): CoreMetrics {
  const reloads = metrics.family('counter', {
    name: 'sidekick_config_reloads_total', help: 'Config reloads by result', labelNames: ['result'],
  }, false);
  const unhandledErrors = metrics.family('counter', {
    name: 'sidekick_unhandled_errors_total', help: 'Errors that escaped every handler (bugs)',
  }, false).labels({});
  metrics.family('gauge', {
    name: 'sidekick_build_info', help: 'Always 1; the version label says which build runs', labelNames: ['version'],
  }, false).labels({ version: VERSION }).set(1);
  // Computed when scraped, from the same reports /readyz uses.
  metrics.family('gauge', {
    name: 'sidekick_plugin_ready',
    help: '1 when the plugin instance is running and ready',
    labelNames: ['instance', 'type'],
    collect(family) {
      family.clear();
      for (const [name, s] of Object.entries(status())) family.labels({ instance: name, type: s.type }).set(s.ready ? 1 : 0);
    },
  }, false);
  return { reloads, unhandledErrors };
}
