// An NDJSON HTTP aggregator that misbehaves on purpose: down (connections refused), 503, 429
// with Retry-After, or slow. A batch counts as received only when a 2xx answer was written to
// a socket still open: what the agent was told was acknowledged is exactly what was recorded.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Rng } from './soak-kit.ts';

export const SINK_MODES = ['ok', 'down', '5xx', '429', 'slow'] as const;
export type SinkMode = (typeof SINK_MODES)[number];

const LINE = /"message":"L(\d+) (\d+) /g;

export class FaultySink {
  mode: SinkMode = 'ok';
  port = 0;
  /** Accepted batches: when, and how many lines (to bound what a kill may duplicate). */
  readonly accepted: Array<{ at: number; lines: number }> = [];
  readonly answers: Record<string, number> = { ok: 0, '503': 0, '429': 0, slow: 0, refused: 0 };
  readonly modeTime: Record<SinkMode, number> = { ok: 0, down: 0, '5xx': 0, '429': 0, slow: 0 };
  private server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly rng: Rng;
  private readonly onLine: (file: number, seq: number) => void;
  private since = Date.now();

  constructor(rng: Rng, onLine: (file: number, seq: number) => void) {
    this.rng = rng;
    this.onLine = onLine;
    this.server = this.create();
  }

  private create(): http.Server {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (this.mode === '5xx') {
          this.answers['503']!++;
          res.writeHead(503).end('overloaded');
        } else if (this.mode === '429') {
          this.answers['429']!++;
          res.writeHead(429, { 'retry-after': '1' }).end();
        } else if (this.mode === 'slow') {
          this.answers.slow!++;
          setTimeout(() => this.accept(body, res), this.rng.int(100, 1500));
        } else this.accept(body, res);
      });
    });
    server.on('connection', (s: Socket) => {
      if (this.mode === 'down') {
        this.answers.refused!++;
        s.destroy();
        return;
      }
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    return server;
  }

  private accept(body: string, res: http.ServerResponse): void {
    if (res.socket === null || res.socket.destroyed) return; // the agent gave up (or we went down): not acknowledged
    let n = 0;
    for (const m of body.matchAll(LINE)) {
      this.onLine(Number(m[1]), Number(m[2]));
      n++;
    }
    this.accepted.push({ at: Date.now(), lines: n });
    this.answers.ok!++;
    res.writeHead(200).end('{}');
  }

  async listen(): Promise<string> {
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return `http://127.0.0.1:${this.port}/ingest`;
  }

  async setMode(mode: SinkMode): Promise<void> {
    const now = Date.now();
    this.modeTime[this.mode] += now - this.since;
    this.since = now;
    if (mode === this.mode) return;
    const wasDown = this.mode === 'down';
    this.mode = mode;
    if (mode === 'down') {
      // Refuse connections: stop listening and cut the open ones.
      this.server.close();
      for (const s of this.sockets) s.destroy();
    } else if (wasDown) {
      this.server = this.create();
      // The port may be taken meanwhile by someone else on a busy machine: retry a few times.
      for (let i = 0; ; i++) {
        try {
          await this.listen();
          break;
        } catch (err) {
          if (i >= 50) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  }

  /** Lines accepted in [from, to] (ms since the epoch). */
  acceptedBetween(from: number, to: number): number {
    let n = 0;
    for (let i = this.accepted.length - 1; i >= 0 && this.accepted[i]!.at >= from; i--) if (this.accepted[i]!.at <= to) n += this.accepted[i]!.lines;
    return n;
  }

  async close(): Promise<void> {
    await this.setMode('ok');
    this.server.closeAllConnections();
    this.server.close();
  }
}
