// A lazily (re)connected TCP or TLS socket for the stream sinks (syslog, forward).
// A failed write destroys the socket; the next send reconnects.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { loadTls, type PluginContext } from '../../../src/plugin-api.ts';
import type { TlsConfig } from '../config-schema.ts';
import { SinkError } from '../event.ts';

const tls = loadTls();

export class TcpConnection {
  private readonly host: string;
  private readonly port: number;
  private readonly tlsOptions: ConnectionOptions | undefined;
  private readonly timeout: number;
  private socket: net.Socket | undefined;

  constructor(address: string, timeout: number, tlsConfig: TlsConfig | undefined, ctx: PluginContext) {
    const i = address.lastIndexOf(':');
    this.host = address.slice(0, i).replace(/^\[|\]$/g, '');
    this.port = Number(address.slice(i + 1));
    this.timeout = timeout;
    this.tlsOptions = tlsConfig
      ? {
          ...(tlsConfig.ca ? { ca: readFileSync(ctx.resolvePath(tlsConfig.ca)) } : {}),
          ...(tlsConfig.cert ? { cert: readFileSync(ctx.resolvePath(tlsConfig.cert)) } : {}),
          ...(tlsConfig.key ? { key: readFileSync(ctx.resolvePath(tlsConfig.key)) } : {}),
          servername: tlsConfig.serverName ?? this.host,
          rejectUnauthorized: !tlsConfig.insecureSkipVerify,
        }
      : undefined;
  }

  /** Called when the current connection closes (a peer that hangs up will not ack). */
  onClose: (() => void) | undefined;

  /** The connected socket; `onData` receives what the peer sends (acks). */
  async get(onData?: (chunk: Buffer) => void): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = this.tlsOptions
        ? tls.connect({ host: this.host, port: this.port, ...this.tlsOptions }, () => resolve(s))
        : net.connect({ host: this.host, port: this.port }, () => resolve(s));
      s.setTimeout(this.timeout, () => s.destroy(new SinkError(`connect to ${this.host}:${this.port} timed out`, { code: 'ERR_SIDEKICK_LOGS_SINK_TIMEOUT', retryable: true })));
      s.once('error', reject);
    });
    socket.setTimeout(0);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.onClose?.();
    });
    if (onData) socket.on('data', onData);
    this.socket = socket;
    return socket;
  }

  /** Resolves when the bytes were handed to the kernel; rejects (and drops the socket) on error. */
  async write(data: Buffer | string, signal: AbortSignal, onData?: (chunk: Buffer) => void): Promise<void> {
    const socket = await this.get(onData);
    await new Promise<void>((resolve, reject) => {
      const abort = () => {
        socket.destroy();
        reject(signal.reason);
      };
      signal.addEventListener('abort', abort, { once: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SinkError(`write to ${this.host}:${this.port} timed out`, { code: 'ERR_SIDEKICK_LOGS_SINK_TIMEOUT', retryable: true }));
      }, this.timeout);
      socket.write(data, (err) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', abort);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve();
      });
    });
  }

  destroy(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (!s || s.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      s.end(() => resolve());
      setTimeout(() => {
        s.destroy();
        resolve();
      }, 1000).unref();
    });
  }
}
