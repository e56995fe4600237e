// The two ends of a corpus case: a raw-TCP app that records every byte each connection brings and
// answers each request with the case's scripted bytes, and a raw TLS client (ALPN http/1.1, or
// node:http2 for the h2 cases). Shared by the vitest runner and the nginx comparison script.
import http2 from 'node:http2';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type Message, readRequest, readResponse } from './strict-reader.ts';

/** The answer when a case scripts none; X-Req names the request it answers (its `seq`). */
export const defaultResponse = (seq: number) => `HTTP/1.1 200 OK\r\nX-Req: ${seq}\r\nContent-Length: 2\r\n\r\nok`;
/** Requests to this target are always answered with defaultResponse (the runner's probes). */
export const PROBE_TARGET = '/probe';

export interface AppScript {
  /** Bytes answering the case's requests in order (the last one repeats); default defaultResponse. */
  responses?: string[];
  /** End the app connection after each scripted response. */
  closeAfter?: boolean;
  /**
   * The first request for this target that arrives on an app connection which already served a
   * request is read whole, then the connection is closed without an answer (after `partial`, if set).
   */
  drop?: { target: string; partial?: string };
}

export interface AppRequest {
  /** 1-based number of the request among all the app received. */
  seq: number;
  conn: number;
  /** Requests this app connection had served before this one. */
  before: number;
  caseId: string | undefined;
  message: Message;
}

export interface AppConnRecord {
  id: number;
  bytes: string;
  error?: string;
  caseOfError?: string;
  closed: boolean;
  /** Resolves when the connection has closed. */
  gone: Promise<void>;
  socket: Socket;
}

export class RawApp {
  server: Server;
  port = 0;
  conns: AppConnRecord[] = [];
  requests: AppRequest[] = [];
  caseId: string | undefined;
  private script: AppScript = {};
  private answered = 0;
  private dropped = false;

  constructor() {
    this.server = createServer((s) => this.accept(s));
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Starts a case: requests from now on belong to it and get its script. */
  begin(caseId: string | undefined, script: AppScript = {}): void {
    this.caseId = caseId;
    this.script = script;
    this.answered = 0;
    this.dropped = false;
  }

  /** Waits up to `ms` for these connections to close; resolves with the ids still open. */
  async waitClosed(ids: number[], ms: number): Promise<number[]> {
    const recs = this.conns.filter((c) => ids.includes(c.id));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(recs.map((c) => c.gone)), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    return recs.filter((c) => !c.closed).map((c) => c.id);
  }

  /** Closes every app connection (the front's pool is then empty of anything out of step). */
  dropConnections(): void {
    for (const c of this.conns) c.socket.destroy();
  }

  close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }

  private accept(socket: Socket): void {
    let gone!: () => void;
    const rec: AppConnRecord = { id: this.conns.length + 1, bytes: '', closed: false, gone: new Promise<void>((r) => (gone = r)), socket };
    this.conns.push(rec);
    let pos = 0;
    let served = 0;
    socket.on('error', () => {});
    socket.on('close', () => ((rec.closed = true), gone()));
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      rec.bytes += chunk;
      if (rec.error) return;
      for (;;) {
        const r = readRequest(rec.bytes, pos);
        if (r.kind === 'incomplete') return;
        if (r.kind === 'error') {
          rec.error = r.error;
          rec.caseOfError = this.caseId;
          socket.destroy();
          return;
        }
        pos += r.used;
        const seq = this.requests.length + 1;
        this.requests.push({ seq, conn: rec.id, before: served, caseId: this.caseId, message: r.message });
        const target = r.message.start[1];
        const drop = this.script.drop;
        if (target !== PROBE_TARGET && drop && !this.dropped && target === drop.target && served > 0) {
          this.dropped = true;
          socket.end(drop.partial ?? '');
          return;
        }
        served++;
        if (target === PROBE_TARGET || this.caseId === undefined) {
          socket.write(defaultResponse(seq));
          continue;
        }
        const list = this.script.responses;
        socket.write(list ? Buffer.from(list[Math.min(this.answered++, list.length - 1)]!, 'latin1') : defaultResponse(seq));
        if (this.script.closeAfter) return void socket.end();
      }
    });
  }
}

