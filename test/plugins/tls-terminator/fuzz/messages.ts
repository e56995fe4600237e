// Inputs for the differential fuzz tests: HTTP/1.1 requests and responses generated from a
// small grammar (mostly valid, so the strict parsers accept many of them), then mutated byte- and
// token-wise with the desync classes of PortSwigger's and the HTTP Garden's research: whitespace
// before the colon, obs-fold, bare CR/LF, controls and 0x80-0xff, duplicate, signed, spaced or
// conflicting Content-Length, CL+TE, obfuscated Transfer-Encoding, chunk-size tricks, trailers,
// odd methods/targets/versions, Connection lists, duplicate Host, pipelined messages and bytes
// after a message. Strings are latin1: one char per byte.
import type { Random } from './random.ts';

const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'];
const ODD_METHODS = ['CONNECT', 'TRACE', 'PROPFIND', 'get', 'Get', 'PRI', 'QUERY', 'SEARCH', 'PURGE', 'GETX', 'G\x00ET', 'GET\t', 'ACL', 'SOURCE', 'POST '];
const TARGETS = ['/', '/', '/a/b?c=d&e', '/%20x', '/?q="x"', '/a;b', '//x', '/~u/', '/a#f', '/\xe9', '/.', '/a?b=c/d'];
const ODD_TARGETS = ['*', 'http://h/p', 'HTTP://h', 'h:443', '', 'a', '/a b', '/\x7f', '/\x01', '/\t', '/a\x80'];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'];
const ODD_VERSIONS = ['HTTP/0.9', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/3.0', 'http/1.1', 'HTTP/1.10', 'HTTP/11', 'HTTP/1.1 ', 'HTTP/1', 'HTTP /1.1', 'HTTP/1.1\t', 'HTTP/9.9'];
const NAMES = ['Accept', 'User-Agent', 'X-Forwarded-For', 'Cookie', 'Accept-Encoding', 'X-A', 'x_y', 'Cache-Control', 'If-None-Match', 'Authorization', 'Referer', "!#$%&'*+-.^_`|~"];
const ODD_NAMES = ['', ' X', 'X ', 'X\t', 'A B', 'X\x00', 'X\x7f', '\x80X', 'X\x01', 'Host ', '"q"', 'a(b', 'x/y', 'a@b', 'x=y', 'a[b]', '{x}', 'a\\b'];
const VALUES = ['a', '*/*', '', 'v w', ' padded ', '\ttabbed\t', 'a, b,c', '"quoted, str"', '1.2.3.4, 5.6.7.8', 'max-age=0', 'x=1; y=2', '\xe9t\xe9', '\x80\xff', '~!@#$%^&*()', 'a  b'];
const ODD_VALUES = ['a\x00b', 'a\x01', '\x7f', 'a\x0bb', 'a\x0cb', 'a\x1fb', '\xa0x\xa0', 'x\x85', ' ', '\t', 'a\x1b[31m'];
const CONNECTION = ['keep-alive', 'close', 'Close', 'KEEP-ALIVE', 'keep-alive, close', 'close, keep-alive', 'x-a, close', 'upgrade', 'Upgrade, keep-alive', 'te, x', 'content-length', 'transfer-encoding', 'host', ' close', 'close ', 'closed', 'keep-alive,', ',close', 'x-close', 'keep-alivex'];
const TE = ['chunked', 'Chunked', 'CHUNKED', ' chunked', 'chunked ', 'xchunked', 'chunkedx', 'chunked, identity', 'identity, chunked', 'gzip, chunked', 'identity', 'gzip', 'chunked, chunked', 'chunked;q=1', '"chunked"', 'chun ked', 'chunked\t', '', ',chunked', 'chunked,'];
const LENGTHS = ['0', '5', '05', '00000000000000000005', '+5', '-5', ' 5', '5 ', '5, 5', '5,5', '5, 6', '0x5', '5.0', '1e1', '99999999999999999999', '18446744073709551616', '', 'abc', '3', '4'];
const CHUNK_SIZES = ['5', '05', '0005', '000000005', '5 ', '5\t', ' 5', '5;ext', '5;a=b', '5;a="b c"', '5 ; a', '5;', '5;a=', '5;\x00', '0x5', '+5', '-5', 'ffffffffffffffff', '1ffffffffffffffff', 'g', '', '5\r', '5;a="\\"x"', 'A', 'a'];
const REASONS = ['OK', 'OK', 'Not Found', '', 'Created Now', 'x\x80y', 'a\tb', 'x\x01', 'x\x7fy', ' ', 'OK '];
const STATUS = ['200', '200', '200', '201', '204', '304', '404', '500', '302', '206'];
const ODD_STATUS = ['100', '101', '103', '199', '099', '000', '999', '2000', '20', '20a', '600', ' 200', '200 ', '-20'];
const RESP_VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'];
const ODD_RESP_VERSIONS = ['HTTP/0.9', 'HTTP/2.0', 'HTTP/1.2', 'HTTPS/1.1', 'http/1.1', 'HTTP/1.1 ', 'HTTP/11', 'HTTP/2', 'ICE/1.1', 'RTSP/1.0'];
/** Fragments spliced in by the token mutation. */
const TOKENS = ['\r\n', '\r', '\n', ' ', '\t', '\x00', ':', ': ', ',', ';', '\r\n ', '\r\n\t', '\r\n\r\n', 'chunked', '0\r\n\r\n', 'Content-Length: 3\r\n', 'Transfer-Encoding: chunked\r\n', 'Connection: close\r\n', 'Host: b\r\n', '\x80', '\xff', '\x7f', '\x0b', '\x0c', '"', '0x', '\\', 'HTTP/1.1', '=', '5\r\nhello\r\n', 'A'];

export interface Bias {
  /** Probability of an odd choice at each grammar point. */
  odd: number;
}

function item(r: Random, normal: readonly string[], odd: readonly string[], p: number): string {
  return r.chance(p) ? r.pick(odd) : r.pick(normal);
}

function body(r: Random, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += r.chance(0.9) ? String.fromCharCode(97 + r.int(26)) : String.fromCharCode(r.int(256));
  return s;
}

/** Bytes from the whole 0x09-0xff range, CR and LF excepted: every character class of a target or value. */
function randomText(r: Random, n: number): string {
  let s = '';
  while (s.length < n) {
    const c = 9 + r.int(247);
    if (c !== 10 && c !== 13) s += String.fromCharCode(c);
  }
  return s;
}

/** A chunked body, valid or with one trick, and trailers. */
function chunked(r: Random, odd: number): string {
  let s = '';
  const n = r.int(3);
  for (let i = 0; i < n; i++) {
    const len = 1 + r.int(8);
    let size = len.toString(16);
    if (r.chance(odd)) size = r.pick(CHUNK_SIZES);
    else if (r.chance(0.2)) size = size.toUpperCase().padStart(1 + r.int(4), '0');
    if (r.chance(odd)) size += r.pick([';x', ';x=1', ';x="y"', ' ', ';', ';x=\x80']);
    s += `${size}\r\n${body(r, len)}${r.chance(odd / 2) ? r.pick(['', '\n', '\r', 'x\r\n', '\r\n\r\n']) : '\r\n'}`;
  }
  s += r.chance(odd / 2) ? `${r.pick(['00', '0;x', '0 ', '000000000', ''])}\r\n` : '0\r\n';
  const trailers = r.chance(0.3) ? r.int(3) : 0;
  for (let i = 0; i < trailers; i++) s += `${item(r, ['X-T', 'Server-Timing', 'Content-Length', 'Transfer-Encoding'], ODD_NAMES, odd)}: ${item(r, VALUES, ODD_VALUES, odd)}\r\n`;
  return `${s}\r\n`;
}

interface Framing {
  lines: string[];
  body: string;
}

/** Content-Length / Transfer-Encoding lines and the body, consistent or not. */
function framing(r: Random, odd: number, wantBody: boolean): Framing {
  const lines: string[] = [];
  const roll = r.next();
  if (roll < odd / 2) {
    // Something odd: several lengths, CL+TE, odd spellings.
    const k = 1 + r.int(2);
    for (let i = 0; i < k; i++) lines.push(`${r.pick(['Content-Length', 'content-length', 'Content-length', 'Content-Length ', 'Content_Length'])}: ${r.pick(LENGTHS)}`);
    if (r.chance(0.5)) lines.push(`${r.pick(['Transfer-Encoding', 'transfer-encoding', 'Transfer-Encoding '])}: ${r.pick(TE)}`);
    return { lines, body: r.chance(0.5) ? chunked(r, odd) : body(r, r.int(8)) };
  }
  if (roll < odd) {
    lines.push(`Transfer-Encoding: ${r.pick(TE)}`);
    if (r.chance(0.3)) lines.push(`Transfer-Encoding: ${r.pick(TE)}`);
    return { lines, body: chunked(r, odd) };
  }
  if (!wantBody) return { lines, body: '' };
  if (r.chance(0.25)) {
    lines.push('Transfer-Encoding: chunked');
    return { lines, body: chunked(r, odd) };
  }
  const n = r.int(12);
  if (n > 0 || r.chance(0.5)) lines.push(`Content-Length: ${n}`);
  return { lines, body: body(r, n) };
}

function shuffleIn(r: Random, lines: string[], extra: string[]): string[] {
  const out = [...lines];
  for (const l of extra) out.splice(r.int(out.length + 1), 0, l);
  return out;
}

/** One request, mostly one the fast path takes. */
export function request(r: Random, bias: Bias): string {
  const { odd } = bias;
  const method = item(r, METHODS, ODD_METHODS, odd / 2);
  const target = item(r, TARGETS, ODD_TARGETS, odd / 2);
  const version = item(r, VERSIONS, ODD_VERSIONS, odd / 3);
  const lines: string[] = [];
  if (!r.chance(odd / 3)) lines.push(`${r.pick(['Host', 'host', 'HOST'])}: ${item(r, ['example.com', 'a', 'x:8443', '127.0.0.1'], ['', 'a b', 'a\x00', '[::1]', 'h/p', '\xe9'], odd)}`);
  if (r.chance(odd / 3)) lines.push(`Host: ${r.pick(['b', 'example.com'])}`);
  const n = r.int(4);
  for (let i = 0; i < n; i++) lines.push(`${item(r, NAMES, ODD_NAMES, odd / 2)}:${r.pick([' ', '', '  ', '\t'])}${item(r, VALUES, ODD_VALUES, odd / 2)}`);
  if (r.chance(0.3)) lines.push(`${r.pick(['Connection', 'connection', 'Proxy-Connection', 'Keep-Alive'])}: ${r.pick(CONNECTION)}`);
  if (r.chance(odd / 4)) lines.push(`${r.pick(['Expect', 'Upgrade', 'TE', 'Trailer'])}: ${r.pick(['100-continue', 'websocket', 'trailers', 'x'])}`);
  if (r.chance(0.01)) for (let i = 995 + r.int(10); i > 0; i--) lines.push('a: b'); // Node's field count limit
  if (r.chance(0.01)) lines.push(`X-Pad: ${'p'.repeat(16300 + r.int(100))}`); // and its head size limit
  if (r.chance(0.05)) lines.push(`${r.pick(NAMES)}: ${randomText(r, 1 + r.int(6))}`);
  const f = framing(r, odd, method === 'POST' || method === 'PUT' || method === 'PATCH');
  if (r.chance(0.05)) return `${method} /${randomText(r, 1 + r.int(4))} ${version}\r\n${shuffleIn(r, lines, f.lines).map((l) => `${l}\r\n`).join('')}\r\n${f.body}`;
  return `${method} ${target} ${version}\r\n${shuffleIn(r, lines, f.lines).map((l) => `${l}\r\n`).join('')}\r\n${f.body}`;
}

/** One response (perhaps after interim 1xx responses). */
export function response(r: Random, bias: Bias): string {
  const { odd } = bias;
  let pre = '';
  if (r.chance(0.08)) {
    const connection = r.chance(0.3) ? `\r\nConnection: ${r.pick(['close', 'keep-alive', 'x-a'])}` : '';
    pre = `${r.pick(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'])} ${r.pick(['100 Continue', '103 Early Hints\r\nLink: </a>; rel=preload', '102 Processing', '199 X'])}${connection}\r\n\r\n`;
  }
  const version = item(r, RESP_VERSIONS, ODD_RESP_VERSIONS, odd / 3);
  const status = item(r, STATUS, ODD_STATUS, odd / 2);
  const reason = item(r, REASONS.slice(0, 5), REASONS, odd / 2);
  const lines: string[] = [];
  const n = r.int(4);
  for (let i = 0; i < n; i++) lines.push(`${item(r, ['Server', 'Content-Type', 'Set-Cookie', 'X-A', 'Cache-Control', 'ETag', 'Vary', 'Date'], ODD_NAMES, odd / 2)}:${r.pick([' ', '', '  ', '\t'])}${item(r, VALUES, ODD_VALUES, odd / 2)}`);
  if (r.chance(0.35)) lines.push(`${r.pick(['Connection', 'connection', 'CONNECTION'])}: ${r.pick([...CONNECTION, 'x-a', 'server', 'x-a, keep-alive', 'Content-Length, close', 'keep-alive, transfer-encoding'])}`);
  if (r.chance(0.1)) lines.push(`${r.pick(['Keep-Alive', 'Proxy-Connection', 'Trailer', 'Upgrade', 'TE'])}: ${r.pick(['timeout=5', 'keep-alive', 'X-T', 'h2c', 'trailers'])}`);
  if (r.chance(0.05)) lines.push(`${r.pick(['X-A', 'Server'])}: ${randomText(r, 1 + r.int(6))}`);
  const f = framing(r, odd, !r.chance(0.1));
  return `${pre}${version} ${status}${reason === '' && r.chance(0.5) ? '' : ` ${reason}`}\r\n${shuffleIn(r, lines, f.lines).map((l) => `${l}\r\n`).join('')}\r\n${f.body}`;
}

/** A position, most often inside the head, where mutations matter most. */
function position(r: Random, s: string): number {
  const head = s.indexOf('\r\n\r\n');
  if (head > 0 && r.chance(0.75)) return r.int(head + 4);
  return r.int(s.length + 1);
}

const lineStarts = (s: string): number[] => {
  const out: number[] = [];
  const end = s.indexOf('\r\n\r\n');
  for (let i = s.indexOf('\r\n'); i >= 0 && (end < 0 || i < end); i = s.indexOf('\r\n', i + 2)) out.push(i + 2);
  return out;
};

/** 1-3 mutations of `s`; `next` makes another whole message to pipeline or append. */
export function mutate(r: Random, s: string, next: () => string): string {
  const k = 1 + r.int(3);
  for (let j = 0; j < k; j++) {
    const p = position(r, s);
    switch (r.int(12)) {
      case 0: s = s.slice(0, p) + String.fromCharCode(r.int(256)) + s.slice(p); break;
      case 1: s = s.slice(0, p) + String.fromCharCode(r.int(256)) + s.slice(p + 1); break;
      case 2: s = s.slice(0, p) + s.slice(p + 1 + r.int(3)); break;
      case 3:
      case 4: s = s.slice(0, p) + r.pick(TOKENS) + s.slice(p); break;
      case 5: { // whitespace before a colon
        const c = s.indexOf(':', p);
        if (c > 0) s = s.slice(0, c) + r.pick([' ', '\t', '  ', '\x0b']) + s.slice(c);
        break;
      }
      case 6: { // obs-fold or a line ending changed
        const starts = lineStarts(s);
        if (!starts.length) break;
        const at = r.pick(starts) - 2;
        s = s.slice(0, at) + r.pick(['\r\n ', '\r\n\t', '\n', '\r', '\r\r\n', '\n\r', '\r\n\r\n', ' \r\n']) + s.slice(at + 2);
        break;
      }
      case 7: { // a header line duplicated
        const starts = lineStarts(s);
        if (!starts.length) break;
        const a = r.pick(starts);
        const b = s.indexOf('\r\n', a);
        if (b > a) s = s.slice(0, a) + s.slice(a, b + 2) + s.slice(a);
        break;
      }
      case 8: { // case flipped
        const n = 1 + r.int(8);
        const part = s.slice(p, p + n);
        s = s.slice(0, p) + (r.chance(0.5) ? part.toUpperCase() : part.toLowerCase()) + s.slice(p + n);
        break;
      }
      case 9: s += next(); break; // pipelined / another response on the same connection
      case 10: s += r.pick(['\r\n', 'x', 'HTTP/1.1 200 OK\r\n\r\n', '\x00', '0\r\n\r\n', 'GET / HTTP/1.1\r\n']); break;
      case 11: s = s.slice(0, Math.max(0, s.length - 1 - r.int(4))); break;
    }
  }
  return s;
}
