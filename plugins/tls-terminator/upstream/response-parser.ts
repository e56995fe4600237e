// Incremental parser for the app's HTTP/1.1 responses on a pooled connection. Lean on
// purpose (measured: the proxy serves ~1.7x the requests of one built on http.request), and
// strict where it matters: conflicting Content-Length or Content-Length with
// Transfer-Encoding from the app is an error (502), never a guess.

const MAX_HEAD = 64 * 1024;
const MAX_CHUNK_LINE = 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

export interface ResponseHead {
  status: number;
  reason: string;
  /** Flat [name, value, ...], as received, hop-by-hop and framing headers removed. */
  headers: string[];
  keepAlive: boolean;
  /** How the body is delimited: the fast path re-frames it for its client from this. */
  framing: 'none' | 'length' | 'chunked' | 'close';
}

export interface ParserEvents {
  head(head: ResponseHead): void;
  /** `chunk` is only valid during the call (a view of the pool's shared read buffer). */
  data(chunk: Buffer): void;
  /** `last`: the final body bytes when known, so the client gets head + body in one write (a view, as for data). */
  end(reusable: boolean, last?: Buffer): void;
  continue(): void;
}

// Parser states (plain numbers: enums are not erasable syntax).
const Mode = { Head: 0, Length: 1, ChunkSize: 2, ChunkData: 3, ChunkCrlf: 4, Trailers: 5, UntilClose: 6, Done: 7 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];

export class ParseError extends Error {
  readonly code = 'ERR_TLS_TERMINATOR_UPSTREAM_RESPONSE';
}

// A CR or LF that is not part of a CRLF, or a NUL: split on CRLF, such a head could smuggle a
// header line into what we write to the client.
const STRAY = /\r(?!\n)|(?<!\r)\n|\0/;

const SKIP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
/** Lengths of the names above and content-length: any other name needs no lower-casing. */
const FRAMING_LENGTHS = new Set([...SKIP, 'content-length'].map((n) => n.length));

/** `HTTP/1.0 ` or `HTTP/1.1 `, three digits (1-9 first), then the end or a space: the code. */
function statusOf(text: string, eol: number): number {
  const d0 = text.charCodeAt(9) - 48;
  const d1 = text.charCodeAt(10) - 48;
  const d2 = text.charCodeAt(11) - 48;
  const minor = text.charCodeAt(7);
  if (eol < 12 || !text.startsWith('HTTP/1.') || (minor !== 48 && minor !== 49) || text.charCodeAt(8) !== 32 ||
      !(d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || (eol > 12 && text.charCodeAt(12) !== 32)) {
    throw new ParseError('bad status line');
  }
  return d0 * 100 + d1 * 10 + d2;
}

export class ResponseParser {
  private mode: Mode = Mode.Head;
  private pending?: Buffer; // unparsed head or chunk-size bytes
  private left = 0;
  private keepAlive = true;
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
            this.pending = Buffer.from(buf.subarray(off));
            return;
          }
          this.head(buf.toString('latin1', off, end));
          off = end + 4;
          break;
        }
        case Mode.Length: {
          const n = Math.min(this.left, buf.length - off);
          const chunk = buf.subarray(off, off + n);
          off += n;
          this.left -= n;
          if (this.left === 0) this.finish(chunk);
          else this.events.data(chunk);
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
            if (line === '') this.finish(); // trailers themselves are dropped
            break;
          }
          const size = /^([0-9a-fA-F]{1,8})(?:[ \t]*;.*)?$/.exec(line);
          if (!size) throw new ParseError('bad chunk size line');
          this.left = parseInt(size[1]!, 16);
          this.mode = this.left === 0 ? Mode.Trailers : Mode.ChunkData;
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
          // Bytes after a complete response that we did not ask for: the connection is unusable.
          throw new ParseError('unexpected bytes after the response');
      }
    }
  }

  private finish(last?: Buffer): void {
    this.mode = Mode.Done;
    this.events.end(this.keepAlive, last);
  }

  private head(text: string): void {
    if (STRAY.test(text)) throw new ParseError('bare CR, LF or NUL in the response head');
    // Walked in place (no split, no status-line regex) and only names of a length some framing or
    // hop-by-hop name has are lower-cased: this runs for every response, and was the largest of
    // the plugin's own functions in a keep-alive CPU profile.
    let eol = text.indexOf('\r\n');
    if (eol < 0) eol = text.length;
    const status = statusOf(text, eol);
    const reason = eol > 13 ? text.slice(13, eol) : '';
    const headers: string[] = [];
    let length: number | undefined;
    let chunked = false;
    let keepAlive = text.charCodeAt(7) === 49; // HTTP/1.1
    for (let pos = eol + 2; pos < text.length; pos = eol + 2) {
      eol = text.indexOf('\r\n', pos);
      if (eol < 0) eol = text.length;
      const colon = text.indexOf(':', pos);
      const first = text.charCodeAt(pos);
      if (colon <= pos || colon > eol || first === 32 || first === 9) throw new ParseError('bad header line');
      const name = text.slice(pos, colon);
      const value = text.slice(colon + 1, eol).trim();
      const lower = FRAMING_LENGTHS.has(colon - pos) ? name.toLowerCase() : '';
      if (lower === '') {
        headers.push(name, value);
        continue;
      }
      if (lower === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) throw new ParseError('bad or conflicting Content-Length');
        length = Number(value);
      } else if (lower === 'transfer-encoding') {
        chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
        if (!chunked) throw new ParseError(`unsupported Transfer-Encoding "${value}"`);
      } else if (lower === 'connection') {
        const v = value.toLowerCase();
        if (v.includes('close')) keepAlive = false;
        else if (v.includes('keep-alive')) keepAlive = true;
      }
      if (SKIP.has(lower)) continue;
      headers.push(name, value);
    }
    if (chunked && length !== undefined) throw new ParseError('Content-Length with Transfer-Encoding');
    if (status < 200) {
      if (status === 100) this.events.continue();
      else if (status === 101) throw new ParseError('unexpected 101 on a non-upgrade request');
      return; // stay in Head mode: the final response follows
    }
    this.keepAlive = keepAlive;
    const framing = this.noBody || status === 204 || status === 304 ? 'none' : chunked ? 'chunked' : length !== undefined ? 'length' : 'close';
    this.events.head({ status, reason, headers, keepAlive, framing });
    if (framing === 'none') return this.finish();
    if (chunked) this.mode = Mode.ChunkSize;
    else if (length !== undefined) {
      this.left = length;
      if (length === 0) this.finish();
      else this.mode = Mode.Length;
    } else {
      this.keepAlive = false;
      this.mode = Mode.UntilClose;
    }
  }
}
