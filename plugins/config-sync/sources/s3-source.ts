// S3 (or any S3-compatible store): one paginated ListObjectsV2 per poll; a download is a
// GetObject pinned to the listed ETag, so an object replaced between list and get fails the
// poll instead of mixing two versions.
import { GetObjectCommand, ListObjectsV2Command, type ListObjectsV2CommandInput, type S3Client } from '@aws-sdk/client-s3';
import { ConfigSyncError } from '../errors.ts';
import { checkRelativePath } from '../safe-path.ts';
import { createS3Client, type S3Config } from './s3-client.ts';
import type { Listing, Source, SourceEntry } from './source.ts';
import { writeBounded } from './write-bounded.ts';

export class S3Source implements Source {
  readonly description: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly firstPage: ListObjectsV2CommandInput;
  /** The last listing whose every key was accepted; handed back as is while nothing changes. */
  private listing?: Listing;

  constructor(config: S3Config) {
    this.bucket = config.bucket;
    this.prefix = config.prefix;
    this.description = `s3://${config.bucket}/${config.prefix}`;
    this.firstPage = { Bucket: config.bucket, Prefix: config.prefix, ...(config.pageSize ? { MaxKeys: config.pageSize } : {}) };
    this.client = createS3Client(config);
  }

  async list(_cursor: unknown, signal: AbortSignal): Promise<Listing> {
    const entries: SourceEntry[] = [];
    let token: string | undefined;
    do {
      const out = await this.client.send(
        new ListObjectsV2Command(token === undefined ? this.firstPage : { ...this.firstPage, ContinuationToken: token }),
        { abortSignal: signal },
      );
      this.addEntries(entries, out.Contents);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    // The sync loop skips its checks and hashing for the very listing it saw last time.
    if (this.listing && sameEntries(entries, this.listing.entries)) return this.listing;
    // Kept only once every key was accepted: a listing with an unsafe key fails every poll.
    this.listing = { entries };
    return this.listing;
  }

  private addEntries(entries: SourceEntry[], contents: Array<{ Key?: string; ETag?: string; Size?: number }> | undefined): void {
    for (const object of contents ?? []) {
      const key = object.Key!;
      if (key.endsWith('/')) continue; // "folder" marker objects made by consoles
      const path = checkRelativePath(key.slice(this.prefix.length).replace(/^\/+/, ''));
      entries.push({ path, fingerprint: `${object.ETag ?? ''}|${object.Size ?? 0}`, size: object.Size ?? 0 });
    }
  }

  async download(entry: SourceEntry, file: string, maxBytes: number, signal: AbortSignal): Promise<number> {
    const etag = entry.fingerprint.slice(0, entry.fingerprint.lastIndexOf('|'));
    const res = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + entry.path, ...(etag ? { IfMatch: etag } : {}) }),
      { abortSignal: signal },
    );
    if (!res.Body) throw new ConfigSyncError('ERR_SIDEKICK_SYNC_INCOMPLETE', `s3 object ${entry.path} has no body`);
    return writeBounded(res.Body as NodeJS.ReadableStream, file, {
      name: entry.path,
      maxBytes,
      expectedBytes: entry.size,
      signal,
    });
  }

  close(): void {
    this.client.destroy();
  }
}

function sameEntries(a: readonly SourceEntry[], b: readonly SourceEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.path !== y.path || x.fingerprint !== y.fingerprint || x.size !== y.size) return false;
  }
  return true;
}
