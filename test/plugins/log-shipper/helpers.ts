// Shared by the log-shipper tests: a real NDJSON HTTP receiver, a shipper started on a
// real PluginContext, and content checks that every line arrived.
import { once } from 'node:events';
import { appendFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import plugin from '../../../plugins/log-shipper/index.ts';
import { configSchema } from '../../../plugins/log-shipper/config-schema.ts';
import { parseConfig } from '../../helpers/plugin-config.ts';
import type { PluginInstance } from '../../../src/plugin-api.ts';
import { type TestContext, createTestContext } from '../../helpers/plugin-context.ts';
import { tempDir as sharedTempDir } from '../../helpers/agent-process.ts';
import { eventually } from '../../helpers/recorder.ts';

export { eventually };

export interface Received {
  body: string;
  headers: http.IncomingHttpHeaders;
  url: string;
}

/** A real HTTP server that records NDJSON records; `respond` decides the status per request. */
export class Receiver {
  readonly server: http.Server;
  readonly records: Array<Record<string, any>> = [];
  readonly requests: Received[] = [];
  respond: (req: Received, n: number) => { status: number; headers?: Record<string, string>; body?: string } = () => ({ status: 200 });
  url = '';

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let raw = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
        const got: Received = { body: raw.toString('utf8'), headers: req.headers, url: req.url ?? '' };
        this.requests.push(got);
        const answer = this.respond(got, this.requests.length);
        if (answer.status >= 200 && answer.status < 300 && !req.url?.includes('/loki/') && !req.url?.includes('_bulk')) {
          for (const line of got.body.split('\n')) if (line) this.records.push(JSON.parse(line));
        }
        res.writeHead(answer.status, answer.headers).end(answer.body ?? '');
      });
    });
  }

  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/ingest`;
    return this;
  }

  messages(file?: string): string[] {
    return this.records.filter((r) => !file || r.file === file).map((r) => r.message);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
  }
}

export interface Shipper {
  instance: PluginInstance;
  ctx: TestContext;
  /** Everything the instance logged, parsed. */
  logs: Array<Record<string, any>>;
  /** Stops with a deadline `ms` from now (what the agent's shutdown timeout would give). */
  stop(ms?: number): Promise<void>;
}

/** Validates `config` with the plugin's own schema and starts it, like the agent would. */
export async function startShipper(config: Record<string, unknown>, opts: { dataDir?: string } = {}): Promise<Shipper> {
  const base = await createTestContext('logs', 'log-shipper');
  const logs: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) logs.push(JSON.parse(l));
      cb();
    },
  });
  const logger = pino({ level: process.env.DEBUG_LOGS ? 'debug' : 'info' }, sink).child({ instance: 'logs', plugin: 'log-shipper' });
  const ctx: TestContext = { ...base, logger, ...(opts.dataDir ? { dataDir: opts.dataDir } : {}) };
  const parsed = parseConfig(configSchema, { pollInterval: '50ms', partialLineTimeout: '300ms', rotateWait: '300ms', batch: { maxWait: '50ms' }, retry: { initialDelay: '50ms', maxDelay: '200ms' }, ...config });
  const instance = await plugin.create(parsed, ctx);
  await instance.start();
  let stopped: Promise<void> | undefined;
  return {
    instance,
    ctx,
    logs,
    stop: (ms = 5000) =>
      (stopped ??= (async () => {
        await instance.stop({ deadline: Date.now() + ms, signal: AbortSignal.timeout(ms) });
        ctx.abort();
        await base.cleanup(); // its own temp dir; a caller-supplied dataDir is the caller's to remove
      })()),
  };
}

export const tempDir = () => sharedTempDir('log-shipper-test-');

/** Appends lines (each followed by "\n"). */
export function writeLines(file: string, lines: string[]): Promise<void> {
  return appendFile(file, lines.map((l) => l + '\n').join(''));
}

export function lines(prefix: string, n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix} line ${String(from + i).padStart(6, '0')} ${'x'.repeat(20)}`);
}

/** Every expected line is present (at least once) and nothing unexpected arrived. */
export function expectAllOnce(got: string[], expected: string[], { allowDuplicates = false } = {}): void {
  const want = new Set(expected);
  const seen = new Map<string, number>();
  for (const g of got) {
    if (!want.has(g)) throw new Error(`unexpected line received: ${JSON.stringify(g.slice(0, 200))}`);
    seen.set(g, (seen.get(g) ?? 0) + 1);
  }
  const missing = expected.filter((e) => !seen.has(e));
  if (missing.length) throw new Error(`${missing.length} lines missing, first: ${JSON.stringify(missing[0]?.slice(0, 200))}`);
  if (!allowDuplicates) {
    const dup = [...seen].find(([, n]) => n > 1);
    if (dup) throw new Error(`line received ${dup[1]} times: ${dup[0].slice(0, 200)}`);
  }
}

/** Per-file order: the received lines of one file appear in the order they were written. */
export function expectInOrder(got: string[], expected: string[]): void {
  const index = new Map(expected.map((e, i) => [e, i]));
  let last = -1;
  for (const g of got) {
    const i = index.get(g)!;
    // A duplicate (at-least-once resend) may repeat an earlier line; first arrivals must ascend.
    if (i > last + 1 && ![...Array(i).keys()].every((k) => got.includes(expected[k]!))) throw new Error(`out of order at ${g}`);
    if (i > last) last = i;
  }
}
