// tcp mode: the decrypted stream piped to the app's TCP port or unix socket, both ways.
import { connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AccessLog } from './access-log.ts';
import { infoOf } from './connection-info.ts';
import type { UpstreamTarget } from './upstream-target.ts';

export function pipeToApp(client: TLSSocket, target: UpstreamTarget, log: Logger, access: AccessLog | undefined, onError: (reason: string) => void): void {
  const started = performance.now();
  const app = target.kind === 'unix' ? connect(target.path) : connect(target.port, target.host);
  app.setNoDelay(true);
  client.pipe(app);
  app.pipe(client);
  app.once('error', (err: Error & { code?: string }) => {
    onError(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'refused' : 'error');
    log.warn({ upstream: target.label, err: err.code ?? err.message }, 'app connection failed; closing the client connection');
    client.destroy();
  });
  client.once('error', () => app.destroy());
  client.once('close', () => {
    app.destroy();
    if (access?.enabled()) {
      const info = infoOf(client);
      access.connection(info?.clientAddress ?? '', info?.sni ?? '', info?.tlsVersion ?? '', info?.ja4 ?? '',
        client.bytesRead, client.bytesWritten, Math.round(performance.now() - started));
    }
  });
  app.once('close', () => client.end());
}
