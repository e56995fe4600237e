// The HTTP/1.1 fast path: one object per client connection that parses request heads itself
// and proxies plain requests over the shared app pool, without Node's http server (which builds
// a headers object, IncomingMessage/ServerResponse, timers and stream state per request).
// Anything unusual is handed, bytes and all, to Node's server at a request boundary, so every
// edge case stays in the tested path. What still applies here, as on Node's path: the shared
// header stripping (upstreamHeaders), max header size (oversized heads go to Node for its 431),
// headers/request/idle timeouts (one sweep per front, no timer per connection or request),
// 502/504, metrics, the access log, and draining. Requests on a connection are served one at a
// time; pipelined bytes wait, bounded, until the previous response is complete.
import type { TLSSocket } from 'node:tls';
import { connectionFields } from '../access-log.ts';
import { type CloseLimits, endWithin } from './bounded-close.ts';
import type { ConnectionLimiter } from '../connection-limiter.ts';
import type { ConnectionInfo } from '../connection-info.ts';
import { type ForwardOptions, upstreamHeaders } from './forwarding-headers.ts';
import { fallbackHost } from './host-rules.ts';
import { INTERNAL_ERROR_RESPONSE, type Stage } from '../internal-errors.ts';
import { statusClass } from '../metrics.ts';
import { type FrontContext, upstreamFailure } from './proxied-request.ts';
import { type Exchange, type ExchangeLimits, type ExchangeSink, type FailureKind, forward } from '../upstream/proxy-exchange.ts';
import { type PlainRequest, scanHead } from './request-head.ts';
import type { ResponseHead } from '../upstream/response-parser.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import { Admit, type Refusal, refusalText } from '../protect/protection.ts';

/** What every fast connection of one front shares. */
export interface FastFront {
  readonly context: FrontContext;
  readonly pool: UpstreamPool;
  readonly limits: ExchangeLimits;
  readonly fingerprintHeaders: boolean;
  /** { fingerprintHeaders }, made once. */
  readonly forwardOptions: ForwardOptions;
  readonly maxHeaderSize: number;
  /** More header fields than this: Node's path answers 431 (its maxHeadersCount). */
  readonly maxHeaders: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Every connection this path closes is destroyed within these, whatever the client does. */
  readonly closeLimits: CloseLimits;
  /** Told when a connection is idle (may be closed to make room at maxConnections) and when not. */
  readonly limiter: ConnectionLimiter;
  /** extraResponseHeaders as header lines, built once. */
  readonly extraHeadText: string;
  readonly draining: boolean;
  requestStarted(): void;
  /** Rate limits and the circuit breaker (protection.ts). */
  admit(method: string, path: string, raw: string[], lower: string[] | undefined, info: ConnectionInfo): Refusal | Admit;
  /** A slow or bad client is being answered 408/400: the metric and log line Node's path emits. */
  clientRejected(socket: TLSSocket, code: string): void;
  /** Give the connection to Node's http server (bytes already read are unshifted first). */
  handOff(socket: TLSSocket, reason: string): void;
  forget(c: FastConnection): void;
}

const Phase = { Head: 0, Idle: 1, Body: 2, Busy: 3, Closed: 4 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

const LAST_CHUNK = Buffer.from('0\r\n\r\n');
const SMALL_BODY = 4096; // copied after the head into one buffer below this; larger bodies are written as they are
const REASONS: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 408: 'Request Timeout', 500: 'Internal Server Error', 502: 'Bad Gateway', 504: 'Gateway Timeout' };
const CONN = Symbol('sidekick.tls-terminator.fast');
type Tagged = TLSSocket & { [CONN]?: FastConnection };

// Shared listeners (no closure per connection); `this` is the socket. Event boundaries: what the
// handling throws costs this connection, not the process.
function onData(this: Tagged, buf: Buffer): void {
  const c = this[CONN];
  try {
    c?.data(buf);
  } catch (e) {
    c!.internalError('fast_data', e);
  }
}
function finishRefused(c: FastConnection, note: string): void {
  try {
    c.refused(note);
  } catch (e) {
    c.internalError('fast_data', e);
  }
}
function onClose(this: Tagged): void {
  const c = this[CONN];
  try {
    c?.closed();
  } catch (e) {
    c!.internalError('fast_close', e);
  }
}

