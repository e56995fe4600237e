import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Receiver as R, Receiver, type Shipper, eventually, expectAllOnce, lines, startShipper, tempDir, writeLines } from './helpers.ts';

describe('log-shipper tailing', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let rx: R;
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

  const start = (extra: Record<string, unknown> = {}) =>
    startShipper({ include: [join(dir.path, '*.log')], sink: { type: 'http', url: rx.url }, ...extra });

  it('ships lines written before start and after, in order, with file, labels and timestamp', async () => {
    const file = join(dir.path, 'app.log');
    const before = lines('before', 50);
    await writeLines(file, before);
    process.env.LS_TEST_POD = 'pod-7';
    shipper = await start({ labels: { app: 'legacy', pod: 'pod-7' } });
    const after = lines('after', 50);
    await writeLines(file, after);
    await eventually(() => expectAllOnce(rx.messages(), [...before, ...after]));
    expect(rx.messages()).toEqual([...before, ...after]);
    const r = rx.records[0]!;
    expect(r.file).toBe(file);
    expect(r.app).toBe('legacy');
    expect(r.pod).toBe('pod-7');
    expect(Number.isNaN(Date.parse(r.timestamp))).toBe(false);
  });

  it('tails files whose names have a backslash (x\\y.log), present at start and created later', async () => {
    // The watcher hands its ignore filter the name with "\\" turned into "/": such files were never tailed, with no error.
    const before = join(dir.path, 'x\\y.log');
    const a = lines('a', 20);
    await writeLines(before, a);
    shipper = await start();
    const later = join(dir.path, 'new\\one.log');
    const b = lines('b', 20);
    await writeLines(later, b);
    const c = lines('c', 20);
    await writeLines(before, c);
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b, ...c]));
    expect(rx.messages(before)).toEqual([...a, ...c]);
    expect(rx.messages(later)).toEqual(b);
  });

  it('waits for the newline of a partial last line, then emits it flagged after the timeout', async () => {
    const file = join(dir.path, 'app.log');
    shipper = await start({ partialLineTimeout: '10s' });
    await appendFile(file, 'complete one\nhalf of a li');
    await eventually(() => expect(rx.messages()).toEqual(['complete one']));
    await appendFile(file, 'ne\n');
    await eventually(() => expect(rx.messages()).toEqual(['complete one', 'half of a line']));
    await shipper.stop();
    shipper = await start({ partialLineTimeout: '100ms' });
    await appendFile(file, 'no newline ever');
    await eventually(() => expect(rx.records.at(-1)).toMatchObject({ message: 'no newline ever', flags: ['partial'] }));
  });

  it('splits a line longer than maxLineSize into flagged pieces that add up to the line, and ships a 1 MiB line whole when allowed', async () => {
    const file = join(dir.path, 'app.log');
    const big = Array.from({ length: 1024 * 1024 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    const euro = '€'.repeat(100_000); // 3-byte characters: pieces must not cut one in half
    await writeLines(file, ['short', big, euro, 'after']);
    shipper = await start({ maxLineSize: '256KiB' });
    await eventually(() => expect(rx.messages().at(-1)).toBe('after'));
    const msgs = rx.records.map((r) => r as { message: string; flags?: string[] });
    const split = msgs.filter((m) => m.flags?.includes('split'));
    expect(split.length).toBeGreaterThanOrEqual(5);
    const joined = msgs.slice(1, -1).map((m) => m.message).join('');
    expect(joined).toBe(big + euro);
    expect(joined.includes('\uFFFD')).toBe(false);
    await shipper.stop();

    const file2 = join(dir.path, 'whole.log');
    rx.records.length = 0;
    shipper = await start({ include: [file2], maxLineSize: '2MiB', readBufferSize: '4MiB' });
    await writeLines(file2, [big]);
    await eventually(() => expect(rx.messages()).toEqual([big]));
    expect(rx.records[0]!.flags).toBeUndefined();
  });

  it('escapes quotes, backslashes, tabs, control characters and keeps UTF-8 when encoding straight from bytes', async () => {
    const file = join(dir.path, 'app.log');
    const tricky = ['say "hi" \\ back\\slash', 'tab\there', 'ctl \u0001\u001f\u007f end', 'héllo wörld ✓ 日本語 😀', '{"looks":"like json"}', 'trailing cr'];
    await writeFile(file, tricky.slice(0, -1).join('\n') + '\ntrailing cr\r\n');
    shipper = await start();
    await eventually(() => expect(rx.messages()).toEqual(tricky));
    for (const r of rx.records) expect(r.flags).toBeUndefined();
  });

  it('keeps invalid UTF-8 safely (replaced and flagged) and real U+FFFD unflagged', async () => {
    const file = join(dir.path, 'app.log');
    await writeFile(file, Buffer.concat([Buffer.from('bad \xff\xfe bytes', 'latin1'), Buffer.from('\nreal \uFFFD char\nok\n')]));
    shipper = await start();
    await eventually(() => expect(rx.records).toHaveLength(3));
    expect(rx.records[0]).toMatchObject({ message: 'bad \uFFFD\uFFFD bytes', flags: ['invalid_utf8'] });
    expect(rx.records[1]).toMatchObject({ message: 'real \uFFFD char' });
    expect(rx.records[1]!.flags).toBeUndefined();
    expect(rx.records[2]!.message).toBe('ok');
  });

  it('joins multiline stack traces by the start pattern and flushes the last one after the timeout', async () => {
    const file = join(dir.path, 'app.log');
    const e1 = ['2026-11-24 12:00:00 ERROR boom', 'java.lang.RuntimeException: x', '\tat a.b(C.java:1)', '\tat d.e(F.java:2)'];
    const e2 = ['2026-11-24 12:00:01 INFO fine'];
    const e3 = ['2026-11-24 12:00:02 ERROR again', '\tat g.h(I.java:3)'];
    await writeLines(file, [...e1, ...e2, ...e3]);
    shipper = await start({ multiline: { start: '^\\d{4}-\\d{2}-\\d{2}', timeout: '200ms' } });
    await eventually(() => expect(rx.messages()).toEqual([e1.join('\n'), e2.join('\n'), e3.join('\n')]));
    expect(rx.records[0]!.flags).toEqual(['multiline']);
  });

  it('parses json and regex lines into fields, keeping lines that do not parse', async () => {
    const file = join(dir.path, 'app.log');
    await writeLines(file, ['{"level":"warn","user":{"id":7}}', 'not json']);
    shipper = await start({ parse: 'json' });
    await eventually(() => expect(rx.records).toHaveLength(2));
    expect(rx.records[0]).toMatchObject({ level: 'warn', user: { id: 7 }, message: '{"level":"warn","user":{"id":7}}' });
    expect(rx.records[1]).toMatchObject({ message: 'not json' });
    await shipper.stop();
    rx.records.length = 0;
    const f2 = join(dir.path, 'access.log');
    shipper = await start({ include: [f2], parse: 'regex', regex: '^(?<method>[A-Z]+) (?<path>\\S+) (?<status>\\d+)$' });
    await writeLines(f2, ['GET /x 200', 'garbage']);
    await eventually(() => expect(rx.records).toHaveLength(2));
    expect(rx.records[0]).toMatchObject({ method: 'GET', path: '/x', status: '200' });
    expect(rx.records[1]!.method).toBeUndefined();
  });

  it('tails many small files and files with identical first lines, each line exactly once', async () => {
    const expected: string[] = [];
    for (let i = 0; i < 40; i++) {
      const l = ['same header line', `file ${i} body`];
      await writeLines(join(dir.path, `f${i}.log`), l);
      expected.push(...l);
    }
    shipper = await start();
    await eventually(() => expect(rx.messages()).toHaveLength(80));
    for (let i = 0; i < 40; i++) {
      expect(rx.messages(join(dir.path, `f${i}.log`))).toEqual(['same header line', `file ${i} body`]);
    }
    // New files appearing later, again with the same first line.
    for (let i = 40; i < 60; i++) await writeLines(join(dir.path, `f${i}.log`), ['same header line', `file ${i} body`]);
    await eventually(() => expect(rx.messages()).toHaveLength(120));
    for (let i = 40; i < 60; i++) expect(rx.messages(join(dir.path, `f${i}.log`))).toEqual(['same header line', `file ${i} body`]);
  });

  it('readFrom: end skips what a file held at start, but never the lines of files that appear later', async () => {
    await writeLines(join(dir.path, 'old.log'), ['old 1', 'old 2']);
    shipper = await start({ readFrom: 'end' });
    await writeLines(join(dir.path, 'old.log'), ['old 3']);
    await writeLines(join(dir.path, 'new.log'), ['new 1']);
    await eventually(() => expect(rx.messages().sort()).toEqual(['new 1', 'old 3']));
  });

  it('counts bytes, lines, events and batches in its metrics', async () => {
    const a = lines('a', 10);
    await writeLines(join(dir.path, 'app.log'), a);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), a));
    const bytes = a.reduce((n, l) => n + l.length + 1, 0);
    await eventually(async () => {
      const text = await shipper!.ctx.metricsRegistry.metrics();
      expect(text).toContain(`sidekick_log_shipper_read_bytes_total{instance="logs"} ${bytes}`);
      expect(text).toContain('sidekick_log_shipper_read_lines_total{instance="logs"} 10');
      expect(text).toContain('sidekick_log_shipper_events_sent_total{instance="logs"} 10');
      expect(text).toMatch(/sidekick_log_shipper_batches_total\{instance="logs",result="acknowledged"\} [1-9]/);
      expect(text).toContain('sidekick_log_shipper_files_tracked{instance="logs"} 1');
      expect(text).toContain(`sidekick_log_shipper_file_lag_bytes{instance="logs",file="${join(dir.path, 'app.log')}"} 0`);
    });
  });

  it('picks up files in a log directory that does not exist yet at start', async () => {
    const logs = join(dir.path, 'later', 'logs');
    shipper = await start({ include: [join(logs, '*.log')] });
    await mkdir(logs, { recursive: true });
    await writeLines(join(logs, 'a.log'), ['late 1', 'late 2']);
    await eventually(() => expect(rx.messages()).toEqual(['late 1', 'late 2']));
  });

  it('honours exclude globs and reports files in health details', async () => {
    await writeLines(join(dir.path, 'a.log'), ['a']);
    await writeLines(join(dir.path, 'b.log'), ['b']);
    shipper = await start({ exclude: [join(dir.path, 'b.*')] });
    await eventually(() => expect(rx.messages()).toEqual(['a']));
    await eventually(() => {
      const h = shipper!.instance.health!();
      expect(h.ready).toBe(true);
      const files = h.details!.files as Array<{ path: string; ackedOffset: number; lag: number }>;
      expect(files.map((f) => f.path)).toEqual([join(dir.path, 'a.log')]);
      expect(files[0]!).toMatchObject({ ackedOffset: 2, lag: 0 });
    });
  });
});
