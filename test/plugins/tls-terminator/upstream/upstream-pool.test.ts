// The connection pool to the app, seen from the app: idle connections let go after
// timeouts.upstream, and a request whose client left while it queued never reaches the app.
import https from 'node:https';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, type Terminator, eventually, request, startApp, startTerminator, tempDir } from '../helpers.ts';

describe('upstream pool', () => {
  let app: App;
  let term: Terminator;
  let cleanup: () => Promise<void>;
  const appSockets: Socket[] = [];
  const paths: string[] = [];

  beforeAll(async () => {
    app = await startApp();
    app.server.keepAliveTimeout = 30_000; // the app itself must not be what closes idle connections here
    app.server.on('connection', (s: Socket) => appSockets.push(s));
    app.server.on('request', (req) => paths.push(req.url ?? ''));
    const t = await tempDir();
    term = await startTerminator(t.path, `    upstream: ${app.url}\n    timeouts: { upstream: 400ms }\n    limits: { upstreamConnections: 1 }\n`);
    cleanup = async () => {
      await term.agent.stop();
      await app.close();
      await t.cleanup();
    };
  });
  afterAll(() => cleanup());

  it('closes an app connection left idle in the pool for timeouts.upstream', async () => {
    const before = appSockets.length;
    expect((await request(term.port, { path: '/echo?idle=1' })).status).toBe(200);
    const s = appSockets[before]!;
    expect(s).toBeDefined();
    // Well under the app's own 30 s keep-alive: only the pool's idle limit can close it this soon.
    await eventually(() => expect(s.destroyed || s.readableEnded).toBe(true), 60, 50);
  });

  it('never sends the app a request whose client went away while it waited for a connection', async () => {
    const slow = request(term.port, { path: '/slow?ms=300' }); // holds the only app connection
    await eventually(() => expect(paths).toContain('/slow?ms=300'));
    const gone = https.get({ host: '127.0.0.1', port: term.port, path: '/echo?gone=1', rejectUnauthorized: false, agent: false });
    gone.on('error', () => {});
    await new Promise((r) => setTimeout(r, 100)); // queued behind /slow by now
    gone.destroy();
    expect((await slow).status).toBe(200);
    expect((await request(term.port, { path: '/echo?after=1' })).status).toBe(200);
    expect(paths).toContain('/echo?after=1');
    expect(paths).not.toContain('/echo?gone=1');
  });
});
