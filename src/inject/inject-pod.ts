// The injection engine: (pod template, options) -> injected pod template + warnings. Pure: no
// I/O, the input is not changed. `sidekick inject` splices its result into YAML, the webhook
// diffs it into a JSON Patch, so both give the same pod.
import type { SidekickConfigFacts } from './config-facts.ts';
import { ANNOTATION, type InjectOptions, InjectError, withAnnotations } from './inject-options.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- pod specs are open-ended JSON */
type Obj = Record<string, any>;

export interface PodTemplate {
  metadata?: Obj;
  spec: Obj;
}

export interface InjectContext {
  /** The workload's name (inject); the webhook has only the pod's own metadata. */
  workloadName?: string;
  /** What the ConfigMap's sidekick.yaml asks for, when the caller can see it. */
  configFacts?(configMap: string): SidekickConfigFacts | undefined;
}

export interface PodInjection {
  template: PodTemplate;
  warnings: string[];
  /** Why the pod was left alone (then template is the input). */
  skipped?: string;
  configMap?: string;
  tlsSecret?: string;
  /** Sidekick's https port in this pod, 0 for none. */
  httpsPort?: number;
  /** The app's plain container ports (what a Service may target). */
  appPorts?: Array<{ name?: string; port: number }>;
}

export const SIDECAR = 'sidekick';
export const CAPTURE = 'sidekick-capture';
export const VOLUME = { config: 'sidekick-config', state: 'sidekick-state', tls: 'sidekick-tls' } as const;
export const PORT = { https: 'https', admin: 'sidekick-admin' } as const;
const PATHS = { config: '/etc/sidekick', state: '/var/lib/sidekick', tls: '/etc/sidekick-tls' } as const;

export function injectPod(input: PodTemplate, base: InjectOptions, ctx: InjectContext = {}): PodInjection {
  const annotations: Obj = input.metadata?.annotations ?? {};
  if (String(annotations[ANNOTATION.inject]) === 'false') return { template: input, warnings: [], skipped: `${ANNOTATION.inject} is "false"` };
  const names = (list: unknown) => (Array.isArray(list) ? list.map((c: Obj) => String(c?.name)) : []);
  const containerNames = [...names(input.spec?.initContainers), ...names(input.spec?.containers)];
  if (containerNames.includes(SIDECAR)) return { template: input, warnings: [], skipped: `already has a "${SIDECAR}" container` };
  if (!Array.isArray(input.spec?.containers) || input.spec.containers.length === 0) {
    throw new InjectError('INPUT', 'the pod spec has no containers');
  }

  const opts = withAnnotations(base, annotations);
  const warnings: string[] = [];
  const template: PodTemplate = structuredClone(input);
  const spec = template.spec;
  const app: Obj[] = spec.containers;
  const appName = nameOf(template, ctx, warnings);
  const configMap = opts.configMap ?? `${appName}-sidekick`;
  const tlsSecret = opts.tlsSecret ?? (opts.httpsPort ? `${appName}-tls` : '');
  const facts = ctx.configFacts?.(configMap);

  refuseClashes(spec, opts, tlsSecret, containerNames);
  const shared = opts.mounts.map((m) => sharedMount(spec, m));

  // Signalling the app needs its process visible (shared PID namespace: a pid file written by the
  // app holds a pid of its own namespace, too) and the same UID, or the kernel says EPERM.
  const signalApp = opts.signalApp ?? facts?.signalApp ?? false;
  let runAsUser = opts.runAsUser;
  if (signalApp) {
    spec.shareProcessNamespace = true;
    if (runAsUser === undefined) runAsUser = appUid(spec, app, warnings);
  }
  if (opts.capture) {
    if (signalApp && runAsUser !== undefined && runAsUser !== opts.capture.proxyUid) {
      warnings.push(`the app runs as UID ${runAsUser} but traffic capture runs Sidekick as its proxy UID ${opts.capture.proxyUid}: a signal reload will fail with EPERM unless they match (set ${ANNOTATION.proxyUid})`);
    }
    runAsUser = opts.capture.proxyUid;
  }
  if (facts) warnings.push(...factMismatches(facts, opts, configMap));

  const sidecar = sidecarContainer(opts, tlsSecret, shared, runAsUser);
  const hadInit = Array.isArray(spec.initContainers);
  const init: Obj[] = (spec.initContainers ??= []);
  let at = 0;
  if (opts.capture) init.splice(at++, 0, captureContainer(opts, app));
  if (opts.nativeSidecar) init.splice(at, 0, sidecar);
  else {
    app.unshift(sidecar);
    if (!hadInit) delete spec.initContainers;
  }
  const volumes: Obj[] = (spec.volumes ??= []);
  volumes.push({ name: VOLUME.config, configMap: { name: configMap } }, { name: VOLUME.state, emptyDir: {} });
  if (tlsSecret) volumes.push({ name: VOLUME.tls, secret: { secretName: tlsSecret } });

  template.metadata ??= {};
  template.metadata.annotations ??= {};
  template.metadata.annotations[ANNOTATION.injected] = opts.image;
  // A regular-container sidecar comes first; kubectl logs/exec should still pick the app.
  if (!opts.nativeSidecar) template.metadata.annotations['kubectl.kubernetes.io/default-container'] ??= app[1]!.name;

  const appPorts = app.flatMap((c) => (Array.isArray(c.ports) && c.name !== SIDECAR ? c.ports : []))
    .filter((p: Obj) => (p.protocol ?? 'TCP') === 'TCP')
    .map((p: Obj) => (p.name ? { name: String(p.name), port: Number(p.containerPort) } : { port: Number(p.containerPort) }));
  return { template, warnings, configMap, ...(tlsSecret ? { tlsSecret } : {}), httpsPort: opts.httpsPort, appPorts };
}

