// The client side of one proxied request: status, byte count, metrics and the access-log line.
// One object per request whose methods the exchange calls, instead of a closure per callback;
// the response's 'close' listener is a shared function that finds the object on the response.
import { isTlsFailure } from '../upstream/tls-failure.ts';
import type { ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { AccessLog } from '../access-log.ts';
import type { ConnectionInfo } from '../connection-info.ts';
import type { InternalErrors, Stage } from '../internal-errors.ts';
import { responseHeadersH2 } from './forwarding-headers.ts';
import type { Exchange, ExchangeSink, FailureKind } from '../upstream/proxy-exchange.ts';
import type { ResponseHead } from '../upstream/response-parser.ts';
import { type TerminatorMetrics, statusClass } from '../metrics.ts';
import type { Refusal } from '../protect/protection.ts';

/** What every request of one front shares. */
export interface FrontContext {
  readonly metrics: TerminatorMetrics;
  readonly access?: AccessLog;
  readonly log: Logger;
  readonly upstreamLabel: string;
  readonly upstreamTimeoutMs: number;
  readonly extraResponseHeaders?: string[];
  readonly errors: InternalErrors;
  requestDone(): void;
  /** No slot at the app within concurrency's queue limits: the 503 to send. */
  overloaded(err: Error & { reason?: string }): Refusal;
}

/**
 * An app failure before any of its response reached the client (both HTTP/1.1 paths and
 * HTTP/2): the metric, the warn line, and the short answer the client gets.
 */
export function upstreamFailure(front: FrontContext, kind: FailureKind, err: Error & { code?: string }, method: string, path: string): { code: number; body: string; note: string } {
  if (!isTlsFailure(err)) front.metrics.upstreamErrors.labels({ reason: kind }).inc();
  if (kind === 'timeout') {
    front.log.warn({ method, path, upstream: front.upstreamLabel, timeoutMs: front.upstreamTimeoutMs }, 'app too slow: 504');
    return { code: 504, body: 'upstream timed out\n', note: 'upstream timeout' };
  }
  if (isTlsFailure(err)) {
    front.metrics.upstreamErrors.labels({ reason: 'tls' }).inc();
    front.log.error({ method, path, upstream: front.upstreamLabel, err: err.code, detail: err.message }, "TLS to the app failed (certificate not verified or handshake refused): 502");
    return { code: 502, body: 'upstream unavailable\n', note: `upstream ${err.code}` };
  }
  front.log.warn({ method, path, upstream: front.upstreamLabel, err: err.code ?? err.message }, 'app unreachable: 502');
  return { code: 502, body: 'upstream unavailable\n', note: `upstream ${err.code ?? 'error'}` };
}

const REQUEST = Symbol('sidekick.tls-terminator.request');
type Tagged = { [REQUEST]?: ProxiedRequest };
// HTTP/1.1 responses of a connection begun and not finished (pipelining queues several).
const OPEN = Symbol('sidekick.tls-terminator.open-requests');
type Counted = { [OPEN]?: number };

/** Whether an answer of our own written straight to this HTTP/1.1 socket would land inside a response. */
export const responding = (socket: object): boolean => ((socket as Counted)[OPEN] ?? 0) > 0;

/** The request a handler made for this response, if it got that far (for its catch). */
export const proxiedRequestOf = (res: object): ProxiedRequest | undefined => (res as Tagged)[REQUEST];

// Event boundaries: an exception here costs this request, not the process.
function onResponseClose(this: Tagged): void {
  const p = this[REQUEST];
  try {
    p?.closed();
  } catch (e) {
    p?.internalError('request_events', e);
  }
}
function onRequestEnd(this: Tagged): void {
  const p = this[REQUEST];
  try {
    p?.bodyReceived();
  } catch (e) {
    p?.internalError('request_events', e);
  }
}
function onRequestTimeout(p: ProxiedRequest): void {
  try {
    p.requestTimedOut();
  } catch (e) {
    p.internalError('request_events', e);
  }
}

export class ProxiedRequest implements ExchangeSink {
  readonly req: IncomingMessage | Http2ServerRequest;
  readonly res: ServerResponse | Http2ServerResponse;
  exchange?: Exchange;
  private readonly front: FrontContext;
  private readonly info: ConnectionInfo;
  private readonly h2: boolean;
  private readonly started = performance.now();
  private status = 0;
  private bytes = 0;
  private logged = false;
  private requestTimer?: NodeJS.Timeout;
  private conn?: Counted;

  constructor(front: FrontContext, req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, info: ConnectionInfo, h2: boolean) {
    this.front = front;
    this.req = req;
    this.res = res;
    this.info = info;
    this.h2 = h2;
    (res as Tagged)[REQUEST] = this;
    res.once('close', onResponseClose);
  }

  /**
   * HTTP/2 only (Node's HTTP/1.1 server enforces timeouts.request itself, the fast path its
   * sweep): the whole request body must arrive within `ms`, or the stream gets a 408. The
   * session's idle timeout cannot do this: other streams keep a session busy.
   */
  limitRequestTime(ms: number): void {
    (this.req as Tagged)[REQUEST] = this;
    this.req.once('end', onRequestEnd);
    this.requestTimer = setTimeout(onRequestTimeout, ms, this);
  }

  bodyReceived(): void {
    clearTimeout(this.requestTimer);
  }

  requestTimedOut(): void {
    const { front } = this;
    front.metrics.rejected.labels({ reason: 'timeout' }).inc();
    front.log.info({ err: 'ERR_HTTP_REQUEST_TIMEOUT', client: this.info.clientAddress, path: this.req.url }, 'bad or slow client request rejected');
    this.exchange?.clientClosed();
    this.reply(408, 'request timed out\n', 'request timeout');
    // RFC 9113 8.1: after a complete response to an incomplete request, RST_STREAM(NO_ERROR)
    // tells the client to stop sending and frees the stream slot (Node sends it after the 408's last frame).
    const stream = (this.req as Http2ServerRequest).stream;
    if (!stream.destroyed) stream.close(0);
  }

  onHead(h: ResponseHead): void {
    this.status = h.status;
    this.responding();
    const extra = this.front.extraResponseHeaders;
    if (this.h2) (this.res as Http2ServerResponse).writeHead(h.status, responseHeadersH2(h.headers, extra));
    else (this.res as ServerResponse).writeHead(h.status, h.reason || undefined, extra ? h.headers.concat(extra) : h.headers);
  }

  onBytes(n: number): void {
    this.bytes += n;
  }

  onDone(): void {
    this.finish();
  }

  onError(kind: FailureKind, err: Error & { code?: string }, afterHead: boolean): void {
    const { front, req } = this;
    if (afterHead) {
      this.res.destroy();
      return this.finish(`${err.code ?? 'error'} mid-response`);
    }
    if (kind === 'overloaded') return this.refuse(front.overloaded(err));
    const answer = upstreamFailure(front, kind, err, req.method ?? '', req.url ?? '');
    this.reply(answer.code, answer.body, answer.note);
  }

  /** An exception at one of our boundaries: 500 if no response byte went out yet, else the response is cut. */
  internalError(stage: Stage, err: unknown): void {
    this.front.errors.report(stage, err, this.info);
    try {
      this.exchange?.clientClosed();
      this.reply(500, 'internal error\n', 'internal error');
    } catch {
      try {
        this.res.destroy();
        this.finish('internal error');
      } catch {
        // the stream is gone already
      }
    }
  }

  /** 429 or 503 from protection, with Retry-After; the connection stays open for the next request. */
  refuse(r: Refusal): void {
    const { res } = this;
    this.status = r.status;
    this.responding();
    if (!res.headersSent) {
      (res as ServerResponse).writeHead(r.status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': r.body.length, 'retry-after': String(r.retryAfter) });
      res.end(r.body);
    } else res.destroy();
    this.bytes = r.body.length;
    this.finish(r.rule ? `${r.reason} ${r.rule}` : r.reason);
  }

  /** A short answer of our own (400, 403, 500, 502, 504, 505). */
  reply(code: number, body: string, reason: string): void {
    const { res } = this;
    this.status = code;
    this.responding();
    if (!res.headersSent) {
      (res as ServerResponse).writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...(this.h2 ? {} : { connection: 'close' }) });
      res.end(body);
    } else {
      res.destroy();
    }
    this.bytes = Buffer.byteLength(body);
    this.finish(reason);
  }

  closed(): void {
    if (this.res.writableFinished) return;
    this.exchange?.clientClosed();
    this.finish('client went away');
  }

  private responding(): void {
    if (this.h2 || this.conn) return;
    this.conn = this.req.socket as Counted;
    this.conn[OPEN] = (this.conn[OPEN] ?? 0) + 1;
  }

  private finish(note?: string): void {
    if (this.logged) return;
    this.logged = true;
    clearTimeout(this.requestTimer);
    const { front, info, req } = this;
    if (this.conn) this.conn[OPEN]!--;
    front.requestDone();
    const status = this.status || 499;
    const seconds = (performance.now() - this.started) / 1000;
    front.metrics.requestsByClass[statusClass(status)]!.inc();
    front.metrics.duration.observe(seconds);
    if (front.access?.enabled()) {
      front.access.request(req.method ?? '', req.url ?? '', status, this.bytes, Math.round(seconds * 10000) / 10,
        info.clientAddress, info.sni, info.tlsVersion, info.ja4, req.httpVersion, note);
    }
  }
}
