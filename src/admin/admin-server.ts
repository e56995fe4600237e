// GET /healthz /readyz /metrics /status for kubelet probes, Prometheus and humans.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { loadHttp } from '../builtin-modules.ts';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from '../config/listen-address.ts';

const http = loadHttp();

export interface AdminSources {
  /** Liveness: false only when the process is wedged (event loop stalled). */
  health(): { ok: boolean; eventLoopDelayMs: number };
  readiness(): { ready: boolean; reasons: string[] };
  metrics(): Promise<{ contentType: string; body: string }>;
  status(): unknown;
}

export class AdminServer {
  private readonly server: Server;
  private readonly sources: AdminSources;

  constructor(sources: AdminSources) {
    this.sources = sources;
    this.server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
      this.handle(req, res).catch((err) => send(res, 500, 'text/plain', `internal error: ${(err as Error).message}\n`));
    });
    this.server.keepAliveTimeout = 5_000;
  }

  listen(addr: ListenAddress): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new Error(`admin endpoint cannot listen on ${addr.host}:${addr.port}: ${err.code ?? err.message}`));
      };
      this.server.once('error', onError);
      this.server.listen(addr.port, addr.host, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain', 'method not allowed\n');
    }
    const path = (req.url ?? '/').split('?', 1)[0];
    switch (path) {
      case '/healthz': {
        const h = this.sources.health();
        return sendJson(res, h.ok ? 200 : 503, { status: h.ok ? 'ok' : 'event loop stalled', eventLoopDelayMs: h.eventLoopDelayMs });
      }
      case '/readyz': {
        const r = this.sources.readiness();
        return sendJson(res, r.ready ? 200 : 503, r.ready ? { ready: true } : { ready: false, reasons: r.reasons });
      }
      case '/metrics': {
        const m = await this.sources.metrics();
        return send(res, 200, m.contentType, m.body);
      }
      case '/status':
        return sendJson(res, 200, this.sources.status());
      default:
        return send(res, 404, 'text/plain', 'not found: try /healthz /readyz /metrics /status\n');
    }
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json', `${JSON.stringify(body, null, 2)}\n`);
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
