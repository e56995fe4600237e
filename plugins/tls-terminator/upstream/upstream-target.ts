// Where the app listens: a TCP host:port (plain, or TLS for an app that serves HTTPS itself) or a
// unix socket, parsed once at create().
import type { ConnectionOptions } from 'node:tls';
import { sidekickError } from '../../../src/plugin-api.ts';

export type UpstreamTarget =
  | { kind: 'tcp'; host: string; port: number; label: string; secure?: boolean; tls?: ConnectionOptions; session?: Buffer }
  | { kind: 'unix'; path: string; label: string };

export function parseUpstream(text: string, resolvePath: (p: string) => string): UpstreamTarget {
  if (text.startsWith('unix:')) {
    const path = resolvePath(text.slice(5));
    return { kind: 'unix', path, label: `unix:${path}` };
  }
  if (text.startsWith('/') || text.startsWith('./')) {
    const path = resolvePath(text);
    return { kind: 'unix', path, label: `unix:${path}` };
  }
  const m = /^(?:(https?|tcp|tls):\/\/)?(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(text);
  if (!m) throw sidekickError('ERR_SIDEKICK_TLS_UPSTREAM_ADDRESS', `upstream: expected "http://host:port", "https://host:port", "tcp://host:port", "tls://host:port" or a unix socket path, got "${text}"`);
  const host = m[2]!.replace(/^\[|\]$/g, '');
  const secure = m[1] === 'https' || m[1] === 'tls';
  return { kind: 'tcp', host, port: Number(m[3]), label: `${secure ? `${m[1]}://` : ''}${host}:${m[3]}`, secure };
}
