// The shipper's own state files after a crash or a bad disk: the dead-letter file and the
// checkpoint file. A state written only after a success must survive its write failing or
// being cut short, and a broken state file is reported and recovered from, never fatal.
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Receiver, type Shipper, eventually, expectAllOnce, lines, startShipper, tempDir, writeLines } from './helpers.ts';

describe('log-shipper state files', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let dataDir: { path: string; cleanup: () => Promise<void> };
  let rx: Receiver;
  let shipper: Shipper | undefined;
  let file: string;

  beforeEach(async () => {
    dir = await tempDir();
    dataDir = await tempDir();
    rx = await new Receiver().listen();
    rx.respond = (req) => (req.body.includes('poison') ? { status: 400, body: 'bad event' } : { status: 200 });
    file = join(dir.path, 'app.log');
  });
  afterEach(async () => {
    await shipper?.stop();
    shipper = undefined;
    await rx.close();
    await dir.cleanup();
    await dataDir.cleanup();
  });

  const start = (extra: Record<string, unknown> = {}) =>
    startShipper({ include: [join(dir.path, '*.log')], sink: { type: 'http', url: rx.url }, batch: { maxEvents: 5, maxWait: '20ms' }, ...extra }, { dataDir: dataDir.path });

  const deadLetters = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter(Boolean);

  it('a dead-letter file that cannot be written keeps the batch unacknowledged and retries, then delivery goes on', async () => {
    const dlDir = join(dir.path, 'not-yet');
    const dl = join(dlDir, 'dead.ndjson');
    shipper = await start({ deadLetterFile: dl });
    await writeLines(file, ['poison 1', 'poison 2']);
    await eventually(() => expect((shipper!.instance.health!().details as any).lastError?.message).toMatch(/cannot write the dead-letter file/));
    // Not acknowledged while the rejected events are nowhere durable.
    expect((shipper.instance.health!().details as any).files[0].ackedOffset).toBe(0);
    await mkdir(dlDir);
    await eventually(async () => expect((await deadLetters(dl)).map((l) => JSON.parse(l).event.message)).toEqual(['poison 1', 'poison 2']));
    const b = lines('b', 5);
    await writeLines(file, b);
    await eventually(() => expectAllOnce(rx.messages(), b));
    expect(shipper.logs.some((l) => l.level === 50 && /dead-letter file; retrying/.test(l.msg))).toBe(true);
  });

  it('a dead-letter file cut off mid-line by a kill: the next record starts a line of its own', async () => {
    const dl = join(dataDir.path, 'dead-letter.ndjson');
    const whole = '{"deadLetteredAt":"2026-12-01T00:00:00.000Z","error":"HTTP 400","event":{"message":"old"}}';
    await writeFile(dl, `${whole}\n{"deadLetteredAt":"2026-12-01T00:00:01.000Z","err`);
    shipper = await start();
    await writeLines(file, ['poison 3']);
    await eventually(async () => expect((await deadLetters(dl)).length).toBe(3));
    const got = await deadLetters(dl);
    expect(got[0]).toBe(whole);
    expect(JSON.parse(got[2]!).event.message).toBe('poison 3');
  });

  it('a checkpoint file with malformed entries: reported, the good entries kept, the rest read from the start', async () => {
    const a = lines('a', 20);
    const other = join(dir.path, 'other.log');
    await writeLines(file, a);
    await writeLines(other, ['o1', 'o2']);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...a, 'o1', 'o2']));
    await shipper.stop();
    const cpFile = join(dataDir.path, 'checkpoints.json');
    const cp = JSON.parse(await readFile(cpFile, 'utf8'));
    const good = cp.files.find((f: any) => f.path === file);
    // other.log's entry damaged (a hand edit, a format from another version), plus an entry of no use.
    await writeFile(cpFile, JSON.stringify({ version: 1, files: [good, { ...cp.files.find((f: any) => f.path === other), offset: 'x' }, { path: null }] }));
    const b = lines('b', 5);
    await writeLines(file, b);
    rx.records.length = 0;
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...b, 'o1', 'o2']));
    expect((shipper.instance.health!().details as any).lastError.message).toMatch(/2 malformed checkpoint entries/);
    expect((await readdir(dataDir.path)).some((f) => f.startsWith('checkpoints.json.unreadable-'))).toBe(true);
  });

  it('a checkpoint that is a directory (or otherwise unreadable) is set aside, not fatal', async () => {
    await mkdir(join(dataDir.path, 'checkpoints.json'));
    const a = lines('a', 5);
    await writeLines(file, a);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), a));
    expect((shipper.instance.health!().details as any).lastError.message).toMatch(/checkpoints lost/);
    await eventually(async () => expect((await stat(join(dataDir.path, 'checkpoints.json'))).isFile()).toBe(true));
  });

  it('a kill in the middle of a checkpoint write leaves the last complete checkpoint in force', async () => {
    const a = lines('a', 20);
    await writeLines(file, a);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), a));
    await shipper.stop();
    // What a kill between the temp file's write and its rename leaves: a half-written temp file.
    await writeFile(join(dataDir.path, 'checkpoints.json.tmp'), '{"version":1,"files":[{"path":"/x","dev":1');
    const b = lines('b', 5);
    await writeLines(file, b);
    shipper = await start();
    await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]));
    expect(rx.messages()).toEqual([...a, ...b]); // nothing twice: the complete checkpoint was used
    expect((shipper.instance.health!().details as any).lastError).toBeUndefined();
  });
});