/** `<app>` in `<app>-sidekick` and `<app>-tls`: a label, else the workload's or pod's name. */
function nameOf(t: PodTemplate, ctx: InjectContext, warnings: string[]): string {
  const labels: Obj = t.metadata?.labels ?? {};
  const fromLabel = labels['app.kubernetes.io/name'] ?? labels.app;
  if (fromLabel) return String(fromLabel);
  if (ctx.workloadName) return ctx.workloadName;
  const own = t.metadata?.name ?? String(t.metadata?.generateName ?? '').replace(/-$/, '');
  if (!own) throw new InjectError('INPUT', `cannot name the ConfigMap: give the pod an "app" label or the ${ANNOTATION.configMap} annotation`);
  warnings.push(`no "app" or "app.kubernetes.io/name" label: named the ConfigMap after the pod, "${own}-sidekick"`);
  return own;
}

function refuseClashes(spec: Obj, opts: InjectOptions, tlsSecret: string, containerNames: string[]): void {
  if (containerNames.includes(CAPTURE)) throw new InjectError('CLASH', `the pod already has a container named "${CAPTURE}"`);
  const volumes = (spec.volumes ?? []).map((v: Obj) => v?.name);
  for (const v of [VOLUME.config, VOLUME.state, ...(tlsSecret ? [VOLUME.tls] : [])]) {
    if (volumes.includes(v)) throw new InjectError('CLASH', `the pod already has a volume named "${v}"`);
  }
  const ports: Array<{ container: string; name?: string; port: number }> = [];
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const p of c?.ports ?? []) ports.push({ container: c.name, name: p?.name, port: Number(p?.containerPort) });
  }
  const wanted = [{ name: PORT.admin, port: opts.adminPort, knob: ANNOTATION.adminPort }, ...(opts.httpsPort ? [{ name: PORT.https, port: opts.httpsPort, knob: ANNOTATION.httpsPort }] : [])];
  for (const w of wanted) {
    const byName = ports.find((p) => p.name === w.name);
    if (byName) throw new InjectError('CLASH', `container "${byName.container}" already has a port named "${w.name}"`);
    const byNumber = ports.find((p) => p.port === w.port);
    if (byNumber) throw new InjectError('CLASH', `container "${byNumber.container}" already uses port ${w.port}: give Sidekick another with ${w.knob}`);
  }
}

function sharedMount(spec: Obj, m: { volume: string; path?: string }): { name: string; mountPath: string } {
  const volumes: string[] = (spec.volumes ?? []).map((v: Obj) => v?.name);
  if (!volumes.includes(m.volume)) {
    throw new InjectError('CLASH', `mount ${m.volume}: the pod has no volume named "${m.volume}" (it has: ${volumes.join(', ') || 'none'})`);
  }
  let path = m.path;
  if (!path) {
    for (const c of spec.containers as Obj[]) {
      const mount = (c.volumeMounts ?? []).find((vm: Obj) => vm?.name === m.volume);
      if (mount) {
        path = String(mount.mountPath);
        break;
      }
    }
  }
  if (!path) throw new InjectError('INPUT', `mount ${m.volume}: no app container mounts it; give the path as ${m.volume}:/path`);
  if (Object.values(PATHS).some((p) => path === p || path.startsWith(`${p}/`))) {
    throw new InjectError('CLASH', `mount ${m.volume}: ${path} is where Sidekick keeps its own files`);
  }
  return { name: m.volume, mountPath: path };
}

