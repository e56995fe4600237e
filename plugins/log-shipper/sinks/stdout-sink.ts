// NDJSON on standard output, for the demo and for piping into another collector.
// Acknowledged once the stream accepted the write (its callback waits for the kernel).
import type { ByteWriter } from '../byte-writer.ts';
import type { LogEvent, Payload, Sink } from '../event.ts';
import { type RecordEncoder, ndjsonRecord } from '../record.ts';
import type { SinkDeps } from './sink.ts';

export class StdoutSink implements Sink {
  private readonly encoder: RecordEncoder;
  readonly deadLetterRecord = ndjsonRecord;

  constructor(deps: SinkDeps) {
    this.encoder = deps.encoder;
  }

  encode(e: LogEvent, w: ByteWriter): void {
    this.encoder.write(e, w);
  }

  send(p: Payload): Promise<void> {
    // A copy: the payload's buffer is reused once the batch is acknowledged.
    const bytes = Buffer.from(p.bytes);
    return new Promise((resolve, reject) => process.stdout.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<void> {}
}