export class FastConnection implements ExchangeSink {
  readonly req = this;
  readonly res = this;
  readonly endConsumesLast = true; // end() copies `last` (a view of the pool's read buffer) before it returns
  readonly socket: TLSSocket;
  private readonly front: FastFront;
  private readonly info: ConnectionInfo;
  private phase: Phase = Phase.Head; // a new connection is held to the headers timeout, as on Node's path
  private since = performance.now();
  private pending?: Buffer;
  private paused = false;
  // The request being served.
  private active = false;
  method = '';
  private target = '';
  private version = '';
  private keepAlive = true;
  private started = 0;
  private status = 0;
  private bytes = 0;
  private bodyLeft = 0;
  private bodyReady = false;
  private exchange?: Exchange;
  private respHead?: string; // built by onHead, written with the first body bytes (one TLS record)
  private headWritten = false;
  private chunked = false;
  private logFields?: string; // the access log's per-connection fields, escaped once

  constructor(front: FastFront, socket: TLSSocket, info: ConnectionInfo) {
    this.front = front;
    this.socket = socket;
    this.info = info;
    (socket as Tagged)[CONN] = this;
    socket.on('data', onData);
    socket.on('close', onClose);
    front.limiter.idle(socket, 'no_request');
  }

  data(buf: Buffer): void {
    switch (this.phase) {
      case Phase.Body:
        if (this.bodyReady) return void this.feedBody(buf);
        this.stash(buf);
        return this.pause(); // the app connection is not there yet
      case Phase.Busy:
        this.stash(buf); // pipelined: parsed when the current response is complete
        if (this.pending!.length > this.front.maxHeaderSize) this.pause();
        return;
      case Phase.Closed:
        return;
      case Phase.Idle:
        this.phase = Phase.Head;
        this.since = performance.now();
      // falls through
      case Phase.Head:
        this.front.limiter.busy(this.socket);
        this.stash(buf);
        this.parseHead();
    }
  }

  private stash(buf: Buffer): void {
    this.pending = this.pending ? Buffer.concat([this.pending, buf]) : buf;
  }

  private parseHead(): void {
    const buf = this.pending;
    if (!buf) return;
    const head = scanHead(buf, this.front.maxHeaderSize);
    if (head === undefined) return;
    if (typeof head === 'string') return this.handOff(head);
    if (head.request.raw.length > 2 * this.front.maxHeaders) return this.handOff('header_count'); // Node answers 431
    this.pending = head.bodyStart < buf.length ? buf.subarray(head.bodyStart) : undefined;
    this.start(head.request);
  }

