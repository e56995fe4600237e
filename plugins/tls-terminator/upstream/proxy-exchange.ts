// One request/response exchange with the app over a pooled connection: the request head is
// written as one string, the body streamed (re-chunked when its length is unknown), the
// response parsed incrementally and streamed to the client, with backpressure both ways.
// Hot-path shape: a pooled socket gets its listeners and its inactivity timeout once, for its
// whole life, and they dispatch to the exchange it currently serves; an exchange is one object
// (plus its parser) rather than a dozen closures, and adds/removes no listener on the socket.
// At a steady 1,000 req/s the per-request listener and timer churn this replaced was a
// measurable share of the proxy's CPU (Node re-creates a socket's timer on every setTimeout).
// App bytes arrive through the pool's shared read buffer (onUpstreamRead): the parser hands out
// views of it, so whatever a client response may keep past the call (Node's responses buffer
// chunks, a busy TLS socket queues them) gets a copy; the fast path's small answer is turned
// into a string at once and takes none.
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Socket } from 'node:net';
import type { Stage } from '../internal-errors.ts';
import { ParseError, type ParserEvents, type ResponseHead, ResponseParser } from './response-parser.ts';
import type { Lease, UpstreamPool, Waiter } from './upstream-pool.ts';
import { sidekickError } from '../../../src/plugin-api.ts';

/**
 * How the request goes to the app, decided from what Sidekick parsed (never from the client's
 * header lines): 'none' (no framing field, no body), 'length' (`content-length: N`, the
 * parsed length, 0 included) or 'chunked' (an unknown length re-chunked).
 */
export type BodyFraming = 'none' | 'length' | 'chunked';
/** overloaded: no slot at the app within the queue's limits (503), never the app's fault. */
export type FailureKind = 'timeout' | 'refused' | 'error' | 'overloaded';

/** What the exchange needs of the client's request: Node's messages, or the fast path's connection. */
export interface ClientRequestSide {
  readonly method?: string;
  pause(): unknown;
  resume(): unknown;
}

/** What the exchange needs of the client's response (ServerResponse, the h2 compat response, or the fast path). */
export interface ClientResponseSide {
  write(chunk: Buffer): boolean;
  end(): unknown;
  end(last: Buffer): unknown;
  writeContinue(): void;
  once(event: 'drain', fn: () => void): unknown;
  removeListener(event: 'drain', fn: () => void): unknown;
}

/** The client side of an exchange (http-front's request, or a fast-path connection). */
export interface ExchangeSink {
  readonly req: ClientRequestSide;
  readonly res: ClientResponseSide;
  /** res.end(last) is done with `last` when it returns (so it needs no copy of the shared read buffer). */
  readonly endConsumesLast?: boolean;
  /** Set when the sink feeds the request body itself (bodyChunk/bodyEnd) instead of a Node request stream. */
  pumpBody?(x: Exchange): void;
  onHead(head: ResponseHead): void;
  onBytes(n: number): void;
  onDone(): void;
  /** Before the response head: answer 502/504. After it: the client response is destroyed. */
  onError(kind: FailureKind, err: Error & { code?: string }, afterHead: boolean): void;
  /** An exception at an event boundary (a bug): count it, then 500 or destroy the client connection. */
  internalError(stage: Stage, err: unknown): void;
}

export interface ExchangeLimits {
  /** The app connection may stay silent this long. */
  timeoutMs: number;
  /** How long a client may hold the response back (not reading) before both sides are closed. */
  stallTimeoutMs: number;
  /** Told how each request fared at the app (the circuit breaker). */
  outcomes?: Outcomes;
}

/** Each exchange reports exactly one of these; `probe` marks the one request a half-open breaker let through. */
export interface Outcomes {
  response(status: number, probe: boolean): void;
  noResponse(kind: 'connect' | 'timeout', probe: boolean): void;
  /** Ended with nothing learnt about the app (the client left, the queue was full). */
  abandoned(probe: boolean): void;
}

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';
const RUN = Symbol('sidekick.tls-terminator.exchange');
type PooledSocket = Socket & { [RUN]?: Exchange | null };

// RFC 9110 9.2.2. nginx's proxy_next_upstream likewise never retries POST, LOCK or PATCH.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

// Every listener below is an event boundary: what it throws costs this exchange, not the process.
function crashed(s: PooledSocket, err: unknown): void {
  const run = s[RUN];
  if (run) run.crashed(err);
  else s.destroy();
}

/** The pool's read callback (UpstreamPool's onRead); `this` is the socket. */
export function onUpstreamRead(this: PooledSocket, n: number, buf: Buffer): boolean {
  try {
    const run = this[RUN];
    if (run) run.received(buf.subarray(0, n));
    else this.destroy(); // bytes nobody asked for on an idle connection: unusable
  } catch (e) {
    crashed(this, e);
  }
  return true; // backpressure pauses the socket explicitly (Exchange.data)
}

