// config-sync: keeps a shared directory in step with S3, an HTTP URL or a local directory,
// publishes every version atomically (Kubernetes AtomicWriter layout) and tells the app to
// reload. Only the schema lives here; the runtime (and the AWS SDK, for s3 sources) loads
// when a config uses the plugin.
import { definePlugin } from '../../src/plugin-api.ts';
import { configSchema, type ConfigSyncConfig } from './config-schema.ts';

// Not `export default definePlugin(...)`: TypeScript 5.9 does not rewrite the .ts extension of
// a dynamic import inside an exported-default object literal, and the compiled image would break.
const plugin = definePlugin<ConfigSyncConfig>({
  type: 'config-sync',
  description: 'Syncs config from S3, HTTP or a directory into a shared volume, publishes atomically, validates, and tells the app to reload',
  configSchema,
  async create(config, ctx) {
    const [{ ConfigSync }, { createSource }] = await Promise.all([
      import('./config-sync.ts'),
      import('./sources/create-source.ts'),
    ]);
    return new ConfigSync(config, ctx, await createSource(config, ctx.resolvePath));
  },
});

export default plugin;
