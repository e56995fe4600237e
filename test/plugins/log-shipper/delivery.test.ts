// Failures and backpressure against a real HTTP receiver: outage, 5xx, 429 + Retry-After,
// permanent 4xx to the dead-letter file, bounded buffer, flush and checkpoint on stop.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Receiver, type Shipper, eventually, expectAllOnce, lines, startShipper, tempDir, writeLines } from './helpers.ts';

describe('log-shipper delivery', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let rx: Receiver;
  let shipper: Shipper | undefined;
  let file: string;

  beforeEach(async () => {
    dir = await tempDir();
    rx = await new Receiver().listen();
    file = join(dir.path, 'app.log');
  });
  afterEach(async () => {
    await shipper?.stop();
    shipper = undefined;
    await rx.close();
    await dir.cleanup();
  });

  const start = (extra: Record<string, unknown> = {}, dataDir?: string) =>
    startShipper({ include: [join(dir.path, '*.log')], sink: { type: 'http', url: rx.url }, ...extra }, dataDir ? { dataDir } : {});

  it('receiver down (connection refused) then back: every line arrives, in order', async () => {
    const port = Number(new URL(rx.url).port);
    await rx.close();
    const a = lines('a', 500);
    await writeLines(file, a);
    shipper = await start();
    await eventually(() => expect((shipper!.instance.health!().details as any).lastError?.message).toMatch(/ECONNREFUSED/));
    const b = lines('b', 500);
    await writeLines(file, b);
    rx = new Receiver();
    rx.server.listen(port, '127.0.0.1');
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]), 400);
    expect(rx.messages()).toEqual([...a, ...b]);
  });

  it('retries 5xx and 429 (waiting for Retry-After), never dropping', async () => {
    rx.respond = (_req, n) => {
      if (n <= 2) return { status: 503 };
      if (n === 3) return { status: 429, headers: { 'retry-after': '1' } };
      return { status: 200 };
    };
    const a = lines('a', 50);
    await writeLines(file, a);
    shipper = await start({ batch: { maxEvents: 1000, maxWait: '20ms' } });
    await eventually(() => expectAllOnce(rx.messages(), a));
    expect(rx.requests.length).toBe(4);
    // The resend after the 429 was scheduled by Retry-After (1 s), not by the 50 ms backoff.
    const delays = shipper.logs.filter((l) => l.msg === 'sink failed; retrying batch').map((l) => l.delayMs);
    expect(delays).toHaveLength(3);
    expect(delays[0]).toBeLessThan(1000);
    expect(delays[2]).toBe(1000);
    const text = await shipper.ctx.metricsRegistry.metrics();
    expect(text).toContain('sidekick_log_shipper_batches_total{instance="logs",result="retried"} 3');
  });

  it('a permanent 4xx sends the batch to the dead-letter file, counted, and delivery goes on', async () => {
    rx.respond = (req) => (req.body.includes('poison') ? { status: 400, body: 'bad event' } : { status: 200 });
    const a = lines('a', 5);
    await writeLines(file, a);
    shipper = await start({ batch: { maxEvents: 5, maxWait: '20ms' } });
    await eventually(() => expectAllOnce(rx.messages(), a));
    await writeLines(file, ['poison 1', 'poison 2']);
    await eventually(async () => {
      const dl = (await readFile(join(shipper!.ctx.dataDir, 'dead-letter.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(dl.map((d) => d.event.message)).toEqual(['poison 1', 'poison 2']);
      expect(dl[0].error).toMatch(/HTTP 400/);
    });
    const b = lines('b', 5);
    await writeLines(file, b);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]));
    const text = await shipper.ctx.metricsRegistry.metrics();
    expect(text).toContain('sidekick_log_shipper_dead_lettered_events_total{instance="logs"} 2');
  });

  it('408 is retried, not dead-lettered', async () => {
    rx.respond = (_r, n) => (n === 1 ? { status: 408 } : { status: 200 });
    await writeLines(file, ['x']);
    shipper = await start();
    await eventually(() => expect(rx.messages()).toEqual(['x']));
    expect(rx.requests.length).toBe(2);
  });

  it('bounds memory by the buffer while the receiver is down: reading pauses, then resumes', async () => {
    let down = true;
    rx.respond = () => (down ? { status: 503 } : { status: 200 });
    const a = lines('a', 30_000); // ~1.5 MB on disk
    await writeLines(file, a);
    shipper = await start({ buffer: '64KiB', readBufferSize: '16KiB', maxLineSize: '16KiB', batch: { maxBytes: '16KiB', maxWait: '20ms' } });
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const d = shipper.instance.health!().details as any;
      peak = Math.max(peak, d.buffer.usedBytes);
    }
    expect(peak).toBeGreaterThan(0);
    // The buffer counts encoded bytes; one read (16 KiB of short lines, JSON-wrapped) may overshoot it.
    expect(peak).toBeLessThanOrEqual(64 * 1024 + 4 * 16 * 1024);
    const files = (shipper.instance.health!().details as any).files;
    expect(files[0].readOffset).toBeLessThan(files[0].size);
    down = false;
    await eventually(() => expectAllOnce(rx.messages(), a), 400);
  });

  it('stop flushes what was read and checkpoints it, so a restart sends nothing twice', async () => {
    const dataDir = await tempDir();
    try {
      const a = lines('a', 300);
      await writeLines(file, a);
      shipper = await start({ batch: { maxWait: '10s', maxEvents: 100_000, sendWhenCaughtUp: false } }, dataDir.path);
      await eventually(() => expect((shipper!.instance.health!().details as any).files[0]?.readOffset).toBeGreaterThan(0));
      await shipper.stop(); // the open batch (maxWait 10 s) must go out now, not be lost
      expectAllOnce(rx.messages(), a);
      const cp = JSON.parse(await readFile(join(dataDir.path, 'checkpoints.json'), 'utf8'));
      expect(cp.files[0].offset).toBe(a.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0));
      const b = lines('b', 10);
      await writeLines(file, b);
      shipper = await start({}, dataDir.path);
      await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]));
    } finally {
      await shipper?.stop();
      shipper = undefined;
      await dataDir.cleanup();
    }
  });

  it('an unreadable checkpoint file is set aside: the shipper starts and re-reads (duplicates, no loss)', async () => {
    const dataDir = await tempDir();
    try {
      const { readdir, writeFile } = await import('node:fs/promises');
      await writeFile(join(dataDir.path, 'checkpoints.json'), '{"version":1,"files":[{"pa');
      const a = lines('a', 20);
      await writeLines(file, a);
      shipper = await start({}, dataDir.path);
      await eventually(() => expectAllOnce(rx.messages(), a));
      expect((await readdir(dataDir.path)).some((f) => f.startsWith('checkpoints.json.unreadable-'))).toBe(true);
      expect((shipper.instance.health!().details as any).lastError.message).toMatch(/checkpoints lost/);
    } finally {
      await shipper?.stop();
      shipper = undefined;
      await dataDir.cleanup();
    }
  });

  it('sends gzip, custom headers and basic or bearer auth', async () => {
    await writeLines(file, ['hello']);
    shipper = await start({ sink: { type: 'http', url: rx.url, gzip: true, headers: { 'X-Team': 'core' }, auth: { bearer: 'tok' } } });
    await eventually(() => expect(rx.messages()).toEqual(['hello']));
    const h = rx.requests[0]!.headers;
    expect(h['content-encoding']).toBe('gzip');
    expect(h['content-type']).toBe('application/x-ndjson');
    expect(h['x-team']).toBe('core');
    expect(h.authorization).toBe('Bearer tok');
    await shipper.stop();
    shipper = await start({ include: [join(dir.path, 'b.log')], sink: { type: 'http', url: rx.url, auth: { basic: { username: 'u', password: 'p:w' } } } });
    await writeLines(join(dir.path, 'b.log'), ['basic']);
    await eventually(() => expect(rx.messages()).toContain('basic'));
    expect(rx.requests.at(-1)!.headers.authorization).toBe(`Basic ${Buffer.from('u:p:w').toString('base64')}`);
  });
});
