// Retries (RFC 9110 9.2.2): when a kept-alive app connection fails before any byte of an answer,
// only an idempotent request without a body is sent again, on a fresh connection; anything else
// gets a 502 and reaches the app once (nginx's proxy_next_upstream never retries POST or PATCH).
// The raw app reads a request marked /once that arrives on a reused connection, then closes
// without answering: what a keep-alive race with the app's own idle timeout looks like.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AgentPair, startAgentPair } from '../http/agent-pair.ts';
import { statuses, tlsRaw } from '../http/raw-app.ts';

let pair: AgentPair;
beforeAll(async () => {
  pair = await startAgentPair();
  pair.app.onRequest = (r, i) => (i === 0 || !r.line.includes('/once') ? 'answer' : r.line.includes('/once-partial') ? 'partial' : 'close');
});
afterAll(() => pair?.close());
beforeEach(() => {
  pair.app.requests.length = 0;
});

describe.each(['fast', 'node'] as const)('on the %s path', (path) => {
  /** A first request leaves an idle kept-alive app connection in the pool; the second reuses it. */
  async function afterWarmUp(request: string): Promise<{ status: number[]; seen: string[] }> {
    expect(statuses(await tlsRaw(pair.ports[path], 'GET /warm HTTP/1.1\r\nHost: x\r\n\r\n', 1))).toEqual([200]);
    const reply = await tlsRaw(pair.ports[path], request, 1);
    return { status: statuses(reply), seen: pair.app.requests.map((r) => r.line).filter((l) => l.includes('/once')) };
  }

  it.each([
    ['POST with Content-Length: 0', 'POST /once HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 'POST /once HTTP/1.1'],
    ['POST without a body', 'POST /once HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /once HTTP/1.1'],
    ['PATCH without a body', 'PATCH /once HTTP/1.1\r\nHost: x\r\n\r\n', 'PATCH /once HTTP/1.1'],
  ])('never retries a %s: 502, and the app ran it once', async (_name, request, line) => {
    const { status, seen } = await afterWarmUp(request);
    expect(status).toEqual([502]);
    expect(seen).toEqual([line]);
  });

  it.each([
    ['GET', 'GET /once HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /once HTTP/1.1'],
    ['PUT with Content-Length: 0', 'PUT /once HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 'PUT /once HTTP/1.1'],
    ['DELETE', 'DELETE /once HTTP/1.1\r\nHost: x\r\n\r\n', 'DELETE /once HTTP/1.1'],
  ])('retries a bodiless %s once on a fresh connection', async (_name, request, line) => {
    const { status, seen } = await afterWarmUp(request);
    expect(status).toEqual([200]);
    expect(seen).toEqual([line, line]);
  });

  it('never retries once the app sent a byte of its answer', async () => {
    const { status, seen } = await afterWarmUp('GET /once-partial HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(seen).toEqual(['GET /once-partial HTTP/1.1']);
    expect(status.length).toBeLessThanOrEqual(1); // the head may have reached the client; it is then cut
  });
});
