// `sidekick webhook` as the API server meets it: a real process serving HTTPS with a certificate
// made by `sidekick webhook certs`, called the way kube-apiserver calls it (POST of an
// AdmissionReview), with every response field checked strictly.
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rename, symlink, cp } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { join } from 'node:path';
import jsonpatch from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectManifests, TEMPLATE_PATH } from '../../src/inject/inject-manifests.ts';
import { parseWebhookArgs } from '../../src/webhook/webhook-command.ts';
import { FIXTURE_FILES, FIXTURES, GOLDEN_OPTIONS } from '../inject/fixture-set.ts';
import { type AgentProcess, BIN, spawnAgent, tempDir } from '../helpers/agent-process.ts';

const SERVICE = 'sidekick-webhook';
const NAMESPACE = 'sidekick-system';
const HOST = `${SERVICE}.${NAMESPACE}.svc`;

let dir: { path: string; cleanup: () => Promise<void> };
let webhook: AgentProcess;
let port: number;
let ca: string;
let caBundle: string;

function certs(out: string) {
  const r = spawnSync(process.execPath, [BIN, 'webhook', 'certs', '--service', SERVICE, '--namespace', NAMESPACE, '--out', out], { encoding: 'utf8' });
  expect(r.stderr).toContain(`for ${HOST}, ${HOST}.cluster.local`);
  expect(r.status).toBe(0);
  return r.stdout.trim();
}

/** A Secret volume as the kubelet writes it: files are symlinks through ..data to a timestamped dir. */
async function secretVolume(volume: string, from: string, version: string) {
  const target = join(volume, `..${version}`);
  await mkdir(target, { recursive: true });
  for (const f of ['tls.crt', 'tls.key']) await cp(join(from, f), join(target, f));
  await symlink(`..${version}`, join(volume, '..data_tmp'));
  await rename(join(volume, '..data_tmp'), join(volume, '..data'));
}

beforeAll(async () => {
  dir = await tempDir();
  caBundle = certs(join(dir.path, 'certs-1'));
  ca = await readFile(join(dir.path, 'certs-1', 'ca.crt'), 'utf8');
  const volume = join(dir.path, 'secret');
  await mkdir(volume);
  await secretVolume(volume, join(dir.path, 'certs-1'), '2026_01');
  for (const f of ['tls.crt', 'tls.key']) await symlink(join('..data', f), join(volume, f));
  webhook = await spawnAgent(['webhook', '--listen', '127.0.0.1:0', '--cert', join(volume, 'tls.crt'), '--key', join(volume, 'tls.key'), '--shutdown-delay', '0', '--image', GOLDEN_OPTIONS.image], { waitReady: false });
  port = (await webhook.waitForLog((l) => l.msg === 'sidekick webhook listening')).port;
});
afterAll(async () => {
  await webhook?.stop('SIGKILL');
  await dir.cleanup();
});

interface Reply { status: number; type: string; body: string }

function post(body: string | Buffer, path = '/mutate', trust = ca, method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, servername: HOST, path, method, ca: trust, headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c) => (text += c)).on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body: text }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? body : undefined);
  });
}

let uidCounter = 0;
function review(pod: unknown, extra: Record<string, unknown> = {}) {
  const uid = `0d7e2c0a-${String(++uidCounter).padStart(4, '0')}-4f57-9a37-2b8f0e3c9d11`;
  return { uid, body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace: 'shop', object: pod, dryRun: false, ...extra } }) };
}

/** The response, checked as the API server checks it: exact envelope, uid echoed, known fields only. */
function answer(reply: Reply, uid: string) {
  expect(reply.status).toBe(200);
  expect(reply.type).toBe('application/json');
  const r = JSON.parse(reply.body);
  expect(Object.keys(r).sort()).toEqual(['apiVersion', 'kind', 'response']);
  expect(r.apiVersion).toBe('admission.k8s.io/v1');
  expect(r.kind).toBe('AdmissionReview');
  expect(r.response.uid).toBe(uid);
  expect(typeof r.response.allowed).toBe('boolean');
  for (const k of Object.keys(r.response)) expect(['uid', 'allowed', 'patchType', 'patch', 'warnings', 'status']).toContain(k);
  if ('patch' in r.response) expect(r.response.patchType).toBe('JSONPatch');
  const ops = r.response.patch ? JSON.parse(Buffer.from(r.response.patch, 'base64').toString('utf8')) : undefined;
  return { response: r.response, ops };
}