/** The UID a signal must come from: the app containers', else undefined (the pod's, inherited). */
function appUid(spec: Obj, app: Obj[], warnings: string[]): number | undefined {
  const uids = new Set(app.map((c) => c.securityContext?.runAsUser).filter((u) => u !== undefined));
  const podUid = spec.securityContext?.runAsUser;
  if (uids.size > 1) {
    warnings.push(`the app containers run as different UIDs (${[...uids].join(', ')}): Sidekick runs as ${[...uids][0]}; set ${ANNOTATION.runAsUser} to the one it must signal`);
  }
  const uid = uids.size ? Number([...uids][0]) : undefined;
  if (uid === 0 || (uid === undefined && podUid === 0)) {
    warnings.push(`the app runs as root: Sidekick does not, so its signal reload will fail with EPERM; run the app as a non-root UID`);
    return undefined;
  }
  if (uid === undefined && podUid === undefined) {
    warnings.push(`cannot tell the app's UID (no runAsUser in the pod): the signal reload works only if the app's image runs as 65532, Sidekick's UID; else set ${ANNOTATION.runAsUser}`);
  }
  return uid;
}

function factMismatches(facts: SidekickConfigFacts, opts: InjectOptions, configMap: string): string[] {
  const out: string[] = [];
  if (facts.adminPort !== undefined && facts.adminPort !== opts.adminPort) {
    out.push(`ConfigMap ${configMap}: admin.listen is port ${facts.adminPort} but the probes use ${opts.adminPort}: set ${ANNOTATION.adminPort}`);
  }
  if (opts.httpsPort && facts.tlsPorts.length > 0 && !facts.tlsPorts.includes(opts.httpsPort)) {
    out.push(`ConfigMap ${configMap}: tls-terminator listens on ${facts.tlsPorts.join(', ')} but the https port is ${opts.httpsPort}: set ${ANNOTATION.httpsPort}`);
  }
  return out;
}

function sidecarContainer(opts: InjectOptions, tlsSecret: string, shared: Obj[], runAsUser: number | undefined): Obj {
  const probe = (path: string) => ({ httpGet: { path, port: PORT.admin } });
  return {
    name: SIDECAR,
    image: opts.image,
    ...(opts.nativeSidecar ? { restartPolicy: 'Always' } : {}),
    args: ['run', '--config', `${PATHS.config}/sidekick.yaml`],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ],
    ports: [
      ...(opts.httpsPort ? [{ name: PORT.https, containerPort: opts.httpsPort }] : []),
      { name: PORT.admin, containerPort: opts.adminPort },
    ],
    // Two minutes for the first config sync before the kubelet restarts the sidecar; a native
    // sidecar's startup probe also holds the app back until then.
    startupProbe: { ...probe('/readyz'), periodSeconds: 1, failureThreshold: 120 },
    readinessProbe: probe('/readyz'),
    livenessProbe: { ...probe('/healthz'), periodSeconds: 10 },
    resources: { requests: { cpu: opts.resources.cpuRequest, memory: opts.resources.memoryRequest }, limits: { memory: opts.resources.memoryLimit } },
    securityContext: {
      ...(runAsUser !== undefined ? { runAsUser } : {}),
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: VOLUME.config, mountPath: PATHS.config, readOnly: true },
      { name: VOLUME.state, mountPath: PATHS.state },
      ...(tlsSecret ? [{ name: VOLUME.tls, mountPath: PATHS.tls, readOnly: true }] : []),
      ...shared,
    ],
  };
}

function captureContainer(opts: InjectOptions, app: Obj[]): Obj {
  const c = opts.capture!;
  if (!opts.httpsPort) throw new InjectError('INPUT', `traffic capture needs Sidekick's https port, but it is 0`);
  const inbound = c.inboundPorts.length
    ? c.inboundPorts
    : app.flatMap((a) => (a.ports ?? []).filter((p: Obj) => (p.protocol ?? 'TCP') === 'TCP').map((p: Obj) => Number(p.containerPort)));
  if (inbound.length === 0) throw new InjectError('INPUT', `traffic capture: the app declares no container port; set ${ANNOTATION.captureInboundPorts}`);
  return {
    name: CAPTURE,
    image: opts.image,
    args: [
      'capture',
      '--inbound-ports', inbound.join(','),
      '--inbound-capture-port', String(opts.httpsPort),
      '--proxy-uid', String(c.proxyUid),
      ...(c.proxyGid !== undefined ? ['--proxy-gid', String(c.proxyGid)] : []),
      ...(c.localExcludePorts.length ? ['--local-exclude-ports', c.localExcludePorts.join(',')] : []),
      ...c.outbound.flatMap((o) => ['--outbound', o]),
    ],
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
    // The only root in the pod, and it exits. nft needs CAP_NET_ADMIN alone (iptables-legacy would
    // also need NET_RAW; the image carries nft, and capture-netns.test.ts runs with NET_ADMIN only).
    securityContext: {
      capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
    },
  };
}
