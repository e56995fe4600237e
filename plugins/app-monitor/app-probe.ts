// One probe of the app: an HTTP GET (status checked, body discarded) or a TCP connect,
// bounded by a timeout. Never throws: the outcome says up or down and why.
import { connect } from 'node:net';
import { loadHttp } from '../../src/plugin-api.ts';
import type { ProbeConfig } from './config-schema.ts';

export interface ProbeOutcome {
  up: boolean;
  seconds: number;
  /** "HTTP 200", "connected", or why it failed ("ECONNREFUSED", "timeout after 2000 ms"). */
  result: string;
}

export function probeOnce(config: ProbeConfig): Promise<ProbeOutcome> {
  const started = performance.now();
  return new Promise<ProbeOutcome>((resolve) => {
    let done = false;
    let cleanup = () => {};
    const finish = (up: boolean, result: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cleanup();
      resolve({ up, seconds: (performance.now() - started) / 1000, result });
    };
    const timer = setTimeout(() => finish(false, `timeout after ${config.timeout} ms`), config.timeout);
    if (config.tcp) {
      const socket = connect({ host: config.tcp.host, port: config.tcp.port });
      cleanup = () => socket.destroy();
      socket.once('connect', () => finish(true, 'connected'));
      socket.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
      return;
    }
    const http = loadHttp();
    // An agent without keep-alive: a probe opens its own connection, as a kubelet probe does.
    const req = http.get(config.http!, { agent: false, headers: { 'user-agent': 'sidekick-app-monitor' } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      const up = config.expectedStatus === undefined ? status >= 200 && status < 400 : status === config.expectedStatus;
      finish(up, `HTTP ${status}`);
    });
    cleanup = () => req.destroy();
    req.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
  });
}
