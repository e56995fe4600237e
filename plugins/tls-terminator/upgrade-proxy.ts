// Upgrade requests (WebSocket and others): replay the request head to the app on a fresh
// connection, then splice the two sockets; the app's 101 (or refusal) reaches the client as is.
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ConnectionInfo } from './connection-info.ts';
import { upstreamHeaders } from './forwarding-headers.ts';
import type { UpstreamTarget } from './upstream-target.ts';

export function proxyUpgrade(
  req: IncomingMessage, client: Duplex, head: Buffer, info: ConnectionInfo, target: UpstreamTarget, fingerprintHeaders: boolean, log: Logger,
): void {
  const headers = upstreamHeaders(req.rawHeaders, req.headers.host, info, { fingerprintHeaders, upgrade: true });
  let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  text += '\r\n';
  const app = target.kind === 'unix' ? connect(target.path) : connect(target.port, target.host);
  app.setNoDelay(true);
  app.once('connect', () => {
    app.write(text, 'latin1'); // header strings are latin1 views of the client's bytes
    if (head.length) app.write(head);
    app.pipe(client);
    client.pipe(app);
    log.info({ method: req.method, path: req.url, upgrade: req.headers.upgrade, client: info.clientAddress, ja4: info.ja4 }, 'upgrade proxied');
  });
  app.once('error', (err: Error & { code?: string }) => {
    if (app.bytesRead === 0 && client.writable && !app.readableDidRead) {
      log.warn({ path: req.url, upstream: target.label, err: err.code ?? err.message }, 'app unreachable for upgrade: 502');
      client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 21\r\nConnection: close\r\n\r\nupstream unavailable\n');
    } else client.destroy();
  });
  client.once('error', () => app.destroy());
  client.once('close', () => app.destroy());
  app.once('close', () => client.destroy());
}
