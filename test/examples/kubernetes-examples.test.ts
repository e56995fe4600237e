// Every Kubernetes example, rendered as `kubectl apply -k` would render it, must be objects the
// API server accepts (kubernetes-models' schemas, plus the rules they miss), pods that are wired
// right, and embedded sidekick.yaml files that `sidekick validate` accepts.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IMAGE } from '../../src/inject/inject-options.ts';
import { injectManifests, TEMPLATE_PATH } from '../../src/inject/inject-manifests.ts';
import { defaultOptions } from '../../src/inject/inject-options.ts';
import { BIN, tempDir } from '../helpers/agent-process.ts';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as admission from 'kubernetes-models/admissionregistration.k8s.io/v1';

const MODELS: Record<string, Record<string, unknown>> = { v1: core, 'apps/v1': apps, 'policy/v1': policy, 'admissionregistration.k8s.io/v1': admission };

const ROOT = resolve(import.meta.dirname, '../../examples/kubernetes');
const EXAMPLES = readdirSync(ROOT).filter((d) => existsSync(join(ROOT, d, 'kustomization.yaml'))).sort();
const rendered = new Map<string, { text: string; objects: any[] }>();
let dir: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  dir = await tempDir();
  for (const example of EXAMPLES) {
    const r = spawnSync('kubectl', ['kustomize', join(ROOT, example)], { encoding: 'utf8' });
    if (r.error) throw new Error(`kubectl is needed to render the examples: ${r.error.message}`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    rendered.set(example, { text: r.stdout, objects: parseAllDocuments(r.stdout).map((d) => d.toJS()) });
  }
});
afterAll(() => dir.cleanup());

/** kubernetes-models' class for an object, or undefined for kinds it does not ship (CRDs). */
function model(obj: any): (new (o: unknown) => { validate(): void }) | undefined {
  return MODELS[obj.apiVersion]?.[obj.kind] as (new (o: unknown) => { validate(): void }) | undefined;
}

function podTemplates(objects: any[]) {
  return objects.filter((o) => TEMPLATE_PATH[o.kind]).map((o) => ({ owner: o, template: TEMPLATE_PATH[o.kind]!.reduce((x: any, k) => x?.[k], o) }));
}

/** What the schemas do not catch, and the API server or the kubelet would. */
function checkPod(label: string, spec: any, podKind: string): void {
  const init: any[] = spec.initContainers ?? [];
  const containers: any[] = spec.containers ?? [];
  if (spec.restartPolicy !== undefined) expect(['Always', 'OnFailure', 'Never'], label).toContain(spec.restartPolicy);
  if (podKind === 'Deployment') expect(spec.restartPolicy ?? 'Always', label).toBe('Always');
  for (const c of containers) expect(c.restartPolicy, `${label}: restartPolicy on a regular container`).toBeUndefined();
  for (const c of init) if (c.restartPolicy !== undefined) expect(c.restartPolicy, label).toBe('Always');
  const names = [...init, ...containers].map((c) => c.name);
  expect(new Set(names).size, `${label}: container names ${names}`).toBe(names.length);
  const portNames = [...init, ...containers].flatMap((c) => (c.ports ?? []).map((p: any) => p.name).filter(Boolean));
  expect(new Set(portNames).size, `${label}: port names ${portNames}`).toBe(portNames.length);
  for (const n of portNames) expect(n.length, n).toBeLessThanOrEqual(15);
  const volumes = (spec.volumes ?? []).map((v: any) => v.name);
  expect(new Set(volumes).size).toBe(volumes.length);
  for (const c of [...init, ...containers]) {
    for (const m of c.volumeMounts ?? []) expect(volumes, `${label}: ${c.name} mounts ${m.name}`).toContain(m.name);
    const own = (c.ports ?? []).map((p: any) => p.name);
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const port = c[probe]?.httpGet?.port;
      if (typeof port === 'string') expect(own, `${label}: ${c.name} ${probe} port`).toContain(port);
    }
  }
}

