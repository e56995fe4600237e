// Certificates: SNI selection, Kubernetes `..data` symlink rotation under continuous traffic,
// a broken new pair refused while the old one keeps serving, expiry metric.
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import https from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, type Pki, type Terminator, createPki, eventually, request, startApp, startTerminator, tempDir, tlsVisit } from '../helpers.ts';

let app: App;
let pki: Pki;
let dir: string;
let cleanupDir: () => Promise<void>;

beforeAll(async () => {
  app = await startApp();
  const t = await tempDir();
  dir = t.path;
  cleanupDir = t.cleanup;
  pki = createPki(dir);
});
afterAll(async () => {
  await app.close();
  await cleanupDir();
});

/** Serial of the certificate the server presents for this SNI name (undefined: none sent). */
function servedSerial(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.destroy();
      resolve(serial);
    });
    s.on('error', reject);
  });
}
const serialOf = (file: string) => new X509Certificate(readFileSync(file)).serialNumber;

describe('certificates', () => {
  let term: Terminator;
  let a: { cert: string; key: string };
  let b: { cert: string; key: string };
  let w: { cert: string; key: string };
  afterAll(() => term?.agent.stop());

  it('picks the certificate by SNI: exact, wildcard, and the default for unknown or missing names', async () => {
    a = pki.issue('a', { cn: 'a.test', san: 'DNS:a.test' });
    b = pki.issue('b', { cn: 'b.test', san: 'DNS:b.test,DNS:b2.test' });
    w = pki.issue('w', { cn: 'wild', san: 'DNS:*.w.test' });
    term = await startTerminator(dir, `    upstream: ${app.url}
    tls:
      cert: ${a.cert}
      key: ${a.key}
      certificates:
        - { cert: ${b.cert}, key: ${b.key} }
        - { cert: ${w.cert}, key: ${w.key} }
`);
    const [sa, sb, sw] = [a, b, w].map((p) => new X509Certificate(readFileSync(p.cert)).serialNumber.toUpperCase());
    expect((await servedSerial(term.port, 'b.test')).toUpperCase()).toBe(sb);
    expect((await servedSerial(term.port, 'B2.test')).toUpperCase()).toBe(sb);
    expect((await servedSerial(term.port, 'x.w.test')).toUpperCase()).toBe(sw);
    expect((await servedSerial(term.port, 'a.test')).toUpperCase()).toBe(sa);
    expect((await servedSerial(term.port, 'unknown.test')).toUpperCase()).toBe(sa);
    expect((await servedSerial(term.port)).toUpperCase()).toBe(sa);
    const res = await request(term.port, { path: '/echo', servername: 'b.test', ca: readFileSync(pki.ca), rejectUnauthorized: true });
    expect(res.status).toBe(200);
    const metrics = await term.metrics();
    const expiry = Math.floor(new Date(new X509Certificate(readFileSync(b.cert)).validTo).getTime() / 1000);
    expect(metrics).toContain(`sidekick_tls_terminator_cert_expiry_timestamp_seconds{instance="https",cert="${b.cert}"} ${expiry}`);
  });
});

