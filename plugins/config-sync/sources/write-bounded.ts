// Streams a body to a file, refusing to write more than a limit and checking the length the
// source announced: a short or long body is an error, so a partial file is never published.
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConfigSyncError } from '../errors.ts';

export async function writeBounded(
  body: AsyncIterable<Uint8Array> | NodeJS.ReadableStream,
  file: string,
  opts: { name: string; maxBytes: number; expectedBytes?: number; signal: AbortSignal },
): Promise<number> {
  let written = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      written += chunk.length;
      if (written > opts.maxBytes) {
        done(new ConfigSyncError('ERR_SIDEKICK_SYNC_LIMIT', `${opts.name} is larger than limits.maxFileSize (${opts.maxBytes} bytes)`));
        return;
      }
      done(null, chunk);
    },
  });
  await pipeline(body as NodeJS.ReadableStream, counter, createWriteStream(file, { mode: 0o644 }), { signal: opts.signal });
  if (opts.expectedBytes !== undefined && written !== opts.expectedBytes) {
    throw new ConfigSyncError(
      'ERR_SIDEKICK_SYNC_INCOMPLETE',
      `${opts.name}: got ${written} bytes, the source announced ${opts.expectedBytes}`,
    );
  }
  return written;
}
