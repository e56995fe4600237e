// What a sidekick.yaml (seen in a ConfigMap of the same stream) tells the engine about the pod it
// needs: whether it signals the app, and the ports the probes and the Service must use. Read
// loosely: checking the config is `sidekick validate`'s job.
// js-yaml, as the agent reads this file (see load-config.ts), not inject's yaml.
import { load } from 'js-yaml';
import { parseListenAddress } from '../config/listen-address.ts';

export interface SidekickConfigFacts {
  signalApp: boolean;
  adminPort?: number;
  tlsPorts: number[];
}

export function readConfigFacts(text: string): SidekickConfigFacts {
  let config: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- unchecked user YAML
  try {
    config = load(text);
  } catch {
    return { signalApp: false, tlsPorts: [] };
  }
  const plugins: any[] = config?.plugins && typeof config.plugins === 'object' ? Object.values(config.plugins) : []; // eslint-disable-line @typescript-eslint/no-explicit-any
  const port = (listen: unknown) => (listen === undefined ? undefined : parseListenAddress(String(listen))?.port);
  const adminPort = port(config?.admin?.listen) ?? 9901;
  return {
    signalApp: plugins.some((p) => p?.type === 'config-sync' && p?.reload?.signal),
    adminPort,
    tlsPorts: plugins.filter((p) => p?.type === 'tls-terminator').map((p) => port(p.listen)).filter((p): p is number => p !== undefined),
  };
}
