// `sidekick inject` on a YAML stream: runs the engine on every pod template, splices the result
// into the text (untouched documents come out byte for byte, touched ones keep their comments and
// spacing), and looks at the rest of the stream for what the pod needs: its ConfigMap, its TLS
// Secret, the Service that should now send to `https`.
// The project's second YAML parser, for `sidekick inject` only: touched manifests must keep their
// comments, quoting and spacing, which only yaml's Document API gives (js-yaml's AST carries no
// comments). The agent's config file, wherever it is read, and config-sync's check of app files
// use js-yaml: loading yaml costs a process 11.4 MB of RSS and 235 ms against js-yaml's 2.1 MB
// and 50 ms (bench/yaml-parser.bench.ts), and the running agent never loads it.
import { type Document, parseAllDocuments } from 'yaml';
import { readConfigFacts } from './config-facts.ts';
import { emitConfigMap } from './emit-config.ts';
import { InjectError, type InjectOptions } from './inject-options.ts';
import { injectPod, PORT } from './inject-pod.ts';
import { diff, escapePointer, type PatchOp } from './json-diff.ts';
import { spliceYaml } from './yaml-splice.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are open-ended JSON */
type Obj = Record<string, any>;

export interface ManifestOptions extends InjectOptions {
  /** Retarget a Service of the stream from the app's plain port to `https`. */
  httpsForService: boolean;
  /** Append a starter ConfigMap for every injected pod whose ConfigMap is not in the stream. */
  emitConfig: boolean;
}

export interface ManifestResult {
  output: string;
  injected: string[];
  /** `Kind/name: why`, for every workload left as it was. */
  skipped: string[];
  /** `Kind/name: what could not be done`. */
  warnings: string[];
}

/** Where each kind keeps its pod template ([] is the Pod itself). */
export const TEMPLATE_PATH: Record<string, string[]> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

interface Entry {
  doc: number;
  /** JSON Pointer segments from the document root to this object. */
  at: Array<string | number>;
  obj: Obj;
}

