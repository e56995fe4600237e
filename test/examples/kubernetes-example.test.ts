// The Kubernetes example must stay a config the agent accepts, and a sane native sidecar.
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { tempDir } from '../helpers/agent-process.ts';

const FILE = resolve(import.meta.dirname, '../../examples/kubernetes/deployment.yaml');
let docs: any[];
let dir: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  docs = parseAllDocuments(await readFile(FILE, 'utf8')).map((d) => d.toJS());
  dir = await tempDir();
});
afterAll(() => dir.cleanup());

describe('examples/kubernetes/deployment.yaml', () => {
  it("embeds a sidekick.yaml that validates with the pod's Downward API variables", async () => {
    const configMap = docs.find((d) => d.kind === 'ConfigMap');
    const file = join(dir.path, 'sidekick.yaml');
    await writeFile(file, configMap.data['sidekick.yaml']);
    const config = await loadConfig(file, { POD_NAME: 'legacy-app-7d9f', POD_NAMESPACE: 'shop' });
    expect(config.instances.map((i) => i.type)).toEqual(['tls-terminator', 'config-sync', 'log-shipper']);
    expect(config.core.shutdownTimeout).toBeLessThan(docs.find((d) => d.kind === 'Deployment').spec.template.spec.terminationGracePeriodSeconds * 1000);
  });

  it('runs Sidekick as a native sidecar probed on the admin port', () => {
    const pod = docs.find((d) => d.kind === 'Deployment').spec.template.spec;
    const sidecar = pod.initContainers.find((c: any) => c.name === 'sidekick');
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.startupProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(sidecar.livenessProbe.httpGet.path).toBe('/healthz');
    expect(sidecar.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true });
    expect(pod.shareProcessNamespace).toBe(true);
  });
});
