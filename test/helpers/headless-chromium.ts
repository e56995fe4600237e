// Debian's chromium, headless, driven over the DevTools protocol with Node's own WebSocket: load
// a page, evaluate an expression in it, and collect what the browser logged (CSP refusals, errors).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export interface PageVisit<T> {
  value: T;
  /** Log.entryAdded and console messages, as text. */
  logs: string[];
}

export async function visit<T>(url: string, expression: string, timeoutMs = 60_000): Promise<PageVisit<T>> {
  const profile = await mkdtemp(join(tmpdir(), 'sidekick-chromium-'));
  const browser = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    // Its own process group, so that cleaning up reaches the renderer and helper processes too.
    detached: true,
  });
  const exited = new Promise((r) => browser.once('exit', r));
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    const wsUrl = await new Promise<string>((res, rej) => {
      let err = '';
      browser.once('error', rej);
      browser.once('exit', (code) => rej(new Error(`${CHROMIUM} exited (${code}) before listening: ${err.slice(-500)}`)));
      deadline.addEventListener('abort', () => rej(new Error(`${CHROMIUM} did not start in time`)));
      browser.stderr!.setEncoding('utf8').on('data', (c: string) => {
        err += c;
        const m = /DevTools listening on (ws:\S+)/.exec(err);
        if (m) res(m[1]!);
      });
    });
    const ws = new WebSocket(wsUrl);
    await new Promise((r, j) => (ws.addEventListener('open', r), ws.addEventListener('error', j)));
    let next = 0;
    const pending = new Map<number, (m: any) => void>();
    const waiters: Array<{ method: string; resolve: () => void }> = [];
    const logs: string[] = [];
    ws.addEventListener('message', (e) => {
      const m = JSON.parse(String(e.data));
      if (m.id !== undefined) return pending.get(m.id)?.(m);
      if (m.method === 'Log.entryAdded') logs.push(`${m.params.entry.level}: ${m.params.entry.text}`);
      if (m.method === 'Runtime.consoleAPICalled') logs.push(`console.${m.params.type}: ${m.params.args.map((a: any) => a.value).join(' ')}`);
      for (const w of waiters.filter((x) => x.method === m.method)) w.resolve();
    });
    const send = (method: string, params: object = {}, sessionId?: string) =>
      new Promise<any>((res, rej) => {
        const id = ++next;
        pending.set(id, (m) => (m.error ? rej(new Error(`${method}: ${m.error.message}`)) : res(m.result)));
        ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      });
    const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
    for (const domain of ['Log', 'Page', 'Runtime']) await send(`${domain}.enable`, {}, sessionId);
    const loaded = new Promise<void>((resolve) => waiters.push({ method: 'Page.loadEventFired', resolve }));
    await send('Page.navigate', { url }, sessionId);
    await loaded;
    const { result } = await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId);
    ws.close();
    return { value: result.value as T, logs };
  } finally {
    // The whole group: a helper still writing to the profile made its removal fail (CI, ENOTEMPTY).
    try {
      process.kill(-browser.pid!, 'SIGKILL');
    } catch {
      browser.kill('SIGKILL');
    }
    await exited;
    // A helper dying a moment after the main process may still be closing its files: retried.
    await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}
