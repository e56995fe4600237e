// Opens one connection to the app: net for plain TCP and unix sockets, tls for an app that serves
// HTTPS (`upstream: https://...` or `tls://...`). Both take net's `onread`, so the pool and the
// tcp pipe read the app's (decrypted) bytes into their shared buffer either way.
// TLS connections offer the last session the app gave (as nginx's proxy_ssl_session_reuse): a new
// pooled or tcp-mode connection resumes instead of a full handshake. Node still checks the
// resumed session's certificate against the name; UpstreamTls drops the session on a reload.
import { type OnReadOpts, type Socket, connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { loadTls } from '../../../src/plugin-api.ts';
import type { UpstreamTarget } from './upstream-target.ts';

const tls = loadTls();

type TlsTarget = Extract<UpstreamTarget, { kind: 'tcp' }>;
const TARGET = Symbol('sidekick.tls-terminator.dial-target');
type Dialled = TLSSocket & { [TARGET]: TlsTarget };

// Shared by every connection (no closure each): only a verified connection's session is kept.
function onSession(this: Dialled, session: Buffer): void {
  if (this.authorized || this[TARGET].tls?.rejectUnauthorized === false) this[TARGET].session = session;
}

export function dial(t: UpstreamTarget, read?: { onread: OnReadOpts }, keepAlive = false): Socket {
  if (t.kind === 'unix') return connect({ path: t.path, ...read });
  if (t.secure) {
    // tls.connect takes no noDelay/keepAlive options: set on the socket, they apply once it connects.
    const s = tls.connect({ host: t.host, port: t.port, ...t.tls, ...(t.session ? { session: t.session } : {}), ...read }) as Dialled;
    s[TARGET] = t;
    s.on('session', onSession);
    s.setNoDelay(true);
    if (keepAlive) s.setKeepAlive(true);
    return s;
  }
  return connect({ host: t.host, port: t.port, noDelay: true, keepAlive, ...read });
}
