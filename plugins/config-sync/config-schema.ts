// The config-sync keys (the contract of issue 4). Strict objects: a typo is an error that
// names the key, never a silently ignored setting.
import * as v from 'valibot';
import { field, integer, nonEmpty, optionalField, duration, size } from '../../src/plugin-api.ts';

const url = v.pipe(v.string(), v.url());
const headers = v.record(v.string(), v.string());

const s3Source = field(
  v.strictObject({
    bucket: field(v.pipe(v.string(), v.minLength(3)), 'Bucket name'),
    prefix: field(v.string(), 'Key prefix mirrored as the target tree, e.g. "app/" (empty: the whole bucket)', ''),
    region: optionalField(v.string(), 'AWS region (default: the SDK default chain, e.g. AWS_REGION)'),
    endpoint: optionalField(url, 'Endpoint of an S3-compatible store, e.g. http://minio:9000'),
    forcePathStyle: field(v.boolean(), 'Address the bucket in the path (most S3-compatible stores need this)', false),
    pageSize: optionalField(
      integer(1, 1000),
      "Keys per ListObjectsV2 page (MaxKeys; default: the store's, 1000 on AWS); the listing always follows every page",
    ),
  }),
  'Mirror an S3 bucket prefix; credentials come from the SDK default chain (env, IRSA, pod identity, profile)',
);

const httpSource = field(
  v.strictObject({
    url: field(url, 'URL of one file, fetched with If-None-Match / If-Modified-Since'),
    file: optionalField(nonEmpty, 'Name of the file in the target (default: the last segment of the URL path)'),
    headers: field(headers, 'Extra request headers, e.g. Authorization (use ${ENV})', {}),
  }),
  'One HTTP(S) URL published as one file',
);

const dirSource = field(
  v.strictObject({
    path: field(nonEmpty, 'Local directory (e.g. a mounted ConfigMap; its ..data layout is followed, ..* entries ignored)'),
  }),
  'A local directory tree',
);

const source = field(
  v.union([v.strictObject({ s3: s3Source }), v.strictObject({ http: httpSource }), v.strictObject({ dir: dirSource })]),
  'Where the files come from: exactly one of { s3 }, { http } or { dir }',
);

const signalReload = field(
  v.pipe(
    v.strictObject({
      name: field(v.pipe(v.string(), v.regex(/^SIG[A-Z0-9]+$/, 'expected a signal name like "SIGHUP"')), 'Signal to send', 'SIGHUP'),
      pidFile: optionalField(v.string(), 'File holding the app pid (read at every reload; relative to the config file)'),
      process: optionalField(v.string(), 'Process name matched against /proc/*/comm and argv[0] (needs shareProcessNamespace: true)'),
    }),
    v.check((s) => (s.pidFile === undefined) !== (s.process === undefined), 'set exactly one of pidFile or process'),
  ),
  'Signal the app, found by pid file or process name',
);

const httpReload = field(
  v.strictObject({
    url: field(url, 'Reload endpoint of the app'),
    method: field(v.string(), 'HTTP method', 'POST'),
    expectedStatus: optionalField(integer(100, 599), 'Status that means success (default: any 2xx)'),
    timeout: field(duration(), 'Time allowed for one call', '5s'),
    retries: field(integer(0, 20), 'Further attempts after a failed call, with backoff', 3),
    headers: field(headers, 'Extra request headers', {}),
  }),
  'Call an HTTP endpoint of the app',
);

const execReload = field(
  v.strictObject({
    command: field(v.pipe(v.array(v.string()), v.minLength(1)), 'argv of a command run after publish; "{dir}" is replaced by the target'),
    timeout: field(duration(), 'Time allowed before the command is killed', '30s'),
  }),
  'Run a command',
);

const healthCheck = field(
  v.pipe(
    v.strictObject({
      url: field(url, 'App health URL; must answer 2xx after the reload'),
      timeout: field(duration(), 'How long the app may take to come back healthy before rollback', '10s'),
      interval: field(duration(), 'Time between health probes', '500ms'),
      delay: field(
        duration(),
        'Wait this long after the reload before the first probe (an app that reloads in the background still answers on the old config at first)',
        '0s',
      ),
      successThreshold: field(integer(1, 100), "Consecutive healthy probes needed (like a Kubernetes probe's successThreshold)", 1),
      expectBody: optionalField(
        nonEmpty,
        'A healthy answer must contain this text; "{file:PATH}" is the trimmed content of PATH in the version just published, e.g. "{file:VERSION}"',
      ),
    }),
    v.check((h) => h.delay < h.timeout, 'delay must be shorter than timeout (the timeout counts from the reload)'),
  ),
  'After a reload, probe the app; if it does not come back healthy, roll back to the previous version and reload again',
);

const reload = field(
  v.pipe(
    v.strictObject({
      signal: v.optional(signalReload),
      http: v.optional(httpReload),
      exec: v.optional(execReload),
      debounce: field(duration(), 'Wait this long after a publish before reloading, so a burst of publishes gives one reload', '0s'),
      healthCheck: v.optional(healthCheck),
    }),
    v.check((r) => [r.signal, r.http, r.exec].filter(Boolean).length === 1, 'set exactly one of signal, http or exec'),
  ),
  'How the app is told that a new version is in place',
);

const validate = field(
  v.strictObject({
    parse: field(v.boolean(), 'Parse .json, .yaml and .yml files before publishing', true),
    command: optionalField(
      v.pipe(v.array(v.string()), v.minLength(1)),
      'argv run against the staged version; "{dir}" is replaced by its path; non-zero exit => not published',
    ),
    timeout: field(duration(), 'Time allowed for the command', '30s'),
  }),
  'Checks a version must pass before it is published',
);

const limits = field(
  v.strictObject({
    maxFileSize: field(size(), 'Largest single file; a larger one fails the whole version', '16MiB'),
    maxTotalSize: field(size(), 'Largest version (sum of file sizes)', '256MiB'),
    maxFiles: field(integer(1), 'Most files in one version', 10_000),
  }),
  'Limits that make a version fail instead of filling the volume',
  {},
);

export const configSchema = v.strictObject({
  source,
  target: field(nonEmpty, 'Directory published with the Kubernetes AtomicWriter layout (relative to the config file)'),
  interval: field(duration(), 'Time between polls (each delay is shortened by up to `jitter`)', '10s'),
  jitter: field(
    v.pipe(v.number(), v.minValue(0), v.maxValue(0.9)),
    'Fraction of `interval` randomly taken off each delay, so a fleet does not poll in step',
    0.1,
  ),
  timeout: field(duration(), 'Time allowed for one poll (list and downloads)', '30s'),
  backoff: field(
    v.strictObject({
      initial: field(duration(), 'First retry delay after a source error', '1s'),
      max: field(duration(), 'Longest retry delay', '5m'),
    }),
    'Retry delays after source errors (exponential with jitter)',
    {},
  ),
  requireInitialSync: field(v.boolean(), 'Report not ready until a version has been published (holds a native-sidecar startup probe)', true),
  validate: v.optional(validate, {}),
  reload: v.optional(reload),
  limits,
});

export type ConfigSyncConfig = v.InferOutput<typeof configSchema>;
export type SourceConfig = ConfigSyncConfig['source'];
export type ReloadConfig = NonNullable<ConfigSyncConfig['reload']>;
export type ValidateConfig = ConfigSyncConfig['validate'];
export type Limits = ConfigSyncConfig['limits'];