describe('examples/kubernetes', () => {
  it('has the three uses and the webhook, each rendering with kubectl kustomize', () => {
    expect(EXAMPLES).toEqual(['config-from-s3', 'https-mtls', 'logs-to-elasticsearch', 'logs-to-loki', 'webhook']);
  });

  it('docs/kubernetes.md names the one default image and every example', () => {
    const doc = readFileSync(resolve(ROOT, '../../docs/kubernetes.md'), 'utf8');
    expect(doc).toContain(DEFAULT_IMAGE);
    for (const other of doc.match(/ghcr\.io\/[\w./-]+:[\w.-]+/g) ?? []) expect(other).toBe(DEFAULT_IMAGE);
    for (const example of EXAMPLES) expect(doc).toContain(`\`${example}\``);
  });

  for (const example of ['config-from-s3', 'https-mtls', 'logs-to-elasticsearch', 'logs-to-loki', 'webhook']) {
    it(`${example}: valid objects, wired pods, valid sidekick.yaml`, async () => {
      const { text, objects } = rendered.get(example)!;
      for (const obj of objects) {
        expect(obj.metadata?.name, `${obj.kind} has a name`).toBeTruthy();
        const Model = model(obj);
        if (Model) new Model(obj).validate();
        else if (obj.kind === 'Certificate') expect(obj.spec).toMatchObject({ secretName: expect.any(String), issuerRef: { name: expect.any(String) } });
        else if (obj.kind === 'Issuer') expect(Object.keys(obj.spec).filter((k) => ['ca', 'selfSigned', 'acme', 'vault'].includes(k))).toHaveLength(1);
        else throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
      }
      for (const { owner, template } of podTemplates(objects)) {
        const label = `${example} ${owner.kind}/${owner.metadata.name}`;
        checkPod(label, template.spec, owner.kind);
        // Services send to ports the selected pods have.
        for (const svc of objects.filter((o) => o.kind === 'Service' && Object.entries(o.spec.selector ?? {}).every(([k, v]) => template.metadata?.labels?.[k] === v))) {
          const ports = [...(template.spec.initContainers ?? []), ...template.spec.containers].flatMap((c: any) => c.ports ?? []);
          for (const p of svc.spec.ports) {
            if (typeof p.targetPort === 'string') expect(ports.map((x: any) => x.name), `${label}: Service ${svc.metadata.name}`).toContain(p.targetPort);
          }
        }
        const images = [...(template.spec.initContainers ?? []), ...template.spec.containers].filter((c: any) => c.name === 'sidekick' || c.name === 'webhook').map((c: any) => c.image);
        for (const image of images) expect(image, label).toBe(DEFAULT_IMAGE);
      }
      // Already injected: sidekick inject leaves the rendered stream byte for byte.
      const again = injectManifests(text, example, { ...defaultOptions(), httpsForService: false, emitConfig: false });
      expect(again.output).toBe(text);
      expect(again.injected).toEqual([]);

      for (const cm of objects.filter((o) => o.kind === 'ConfigMap' && o.data?.['sidekick.yaml'])) {
        const file = join(dir.path, `${example}-${cm.metadata.name}.yaml`);
        await writeFile(file, cm.data['sidekick.yaml']);
        const r = spawnSync(process.execPath, [BIN, 'validate', '--config', file], { encoding: 'utf8', env: { ...process.env, POD_NAME: 'p-0', POD_NAMESPACE: 'ns' } });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
      }
    });
  }

  it('the webhook: 2 replicas under a PDB, a v1 webhook without side effects, never on itself or kube-system', () => {
    const objects = rendered.get('webhook')!.objects;
    const byKind = (k: string) => objects.filter((o) => o.kind === k);
    const [deployment] = byKind('Deployment');
    expect(deployment.spec.replicas).toBe(2);
    const podLabels = deployment.spec.template.metadata.labels;
    const [pdb] = byKind('PodDisruptionBudget');
    expect(Object.entries(pdb.spec.selector.matchLabels).every(([k, v]) => podLabels[k] === v)).toBe(true);
    expect(deployment.spec.template.spec.containers[0].args).toContain(`--image=${DEFAULT_IMAGE}`);
    const [service] = byKind('Service');
    const [mwc] = byKind('MutatingWebhookConfiguration');
    expect(mwc.metadata.annotations['cert-manager.io/inject-ca-from']).toBe(`${service.metadata.namespace}/${byKind('Certificate').find((c) => c.spec.secretName === 'sidekick-webhook-tls').metadata.name}`);
    for (const hook of mwc.webhooks) {
      expect(hook).toMatchObject({ sideEffects: 'None', admissionReviewVersions: ['v1'], reinvocationPolicy: 'IfNeeded', failurePolicy: expect.stringMatching(/^(Fail|Ignore)$/) });
      expect(hook.timeoutSeconds).toBeLessThanOrEqual(10);
      expect(hook.clientConfig.service).toEqual({ name: service.metadata.name, namespace: service.metadata.namespace, path: '/mutate', port: 443 });
      expect(hook.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
      // Its own pods are not selected: by their label, or by their namespace.
      const own = hook.objectSelector.matchExpressions?.some((e: any) => e.operator === 'NotIn' && e.values.includes(podLabels[e.key]))
        || hook.namespaceSelector.matchExpressions?.some((e: any) => e.key === 'kubernetes.io/metadata.name' && e.values.includes(service.metadata.namespace))
        || hook.namespaceSelector.matchLabels;
      expect(own).toBeTruthy();
      const kubeSystem = hook.namespaceSelector.matchLabels || hook.namespaceSelector.matchExpressions.some((e: any) => e.key === 'kubernetes.io/metadata.name' && e.values.includes('kube-system'));
      expect(kubeSystem).toBeTruthy();
    }
  });
});
