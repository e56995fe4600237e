// Faults while clients keep sending: certificate rotation, SIGTERM, and an app killed and started
// again. Load: workers on new TLS connections, on a keep-alive pool and on HTTP/2 sessions, one
// request after another; the app is a process of its own (fixtures/work-app.ts) that says which
// requests reached it.
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/free-port.ts';
import { type Terminator, createPki, startTerminator, tempDir } from './helpers.ts';
import { type Load, type Outcome, type WorkApp, startLoad, startWorkApp, tally } from './load.ts';

// Generous: on a busy 2-core machine a test takes a few times its quiet duration.
const LIMIT = 180_000;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp(extraYaml = ''): Promise<{ app: WorkApp; appPort: number; term: Terminator; dir: string }> {
  const t = await tempDir('sidekick-tls-load-');
  cleanups.push(t.cleanup);
  const appPort = await freePort();
  const app = await startWorkApp(appPort);
  cleanups.push(() => app.kill());
  const term = await startTerminator(t.path, `    upstream: http://127.0.0.1:${appPort}\n${extraYaml}`);
  cleanups.push(() => term.agent.stop('SIGKILL'));
  return { app, appPort, term, dir: t.path };
}

function load(term: Terminator, appMs = () => Math.floor(Math.random() * 20)): Load {
  const l = startLoad(term.port, { workers: { fresh: 3, keepalive: 3, h2: 1 }, appMs });
  cleanups.push(() => l.stop());
  return l;
}

const ok = (o: Outcome) => o.status === 200 && o.body === o.id;
const served = (n: number, phase?: string) => (os: Outcome[]) => os.filter((o) => ok(o) && (phase === undefined || o.start === phase)).length >= n;

describe('certificate rotation under load', () => {
  /** What kubelet does for a Secret volume: new timestamped dir, `..data_tmp` -> it, rename over `..data`, old dir removed. */
  function publish(secret: string, version: string, pair: { cert: string; key: string }, old?: string) {
    const ts = join(secret, `..${version}`);
    mkdirSync(ts);
    copyFileSync(pair.cert, join(ts, 'tls.crt'));
    copyFileSync(pair.key, join(ts, 'tls.key'));
    symlinkSync(`..${version}`, join(secret, '..data_tmp'));
    renameSync(join(secret, '..data_tmp'), join(secret, '..data'));
    if (old) rmSync(join(secret, `..${old}`), { recursive: true });
  }
  const serialOf = (file: string) => new X509Certificate(readFileSync(file)).serialNumber.toUpperCase();

  it('fails no request: new connections get the new certificate, open ones go on', { timeout: LIMIT }, async () => {
    const t = await tempDir('sidekick-tls-rotate-');
    cleanups.push(t.cleanup);
    const pki = createPki(t.path);
    const v1 = pki.issue('v1', { cn: 'localhost', san: 'DNS:localhost' });
    const v2 = pki.issue('v2', { cn: 'localhost', san: 'DNS:localhost' });
    const secret = join(t.path, 'secret');
    mkdirSync(secret);
    publish(secret, 'v1', v1);
    symlinkSync('..data/tls.crt', join(secret, 'tls.crt'));
    symlinkSync('..data/tls.key', join(secret, 'tls.key'));
    const { term } = await setUp(`    tls: { cert: ${join(secret, 'tls.crt')}, key: ${join(secret, 'tls.key')}, reloadCheckInterval: '0' }\n`);
    const l = load(term);
    l.phase = 'v1';
    await l.until('100 requests served', served(100));
    expect(l.outcomes.filter((o) => o.kind === 'fresh' && o.serial === serialOf(v2.cert))).toEqual([]);

    l.phase = 'rotating';
    publish(secret, 'v2', v2, 'v1');
    await term.agent.waitForLog((line) => line.msg === 'certificates reloaded');
    l.phase = 'v2';
    await l.until('50 new connections with the new certificate', (os) => os.filter((o) => o.kind === 'fresh' && o.start === 'v2' && o.serial === serialOf(v2.cert)).length >= 50);
    await l.until('keep-alive and HTTP/2 requests after the rotation', (os) => ['keepalive', 'h2'].every((k) => os.some((o) => o.kind === k && o.start === 'v2' && ok(o))));
    await l.stop();

    const os = l.outcomes;
    const t2 = JSON.stringify(tally(os), null, 1);
    expect(os.filter((o) => !ok(o)), t2).toEqual([]);
    // Once reloaded, every new connection has the new certificate.
    expect(os.filter((o) => o.kind === 'fresh' && o.start === 'v2' && o.serial !== serialOf(v2.cert)), t2).toEqual([]);
  });
});

