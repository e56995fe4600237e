// Each sink against a real peer speaking its protocol: wire formats checked against the specs.
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Decoder } from '@msgpack/msgpack';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Receiver, type Shipper, eventually, expectAllOnce, lines, startShipper, tempDir, writeLines } from './helpers.ts';
import { startRsyslog } from './rsyslog.ts';

describe('log-shipper sinks', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let shipper: Shipper | undefined;
  let file: string;
  const closers: Array<() => Promise<void> | void> = [];

  beforeEach(async () => {
    dir = await tempDir();
    file = join(dir.path, 'app.log');
  });
  afterEach(async () => {
    await shipper?.stop();
    shipper = undefined;
    for (const c of closers.splice(0).reverse()) await c();
    await dir.cleanup();
  });

  const start = (sink: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    startShipper({ include: [join(dir.path, '*.log')], labels: { app: 'legacy', pod: 'p-1' }, sink, ...extra });

  it('loki: JSON push with constant labels per file stream, ns timestamps as strings, tenant header', async () => {
    const rx = await new Receiver().listen();
    closers.push(() => rx.close());
    const a = lines('a', 30);
    await writeLines(file, a);
    await writeLines(join(dir.path, 'other.log'), ['o1']);
    shipper = await start({ type: 'loki', url: `http://127.0.0.1:${new URL(rx.url).port}`, tenant: 'team-a' });
    const values = () =>
      rx.requests.flatMap((r) => (JSON.parse(r.body).streams as any[]).flatMap((s) => s.values.map((v: any) => ({ stream: s.stream, v }))));
    await eventually(() => expect(values()).toHaveLength(31));
    const req = rx.requests[0]!;
    expect(req.url).toBe('/loki/api/v1/push');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-scope-orgid']).toBe('team-a');
    const mine = values().filter((x) => x.stream.filename === file);
    expect(mine.map((x) => x.v[1])).toEqual(a);
    expect(mine[0]!.stream).toEqual({ app: 'legacy', pod: 'p-1', filename: file });
    expect(mine[0]!.v[0]).toMatch(/^\d{19}$/);
  });

  it('elasticsearch: _bulk NDJSON pairs; on partial failure resends only 429/5xx items and dead-letters the rest', async () => {
    const docs: any[] = [];
    let call = 0;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        call++;
        const body = Buffer.concat(chunks).toString();
        expect(body.endsWith('\n')).toBe(true);
        expect(req.headers['content-type']).toBe('application/x-ndjson');
        const l = body.trim().split('\n');
        const items: any[] = [];
        for (let i = 0; i < l.length; i += 2) {
          expect(JSON.parse(l[i]!)).toEqual({ create: { _index: 'logs-app' } });
          const doc = JSON.parse(l[i + 1]!);
          // First call: "a line 000001" is rejected for good, "a line 000002" is throttled.
          let status = 201;
          if (call === 1 && doc.message.includes('000001')) status = 400;
          if (call === 1 && doc.message.includes('000002')) status = 429;
          if (status === 201) docs.push(doc);
          items.push({ create: { status, ...(status >= 300 ? { error: { type: status === 400 ? 'mapper_parsing_exception' : 'es_rejected_execution_exception', reason: 'x' } } : {}) } });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ took: 1, errors: items.some((i) => i.create.status >= 300), items }));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => void server.close());
    const a = lines('a', 5);
    await writeLines(file, a);
    shipper = await start({ type: 'elasticsearch', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, index: 'logs-app' });
    await eventually(() => expectAllOnce(docs.map((d) => d.message), [a[0]!, a[2]!, a[3]!, a[4]!]));
    expect(docs[0]).toMatchObject({ app: 'legacy', pod: 'p-1', file });
    expect(Number.isNaN(Date.parse(docs[0]['@timestamp']))).toBe(false);
    await eventually(async () => {
      const dl = (await readFile(join(shipper!.ctx.dataDir, 'dead-letter.ndjson'), 'utf8')).trim().split('\n').map((x) => JSON.parse(x));
      expect(dl.map((d) => d.event.message)).toEqual([a[1]]);
    });
    expect(call).toBe(2);
  });

  it('syslog: RFC 5424 with octet counting (byte lengths, structured data escaped), multiline intact', async () => {
    const frames: string[] = [];
    let buf = Buffer.alloc(0);
    const server = net.createServer((s) =>
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const sp = buf.indexOf(0x20);
          if (sp < 0) break;
          const len = Number(buf.toString('ascii', 0, sp));
          if (buf.length < sp + 1 + len) break;
          frames.push(buf.toString('utf8', sp + 1, sp + 1 + len));
          buf = buf.subarray(sp + 1 + len);
        }
      }),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => void server.close());
    const weird = join(dir.path, 'we"ird].log');
    await writeLines(weird, ['héllo wörld ✓', '2026-01-01 start', '  continued', 'héllo again ✓ 😀']);
    shipper = await startShipper({
      include: [join(dir.path, '*.log')],
      labels: { app: 'legacy' },
      multiline: { start: '^(\\d{4}|h)', timeout: '100ms' },
      sink: { type: 'syslog', address: `127.0.0.1:${(server.address() as AddressInfo).port}`, hostname: 'pod-1', appName: 'legacy-app', facility: 1, severity: 5 },
    });
    await eventually(() => expect(frames).toHaveLength(3));
    const re = /^<13>1 (\S+) pod-1 legacy-app - - \[sidekick@32473 file="([^"\\]|\\.)*" app="legacy"(?: flags="[a-z_,]+")?\] (.*)$/s;
    for (const f of frames) expect(f).toMatch(re);
    expect(frames[0]).toContain('file="' + weird.replace(/["\]\\]/g, '\\$&') + '"');
    expect(re.exec(frames[0]!)![3]).toBe('héllo wörld ✓');
    expect(re.exec(frames[1]!)![3]).toBe('2026-01-01 start\n  continued');
    expect(re.exec(frames[2]!)![3]).toBe('héllo again ✓ 😀');
    expect(Number.isNaN(Date.parse(re.exec(frames[0]!)![1]!))).toBe(false);
  });

  it('syslog: plain lines go out byte for byte with MSG-LEN counting bytes', async () => {
    let raw = Buffer.alloc(0);
    const server = net.createServer((s) => s.on('data', (d: Buffer) => (raw = Buffer.concat([raw, d]))));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => void server.close());
    const a = ['héllo ✓ 😀 日本', 'plain ascii "quoted"', 'x'];
    await writeLines(file, a);
    shipper = await start({ type: 'syslog', address: `127.0.0.1:${(server.address() as AddressInfo).port}` });
    const frames = () => {
      const out: string[] = [];
      let pos = 0;
      while (pos < raw.length) {
        const sp = raw.indexOf(0x20, pos);
        const len = Number(raw.toString('ascii', pos, sp));
        if (sp + 1 + len > raw.length) break;
        out.push(raw.toString('utf8', sp + 1, sp + 1 + len));
        pos = sp + 1 + len;
      }
      return out;
    };
    await eventually(() => expect(frames()).toHaveLength(3));
    expect(frames().map((f) => f.slice(f.indexOf('] ') + 2))).toEqual(a);
  });

  it('syslog over TLS (RFC 5425): verifies the server certificate against the configured CA', async () => {
    const key = join(dir.path, 'key.pem');
    const cert = join(dir.path, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=syslog.test', '-addext', 'subjectAltName=DNS:syslog.test', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    let text = '';
    const server = tls.createServer({ key: await readFile(key), cert: await readFile(cert) }, (s) => s.on('data', (d: Buffer) => (text += d.toString())));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => void server.close());
    const port = (server.address() as AddressInfo).port;
    const a = lines('a', 50);
    await writeLines(file, a);
    shipper = await start({ type: 'syslog', address: `127.0.0.1:${port}`, tls: { ca: join(dir.path, 'cert.pem'), serverName: 'syslog.test' } });
    await eventually(() => expectAllOnce(a.filter((l) => text.includes(`] ${l}`)), a));
    await shipper.stop();
    // A server the CA does not vouch for is never sent anything.
    text = '';
    shipper = await start({ type: 'syslog', address: `127.0.0.1:${port}`, tls: { serverName: 'syslog.test' } });
    await eventually(() => expect((shipper!.instance.health!().details as any).lastError?.message).toMatch(/self.signed|certificate/i));
    expect(text).toBe('');
  });

  it('syslog: a real rsyslog server receives every line (octet-counted RFC 5424 over TCP)', async () => {
    const out = join(dir.path, 'rsyslog-out.txt');
    const rs = await startRsyslog(
      dir.path,
      `template(name="t" type="string" string="%hostname%|%app-name%|%structured-data%|%msg%\\n")\n*.* action(type="omfile" file="${out}" template="t")`,
    );
    closers.push(() => rs.stop());
    const a = lines('a', 2000);
    await writeLines(file, a);
    shipper = await start({ type: 'syslog', address: `127.0.0.1:${rs.port}`, hostname: 'pod-9', appName: 'legacy' });
    await eventually(async () => {
      const got = (await readFile(out, 'utf8').catch(() => '')).split('\n').filter(Boolean);
      expect(got).toHaveLength(a.length);
      const parts = got.map((l) => l.split('|'));
      expect(parts[0]!.slice(0, 3)).toEqual(['pod-9', 'legacy', `[sidekick@32473 file="${file}" app="legacy" pod="p-1"]`]);
      expectAllOnce(parts.map((p) => p[3]!), a);
    }, 400);
  });

  it('syslog: a 250 KB line to a stock rsyslog (8096-byte limit) goes in flagged pieces, and the lines after it still arrive', async () => {
    // Before maxMessageSize, the oversized frame broke rsyslog's octet-counted framing and every later message was lost.
    // Stock rsyslog (imtcp, maxMessageSize "8k") takes 8096 bytes and cuts anything longer, sending the rest as an
    // empty message: the default 8096 keeps every piece whole (8192, RFC 5425's SHOULD, loses 96 bytes a piece).
    const out = join(dir.path, 'rsyslog-out.txt');
    const rs = await startRsyslog(dir.path, `template(name="t" type="string" string="%structured-data%|%msg%\\n")\n*.* action(type="omfile" file="${out}" template="t")`);
    closers.push(() => rs.stop());
    const long = Array.from({ length: 250_000 / 10 }, (_, i) => `${String(i).padStart(8, '0')}é`).join('');
    const before = lines('before', 50);
    const after = lines('after', 2000);
    await writeLines(file, [...before, long, ...after]);
    shipper = await start({ type: 'syslog', address: `127.0.0.1:${rs.port}` }, { maxLineSize: '1MiB', readBufferSize: '1MiB' });
    const got = async () => (await readFile(out, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => ({ sd: l.slice(0, l.indexOf('|')), msg: l.slice(l.indexOf('|') + 1) }));
    await eventually(async () => expectAllOnce((await got()).filter((g) => !g.sd.includes('split')).map((g) => g.msg), [...before, ...after]), 400);
    const pieces = (await got()).filter((g) => g.sd.includes('flags="split"'));
    expect(pieces.length).toBeGreaterThan(30);
    expect(pieces.map((p) => p.msg).join('')).toBe(long);
    for (const p of pieces) expect(Buffer.byteLength(p.msg)).toBeLessThan(8096);
  }, 60_000);

  it('syslog: maxMessageSize bounds every frame (UTF-8 never cut in half), a short line is untouched', async () => {
    let raw = Buffer.alloc(0);
    const server = net.createServer((s) => s.on('data', (d: Buffer) => (raw = Buffer.concat([raw, d]))));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => void server.close());
    const long = '😀é'.repeat(700);
    await writeLines(file, ['short', long]);
    shipper = await start({ type: 'syslog', address: `127.0.0.1:${(server.address() as AddressInfo).port}`, maxMessageSize: 480 });
    const frames = () => {
      const out: Buffer[] = [];
      let pos = 0;
      while (pos < raw.length) {
        const sp = raw.indexOf(0x20, pos);
        const len = Number(raw.toString('ascii', pos, sp));
        if (sp + 1 + len > raw.length) break;
        out.push(raw.subarray(sp + 1, sp + 1 + len));
        pos = sp + 1 + len;
      }
      return out;
    };
    await eventually(() => expect(frames().map((f) => f.toString('utf8')).filter((f) => f.includes('split')).map((f) => f.slice(f.indexOf('] ') + 2)).join('')).toBe(long));
    const all = frames();
    expect(all[0]!.toString().endsWith('] short')).toBe(true);
    expect(all[0]!.toString()).not.toContain('flags=');
    for (const f of all) {
      expect(f.length).toBeLessThanOrEqual(480);
      expect(f.toString('utf8')).not.toContain('\uFFFD');
    }
  });

  it('forward: PackedForward with EventTime and chunk id; no ack within the timeout means resend of the same chunk', async () => {
    const received: Array<{ tag: string; entries: any[]; option: any }> = [];
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      const conn = connections;
      const decoder = new Decoder({ useBigInt64: false });
      let pending = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        pending = Buffer.concat([pending, d]);
        let msgs: unknown[];
        try {
          msgs = [...decoder.decodeMulti(pending)];
          pending = Buffer.alloc(0);
        } catch {
          return; // incomplete: wait for more
        }
        for (const m of msgs as any[]) {
          const [tag, bin, option] = m;
          const entries = [...new Decoder().decodeMulti(option.compressed === 'gzip' ? gunzipSync(bin) : bin)];
          received.push({ tag, entries, option });
          // The first connection swallows the chunk without acking: the sink must resend.
          if (conn > 1) s.write(Buffer.from([0x81, 0xa3, ...Buffer.from('ack'), 0xd9, option.chunk.length, ...Buffer.from(option.chunk)]));
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => {
      server.close();
    });
    const a = lines('a', 20);
    await writeLines(file, a);
    shipper = await start({ type: 'forward', address: `127.0.0.1:${(server.address() as AddressInfo).port}`, tag: 'app.logs', ackTimeout: '300ms', gzip: true });
    await eventually(() => expect(received.length).toBeGreaterThanOrEqual(2));
    const [first, second] = received;
    expect(second!.option.chunk).toBe(first!.option.chunk);
    expect(Buffer.from(first!.option.chunk, 'base64')).toHaveLength(16);
    expect(first!.option.size).toBe(20);
    expect(first!.tag).toBe('app.logs');
    const [time, record] = second!.entries[0];
    // EventTime: ext type 0 with 8 bytes (uint32 seconds, uint32 nanoseconds).
    expect(time.type).toBe(0);
    expect(time.data).toHaveLength(8);
    expect(Buffer.from(time.data).readUInt32BE(0)).toBeGreaterThan(1_700_000_000);
    expect(record).toMatchObject({ app: 'legacy', pod: 'p-1', file, message: a[0] });
    expectAllOnce(second!.entries.map((e: any) => e[1].message), a);
    await eventually(() => expect((shipper!.instance.health!().details as any).pendingBatches).toBe(0));
  });

  it('forward: a server that hangs up before acking gets the chunk again on a new connection', async () => {
    const chunks: string[] = [];
    let connections = 0;
    const server = net.createServer((s) => {
      const conn = ++connections;
      const decoder = new Decoder();
      let pending = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        pending = Buffer.concat([pending, d]);
        let msgs: any[];
        try {
          msgs = [...decoder.decodeMulti(pending)] as any[];
          pending = Buffer.alloc(0);
        } catch {
          return;
        }
        for (const [, , option] of msgs) {
          chunks.push(option.chunk);
          if (conn === 1) s.destroy();
          else s.write(Buffer.from([0x81, 0xa3, ...Buffer.from('ack'), 0xd9, option.chunk.length, ...Buffer.from(option.chunk)]));
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => void server.close());
    await writeLines(file, ['only line']);
    // ackTimeout is long: the resend must come from noticing the hang-up, not from the timeout.
    shipper = await start({ type: 'forward', address: `127.0.0.1:${(server.address() as AddressInfo).port}`, ackTimeout: '1h' });
    await eventually(() => expect(chunks).toHaveLength(2));
    expect(chunks[1]).toBe(chunks[0]);
    await eventually(() => expect((shipper!.instance.health!().details as any).pendingBatches).toBe(0));
  });

  it('s3: gzip NDJSON objects with the key template, through the real AWS SDK to s3rver', async () => {
    // s3rver ships no types: a computed specifier keeps tsc from asking for them.
    const S3RVER: string = 's3rver';
    const { default: S3rver } = await import(S3RVER);
    const s3dir = await tempDir();
    const s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: s3dir.path, silent: true, configureBuckets: [{ name: 'logs', configs: [] }] } as any);
    const addr = (await s3.run()) as AddressInfo;
    closers.push(async () => {
      await s3.close();
      await s3dir.cleanup();
    });
    const endpoint = `http://127.0.0.1:${addr.port}`;
    const a = lines('a', 3000);
    await writeLines(file, a);
    const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
    shipper = await start({ type: 's3', bucket: 'logs', endpoint, credentials, key: 'app/{yyyy}/{instance}-{seq}.ndjson.gz', maxObjectSize: '64KiB', maxObjectAge: '200ms' });
    const { S3Client, ListObjectsV2Command, GetObjectCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials });
    closers.push(() => client.destroy());
    const read = async () => {
      const list = await client.send(new ListObjectsV2Command({ Bucket: 'logs' }));
      const keys = (list.Contents ?? []).map((c) => c.Key!).sort();
      const out: any[] = [];
      for (const k of keys) {
        const obj = await client.send(new GetObjectCommand({ Bucket: 'logs', Key: k }));
        const bytes = Buffer.from(await obj.Body!.transformToByteArray());
        for (const l of gunzipSync(bytes).toString().split('\n')) if (l) out.push(JSON.parse(l));
      }
      return { keys, out };
    };
    await eventually(async () => expectAllOnce((await read()).out.map((r) => r.message), a), 200, 100);
    const { keys } = await read();
    expect(keys.length).toBeGreaterThan(1); // rolled by size
    expect(keys[0]).toMatch(new RegExp(`^app/${new Date().getUTCFullYear()}/logs-\\d{6}\\.ndjson\\.gz$`));
  });

  it('file sink: NDJSON appended to a local file', async () => {
    const out = join(dir.path, 'out.ndjson');
    const a = lines('a', 100);
    await writeLines(file, a);
    shipper = await start({ type: 'file', path: out });
    await eventually(async () => {
      const got = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(got.map((g) => g.message)).toEqual(a);
    });
  });

  it('file sink: a record cut off by a kill is ended, so the records after it are whole lines', async () => {
    const out = join(dir.path, 'out.ndjson');
    const whole = '{"timestamp":"2026-12-01T00:00:00.000Z","file":"/x","message":"old"}';
    await writeFile(out, `${whole}\n{"timestamp":"2026-12-01T00:00:01.000Z","fi`);
    const a = lines('a', 10);
    await writeLines(file, a);
    shipper = await start({ type: 'file', path: out });
    await eventually(async () => {
      const got = (await readFile(out, 'utf8')).trim().split('\n');
      expect(got).toHaveLength(12);
      expect(got[0]).toBe(whole);
      expect(got.slice(2).map((l) => JSON.parse(l).message)).toEqual(a);
    });
  });
});
