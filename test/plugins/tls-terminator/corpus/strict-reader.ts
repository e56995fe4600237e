// A strict little HTTP/1.1 reader for the corpus: what the raw app received and what the client
// got back are parsed by the letter of RFC 9112 (CRLF only, token names, no obs-fold, no control
// bytes in values, one framing), so a proxy that lets anything odd through fails the case.
// Works on latin1 strings: one character per byte.

export interface Message {
  /** Request: [method, target, version]; response: [version, status, reason]. */
  start: [string, string, string];
  headers: Array<[string, string]>;
  body: string;
  trailers: Array<[string, string]>;
}

export type ReadResult = { kind: 'message'; message: Message; used: number } | { kind: 'incomplete' } | { kind: 'error'; error: string };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// field-value = *field-content; no CTL except HTAB (RFC 9110 5.5), OWS trimmed around it.
const FIELD_LINE = /^([^:]*):[ \t]*([^]*?)[ \t]*$/;
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) (HTTP\/1\.[01])$/;
const STATUS_LINE = /^(HTTP\/1\.[01]) ([1-5]\d\d) ([\t \x21-\x7e\x80-\xff]*)$/;

/** Splits CRLF lines from `from`; a bare CR or LF is an error. Returns the lines up to the empty one. */
function readLines(buf: string, from: number): { lines: string[]; end: number } | 'incomplete' | string {
  const lines: string[] = [];
  let pos = from;
  for (;;) {
    const cr = buf.indexOf('\r', pos);
    const lf = buf.indexOf('\n', pos);
    if (lf >= 0 && (cr < 0 || lf < cr)) return 'bare LF';
    if (cr < 0) return 'incomplete';
    if (cr + 1 >= buf.length) return 'incomplete';
    if (buf[cr + 1] !== '\n') return 'bare CR';
    const line = buf.slice(pos, cr);
    pos = cr + 2;
    if (line === '') return { lines, end: pos };
    lines.push(line);
  }
}

function parseFields(lines: string[]): Array<[string, string]> | string {
  const out: Array<[string, string]> = [];
  for (const line of lines) {
    if (line[0] === ' ' || line[0] === '\t') return `obs-fold: ${JSON.stringify(line)}`;
    const m = FIELD_LINE.exec(line);
    if (!m) return `field line without a colon: ${JSON.stringify(line)}`;
    if (!TOKEN.test(m[1]!)) return `field name is not a token: ${JSON.stringify(m[1])}`;
    if (BAD_VALUE.test(m[2]!)) return `control byte in the value of ${m[1]}: ${JSON.stringify(m[2])}`;
    out.push([m[1]!, m[2]!]);
  }
  return out;
}

