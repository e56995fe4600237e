// NDJSON on standard output, for the demo and for piping into another collector.
// Acknowledged once the write was accepted by the stream (waits for 'drain' when full).
import type { LogEvent, Sink } from '../event.ts';
import type { RecordEncoder } from '../record.ts';
import type { SinkDeps } from './create-sink.ts';

export class StdoutSink implements Sink {
  private readonly encoder: RecordEncoder;

  constructor(deps: SinkDeps) {
    this.encoder = deps.encoder;
  }

  send(events: LogEvent[]): Promise<void> {
    const text = this.encoder.ndjson(events);
    return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<void> {}
}
