// The fast path's request-head parser. It accepts a strict subset of HTTP/1.1 and answers
// `undefined` for everything else, so that anything unusual (Upgrade, Expect, Transfer-Encoding,
// duplicate or odd Content-Length, obs-fold, bare LF, absolute-form targets, rare methods, ...)
// is handed to Node's http server, whose behaviour for those is the tested one. A request this
// parser accepts must be one Node would accept and frame the same way: it never has to reject.
// The answer for a request it declines is why (a metric label: how much traffic takes Node's path).

import { hasBareLf, trimOws } from '../http1-syntax.ts';
import { isValidHost } from './host-rules.ts';

export interface PlainRequest {
  method: string;
  target: string;
  /** '1.1' or '1.0', as the access log and the client's framing need it. */
  version: string;
  /** Flat [name, value, ...] in the client's order, values without surrounding whitespace. */
  raw: string[];
  /** raw's names lower-cased (one per pair), so the header filter does not lower-case them again. */
  lower: string[];
  /** undefined: HTTP/1.0 without Host. */
  host: string | undefined;
  contentLength: number;
  keepAlive: boolean;
}

// The methods llhttp accepts that need nothing special (CONNECT and the WebDAV/RTSP zoo go to Node).
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, space, tab and obs-text; no CR, LF, NUL or other controls.
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^\/[\x21-\x7e]*$/;
/** Every field line at once, as TOKEN and VALUE check them one by one (one sticky match costs less than two tests a line). */
const FIELDS = /(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/y;
const LENGTH = /^\d{1,15}$/;
/** Node's server refuses (431) a head with more field lines: maxHeadersCount, 2000 names and values. */
const MAX_FIELDS = 1000;
// Any of these names sends the request to Node's server (or, for `te`, keeps it off the fast path
// because Node's handling of `TE: trailers` with a body is the tested one). llhttp reads
// `Proxy-Connection` as `Connection` (close, keep-alive, upgrade), which this parser does not.
const UNUSUAL = new Map([['transfer-encoding', 'transfer_encoding'], ['expect', 'expect'], ['upgrade', 'upgrade'], ['http2-settings', 'upgrade'], ['te', 'other'], ['proxy-connection', 'other']]);

const CRLF2 = Buffer.from('\r\n\r\n');

/** A head the fast path takes: the request and where its body starts in the buffer. */
export interface ScannedHead {
  request: PlainRequest;
  /** Offset just past the head's CRLFCRLF. */
  bodyStart: number;
}

/**
 * The fast path's whole decision on buffered bytes, as one pure function so the differential
 * fuzz test runs exactly what the connection runs: undefined = wait for more bytes; a string =
 * hand the connection to Node's server (the reason); else the head and where its body starts.
 */
export function scanHead(buf: Buffer, maxHeaderSize: number): ScannedHead | string | undefined {
  const end = buf.indexOf(CRLF2);
  if (end < 0) {
    if (buf.length > maxHeaderSize) return 'head_size'; // Node answers 431
    if (hasBareLf(buf)) return 'other'; // never ends in CRLFCRLF: Node decides, not our timeout
    return undefined;
  }
  if (end + 4 > maxHeaderSize) return 'head_size';
  const request = parsePlainHead(buf.toString('latin1', 0, end));
  return typeof request === 'string' ? request : { request, bodyStart: end + 4 };
}


/** `text`: the head as latin1, without its final CRLFCRLF. */
export function parsePlainHead(text: string): PlainRequest | string {
  let eol = text.indexOf('\r\n');
  const line = eol < 0 ? text : text.slice(0, eol);
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 < 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0) return 'other';
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const proto = line.slice(sp2 + 1);
  if (!METHODS.has(method)) return 'method';
  if (!TARGET.test(target)) return 'other';
  const version = proto === 'HTTP/1.1' ? '1.1' : proto === 'HTTP/1.0' ? '1.0' : '';
  if (!version) return 'other';
  const raw: string[] = [];
  const lowerNames: string[] = [];
  let host: string | undefined;
  let contentLength = -1;
  let close = false;
  let keepAliveToken = false;
  // Indices into `text` rather than a slice per line: this runs for every fast-path request.
  // When every line is well-formed, the per-line tests are skipped; when one is not, they run
  // and the loop stops where it stopped before (the same reason for the same head).
  let wellFormed = false;
  if (eol >= 0) {
    FIELDS.lastIndex = eol + 2;
    wellFormed = FIELDS.test(text);
  }
  while (eol >= 0) {
    const start = eol + 2;
    eol = text.indexOf('\r\n', start);
    const stop = eol < 0 ? text.length : eol;
    const colon = text.indexOf(':', start);
    if (colon <= start || colon > stop) return 'other';
    const name = text.slice(start, colon);
    if (!wellFormed && !TOKEN.test(name)) return 'other';
    const value = trimOws(text, colon + 1, stop);
    if (!wellFormed && !VALUE.test(value)) return 'other';
    const lower = name.toLowerCase();
    const unusual = UNUSUAL.get(lower);
    if (unusual) return unusual;
    if (lower === 'content-length') {
      if (contentLength >= 0 || !LENGTH.test(value)) return 'content_length';
      contentLength = Number(value);
    } else if (lower === 'host') {
      // A Host the rules of host-rules.ts refuse goes to Node's path, which answers 400 (the fast path never rejects).
      if (host !== undefined || !isValidHost(value)) return 'other';
      host = value;
    } else if (lower === 'connection') {
      // Node's and browsers' usual single values first, without a lower-cased copy and a split.
      if (value === 'keep-alive' || value === 'Keep-Alive') keepAliveToken = true;
      else if (value === 'close' || value === 'Close') close = true;
      else {
        // Tokens trimmed of OWS only (String#trim would also eat 0xA0, which llhttp keeps).
        for (const token of value.toLowerCase().split(',')) {
          const t = trimOws(token, 0, token.length);
          if (t === 'close') close = true;
          else if (t === 'keep-alive') keepAliveToken = true;
          else if (t === 'upgrade') return 'upgrade';
        }
      }
    }
    raw.push(name, value);
    lowerNames.push(lower);
    if (lowerNames.length > MAX_FIELDS) return 'head_size';
  }
  if (host === undefined && version === '1.1') return 'other'; // Node answers 400
  // Both tokens on HTTP/1.0: llhttp keeps the connection alive (keep-alive wins there, close
  // wins on HTTP/1.1). Rare and contradictory, so Node's server decides.
  if (close && keepAliveToken && version === '1.0') return 'other';
  return {
    method, target, version, raw, lower: lowerNames, host,
    contentLength: contentLength < 0 ? 0 : contentLength,
    keepAlive: !close && (version === '1.1' || keepAliveToken),
  };
}

