// The access log's own formatter and buffer (a real file descriptor), and the certificate
// directory watch ignoring unrelated files.
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/agent-process.ts';
import { AccessLog, jsonString } from '../../../plugins/tls-terminator/access-log.ts';
import { CertWatcher, relevant } from '../../../plugins/tls-terminator/tls/cert-watcher.ts';
import { eventually } from './helpers.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function logFile(level = 'info') {
  const t = await tempDir();
  const path = join(t.path, 'access.log');
  const fd = openSync(path, 'w');
  const log = new AccessLog(pino({ level }), 'https', 'tls-terminator', fd);
  cleanups.push(t.cleanup, () => closeSync(fd), () => log.close());
  const lines = () => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, lines, path };
}

describe('access log', () => {
  it('writes the same JSON shape as the agent logger, escaping what a client controls', async () => {
    const { log, lines } = await logFile();
    const before = Date.now();
    const path = '/a"b\\c\u0001\u00e9/\ud83d\ude00';
    log.request('GET', path, 200, 257, 0.4, '127.0.0.1', 'x.example', 'TLSv1.3', 't13d1516h2_8daaf6152771_e5627efa2ab1', '1.1');
    log.request('POST', '/p', 502, 21, 12.5, '::1', '', 'TLSv1.2', '', '2.0', 'upstream ECONNREFUSED');
    log.connection('10.0.0.1', 's', 'TLSv1.3', 'j', 10, 20, 3);
    expect(lines()).toEqual([]); // buffered until the timer, 16 KiB, or close
    log.close();
    const [a, b, c] = lines();
    expect(Object.keys(a!)).toEqual(['level', 'time', 'pid', 'instance', 'plugin', 'method', 'path', 'status', 'bytes', 'ms', 'client', 'sni', 'tls', 'ja4', 'http', 'msg']);
    expect(a).toMatchObject({ level: 'info', pid: process.pid, instance: 'https', plugin: 'tls-terminator', method: 'GET', path, status: 200, bytes: 257, ms: 0.4, msg: 'request' });
    const t = Date.parse(a!.time as string);
    expect(a!.time).toBe(new Date(t).toISOString());
    expect(t).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(t).toBeLessThanOrEqual(Date.now());
    expect(b).toMatchObject({ method: 'POST', status: 502, client: '::1', http: '2.0', note: 'upstream ECONNREFUSED', msg: 'request' });
    expect(c).toMatchObject({ client: '10.0.0.1', bytesIn: 10, bytesOut: 20, ms: 3, msg: 'connection' });
    expect(c).not.toHaveProperty('method');
  });

  it('under log.format: pretty, hands each line to the agent logger instead of writing JSON', async () => {
    const { path } = await logFile();
    const fd = openSync(path, 'a');
    const seen: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => seen.push(JSON.parse(line) as Record<string, unknown>) });
    const log = new AccessLog(logger.child({ instance: 'https', plugin: 'tls-terminator' }), 'https', 'tls-terminator', fd, true);
    cleanups.push(() => closeSync(fd), () => log.close());
    log.request('GET', '/p', 200, 5, 1.5, '127.0.0.1', 'x.example', 'TLSv1.3', 'j', '1.1');
    log.connection('10.0.0.1', 's', 'TLSv1.3', 'j', 10, 20, 3);
    log.close();
    expect(readFileSync(path, 'utf8')).toBe('');
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatchObject({ level: 30, instance: 'https', method: 'GET', path: '/p', status: 200, client: '127.0.0.1', sni: 'x.example', msg: 'request' });
    expect(seen[1]).toMatchObject({ level: 30, instance: 'https', bytesIn: 10, bytesOut: 20, msg: 'connection' });
  });

  it('agrees with JSON.stringify on every string it quotes', () => {
    for (const s of ['', 'plain', 'q"', 'b\\', 'tab\t', '\u007f', '\u00ff', '\u2028', '\ud800', 'a\nb']) expect(JSON.parse(jsonString(s))).toBe(s);
  });

  it('writes a full buffer at once and the rest on its timer, without close', async () => {
    const { log, lines } = await logFile();
    for (let i = 0; i < 200; i++) log.request('GET', `/${'x'.repeat(100)}?i=${i}`, 200, 1, 1, '127.0.0.1', '', 'TLSv1.3', '', '1.1');
    const first = lines().length;
    expect(first).toBeGreaterThan(0); // 200 lines of ~330 bytes pass the 16 KiB mark
    expect(first).toBeLessThan(200);
    await eventually(() => expect(lines()).toHaveLength(200)); // the 200 ms timer sends the tail
    expect(lines().map((l) => l.path)).toEqual(Array.from({ length: 200 }, (_, i) => `/${'x'.repeat(100)}?i=${i}`));
  });

  it('writes a line logged after close at once', async () => {
    const { log, lines } = await logFile();
    log.close();
    log.request('GET', '/late', 200, 1, 1, '', '', '', '', '1.1');
    expect(lines().map((l) => l.path)).toEqual(['/late']);
  });

  it('reports disabled when the agent level is above info', async () => {
    expect((await logFile('warn')).log.enabled()).toBe(false);
    expect((await logFile('info')).log.enabled()).toBe(true);
  });
});

describe('certificate directory watch', () => {
  it('counts events on watched files and Kubernetes ..entries only', () => {
    const watched = new Set(['tls.crt', 'tls.key']);
    expect(relevant('tls.crt', watched)).toBe(true);
    expect(relevant('..data', watched)).toBe(true);
    expect(relevant('..2026_11_24_10_00_00.1', watched)).toBe(true);
    expect(relevant(null, watched)).toBe(true);
    expect(relevant('sidekick.log', watched)).toBe(false);
    expect(relevant('tls.crt.bak', watched)).toBe(false);
  });

  it('does not reload for writes to other files in the directory, and does for the certificate', async () => {
    const t = await tempDir();
    cleanups.push(t.cleanup);
    const cert = join(t.path, 'tls.crt');
    writeFileSync(cert, 'a');
    writeFileSync(join(t.path, 'tls.key'), 'a');
    let reloads = 0;
    const w = new CertWatcher([cert, join(t.path, 'tls.key')], async () => void reloads++, pino({ level: 'silent' }), 0);
    cleanups.push(() => w.close());
    for (let i = 0; i < 20; i++) writeFileSync(join(t.path, 'agent.log'), `line ${i}\n`, { flag: 'a' });
    await new Promise((r) => setTimeout(r, 400)); // longer than the 150 ms burst window
    expect(reloads).toBe(0);
    writeFileSync(cert, 'b');
    await eventually(() => expect(reloads).toBe(1));
  });
});
