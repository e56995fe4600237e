// app-monitor: watches the app the sidecar sits beside: its processes (from /proc, in a shared
// process namespace), its cgroup v2 figures, and a probe of its port. Only the schema lives
// here; the runtime loads when a config uses the plugin.
import { definePlugin } from '../../src/plugin-api.ts';
import { configSchema, type AppMonitorConfig } from './config-schema.ts';

// Not `export default definePlugin(...)`: TypeScript 5.9 does not rewrite the .ts extension of
// a dynamic import inside an exported-default object literal, and the compiled image would break.
const plugin = definePlugin<AppMonitorConfig>({
  type: 'app-monitor',
  description: "Reports the app's CPU, memory, file descriptors, threads and restarts from /proc, its cgroup figures, and probes it over HTTP or TCP",
  configSchema,
  async create(config, ctx) {
    const { AppMonitor } = await import('./app-monitor.ts');
    return new AppMonitor(config, ctx);
  },
});

export default plugin;
