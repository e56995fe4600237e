// The admission webhook under load as kube-apiserver puts it there: HTTPS POSTs of
// AdmissionReviews on keep-alive connections, each a realistic pod of 5 containers (2 init, 3
// regular, with env, ports, probes and mounts). Target (issue 17): p99 well under 100 ms.
// Prints reviews/s, latency percentiles measured by the client, and the webhook's CPU per review.
// No peer runs here: other injectors need a live API server to start.
// Run: node_modules/.bin/node bench/webhook.bench.ts   (env: BENCH_SECONDS=10 BENCH_CONCURRENCY=8)
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { defaultWebhookOptions, reviewAdmission } from '../src/webhook/admission-review.ts';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/sidekick.js');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const HOST = 'sidekick-webhook.sidekick-system.svc';

const container = (name: string, port?: number) => ({
  name,
  image: `registry.example/shop/${name}:1.4.2`,
  args: ['--config', '/etc/app/config.yaml', '--log-format', 'json'],
  env: [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'shop-db', key: 'url' } } },
    ...Array.from({ length: 8 }, (_, i) => ({ name: `FEATURE_${i}`, value: String(i % 2 === 0) })),
  ],
  ...(port ? { ports: [{ name: `${name.slice(0, 10)}-http`, containerPort: port }], readinessProbe: { httpGet: { path: '/ready', port } }, livenessProbe: { httpGet: { path: '/live', port } } } : {}),
  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
  securityContext: { runAsUser: 10001, allowPrivilegeEscalation: false },
  volumeMounts: [{ name: 'config', mountPath: '/etc/app' }, { name: 'logs', mountPath: '/var/log/app' }],
});
const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    generateName: 'shop-7d9f8c6b5-',
    namespace: 'shop',
    labels: { app: 'shop', 'pod-template-hash': '7d9f8c6b5', 'app.kubernetes.io/version': '1.4.2' },
    annotations: { 'sidekick.dev/mounts': 'logs', 'prometheus.io/scrape': 'true' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'shop-7d9f8c6b5', uid: 'a1b2', controller: true, blockOwnerDeletion: true }],
  },
  spec: {
    initContainers: [container('migrate'), container('warm-cache')],
    containers: [container('shop', 8080), container('worker', 8081), container('metrics-exporter', 9100)],
    volumes: [{ name: 'config', configMap: { name: 'shop-config' } }, { name: 'logs', emptyDir: {} }],
    serviceAccountName: 'shop',
    terminationGracePeriodSeconds: 30,
  },
};
const review = (uid: string) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace: 'shop', object: POD } });

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sidekick-webhook-bench-'));
  let child: ChildProcess | undefined;
  try {
    const certs = spawnSync(process.execPath, [BIN, 'webhook', 'certs', '--service', 'sidekick-webhook', '--namespace', 'sidekick-system', '--out', dir], { encoding: 'utf8' });
    if (certs.status !== 0) throw new Error(`webhook certs failed: ${certs.stderr}`);
    const ca = readFileSync(join(dir, 'ca.crt'));
    child = spawn(process.execPath, [BIN, 'webhook', '--listen', '127.0.0.1:0', '--cert', join(dir, 'tls.crt'), '--key', join(dir, 'tls.key'), '--shutdown-delay', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
    // --log-level warn hides the "listening" line; find the port from /proc instead of a log.
    const port = await new Promise<number>((resolvePort, reject) => {
      const started = Date.now();
      const look = () => {
        const out = spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' }).stdout;
        const line = out.split('\n').find((l) => l.includes(`pid=${child!.pid},`));
        if (line) return resolvePort(Number(/127\.0\.0\.1:(\d+)/.exec(line)![1]));
        if (Date.now() - started > 20_000) return reject(new Error('webhook did not listen'));
        setTimeout(look, 50);
      };
      look();
    });
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca, servername: HOST });
    const post = (uid: string) => new Promise<void>((done, fail) => {
      const body = review(uid);
      const req = request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', agent, servername: HOST, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c) => (text += c)).on('end', () => {
          if (res.statusCode !== 200 || !JSON.parse(text).response.patch) fail(new Error(`unexpected answer ${res.statusCode}: ${text.slice(0, 200)}`));
          else done();
        });
      });
      req.on('error', fail);
      req.end(body);
    });
    const run = async (seconds: number) => {
      const latencies: number[] = [];
      const until = performance.now() + seconds * 1000;
      let n = 0;
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < until) {
          const t = performance.now();
          await post(`bench-${n++}`);
          latencies.push(performance.now() - t);
        }
      }));
      return latencies.sort((a, b) => a - b);
    };
    await run(2); // warm-up: TLS sessions, JIT
    const cpu0 = cpuSeconds(child.pid!);
    const t0 = performance.now();
    const lat = await run(SECONDS);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(child.pid!) - cpu0;
    const metrics = await new Promise<string>((done) => request({ host: '127.0.0.1', port, path: '/metrics', agent, servername: HOST }, (res) => {
      let t = '';
      res.setEncoding('utf8').on('data', (c) => (t += c)).on('end', () => done(t));
    }).end());
    const count = Number(/sidekick_webhook_review_duration_seconds_count\{[^}]*\} (\d+)/.exec(metrics)?.[1]);
    const sum = Number(/sidekick_webhook_review_duration_seconds_sum\{[^}]*\} ([\d.e-]+)/.exec(metrics)?.[1]);
    agent.destroy();
    // The engine alone, in this process: CPU per review without TLS and HTTP, the floor of the above.
    const options = defaultWebhookOptions();
    const bodies = Array.from({ length: 2000 }, (_, i) => review(`engine-${i}`));
    for (const b of bodies.slice(0, 200)) reviewAdmission(b, options);
    const c0 = process.cpuUsage();
    for (const b of bodies) reviewAdmission(b, options);
    const c1 = process.cpuUsage(c0);
    const engineUs = (c1.user + c1.system) / bodies.length;
    console.log(`load average during the run: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${(await import('node:os')).availableParallelism()} cores`);
    console.log(`webhook: ${CONCURRENCY} keep-alive HTTPS clients, ${SECONDS} s, pod of 5 containers (${Buffer.byteLength(review('x'))} bytes a review)`);
    console.log('| reviews/s | p50 | p99 | max | webhook CPU per review (process) | review time in the server (mean, wall) | engine CPU per review (in-process) |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    console.log(`| ${(lat.length / elapsed).toFixed(0)} | ${pct(lat, 50).toFixed(2)} ms | ${pct(lat, 99).toFixed(2)} ms | ${lat[lat.length - 1]!.toFixed(2)} ms | ${((cpu / lat.length) * 1e6).toFixed(0)} µs | ${((sum / count) * 1e6).toFixed(0)} µs | ${engineUs.toFixed(0)} µs |`);
  } finally {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
