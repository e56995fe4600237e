// Incremental parser for the app's HTTP/1.1 responses on a pooled connection. Lean on
// purpose (measured: the proxy serves ~1.7x the requests of one built on http.request), and
// at least as strict as llhttp (Node's parser), which the differential fuzz test
// (test/plugins/tls-terminator/upstream/response-parser.fuzz.test.ts) checks: whatever llhttp
// refuses is an error here (502 to the client, as nginx answers a malformed upstream head), and
// where this parser refuses more, the test lists the case and the RFC reason.

import { hasBareLf, trimOws } from '../http1-syntax.ts';
import { SidekickError } from '../../../src/plugin-api.ts';
const MAX_HEAD = 64 * 1024;
const MAX_CHUNK_LINE = 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

export interface ResponseHead {
  status: number;
  reason: string;
  /**
   * The field lines passed on, each `name: value\r\n` exactly as received ('' for none), with
   * hop-by-hop and Connection-nominated fields removed: the fast path copies them as one string.
   */
  fieldLines: string;
  /** fieldLines as a flat [name, value, ...] list, values without their optional whitespace. */
  readonly headers: string[];
  keepAlive: boolean;
  /** How the body is delimited: the fast path re-frames it for its client from this. */
  framing: 'none' | 'length' | 'chunked' | 'close';
}

/**
 * A parsed head. The header list is built only when asked for (Node's path and HTTP/2 need it,
 * the fast path does not): most responses then cost one string of their lines, not two strings a field.
 */
class ParsedHead implements ResponseHead {
  status: number;
  reason: string;
  fieldLines: string;
  keepAlive: boolean;
  framing: ResponseHead['framing'];
  #list?: string[];

  constructor(status: number, reason: string, fieldLines: string, keepAlive: boolean, framing: ResponseHead['framing']) {
    this.status = status;
    this.reason = reason;
    this.fieldLines = fieldLines;
    this.keepAlive = keepAlive;
    this.framing = framing;
  }

  get headers(): string[] {
    return (this.#list ??= fieldList(this.fieldLines));
  }
}

/** `name: value\r\n` lines (already checked) as [name, value, ...]. */
function fieldList(lines: string): string[] {
  const out: string[] = [];
  for (let pos = 0; pos < lines.length;) {
    const eol = lines.indexOf('\r\n', pos);
    const colon = lines.indexOf(':', pos);
    out.push(lines.slice(pos, colon), trimOws(lines, colon + 1, eol));
    pos = eol + 2;
  }
  return out;
}

export interface ParserEvents {
  head(head: ResponseHead): void;
  /** `chunk` is only valid during the call (a view of the pool's shared read buffer). */
  data(chunk: Buffer): void;
  /**
   * `last`: the final body bytes when known, so the client gets head + body in one write (a view,
   * as for data). `reusable` is false when the app asked to close, the body ran until close, or
   * the app sent bytes past the end of the response (it is out of step: RFC 9112 9.3).
   */
  end(reusable: boolean, last?: Buffer): void;
  continue(): void;
}

// Parser states (plain numbers: enums are not erasable syntax).
const Mode = { Head: 0, Length: 1, ChunkSize: 2, ChunkData: 3, ChunkCrlf: 4, Trailers: 5, UntilClose: 6, Done: 7 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];

export class ParseError extends SidekickError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SIDEKICK_TLS_UPSTREAM_RESPONSE', message, options);
  }
}

