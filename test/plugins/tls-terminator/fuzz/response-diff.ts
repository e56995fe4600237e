// The response side of the differential fuzz test: the same app bytes through ResponseParser
// and through llhttp in Node's HTTP client (a keep-alive Agent over an in-memory socket pair, so
// the Agent's own decision shows whether llhttp would reuse the connection).
import http from 'node:http';
import { type Duplex, duplexPair } from 'node:stream';
import { ResponseParser } from '../../../../plugins/tls-terminator/upstream/response-parser.ts';
import { settle } from './request-diff.ts';

export interface ResponseOutcome {
  /** undefined: accepted (a complete final response); else why not. */
  error?: string;
  status?: number;
  /** Ours only: bytes follow the end of the response (fed one byte at a time, where end() fired). */
  trailing?: boolean;
  /** Flat [name, value, ...] as forwarded (ours) or as received (llhttp). */
  headers: string[];
  body: string;
  reusable: boolean;
}

/** A ResponseParser that writes what it reads into `out`; done(): it reported the end. */
function recording(out: ResponseOutcome, method: string): { p: ResponseParser; done: () => boolean } {
  let ended = false;
  const p = new ResponseParser({
    head: (h) => {
      out.status = h.status;
      out.headers = h.headers;
    },
    data: (c) => (out.body += c.toString('latin1')),
    end: (reusable, last) => {
      ended = true;
      out.reusable = reusable;
      if (last) out.body += last.toString('latin1');
    },
    continue: () => {},
  }, method === 'HEAD');
  return { p, done: () => ended };
}

/** ResponseParser as an Exchange drives it: one read with every byte, then the app's EOF. */
export function ours(input: Buffer, method: string): ResponseOutcome {
  const out: ResponseOutcome = { headers: [], body: '', reusable: false };
  const { p, done } = recording(out, method);
  try {
    p.push(input);
    // The Exchange detaches at end(): later bytes are the pool's business, not the response's.
    if (!done() && !p.eof()) out.error = 'closed mid-response';
  } catch (e) {
    if (!done()) out.error = (e as Error).message;
  }
  return out;
}

/**
 * The same bytes one at a time, as reads may split them anywhere: `end` is how many bytes the
 * parser read before it reported the end (input.length when it did not).
 */
export function oursByteByByte(input: Buffer, method: string): ResponseOutcome & { end: number } {
  const out: ResponseOutcome & { end: number } = { headers: [], body: '', reusable: false, end: input.length };
  const { p, done } = recording(out, method);
  try {
    for (let i = 0; i < input.length && !done(); i++) {
      p.push(input.subarray(i, i + 1));
      if (done()) out.end = i + 1;
    }
    if (!done() && !p.eof()) out.error = 'closed mid-response';
  } catch (e) {
    out.error = (e as Error).message;
  }
  return out;
}

/** ResponseParser read at once and byte by byte; undefined when both read the same, else what differs. */
export function oursBothWays(input: Buffer, method: string): { whole: ResponseOutcome; split?: string } {
  const whole = ours(input, method);
  const bytes = oursByteByByte(input, method);
  if (whole.error === undefined) whole.trailing = bytes.end < input.length;
  // Reuse may differ: bytes after the end arrive in a later read, which the pool handles.
  const a = JSON.stringify([whole.error, whole.status, whole.headers, whole.body]);
  const b = JSON.stringify([bytes.error, bytes.status, bytes.headers, bytes.body]);
  return { whole, split: a === b ? undefined : `read at once ${a} vs byte by byte ${b}` };
}

type PairSocket = Duplex & Record<string, unknown>;

/** A keep-alive Agent whose connections are in-memory pairs; keepSocketAlive records reuse. */
class PairAgent extends http.Agent {
  app?: Duplex;
  client?: Duplex;
  kept = false;

  constructor() {
    super({ keepAlive: true, maxSockets: 1 });
  }

  createConnection(): Duplex {
    const [client, app] = duplexPair();
    // What the Agent and ClientRequest call on a net.Socket, as no-ops.
    for (const m of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref']) (client as PairSocket)[m] = () => client;
    this.client = client;
    this.app = app;
    return client;
  }

  keepSocketAlive(): boolean {
    this.kept = true;
    return true;
  }
}

/** llhttp's view, through http.request: accepted when the response is complete (res.complete). */
export async function llhttp(input: Buffer, method: string): Promise<ResponseOutcome> {
  const agent = new PairAgent();
  const out: ResponseOutcome = { headers: [], body: '', reusable: false };
  let progress = 0;
  let res: http.IncomingMessage | undefined;
  let reqError: string | undefined;
  // ResponseParser's head limit (64 KiB) rather than Node's default 16 KiB: a size setting, not strictness.
  const req = http.request({ method, host: 'app', path: '/', agent, maxHeaderSize: 64 * 1024 });
  req.on('response', (r: http.IncomingMessage) => {
    res = r;
    out.status = r.statusCode;
    out.headers = r.rawHeaders;
    progress++;
    r.on('data', (c: Buffer) => {
      out.body += c.toString('latin1');
      progress++;
    });
    r.on('end', () => progress++);
    r.on('error', () => progress++);
  });
  req.on('error', (e: Error & { code?: string }) => {
    reqError = e.code ?? e.message;
    progress++;
  });
  req.end();
  await settle(() => progress);
  const app = agent.app!;
  app.on('data', () => {});
  app.on('error', () => {});
  app.write(input);
  await settle(() => progress + (agent.kept ? 1 : 0));
  out.reusable = agent.kept && !agent.client!.destroyed && !!res?.complete;
  app.end(); // EOF: ends a close-delimited body
  await settle(() => progress);
  if (!res?.complete) out.error = reqError ?? (res ? 'incomplete' : 'no response');
  agent.client?.destroy();
  app.destroy();
  agent.destroy();
  return out;
}
