// Continuous load against a running terminator, for the fault tests: workers that each send one
// request after another (a new TLS connection each, a shared keep-alive pool, or an HTTP/2
// session), every request recorded with the phase the test was in when it started and ended.
// The app behind is fixtures/work-app.ts in its own process, so a test can kill and restart it.
import { type ChildProcess, spawn } from 'node:child_process';
import https from 'node:https';
import http2 from 'node:http2';
import { join } from 'node:path';

export type Kind = 'fresh' | 'keepalive' | 'h2';

export interface Outcome {
  id: string;
  kind: Kind;
  start: string;
  end: string;
  status?: number;
  body?: string;
  /** Serial of the certificate the connection was made with. */
  serial?: string;
  /** The client's error code (or message) when no complete response came. */
  error?: string;
}

export interface WorkApp {
  /** Every id the app received, in order. */
  received: Set<string>;
  /** Resolves once the app printed "got <id>". */
  got(id: string): Promise<void>;
  /** Answers the requests sent with `hold` (see `Load.one`). */
  release(): void;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const APP = join(import.meta.dirname, 'fixtures/work-app.ts');

export async function startWorkApp(port: number): Promise<WorkApp> {
  const child: ChildProcess = spawn(process.execPath, [APP, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const received = new Set<string>();
  const waiters = new Map<string, () => void>();
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const listening = new Promise<void>((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'listening') resolve();
        else if (line.startsWith('got ')) {
          const id = line.slice(4);
          received.add(id);
          waiters.get(id)?.();
        }
      }
    });
    void exited.then(() => reject(new Error(`work app exited before listening: ${err}`)));
  });
  await listening;
  return {
    received,
    got: (id) => (received.has(id) ? Promise.resolve() : new Promise((r) => waiters.set(id, r))),
    release: () => void child.stdin!.write('release\n'),
    async kill(signal = 'SIGKILL') {
      child.stdin!.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export interface Load {
  /** The phase the next requests start in; each outcome records it at start and at end. */
  phase: string;
  outcomes: Outcome[];
  /** Resolves once `done(outcomes)` holds, checked after every outcome; rejects after `limitMs`. */
  until(what: string, done: (o: Outcome[]) => boolean, limitMs?: number): Promise<void>;
  /**
   * One request outside the workers (not in `outcomes`): the app answers after `ms`, or with
   * 'hold' once released. A POST carries a body, so the proxy may not retry it.
   */
  one(kind: Kind, id: string, ms: number | 'hold', method?: 'GET' | 'POST'): Promise<Outcome>;
  /** Stops the workers after their current request and closes their connections. */
  stop(): Promise<void>;
}

export interface LoadOptions {
  workers: Partial<Record<Kind, number>>;
  /** How long the app takes per request, in ms. */
  appMs: () => number;
}

export function startLoad(port: number, opts: LoadOptions): Load {
  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false, maxSockets: opts.workers.keepalive ?? 1 });
  const sessions = new Set<http2.ClientHttp2Session>();
  const checks: Array<() => void> = [];
  let stopped = false;
  let next = 0;

  const load: Load = {
    phase: 'start',
    outcomes: [],
    until(what, done, limitMs = 60_000) {
      if (done(load.outcomes)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          checks.splice(checks.indexOf(check), 1);
          reject(new Error(`${what}: not within ${limitMs} ms; last outcomes ${JSON.stringify(load.outcomes.slice(-5))}`));
        }, limitMs);
        const check = () => {
          if (!done(load.outcomes)) return;
          clearTimeout(timer);
          checks.splice(checks.indexOf(check), 1);
          resolve();
        };
        checks.push(check);
      });
    },
    one: (kind, id, ms, method = 'GET') => send(kind, id, ms, method),
    async stop() {
      stopped = true;
      await Promise.all(running);
      agent.destroy();
      for (const s of sessions) s.destroy();
    },
  };

  function send(kind: Kind, id: string, ms: number | 'hold', method = 'GET'): Promise<Outcome> {
    const o: Outcome = { id, kind, start: load.phase, end: '' };
    const path = `/work?id=${id}&${ms === 'hold' ? 'hold=1' : `ms=${ms}`}`;
    return new Promise<void>((resolve) => {
      // An HTTP/2 stream says why in its reset code; a cancelled one (its session failed) in its cause.
      const fail = (e: Error & { code?: string }, rst?: number) => {
        const cause = (e.cause as { code?: string } | undefined)?.code ?? '';
        o.error ??= [e.code ?? e.message, rst ? `rst=${rst}` : '', cause].filter(Boolean).join(' ');
        resolve();
      };
      if (kind === 'h2') {
        let s = [...sessions].find((x) => !x.closed && !x.destroyed);
        if (!s) {
          s = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
          const session = s;
          sessions.add(session);
          session.on('error', () => {});
          session.on('goaway', () => session.close());
          session.once('close', () => sessions.delete(session));
        }
        const req = s.request({ ':path': path, ':method': method });
        let body = '';
        req.setEncoding('utf8');
        req.on('response', (h) => (o.status = Number(h[':status'])));
        req.on('data', (c: string) => (body += c));
        req.on('end', () => {
          o.body = body;
          resolve();
        });
        req.on('error', (e) => fail(e, req.rstCode));
        req.end(method === 'POST' ? 'x' : undefined);
        return;
      }
      const req = https.request({ host: '127.0.0.1', port, path, method, rejectUnauthorized: false, agent: kind === 'fresh' ? false : agent }, (res) => {
        o.status = res.statusCode;
        o.serial = (res.socket as import('node:tls').TLSSocket).getPeerCertificate?.().serialNumber?.toUpperCase();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          o.body = body;
          resolve();
        });
        res.on('error', fail);
        res.on('aborted', () => fail(new Error('aborted')));
      });
      req.on('error', fail);
      req.end(method === 'POST' ? 'x' : undefined);
    }).then(() => {
      o.end = load.phase;
      return o;
    });
  }

  async function worker(kind: Kind): Promise<void> {
    while (!stopped) {
      const o = await send(kind, `${kind}-${next++}`, opts.appMs());
      load.outcomes.push(o);
      for (const c of [...checks]) c();
      // A refused connection fails at once: pace the retries instead of spinning.
      if (o.error) await new Promise((r) => setTimeout(r, 5));
    }
  }

  const running: Array<Promise<void>> = [];
  for (const [kind, n] of Object.entries(opts.workers) as Array<[Kind, number]>) {
    for (let i = 0; i < n; i++) running.push(worker(kind));
  }
  return load;
}

/** Counts of statuses and errors, for assertion messages. */
export function tally(outcomes: Outcome[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) {
    const k = `${o.kind} ${o.start}->${o.end} ${o.error ?? o.status}`;
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}