/** A field name is a token (RFC 9110 5.1): whitespace before the colon or a control is not. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values and the reason phrase: HTAB, SP, VCHAR, obs-text (RFC 9110 5.5, RFC 9112 4). No CR, LF, NUL, DEL or other controls. */
const TEXT = /^[\t\x20-\x7e\x80-\xff]*$/;
/** chunk-size and chunk-ext (RFC 9112 7.1.1), no whitespace (llhttp refuses it too). */
const CHUNK_LINE = /^0*([0-9a-fA-F]{1,8})(?:;[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"))?)*$/;
const HEX_RUN = /^[0-9a-fA-F]+/;
/** Every field line of a head at once (one sticky match is ~3x cheaper than a test per name and value). */
const FIELDS = /(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/y;

/** Removed before forwarding: hop-by-hop (RFC 9110 7.6.1) and the framing this parser re-does. */
const SKIP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
/** The names this parser acts on; a line of any other name is passed on untouched. */
const SPECIAL = new Set([...SKIP, 'content-length']);
/** Their lengths: a name of any other length is not even sliced. */
const FRAMING_LENGTHS = new Set([...SPECIAL].map((n) => n.length));
/**
 * Framing is decided by this parser: a Connection nomination never removes it (RFC 9110 7.6.1).
 * `close` and `keep-alive` are connection options, not field names (Keep-Alive is hop-by-hop anyway).
 */
const NEVER_NOMINATED = new Set(['content-length', 'transfer-encoding']);

/** `HTTP/1.0 ` or `HTTP/1.1 `, three digits (1-9 first), then the end or a space: the code. */
function statusOf(text: string, eol: number): number {
  const minor = text.charCodeAt(7);
  if (!text.startsWith('HTTP/1.') || (minor !== 48 && minor !== 49)) throw new ParseError('bad status line: not HTTP/1.0 or HTTP/1.1');
  const d0 = text.charCodeAt(9) - 48;
  const d1 = text.charCodeAt(10) - 48;
  const d2 = text.charCodeAt(11) - 48;
  if (eol < 12 || text.charCodeAt(8) !== 32 || !(d0 >= 0 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || (eol > 12 && text.charCodeAt(12) !== 32)) {
    throw new ParseError('bad status line');
  }
  if (d0 === 0) throw new ParseError('bad status line: status code below 100');
  return d0 * 100 + d1 * 10 + d2;
}


/** One `name: value` line of a head or trailer section, checked as llhttp checks it. */
function fieldLine(text: string, pos: number, eol: number): [string, string] {
  const colon = text.indexOf(':', pos);
  if (colon < 0 || colon > eol) throw new ParseError('bad header line: no colon');
  const name = text.slice(pos, colon);
  if (!TOKEN.test(name)) throw new ParseError('bad header line: name is not a token');
  const value = trimOws(text, colon + 1, eol);
  if (!TEXT.test(value)) throw new ParseError('bad header line: control character in the value');
  return [name, value];
}

const BARE_LF = 'bare LF in the response head';


export class ResponseParser {
  private mode: Mode = Mode.Head;
  private pending?: Buffer; // unparsed head or chunk-size bytes
  private left = 0;
  private keepAlive = true;
  private trailerBytes = 0;
  private readonly events: ParserEvents;
  private readonly noBody: boolean;

  constructor(events: ParserEvents, headRequest: boolean) {
    this.events = events;
    this.noBody = headRequest;
  }

  get started(): boolean {
    return this.mode !== Mode.Head || this.pending !== undefined;
  }

  /** The app closed the connection: ends a close-delimited body; anything else is truncation. */
  eof(): boolean {
    if (this.mode === Mode.UntilClose) {
      this.mode = Mode.Done;
      this.events.end(false);
      return true;
    }
    return this.mode === Mode.Done;
  }

  /** `buf` may be reused by the caller after this returns: what waits for more bytes is copied. */
  push(buf: Buffer): void {
    if (this.pending) {
      buf = Buffer.concat([this.pending, buf]);
      this.pending = undefined;
    }
    let off = 0;
    while (off < buf.length) {
      switch (this.mode) {
        case Mode.Head: {
          const end = buf.indexOf(CRLF2, off);
          if (end < 0) {
            if (buf.length - off > MAX_HEAD) throw new ParseError('response head larger than 64 KiB');
            // A head of bare LFs never ends in CRLFCRLF: refuse it now rather than wait for timeouts.upstream.
            if (hasBareLf(buf, off)) throw new ParseError(BARE_LF);
            this.pending = Buffer.from(buf.subarray(off));
            return;
          }
          if (end - off > MAX_HEAD) throw new ParseError('response head larger than 64 KiB');
          this.head(buf.toString('latin1', off, end));
          off = end + 4;
          if ((this.mode as Mode) === Mode.Done) return this.finish(off < buf.length);
          break;
        }
        case Mode.Length: {
          const n = Math.min(this.left, buf.length - off);
          const chunk = buf.subarray(off, off + n);
          off += n;
          this.left -= n;
          if (this.left === 0) return this.finish(off < buf.length, chunk);
          this.events.data(chunk);
          break;
        }
        case Mode.UntilClose:
          this.events.data(off === 0 ? buf : buf.subarray(off));
          return;
        case Mode.ChunkSize:
        case Mode.Trailers: {
          const eol = buf.indexOf('\r\n', off, 'latin1');
          if (eol < 0) {
            if (buf.length - off > MAX_CHUNK_LINE) throw new ParseError('chunk line too long');
            this.pending = Buffer.from(buf.subarray(off));
            return;
          }
          const line = buf.toString('latin1', off, eol);
          off = eol + 2;
          if (this.mode === Mode.Trailers) {
            if (line === '') return this.finish(off < buf.length);
            this.trailer(line);
            break;
          }
          this.chunkSize(line);
          break;
        }
        case Mode.ChunkData: {
          const n = Math.min(this.left, buf.length - off);
          this.events.data(buf.subarray(off, off + n));
          off += n;
          this.left -= n;
          if (this.left === 0) this.mode = Mode.ChunkCrlf;
          break;
        }
        case Mode.ChunkCrlf: {
          if (buf.length - off < 2) {
            this.pending = Buffer.from(buf.subarray(off));
            return;
          }
          if (buf[off] !== 13 || buf[off + 1] !== 10) throw new ParseError('missing CRLF after chunk');
          off += 2;
          this.mode = Mode.ChunkSize;
          break;
        }
        case Mode.Done:
          // Bytes in a later read: the Exchange has let go of the parser by then, and the pool's
          // read callback destroys an idle connection that sends anything.
          throw new ParseError('unexpected bytes after the response');
      }
    }
  }

  /** `more`: bytes follow the response in the same read, so the connection is out of step. */
  private finish(more: boolean, last?: Buffer): void {
    this.mode = Mode.Done;
    this.events.end(this.keepAlive && !more, last);
  }

  private chunkSize(line: string): void {
    const size = CHUNK_LINE.exec(line);
    if (!size) {
      const digits = HEX_RUN.exec(line)?.[0].replace(/^0+/, '') ?? '';
      if (digits.length > 8) throw new ParseError('chunk size too large');
      throw new ParseError(/^[0-9a-fA-F]+;/.test(line) ? 'bad chunk extension' : 'bad chunk size line');
    }
    this.left = parseInt(size[1]!, 16);
    this.mode = this.left === 0 ? Mode.Trailers : Mode.ChunkData;
  }

  /** Trailer fields are checked as header fields and dropped; framing fields have no place there (RFC 9110 6.5.1). */
  private trailer(line: string): void {
    this.trailerBytes += line.length + 2;
    if (this.trailerBytes > MAX_HEAD) throw new ParseError('trailers larger than 64 KiB');
    const [name] = fieldLine(line, 0, line.length);
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding') throw new ParseError('framing field in trailers');
  }

  private head(text: string): void {
    // Checked first, so that a head is refused with the same error whether it arrived whole or
    // was refused early, as it came in (push).
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) if (i === 0 || text.charCodeAt(i - 1) !== 13) throw new ParseError(BARE_LF);
    // Walked in place (no split, no status-line regex) and only names of a length some framing or
    // hop-by-hop name has are lower-cased: this runs for every response, and was the largest of
    // the plugin's own functions in a keep-alive CPU profile.
    let eol = text.indexOf('\r\n');
    if (eol < 0) eol = text.length;
    const status = statusOf(text, eol);
    const reason = eol > 13 ? text.slice(13, eol) : '';
    if (!TEXT.test(reason)) throw new ParseError('bad reason phrase');
    const http11 = text.charCodeAt(7) === 49;
    let length: number | undefined;
    let codings: string | undefined;
    let close = false;
    let keepAliveToken = false;
    let nominated: Set<string> | undefined;
    if (eol < text.length) {
      FIELDS.lastIndex = eol + 2;
      if (!FIELDS.test(text)) fieldsError(text, eol + 2);
    }
    // The lines passed on are runs of the head's own text between the removed ones.
    let kept = '';
    let run = eol + 2;
    for (let pos = eol + 2; pos < text.length; pos = eol + 2) {
      eol = text.indexOf('\r\n', pos);
      if (eol < 0) eol = text.length;
      const colon = text.indexOf(':', pos);
      if (!FRAMING_LENGTHS.has(colon - pos)) continue;
      const lower = text.slice(pos, colon).toLowerCase();
      if (!SPECIAL.has(lower)) continue;
      const value = trimOws(text, colon + 1, eol);
      if (lower === 'content-length') {
        // llhttp refuses a second Content-Length even with the same value; so do we.
        if (length !== undefined) throw new ParseError('more than one Content-Length');
        if (!/^\d+$/.test(value)) throw new ParseError('bad Content-Length');
        length = Number(value);
        if (length > Number.MAX_SAFE_INTEGER) throw new ParseError('Content-Length too large');
        continue;
      }
      if (lower === 'transfer-encoding') {
        // llhttp takes `chunked<HTAB>` for an unknown coding (a body until close) where OWS
        // trimming makes it chunked: a desync, so a trailing HTAB makes the coding unsupported.
        const raw = /\t[ \t]*$/.test(text.slice(colon + 1, eol)) ? `${value}\t` : value;
        codings = codings === undefined ? raw : `${codings}, ${raw}`;
      } else if (lower === 'connection' || lower === 'proxy-connection') {
        // Tokens as llhttp reads them (close, keep-alive; Proxy-Connection counts too); any other
        // token of Connection names a header to remove. The usual single values skip the split.
        if (value === 'keep-alive' || value === 'Keep-Alive') keepAliveToken = true;
        else if (value === 'close' || value === 'Close') close = true;
        else {
          for (const part of value.split(',')) {
            const token = trimOws(part, 0, part.length).toLowerCase();
            if (token === 'close') close = true;
            else if (token === 'keep-alive') keepAliveToken = true;
            else if (lower === 'connection' && token !== '' && !NEVER_NOMINATED.has(token)) (nominated ??= new Set()).add(token);
          }
        }
      }
      // A hop-by-hop line: the run of kept lines before it is taken, the next run starts after it.
      if (pos > run) kept += text.slice(run, pos);
      run = eol + 2;
    }
    if (run < text.length) kept += `${text.slice(run)}\r\n`;
    if (nominated) kept = withoutNominated(kept, nominated);
    // Only `chunked` alone: a coding we cannot decode cannot be forwarded either once
    // Transfer-Encoding is stripped (nginx answers 502 "unknown Transfer-Encoding" too).
    const chunked = codings !== undefined;
    if (chunked && codings!.toLowerCase() !== 'chunked') throw new ParseError(`unsupported Transfer-Encoding "${codings}"`);
    if (chunked && length !== undefined) throw new ParseError('Content-Length with Transfer-Encoding');
    // RFC 9112 9.3 as llhttp applies it: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
    const keepAlive = http11 ? !close : keepAliveToken;
    if (status < 200) {
      // llhttp takes an interim response that closes the connection as its last message, and
      // refuses what follows (HPE_CLOSED_CONNECTION): no final response can come after it.
      if (status === 101) throw new ParseError('unexpected 101 on a non-upgrade request');
      if (!keepAlive) throw new ParseError('interim response closes the connection');
      if (status === 100) this.events.continue();
      return; // stay in Head mode: the final response follows
    }
    const framing = this.noBody || status === 204 || status === 304 ? 'none' : chunked ? 'chunked' : length !== undefined ? 'length' : 'close';
    // A HEAD response without a length is not reused either (llhttp decides so before it learns
    // the request was HEAD): an app that frames nothing may well send a body anyway.
    this.keepAlive = keepAlive && framing !== 'close' && !(framing === 'none' && this.noBody && status !== 204 && status !== 304 && !chunked && length === undefined);
    this.events.head(new ParsedHead(status, reason, kept, keepAlive, framing));
    if (framing === 'none' || (framing === 'length' && length === 0)) this.mode = Mode.Done;
    else if (framing === 'chunked') this.mode = Mode.ChunkSize;
    else if (framing === 'length') {
      this.left = length!;
      this.mode = Mode.Length;
    } else this.mode = Mode.UntilClose;
  }
}

/** The field lines failed FIELDS: throws the first line's specific error. */
function fieldsError(text: string, from: number): never {
  for (let pos = from; pos < text.length;) {
    let eol = text.indexOf('\r\n', pos);
    if (eol < 0) eol = text.length;
    fieldLine(text, pos, eol);
    pos = eol + 2;
  }
  throw new ParseError('bad header line');
}

function withoutNominated(lines: string, nominated: Set<string>): string {
  let out = '';
  for (let pos = 0; pos < lines.length;) {
    const next = lines.indexOf('\r\n', pos) + 2;
    if (!nominated.has(lines.slice(pos, lines.indexOf(':', pos)).toLowerCase())) out += lines.slice(pos, next);
    pos = next;
  }
  return out;
}
