// `sidekick inject` as a user runs it: manifests in through a file or stdin, manifests out.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { BIN, tempDir } from '../helpers/agent-process.ts';

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(() => dir.cleanup());

function inject(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, 'inject', ...args], { cwd: dir.path, input, encoding: 'utf8', env: { ...process.env, SIDEKICK_IMAGE: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, docs: parseAllDocuments(r.stdout ?? '') as any[] };
}

const APP = `# the app, as its team wrote it
apiVersion: apps/v1
kind: Deployment
metadata:
  name: legacy-app
spec:
  template:
    spec:
      initContainers:
        - name: migrate   # runs after Sidekick has started
          image: app:1
      containers:
        - name: app
          image: app:1
      volumes:
        - { name: logs, emptyDir: {} }
---
apiVersion: v1
kind: Service
metadata: { name: legacy-app }
spec: { ports: [{ port: 80 }] }
`;

describe('sidekick inject', () => {
  it('adds a native sidecar to a Deployment and leaves the other documents and comments as they were', async () => {
    await writeFile(join(dir.path, 'app.yaml'), APP);
    const r = inject(['-f', 'app.yaml', '--image=registry.example/sidekick:1.2', '--mount', 'logs:/shared/logs']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('injected: Deployment/legacy-app\n' +
      'warning: Deployment/legacy-app: ConfigMap legacy-app-sidekick is not in the input: create it with a sidekick.yaml key, or use --emit-config\n' +
      'warning: Deployment/legacy-app: Secret legacy-app-tls (tls.crt, tls.key) is not in the input: make sure it exists, e.g. made by a cert-manager Certificate\n');
    expect(r.stdout).toContain('# the app, as its team wrote it');
    expect(r.stdout).toContain('# runs after Sidekick has started');
    const [deployment, service] = r.docs.map((d) => d.toJS());
    expect(service).toEqual({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'legacy-app' }, spec: { ports: [{ port: 80 }] } });
    const pod = deployment.spec.template.spec;
    expect(pod.initContainers.map((c: any) => c.name)).toEqual(['sidekick', 'migrate']);
    expect(pod.containers.map((c: any) => c.name)).toEqual(['app']);
    const sidecar = pod.initContainers[0];
    expect(sidecar).toMatchObject({
      image: 'registry.example/sidekick:1.2',
      restartPolicy: 'Always',
      args: ['run', '--config', '/etc/sidekick/sidekick.yaml'],
      ports: [{ name: 'https', containerPort: 8443 }, { name: 'sidekick-admin', containerPort: 9901 }],
      startupProbe: { httpGet: { path: '/readyz', port: 'sidekick-admin' } },
      readinessProbe: { httpGet: { path: '/readyz', port: 'sidekick-admin' } },
      livenessProbe: { httpGet: { path: '/healthz', port: 'sidekick-admin' } },
      securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true },
    });
    expect(sidecar.volumeMounts).toEqual([
      { name: 'sidekick-config', mountPath: '/etc/sidekick', readOnly: true },
      { name: 'sidekick-state', mountPath: '/var/lib/sidekick' },
      { name: 'sidekick-tls', mountPath: '/etc/sidekick-tls', readOnly: true },
      { name: 'logs', mountPath: '/shared/logs' },
    ]);
    expect(pod.volumes).toEqual([
      { name: 'logs', emptyDir: {} },
      { name: 'sidekick-config', configMap: { name: 'legacy-app-sidekick' } },
      { name: 'sidekick-state', emptyDir: {} },
      { name: 'sidekick-tls', secret: { secretName: 'legacy-app-tls' } },
    ]);
  });

  it('is idempotent: injecting its own output changes nothing', async () => {
    const once = inject([], APP);
    const twice = inject([], once.stdout);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toBe(once.stdout);
    expect(twice.stderr).toContain('left as is: Deployment/legacy-app: already has a "sidekick" container');
  });

  it('leaves the bundled Kubernetes example, which already has Sidekick, byte for byte', () => {
    const example = resolve(import.meta.dirname, '../../examples/kubernetes/deployment.yaml');
    const r = inject(['--file', example]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(example, 'utf8'));
    expect(r.stderr).toContain('left as is: Deployment/legacy-app: already has a "sidekick" container');
  });

  it('finds the pod template of a CronJob, a bare Pod and the items of a List, with the image from $SIDEKICK_IMAGE', () => {
    const input = `kind: CronJob\nmetadata: { name: nightly }\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{ name: job, image: j }]\n` +
      `---\nkind: Pod\nmetadata: { name: one }\nspec:\n  containers: [{ name: c, image: c }]\n` +
      `---\nkind: List\nitems:\n  - { kind: StatefulSet, metadata: { name: db }, spec: { template: { spec: { containers: [{ name: db, image: d }] } } } }\n`;
    const r = spawnSync(process.execPath, [BIN, 'inject', '--config-map', 'shared-sidekick'], { input, encoding: 'utf8', env: { ...process.env, SIDEKICK_IMAGE: 'mirror.local/sidekick:9' } });
    expect(r.status).toBe(0);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('injected'))).toEqual(['injected: CronJob/nightly', 'injected: Pod/one', 'injected: StatefulSet/db']);
    const [cron, pod, list] = parseAllDocuments(r.stdout).map((d: any) => d.toJS());
    for (const spec of [cron.spec.jobTemplate.spec.template.spec, pod.spec, list.items[0].spec.template.spec]) {
      expect(spec.initContainers[0]).toMatchObject({ name: 'sidekick', image: 'mirror.local/sidekick:9' });
      expect(spec.volumes).toContainEqual({ name: 'sidekick-config', configMap: { name: 'shared-sidekick' } });
    }
  });

  it('skips a workload annotated sidekick.dev/inject: "false"', () => {
    const input = `kind: Deployment\nmetadata: { name: skip-me }\nspec:\n  template:\n    metadata:\n      annotations: { sidekick.dev/inject: "false" }\n    spec:\n      containers: [{ name: a, image: a }]\n`;
    const r = inject([], input);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(input);
    expect(r.stderr).toBe('left as is: Deployment/skip-me: sidekick.dev/inject is "false"\n');
  });

  it('refuses a --mount of a volume the pod does not have, naming both', () => {
    const r = inject(['--mount', 'shared-logs:/shared/logs'], APP);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('sidekick inject: Deployment/legacy-app: mount shared-logs: the pod has no volume named "shared-logs" (it has: logs)\n');
  });

  it('reports broken YAML with the file and the line, and bad usage with exit 2', async () => {
    await writeFile(join(dir.path, 'broken.yaml'), 'kind: Pod\nspec:\n  containers: [unclosed\n');
    const broken = inject(['-f', 'broken.yaml']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^sidekick inject: broken\.yaml: .*line \d+/);
    expect(inject(['-f', 'missing.yaml']).stderr).toMatch(/^sidekick inject: cannot read missing\.yaml: ENOENT/);
    const usage = inject(['--mount', 'logs:relative']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--mount "logs:relative": expected VOLUME or VOLUME:/absolute/path');
  });

  it('retargets the Service to https, emits a starter ConfigMap that validates, and uses the one default image', async () => {
    const app = APP.replace('      containers:\n        - name: app\n          image: app:1\n', '      containers:\n        - name: app\n          image: app:1\n          ports: [{ containerPort: 80 }]\n')
      .replace('metadata:\n  name: legacy-app\nspec:\n  template:\n', 'metadata:\n  name: legacy-app\nspec:\n  template:\n    metadata: { labels: { app: legacy-app } }\n')
      .replace('spec: { ports: [{ port: 80 }] }', 'spec: { selector: { app: legacy-app }, ports: [{ port: 80 }] }');
    const plain = inject([], app);
    expect(plain.stderr).toContain("warning: Deployment/legacy-app: Service/legacy-app sends port 80 to the app's plain port 80: point it at targetPort https (--https-for-service does)");
    const r = inject(['--https-for-service', '--emit-config', '--tls-secret', 'legacy-cert'], app);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('ConfigMap');
    const [deployment, service, configMap] = r.docs.map((d) => d.toJS());
    expect(service.spec.ports).toEqual([{ port: 80, targetPort: 'https' }]);
    expect(r.stdout).toContain('spec: { selector: { app: legacy-app }, ports: [{ port: 80, targetPort: https }] }');
    const { DEFAULT_IMAGE } = await import('../../src/inject/inject-options.ts');
    expect(deployment.spec.template.spec.initContainers[0].image).toBe(DEFAULT_IMAGE);
    expect(configMap).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'legacy-app-sidekick' } });
    await writeFile(join(dir.path, 'emitted.yaml'), configMap.data['sidekick.yaml']);
    const validate = spawnSync(process.execPath, [BIN, 'validate', '--config', 'emitted.yaml'], { cwd: dir.path, encoding: 'utf8' });
    expect(validate.stdout + validate.stderr).toContain('valid; plugins: https (tls-terminator)');
    expect(configMap.data['sidekick.yaml']).toContain('upstream: http://127.0.0.1:80');
  });

  it('wires the signal reload the ConfigMap in the stream asks for', () => {
    const input = `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: app-sidekick }\ndata:\n  sidekick.yaml: |\n    plugins:\n      c: { type: config-sync, source: { dir: { path: /x } }, target: /shared, reload: { signal: { process: app } } }\n---\n` +
      `kind: Deployment\nmetadata: { name: app }\nspec:\n  template:\n    spec:\n      containers: [{ name: app, image: a, securityContext: { runAsUser: 4242 } }]\n`;
    const r = inject(['--tls-secret', ''], input);
    expect(r.code).toBe(0);
    const spec = r.docs[1].toJS().spec.template.spec;
    expect(spec.shareProcessNamespace).toBe(true);
    expect(spec.initContainers[0].securityContext.runAsUser).toBe(4242);
    expect(r.stdout.startsWith(input.split('---')[0]!)).toBe(true);
  });
});