describe('SIGTERM under load', () => {
  it('completes every request that reached the app, answers no error, and refuses new connections until it exits 0', { timeout: LIMIT }, async () => {
    const { app, term } = await setUp();
    const l = load(term);
    l.phase = 'before';
    await l.until('100 requests served', served(100));

    // Requests the app holds are in flight when the signal comes: on a new connection, on a
    // kept-alive one and on an HTTP/2 session.
    const kinds = ['fresh', 'fresh', 'keepalive', 'h2'] as const;
    const slow = kinds.map((kind, i) => l.one(kind, `slow-${i}`, 'hold'));
    await Promise.all(kinds.map((_, i) => app.got(`slow-${i}`)));
    l.phase = 'draining';
    const exited = term.agent.stop('SIGTERM');
    // While they drain, new connections are refused (the listener is closed).
    await l.until('a new connection refused while draining', (os) => os.some((o) => o.kind === 'fresh' && o.start === 'draining' && o.end === 'draining' && o.error !== undefined));
    expect(term.agent.child.exitCode, 'the agent waits for the held requests').toBeNull();
    app.release();
    const code = await exited;
    l.phase = 'exited';
    await l.stop();

    for (const o of await Promise.all(slow)) expect(o, 'a request in flight at SIGTERM').toMatchObject({ status: 200, body: o.id });
    expect(code).toBe(0);
    const os = l.outcomes;
    const t = JSON.stringify(tally(os), null, 1);
    // Every answer is a complete 200 with its own body: no 5xx, no cut-off response during the drain.
    expect(os.filter((o) => o.status !== undefined && !ok(o)), t).toEqual([]);
    expect(os.filter((o) => o.error === 'aborted'), t).toEqual([]);
    // What failed failed before reaching the app: no request was processed and its answer lost.
    const answered = new Set(os.filter(ok).map((o) => o.id));
    const lost = [...app.received].filter((id) => !answered.has(id) && !id.startsWith('slow-'));
    expect(lost, t).toEqual([]);
    // Refusals say the request was not processed: a refused or reset connection, a stream the
    // server refused (REFUSED_STREAM, 7) or one on a session whose connection was refused.
    const errors = new Set(os.filter((o) => o.error).map((o) => o.error));
    for (const e of errors) expect(e, t).toMatch(/^(ECONNREFUSED|ECONNRESET|ERR_HTTP2_GOAWAY_SESSION|ERR_HTTP2_STREAM_ERROR rst=7|ERR_HTTP2_STREAM_CANCEL (rst=\d+ )?ECONNREFUSED)$/);
  });
});

describe('the app killed and started again under load', () => {
  it('answers 502 only while the app is down, serves every request from the moment it is back, and reuses no dead pooled connection', { timeout: LIMIT }, async () => {
    const setup = await setUp();
    const { appPort, term } = setup;
    const l = load(term);
    l.phase = 'up';
    await l.until('100 requests served', served(100));

    l.phase = 'killing';
    await setup.app.kill('SIGKILL'); // a crash: the kernel resets its connections, pooled ones included
    l.phase = 'down';
    await l.until('20 requests answered 502 while the app is down', (os) => os.filter((o) => o.start === 'down' && o.end === 'down' && o.status === 502).length >= 20);

    l.phase = 'starting';
    const again = await startWorkApp(appPort);
    cleanups.push(() => again.kill());
    l.phase = 'back';
    await l.until('150 requests served since the app is back', served(150, 'back'));
    await l.stop();

    const os = l.outcomes;
    const t = JSON.stringify(tally(os), null, 1);
    // No client ever saw a broken connection: every request got an answer, right or 502.
    expect(os.filter((o) => o.error !== undefined), t).toEqual([]);
    // Before the kill and from the moment the app listens again: every request served, its own body.
    expect(os.filter((o) => o.start === 'up' && o.end === 'up' && !ok(o)), t).toEqual([]);
    expect(os.filter((o) => o.start === 'back' && !ok(o)), t).toEqual([]);
    // While it is down: 502, nothing else.
    expect(os.filter((o) => o.start === 'down' && o.end === 'down' && o.status !== 502), t).toEqual([]);
    // Around the kill and the start, either (a request the app had when it died gets a 502).
    expect(os.filter((o) => !ok(o) && o.status !== 502), t).toEqual([]);

    // The load stopped with connections to the app idle in the pool. Killed and started again
    // with no request in between, the app left those dead: a POST (which the proxy never retries)
    // on one would get a 502. Each must reach the new app.
    await again.kill('SIGKILL');
    const third = await startWorkApp(appPort);
    cleanups.push(() => third.kill());
    const posts = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => l.one(i % 2 ? 'fresh' : 'keepalive', `post-${i}`, 0, 'POST')));
    for (const o of posts) expect(o, 'a POST after the restart').toMatchObject({ status: 200, body: o.id });
  });
});
