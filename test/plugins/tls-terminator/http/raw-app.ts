// A raw-TCP "app" for request-side tests: it records every byte each connection receives, so a
// test sees exactly what reached the app, and it splits those bytes into HTTP/1.1 requests the
// way an app would (Content-Length, else chunked, else no body), answering each with 200.
// `onRequest` may change the answer: 'close' drops the connection without answering, 'partial'
// sends the start of a response and then drops it.
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface SeenRequest {
  /** The request line. */
  line: string;
  /** Header lines as received, [name, value] with the name lower-cased. */
  headers: Array<[string, string]>;
  body: string;
  /** Which app connection (1-based) carried it. */
  conn: number;
}

export interface RawApp {
  port: number;
  /** Every byte received, per connection, latin1. */
  bytes: string[];
  requests: SeenRequest[];
  onRequest?: (r: SeenRequest, indexOnConnection: number) => 'answer' | 'close' | 'partial';
  close(): Promise<void>;
}

export const header = (r: SeenRequest, name: string): string[] => r.headers.filter(([n]) => n === name).map(([, v]) => v);

export async function startRawApp(): Promise<RawApp> {
  const sockets = new Set<Socket>();
  const app: RawApp = { port: 0, bytes: [], requests: [], close: async () => {} };
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    const conn = app.bytes.push('');
    let pending = '';
    let onThis = 0;
    s.setEncoding('latin1').on('data', (chunk: string) => {
      app.bytes[conn - 1] += chunk;
      pending += chunk;
      for (;;) {
        const r = takeRequest(pending);
        if (!r) return;
        pending = r.rest;
        const req = { ...r.req, conn };
        app.requests.push(req);
        const how = app.onRequest?.(req, onThis++) ?? 'answer';
        if (how === 'close') return void s.destroy();
        if (how === 'partial') return void s.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab');
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  app.port = (server.address() as AddressInfo).port;
  app.close = () => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  });
  return app;
}

function takeRequest(buf: string): { req: Omit<SeenRequest, 'conn'>; rest: string } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = buf.slice(0, end).split('\r\n');
  const headers = lines.slice(1).map((l): [string, string] => {
    const c = l.indexOf(':');
    return [l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()];
  });
  let at = end + 4;
  const cl = headers.find(([n]) => n === 'content-length');
  const te = headers.find(([n]) => n === 'transfer-encoding');
  let body = '';
  if (cl) {
    const n = Number(cl[1]);
    if (buf.length < at + n) return undefined;
    body = buf.slice(at, at + n);
    at += n;
  } else if (te) {
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol < 0) return undefined;
      const size = parseInt(buf.slice(at, eol), 16);
      if (buf.length < eol + 2 + size + 2) return undefined;
      body += buf.slice(eol + 2, eol + 2 + size);
      at = eol + 2 + size + 2;
      if (size === 0) break;
    }
  }
  return { req: { line: lines[0]!, headers, body }, rest: buf.slice(at) };
}

/**
 * Raw bytes over TLS (ALPN http/1.1). Resolves with everything received once the server closes,
 * or as soon as `responses` complete responses have arrived (the connection is then closed).
 */
export function tlsRaw(port: number, bytes: string, responses = Infinity, servername = 'localhost'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], servername }, () => s.write(bytes, 'latin1'));
    let out = '';
    s.setEncoding('latin1').on('data', (c: string) => {
      out += c;
      if (completeResponses(out) >= responses) s.destroy();
    });
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}

/** How many whole responses (head and content-length body) `out` holds. */
function completeResponses(out: string): number {
  let n = 0;
  let at = 0;
  for (;;) {
    const end = out.indexOf('\r\n\r\n', at);
    if (end < 0) return n;
    const m = /content-length: *(\d+)/i.exec(out.slice(at, end));
    const next = end + 4 + (m ? Number(m[1]) : 0);
    if (out.length < next) return n;
    n++;
    at = next;
  }
}

/** The status codes of every response in `reply`, in order. */
export const statuses = (reply: string): number[] => [...reply.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
