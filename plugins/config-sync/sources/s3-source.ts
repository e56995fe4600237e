// S3 (or any S3-compatible store): one paginated ListObjectsV2 per poll; a download is a
// GetObject pinned to the listed ETag, so an object replaced between list and get fails the
// poll instead of mixing two versions.
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { ConfigSyncConfig } from '../config-schema.ts';
import { ConfigSyncError } from '../errors.ts';
import { checkRelativePath } from '../safe-path.ts';
import type { Listing, Source, SourceEntry } from './source.ts';
import { writeBounded } from './write-bounded.ts';

type S3Config = Extract<ConfigSyncConfig['source'], { s3: unknown }>['s3'];

export class S3Source implements Source {
  readonly description: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(config: S3Config) {
    this.bucket = config.bucket;
    this.prefix = config.prefix;
    this.description = `s3://${config.bucket}/${config.prefix}`;
    this.client = new S3Client({
      // An S3-compatible store rarely cares about the region, but the SDK insists on one.
      ...(config.region ? { region: config.region } : config.endpoint && !process.env.AWS_REGION ? { region: 'us-east-1' } : {}),
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle,
      // The sync loop retries with its own backoff; SDK retries would hide errors and stretch a poll.
      maxAttempts: 1,
    });
  }

  async list(_cursor: unknown, signal: AbortSignal): Promise<Listing> {
    const entries: SourceEntry[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }),
        { abortSignal: signal },
      );
      for (const object of page.Contents ?? []) {
        const key = object.Key!;
        if (key.endsWith('/')) continue; // "folder" marker objects made by consoles
        const path = checkRelativePath(key.slice(this.prefix.length).replace(/^\/+/, ''));
        entries.push({ path, fingerprint: `${object.ETag ?? ''}|${object.Size ?? 0}`, size: object.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return { entries };
  }

  async download(entry: SourceEntry, file: string, maxBytes: number, signal: AbortSignal): Promise<number> {
    const etag = entry.fingerprint.slice(0, entry.fingerprint.lastIndexOf('|'));
    const res = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + entry.path, ...(etag ? { IfMatch: etag } : {}) }),
      { abortSignal: signal },
    );
    if (!res.Body) throw new ConfigSyncError('CONFIG_SYNC_INCOMPLETE', `s3 object ${entry.path} has no body`);
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
