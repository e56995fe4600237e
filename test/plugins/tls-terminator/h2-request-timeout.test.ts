// timeouts.request over HTTP/2: a stream whose body stops arriving gets a 408, while the
// session (kept busy by other streams, so its idle timeout never fires) goes on serving.
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Terminator, eventually, startFront } from './helpers.ts';

let term: Terminator;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ term, close } = await startFront((app) => `    upstream: ${app.url}
    timeouts: { headers: 500ms, request: 600ms, idle: 1m }
`));
});
afterAll(() => close?.());

function get(session: http2.ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': path });
    let status = 0;
    s.on('response', (h) => (status = Number(h[':status'])));
    s.on('error', reject);
    s.resume();
    s.on('end', () => resolve(status));
  });
}

function rejectedTimeouts(metrics: string): number {
  return Number(/^sidekick_tls_terminator_rejected_total\{[^}]*reason="timeout"[^}]*\} (\d+)/m.exec(metrics)?.[1] ?? 0);
}

describe('tls-terminator HTTP/2 request timeout', () => {
  it('answers 408 to a stream whose upload stalls, and keeps the session serving', async () => {
    const before = rejectedTimeouts(await term.metrics());
    const session = http2.connect(`https://127.0.0.1:${term.port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    try {
      const stalled = session.request({ ':method': 'POST', ':path': '/upload', 'content-type': 'application/octet-stream' });
      stalled.on('error', () => {});
      stalled.write(Buffer.alloc(1000, 'a')); // and never ends
      const answer = new Promise<{ status: number; body: string }>((resolve) => {
        let status = 0;
        let body = '';
        stalled.on('response', (h) => (status = Number(h[':status'])));
        stalled.setEncoding('utf8').on('data', (c: string) => (body += c));
        stalled.on('close', () => resolve({ status, body }));
      });
      // Other streams keep the session busy while the upload stalls.
      let busy = true;
      const traffic = (async () => {
        let served = 0;
        while (busy && served < 100) {
          expect(await get(session, '/echo')).toBe(200);
          served++;
          await new Promise((r) => setTimeout(r, 50));
        }
        return served;
      })();
      const { status, body } = await answer;
      busy = false;
      expect(status).toBe(408);
      expect(body).toBe('request timed out\n');
      expect(await traffic).toBeGreaterThan(0);
      expect(await get(session, '/echo')).toBe(200); // same session, after the timeout
      await eventually(async () => expect(rejectedTimeouts(await term.metrics())).toBe(before + 1));
    } finally {
      session.destroy();
    }
  });

  it('lets an upload that finishes in time through', async () => {
    const session = http2.connect(`https://127.0.0.1:${term.port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    try {
      const s = session.request({ ':method': 'POST', ':path': '/upload' });
      s.write('abc');
      setTimeout(() => s.end('def'), 100);
      let status = 0;
      let body = '';
      s.on('response', (h) => (status = Number(h[':status'])));
      s.setEncoding('utf8').on('data', (c: string) => (body += c));
      await new Promise((r) => s.on('close', r));
      expect(status).toBe(200);
      expect(JSON.parse(body).bytes).toBe(6);
    } finally {
      session.destroy();
    }
  });
});
