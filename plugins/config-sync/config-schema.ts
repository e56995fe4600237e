// The config-sync keys (the contract of issue 4). Strict objects: a typo is an error that
// names the key, never a silently ignored setting.
import { z } from 'zod';
import { duration, size } from '../../src/config/units.ts';

const s3Source = z
  .strictObject({
    bucket: z.string().min(3).describe('Bucket name'),
    prefix: z.string().default('').describe('Key prefix mirrored as the target tree, e.g. "app/" (empty: the whole bucket)'),
    region: z.string().optional().describe('AWS region (default: the SDK default chain, e.g. AWS_REGION)'),
    endpoint: z.url().optional().describe('Endpoint of an S3-compatible store, e.g. http://minio:9000'),
    forcePathStyle: z.boolean().default(false).describe('Address the bucket in the path (most S3-compatible stores need this)'),
    pageSize: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe('Keys per ListObjectsV2 page (MaxKeys; default: the store\'s, 1000 on AWS); the listing always follows every page'),
  })
  .describe('Mirror an S3 bucket prefix; credentials come from the SDK default chain (env, IRSA, pod identity, profile)');

const httpSource = z
  .strictObject({
    url: z.url().describe('URL of one file, fetched with If-None-Match / If-Modified-Since'),
    file: z
      .string()
      .min(1)
      .optional()
      .describe('Name of the file in the target (default: the last segment of the URL path)'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers, e.g. Authorization (use ${ENV})'),
  })
  .describe('One HTTP(S) URL published as one file');

const dirSource = z
  .strictObject({
    path: z.string().min(1).describe('Local directory (e.g. a mounted ConfigMap; its ..data layout is followed, ..* entries ignored)'),
  })
  .describe('A local directory tree');

const source = z
  .union([
    z.strictObject({ s3: s3Source }),
    z.strictObject({ http: httpSource }),
    z.strictObject({ dir: dirSource }),
  ])
  .describe('Where the files come from: exactly one of { s3 }, { http } or { dir }');

const signalReload = z
  .strictObject({
    name: z
      .string()
      .regex(/^SIG[A-Z0-9]+$/, 'expected a signal name like "SIGHUP"')
      .default('SIGHUP')
      .describe('Signal to send'),
    pidFile: z.string().optional().describe('File holding the app pid (read at every reload; relative to the config file)'),
    process: z
      .string()
      .optional()
      .describe('Process name matched against /proc/*/comm and argv[0] (needs shareProcessNamespace: true)'),
  })
  .refine((s) => (s.pidFile === undefined) !== (s.process === undefined), {
    message: 'set exactly one of pidFile or process',
  })
  .describe('Signal the app, found by pid file or process name');

const httpReload = z
  .strictObject({
    url: z.url().describe('Reload endpoint of the app'),
    method: z.string().default('POST').describe('HTTP method'),
    expectedStatus: z
      .number()
      .int()
      .min(100)
      .max(599)
      .optional()
      .describe('Status that means success (default: any 2xx)'),
    timeout: duration().prefault('5s').describe('Time allowed for one call'),
    retries: z.number().int().min(0).max(20).default(3).describe('Further attempts after a failed call, with backoff'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers'),
  })
  .describe('Call an HTTP endpoint of the app');

const execReload = z
  .strictObject({
    command: z.array(z.string()).min(1).describe('argv of a command run after publish; "{dir}" is replaced by the target'),
    timeout: duration().prefault('30s').describe('Time allowed before the command is killed'),
  })
  .describe('Run a command');

const healthCheck = z
  .strictObject({
    url: z.url().describe('App health URL; must answer 2xx after the reload'),
    timeout: duration().prefault('10s').describe('How long the app may take to come back healthy before rollback'),
    interval: duration().prefault('500ms').describe('Time between health probes'),
    delay: duration()
      .prefault('0s')
      .describe('Wait this long after the reload before the first probe (an app that reloads in the background still answers on the old config at first)'),
    successThreshold: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(1)
      .describe('Consecutive healthy probes needed (like a Kubernetes probe\'s successThreshold)'),
    expectBody: z
      .string()
      .min(1)
      .optional()
      .describe('A healthy answer must contain this text; "{file:PATH}" is the trimmed content of PATH in the version just published, e.g. "{file:VERSION}"'),
  })
  .refine((h) => h.delay < h.timeout, { message: 'delay must be shorter than timeout (the timeout counts from the reload)' })
  .describe('After a reload, probe the app; if it does not come back healthy, roll back to the previous version and reload again');

const reload = z
  .strictObject({
    signal: signalReload.optional(),
    http: httpReload.optional(),
    exec: execReload.optional(),
    debounce: duration()
      .prefault('0s')
      .describe('Wait this long after a publish before reloading, so a burst of publishes gives one reload'),
    healthCheck: healthCheck.optional(),
  })
  .refine((r) => [r.signal, r.http, r.exec].filter(Boolean).length === 1, {
    message: 'set exactly one of signal, http or exec',
  })
  .describe('How the app is told that a new version is in place');

const validate = z
  .strictObject({
    parse: z.boolean().default(true).describe('Parse .json, .yaml and .yml files before publishing'),
    command: z
      .array(z.string())
      .min(1)
      .optional()
      .describe('argv run against the staged version; "{dir}" is replaced by its path; non-zero exit => not published'),
    timeout: duration().prefault('30s').describe('Time allowed for the command'),
  })
  .describe('Checks a version must pass before it is published');

const limits = z
  .strictObject({
    maxFileSize: size().prefault('16MiB').describe('Largest single file; a larger one fails the whole version'),
    maxTotalSize: size().prefault('256MiB').describe('Largest version (sum of file sizes)'),
    maxFiles: z.number().int().positive().default(10_000).describe('Most files in one version'),
  })
  .prefault({})
  .describe('Limits that make a version fail instead of filling the volume');

export const configSchema = z.strictObject({
  source,
  target: z.string().min(1).describe('Directory published with the Kubernetes AtomicWriter layout (relative to the config file)'),
  interval: duration().prefault('10s').describe('Time between polls (each delay is shortened by up to `jitter`)'),
  jitter: z
    .number()
    .min(0)
    .max(0.9)
    .default(0.1)
    .describe('Fraction of `interval` randomly taken off each delay, so a fleet does not poll in step'),
  timeout: duration().prefault('30s').describe('Time allowed for one poll (list and downloads)'),
  backoff: z
    .strictObject({
      initial: duration().prefault('1s').describe('First retry delay after a source error'),
      max: duration().prefault('5m').describe('Longest retry delay'),
    })
    .prefault({})
    .describe('Retry delays after source errors (exponential with jitter)'),
  requireInitialSync: z
    .boolean()
    .default(true)
    .describe('Report not ready until a version has been published (holds a native-sidecar startup probe)'),
  validate: validate.prefault({}),
  reload: reload.optional(),
  limits,
});

export type ConfigSyncConfig = z.output<typeof configSchema>;
export type SourceConfig = ConfigSyncConfig['source'];
export type ReloadConfig = NonNullable<ConfigSyncConfig['reload']>;
export type ValidateConfig = ConfigSyncConfig['validate'];
export type Limits = ConfigSyncConfig['limits'];