function podOf(template: any) {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'x-', ...template.metadata }, spec: template.spec };
}

function templates(text: string) {
  return parseAllDocuments(text).flatMap((d) => {
    const o = d.toJS();
    const items = o.kind === 'List' ? o.items : [o];
    return items.filter((i: any) => TEMPLATE_PATH[i.kind]).map((i: any) => {
      const path = TEMPLATE_PATH[i.kind]!;
      return path.length ? path.reduce((x: any, k) => x[k], i) : { metadata: i.metadata, spec: i.spec };
    });
  });
}

describe('sidekick webhook', () => {
  it('certs prints the CA as the caBundle', () => {
    expect(Buffer.from(caBundle, 'base64').toString('utf8')).toBe(ca);
  });

  for (const file of FIXTURE_FILES) {
    it(`gives the same pod as sidekick inject: ${file}`, async () => {
      const input = readFileSync(join(FIXTURES, file), 'utf8');
      const [before] = templates(input);
      const [injected] = templates(injectManifests(input, file, GOLDEN_OPTIONS).output);
      const pod = podOf(before);
      const { uid, body } = review(pod);
      const { response, ops } = answer(await post(body), uid);
      expect(response.allowed).toBe(true);
      const patched = jsonpatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
      expect(patched).toEqual(podOf(injected));
      // Reinvoked (reinvocationPolicy: IfNeeded) on its own result: nothing more to do.
      const again = review(patched);
      const second = answer(await post(again.body), again.uid);
      expect(second.response).toEqual({ uid: again.uid, allowed: true });
    });
  }

  it('escapes the "/" of annotation keys as ~1 in patch paths', async () => {
    const [template] = templates(readFileSync(join(FIXTURES, 'pod.yaml'), 'utf8'));
    const { uid, body } = review(podOf(template));
    const { ops } = answer(await post(body), uid);
    expect(ops).toContainEqual({ op: 'add', path: '/metadata/annotations/sidekick.dev~1injected', value: GOLDEN_OPTIONS.image });
    expect(ops.map((o: any) => o.op)).toEqual(ops.map(() => 'add'));
  });

  it('leaves alone opted-out pods, its own pods and kube-system, with no patch', async () => {
    const spec = { containers: [{ name: 'a', image: 'a' }] };
    for (const [pod, extra] of [
      [{ metadata: { labels: { app: 'a' }, annotations: { 'sidekick.dev/inject': 'false' } }, spec }, {}],
      [{ metadata: { labels: { 'app.kubernetes.io/name': 'sidekick-webhook' } }, spec }, {}],
      [{ metadata: { labels: { app: 'a' } }, spec }, { namespace: 'kube-system' }],
    ] as const) {
      const { uid, body } = review(pod, extra);
      expect(answer(await post(body), uid).response).toEqual({ uid, allowed: true });
    }
  });

  it('denies a pod whose injection clashes or whose annotation is invalid, naming why', async () => {
    const clash = review({ metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'a', image: 'a', ports: [{ name: 'https', containerPort: 443 }] }] } });
    expect(answer(await post(clash.body), clash.uid).response).toEqual({ uid: clash.uid, allowed: false, status: { code: 400, message: 'sidekick injection failed: container "a" already has a port named "https"' } });
    const bad = review({ metadata: { labels: { app: 'a' }, annotations: { 'sidekick.dev/https-port': 'x' } }, spec: { containers: [{ name: 'a', image: 'a' }] } });
    expect(answer(await post(bad.body), bad.uid).response.status.message).toBe('sidekick injection failed: annotation sidekick.dev/https-port: "x": expected a port number (0 for none)');
  });

  it('answers malformed reviews with 400 or an allowed review with a warning, and keeps serving', async () => {
    for (const [body, reason] of [
      ['{"apiVersion":', 'the body is not JSON'],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } }), 'expected an AdmissionReview of apiVersion admission.k8s.io/v1'],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod', request: { uid: 'u' } }), 'expected an AdmissionReview of apiVersion admission.k8s.io/v1'],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { group: '', version: 'v1', kind: 'Pod' } } }), 'the AdmissionReview has no request.uid'],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), 'the AdmissionReview has no request.uid'],
    ]) {
      expect(await post(body!)).toEqual({ status: 400, type: 'text/plain', body: `${reason}\n` });
    }
    const huge = await post(Buffer.alloc(4 * 1024 * 1024, 0x20));
    expect(huge).toMatchObject({ status: 400, body: 'the body is larger than 3145728 bytes\n' });
    const broken = review({ metadata: { labels: { app: 'a' } }, spec: { containers: 'not a list' } });
    expect(answer(await post(broken.body), broken.uid).response).toEqual({ uid: broken.uid, allowed: true, warnings: ['sidekick webhook: the pod does not decode (no spec.containers): not injected'] });
    const update = review({ spec: { containers: [] } }, { operation: 'UPDATE' });
    expect(answer(await post(update.body), update.uid).response).toEqual({ uid: update.uid, allowed: true, warnings: ['sidekick webhook: only Pod CREATE is injected; let UPDATE of v1/Pod through unchanged'] });
    expect((await post('', '/mutate', ca, 'GET')).status).toBe(405);
    expect(await post('', '/healthz', ca, 'GET')).toMatchObject({ status: 200 });
    const metrics = (await post('', '/metrics', ca, 'GET')).body;
    expect(metrics).toMatch(/sidekick_webhook_reviews_total\{instance="sidekick-webhook",result="bad-request"\} [1-9]/);
    expect(metrics).toMatch(/sidekick_webhook_reviews_total\{instance="sidekick-webhook",result="injected"\} [1-9]/);
    expect(metrics).toMatch(/sidekick_webhook_review_duration_seconds_count\{instance="sidekick-webhook"\} [1-9]/);
    expect(webhook.child.exitCode).toBeNull();
  });

  it('is trusted only through its CA, speaks TLS 1.3 and 1.2, and reloads a rotated Secret', async () => {
    const other = readFileSync(join(dir.path, 'certs-1', 'tls.crt'), 'utf8');
    await expect(post('', '/healthz', other, 'GET')).rejects.toThrow(/certificate/);
    // TLS 1.3 by default, and 1.2 for clients that stop there. (Below 1.2, Node's OpenSSL refuses
    // whatever the server asks, so a check of it here could not fail.)
    for (const [maxVersion, expected] of [['TLSv1.3', 'TLSv1.3'], ['TLSv1.2', 'TLSv1.2']] as const) {
      const protocol = await new Promise<string | null>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port, servername: HOST, ca, maxVersion }, () => {
          resolve(s.getProtocol());
          s.end();
        });
        s.on('error', reject);
      });
      expect(protocol).toBe(expected);
    }

    const newBundle = certs(join(dir.path, 'certs-2'));
    const newCa = Buffer.from(newBundle, 'base64').toString('utf8');
    await secretVolume(join(dir.path, 'secret'), join(dir.path, 'certs-2'), '2026_02');
    await webhook.waitForLog((l) => l.msg === 'serving certificate reloaded');
    expect(await post('', '/healthz', newCa, 'GET')).toMatchObject({ status: 200 });
    await expect(post('', '/healthz', ca, 'GET')).rejects.toThrow(/certificate/);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    expect(await webhook.stop('SIGTERM')).toBe(0);
    expect(webhook.logs.map((l) => l.msg)).toContain('shutdown complete');
  });
});

describe('sidekick webhook usage', () => {
  it('is listed in --help, and refuses inject-only and bad options with exit 2', () => {
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
    expect(run(['--help']).stdout).toContain('sidekick webhook [...]');
    const usage = run(['webhook', '--emit-config']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('--emit-config is an option of sidekick inject only');
    expect(usage.stderr).toContain('sidekick webhook certs --service NAME --namespace NS');
    expect(parseWebhookArgs(['--listen', 'nowhere'], {})).toBe('--listen "nowhere": expected host:port');
    expect(parseWebhookArgs(['--https-port', 'x'], {})).toBe('--https-port "x": expected a port number (0 for none)');
    const certs = run(['webhook', 'certs', '--service', 'Bad_Name', '--namespace', 'n']);
    expect(certs.status).toBe(2);
    expect(certs.stderr).toContain('--service and --namespace are required, as Kubernetes names');
  });

  it('exits 1 saying why when its certificate cannot be read', () => {
    const r = spawnSync(process.execPath, [BIN, 'webhook', '--listen', '127.0.0.1:0', '--cert', '/nonexistent/tls.crt', '--key', '/nonexistent/tls.key'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^sidekick webhook: cannot start: ENOENT.*\/nonexistent\/tls\.crt/);
  });
});
