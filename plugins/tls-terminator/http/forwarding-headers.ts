// Builds the header list sent to the app: the client's headers minus hop-by-hop ones and minus
// every header Sidekick sets itself (so a client can never spoof them), plus ours.
// Framing is the proxy's (RFC 9112 6, RFC 9110 7.6.1): the client's Content-Length and
// Transfer-Encoding are never copied; the exchange writes the length Sidekick parsed, or chunked.
// So `Connection: content-length` can no longer make the app see a body as a second request.
import type { ConnectionInfo } from '../connection-info.ts';

// RFC 9110 7.6.1: connection-specific fields, removed by every proxy.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'http2-settings']);

/** Written by Sidekick from what it parsed (length, routing): a client-sent copy is never passed on. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'host']);

export const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']);

/** Set by Sidekick only; a client-sent copy is always dropped. */
export const OWN = new Set([
  'x-forwarded-port', 'x-real-ip',
  'client-cert', 'client-cert-chain', 'x-client-cert-subject', 'x-client-cert-san', 'x-forwarded-client-cert',
  'x-ja3-fingerprint', 'x-ja4-fingerprint',
]);

export interface ForwardOptions {
  fingerprintHeaders: boolean;
  /** Pass the client's Upgrade on, with `Connection: upgrade` (WebSocket and other upgrades). */
  upgrade?: boolean;
  /**
   * Egress (direction: outbound): Host becomes the destination's authority, as nginx's
   * proxy_pass does; the app's own X-Forwarded-* pass unchanged and none are added.
   */
  egressHost?: string;
}

/** Whether and why a (lower-case) request header name needs more than being copied. */
const Kind = { Hop: 1, Own: 2, Forwarding: 3, Cookie: 4 } as const;
const KIND = new Map<string, number>([
  ...[...HOP_BY_HOP].map((n) => [n, Kind.Hop] as const),
  ...[...OWN, ...FRAMING].map((n) => [n, Kind.Own] as const),
  ...[...FORWARDING].map((n) => [n, Kind.Forwarding] as const),
  ['cookie', Kind.Cookie],
]);

/**
 * Flat [name, value, ...] list in the client's order, as http.request accepts. `lower`: the
 * names already lower-cased, one per pair (the fast path's parser has them).
 */
export function upstreamHeaders(raw: string[], host: string | undefined, info: ConnectionInfo, opts: ForwardOptions, lower?: string[]): string[] {
  const out: string[] = [];
  let connectionTokens: string[] | undefined;
  let xff: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  let forwarded: string | undefined;
  let cookie: string | undefined;
  let upgrade: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58) continue; // ":authority" and other h2 pseudo-headers
    const value = raw[i + 1]!;
    const low = lower ? lower[i >> 1]! : name.toLowerCase();
    const kind = KIND.get(low);
    if (kind === undefined) {
      // Dropped as nginx does by default (underscores_in_headers off): CGI-style apps read
      // `X_Forwarded_For` and `X-Forwarded-For` as the same variable, so such a name could forge ours.
      if (!name.includes('_')) out.push(name, value);
      continue;
    }
    if (kind === Kind.Hop) {
      if (low === 'connection') connectionTokens = (connectionTokens ?? []).concat(value.toLowerCase().split(/\s*,\s*/));
      else if (low === 'upgrade' && opts.upgrade) upgrade = upgrade ? `${upgrade}, ${value}` : value;
    } else if (kind === Kind.Forwarding) {
      if (opts.egressHost !== undefined) {
        out.push(name, value);
        continue;
      }
      if (!info.trusted) continue;
      if (low === 'x-forwarded-for') xff = xff ? `${xff}, ${value}` : value;
      else if (low === 'forwarded') forwarded = forwarded ? `${forwarded}, ${value}` : value;
      else if (low === 'x-forwarded-proto') xfProto ??= value;
      else xfHost ??= value;
    } else if (kind === Kind.Cookie) {
      // h2 clients may split cookies over several fields; HTTP/1.1 wants one (RFC 9113 8.2.3).
      cookie = cookie ? `${cookie}; ${value}` : value;
    } // Kind.Own: never passed on
  }
  if (connectionTokens) {
    // RFC 9110 7.6.1: the fields Connection names are removed. A name Sidekick writes itself
    // (framing, Host, forwarding, identity, and the hop-by-hop fields it already drops) is
    // ignored: nominating it must neither remove Sidekick's copy nor change the framing. nginx
    // goes further and ignores every token (it rebuilds the header block); we keep the RFC's
    // removal for the client's own fields.
    for (const token of connectionTokens) {
      if (token === 'cookie') cookie = undefined;
      else if (token !== '' && !KIND.has(token)) {
        for (let i = out.length - 2; i >= 0; i -= 2) if (out[i]!.toLowerCase() === token) out.splice(i, 2);
      }
    }
  }
  // An upgrade is the one hop-by-hop exchange passed on; Connection is ours, not the client's list.
  if (upgrade !== undefined) out.push('upgrade', upgrade, 'connection', 'upgrade');
  if (cookie !== undefined) out.push('cookie', cookie);
  if (opts.egressHost !== undefined) {
    out.push('host', opts.egressHost);
    return out;
  }
  if (host !== undefined) out.push('host', host);
  const client = info.clientAddress;
  const forHost = client.includes(':') ? `"[${client}]"` : client;
  out.push(
    'x-forwarded-for', xff ? `${xff}, ${client}` : client,
    'x-forwarded-proto', xfProto ?? 'https',
    'x-forwarded-host', xfHost ?? host ?? '',
    // RFC 7239 quoted-string: a Host like `a";for=1.2.3.4` must not forge a second element.
    'forwarded', `${forwarded ? `${forwarded}, ` : ''}for=${forHost};proto=https${host ? `;host="${quoted(host)}"` : ''}`,
  );
  const id = info.identity;
  if (id) {
    out.push('client-cert', id.clientCert, 'x-client-cert-subject', id.subject);
    if (id.clientCertChain) out.push('client-cert-chain', id.clientCertChain);
    if (id.sans) out.push('x-client-cert-san', id.sans);
  }
  if (opts.fingerprintHeaders && info.ja4) out.push('x-ja3-fingerprint', info.ja3, 'x-ja4-fingerprint', info.ja4);
  return out;
}

/** The inside of an RFC 7239 quoted-string (the regex only runs for the rare host that needs it). */
const quoted = (s: string): string => (s.includes('"') || s.includes('\\') ? s.replace(/["\\]/g, '\\$&') : s);

/** The app's response headers (flat list, hop-by-hop already removed) as an object for an HTTP/2 client. */
export function responseHeadersH2(flat: string[], extra: string[] | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) addH2(out, flat[i]!.toLowerCase(), flat[i + 1]!);
  if (extra) for (let i = 0; i < extra.length; i += 2) addH2(out, extra[i]!.toLowerCase(), extra[i + 1]!);
  return out;
}

function addH2(out: Record<string, string | string[]>, name: string, value: string): void {
  const prev = out[name];
  if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value;
  else if (Array.isArray(prev)) prev.push(value);
  else out[name] = `${prev}, ${value}`;
}
