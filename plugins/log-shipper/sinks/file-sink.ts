// Appends NDJSON to a local file; a batch is acknowledged after it is written and fsynced.
import { type FileHandle, open } from 'node:fs/promises';
import type { ByteWriter } from '../byte-writer.ts';
import type { LogEvent, Payload, Sink } from '../event.ts';
import { type RecordEncoder, ndjsonRecord } from '../record.ts';
import type { SinkDeps } from './create-sink.ts';

export class FileSink implements Sink {
  private readonly fh: FileHandle;
  private readonly encoder: RecordEncoder;
  readonly deadLetterRecord = ndjsonRecord;

  private constructor(fh: FileHandle, encoder: RecordEncoder) {
    this.fh = fh;
    this.encoder = encoder;
  }

  static async open(config: { path: string }, deps: SinkDeps): Promise<FileSink> {
    const path = deps.ctx.resolvePath(config.path);
    try {
      return new FileSink(await open(path, 'a'), deps.encoder);
    } catch (err) {
      throw Object.assign(new Error(`sink.path: cannot open ${path}: ${(err as Error).message}`), { code: 'ERR_SINK_OPEN' });
    }
  }

  encode(e: LogEvent, w: ByteWriter): void {
    this.encoder.write(e, w);
  }

  async send(p: Payload): Promise<void> {
    await this.fh.writeFile(p.bytes);
    await this.fh.sync();
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}
