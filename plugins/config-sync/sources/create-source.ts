// Picks the source from the config; the S3 SDK loads only when an s3 source is configured.
import type { ConfigSyncConfig } from '../config-schema.ts';
import type { Source } from './source.ts';

export async function createSource(config: ConfigSyncConfig, resolvePath: (p: string) => string): Promise<Source> {
  const src = config.source;
  if ('s3' in src) {
    const { S3Source } = await import('./s3-source.ts');
    return new S3Source(src.s3);
  }
  if ('http' in src) {
    const { HttpSource } = await import('./http-source.ts');
    return new HttpSource(src.http, config.limits.maxFileSize);
  }
  const { DirSource } = await import('./dir-source.ts');
  return new DirSource(resolvePath(src.dir.path), config.limits);
}
