// Built-in plugin types. Each entry imports only the plugin's descriptor (schema and
// factory); the runtime and heavy dependencies load inside `create()`, so a config
// pays in memory and start-up only for the plugins it uses.
import type { PluginDescriptor } from '../plugin-api.ts';

type Loader = () => Promise<{ default: PluginDescriptor }>;

export const BUILTIN_PLUGINS: Record<string, Loader> = {
  'log-shipper': () => import('../../plugins/log-shipper/index.ts'),
  'tls-terminator': () => import('../../plugins/tls-terminator/index.ts'),
  'config-sync': () => import('../../plugins/config-sync/index.ts'),
  'app-monitor': () => import('../../plugins/app-monitor/index.ts'),
};
