// Upgrade requests (WebSocket and others): replay the request head to the app on a fresh
// connection. Only once the app answers 101 do the two sockets get spliced, and only then does
// anything the client sent after its head (`head`, and the paused socket) reach the app; any
// other answer is relayed and the connection closed, so a client can never send further
// requests straight to the app past the header stripping. The head carries no body framing:
// http-front refuses upgrade requests with a body.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { dial } from '../upstream/dial.ts';
import type { ConnectionInfo } from '../connection-info.ts';
import type { InternalErrors } from '../internal-errors.ts';
import { type ForwardOptions, upstreamHeaders } from './forwarding-headers.ts';
import { INTERNAL_ERROR_RESPONSE } from '../internal-errors.ts';
import { ResponseParser } from '../upstream/response-parser.ts';
import type { UpstreamTarget } from '../upstream/upstream-target.ts';

const CRLF2 = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;

/** `path`, `host`: the origin-form target and Host the host rules resolved. */
export function proxyUpgrade(
  req: IncomingMessage, path: string, host: string, client: Duplex, head: Buffer, info: ConnectionInfo, target: UpstreamTarget,
  forward: ForwardOptions, log: Logger, errors: InternalErrors,
): void {
  const headers = upstreamHeaders(req.rawHeaders, host, info, { ...forward, upgrade: true });
  let text = `${req.method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  text += '\r\n';
  const app = dial(target);
  app.setNoDelay(true);
  client.pause(); // nothing from the client reaches the app until it has agreed to switch protocols
  let buffered: Buffer = Buffer.alloc(0);
  // Every listener here is an event boundary (an upgrade is rare: closures are fine).
  const crashed = (e: unknown) => {
    errors.report('h1_upgrade', e, info);
    app.destroy();
    if (client.writable && (client as Duplex & { bytesWritten?: number }).bytesWritten === 0) client.end(INTERNAL_ERROR_RESPONSE);
    else client.destroy();
  };
  const guard = <A extends unknown[]>(fn: (...a: A) => void) => (...a: A): void => {
    try {
      fn(...a);
    } catch (e) {
      crashed(e);
    }
  };
  const onHead = guard((chunk: Buffer) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    const end = buffered.indexOf(CRLF2);
    if (end < 0) {
      if (buffered.length > MAX_HEAD) client.destroy();
      return;
    }
    app.removeListener('data', onHead);
    if (/^HTTP\/1\.1 101 /.test(buffered.toString('latin1', 0, Math.min(end, 64)))) {
      client.write(buffered);
      if (head.length) app.write(head); // the client's first bytes of the new protocol
      app.pipe(client);
      client.pipe(app);
      client.resume();
      log.info({ method: req.method, path: req.url, upgrade: req.headers.upgrade, client: info.clientAddress, ja4: info.ja4 }, 'upgrade proxied');
      return;
    }
    // Refused: relay this one response, then close both sides.
    const parser = new ResponseParser({
      head() {},
      data() {},
      continue() {},
      end() {
        client.end();
        app.destroy();
      },
    }, req.method === 'HEAD');
    const relay = guard((c: Buffer) => {
      client.write(c);
      try {
        parser.push(c);
      } catch {
        client.destroy();
      }
    });
    app.on('data', relay);
    app.once('end', guard(() => (parser.eof(), client.end())));
    relay(buffered);
  });
  app.once('connect', guard(() => {
    app.write(text, 'latin1'); // header strings are latin1 views of the client's bytes
    app.on('data', onHead);
  }));
  app.once('error', guard((err: Error & { code?: string }) => {
    if (app.bytesRead === 0 && client.writable) {
      log.warn({ path: req.url, upstream: target.label, err: err.code ?? err.message }, 'app unreachable for upgrade: 502');
      client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 21\r\nConnection: close\r\n\r\nupstream unavailable\n');
    } else client.destroy();
  }));
  client.once('error', () => app.destroy());
  client.once('close', () => app.destroy());
  app.once('close', () => client.destroy());
}
