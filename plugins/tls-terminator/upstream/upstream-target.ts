// Where the app listens: a TCP host:port or a unix socket, parsed once at create().
import { sidekickError } from '../../../src/plugin-api.ts';
export type UpstreamTarget =
  | { kind: 'tcp'; host: string; port: number; label: string }
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
  const m = /^(?:(?:https?|tcp):\/\/)?(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(text);
  if (!m) throw sidekickError('ERR_SIDEKICK_TLS_UPSTREAM_ADDRESS', `upstream: expected "http://host:port", "tcp://host:port" or a unix socket path, got "${text}"`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  return { kind: 'tcp', host, port: Number(m[2]), label: `${host}:${m[2]}` };
}
