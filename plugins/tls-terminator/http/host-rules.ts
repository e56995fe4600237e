// Which host and origin-form target a request on Node's path (and HTTP/2) goes to the app with:
// the Host rules of RFC 9112 3.2, absolute-form (3.2.2) and HTTP/2's :authority (RFC 9113
// 8.3.1), at least as strictly as nginx 1.22 enforces them (each choice below says which).
// The fast path takes only origin-form with one Host and checks the value with isValidHost;
// everything else reaches it through Node's server.
import { isIPv6 } from 'node:net';
import type { ConnectionInfo } from '../connection-info.ts';

/** Where the request goes, or why it gets a 400. */
export type Resolved = { path: string; host: string | undefined } | string;

// RFC 3986 reg-name: unreserved / pct-encoded / sub-delims. nginx accepts any byte above 0x20
// but '/' and DEL (so `a"b`, `a\b`, `a@b`, obs-text); refusing them is stricter. A table and a
// loop rather than a regex: the fast path checks every request's Host.
const NAME_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=") NAME_CHAR[c.charCodeAt(0)] = 1;
const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
// scheme "://" authority, then path-abempty [ "?" query ]
const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;

/**
 * uri-host [ ":" port ] (RFC 9110 7.2; port = *DIGIT, here at most 5, and `host:` is taken as
 * nginx does). Also refused, as nginx does: an empty name, a lone ".", ".." anywhere. IP
 * literals must be IPv6 (IPvFuture is refused: nginx takes any `[...]`).
 */
export function isValidHost(v: unknown): boolean {
  if (typeof v !== 'string' || v.length === 0 || v.length > 255 + 6) return false;
  let end = v.length; // of the name
  if (v.charCodeAt(0) === 0x5b /* [ */) {
    const close = v.indexOf(']');
    if (close < 0 || !isIPv6(v.slice(1, close))) return false;
    return close === v.length - 1 || (v.charCodeAt(close + 1) === 0x3a && isPort(v, close + 2));
  }
  for (let i = 0; i < end; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x3a /* : */) {
      if (!isPort(v, i + 1)) return false;
      end = i;
    } else if (c === 0x25 /* % */) {
      if (i + 2 >= end || !isHex(v.charCodeAt(i + 1)) || !isHex(v.charCodeAt(i + 2))) return false;
      i += 2;
    } else if (c >= 128 || NAME_CHAR[c] === 0 || (c === 0x2e && v.charCodeAt(i + 1) === 0x2e)) return false;
  }
  return end > 0 && !(end === 1 && v.charCodeAt(0) === 0x2e);
}

/** v[from..] is 0 to 5 digits. */
function isPort(v: string, from: number): boolean {
  if (v.length - from > 5) return false;
  for (let i = from; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The Host an HTTP/1.0 request without one goes to the app with: the SNI name when it is a valid host. */
export const fallbackHost = (info: ConnectionInfo): string => (info.sni && isValidHost(info.sni) ? info.sni : 'localhost');

/**
 * HTTP/1.x on Node's server. `raw`: rawHeaders (Node keeps only the first Host in `headers`).
 * HTTP/1.1 without Host, more than one Host line, or an invalid value: 400 (RFC 9112 3.2, as
 * nginx; nginx refuses two identical lines too). absolute-form: the authority replaces Host and
 * the app gets origin-form (RFC 9112 3.2.2, as nginx). Other schemes: 400 (nginx takes any
 * scheme). asterisk-form: 400, OPTIONS included (as nginx). authority-form: 400 (as nginx;
 * CONNECT never reaches here, it gets its own 400).
 */
export function resolveH1(url: string, raw: string[], http11: boolean): Resolved {
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (host !== undefined) return 'more than one Host';
    host = raw[i + 1]!;
  }
  if (host === undefined) {
    if (http11) return 'no Host';
  } else if (!isValidHost(host)) return 'invalid Host';
  if (url.charCodeAt(0) === 0x2f /* / */) return isPlainTarget(url) ? { path: url, host } : 'bad request target';
  if (url === '*') return 'asterisk-form';
  const m = ABSOLUTE.exec(url);
  if (!m) return 'bad request target';
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return 'unsupported scheme';
  const authority = m[2]!;
  if (!isValidHost(authority)) return 'invalid authority'; // userinfo ('@') and empty authorities included
  const tail = m[3]!;
  const path = tail === '' ? '/' : tail.charCodeAt(0) === 0x2f ? tail : `/${tail}`; // "?q" -> "/?q"
  return isPlainTarget(path) ? { path, host: authority } : 'bad request target';
}

/**
 * HTTP/2. :authority wins over host (RFC 9113 8.3.1); one of them must be there and valid (an
 * http(s) request without either is malformed). A host field that names another authority is
 * malformed too (the RFC's SHOULD): 400. nginx 1.22 refuses every request carrying both, even
 * identical; we take an identical copy. :path must be origin-form: asterisk-form is refused as
 * on HTTP/1.1 (nginx: 400), and CONNECT (no :path) is not proxied.
 */
export function resolveH2(method: string, url: string, authority: unknown, host: unknown): Resolved {
  if (method === 'CONNECT') return 'CONNECT';
  if (url.charCodeAt(0) !== 0x2f || !isPlainTarget(url)) return 'bad :path';
  const h = authority ?? host;
  if (h === undefined) return 'no :authority';
  if (!isValidHost(h)) return 'invalid :authority';
  if (authority !== undefined && host !== undefined && (typeof host !== 'string' || host.toLowerCase() !== (h as string).toLowerCase())) return 'host differs from :authority';
  return { path: url, host: h as string };
}

/** The request line we write to the app must not be splittable: printable ASCII, no spaces. */
export function isPlainTarget(url: string): boolean {
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return url.length > 0;
}