  private start(req: PlainRequest): void {
    const { front, info } = this;
    front.requestStarted();
    this.active = true;
    this.method = req.method;
    this.target = req.target;
    this.version = req.version;
    this.keepAlive = req.keepAlive;
    this.started = this.since = performance.now();
    this.status = this.bytes = 0;
    this.respHead = undefined;
    this.headWritten = this.chunked = false;
    this.bodyLeft = req.contentLength;
    this.bodyReady = false;
    this.phase = this.bodyLeft > 0 ? Phase.Body : Phase.Busy;
    const admitted = front.admit(req.method, req.target, req.raw, req.lower, info);
    if (typeof admitted === 'object') return this.refuse(admitted);
    const headers = upstreamHeaders(req.raw, req.host ?? fallbackHost(info), info, front.forwardOptions, req.lower);
    let head = `${req.method} ${req.target} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    // The exchange writes `content-length` from the parsed length (the client's line is never
    // copied); a request that sent `Content-Length: 0` keeps saying so.
    const framed = this.bodyLeft > 0 || req.lower.includes('content-length');
    this.exchange = forward(front.pool, this, head, framed ? 'length' : 'none', front.limits, this.bodyLeft, admitted === Admit.Probe);
  }

  /** The exchange has its app connection: body bytes may flow. */
  pumpBody(x: Exchange): void {
    this.exchange = x;
    this.bodyReady = true;
    const p = this.pending;
    this.pending = undefined;
    if (!p || this.feedBody(p)) this.resume();
  }

  /** false: the app connection is full and the client is paused until it drains. */
  private feedBody(buf: Buffer): boolean {
    const n = Math.min(this.bodyLeft, buf.length);
    const chunk = n === buf.length ? buf : buf.subarray(0, n);
    this.bodyLeft -= n;
    const x = this.exchange!;
    const ok = x.bodyChunk(chunk);
    if (this.bodyLeft === 0) {
      x.bodyEnd();
      this.phase = Phase.Busy;
    }
    if (n < buf.length) this.stash(buf.subarray(n));
    if (!ok) this.pause(); // the app connection's drain resumes us (Exchange -> req.resume)
    return ok;
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  // The response side, as the exchange writes it.
  onHead(h: ResponseHead): void {
    this.status = h.status;
    // HTTP/1.0 clients cannot take chunked: their body ends with the connection.
    this.chunked = h.framing === 'chunked' && this.version === '1.1';
    if (h.framing === 'close' || (h.framing === 'chunked' && !this.chunked) || this.front.draining) this.keepAlive = false;
    // The app's field lines go on as it sent them (hop-by-hop ones removed): one string, no list.
    let text = `HTTP/1.1 ${h.status} ${h.reason}\r\n${h.fieldLines}${this.front.extraHeadText}`;
    if (this.chunked) text += 'transfer-encoding: chunked\r\n';
    if (!this.keepAlive) text += 'connection: close\r\n';
    else if (this.version === '1.0') text += 'connection: keep-alive\r\n';
    this.respHead = `${text}\r\n`;
  }

  write(chunk: Buffer): boolean {
    const s = this.socket;
    s.cork();
    this.writeHeadIfPending();
    let ok: boolean;
    if (this.chunked) {
      s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      s.write(chunk);
      ok = s.write('\r\n', 'latin1');
    } else ok = s.write(chunk);
    s.uncork();
    return ok;
  }

  end(last?: Buffer): void {
    const s = this.socket;
    // The common small response, head and whole body at once: one buffer, one write. Corked
    // writes go through writev and the stream's buffered-request list, which was the largest
    // JavaScript cost of a response at a steady 1,000 req/s; a string of head and body made the
    // body a string, then the joined string a flat copy: two copies a response the GC must sweep.
    const head = this.respHead;
    if (head !== undefined && !this.chunked && (!last || last.length <= SMALL_BODY)) {
      if (last) {
        const out = Buffer.allocUnsafe(head.length + last.length); // small: a slice of Node's shared pool
        out.write(head, 0, 'latin1');
        last.copy(out, head.length);
        s.write(out);
      } else s.write(head, 'latin1');
      this.respHead = undefined;
      this.headWritten = true;
      return;
    }
    s.cork();
    this.writeHeadIfPending();
    if (last) {
      if (this.chunked) s.write(`${last.length.toString(16)}\r\n`, 'latin1');
      s.write(Buffer.from(last));
      if (this.chunked) s.write('\r\n', 'latin1');
    }
    if (this.chunked) s.write(LAST_CHUNK);
    s.uncork();
  }

  private writeHeadIfPending(): void {
    if (this.respHead === undefined) return;
    this.socket.write(this.respHead, 'latin1');
    this.respHead = undefined;
    this.headWritten = true;
  }

  writeContinue(): void {} // Expect never takes the fast path; an unsolicited 100 from the app is dropped

  once(event: 'drain', fn: () => void): this {
    this.socket.once(event, fn);
    return this;
  }

  removeListener(event: 'drain', fn: () => void): this {
    this.socket.removeListener(event, fn);
    return this;
  }

  onBytes(n: number): void {
    this.bytes += n;
  }

  onDone(): void {
    this.finish();
  }

  onError(kind: FailureKind, err: Error & { code?: string }, afterHead: boolean): void {
    if (afterHead) {
      this.socket.destroy();
      return this.finish(`${err.code ?? 'error'} mid-response`);
    }
    if (kind === 'overloaded') return this.refuse(this.front.context.overloaded(err));
    const answer = upstreamFailure(this.front.context, kind, err, this.method, this.target);
    this.reply(answer.code, answer.body, answer.note);
  }

  /**
   * 429 or 503 from protection, with Retry-After. The connection stays open when the client
   * keeps it alive and no request body is left to read (nginx's limit_req does the same).
   * The request is finished on the next tick: many refused requests pipelined in one read
   * must not recurse through parseHead.
   */
  private refuse(r: Refusal): void {
    this.status = r.status;
    this.bytes = r.body.length;
    this.exchange = undefined;
    if (this.bodyLeft > 0 || this.front.draining) this.keepAlive = false;
    const conn = !this.keepAlive ? 'connection: close\r\n' : this.version === '1.0' ? 'connection: keep-alive\r\n' : '';
    this.socket.write(refusalText(r, conn), 'latin1');
    this.headWritten = true;
    if (this.phase === Phase.Body) this.phase = Phase.Busy; // body bytes are not read: the connection closes after this answer
    process.nextTick(finishRefused, this, r.rule ? `${r.reason} ${r.rule}` : r.reason);
  }

  refused(note: string): void {
    this.finish(note);
  }

  /** An exception at one of our boundaries: 500 if this response has not started, else a cut; then close. */
  internalError(stage: Stage, err: unknown): void {
    this.front.context.errors.report(stage, err, this.info);
    try {
      if (this.active) {
        this.exchange?.clientClosed();
        return this.reply(500, 'internal error\n', 'internal error');
      }
      this.phase = Phase.Closed;
      endWithin(this.socket, this.front.closeLimits, INTERNAL_ERROR_RESPONSE);
    } catch {
      this.phase = Phase.Closed;
      this.socket.destroy();
    }
  }

  /** A short answer of our own, then the connection closes. */
  private reply(code: number, body: string, note: string): void {
    this.status = code;
    this.keepAlive = false;
    if (this.headWritten) this.socket.destroy();
    else {
      this.respHead = undefined;
      this.bytes = body.length;
      endWithin(this.socket, this.front.closeLimits, `HTTP/1.1 ${code} ${REASONS[code]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    }
    this.finish(note);
  }

