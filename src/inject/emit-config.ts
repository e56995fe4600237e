// `sidekick inject --emit-config`: a starter ConfigMap for an injected pod, made from the flags,
// so the pod starts: admin on the probed port, HTTPS in front of the app's plain port.
// yaml, not the agent's js-yaml: see inject-manifests.ts.
import { stringify } from 'yaml';
import type { InjectOptions } from './inject-options.ts';
import type { PodInjection } from './inject-pod.ts';

export function emitConfigMap(name: string, namespace: string | undefined, opts: InjectOptions, injection: PodInjection): { yaml: string; warnings: string[] } {
  const warnings: string[] = [];
  const plugins: Record<string, unknown> = {};
  const appPort = injection.appPorts?.[0]?.port;
  if (opts.httpsPort && appPort === undefined) {
    warnings.push(`--emit-config: the app declares no container port, so the ConfigMap has no tls-terminator; add one with upstream: http://127.0.0.1:<app port>`);
  } else if (opts.httpsPort && injection.tlsSecret) {
    plugins.https = {
      type: 'tls-terminator',
      listen: `0.0.0.0:${opts.httpsPort}`,
      upstream: `http://127.0.0.1:${appPort}`,
      tls: { cert: '/etc/sidekick-tls/tls.crt', key: '/etc/sidekick-tls/tls.key' },
    };
  }
  const config = stringify({ admin: { listen: `0.0.0.0:${opts.adminPort}` }, dataDir: '/var/lib/sidekick', plugins }, { lineWidth: 0 });
  const doc = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, ...(namespace ? { namespace } : {}), labels: { 'app.kubernetes.io/managed-by': 'sidekick-inject' } },
    data: { 'sidekick.yaml': config },
  };
  return { yaml: `# Made by sidekick inject --emit-config: a starting point; add config-sync or log-shipper here.\n${stringify(doc, { lineWidth: 0 })}`, warnings };
}
