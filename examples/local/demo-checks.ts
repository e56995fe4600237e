// What the demo launcher checks before and after starting: that its ports are free (one line
// naming the port and the variable that moves it, instead of a stack trace later), and that
// HTTPS answers 200 through to the app before it says "running".
import { request } from 'node:https';
import { createServer } from 'node:net';

export interface DemoPort {
  /** The environment variable that moves it. */
  variable: 'HTTPS_LISTEN' | 'ADMIN_LISTEN' | 'APP_PORT';
  /** host:port */
  address: string;
}

function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1') || '0.0.0.0', port: Number(address.slice(colon + 1)) };
}

function bindable(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((res) => {
    const server = createServer();
    server.once('error', (err) => res(err));
    server.listen({ host, port, exclusive: true }, () => server.close(() => res(null)));
  });
}

/** The refusal line for the first port that cannot be bound, or null when all are free. */
export async function checkPorts(ports: DemoPort[]): Promise<string | null> {
  for (const { variable, address } of ports) {
    const { host, port } = splitAddress(address);
    const err = await bindable(host, port);
    if (!err) continue;
    const why = err.code === 'EADDRINUSE' ? 'is taken' : `cannot be used (${err.code ?? err.message})`;
    const other = port + 10_000 <= 65_535 ? port + 10_000 : port - 10_000;
    const example = variable === 'APP_PORT' ? String(other) : `${address.slice(0, address.lastIndexOf(':'))}:${other}`;
    return `demo: port ${port} (${variable}=${variable === 'APP_PORT' ? port : address}) ${why}; stop what holds it or move the demo, e.g. ${variable}=${example} npm start`;
  }
  return null;
}

function getStatus(url: string): Promise<number> {
  return new Promise((res, rej) => {
    // The demo's certificate is self-signed, generated at start: this check trusts it, as curl -k does.
    const req = request(url, { rejectUnauthorized: false, servername: 'localhost', timeout: 2_000 }, (r) => {
      r.resume();
      res(r.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout'))).on('error', rej).end();
  });
}

/** Polls until `url` answers 200; false if `stop()` says so or after `timeoutMs`. */
export async function waitForHttps(url: string, stop: () => boolean, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!stop() && Date.now() < deadline) {
    try {
      if ((await getStatus(url)) === 200) return true;
    } catch {
      // not answering yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
