// The last line of defence of the data plane: every event handler that a client or the app can
// drive (accept, ClientHello, handshake, HTTP/1 request, HTTP/2 stream, fast-path data, app
// connection, tcp pipe) runs inside a try/catch whose catch comes here. An exception there is a
// bug; it must cost one connection, never the process (whose other plugins would go with it).
// Each boundary closes its own connection (500 where no response byte was sent yet, else a
// destroy); this counts it by stage and logs it with the connection's identifiers.
import type { Logger } from 'pino';
import type { ConnectionInfo } from './connection-info.ts';
import type { TerminatorMetrics } from './metrics.ts';

export type Stage =
  | 'accept' | 'hello' | 'handshake' | 'secured'
  | 'h1_request' | 'h1_upgrade' | 'h1_connect' | 'h1_client_error' | 'h2_request'
  | 'fast_data' | 'fast_close' | 'fast_sweep' | 'request_events'
  | 'upstream' | 'tcp';

export class InternalErrors {
  private readonly metrics: TerminatorMetrics;
  private readonly log: Logger;
  private readonly byStage = new Map<Stage, { inc(): void }>();

  constructor(metrics: TerminatorMetrics, log: Logger) {
    this.metrics = metrics;
    this.log = log;
  }

  /** Never throws: it runs inside catch blocks. */
  report(stage: Stage, err: unknown, info: ConnectionInfo | undefined): void {
    try {
      let c = this.byStage.get(stage);
      if (!c) this.byStage.set(stage, (c = this.metrics.internalErrors.labels({ stage })));
      c.inc();
      const e = err instanceof Error ? err : new Error(String(err));
      this.log.error({
        stage, err: { message: e.message, code: (e as { code?: string }).code, stack: e.stack },
        client: info?.clientAddress, clientPort: info?.clientPort, sni: info?.sni,
      }, 'tls-terminator internal error: connection closed');
    } catch {
      // nothing left to do: the caller closes the connection regardless
    }
  }
}

/** The answer a boundary writes on an HTTP/1.1 connection that has not started a response. */
export const INTERNAL_ERROR_RESPONSE =
  'HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 15\r\nconnection: close\r\n\r\ninternal error\n';
