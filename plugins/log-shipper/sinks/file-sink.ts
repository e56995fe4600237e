// Appends NDJSON to a local file; a batch is acknowledged after it is written and fsynced.
// A kill or a failed write can leave half a record at the end: the next append ends that
// line first, so the resent batch's records are whole lines and not glued to the broken one.
import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ByteWriter } from '../byte-writer.ts';
import type { LogEvent, Payload, Sink } from '../event.ts';
import { type RecordEncoder, ndjsonRecord } from '../record.ts';
import type { SinkDeps } from './sink.ts';
import { sidekickError } from '../../../src/plugin-api.ts';

export class FileSink implements Sink {
  private readonly fh: FileHandle;
  private readonly encoder: RecordEncoder;
  /** The file may end in the middle of a record: just opened (after a crash?) or after a failed write. */
  private mayBeCut = true;
  readonly deadLetterRecord = ndjsonRecord;

  private constructor(fh: FileHandle, encoder: RecordEncoder) {
    this.fh = fh;
    this.encoder = encoder;
  }

  static async open(config: { path: string }, deps: SinkDeps): Promise<FileSink> {
    const path = deps.ctx.resolvePath(config.path);
    try {
      // 'a+': appends, and the last byte can be read.
      const fh = await open(path, 'a+');
      // The file may have just been created: its name is durable only once the directory is synced.
      const dir = await open(dirname(path), 'r');
      await dir.sync().finally(() => dir.close());
      return new FileSink(fh, deps.encoder);
    } catch (err) {
      throw sidekickError('ERR_SIDEKICK_LOGS_SINK_OPEN', `sink.path: cannot open ${path}: ${(err as Error).message}`);
    }
  }

  encode(e: LogEvent, w: ByteWriter): void {
    this.encoder.write(e, w);
  }

  async send(p: Payload): Promise<void> {
    if (this.mayBeCut) await this.endBrokenLine();
    this.mayBeCut = true;
    await this.fh.writeFile(p.bytes);
    await this.fh.sync();
    this.mayBeCut = false;
  }

  private async endBrokenLine(): Promise<void> {
    const { size } = await this.fh.stat();
    if (size === 0) return;
    const last = Buffer.alloc(1);
    await this.fh.read(last, 0, 1, size - 1);
    if (last[0] !== 10) await this.fh.writeFile('\n');
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}
