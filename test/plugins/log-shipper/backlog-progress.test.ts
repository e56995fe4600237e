// A start with a large backlog: the shipper logs how far behind it is, how fast it catches up and
// when it will be done, at its progress interval, /status shows the same, and it says when it
// has caught up. The real agent, a real HTTP receiver that is down at first, then slow.
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent } from '../../helpers/agent-process.ts';
import { lines, tempDir, writeLines } from './helpers.ts';

describe('log-shipper backlog progress', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let agent: AgentProcess | undefined;
  let receiver: Server | undefined;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await agent?.stop('SIGKILL');
    agent = undefined;
    receiver?.closeAllConnections();
    await new Promise((r) => (receiver ? receiver.close(r) : r(undefined)));
    await dir.cleanup();
  });

  it('logs bytes behind, rate and ETA while catching up, shows them in /status, and says when done', async () => {
    let mode: 'down' | 'slow' = 'down';
    let received = 0;
    receiver = createServer((req, res) => {
      req.on('data', (c: Buffer) => (received += mode === 'slow' ? c.length : 0));
      req.on('end', () => {
        if (mode === 'down') return void res.writeHead(503).end();
        // A slow aggregator: each batch acknowledged 20 ms later, so the catch-up takes a while.
        setTimeout(() => res.writeHead(200).end(), 20);
      });
    });
    await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/ingest`;

    const logs = join(dir.path, 'logs');
    await mkdir(logs, { recursive: true });
    await writeLines(join(logs, 'app.log'), lines('backlog', 60_000)); // ~3.5 MiB
    agent = await startAgent(
      dir.path,
      `admin: { listen: 127.0.0.1:0 }
dataDir: ${dir.path}/data
plugins:
  logs:
    type: log-shipper
    include: ["${logs}/*.log"]
    buffer: 64KiB
    batch: { maxEvents: 200, maxWait: 10ms }
    retry: { initialDelay: 50ms, maxDelay: 200ms }
    progress: { interval: 200ms, minBacklog: 1MiB }
    sink: { type: http, url: "${url}" }
`,
    );

    // Receiver down: far behind, nothing acknowledged, no ETA yet.
    const stuck = await agent.waitForLog((l) => l.instance === 'logs' && /^shipping backlog/.test(l.msg ?? ''));
    expect(stuck.behindBytes).toBeGreaterThan(1024 * 1024);
    expect(stuck.etaSeconds).toBeNull();
    const status = (await agent.status()).instances.logs.details;
    expect(status.progress).toMatchObject({ behindBytes: expect.any(Number), rateBytesPerSecond: expect.any(Number) });
    expect(status.progress.behindBytes).toBeGreaterThan(1024 * 1024);

    // Receiver back, slowly: a rate and an ETA, then "caught up", and /status no longer shows progress.
    mode = 'slow';
    const moving = await agent.waitForLog((l) => l.instance === 'logs' && l.rateBytesPerSecond > 0 && typeof l.etaSeconds === 'number', 60_000);
    expect(moving.msg).toMatch(/^shipping backlog: [\d.]+ MiB behind at [\d.]+ MiB\/s, about \d+ s left$/);
    await agent.waitForLog((l) => l.instance === 'logs' && l.msg === 'backlog shipped: caught up', 60_000);
    expect((await agent.status()).instances.logs.details.progress).toBeUndefined();
    expect(received).toBeGreaterThan(3 * 1024 * 1024);
  }, 180_000);
});
