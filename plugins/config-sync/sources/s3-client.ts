// The S3 client as config-sync uses it: the SDK's own S3Client, configured through its public
// options only (no middleware of ours, nothing of the SDK's replaced).
import { S3Client } from '@aws-sdk/client-s3';
import type { ConfigSyncConfig } from '../config-schema.ts';

export type S3Config = Extract<ConfigSyncConfig['source'], { s3: unknown }>['s3'];

export function createS3Client(config: S3Config): S3Client {
  return new S3Client({
    // An S3-compatible store rarely cares about the region, but the SDK insists on one.
    ...(config.region ? { region: config.region } : config.endpoint && !process.env.AWS_REGION ? { region: 'us-east-1' } : {}),
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    // The sync loop retries with its own backoff; SDK retries would hide errors and stretch a poll.
    maxAttempts: 1,
    // Nothing is uploaded. Downloads keep the default response checksum validation: they only
    // happen on a change, and a checksum is the one end-to-end check of the bytes published.
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}
