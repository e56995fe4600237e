// Batches the sink refused for good (4xx other than 408/429, per-item bulk errors) are
// appended here, one JSON line per event with the reason: counted, never silently dropped.
import { open } from 'node:fs/promises';
import type { LogEvent } from './event.ts';
import type { RecordEncoder } from './record.ts';

export class DeadLetter {
  readonly path: string;
  private readonly encoder: RecordEncoder;

  constructor(path: string, encoder: RecordEncoder) {
    this.path = path;
    this.encoder = encoder;
  }

  async write(events: LogEvent[], error: string): Promise<void> {
    const at = new Date().toISOString();
    const reason = JSON.stringify(error);
    let text = '';
    for (const e of events) text += `{"deadLetteredAt":"${at}","error":${reason},"event":${this.encoder.json(e)}}\n`;
    const fh = await open(this.path, 'a');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}