export function injectManifests(text: string, source: string, opts: ManifestOptions): ManifestResult {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new InjectError('INPUT', `${source}: not a YAML stream`);
  const entries: Entry[] = [];
  docs.forEach((doc: Document, i) => {
    const [error] = doc.errors;
    if (error) throw new InjectError('INPUT', `${source}: ${error.message}`);
    const top = doc.toJS() as unknown;
    if (!isObj(top)) return;
    if (top.kind === 'List' && Array.isArray(top.items)) top.items.forEach((item: unknown, j: number) => isObj(item) && entries.push({ doc: i, at: ['items', j], obj: item }));
    else entries.push({ doc: i, at: [], obj: top });
  });
  const ofKind = (kind: string) => entries.filter((e) => e.obj.kind === kind);
  const configMaps = new Map(ofKind('ConfigMap').map((e) => [e.obj.metadata?.name, e.obj.data?.['sidekick.yaml']]));
  const secrets = new Set([...ofKind('Secret').map((e) => e.obj.metadata?.name), ...ofKind('Certificate').map((e) => e.obj.spec?.secretName)]);
  const services = ofKind('Service');

  const result: ManifestResult = { output: '', injected: [], skipped: [], warnings: [] };
  const ops = new Map<number, PatchOp[]>();
  const addOps = (doc: number, list: PatchOp[]) => ops.set(doc, [...(ops.get(doc) ?? []), ...list]);
  const emitted: string[] = [];
  const emittedDocs: string[] = [];
  for (const e of entries) {
    const label = `${e.obj.kind ?? 'unknown'}/${e.obj.metadata?.name ?? '(unnamed)'}`;
    const path = TEMPLATE_PATH[String(e.obj.kind)];
    if (!path) {
      if (!['ConfigMap', 'Service', 'Secret'].includes(e.obj.kind)) result.skipped.push(`${label}: no pod template`);
      continue;
    }
    const template = path.length ? getIn(e.obj, path) : { metadata: e.obj.metadata, spec: e.obj.spec };
    if (!isObj(template) || !isObj(template.spec)) {
      result.skipped.push(`${label}: no pod spec`);
      continue;
    }
    if (path.length === 0 && template.metadata === undefined) delete template.metadata;
    let injection;
    try {
      injection = injectPod(template as { spec: Obj }, opts, {
        workloadName: e.obj.metadata?.name,
        configFacts: (name) => (typeof configMaps.get(name) === 'string' ? readConfigFacts(configMaps.get(name)) : undefined),
      });
    } catch (err) {
      if (err instanceof InjectError) throw new InjectError(err.what, `${label}: ${err.message}`);
      throw err;
    }
    if (injection.skipped) {
      result.skipped.push(`${label}: ${injection.skipped}`);
      continue;
    }
    const prefix = [...e.at, ...path].map(escapePointer).map((s) => `/${s}`).join('');
    addOps(e.doc, diff(template, injection.template, prefix));
    result.injected.push(label);
    const warn = (w: string) => result.warnings.push(`${label}: ${w}`);
    injection.warnings.forEach(warn);

    const configMap = injection.configMap!;
    if (!configMaps.has(configMap)) {
      if (!opts.emitConfig) warn(`ConfigMap ${configMap} is not in the input: create it with a sidekick.yaml key, or use --emit-config`);
      else if (!emitted.includes(configMap)) {
        emitted.push(configMap);
        const emit = emitConfigMap(configMap, e.obj.metadata?.namespace, opts, injection);
        emit.warnings.forEach(warn);
        emittedDocs.push(emit.yaml);
      }
    }
    if (injection.tlsSecret && !secrets.has(injection.tlsSecret)) {
      warn(`Secret ${injection.tlsSecret} (tls.crt, tls.key) is not in the input: make sure it exists, e.g. made by a cert-manager Certificate`);
    }
    if (injection.httpsPort) retargetServices(services, template, injection.appPorts ?? [], opts.httpsForService, warn, addOps);
  }

  let from = 0;
  docs.forEach((doc: Document, i) => {
    const end = doc.range?.[2] ?? text.length;
    const segment = text.slice(from, end);
    const list = ops.get(i);
    result.output += list?.length ? spliceYaml(segment, list) : segment;
    from = end;
  });
  result.output += text.slice(from);
  for (const yaml of emittedDocs) {
    if (result.output && !result.output.endsWith('\n')) result.output += '\n';
    result.output += `---\n${yaml}`;
  }
  return result;
}

function retargetServices(services: Entry[], template: Obj, appPorts: Array<{ name?: string; port: number }>, retarget: boolean, warn: (w: string) => void, addOps: (doc: number, ops: PatchOp[]) => void): void {
  const labels: Obj = template.metadata?.labels ?? {};
  const selecting = services.filter((s) => {
    const selector: Obj | undefined = s.obj.spec?.selector;
    return isObj(selector) && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
  });
  let found = false;
  for (const s of selecting) {
    (s.obj.spec?.ports ?? []).forEach((p: Obj, i: number) => {
      const target = p.targetPort ?? p.port;
      const plain = appPorts.some((a) => a.port === Number(target) || (a.name !== undefined && a.name === target));
      if (!plain) return;
      found = true;
      const name = `Service/${s.obj.metadata?.name}`;
      if (!retarget) return warn(`${name} sends port ${p.port} to the app's plain port ${target}: point it at targetPort ${PORT.https} (--https-for-service does)`);
      const at = [...s.at, 'spec', 'ports', i].map(escapePointer).map((x) => `/${x}`).join('');
      addOps(s.doc, [{ op: p.targetPort === undefined ? 'add' : 'replace', path: `${at}/targetPort`, value: PORT.https }]);
    });
  }
  if (!found && appPorts.length) warn(`no Service in the input sends to the app's plain port (${appPorts.map((a) => a.port).join(', ')}): point yours at targetPort ${PORT.https}`);
}

function getIn(obj: Obj, path: string[]): unknown {
  let cur: unknown = obj;
  for (const k of path) cur = isObj(cur) ? cur[k] : undefined;
  return cur;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
