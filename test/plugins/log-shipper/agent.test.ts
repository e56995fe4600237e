// The real agent process from a config file: kill -9 at random moments while the app writes
// fast and rotates (nothing lost), the stdout sink of the demo, and config errors naming the key.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentProcess, spawnAgent, startAgent } from '../../helpers/agent-process.ts';
import { Receiver, eventually, expectAllOnce, tempDir, writeLines } from './helpers.ts';

const WRITER = resolve(import.meta.dirname, 'fixtures/fast-writer.mjs');

describe('log-shipper in the real agent', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let agent: AgentProcess | undefined;

  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await agent?.stop('SIGKILL');
    agent = undefined;
    await dir.cleanup();
  });

  const config = (sink: string, extra = '') => `admin: { listen: 127.0.0.1:0 }
dataDir: ${dir.path}/data
shutdownTimeout: 5s
plugins:
  logs:
    type: log-shipper
    include: ["${dir.path}/logs/*.log"]
    pollInterval: 50ms
    rotateWait: 1s
    batch: { maxEvents: 500, maxWait: 20ms }
    retry: { initialDelay: 50ms, maxDelay: 500ms }
${extra}    sink: ${sink}
`;

  it('kill -9 at random moments while the app writes fast and rotates: every line arrives', async () => {
    const rx = await new Receiver().listen();
    try {
      const logs = join(dir.path, 'logs');
      await writeLines(join(logs, '.keep'), []).catch(async () => {
        const { mkdir } = await import('node:fs/promises');
        await mkdir(logs, { recursive: true });
      });
      const total = 40_000;
      // A small buffer bounds what can be unacknowledged when the process dies.
      const yaml = config(`{ type: http, url: "${rx.url}" }`, '    buffer: 64KiB\n    readBufferSize: 64KiB\n    maxLineSize: 64KiB\n');
      // The first agent knows the app's file before the first kill: a file created and rotated away
      // before any agent ever saw it is no file the shipper can know of (on a busy machine an agent
      // takes seconds to start). A line received means the file was checkpointed (before its first read).
      agent = await startAgent(dir.path, yaml);
      const writer = spawn(process.execPath, [WRITER, join(logs, 'app.log'), String(total), '10000'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const writerDone = once(writer, 'exit');
      await eventually(() => expect(rx.messages().length).toBeGreaterThan(0), 400);
      for (let i = 0; i < 8; i++) {
        if (i > 0) agent = await startAgent(dir.path, yaml);
        await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 300)));
        await agent.stop('SIGKILL');
      }
      // A file created and rotated away while no agent runs at all can be found by nobody: keep one running now.
      agent = await startAgent(dir.path, yaml);
      await writerDone;
      const expected = Array.from({ length: total }, (_, j) => `app line ${String(j).padStart(7, '0')} ${'y'.repeat(60)}`);
      try {
        await eventually(() => expectAllOnce(rx.messages(), expected, { allowDuplicates: true }), 100, 100);
      } catch (e) {
        const got = new Set(rx.messages());
        const missing = expected.filter((x) => !got.has(x)).map((x) => Number(x.split(' ')[2]));
        console.log('DEBUG', rx.messages().length, missing.length, missing.slice(0, 5), missing.slice(-5), JSON.stringify(agent.logs.filter((l) => l.level >= 40 || /rotat|lost|truncat/.test(l.msg ?? '')).slice(0, 20)));
        throw e;
      }
      // Duplicates are limited to what was unacknowledged when the process died: per kill at most
      // the buffer plus one read (64 KiB + 64 KiB of ~80-byte lines, encoded) and one batch acknowledged
      // but not yet checkpointed.
      const perKill = Math.ceil((64 * 1024 + 64 * 1024) / 80) + 500;
      expect(rx.messages().length - total).toBeLessThanOrEqual(8 * perKill);
    } finally {
      await rx.close();
    }
  }, 90_000);

  it('a reload with a changed config hands over at the checkpoint: nothing lost, nothing twice', async () => {
    const rx = await new Receiver().listen();
    try {
      const { mkdir, writeFile } = await import('node:fs/promises');
      const logs = join(dir.path, 'logs');
      await mkdir(logs, { recursive: true });
      const file = join(logs, 'app.log');
      const a = Array.from({ length: 300 }, (_, i) => `first ${i}`);
      await writeLines(file, a);
      agent = await startAgent(dir.path, config(`{ type: http, url: "${rx.url}" }`, '    labels: { v: "1" }\n'));
      await eventually(() => expectAllOnce(rx.messages(), a));
      await writeFile(join(dir.path, 'sidekick.yaml'), config(`{ type: http, url: "${rx.url}" }`, '    labels: { v: "2" }\n'));
      agent.child.kill('SIGHUP');
      await agent.waitForLog((l) => l.msg === 'log-shipper tailing' && agent!.logs.filter((x) => x.msg === 'log-shipper tailing').length >= 2);
      const b = Array.from({ length: 300 }, (_, i) => `second ${i}`);
      await writeLines(file, b);
      await eventually(() => expectAllOnce(rx.messages(), [...a, ...b]));
      expect(rx.records.filter((r) => r.message.startsWith('second')).every((r) => r.v === '2')).toBe(true);
    } finally {
      await rx.close();
    }
  });

  it('ships to the stdout sink (the demo setup) and reports files in /status', async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir.path, 'logs'), { recursive: true });
    await writeLines(join(dir.path, 'logs', 'access.log'), ['GET / 200', 'GET /x 404']);
    agent = await startAgent(dir.path, config('{ type: stdout }', '    labels: { app: demo }\n'));
    const got = await agent.waitForLog((l) => l.message === 'GET /x 404');
    expect(got).toMatchObject({ app: 'demo', file: join(dir.path, 'logs', 'access.log') });
    await eventually(async () => {
      const status = await agent!.status();
      const details = JSON.stringify(status);
      expect(details).toContain('access.log');
    });
  });

  it('rejects a bad config with an error naming the key', async () => {
    const file = join(dir.path, 'sidekick.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, config('{ type: http, url: "not a url" }', '    parse: regex\n    bogus: 1\n'));
    const v = await spawnAgent(['validate', '--config', file], { waitReady: false });
    const code = await v.exited;
    expect(code).toBe(78);
    const out = v.stderr() + JSON.stringify(v.logs);
    expect(out).toMatch(/plugins\.logs\.sink\.url/);
    expect(out).toMatch(/bogus/);
  });
});
