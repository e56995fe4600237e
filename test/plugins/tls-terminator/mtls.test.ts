// mTLS with real client certificates: verified identity passed as RFC 9440 Client-Cert plus a
// subject/SAN header; no or untrusted certificate gets a TLS alert; allow-list by SPIFFE SAN gets 403.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, type Pki, type Terminator, createPki, request, startApp, startTerminator, tempDir } from './helpers.ts';
import { startAgent } from '../../helpers/agent-process.ts';

let app: App;
let pki: Pki;
let dir: string;
let cleanupDir: () => Promise<void>;
let server: { cert: string; key: string };
let billing: { cert: string; key: string };
let other: { cert: string; key: string };
let rogue: { cert: string; key: string };

beforeAll(async () => {
  app = await startApp();
  const t = await tempDir();
  dir = t.path;
  cleanupDir = t.cleanup;
  pki = createPki(dir);
  server = pki.issue('server', { cn: 'localhost', san: 'DNS:localhost' });
  billing = pki.issue('billing', { cn: 'billing', san: 'URI:spiffe://cluster.local/ns/prod/sa/billing', client: true });
  other = pki.issue('other', { cn: 'other', san: 'URI:spiffe://cluster.local/ns/dev/sa/other', client: true });
  rogue = pki.issue('rogue', { cn: 'billing', san: 'URI:spiffe://cluster.local/ns/prod/sa/billing', client: true, selfSigned: true });
});
afterAll(async () => {
  await app.close();
  await cleanupDir();
});

const client = (pair: { cert: string; key: string }) => ({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) });
const der64 = (file: string) => new X509Certificate(readFileSync(file)).raw.toString('base64');

describe('clientAuth: require with an allow-list', () => {
  let term: Terminator;
  beforeAll(async () => {
    term = await startTerminator(join(dir), `    upstream: ${app.url}
    tls:
      cert: ${server.cert}
      key: ${server.key}
      clientCa: ${pki.ca}
      clientAuth: require
      allowClients: { sans: ['URI:spiffe://cluster.local/ns/prod/*'] }
`);
  });
  afterAll(() => term?.agent.stop());

  it('passes the verified identity to the app as Client-Cert (RFC 9440), subject and SAN headers', async () => {
    const res = await request(term.port, { path: '/echo', ...client(billing), headers: { 'client-cert': ':ZmFrZQ==:' } });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body.toString());
    expect(seen.headers['client-cert']).toBe(`:${der64(billing.cert)}:`);
    expect(seen.headers['x-client-cert-subject']).toBe('CN=billing');
    expect(seen.headers['x-client-cert-san']).toBe('URI:spiffe://cluster.local/ns/prod/sa/billing');
  });

  it('answers 403 to a valid certificate that is not in the allow-list', async () => {
    const res = await request(term.port, { path: '/echo', ...client(other) });
    expect(res.status).toBe(403);
    expect(res.body.toString()).toBe('client certificate not allowed\n');
  });

  it('fails the handshake with a TLS alert without a certificate or with one from another CA', async () => {
    await expect(request(term.port, { path: '/echo' })).rejects.toThrow(/certificate required|alert|socket hang up|ECONNRESET/i);
    await expect(request(term.port, { path: '/echo', ...client(rogue) })).rejects.toThrow(/unknown ca|alert|socket hang up|ECONNRESET/i);
    const metrics = await term.metrics();
    expect(metrics).toMatch(/sidekick_tls_terminator_handshake_failures_total\{instance="https",reason="(no_client_cert|bad_client_cert)"\} [1-9]/);
  });
});

describe('clientAuth: request', () => {
  it('lets clients without a certificate through, without identity headers', async () => {
    const term = await startTerminator(join(dir), `    upstream: ${app.url}
    tls: { cert: ${server.cert}, key: ${server.key}, clientCa: ${pki.ca}, clientAuth: request }
`);
    try {
      const anon = JSON.parse((await request(term.port, { path: '/echo', headers: { 'x-client-cert-subject': 'CN=admin' } })).body.toString());
      expect(anon.headers['client-cert']).toBeUndefined();
      expect(anon.headers['x-client-cert-subject']).toBeUndefined();
      const known = JSON.parse((await request(term.port, { path: '/echo', ...client(other) })).body.toString());
      expect(known.headers['x-client-cert-subject']).toBe('CN=other');
      const untrusted = JSON.parse((await request(term.port, { path: '/echo', ...client(rogue) })).body.toString());
      expect(untrusted.headers['client-cert']).toBeUndefined();
    } finally {
      await term.agent.stop();
    }
  });
});

describe('client CA rotation', () => {
  it('picks up a new CA bundle without a restart', async () => {
    const { mkdirSync, writeFileSync, renameSync } = await import('node:fs');
    const otherDir = join(dir, 'pki2');
    mkdirSync(otherDir);
    const pki2 = createPki(otherDir);
    const newcomer = pki2.issue('newcomer', { cn: 'newcomer', san: 'URI:spiffe://cluster.local/ns/prod/sa/newcomer', client: true });
    const caDir = join(dir, 'ca-rotation');
    mkdirSync(caDir);
    const bundle = join(caDir, 'ca.crt');
    writeFileSync(bundle, readFileSync(pki.ca));
    const term = await startTerminator(join(dir), `    upstream: ${app.url}
    tls: { cert: ${server.cert}, key: ${server.key}, clientCa: ${bundle}, clientAuth: require }
`);
    try {
      await expect(request(term.port, { path: '/echo', ...client(newcomer) })).rejects.toThrow();
      writeFileSync(`${bundle}.tmp`, Buffer.concat([readFileSync(pki.ca), readFileSync(pki2.ca)]));
      renameSync(`${bundle}.tmp`, bundle);
      await term.agent.waitForLog((l) => l.msg === 'certificates reloaded');
      const seen = JSON.parse((await request(term.port, { path: '/echo', ...client(newcomer) })).body.toString());
      expect(seen.headers['x-client-cert-subject']).toBe('CN=newcomer');
      expect((await request(term.port, { path: '/echo', ...client(billing) })).status).toBe(200);
    } finally {
      await term.agent.stop();
    }
  });
});

describe('a refused handshake', () => {
  it('is logged (debug) with the address of the client it came from', async () => {
    const t = await tempDir();
    const agent = await startAgent(t.path, `admin: { listen: 127.0.0.1:0 }\nlog: { level: debug }\ndataDir: ${join(t.path, 'data')}\nplugins:\n  https:\n    type: tls-terminator\n    listen: 127.0.0.1:0\n    upstream: ${app.url}\n    tls: { cert: ${server.cert}, key: ${server.key}, clientCa: ${pki.ca} }\n`);
    try {
      const port = (await agent.status()).instances.https.details.port;
      await request(port, { path: '/' }).catch(() => {}); // no client certificate: refused
      const line = await agent.waitForLog((l) => l.msg === 'connection closed before the TLS handshake finished');
      expect(line).toMatchObject({ client: '127.0.0.1', reason: 'no_client_cert' });
    } finally {
      await agent.stop();
      await t.cleanup();
    }
  });
});
