// The event time from a parsed field (`timestamp: { field, format }`), checked on the wire:
// Loki's nanosecond strings, Elasticsearch's @timestamp, the NDJSON timestamp. Lines without
// a usable field keep the read time.
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Decoder } from '@msgpack/msgpack';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TimeParser } from '../../../plugins/log-shipper/event-time.ts';
import { Receiver, type Shipper, eventually, startShipper, tempDir, writeLines } from './helpers.ts';

/** Expected Loki timestamp: epoch ms of an ISO time (no fraction) * 1e6 + the ns below the second. */
const ns = (isoSeconds: string, nanosOfSecond: bigint) => (BigInt(Date.parse(isoSeconds)) * 1_000_000n + nanosOfSecond).toString();

describe('log-shipper event time from a field', () => {
  it('parses RFC 3339 (fractions to ns, zones, none = UTC) and epoch numbers or strings in s/ms/us/ns', () => {
    const at = (format: ConstructorParameters<typeof TimeParser>[1], v: unknown) => {
      const p = new TimeParser('t', format);
      return p.parse({ t: v }) ? `${p.ms}+${p.nanos}` : 'no';
    };
    const base = Date.parse('2026-11-24T12:00:00Z');
    expect(at('iso8601', '2026-11-24T12:00:00.123456789Z')).toBe(`${base + 123}+456789`);
    expect(at('iso8601', '2026-11-24T13:00:00.5+01:00')).toBe(`${base + 500}+0`);
    expect(at('iso8601', '2026-11-24 11:00:00,25-0100')).toBe(`${base + 250}+0`);
    expect(at('iso8601', '2026-11-24T12:00:00')).toBe(`${base}+0`);
    expect(at('unix', 1795521600.25)).toBe(`${1795521600250}+0`);
    expect(at('unix', '1795521600.000000007')).toBe(`${1795521600000}+7`);
    expect(at('unix_ms', 1795521600123)).toBe(`${1795521600123}+0`);
    expect(at('unix_us', '1795521600123456')).toBe(`${1795521600123}+456000`);
    expect(at('unix_ns', '1795521600123456789')).toBe(`${1795521600123}+456789`);
    for (const bad of ['yesterday', '', -5, null, { x: 1 }, '12:00']) expect(at(bad === '12:00' ? 'iso8601' : 'unix', bad)).toBe('no');
    const nested = new TimeParser('meta.ts', 'unix_ms');
    expect(nested.parse({ meta: { ts: 42 } }) && nested.ms).toBe(42);
    expect(nested.parse({ meta: 'flat' })).toBe(false);
  });

  let dir: { path: string; cleanup: () => Promise<void> };
  let rx: Receiver;
  let shipper: Shipper | undefined;
  beforeEach(async () => {
    dir = await tempDir();
    rx = await new Receiver().listen();
  });
  afterEach(async () => {
    await shipper?.stop();
    shipper = undefined;
    await rx.close();
    await dir.cleanup();
  });

  it('loki: the field becomes the nanosecond timestamp; lines without it keep the read time', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(file, [
      '{"time":"2026-11-24T12:00:00.123456789Z","msg":"a"}',
      '{"time":"not a time","msg":"b"}',
      '{"msg":"c"}',
      'plain text',
    ]);
    const before = Date.now();
    shipper = await startShipper({ include: [file], parse: 'json', timestamp: { field: 'time', format: 'iso8601' }, sink: { type: 'loki', url: rx.url.replace('/ingest', '') } });
    const values = () => rx.requests.flatMap((r) => (JSON.parse(r.body).streams as any[]).flatMap((s) => s.values as any[]));
    await eventually(() => expect(values()).toHaveLength(4));
    const [a, ...rest] = values();
    expect(a[0]).toBe(ns('2026-11-24T12:00:00Z', 123_456_789n));
    for (const v of rest) {
      expect(v[0]).toMatch(/^\d{19}$/);
      const ms = Number(BigInt(v[0]) / 1_000_000n);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(Date.now());
    }
  });

  it('elasticsearch and NDJSON: @timestamp / timestamp from a regex field with a zone, and from epoch seconds', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(file, ['2026-11-24T13:00:00.250+01:00 GET /x']);
    rx.respond = (req) => ({ status: 200, body: JSON.stringify({ errors: false, items: req.body.trim().split('\n').filter((_, i) => i % 2 === 0).map(() => ({ create: { status: 201 } })) }) });
    shipper = await startShipper({
      include: [file],
      parse: 'regex',
      regex: '^(?<time>\\S+) (?<method>[A-Z]+) (?<path>\\S+)$',
      timestamp: { field: 'time' },
      sink: { type: 'elasticsearch', url: rx.url.replace('/ingest', ''), index: 'logs' },
    });
    await eventually(() => expect(rx.requests).toHaveLength(1));
    const doc = JSON.parse(rx.requests[0]!.body.trim().split('\n')[1]!);
    expect(doc['@timestamp']).toBe('2026-11-24T12:00:00.250Z');
    expect(doc).toMatchObject({ method: 'GET', path: '/x', time: '2026-11-24T13:00:00.250+01:00' });
    await shipper.stop();

    const f2 = join(dir.path, 'epoch.log');
    await writeLines(f2, ['{"ts":1795521600.5,"msg":"e"}']);
    shipper = await startShipper({ include: [f2], parse: 'json', timestamp: { field: 'ts', format: 'unix' }, sink: { type: 'http', url: rx.url } });
    await eventually(() => expect(rx.records).toHaveLength(1));
    expect(rx.records[0]!.timestamp).toBe(new Date(1795521600500).toISOString());
  });

  it('forward: EventTime carries the seconds and nanoseconds of the field', async () => {
    const entries: any[] = [];
    const server = net.createServer((sock) => {
      const decoder = new Decoder();
      let pending = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => {
        pending = Buffer.concat([pending, d]);
        let msgs: any[];
        try {
          msgs = [...decoder.decodeMulti(pending)];
          pending = Buffer.alloc(0);
        } catch {
          return; // incomplete: wait for more
        }
        for (const [, bin, option] of msgs) {
          entries.push(...new Decoder().decodeMulti(bin));
          sock.write(Buffer.from([0x81, 0xa3, ...Buffer.from('ack'), 0xd9, option.chunk.length, ...Buffer.from(option.chunk)]));
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const file = join(dir.path, 'app.log');
      await writeLines(file, ['{"t":"2026-11-24T12:00:00.123456789Z"}']);
      shipper = await startShipper({ include: [file], parse: 'json', timestamp: { field: 't' }, sink: { type: 'forward', address: `127.0.0.1:${(server.address() as AddressInfo).port}` } });
      await eventually(() => expect(entries).toHaveLength(1));
      const time = Buffer.from((entries[0] as any[])[0].data as Uint8Array);
      expect(time.readUInt32BE(0)).toBe(Date.parse('2026-11-24T12:00:00Z') / 1000);
      expect(time.readUInt32BE(4)).toBe(123_456_789);
      await shipper.stop();
      shipper = undefined;
    } finally {
      server.close();
    }
  });

  it('is refused without a parser to take the field from', async () => {
    await expect(startShipper({ include: [join(dir.path, '*.log')], timestamp: { field: 'time' }, sink: { type: 'stdout' } })).rejects.toThrow(/timestamp/);
  });
});
