// The request side of the differential fuzz test: the same bytes through the fast path's own
// decision (scanHead + Content-Length framing, as fast-connection.ts runs it) and through llhttp
// in Node's http server, over an in-memory socket pair. The fast path must be a strict subset:
// every message it takes, llhttp takes too, identically; when it declines, Node's server gets the
// bytes, so there is nothing to compare.
import http from 'node:http';
import { duplexPair } from 'node:stream';
import { scanHead } from '../../../../plugins/tls-terminator/http/request-head.ts';

export const MAX_HEADER_SIZE = 16 * 1024; // the config's default, for both sides

export interface Message {
  method: string;
  target: string;
  version: string;
  raw: string[];
  body: string;
  keepAlive: boolean;
}

export interface FastOutcome {
  messages: Message[];
  /** Why the fast path stopped: a hand-off reason, 'wait' (incomplete), 'close' or 'end'. */
  stop: string;
  /** Set when a head the fast path takes whole was not a plain "wait" on one of its prefixes. */
  splitIssue?: string;
}

/** What a fast connection does with these bytes, read at once. */
export function fastPath(input: Buffer): FastOutcome {
  const messages: Message[] = [];
  let buf = input;
  for (;;) {
    if (buf.length === 0) return { messages, stop: 'end' };
    const head = scanHead(buf, MAX_HEADER_SIZE);
    if (head === undefined) return { messages, stop: 'wait' };
    if (typeof head === 'string') return { messages, stop: head };
    const { request: q, bodyStart } = head;
    // Reads may split a head anywhere: every strict prefix must leave the decision for later
    // (of a large head, 256 of them: each scan reads the whole prefix).
    const step = bodyStart <= 1024 ? 1 : Math.ceil(bodyStart / 256);
    for (let n = 1; n < bodyStart; n += step) {
      const early = scanHead(buf.subarray(0, n), MAX_HEADER_SIZE);
      if (early !== undefined) return { messages, stop: 'split', splitIssue: `message ${messages.length}: its first ${n} bytes gave ${typeof early === 'string' ? early : 'a head'}, the whole head is taken` };
    }
    const bodyEnd = Math.min(buf.length, bodyStart + q.contentLength);
    messages.push({ method: q.method, target: q.target, version: q.version, raw: q.raw, body: buf.toString('latin1', bodyStart, bodyEnd), keepAlive: q.keepAlive });
    if (bodyStart + q.contentLength > buf.length) return { messages, stop: 'wait' };
    if (!q.keepAlive) return { messages, stop: 'close' };
    buf = buf.subarray(bodyEnd);
  }
}

export interface NodeOutcome {
  messages: Message[];
  errors: string[];
}

/** An http.Server (llhttp, Node's defaults as http-front.ts sets them) fed one connection's bytes. */
export class NodeServer {
  private readonly server = http.createServer({ maxHeaderSize: MAX_HEADER_SIZE });
  private current?: NodeOutcome;
  private changed = 0;

  constructor() {
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const out = this.current!;
      const m: Message = { method: req.method!, target: req.url!, version: req.httpVersion, raw: req.rawHeaders, body: '', keepAlive: res.shouldKeepAlive };
      out.messages.push(m);
      this.changed++;
      req.on('data', (c: Buffer) => {
        m.body += c.toString('latin1');
        this.changed++;
      });
      req.on('end', () => res.end());
      req.on('error', () => {});
    });
    this.server.on('clientError', (err: Error & { code?: string }) => {
      this.current?.errors.push(err.code ?? err.message);
      this.changed++;
    });
  }

  async feed(input: Buffer): Promise<NodeOutcome> {
    const out: NodeOutcome = { messages: [], errors: [] };
    this.current = out;
    const [ours, theirs] = duplexPair();
    theirs.on('data', () => {});
    theirs.on('error', () => {});
    ours.on('error', () => {});
    this.server.emit('connection', ours);
    theirs.write(input);
    await settle(() => this.changed);
    ours.destroy();
    theirs.destroy();
    this.current = undefined;
    return out;
  }
}

/** Resolves once `progress` has not moved for a few turns of the event loop. */
export async function settle(progress: () => number): Promise<void> {
  let last = -1;
  let still = 0;
  for (let i = 0; i < 200 && still < 4; i++) {
    await new Promise((r) => setImmediate(r));
    const now = progress();
    still = now === last ? still + 1 : 0;
    last = now;
  }
}

/** undefined when llhttp agrees with every message the fast path took; else what differs. */
export function compareRequests(fast: FastOutcome, node: NodeOutcome): string | undefined {
  if (fast.splitIssue) return fast.splitIssue;
  for (let i = 0; i < fast.messages.length; i++) {
    const f = fast.messages[i]!;
    const n = node.messages[i];
    if (!n) return `fast path took message ${i}, llhttp did not (errors: ${node.errors.join(',') || 'none'})`;
    for (const k of ['method', 'target', 'version', 'body', 'keepAlive'] as const) {
      if (f[k] !== n[k]) return `message ${i}: ${k} ${JSON.stringify(f[k])} (fast) vs ${JSON.stringify(n[k])} (llhttp)`;
    }
    if (JSON.stringify(f.raw) !== JSON.stringify(n.raw)) return `message ${i}: headers ${JSON.stringify(f.raw)} (fast) vs ${JSON.stringify(n.raw)} (llhttp)`;
  }
  // The fast path stopped at a clean end with no message left over: llhttp must not see more.
  if (fast.stop === 'end' && node.messages.length > fast.messages.length) return `llhttp found ${node.messages.length} messages, fast path ${fast.messages.length} and nothing left`;
  return undefined;
}
