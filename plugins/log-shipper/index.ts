// log-shipper: tails log files on a shared volume and ships every line to an aggregator,
// at least once and in order per file. Only the schema lives here; the runtime (chokidar,
// sinks, AWS SDK) loads when a config actually uses the plugin.
import { definePlugin } from '../../src/plugin-api.ts';
import { configSchema, type LogShipperConfig } from './config-schema.ts';

// Not `export default definePlugin(...)`: TypeScript 5.9 does not rewrite the .ts extension of
// a dynamic import inside an exported-default object literal, and the compiled image would break.
const plugin = definePlugin<LogShipperConfig>({
  type: 'log-shipper',
  description: 'Tails log files (rotation-safe, checkpointed) and ships every line to http, loki, elasticsearch, s3, syslog, forward, file or stdout',
  configSchema,
  async create(config, ctx) {
    const { LogShipper } = await import('./log-shipper.ts');
    return new LogShipper(config, ctx);
  },
});

export default plugin;
