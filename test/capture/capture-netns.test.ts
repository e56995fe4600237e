// `sidekick capture` for real: two network namespaces joined by a veth pair, a plain app bound to
// 0.0.0.0:8080 in the "pod" one, Sidekick there under its own UID (1337), the rules written by
// `sidekick capture` with only CAP_NET_ADMIN, and a client and a TLS destination in the "client"
// namespace. Nothing touches the host's namespace; every namespace is deleted in afterAll.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/agent-process.ts';
import { createNetnsPair, netnsPair } from '../helpers/netns-pair.ts';
import { createPki } from '../plugins/tls-terminator/helpers.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/sidekick.js');
const NODE = process.execPath;
const UID = 1337;

const tool = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
const skipReason = process.getuid?.() !== 0 ? 'not root: network namespaces and firewall rules need root'
  : !tool('ip') ? 'iproute2 (ip) not installed'
  : !tool('nft') && !tool('iptables') ? 'neither nftables nor iptables installed'
  : !tool('setpriv') ? 'setpriv (util-linux) not installed'
  : '';
if (skipReason) console.warn(`capture-netns.test.ts skipped: ${skipReason}`);

const pair = netnsPair('skc', 201); // created in beforeAll
const { client: CLIENT, pod: POD, clientIp: CLIENT_IP, podIp: POD_IP } = pair;
const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: 'pipe' }).toString();
const inNs = (ns: string, ...args: string[]) => spawnSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', timeout: 30_000 });

interface Proc {
  child: ChildProcess;
  lines: string[];
  waitFor(re: RegExp, ms?: number): Promise<string>;
}
const procs: Proc[] = [];

/** A process in a namespace whose stdout lines are kept and can be waited on. */
function startIn(ns: string, args: string[]): Proc {
  const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; done(l: string): void }> = [];
  let buf = '';
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    buf += c;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(l);
      for (const w of [...waiters]) if (w.re.test(l)) (waiters.splice(waiters.indexOf(w), 1), w.done(l));
    }
  });
  const p: Proc = {
    child,
    lines,
    waitFor: (re, ms = 20_000) => {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`no line ${re} within ${ms} ms; stdout: ${lines.join('\n')}; stderr: ${err}`)), ms);
        waiters.push({ re, done: (l) => (clearTimeout(t), res(l)) });
        child.once('exit', (code) => setTimeout(() => rej(new Error(`exited ${code} before ${re}; stderr: ${err}`)), 50));
      });
    },
  };
  procs.push(p);
  return p;
}

const APP = `
const http = require('node:http');
http.createServer((req, res) => {
  console.log(JSON.stringify({ url: req.url, remote: req.socket.remoteAddress }));
  if (req.url === '/egress') {
    http.get('http://${CLIENT_IP}:9443/from-app', (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => res.end('egress: ' + b)); })
      .on('error', (e) => { res.statusCode = 500; res.end('egress failed: ' + e.message); });
    return;
  }
  res.end('app says hi');
}).listen(8080, '0.0.0.0', () => console.log('app listening'));
`;

const DEST = (cert: string, key: string) => `
const https = require('node:https');
const fs = require('node:fs');
https.createServer({ cert: fs.readFileSync(${JSON.stringify(cert)}), key: fs.readFileSync(${JSON.stringify(key)}) }, (req, res) => {
  console.log(JSON.stringify({ url: req.url, encrypted: !!req.socket.encrypted, tls: req.socket.getProtocol(), host: req.headers.host }));
  res.end('hello from the TLS destination');
}).listen(9443, '${CLIENT_IP}', () => console.log('dest listening'));
`;

let dir: { path: string; cleanup(): Promise<void> } | undefined;
let app: Proc;
let dest: Proc;
let sidekick: Proc;

/** `sidekick capture` in the pod namespace with only CAP_NET_ADMIN (bounding set), as the init container has. */
function capture(caps: string, ...args: string[]) {
  return inNs(POD, 'setpriv', `--bounding-set=-all${caps}`, '--inh-caps=-all', NODE, BIN, 'capture', ...args);
}
const CAPTURE_ARGS = ['--inbound-ports', '8080', '--inbound-capture-port', '8443', '--proxy-uid', String(UID), '--outbound', `${CLIENT_IP}/32:9443=15101`];

function curl(...args: string[]) {
  return inNs(CLIENT, 'curl', '-s', '--max-time', '10', ...args);
}

