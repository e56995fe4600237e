// `sidekick inject`: adds Sidekick to the pod templates of Kubernetes manifests, the way
// `linkerd inject` does: manifests in, manifests out, so it fits kubectl, kustomize and CI.
// The sidecar is a native one (an init container with restartPolicy: Always, Kubernetes
// >= 1.29): it starts before the app, its startup probe holds the app back until Sidekick is
// ready (the first config sync has published), and it stops after the app.
import { type Document, isMap, isSeq, parseAllDocuments, type YAMLMap } from 'yaml';
import { SidekickError } from '../errors.ts';

export interface InjectOptions {
  image: string;
  /** ConfigMap with the `sidekick.yaml` key; default `<workload name>-sidekick`. */
  configMap?: string;
  /** Volumes the pod already has, mounted into the sidecar: [volume name, mount path]. */
  mounts: Array<[string, string]>;
  /** Must match `admin.listen` in the ConfigMap's sidekick.yaml (the default is 9901). */
  adminPort: number;
}

export interface InjectResult {
  output: string;
  injected: string[];
  /** `Kind/name: why`, for every document left as it was. */
  skipped: string[];
}

export class InjectError extends SidekickError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SIDEKICK_INJECT_INVALID', message, options);
  }
}

const CONTAINER = 'sidekick';
/** `sidekick.dev/inject: "false"` on a workload or its pod template leaves it alone. */
const OPT_OUT = 'sidekick.dev/inject';
const CONFIG_VOLUME = 'sidekick-config';
const STATE_VOLUME = 'sidekick-state';
const ADMIN_PORT = 'sidekick-admin';

// Where each kind keeps its pod template ([] is the Pod itself).
const TEMPLATE: Record<string, string[]> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export function injectSidecar(text: string, source: string, opts: InjectOptions): InjectResult {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new InjectError(`${source}: not a YAML stream`);
  const result: InjectResult = { output: '', injected: [], skipped: [] };
  let from = 0;
  for (const doc of docs) {
    const [error] = doc.errors;
    if (error) throw new InjectError(`${source}: ${error.message}`);
    const before = result.injected.length;
    const top = doc.contents;
    if (isMap(top)) {
      const items = String(top.get('kind')) === 'List' ? top.get('items', true) : undefined;
      if (isSeq(items)) for (const item of items.items) isMap(item) && injectWorkload(doc, item, opts, result);
      else injectWorkload(doc, top, opts, result);
    }
    // A document left alone comes out byte for byte; a changed one keeps its comments and
    // key order, but yaml re-spaces it.
    const end = doc.range[2];
    if (result.injected.length === before) result.output += text.slice(from, end);
    else {
      if (from > 0) doc.directives.docStart = true;
      result.output += doc.toString({ flowCollectionPadding: false });
    }
    from = end;
  }
  result.output += text.slice(from);
  return result;
}

function injectWorkload(doc: Document, workload: YAMLMap, opts: InjectOptions, result: InjectResult): void {
  const kind = String(workload.get('kind') ?? 'unknown');
  const name = String(workload.getIn(['metadata', 'name']) ?? '');
  const label = `${kind}/${name || '(unnamed)'}`;
  const template = TEMPLATE[kind];
  if (!template) return void result.skipped.push(`${label}: no pod template`);
  const optedOut = [['metadata'], [...template, 'metadata']].some((m) => String(workload.getIn([...m, 'annotations', OPT_OUT])) === 'false');
  if (optedOut) return void result.skipped.push(`${label}: ${OPT_OUT} is "false"`);
  const spec = workload.getIn([...template, 'spec'], true);
  if (!isMap(spec)) return void result.skipped.push(`${label}: no pod spec`);
  const named = (list: string) => {
    const seq = spec.get(list, true);
    return isSeq(seq) ? seq.items.filter(isMap).map((c) => String(c.get('name'))) : [];
  };
  if ([...named('containers'), ...named('initContainers')].includes(CONTAINER)) {
    return void result.skipped.push(`${label}: already has a "${CONTAINER}" container`);
  }
  const volumes = named('volumes');
  for (const [volume] of opts.mounts) {
    if (!volumes.includes(volume)) throw new InjectError(`${label}: --mount ${volume}: the pod has no volume named "${volume}" (it has: ${volumes.join(', ') || 'none'})`);
  }

  prepend(doc, spec, 'initContainers', sidecar(opts));
  const configMap = opts.configMap ?? `${name}-sidekick`;
  if (!volumes.includes(CONFIG_VOLUME)) append(doc, spec, 'volumes', { name: CONFIG_VOLUME, configMap: { name: configMap } });
  if (!volumes.includes(STATE_VOLUME)) append(doc, spec, 'volumes', { name: STATE_VOLUME, emptyDir: {} });
  result.injected.push(label);
}

function prepend(doc: Document, map: YAMLMap, key: string, value: unknown): void {
  const seq = map.get(key, true);
  if (isSeq(seq)) seq.items.unshift(doc.createNode(value));
  else map.set(key, doc.createNode([value]));
}

function append(doc: Document, map: YAMLMap, key: string, value: unknown): void {
  const seq = map.get(key, true);
  if (isSeq(seq)) seq.items.push(doc.createNode(value));
  else map.set(key, doc.createNode([value]));
}

function sidecar(opts: InjectOptions): Record<string, unknown> {
  const probe = (path: string) => ({ httpGet: { path, port: ADMIN_PORT } });
  return {
    name: CONTAINER,
    image: opts.image,
    restartPolicy: 'Always',
    args: ['run', '--config', '/etc/sidekick/sidekick.yaml'],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ],
    ports: [{ name: ADMIN_PORT, containerPort: opts.adminPort }],
    // Two minutes for the first sync before the kubelet gives up and restarts the sidecar.
    startupProbe: { ...probe('/readyz'), periodSeconds: 1, failureThreshold: 120 },
    readinessProbe: probe('/readyz'),
    livenessProbe: { ...probe('/healthz'), periodSeconds: 10 },
    resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '192Mi' } },
    securityContext: {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: CONFIG_VOLUME, mountPath: '/etc/sidekick', readOnly: true },
      { name: STATE_VOLUME, mountPath: '/var/lib/sidekick' },
      ...opts.mounts.map(([name, mountPath]) => ({ name, mountPath })),
    ],
  };
}