export function field(headers: Array<[string, string]>, name: string): string[] {
  return headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

type Framing = { kind: 'none' } | { kind: 'length'; n: number } | { kind: 'chunked' } | { kind: 'close' };

function framing(headers: Array<[string, string]>, isRequest: boolean): Framing | string {
  const te = field(headers, 'transfer-encoding');
  const cl = field(headers, 'content-length');
  if (te.length > 0) {
    if (cl.length > 0) return 'both Content-Length and Transfer-Encoding';
    const codings = te.join(',').split(',').map((c) => c.trim().toLowerCase());
    if (codings.filter((c) => c === 'chunked').length > 1) return 'chunked applied twice';
    if (codings[codings.length - 1] === 'chunked') return { kind: 'chunked' };
    return isRequest ? `final coding is not chunked: ${te.join(',')}` : { kind: 'close' };
  }
  if (cl.length > 1) return `${cl.length} Content-Length fields`;
  if (cl.length === 1) {
    if (!/^\d{1,15}$/.test(cl[0]!)) return `invalid Content-Length ${JSON.stringify(cl[0])}`;
    return { kind: 'length', n: Number(cl[0]) };
  }
  return isRequest ? { kind: 'none' } : { kind: 'close' };
}

function readChunked(buf: string, from: number): { body: string; trailers: Array<[string, string]>; end: number } | 'incomplete' | string {
  let pos = from;
  let body = '';
  for (;;) {
    const cr = buf.indexOf('\r\n', pos);
    if (cr < 0) return buf.length - pos > 1024 ? 'chunk-size line too long' : 'incomplete';
    const line = buf.slice(pos, cr);
    const m = /^([0-9a-fA-F]{1,15})(;[^\r\n]*)?$/.exec(line);
    if (!m) return `bad chunk-size line ${JSON.stringify(line)}`;
    if (m[2] && !/^(;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]*(=[ \t]*("[^"\\]*"|[!#$%&'*+\-.^_`|~0-9A-Za-z]+))?[ \t]*)*$/.test(m[2])) return `bad chunk extension ${JSON.stringify(m[2])}`;
    const size = parseInt(m[1]!, 16);
    pos = cr + 2;
    if (size === 0) {
      const t = readLines(buf, pos);
      if (t === 'incomplete') return t;
      if (typeof t === 'string') return `trailers: ${t}`;
      const trailers = parseFields(t.lines);
      if (typeof trailers === 'string') return `trailers: ${trailers}`;
      return { body, trailers, end: t.end };
    }
    if (buf.length < pos + size + 2) return 'incomplete';
    body += buf.slice(pos, pos + size);
    if (buf.slice(pos + size, pos + size + 2) !== '\r\n') return 'chunk data not followed by CRLF';
    pos += size + 2;
  }
}

/** One request from `buf` at `from`; as an app on the far side of a proxy sees it (HTTP/1.1 only). */
export function readRequest(buf: string, from = 0): ReadResult {
  return read(buf, from, true, false, false);
}

/** One response; `head` when it answers HEAD; `eof` when the connection has ended (close-delimited bodies). */
export function readResponse(buf: string, from: number, head: boolean, eof: boolean): ReadResult {
  return read(buf, from, false, head, eof);
}

function read(buf: string, from: number, isRequest: boolean, head: boolean, eof: boolean): ReadResult {
  if (from >= buf.length) return { kind: 'incomplete' };
  const h = readLines(buf, from);
  if (h === 'incomplete') return h === 'incomplete' && eof ? { kind: 'error', error: 'ended inside the head' } : { kind: 'incomplete' };
  if (typeof h === 'string') return { kind: 'error', error: h };
  const [first, ...rest] = h.lines;
  if (first === undefined) return { kind: 'error', error: 'empty line where a start line belongs' };
  const start = (isRequest ? REQUEST_LINE : STATUS_LINE).exec(first);
  if (!start) return { kind: 'error', error: `bad start line ${JSON.stringify(first)}` };
  const headers = parseFields(rest);
  if (typeof headers === 'string') return { kind: 'error', error: headers };
  const message: Message = { start: [start[1]!, start[2]!, start[3]!], headers, body: '', trailers: [] };
  if (isRequest && start[3] !== 'HTTP/1.1') return { kind: 'error', error: `the app expects HTTP/1.1, got ${start[3]}` };
  if (isRequest && field(headers, 'host').length !== 1) return { kind: 'error', error: `${field(headers, 'host').length} Host fields` };
  const status = isRequest ? 0 : Number(start[2]);
  if (!isRequest && (head || status < 200 || status === 204 || status === 304)) return { kind: 'message', message, used: h.end - from };
  const f = framing(headers, isRequest);
  if (typeof f === 'string') return { kind: 'error', error: f };
  if (f.kind === 'none') return { kind: 'message', message, used: h.end - from };
  if (f.kind === 'length') {
    if (buf.length < h.end + f.n) return eof ? { kind: 'error', error: 'ended inside the body' } : { kind: 'incomplete' };
    message.body = buf.slice(h.end, h.end + f.n);
    return { kind: 'message', message, used: h.end + f.n - from };
  }
  if (f.kind === 'close') {
    if (!eof) return { kind: 'incomplete' };
    message.body = buf.slice(h.end);
    return { kind: 'message', message, used: buf.length - from };
  }
  const c = readChunked(buf, h.end);
  if (c === 'incomplete') return eof ? { kind: 'error', error: 'ended inside the chunked body' } : { kind: 'incomplete' };
  if (typeof c === 'string') return { kind: 'error', error: c };
  message.body = c.body;
  message.trailers = c.trailers;
  return { kind: 'message', message, used: c.end - from };
}
