// The log-shipper's config keys (the contract of issue 5). Strict objects: a typo is an error
// that names the key, never a silently ignored setting.
import * as v from 'valibot';
import { crossCheck, field, integer, nonEmpty, optionalField, duration, size } from '../../src/plugin-api.ts';

const url = v.pipe(v.string(), v.url());
const hostPort = v.pipe(v.string(), v.regex(/^.+:\d{1,5}$/, 'expected "host:port"'));

const tls = field(
  v.strictObject({
    ca: optionalField(v.string(), 'PEM file of the CA that signed the server certificate (relative to the config file)'),
    cert: optionalField(v.string(), 'PEM client certificate for mutual TLS'),
    key: optionalField(v.string(), 'PEM private key of the client certificate'),
    serverName: optionalField(v.string(), 'Name checked against the server certificate (default: the host)'),
    insecureSkipVerify: field(v.boolean(), 'Do not verify the server certificate (testing only)', false),
  }),
  'TLS settings for the connection to the sink',
);
const auth = optionalField(
  v.union([
    v.strictObject({
      basic: field(
        v.strictObject({ username: field(v.string(), 'User name'), password: field(v.string(), 'Password (use ${ENV})') }),
        'HTTP basic auth',
      ),
    }),
    v.strictObject({ bearer: field(v.string(), 'Bearer token (use ${ENV})') }),
  ]),
  'HTTP authentication: { basic: { username, password } } or { bearer: token }',
);
const httpCommon = {
  headers: field(v.record(v.string(), v.string()), 'Extra HTTP headers sent with every request', {}),
  auth,
  gzip: field(v.boolean(), 'gzip the request body (Content-Encoding: gzip)', false),
  timeout: field(duration(), 'Time allowed for one request before it is retried', '30s'),
  tls: v.optional(tls),
};

const stdoutSink = v.strictObject({ type: field(v.literal('stdout'), 'One JSON event per line on standard output') });
const fileSink = v.strictObject({
  type: field(v.literal('file'), 'Append NDJSON events to a local file'),
  path: field(nonEmpty, 'File to append to (relative to the config file)'),
});
const httpSink = v.strictObject({
  type: field(v.literal('http'), 'POST batches as NDJSON'),
  url: field(url, 'Endpoint receiving the NDJSON batches'),
  ...httpCommon,
});
const lokiSink = v.strictObject({
  type: field(v.literal('loki'), 'Grafana Loki JSON push API'),
  url: field(url, 'Loki base URL (…/loki/api/v1/push is added unless the URL already ends with it)'),
  tenant: optionalField(v.string(), 'X-Scope-OrgID header for multi-tenant Loki'),
  ...httpCommon,
});
const elasticsearchSink = v.strictObject({
  type: field(v.literal('elasticsearch'), 'Elasticsearch or OpenSearch _bulk API'),
  url: field(url, 'Cluster base URL'),
  index: field(nonEmpty, 'Target index or data stream', 'logs-sidekick'),
  ...httpCommon,
});
const syslogSink = v.strictObject({
  type: field(v.literal('syslog'), 'RFC 5424 over TCP with octet counting (RFC 6587), optional TLS (RFC 5425)'),
  address: field(hostPort, 'Receiver as host:port'),
  facility: field(integer(0, 23), 'Syslog facility number (16 = local0)', 16),
  severity: field(integer(0, 7), 'Syslog severity (6 = informational)', 6),
  appName: field(v.pipe(v.string(), v.maxLength(48)), 'APP-NAME field', 'sidekick'),
  hostname: optionalField(v.pipe(v.string(), v.maxLength(255)), 'HOSTNAME field (default: os.hostname())'),
  timeout: field(duration(), 'Time allowed for connecting and writing one batch', '10s'),
  maxMessageSize: field(
    v.pipe(size(), v.minValue(480, 'at least 480 bytes (what RFC 5424 receivers must accept)')),
    'Longest SYSLOG-MSG sent (bytes); a longer event goes as several messages flagged split (8096: stock rsyslog)',
    8096,
  ),
  tls: v.optional(tls),
});
const forwardSink = v.strictObject({
  type: field(v.literal('forward'), 'Fluentd forward protocol v1 (PackedForward) with chunk acknowledgement'),
  address: field(hostPort, 'Fluentd/Fluent Bit forward input as host:port'),
  tag: field(nonEmpty, 'Fluentd tag for every event', 'sidekick'),
  ackTimeout: field(duration(), 'Time to wait for the chunk ack before resending', '30s'),
  gzip: field(v.boolean(), 'CompressedPackedForward (gzip the entries)', false),
  tls: v.optional(tls),
});
const s3Sink = v.strictObject({
  type: field(v.literal('s3'), 'gzip NDJSON objects in an S3 bucket'),
  bucket: field(nonEmpty, 'Bucket name'),
  region: field(v.string(), 'AWS region', 'us-east-1'),
  endpoint: optionalField(url, 'Custom endpoint (MinIO, s3rver, ...); implies path-style addressing'),
  key: field(
    v.string(),
    'Object key template: {yyyy} {mm} {dd} {hh} {instance} {ts} (epoch ms) {seq}',
    'logs/{yyyy}/{mm}/{dd}/{hh}/{instance}-{ts}-{seq}.ndjson.gz',
  ),
  maxObjectSize: field(size(), 'Roll the object when this much uncompressed NDJSON is buffered', '8MiB'),
  maxObjectAge: field(duration(), 'Roll the object after this long even if small', '60s'),
  credentials: optionalField(
    v.strictObject({ accessKeyId: field(v.string(), 'Access key id'), secretAccessKey: field(v.string(), 'Secret access key') }),
    'Static credentials (default: the SDK credential chain)',
  ),
  timeout: field(duration(), 'Time allowed for one upload', '60s'),
});

