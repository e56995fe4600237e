// What every source gives the sync loop: a cheap listing of the files it would publish,
// each with a fingerprint, and a way to fetch one file into the staged version.

export interface SourceEntry {
  /** Relative path inside the target, already checked by checkRelativePath(). */
  readonly path: string;
  /** Changes whenever the content may have changed (S3 ETag + size, a content hash, ...). */
  readonly fingerprint: string;
  /** Size in bytes as announced by the source (checked again while downloading). */
  readonly size: number;
}

/** Opaque validators a source keeps between polls (HTTP ETag / Last-Modified). */
export type SourceCursor = Record<string, string>;

export interface Listing {
  readonly entries: readonly SourceEntry[];
  readonly cursor?: SourceCursor;
}

export interface Source {
  /** e.g. "s3://bucket/prefix", for logs and /status. */
  readonly description: string;
  /** One poll's worth of requests; `undefined` means "unchanged since cursor" (HTTP 304). */
  list(cursor: SourceCursor | undefined, signal: AbortSignal): Promise<Listing | undefined>;
  /** Write one entry to `file` (parent exists); returns the bytes written, throws on a short or oversize body. */
  download(entry: SourceEntry, file: string, maxBytes: number, signal: AbortSignal): Promise<number>;
  close?(): void;
}