export interface ClientResponse {
  status: number;
  headers: Array<[string, string]>;
  body: string;
  interim: number[];
}

export interface ClientResult {
  responses: ClientResponse[];
  /** The connection closed (or the h2 stream was reset) before `want` responses were read. */
  closed: boolean;
  /** The client's strict reader refused what came back. */
  malformed?: string;
  /** Bytes left over after the last response read. */
  rest: string;
  timedOut: boolean;
}

/**
 * Sends `steps` over one TLS connection (ALPN http/1.1): step k+1 once k responses are read.
 * Resolves after `want` final responses, or when the server closes, or after `timeoutMs`.
 */
export function rawExchange(
  port: number,
  steps: string[],
  opts: { want: number; head?: boolean; endAfterSend?: boolean; timeoutMs: number },
): Promise<ClientResult> {
  return new Promise((resolve) => {
    const result: ClientResult = { responses: [], closed: false, rest: '', timedOut: false };
    let buf = '';
    let pos = 0;
    let interim: number[] = [];
    let sent = 0;
    let done = false;
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], servername: 'localhost' });
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      result.rest = buf.slice(pos);
      s.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => ((result.timedOut = true), finish()), opts.timeoutMs);
    const sendNext = () => {
      if (sent >= steps.length) return;
      s.write(Buffer.from(steps[sent++]!, 'latin1'));
      if (sent === steps.length && opts.endAfterSend) s.end();
    };
    const parse = (eof: boolean) => {
      while (!result.malformed && result.responses.length < opts.want) {
        const r = readResponse(buf, pos, opts.head ?? false, eof);
        if (r.kind === 'incomplete') return;
        if (r.kind === 'error') {
          // A response cut short by a close is the client's 'closed', not a malformed message.
          if (!(eof && r.error.startsWith('ended inside'))) result.malformed = r.error;
          return;
        }
        pos += r.used;
        const status = Number(r.message.start[1]);
        if (status < 200) {
          interim.push(status);
          continue;
        }
        result.responses.push({ status, headers: r.message.headers, body: r.message.body, interim });
        interim = [];
        if (result.responses.length === sent) sendNext();
      }
    };
    s.on('secureConnect', sendNext);
    s.setEncoding('latin1').on('data', (c: string) => {
      buf += c;
      parse(false);
      if (result.malformed || result.responses.length >= opts.want) finish();
    });
    s.on('end', () => {
      parse(true);
      result.closed = result.responses.length < opts.want;
      finish();
    });
    s.on('close', () => {
      result.closed = result.responses.length < opts.want;
      finish();
    });
    s.on('error', () => {});
  });
}

export interface H2Request {
  headers: Record<string, string>;
  body?: string;
}

/** One HTTP/2 request on a new session; a reset stream or a refused request counts as closed. */
export function h2Exchange(port: number, req: H2Request, timeoutMs: number): Promise<ClientResult> {
  return new Promise((resolve) => {
    const result: ClientResult = { responses: [], closed: false, rest: '', timedOut: false };
    let done = false;
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: 'localhost' });
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => ((result.timedOut = true), finish()), timeoutMs);
    session.on('error', () => ((result.closed = true), finish()));
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({ ':method': 'GET', ':path': '/h2', ...req.headers }, { endStream: req.body === undefined });
    } catch (err) {
      result.malformed = `the client could not send it: ${(err as Error).message}`;
      return finish();
    }
    let status = 0;
    let headers: Array<[string, string]> = [];
    let body = '';
    stream.on('response', (h) => {
      status = Number(h[':status']);
      headers = Object.entries(h).filter(([k]) => !k.startsWith(':')).map(([k, v]) => [k, String(v)]);
    });
    stream.setEncoding('latin1').on('data', (c: string) => (body += c));
    stream.on('end', () => {
      if (status) result.responses.push({ status, headers, body, interim: [] });
    });
    stream.on('error', () => {});
    stream.on('close', () => {
      if (status && result.responses.length === 0 && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR) {
        result.responses.push({ status, headers, body, interim: [] });
      }
      if (result.responses.length === 0) result.closed = true;
      finish();
    });
    if (req.body !== undefined) stream.end(Buffer.from(req.body, 'latin1'));
  });
}
