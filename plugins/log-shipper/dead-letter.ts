// Events the sink refused for good (4xx other than 408/429, per-item bulk errors) are
// appended here with the reason: counted, never silently dropped. Self-contained events
// get one line each; a payload with a shared envelope (Loki) is kept whole.
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDir } from '../../src/plugin-api.ts';
import type { Payload, Sink } from './event.ts';

export class DeadLetter {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** `indexes` undefined means the whole payload. */
  async write(p: Payload, indexes: number[] | undefined, error: string, sink: Sink): Promise<void> {
    const head = `{"deadLetteredAt":"${new Date().toISOString()}","error":${JSON.stringify(error)}`;
    let text = '';
    if (sink.deadLetterRecord) {
      const all = indexes ?? Array.from({ length: p.count }, (_, i) => i);
      for (const i of all) text += `${head},"event":${sink.deadLetterRecord(p.bytes.subarray(p.starts[i], p.starts[i + 1]))}}\n`;
    } else {
      text = `${head},"events":${indexes?.length ?? p.count},"payload":${JSON.stringify(p.bytes.toString('utf8'))}}\n`;
    }
    // 'a+': appends, and the last byte can be read.
    const fh = await open(this.path, 'a+');
    let created = false;
    try {
      const { size } = await fh.stat();
      created = size === 0;
      // A kill (or a full disk) in the middle of an earlier append left half a line: end it, so
      // this record is a line of its own instead of being glued to the broken one.
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== 10) text = `\n${text}`;
      }
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    // A new file's name is durable only once its directory is synced.
    if (created) await syncDir(dirname(this.path));
  }
}