// Installed once per app connection; `this` is the socket.
function onSocketEof(this: PooledSocket): void {
  try {
    this[RUN]?.eof();
  } catch (e) {
    crashed(this, e);
  }
}
function onSocketError(this: PooledSocket, err: Error & { code?: string }): void {
  try {
    this[RUN]?.fail(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'refused' : 'error', err);
  } catch (e) {
    crashed(this, e);
  }
}
function onSocketTimeout(this: PooledSocket): void {
  try {
    const run = this[RUN];
    if (run) run.timedOut();
    else this.destroy(); // idle in the pool for timeouts.upstream: let it go
  } catch (e) {
    crashed(this, e);
  }
}
function onSocketDrain(this: PooledSocket): void {
  try {
    this[RUN]?.req.resume();
  } catch (e) {
    crashed(this, e);
  }
}

function adopt(s: PooledSocket, timeoutMs: number): void {
  if (s[RUN] !== undefined) return;
  s[RUN] = null;
  s.on('end', onSocketEof);
  s.on('close', onSocketEof);
  s.on('error', onSocketError);
  s.on('timeout', onSocketTimeout);
  s.on('drain', onSocketDrain);
  s.setTimeout(timeoutMs);
}

/** Starts the exchange; the returned handle is told when the client goes away. */
export function forward(pool: UpstreamPool, sink: ExchangeSink, head: string, body: BodyFraming, limits: ExchangeLimits, length = 0, probe = false): Exchange {
  const x = new Exchange(pool, sink, head, body, limits, length, probe);
  pool.acquire(x);
  return x;
}

export class Exchange implements Waiter, ParserEvents {
  readonly req: ClientRequestSide;
  private readonly out: ClientResponseSide;
  private readonly pool: UpstreamPool;
  private readonly sink: ExchangeSink;
  private readonly headText: string;
  private readonly body: BodyFraming;
  private readonly length: number;
  /** Body bytes follow the head (a retry could not replay them). */
  private readonly hasBody: boolean;
  private readonly limits: ExchangeLimits;
  private socket?: PooledSocket;
  private reused = false;
  private parser?: ResponseParser;
  private responded = false;
  private requestSent: boolean;
  private gotBytes = false;
  private finished = false;
  private stalled = false;
  private resumeAfterStall?: () => void;
  private readonly probe: boolean;
  private reported = false;

  constructor(pool: UpstreamPool, sink: ExchangeSink, head: string, body: BodyFraming, limits: ExchangeLimits, length: number, probe: boolean) {
    this.probe = probe;
    this.pool = pool;
    this.sink = sink;
    this.req = sink.req;
    this.out = sink.res;
    this.headText = head;
    this.body = body;
    this.length = length;
    this.hasBody = body === 'chunked' || (body === 'length' && length > 0);
    this.limits = limits;
    this.requestSent = !this.hasBody;
  }

  /** The pool's answer: a connection (fresh or kept alive) or why there is none. */
  leased(lease: Lease | Error): void {
    // A boundary too: the pool may call this from an app socket's 'close' (a freed slot).
    try {
      this.start(lease);
    } catch (e) {
      this.crashed(e);
    }
  }

  private start(lease: Lease | Error): void {
    if (lease instanceof Error) {
      this.finished = true;
      this.abandon();
      return this.sink.onError((lease as { code?: string }).code === 'ERR_SIDEKICK_TLS_OVERLOADED' ? 'overloaded' : 'error', lease, false);
    }
    const s = lease.socket as PooledSocket;
    if (this.finished) return this.pool.release(s); // the client left while we queued: unused
    this.socket = s;
    this.reused = lease.reused;
    this.gotBytes = false;
    this.parser = new ResponseParser(this, this.req.method === 'HEAD');
    adopt(s, this.limits.timeoutMs);
    s[RUN] = this;
    // latin1: Node hands us header bytes as latin1 strings, so this writes back exactly the
    // client's bytes (utf8 would re-encode anything above 0x7f), and it is the cheapest encoding.
    // The framing field is always ours (the header list never carries the client's).
    if (this.body === 'chunked') s.write(`${this.headText}transfer-encoding: chunked\r\n\r\n`, 'latin1');
    else if (this.body === 'length') s.write(`${this.headText}content-length: ${this.length}\r\n\r\n`, 'latin1');
    else s.write(`${this.headText}\r\n`, 'latin1');
    if (!this.hasBody) return void this.req.resume();
    if (this.sink.pumpBody) this.sink.pumpBody(this);
    else this.streamBody();
  }

  // ParserEvents
  head(h: ResponseHead): void {
    this.responded = true;
    if (this.limits.outcomes && !this.reported) {
      this.reported = true;
      this.limits.outcomes.response(h.status, this.probe);
    }
    this.sink.onHead(h);
  }

  data(view: Buffer): void {
    this.sink.onBytes(view.length);
    if (!this.out.write(Buffer.from(view))) {
      const s = this.socket!;
      s.pause();
      this.stalled = true;
      s.setTimeout(this.limits.stallTimeoutMs); // slow-read clients must not hold app connections forever
      this.resumeAfterStall ??= () => {
        this.stalled = false;
        if (this.finished) return;
        s.setTimeout(this.limits.timeoutMs);
        s.resume();
      };
      this.out.once('drain', this.resumeAfterStall);
    }
  }

