// One request/response exchange with the app over a pooled connection: the request head is
// written as one string, the body streamed (re-chunked when its length is unknown), the
// response parsed incrementally and streamed to the client, with backpressure both ways.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import { ParseError, type ResponseHead, ResponseParser } from './response-parser.ts';
import type { Lease, UpstreamPool } from './upstream-pool.ts';

export type BodyFraming = 'none' | 'length' | 'chunked';
export type FailureKind = 'timeout' | 'refused' | 'error';

export interface Exchange {
  pool: UpstreamPool;
  req: IncomingMessage | Http2ServerRequest;
  res: ServerResponse | Http2ServerResponse;
  /** Request line and headers, without the final CRLF. */
  head: string;
  body: BodyFraming;
  timeoutMs: number;
  /** How long a client may hold the response back (not reading) before both sides are closed. */
  stallTimeoutMs: number;
  onHead(head: ResponseHead): void;
  onBytes(n: number): void;
  onDone(): void;
  /** Before the response head: answer 502/504. After it: the client response is destroyed. */
  onError(kind: FailureKind, err: Error & { code?: string }, afterHead: boolean): void;
}

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

export function forward(x: Exchange): void {
  x.pool.acquire((lease) => attempt(x, lease));
}

function attempt(x: Exchange, lease: Lease | Error): void {
  const { req, res, pool } = x;
  if (lease instanceof Error) return x.onError('error', lease, false);
  const s: Socket = lease.socket;
  const out = res as ServerResponse; // write/once/writeContinue: same shape for the h2 compat response
  let responded = false;
  let requestSent = x.body === 'none';
  let gotBytes = false;
  let finished = false;
  let stalled = false;

  const cleanup = () => {
    finished = true;
    s.removeListener('data', onData);
    s.removeListener('end', onEof);
    s.removeListener('close', onEof);
    s.removeListener('error', onError);
    s.removeListener('timeout', onTimeout);
    s.removeListener('drain', resumeReq);
    out.removeListener('close', onClientClose);
    out.removeListener('drain', resumeSocket);
    // Paused by backpressure on the last chunk: an idle pooled socket must flow, or it never sees the app's FIN.
    s.resume();
    s.setTimeout(0);
  };
  const fail = (kind: FailureKind, err: Error & { code?: string }) => {
    if (finished) return;
    cleanup();
    pool.discard(s);
    // The app may close a kept-alive connection just as we reuse it: retry a bodiless request once, fresh.
    if (lease.reused && !gotBytes && x.body === 'none' && kind === 'error') return pool.acquire((l) => attempt(x, l), true);
    x.onError(kind, err, responded);
  };
  // While the client holds us back, the app is not the slow one: no 504 for a stalled reader.
  const resumeSocket = () => {
    stalled = false;
    s.setTimeout(x.timeoutMs);
    s.resume();
  };
  const parser = new ResponseParser({
    head(h) {
      responded = true;
      x.onHead(h);
    },
    data(chunk) {
      x.onBytes(chunk.length);
      if (!out.write(chunk)) {
        s.pause();
        stalled = true;
        s.setTimeout(x.stallTimeoutMs); // slow-read clients must not hold app connections forever
        out.once('drain', resumeSocket);
      }
    },
    end(reusable, last) {
      cleanup();
      if (reusable && requestSent) pool.release(s);
      else pool.discard(s);
      if (last) {
        x.onBytes(last.length);
        out.end(last);
      } else out.end();
      x.onDone();
    },
    continue() {
      out.writeContinue();
    },
  }, req.method === 'HEAD');

  const onData = (buf: Buffer) => {
    gotBytes = true;
    try {
      parser.push(buf);
    } catch (e) {
      fail('error', e instanceof ParseError ? e : new ParseError(String(e)));
    }
  };
  const onEof = () => {
    if (finished) return;
    if (!parser.eof()) fail('error', Object.assign(new Error('app closed the connection mid-response'), { code: 'ECONNRESET' }));
  };
  const onError = (err: Error & { code?: string }) => fail(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'refused' : 'error', err);
  const onTimeout = () =>
    stalled
      ? fail('error', Object.assign(new Error('client stopped reading the response'), { code: 'ERR_TLS_TERMINATOR_CLIENT_STALLED' }))
      : fail('timeout', Object.assign(new Error('app did not answer in time'), { code: 'ETIMEDOUT' }));
  const onClientClose = () => {
    if (finished) return;
    // The client went away mid-exchange: the connection is mid-message and cannot be reused.
    cleanup();
    pool.discard(s);
  };
  const resumeReq = () => req.resume();

  s.on('data', onData);
  s.once('end', onEof);
  s.once('close', onEof);
  s.on('error', onError);
  s.setTimeout(x.timeoutMs);
  s.once('timeout', onTimeout);
  out.once('close', onClientClose);

  // latin1: Node hands us header bytes as latin1 strings, so this writes back exactly the client's
  // bytes (utf8 would re-encode anything above 0x7f), and it is the cheapest encoding.
  if (x.body === 'chunked') s.write(`${x.head}transfer-encoding: chunked\r\n\r\n`, 'latin1');
  else s.write(`${x.head}\r\n`, 'latin1');
  if (x.body === 'none') return void req.resume();
  req.on('data', (chunk: Buffer) => {
    if (finished) return;
    let ok: boolean;
    if (x.body === 'chunked') {
      s.cork();
      s.write(chunk.length.toString(16) + CRLF);
      s.write(chunk);
      ok = s.write(CRLF);
      s.uncork();
    } else ok = s.write(chunk);
    if (!ok) {
      req.pause();
      s.once('drain', resumeReq);
    }
  });
  req.once('end', () => {
    if (finished) return;
    if (x.body === 'chunked') s.write(LAST_CHUNK);
    requestSent = true;
  });
}
