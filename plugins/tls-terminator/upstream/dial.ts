// Opens one connection to the app: net for plain TCP and unix sockets, tls for an app that serves
// HTTPS (`upstream: https://...` or `tls://...`). Both take net's `onread`, so the pool and the
// tcp pipe read the app's (decrypted) bytes into their shared buffer either way.
import { type OnReadOpts, type Socket, connect } from 'node:net';
import { loadTls } from '../../../src/plugin-api.ts';
import type { UpstreamTarget } from './upstream-target.ts';

const tls = loadTls();

export function dial(t: UpstreamTarget, read?: { onread: OnReadOpts }, keepAlive = false): Socket {
  if (t.kind === 'unix') return connect({ path: t.path, ...read });
  if (t.secure) {
    // tls.connect takes no noDelay/keepAlive options: set on the socket, they apply once it connects.
    const s = tls.connect({ host: t.host, port: t.port, ...t.tls, ...read });
    s.setNoDelay(true);
    if (keepAlive) s.setKeepAlive(true);
    return s;
  }
  return connect({ host: t.host, port: t.port, noDelay: true, keepAlive, ...read });
}
