// tls-terminator: HTTPS (or TLS-to-TCP) in front of a legacy app, with mTLS, SNI, hot certificate
// reload and JA3/JA4. Only the schema lives here; the runtime loads when a config uses the plugin.
import { definePlugin } from '../../src/plugin-api.ts';
import { type TlsTerminatorConfig, configSchema } from './config-schema.ts';

// Not `export default definePlugin(...)`: TypeScript 5.9 does not rewrite the .ts extension of
// a dynamic import inside an exported-default object literal, and the compiled image would break.
const plugin = definePlugin<TlsTerminatorConfig>({
  type: 'tls-terminator',
  description: 'Terminates TLS (HTTP/1.1, HTTP/2, mTLS, SNI, hot cert reload, JA3/JA4) and proxies to the app over HTTP or TCP',
  configSchema,
  async create(config, ctx) {
    const { TlsTerminator } = await import('./terminator.ts');
    return new TlsTerminator(config, ctx);
  },
});

export default plugin;