describe('rotation by Kubernetes Secret volume (..data symlink swap)', () => {
  let term: Terminator;
  let secret: string;
  afterAll(() => term?.agent.stop());

  /** What kubelet does: new timestamped dir, `..data_tmp` -> it, rename over `..data`, old dir removed. */
  function publish(version: string, cert: string, key: string, old?: string) {
    const ts = join(secret, `..${version}`);
    mkdirSync(ts);
    copyFileSync(cert, join(ts, 'tls.crt'));
    copyFileSync(key, join(ts, 'tls.key'));
    symlinkSync(`..${version}`, join(secret, '..data_tmp'));
    renameSync(join(secret, '..data_tmp'), join(secret, '..data'));
    if (old) rmSync(join(secret, `..${old}`), { recursive: true });
  }

  it('serves the renewed certificate without a restart or a single failed request', async () => {
    secret = join(dir, 'secret');
    mkdirSync(secret);
    const v1 = pki.issue('rot1', { cn: 'localhost', san: 'DNS:localhost' });
    const v2 = pki.issue('rot2', { cn: 'localhost', san: 'DNS:localhost' });
    publish('v1', v1.cert, v1.key);
    symlinkSync('..data/tls.crt', join(secret, 'tls.crt'));
    symlinkSync('..data/tls.key', join(secret, 'tls.key'));
    mkdirSync(join(dir, 'rot-agent'));
    term = await startTerminator(join(dir, 'rot-agent'), `    upstream: ${app.url}\n    tls: { cert: ${join(secret, 'tls.crt')}, key: ${join(secret, 'tls.key')}, reloadCheckInterval: '0' }\n`);
    const s1 = serialOf(v1.cert).toUpperCase();
    const s2 = serialOf(v2.cert).toUpperCase();
    expect((await servedSerial(term.port, 'localhost')).toUpperCase()).toBe(s1);

    // A keep-alive connection opened before the rotation must survive it.
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    const onKept = () =>
      new Promise<number>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port: term.port, path: '/echo', agent: keepAlive }, (r) => {
          const port = r.socket.localPort!;
          r.resume();
          r.on('end', () => resolve(port));
        }).on('error', reject);
      });
    const keptPort = await onKept();

    let failures = 0;
    let served = 0;
    let rotatedSeen = 0;
    let swapped = false;
    for (let i = 0; i < 600 && rotatedSeen < 20; i++) {
      if (i === 10) {
        publish('v2', v2.cert, v2.key, 'v1');
        swapped = true;
      }
      try {
        const res = await new Promise<{ status: number; serial: string }>((resolve, reject) => {
          const req = https.get({ host: '127.0.0.1', port: term.port, path: '/echo', servername: 'localhost', rejectUnauthorized: false, agent: false }, (r: any) => {
            const serial = r.socket.getPeerCertificate().serialNumber;
            r.resume();
            r.on('end', () => resolve({ status: r.statusCode, serial }));
          });
          req.on('error', reject);
        });
        if (res.status !== 200) failures++;
        served++;
        if (swapped && res.serial.toUpperCase() === s2) rotatedSeen++;
      } catch {
        failures++;
      }
    }
    expect(failures).toBe(0);
    expect(rotatedSeen).toBe(20);
    expect(await onKept()).toBe(keptPort); // same connection, still served
    keepAlive.destroy();
    expect(served).toBeGreaterThan(30);
    await term.agent.waitForLog((l) => l.msg === 'certificates reloaded');
  });

  it('refuses a broken or mismatched new pair, keeps serving the old one, logs and counts it', async () => {
    const good = serialOf(join(secret, '..v2', 'tls.crt')).toUpperCase();
    const other = pki.issue('rot3', { cn: 'localhost', san: 'DNS:localhost' });
    const another = pki.issue('rot4', { cn: 'localhost', san: 'DNS:localhost' });
    publish('v3', other.cert, another.key, 'v2'); // key of a different certificate
    await term.agent.waitForLog((l) => l.msg === 'new certificate refused; the previous one keeps serving' && /does not match/.test(l.err));
    expect((await servedSerial(term.port, 'localhost')).toUpperCase()).toBe(good);
    const res = await request(term.port, { path: '/echo' });
    expect(res.status).toBe(200);
    await eventually(async () => expect(await term.metrics()).toMatch(/sidekick_tls_terminator_cert_reloads_total\{instance="https",result="refused"\} [1-9]/));
    const status = await term.status();
    expect(status.instances.https.details.lastCertReload.result).toBe('refused');

    // A fixed pair then goes live.
    publish('v4', other.cert, other.key, 'v3');
    await eventually(async () => expect((await servedSerial(term.port, 'localhost')).toUpperCase()).toBe(serialOf(other.cert).toUpperCase()));
  });
});

describe('self-signed default', () => {
  it('generates a certificate at start when none is configured, with a warning', async () => {
    const t = await tempDir();
    const term = await startTerminator(t.path, `    upstream: ${app.url}\n    tls: { selfSignedNames: [localhost, 127.0.0.1] }\n`);
    try {
      await term.agent.waitForLog((l) => l.level === 'warn' && /self-signed/.test(l.msg));
      const cert = await new Promise<any>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: term.port, rejectUnauthorized: false }, () => (resolve(s.getPeerCertificate()), s.destroy()));
        s.on('error', reject);
      });
      expect(cert.subject.CN).toBe('localhost');
      expect(cert.subjectaltname).toBe('DNS:localhost, IP Address:127.0.0.1');
      expect((await request(term.port, { path: '/echo' })).status).toBe(200);
    } finally {
      await term.agent.stop();
      await t.cleanup();
    }
  });

  it('refuses to start on a missing certificate file, naming it', async () => {
    const t = await tempDir();
    try {
      await expect(startTerminator(t.path, `    upstream: ${app.url}\n    tls: { cert: ./nope.crt, key: ./nope.key }\n`)).rejects.toThrow(/nope\.crt/);
    } finally {
      await t.cleanup();
    }
  });
});

describe('sessionTickets: false', () => {
  it('resumes no session, on TLS 1.2 or TLS 1.3', async () => {
    const t = await tempDir();
    const term = await startTerminator(t.path, `    upstream: ${app.url}\n    tls: { sessionTickets: false }\n`);
    try {
      for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
        const first = await tlsVisit(term.port, version);
        // TLS 1.3 still hands the client a (stateful) ticket; the server never keeps what it names.
        const again = await tlsVisit(term.port, version, first.session);
        expect(again.reused, version).toBe(false);
      }
    } finally {
      await term.agent.stop();
      await t.cleanup();
    }
  });
});

describe('tls.maxVersion: TLSv1.2', () => {
  /** The protocol a client offering `minVersion` up to TLS 1.3 gets, or its handshake error. */
  const negotiate = (port: number, minVersion: 'TLSv1.2' | 'TLSv1.3') =>
    new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion, maxVersion: 'TLSv1.3' });
      s.on('secureConnect', () => (resolve(String(s.getProtocol())), s.destroy()));
      s.on('error', (e) => resolve(`error: ${e.message}`));
    });

  it('answers a client that offers TLS 1.3 with TLS 1.2, and refuses a TLS 1.3-only client', async () => {
    const t = await tempDir();
    const term = await startTerminator(t.path, `    upstream: ${app.url}\n    tls: { maxVersion: TLSv1.2 }\n`);
    try {
      expect(await negotiate(term.port, 'TLSv1.2')).toBe('TLSv1.2');
      expect(await negotiate(term.port, 'TLSv1.3')).toMatch(/^error: .*(protocol version|alert)/i);
      const res = await request(term.port, { path: '/echo' });
      expect(res.status).toBe(200);
    } finally {
      await term.agent.stop();
      await t.cleanup();
    }
  });
});