  private finish(note?: string): void {
    if (!this.active) return;
    this.active = false;
    const ctx = this.front.context;
    ctx.requestDone();
    const now = performance.now();
    const status = this.status || 499;
    const seconds = (now - this.started) / 1000;
    ctx.metrics.requestsByClass[statusClass(status)]!.inc();
    ctx.metrics.duration.observe(seconds);
    if (ctx.access?.enabled()) {
      const i = this.info;
      this.logFields ??= connectionFields(i.clientAddress, i.sni, i.tlsVersion, i.ja4);
      ctx.access.requestOn(this.logFields, this.method, this.target, status, this.bytes, Math.round(seconds * 10000) / 10, this.version, note);
    }
    if (this.phase === Phase.Closed) return;
    // Unread request body bytes would be parsed as the next head: such a connection ends here.
    if (!this.keepAlive || this.bodyLeft > 0 || !this.socket.writable) {
      this.phase = Phase.Closed;
      endWithin(this.socket, this.front.closeLimits);
      return;
    }
    this.phase = Phase.Idle;
    this.since = now;
    if (this.pending) {
      this.phase = Phase.Head;
      this.parseHead();
    }
    if ((this.phase as Phase) !== Phase.Body) this.resume(); // parseHead may have started a request with a body
    if ((this.phase as Phase) === Phase.Idle) this.front.limiter.idle(this.socket, 'keepalive');
  }

  closed(): void {
    this.phase = Phase.Closed;
    this.front.forget(this);
    if (!this.active) return;
    this.exchange?.clientClosed();
    this.finish('client went away');
  }

  /** The front's sweep: headers, request and idle timeouts. */
  check(now: number): void {
    const f = this.front;
    if (this.phase === Phase.Head && now - this.since > f.headersTimeoutMs) this.timeOut();
    else if (this.phase === Phase.Body && f.requestTimeoutMs > 0 && now - this.started > f.requestTimeoutMs) this.timeOut();
    else if (this.phase === Phase.Idle && now - this.since > f.idleTimeoutMs) this.close();
  }

  private timeOut(): void {
    this.front.clientRejected(this.socket, 'ERR_HTTP_REQUEST_TIMEOUT');
    if (this.active) {
      this.exchange?.clientClosed();
      return this.reply(408, '', 'request timeout');
    }
    this.phase = Phase.Closed;
    endWithin(this.socket, this.front.closeLimits, 'HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  }

  /** Draining: a connection between requests closes now; a busy one after its response. */
  closeIfIdle(): void {
    if (this.phase === Phase.Idle || (this.phase === Phase.Head && !this.pending)) this.close();
  }

  private close(): void {
    this.phase = Phase.Closed;
    endWithin(this.socket, this.front.closeLimits);
  }

  private handOff(reason: string): void {
    const s = this.socket as Tagged;
    this.phase = Phase.Closed;
    this.front.forget(this);
    s.pause(); // before the data listener goes: a flowing socket with no listener loses bytes
    s.removeListener('data', onData);
    s.removeListener('close', onClose);
    s[CONN] = undefined;
    if (this.pending) s.unshift(this.pending);
    this.pending = undefined;
    this.front.handOff(s, reason);
  }
}
