// S3 (or any S3-compatible store): one paginated ListObjectsV2 per poll; a download is a
// GetObject pinned to the listed ETag, so an object replaced between list and get fails the
// poll instead of mixing two versions.
import { GetObjectCommand, type ListObjectsV2CommandInput, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { ConfigSyncError } from '../errors.ts';
import { checkRelativePath } from '../safe-path.ts';
import { PollingS3Client, type S3Config } from './s3-client.ts';
import { RepeatedListCommand } from './s3-repeat.ts';
import type { Listing, Source, SourceEntry } from './source.ts';
import { writeBounded } from './write-bounded.ts';

/** One listed page as last parsed: its exact bytes, what they meant, and the token after it. */
interface Page {
  bytes: Buffer;
  entries: SourceEntry[];
  next: string | undefined;
}

/**
 * Thrown by the innermost middleware when a page's bytes equal the same page of the last
 * good poll, so the SDK's XML parse and output building are skipped, and turned back into a
 * normal result (UNCHANGED_OUTPUT) just outside the deserializer, so that the middleware
 * further out (signing's clock-skew sampling included) sees a plain success. Created once: it
 * is control flow, not a failure, and a stack trace per idle poll would cost more than it saves.
 */
class UnchangedPage extends Error {}
const UNCHANGED = new UnchangedPage('list page unchanged since the last poll');
const UNCHANGED_OUTPUT = { $metadata: {} } as ListObjectsV2CommandOutput;

export class S3Source implements Source {
  readonly description: string;
  private readonly client: PollingS3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly firstPage: ListObjectsV2CommandInput;
  /** Pages of the last listing that was fully built, and that listing (returned as is when every page repeats). */
  private pages: Page[] = [];
  private listing?: Listing;
  /** The page being fetched, for the middleware: polls never overlap (the sync loop runs one at a time). */
  private expected?: Buffer;
  private received?: Buffer;
  private unchangedResponse?: unknown;

  constructor(config: S3Config) {
    this.bucket = config.bucket;
    this.prefix = config.prefix;
    this.description = `s3://${config.bucket}/${config.prefix}`;
    this.firstPage = { Bucket: config.bucket, Prefix: config.prefix, ...(config.pageSize ? { MaxKeys: config.pageSize } : {}) };
    this.client = new PollingS3Client(config);
    // Outside the deserializer: an unchanged page ends here as a normal result.
    this.client.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          if (err !== UNCHANGED) throw err;
          const response = this.unchangedResponse;
          this.unchangedResponse = undefined;
          return { response, output: UNCHANGED_OUTPUT };
        }
      },
      { step: 'deserialize', priority: 'high', name: 'configSyncUnchangedResult' },
    );
    // Innermost (after the deserializer and S3's 200-error check): sees the raw body of a
    // listing page before anything parses it.
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName !== 'ListObjectsV2Command') return out;
        const response = out.response as { statusCode?: number; body?: NodeJS.ReadableStream | Uint8Array };
        if (response.statusCode !== 200 || !response.body || response.body instanceof Uint8Array) return out;
        const bytes = await collect(response.body);
        if (this.expected?.equals(bytes)) {
          this.unchangedResponse = response;
          throw UNCHANGED;
        }
        this.received = bytes;
        response.body = bytes; // the deserializer takes bytes as they are
        return out;
      },
      { step: 'deserialize', priority: 'low', name: 'configSyncUnchangedPage' },
    );
  }

  async list(_cursor: unknown, signal: AbortSignal): Promise<Listing> {
    const pages: Page[] = [];
    let token: string | undefined;
    let repeated = true;
    do {
      const index = pages.length;
      this.expected = this.pages[index]?.bytes;
      this.received = undefined;
      let page: Page;
      this.client.pollSignal = signal;
      try {
        // No options: the listing's middleware chain is cached (see PollingS3Client), and
        // what a repeated input resolves to is kept in it (see RepeatedListCommand).
        const out = await this.client.send(new RepeatedListCommand(token === undefined ? this.firstPage : { ...this.firstPage, ContinuationToken: token }));
        if (out === UNCHANGED_OUTPUT) page = this.pages[index]!;
        else {
          page = { bytes: this.received ?? Buffer.alloc(0), entries: this.entriesOf(out.Contents), next: out.IsTruncated ? out.NextContinuationToken : undefined };
          repeated = false;
        }
      } finally {
        this.expected = this.received = this.client.pollSignal = undefined;
      }
      pages.push(page);
      token = page.next;
    } while (token);
    if (repeated && pages.length === this.pages.length && this.listing) return this.listing;
    const listing: Listing = { entries: pages.length === 1 ? pages[0]!.entries : pages.flatMap((p) => p.entries) };
    // Kept only once every page was accepted: a page that failed (an unsafe key) is parsed, and fails, again.
    this.pages = pages;
    this.listing = listing;
    return listing;
  }

  private entriesOf(contents: Array<{ Key?: string; ETag?: string; Size?: number }> | undefined): SourceEntry[] {
    const entries: SourceEntry[] = [];
    for (const object of contents ?? []) {
      const key = object.Key!;
      if (key.endsWith('/')) continue; // "folder" marker objects made by consoles
      const path = checkRelativePath(key.slice(this.prefix.length).replace(/^\/+/, ''));
      entries.push({ path, fingerprint: `${object.ETag ?? ''}|${object.Size ?? 0}`, size: object.Size ?? 0 });
    }
    return entries;
  }

  async download(entry: SourceEntry, file: string, maxBytes: number, signal: AbortSignal): Promise<number> {
    const etag = entry.fingerprint.slice(0, entry.fingerprint.lastIndexOf('|'));
    // Per-call options, so downloads (only on a change) take the SDK's ordinary uncached path.
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

/** The whole body; events rather than `for await`, whose async iterator costs more than the read. */
function collect(body: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    body.once('error', reject);
  });
}
