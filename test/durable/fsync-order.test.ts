// Proves, on the real agent process traced by strace, that every state file and every
// published version reaches the disk in the order that survives a power loss: the data
// fsynced, then renamed into place, then its directory fsynced. A crash of the process alone
// cannot show the difference; the order of the system calls can.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../helpers/agent-process.ts';
import { Receiver, eventually, lines, writeLines } from '../plugins/log-shipper/helpers.ts';
import { writeConfigMap } from '../plugins/config-sync/helpers.ts';

interface Call {
  kind: 'fsync' | 'rename';
  /** fsync: the file synced; rename: the new name. */
  path: string;
  from?: string;
}

/** strace -f -y output to calls, in the order they started (one agent step awaits the previous). */
function parseTrace(text: string): Call[] {
  const calls: Call[] = [];
  for (const line of text.split('\n')) {
    const sync = /^\d+\s+f(?:data)?sync\(\d+<([^>]*)>/.exec(line);
    if (sync) calls.push({ kind: 'fsync', path: sync[1]! });
    else if (/^\d+\s+rename(at2?)?\(/.test(line)) {
      const names = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
      if (names.length >= 2) calls.push({ kind: 'rename', from: names.at(-2)!, path: names.at(-1)! });
    }
  }
  return calls;
}

/** Each rename onto `file`: its temp file fsynced since the previous one, its directory fsynced after it. */
function expectDurableReplaces(calls: Call[], file: string, tmp = `${file}.tmp`): number {
  const renames = calls.flatMap((c, i) => (c.kind === 'rename' && c.path === file ? [i] : []));
  renames.forEach((at, n) => {
    const since = n === 0 ? 0 : renames[n - 1]!;
    const until = renames[n + 1] ?? calls.length;
    expect(calls[at]!.from, `rename #${n} onto ${file}`).toBe(tmp);
    expect(calls.slice(since, at).some((c) => c.kind === 'fsync' && c.path === tmp), `fsync of ${tmp} before rename #${n}`).toBe(true);
    expect(calls.slice(at + 1, until).some((c) => c.kind === 'fsync' && c.path === dirname(file)), `fsync of ${dirname(file)} after rename #${n}`).toBe(true);
  });
  return renames.length;
}

let work: { path: string; cleanup: () => Promise<void> };
let rx: Receiver;
let child: ChildProcess | undefined;
beforeEach(async () => {
  work = await tempDir('fsync-order-');
  work.path = await realpath(work.path); // strace -y prints resolved paths
  rx = await new Receiver().listen();
});
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  await rx.close();
  await work.cleanup();
});

describe('durable state files on the real agent (strace)', () => {
  it('fsyncs data, renames, then fsyncs the directory: checkpoints, dead letters, sync state, ..data', { timeout: 90_000 }, async () => {
    try {
      execFileSync('strace', ['-V'], { stdio: 'ignore' });
    } catch {
      throw new Error('strace is not installed: this test needs it to see the system calls');
    }
    const logs = join(work.path, 'logs');
    const cm = join(work.path, 'configmap');
    const target = join(work.path, 'shared/config');
    await mkdir(logs);
    await writeConfigMap(cm, { 'a.conf': 'a=1\n', 'sub/b.json': '{"n":1}' });
    // The first batch is refused for good (dead-lettered), the rest accepted.
    rx.respond = (_req, n) => ({ status: n === 1 ? 400 : 200 });
    const config = join(work.path, 'sidekick.yaml');
    await writeFile(
      config,
      `admin: { listen: 127.0.0.1:0 }
dataDir: ${work.path}/data
plugins:
  logs:
    type: log-shipper
    include: ["${logs}/*.log"]
    pollInterval: 50ms
    batch: { maxWait: 20ms }
    sink: { type: http, url: "${rx.url}" }
  app-config:
    type: config-sync
    source: { dir: { path: ${cm} } }
    target: ${target}
    interval: 50ms
`,
    );
    const trace = join(work.path, 'strace.txt');
    child = spawn('strace', ['-f', '-y', '-qq', '-o', trace, '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', process.execPath, BIN, 'run', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
    await eventually(() => expect(out).toMatch(/ ready"/), 30_000);

    const app = join(logs, 'app.log');
    await writeLines(app, lines('first', 100));
    await eventually(() => expect(rx.requests.length).toBeGreaterThan(0), 30_000);
    await writeLines(app, lines('second', 100));
    await eventually(() => expect(rx.records.length).toBe(100), 30_000);
    await eventually(async () => expect(await readFile(join(target, 'a.conf'), 'utf8')).toBe('a=1\n'), 30_000);
    await writeConfigMap(cm, { 'a.conf': 'a=2\n', 'sub/b.json': '{"n":1}' });
    await eventually(async () => expect(await readFile(join(target, 'a.conf'), 'utf8')).toBe('a=2\n'), 30_000);

    // The agent, not strace, is told to stop: strace exits when its tracee does.
    process.kill(Number(/"pid":(\d+)/.exec(out)![1]), 'SIGTERM');
    await once(child, 'exit');
    const calls = parseTrace(await readFile(trace, 'utf8'));
    const data = join(work.path, 'data');

    expect(expectDurableReplaces(calls, join(data, 'logs/checkpoints.json'))).toBeGreaterThan(1);
    expect(expectDurableReplaces(calls, join(data, 'app-config/state.json'))).toBeGreaterThan(1);

    // The dead-letter file: appended and fsynced, and its directory fsynced once it was created.
    const dl = join(data, 'logs/dead-letter.ndjson');
    const dlSync = calls.findIndex((c) => c.kind === 'fsync' && c.path === dl);
    expect(dlSync, 'fsync of the dead-letter file').toBeGreaterThanOrEqual(0);
    expect(calls.slice(dlSync).some((c) => c.kind === 'fsync' && c.path === dirname(dl))).toBe(true);

    // `..data`: every file of the new version and the target directory fsynced before the swap,
    // the target fsynced after it.
    const swaps = calls.flatMap((c, i) => (c.kind === 'rename' && c.path === join(target, '..data') ? [i] : []));
    expect(swaps.length).toBe(2);
    swaps.forEach((at, n) => {
      const before = calls.slice(n === 0 ? 0 : swaps[n - 1]!, at);
      const after = calls.slice(at + 1, swaps[n + 1] ?? calls.length);
      const isVersionFile = (c: Call, name: string) => c.kind === 'fsync' && c.path.startsWith(`${target}/..`) && c.path.endsWith(`/${name}`);
      const lastFile = Math.max(before.findLastIndex((c) => isVersionFile(c, 'a.conf')), before.findLastIndex((c) => isVersionFile(c, 'sub/b.json')));
      expect(before.some((c) => isVersionFile(c, 'a.conf')) && before.some((c) => isVersionFile(c, 'sub/b.json')), `swap #${n}: every file of the new version fsynced`).toBe(true);
      expect(before.slice(lastFile).some((c) => c.kind === 'fsync' && c.path === target), `swap #${n}: target fsynced after the files, before the swap`).toBe(true);
      expect(after.some((c) => c.kind === 'fsync' && c.path === target), `swap #${n}: target fsynced after the swap`).toBe(true);
    });
  });
});