  end(reusable: boolean, last?: Buffer): void {
    const s = this.socket!;
    this.detach();
    if (reusable && this.requestSent) this.pool.release(s);
    else this.pool.discard(s);
    if (last) {
      this.sink.onBytes(last.length);
      this.out.end(this.sink.endConsumesLast ? last : Buffer.from(last));
    } else this.out.end();
    this.sink.onDone();
  }

  continue(): void {
    this.out.writeContinue();
  }

  /** Socket events, dispatched by the listeners adopt() installed. */
  received(buf: Buffer): void {
    if (this.finished) return;
    this.gotBytes = true;
    try {
      this.parser!.push(buf);
    } catch (e) {
      this.fail('error', e instanceof ParseError ? e : new ParseError(String(e)));
    }
  }

  eof(): void {
    if (this.finished) return;
    if (!this.parser!.eof()) this.fail('error', Object.assign(new Error('app closed the connection mid-response'), { code: 'ECONNRESET' }));
  }

  timedOut(): void {
    if (this.stalled) this.fail('error', sidekickError('ERR_SIDEKICK_TLS_CLIENT_STALLED', 'client stopped reading the response'));
    else this.fail('timeout', Object.assign(new Error('app did not answer in time'), { code: 'ETIMEDOUT' }));
  }

  fail(kind: FailureKind, err: Error & { code?: string }): void {
    if (this.finished) return;
    const s = this.socket!;
    this.detach();
    this.pool.discard(s);
    // The app may close a kept-alive connection just as we reuse it: retry once, on a fresh one,
    // only what may run twice (RFC 9110 9.2.2 idempotent, no body to replay) and only if the app
    // sent no byte of an answer. Anything else (a POST the app read, then closed on) gets a 502.
    if (this.reused && !this.gotBytes && !this.hasBody && kind === 'error' && IDEMPOTENT.has(this.req.method ?? '')) {
      this.finished = false;
      this.reused = false;
      return this.pool.acquire(this, true);
    }
    if (this.limits.outcomes && !this.reported) {
      this.reported = true;
      // A client that stopped reading says nothing about the app.
      if (err.code === 'ERR_SIDEKICK_TLS_CLIENT_STALLED') this.limits.outcomes.abandoned(this.probe);
      else this.limits.outcomes.noResponse(kind === 'timeout' ? 'timeout' : 'connect', this.probe);
    }
    this.sink.onError(kind, err, this.responded);
  }

  /** An exception at one of our boundaries: the app connection is dropped, the client told. */
  crashed(err: unknown): void {
    this.abandon();
    const s = this.socket;
    try {
      this.detach();
    } catch {
      this.finished = true;
    }
    s?.destroy();
    try {
      if (s) this.pool.discard(s);
    } catch {
      // the pool's bookkeeping of a destroyed socket: nothing more to free
    }
    this.sink.internalError('upstream', err);
  }

  /** The client went away mid-exchange: the connection is mid-message and cannot be reused. */
  clientClosed(): void {
    if (this.finished) return;
    this.abandon();
    const s = this.socket;
    this.detach();
    if (s) this.pool.discard(s);
    else this.pool.cancel(this); // still queued: its place goes to the next request
  }

  private abandon(): void {
    if (this.reported || !this.limits.outcomes) return;
    this.reported = true;
    this.limits.outcomes.abandoned(this.probe);
  }

  private detach(): void {
    this.finished = true;
    const s = this.socket;
    if (!s) return;
    s[RUN] = null;
    if (this.resumeAfterStall) {
      this.out.removeListener('drain', this.resumeAfterStall);
      s.setTimeout(this.limits.timeoutMs);
    }
    // Paused by backpressure on the last chunk: an idle pooled socket must flow, or it never sees the app's FIN.
    s.resume();
  }

  /** One piece of the request body; false: the app connection is full, pause the client until its drain. */
  bodyChunk(chunk: Buffer): boolean {
    if (this.finished) return true;
    const s = this.socket!;
    if (this.body !== 'chunked') return s.write(chunk);
    s.cork();
    s.write(chunk.length.toString(16) + CRLF);
    s.write(chunk);
    const ok = s.write(CRLF);
    s.uncork();
    return ok;
  }

  bodyEnd(): void {
    if (this.finished) return;
    if (this.body === 'chunked') this.socket!.write(LAST_CHUNK);
    this.requestSent = true;
  }

  private streamBody(): void {
    const req = this.req as IncomingMessage | Http2ServerRequest;
    req.on('data', (chunk: Buffer) => {
      try {
        if (!this.bodyChunk(chunk)) req.pause(); // the socket's drain listener resumes it
      } catch (e) {
        this.crashed(e);
      }
    });
    req.once('end', () => {
      try {
        this.bodyEnd();
      } catch (e) {
        this.crashed(e);
      }
    });
  }
}
