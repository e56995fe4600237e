// The injection engine on its own: what it wires, what it refuses, what it leaves alone.
import { describe, expect, it } from 'vitest';
import { readConfigFacts } from '../../src/inject/config-facts.ts';
import { defaultOptions, InjectError } from '../../src/inject/inject-options.ts';
import { injectPod, type PodTemplate } from '../../src/inject/inject-pod.ts';

const opts = { ...defaultOptions(), image: 'registry.example/sidekick:1.0' };

function pod(extra: { annotations?: Record<string, string>; spec?: Record<string, unknown>; app?: Record<string, unknown> } = {}): PodTemplate {
  return {
    metadata: { labels: { app: 'shop' }, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      containers: [{ name: 'shop', image: 'shop:1', ports: [{ name: 'http', containerPort: 8080 }], volumeMounts: [{ name: 'logs', mountPath: '/app/logs' }], ...extra.app }],
      volumes: [{ name: 'logs', emptyDir: {} }],
      ...extra.spec,
    },
  };
}

function refused(template: PodTemplate, o = opts): InjectError {
  try {
    injectPod(template, o);
  } catch (err) {
    if (err instanceof InjectError) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('injectPod', () => {
  it('wires a native sidecar: ports, ConfigMap, TLS Secret, state, probes, restrictive securityContext', () => {
    const input = pod();
    const frozen = structuredClone(input);
    const r = injectPod(input, opts);
    expect(input).toEqual(frozen);
    const [sidecar] = r.template.spec.initContainers;
    expect(sidecar).toMatchObject({
      name: 'sidekick',
      image: 'registry.example/sidekick:1.0',
      restartPolicy: 'Always',
      ports: [{ name: 'https', containerPort: 8443 }, { name: 'sidekick-admin', containerPort: 9901 }],
      startupProbe: { httpGet: { path: '/readyz', port: 'sidekick-admin' } },
      livenessProbe: { httpGet: { path: '/healthz', port: 'sidekick-admin' } },
      resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '192Mi' } },
      securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    });
    expect(sidecar.securityContext.runAsUser).toBeUndefined();
    expect(r.template.spec.volumes.map((v: { name: string }) => v.name)).toEqual(['logs', 'sidekick-config', 'sidekick-state', 'sidekick-tls']);
    expect(r.template.spec.volumes[1].configMap.name).toBe('shop-sidekick');
    expect(r.template.spec.volumes[3].secret.secretName).toBe('shop-tls');
    expect(r.template.spec.shareProcessNamespace).toBeUndefined();
    expect(r.template.metadata!.annotations['sidekick.dev/injected']).toBe('registry.example/sidekick:1.0');
    expect(r.warnings).toEqual([]);
  });

  it('mounts shared volumes where the app mounts them, or at the path given', () => {
    const r = injectPod(pod({ annotations: { 'sidekick.dev/mounts': 'logs' } }), opts);
    expect(r.template.spec.initContainers[0].volumeMounts).toContainEqual({ name: 'logs', mountPath: '/app/logs' });
    const r2 = injectPod(pod(), { ...opts, mounts: [{ volume: 'logs', path: '/shared/logs' }] });
    expect(r2.template.spec.initContainers[0].volumeMounts).toContainEqual({ name: 'logs', mountPath: '/shared/logs' });
    expect(refused(pod({ annotations: { 'sidekick.dev/mounts': 'nope' } })).message).toBe('mount nope: the pod has no volume named "nope" (it has: logs)');
    expect(refused(pod({ annotations: { 'sidekick.dev/mounts': 'logs:/etc/sidekick/x' } })).code).toBe('ERR_SIDEKICK_INJECT_CLASH');
  });

  it('shares the process namespace and runs as the app UID only when Sidekick signals the app', () => {
    const r = injectPod(pod({ app: { securityContext: { runAsUser: 10001 } } }), { ...opts, signalApp: true });
    expect(r.template.spec.shareProcessNamespace).toBe(true);
    expect(r.template.spec.initContainers[0].securityContext.runAsUser).toBe(10001);
    // From the ConfigMap's sidekick.yaml, when the caller sees it.
    const facts = readConfigFacts('plugins:\n  c:\n    type: config-sync\n    reload: { signal: { process: nginx } }\n');
    const r2 = injectPod(pod(), opts, { configFacts: (name) => (name === 'shop-sidekick' ? facts : undefined) });
    expect(r2.template.spec.shareProcessNamespace).toBe(true);
    expect(r2.warnings).toEqual([expect.stringContaining("cannot tell the app's UID")]);
    // Pod-level UID: inherited, nothing to set, nothing to warn.
    const r3 = injectPod(pod({ spec: { securityContext: { runAsUser: 2000 } } }), { ...opts, signalApp: true });
    expect(r3.template.spec.initContainers[0].securityContext.runAsUser).toBeUndefined();
    expect(r3.warnings).toEqual([]);
    const root = injectPod(pod({ app: { securityContext: { runAsUser: 0 } } }), { ...opts, signalApp: true });
    expect(root.warnings).toEqual([expect.stringContaining('the app runs as root')]);
    expect(root.template.spec.initContainers[0].securityContext.runAsNonRoot).toBe(true);
  });

  it('lets annotations win over the defaults, and names an invalid one', () => {
    const r = injectPod(pod({ annotations: { 'sidekick.dev/https-port': '9443', 'sidekick.dev/image': 'mirror/sk:2', 'sidekick.dev/config-map': 'common' } }), opts);
    expect(r.template.spec.initContainers[0].ports[0]).toEqual({ name: 'https', containerPort: 9443 });
    expect(r.template.spec.initContainers[0].image).toBe('mirror/sk:2');
    expect(r.template.spec.volumes[1].configMap.name).toBe('common');
    for (const [key, value] of [['sidekick.dev/https-port', '70000'], ['sidekick.dev/signal-app', 'yes'], ['sidekick.dev/memory-limit', 'lots'], ['sidekick.dev/mounts', 'a:relative']]) {
      const err = refused(pod({ annotations: { [key!]: value! } }));
      expect(err.code).toBe('ERR_SIDEKICK_INJECT_ANNOTATION');
      expect(err.message).toMatch(new RegExp(`^annotation ${key}: "${value}"`));
    }
  });

  it('leaves alone a pod opted out or already injected', () => {
    const out = pod({ annotations: { 'sidekick.dev/inject': 'false', 'sidekick.dev/https-port': 'garbage' } });
    expect(injectPod(out, opts)).toEqual({ template: out, warnings: [], skipped: 'sidekick.dev/inject is "false"' });
    const once = injectPod(pod(), opts).template;
    expect(injectPod(once, opts).skipped).toBe('already has a "sidekick" container');
  });

  it('refuses clashes of container, volume and port names or numbers', () => {
    expect(refused(pod({ spec: { initContainers: [{ name: 'sidekick-capture', image: 'x' }] } })).message).toBe('the pod already has a container named "sidekick-capture"');
    expect(refused(pod({ spec: { volumes: [{ name: 'sidekick-state', emptyDir: {} }] } })).message).toBe('the pod already has a volume named "sidekick-state"');
    expect(refused(pod({ app: { ports: [{ name: 'https', containerPort: 443 }] } })).message).toBe('container "shop" already has a port named "https"');
    const err = refused(pod({ app: { ports: [{ containerPort: 9901 }] } }));
    expect(err.code).toBe('ERR_SIDEKICK_INJECT_CLASH');
    expect(err.message).toBe('container "shop" already uses port 9901: give Sidekick another with sidekick.dev/admin-port');
  });

  it('makes a regular container for clusters before 1.29, and kubectl still defaults to the app', () => {
    const r = injectPod(pod(), { ...opts, nativeSidecar: false });
    expect(r.template.spec.containers.map((c: { name: string }) => c.name)).toEqual(['sidekick', 'shop']);
    expect(r.template.spec.containers[0].restartPolicy).toBeUndefined();
    expect(r.template.spec.initContainers).toBeUndefined();
    expect(r.template.metadata!.annotations['kubectl.kubernetes.io/default-container']).toBe('shop');
    // An empty list the user wrote stays (a patch that removed it could not be spliced into YAML).
    expect(injectPod(pod({ spec: { initContainers: [] } }), { ...opts, nativeSidecar: false }).template.spec.initContainers).toEqual([]);
  });

  it('puts the capture init container before the sidecar, with only NET_ADMIN, and runs Sidekick as the proxy UID', () => {
    const r = injectPod(pod({ annotations: { 'sidekick.dev/capture': 'true', 'sidekick.dev/capture-outbound': '10.0.0.0/8:5432=15432' } }), opts);
    const [capture, sidecar] = r.template.spec.initContainers;
    expect(capture).toMatchObject({
      name: 'sidekick-capture',
      image: 'registry.example/sidekick:1.0',
      args: ['capture', '--inbound-ports', '8080', '--inbound-capture-port', '8443', '--proxy-uid', '1337', '--outbound', '10.0.0.0/8:5432=15432'],
      securityContext: { capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] }, runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
    });
    expect(capture.restartPolicy).toBeUndefined();
    expect(sidecar.name).toBe('sidekick');
    expect(sidecar.securityContext.runAsUser).toBe(1337);
    const flags = injectPod(pod(), { ...opts, capture: { inboundPorts: [8080, 8081], proxyUid: 1500, proxyGid: 1500, localExcludePorts: [9901], outbound: [] } });
    expect(flags.template.spec.initContainers[0].args).toEqual(['capture', '--inbound-ports', '8080,8081', '--inbound-capture-port', '8443', '--proxy-uid', '1500', '--proxy-gid', '1500', '--local-exclude-ports', '9901']);
  });
});