/** A directory uid 1337 can read (a checkout inside a 0700 home is not), with the node binary in it. */
function runnable(base: string): { node: string; bin: string } {
  const probe = spawnSync('setpriv', [`--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', NODE, '-e', `require('fs').accessSync(${JSON.stringify(BIN)})`]);
  if (probe.status === 0) return { node: NODE, bin: BIN };
  const copy = join(base, 'sidekick');
  mkdirSync(copy);
  for (const part of ['bin', 'src', 'plugins', 'package.json', 'node_modules']) sh('cp', '-aL', join(ROOT, part), copy);
  sh('cp', NODE, join(copy, 'node'));
  sh('chmod', '-R', 'a+rX', copy);
  return { node: join(copy, 'node'), bin: join(copy, 'bin/sidekick.js') };
}

describe.skipIf(!!skipReason)('sidekick capture in network namespaces', () => {
  beforeAll(async () => {
    dir = await tempDir('sidekick-capture-');
    chmodSync(dir.path, 0o755);
    createNetnsPair(pair);
    const pki = createPki(dir.path);
    const cert = pki.issue('dest', { cn: 'dest.test', san: `DNS:dest.test,IP:${CLIENT_IP}` });
    for (const f of ['ca.crt', 'dest.crt', 'dest.key']) chmodSync(join(dir.path, f), 0o644);
    writeFileSync(join(dir.path, 'app.cjs'), APP);
    writeFileSync(join(dir.path, 'dest.cjs'), DEST(cert.cert, cert.key));
    const data = join(dir.path, 'data');
    mkdirSync(data);
    chownSync(data, UID, UID);
    const config = join(dir.path, 'sidekick.yaml');
    writeFileSync(config, `admin: { listen: 127.0.0.1:0 }
dataDir: ${data}
plugins:
  inbound:
    type: tls-terminator
    listen: 0.0.0.0:8443
    upstream: http://127.0.0.1:8080
  to-dest:
    type: tls-terminator
    direction: outbound
    listen: 127.0.0.1:15101
    upstream: https://${CLIENT_IP}:9443
    upstreamTls: { ca: ${pki.ca}, serverName: dest.test }
`);
    chmodSync(config, 0o644);
    const { node, bin } = runnable(dir.path);
    app = startIn(POD, [NODE, join(dir.path, 'app.cjs')]);
    dest = startIn(CLIENT, [NODE, join(dir.path, 'dest.cjs')]);
    sidekick = startIn(POD, ['setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', node, bin, 'run', '--config', config]);
    await Promise.all([app.waitFor(/app listening/), dest.waitFor(/dest listening/), sidekick.waitFor(/ ready"/)]);
  }, 120_000);

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => (p.child.exitCode === null && p.child.signalCode === null ? new Promise((r) => p.child.once('exit', r)) : undefined)));
    pair.destroy();
    await dir?.cleanup();
  });

  it('refuses without CAP_NET_ADMIN, naming it', () => {
    const r = capture('', ...CAPTURE_ARGS);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('CAP_NET_ADMIN');
  });

  it('before capture, plain HTTP reaches the app on pod-ip:8080', () => {
    expect(curl(`http://${POD_IP}:8080/before`).stdout).toBe('app says hi');
  });

  it('writes the rules with CAP_NET_ADMIN alone; twice leaves one copy', () => {
    for (let i = 0; i < 2; i++) {
      const r = capture(',+net_admin', ...CAPTURE_ARGS);
      expect(r.stderr).toMatch(/using (nftables|iptables)/);
      expect(r.status, r.stderr).toBe(0);
    }
    const rules = tool('nft') ? inNs(POD, 'nft', 'list', 'ruleset').stdout : inNs(POD, 'iptables-save', '-t', 'nat').stdout;
    expect(rules.match(/redirect to :8443|--to-ports 8443/gi)?.length).toBe(1);
    expect(rules.match(/redirect to :15101|--to-ports 15101/gi)?.length).toBe(1);
  });

  it('a client reaching pod-ip:8080 gets TLS from Sidekick and the app answer; Sidekick is not looped', async () => {
    const r = curl('-k', '-w', '\\n%{scheme}', `https://${POD_IP}:8080/hello`);
    expect(r.stdout).toBe('app says hi\nHTTPS');
    // A later request: by the time its line is read, a looped copy of /hello would have been too.
    expect(curl('-k', `https://${POD_IP}:8080/after-hello`).stdout).toBe('app says hi');
    await app.waitFor(/"\/after-hello"/);
    const hello = app.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.url === '/hello');
    expect(hello).toEqual([{ url: '/hello', remote: '127.0.0.1' }]); // exactly once, over loopback from Sidekick
  });

  it('plain HTTP to pod-ip:8080 never reaches the app', async () => {
    const before = app.lines.length;
    await app.waitFor(/"\/after-hello"/);
    const r = curl(`http://${POD_IP}:8080/plain`);
    expect(r.stdout).toContain('expects HTTPS');
    // A later request that does reach the app: its line comes after any /plain line would have.
    expect(curl('-k', `https://${POD_IP}:8080/marker`).stdout).toBe('app says hi');
    await app.waitFor(/"\/marker"/);
    expect(app.lines.slice(before).map((l) => JSON.parse(l).url)).toEqual(['/marker']);
  });

  it("the app's plain call to a captured destination arrives TLS-wrapped at the destination", async () => {
    const r = curl('-k', `https://${POD_IP}:8080/egress`);
    expect(r.stdout).toBe('egress: hello from the TLS destination');
    const line = JSON.parse(await dest.waitFor(/from-app/));
    expect(line).toMatchObject({ url: '/from-app', encrypted: true, host: 'dest.test:9443' });
    expect(line.tls).toMatch(/^TLSv1\.[23]$/);
  });

  it('--clean removes the rules: the plain port is the app again', () => {
    const r = capture(',+net_admin', '--clean');
    expect(r.status, r.stderr).toBe(0);
    const rules = tool('nft') ? inNs(POD, 'nft', 'list', 'ruleset').stdout : inNs(POD, 'iptables-save', '-t', 'nat').stdout;
    expect(rules).not.toMatch(/sidekick/i);
    expect(curl(`http://${POD_IP}:8080/after`).stdout).toBe('app says hi');
  });
});
