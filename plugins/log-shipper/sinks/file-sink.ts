// Appends NDJSON to a local file; a batch is acknowledged after it is written and fsynced.
import { type FileHandle, open } from 'node:fs/promises';
import type { LogEvent, Sink } from '../event.ts';
import type { RecordEncoder } from '../record.ts';
import type { SinkDeps } from './create-sink.ts';

export class FileSink implements Sink {
  private readonly fh: FileHandle;
  private readonly encoder: RecordEncoder;

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

  async send(events: LogEvent[]): Promise<void> {
    await this.fh.writeFile(this.encoder.ndjson(events));
    await this.fh.sync();
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}
