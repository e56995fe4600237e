// `sidekick webhook`: the HTTPS server the API server calls with AdmissionReviews (POST /mutate),
// with /healthz, /readyz and /metrics for the kubelet and Prometheus on the same port.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ListenAddress } from '../config/listen-address.ts';
import type { HistogramSeries, MetricFamily } from '../metric-family.ts';
import { MetricsRegistry } from '../metrics.ts';
import { reviewAdmission, type ReviewResult, type WebhookOptions } from './admission-review.ts';
import { type TlsFiles, TlsReloader } from './tls-files.ts';

/** A Pod with its AdmissionReview wrapping is far below this; etcd stores at most 1.5 MiB. */
export const MAX_BODY = 3 * 1024 * 1024;

export interface WebhookServerOptions {
  listen: ListenAddress;
  tls: TlsFiles;
  webhook: WebhookOptions;
  logger: Logger;
  /** Time /readyz fails before the listener closes, so endpoints stop sending here first. */
  shutdownDelayMs: number;
  /** Time in-flight reviews get before their connections are cut. */
  drainMs: number;
  instance?: string;
}

export class WebhookServer {
  private readonly opts: WebhookServerOptions;
  private readonly server: Server;
  private readonly tls: TlsReloader;
  private readonly registry = new MetricsRegistry();
  private readonly reviews: MetricFamily<'counter'>;
  private readonly latency: HistogramSeries;
  private readonly instance: string;
  private stopping: Promise<void> | undefined;

  constructor(opts: WebhookServerOptions) {
    this.opts = opts;
    this.instance = opts.instance ?? 'sidekick-webhook';
    this.tls = new TlsReloader(
      opts.tls,
      (pair) => {
        this.server.setSecureContext({ ...pair, minVersion: 'TLSv1.2' });
        opts.logger.info({ cert: opts.tls.cert }, 'serving certificate reloaded');
      },
      (err) => opts.logger.warn({ err }, 'serving certificate not reloaded; keeping the one in use'),
    );
    const pair = this.tls.load();
    this.server = createServer({ ...pair, minVersion: 'TLSv1.2', requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    this.reviews = this.registry.family('counter', { name: 'sidekick_webhook_reviews_total', help: 'AdmissionReviews answered, by result', labelNames: ['result'] });
    this.latency = this.registry.family('histogram', {
      name: 'sidekick_webhook_review_duration_seconds',
      help: 'Time from a review\'s full body to its answer (decode, inject, diff, encode)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    }).labels({ instance: this.instance });
    for (const result of ['injected', 'skipped', 'denied', 'unreadable', 'bad-request'] satisfies ReviewResult[]) this.reviews.labels({ instance: this.instance, result }).inc(0);
  }

  listen(): Promise<AddressInfo> {
    const { host, port } = this.opts.listen;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        this.tls.start();
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Fail /readyz, wait shutdownDelayMs, stop accepting, drain in-flight reviews. Idempotent. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      this.opts.logger.info({ delayMs: this.opts.shutdownDelayMs }, 'shutting down: /readyz now fails');
      if (this.opts.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, this.opts.shutdownDelayMs));
      this.tls.close();
      await new Promise<void>((resolve) => {
        const cut = setTimeout(() => this.server.closeAllConnections(), this.opts.drainMs);
        this.server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        this.server.closeIdleConnections();
      });
      this.opts.logger.info('shutdown complete');
    })();
    return this.stopping;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0];
    // Keep-alive connections would hold the drain open; answer them with Connection: close.
    if (this.stopping) res.setHeader('Connection', 'close');
    if (path === '/mutate') {
      if (req.method !== 'POST') return send(res, 405, 'text/plain', 'POST an AdmissionReview\n');
      return this.review(req, res);
    }
    if (req.method !== 'GET') return send(res, 405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') return send(res, 200, 'application/json', '{"status":"ok"}\n');
    if (path === '/readyz') return this.stopping ? send(res, 503, 'application/json', '{"ready":false,"reasons":["shutting down"]}\n') : send(res, 200, 'application/json', '{"ready":true}\n');
    if (path === '/metrics') {
      void this.registry.metrics().then((body) => send(res, 200, this.registry.contentType, body));
      return;
    }
    send(res, 404, 'text/plain', 'not found: POST /mutate; GET /healthz /readyz /metrics\n');
  }

  private review(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > MAX_BODY) {
        refused = true;
        this.count('bad-request');
        this.opts.logger.warn({ bytes: size }, 'review refused: body too big');
        res.setHeader('Connection', 'close');
        send(res, 400, 'text/plain', `the body is larger than ${MAX_BODY} bytes\n`);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const started = process.hrtime.bigint();
      let answer;
      try {
        answer = reviewAdmission(Buffer.concat(chunks, size).toString('utf8'), this.opts.webhook);
      } catch (err) {
        this.opts.logger.error({ err }, 'review failed');
        this.count('bad-request');
        return send(res, 500, 'text/plain', 'internal error\n');
      }
      this.latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
      this.count(answer.result);
      if (answer.result !== 'skipped') {
        this.opts.logger.info({ result: answer.result, reason: answer.reason, ops: answer.ops?.length }, 'review');
      }
      send(res, answer.status, answer.status === 200 ? 'application/json' : 'text/plain', answer.body);
    });
    req.on('error', () => res.destroy());
  }

  private count(result: ReviewResult): void {
    this.reviews.labels({ instance: this.instance, result }).inc();
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