export const sinkSchema = field(
  v.variant('type', [stdoutSink, fileSink, httpSink, lokiSink, elasticsearchSink, syslogSink, forwardSink, s3Sink]),
  'Where events go: http | loki | elasticsearch | s3 | syslog | forward | file | stdout',
);

const keys = v.strictObject({
  include: field(v.pipe(v.array(nonEmpty), v.minLength(1)), 'Glob patterns of files to tail (absolute, or relative to the config file)'),
  exclude: field(v.array(nonEmpty), 'Glob patterns of files never to tail (e.g. rotated *.gz)', []),
  readFrom: field(v.picklist(['beginning', 'end']), 'Where a file seen for the first time is read from', 'beginning'),
  multiline: optionalField(
    v.strictObject({
      start: field(nonEmpty, 'Regex matching the first line of an event; other lines join the previous one'),
      timeout: field(duration(), 'Emit a pending multiline event after this long without a new line', '1s'),
      maxLines: field(integer(1), 'Emit the event once it has this many lines', 500),
    }),
    'Join continuation lines (stack traces) into one event',
  ),
  parse: field(
    v.picklist(['raw', 'json', 'regex']),
    'raw: the line is the message; json: fields from a JSON line; regex: named groups of `regex`',
    'raw',
  ),
  regex: optionalField(v.string(), 'With parse: regex, a regex with named groups that become fields'),
  timestamp: optionalField(
    v.strictObject({
      field: field(nonEmpty, 'Parsed field holding the event time (a.b for a nested JSON field)'),
      format: field(
        v.picklist(['iso8601', 'unix', 'unix_ms', 'unix_us', 'unix_ns']),
        'iso8601 (RFC 3339; no zone means UTC) or epoch seconds / ms / µs / ns, as a number or a string',
        'iso8601',
      ),
    }),
    'With parse: json or regex, take the event time from a parsed field; events without it keep the read time',
  ),
  labels: field(v.record(v.string(), v.string()), 'Constant labels added to every event (${ENV} is expanded); keep them low-cardinality', {}),
  maxLineSize: field(size(), 'Longer lines are split into pieces flagged "split", never dropped', '256KiB'),
  partialLineTimeout: field(duration(), 'Emit a last line without newline after this long (flagged "partial")', '5s'),
  rotateWait: field(duration(), 'Keep reading a renamed or deleted file this long after its last growth', '5s'),
  pollInterval: field(duration(), 'How often files are checked for growth, rotation and truncation besides watch events', '250ms'),
  fingerprintSize: field(size(), 'Bytes at the start of a file hashed (with device and inode) to identify it', '1KiB'),
  readBufferSize: field(size(), 'Bytes read from a file at once', '256KiB'),
  buffer: field(size(), 'Memory for encoded events not yet acknowledged; when full, reading pauses (files on disk are the buffer)', '2MiB'),
  batch: field(
    v.strictObject({
      maxBytes: field(size(), 'Send a batch once its encoded payload holds this many bytes', '1MiB'),
      maxEvents: field(integer(1), 'Send a batch once it holds this many events', 10_000),
      maxWait: field(duration(), 'Send a non-empty batch after this long', '1s'),
      sendWhenCaughtUp: field(
        v.boolean(),
        'Send the open batch as soon as every file is read to its end and no batch is in flight (low latency); false waits for maxBytes/maxEvents/maxWait',
        true,
      ),
    }),
    'Batch bounds',
    {},
  ),
  retry: field(
    v.strictObject({
      initialDelay: field(duration(), 'First retry delay (doubles each attempt, with jitter)', '500ms'),
      maxDelay: field(duration(), 'Longest retry delay', '30s'),
    }),
    'Retries of a failed batch: forever for transient errors (the files are the buffer)',
    {},
  ),
  deadLetterFile: optionalField(v.string(), 'Where permanently rejected batches go (default: <dataDir>/dead-letter.ndjson)'),
  sink: sinkSchema,
});

export const configSchema = v.pipe(
  keys,
  crossCheck<v.InferOutput<typeof keys>>((c, problem) => {
    const checkRegex = (pattern: string | undefined, path: string[]) => {
      if (pattern === undefined) return;
      try {
        new RegExp(pattern);
      } catch (err) {
        problem(path, `invalid regex: ${(err as Error).message}`);
      }
    };
    if (c.parse === 'regex' && !c.regex) problem(['regex'], 'parse: regex needs a `regex` with named groups');
    checkRegex(c.regex, ['regex']);
    if (c.timestamp && c.parse === 'raw') problem(['timestamp'], 'needs parse: json or regex (the time comes from a parsed field)');
    checkRegex(c.multiline?.start, ['multiline', 'start']);
    if (c.maxLineSize > c.readBufferSize) problem(['maxLineSize'], 'must not exceed readBufferSize');
  }),
);

export type LogShipperConfig = v.InferOutput<typeof configSchema>;
export type SinkConfig = LogShipperConfig['sink'];
export type TlsConfig = v.InferOutput<typeof tls>;
