// One URL -> one file. Conditional GET with the validators of the last good response, so an
// unchanged file costs a 304 and no body. The body is kept in memory until it is staged
// (it is bounded by limits.maxFileSize).
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { ConfigSyncConfig } from '../config-schema.ts';
import { ConfigSyncError } from '../errors.ts';
import { checkRelativePath } from '../safe-path.ts';
import type { Listing, Source, SourceCursor, SourceEntry } from './source.ts';

type HttpConfig = Extract<ConfigSyncConfig['source'], { http: unknown }>['http'];

export class HttpSource implements Source {
  readonly description: string;
  private readonly url: string;
  private readonly file: string;
  private readonly headers: Record<string, string>;
  private readonly maxBytes: number;
  private body?: Buffer;

  constructor(config: HttpConfig, maxBytes: number) {
    this.url = config.url;
    this.description = config.url;
    this.headers = config.headers;
    this.maxBytes = maxBytes;
    this.file = checkRelativePath(config.file ?? defaultFileName(config.url));
  }

  async list(cursor: SourceCursor | undefined, signal: AbortSignal): Promise<Listing | undefined> {
    const headers: Record<string, string> = { ...this.headers };
    if (cursor?.etag) headers['if-none-match'] = cursor.etag;
    if (cursor?.lastModified) headers['if-modified-since'] = cursor.lastModified;
    const res = await fetch(this.url, { headers, signal, redirect: 'follow' });
    if (res.status === 304) {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_SOURCE', `GET ${this.url}: HTTP ${res.status}`);
    }
    const body = await readBounded(res, this.maxBytes, this.file);
    this.body = body;
    const next: SourceCursor = {};
    const etag = res.headers.get('etag');
    const lastModified = res.headers.get('last-modified');
    if (etag) next.etag = etag;
    if (lastModified) next.lastModified = lastModified;
    const fingerprint = createHash('sha256').update(body).digest('hex');
    return { entries: [{ path: this.file, fingerprint, size: body.length }], cursor: next };
  }

  async download(entry: SourceEntry, file: string): Promise<number> {
    const body = this.body;
    if (!body || body.length !== entry.size) {
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_INCOMPLETE', `${entry.path}: body of the last response is not available`);
    }
    await writeFile(file, body, { mode: 0o644 });
    this.body = undefined;
    return body.length;
  }
}

function defaultFileName(url: string): string {
  const last = new URL(url).pathname.split('/').filter(Boolean).pop();
  return last ? decodeURIComponent(last) : 'index';
}

async function readBounded(res: Response, maxBytes: number, name: string): Promise<Buffer> {
  const announced = Number(res.headers.get('content-length') ?? NaN);
  if (announced > maxBytes) {
    await res.body?.cancel();
    throw new ConfigSyncError('ERR_SIDEKICK_SYNC_LIMIT', `${name} is larger than limits.maxFileSize (${maxBytes} bytes)`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body ?? []) {
    total += chunk.length;
    if (total > maxBytes) {
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_LIMIT', `${name} is larger than limits.maxFileSize (${maxBytes} bytes)`);
    }
    chunks.push(Buffer.from(chunk));
  }
  if (Number.isFinite(announced) && total !== announced) {
    throw new ConfigSyncError('ERR_SIDEKICK_SYNC_INCOMPLETE', `${name}: got ${total} bytes, Content-Length said ${announced}`);
  }
  return Buffer.concat(chunks);
}
