// The log-shipper's config keys (the contract of issue 5). Strict objects: a typo is an error
// that names the key, never a silently ignored setting.
import { z } from 'zod';
import { duration, size } from '../../src/config/units.ts';

const headers = z.record(z.string(), z.string()).default({}).describe('Extra HTTP headers sent with every request');
const tls = z
  .strictObject({
    ca: z.string().optional().describe('PEM file of the CA that signed the server certificate (relative to the config file)'),
    cert: z.string().optional().describe('PEM client certificate for mutual TLS'),
    key: z.string().optional().describe('PEM private key of the client certificate'),
    serverName: z.string().optional().describe('Name checked against the server certificate (default: the host)'),
    insecureSkipVerify: z.boolean().default(false).describe('Do not verify the server certificate (testing only)'),
  })
  .describe('TLS settings for the connection to the sink');
const auth = z
  .union([
    z.strictObject({ basic: z.strictObject({ username: z.string().describe('User name'), password: z.string().describe('Password (use ${ENV})') }).describe('HTTP basic auth') }),
    z.strictObject({ bearer: z.string().describe('Bearer token (use ${ENV})') }),
  ])
  .optional()
  .describe('HTTP authentication: { basic: { username, password } } or { bearer: token }');
const httpCommon = {
  headers,
  auth,
  gzip: z.boolean().default(false).describe('gzip the request body (Content-Encoding: gzip)'),
  timeout: duration().prefault('30s').describe('Time allowed for one request before it is retried'),
  tls: tls.optional(),
};

const stdoutSink = z.strictObject({ type: z.literal('stdout').describe('One JSON event per line on standard output') });
const fileSink = z.strictObject({
  type: z.literal('file').describe('Append NDJSON events to a local file'),
  path: z.string().min(1).describe('File to append to (relative to the config file)'),
});
const httpSink = z.strictObject({
  type: z.literal('http').describe('POST batches as NDJSON'),
  url: z.url().describe('Endpoint receiving the NDJSON batches'),
  ...httpCommon,
});
const lokiSink = z.strictObject({
  type: z.literal('loki').describe('Grafana Loki JSON push API'),
  url: z.url().describe('Loki base URL (…/loki/api/v1/push is added unless the URL already ends with it)'),
  tenant: z.string().optional().describe('X-Scope-OrgID header for multi-tenant Loki'),
  ...httpCommon,
});
const elasticsearchSink = z.strictObject({
  type: z.literal('elasticsearch').describe('Elasticsearch or OpenSearch _bulk API'),
  url: z.url().describe('Cluster base URL'),
  index: z.string().min(1).default('logs-sidekick').describe('Target index or data stream'),
  ...httpCommon,
});
const syslogSink = z.strictObject({
  type: z.literal('syslog').describe('RFC 5424 over TCP with octet counting (RFC 6587), optional TLS (RFC 5425)'),
  address: z.string().regex(/^.+:\d{1,5}$/, 'expected "host:port"').describe('Receiver as host:port'),
  facility: z.number().int().min(0).max(23).default(16).describe('Syslog facility number (16 = local0)'),
  severity: z.number().int().min(0).max(7).default(6).describe('Syslog severity (6 = informational)'),
  appName: z.string().max(48).default('sidekick').describe('APP-NAME field'),
  hostname: z.string().max(255).optional().describe('HOSTNAME field (default: os.hostname())'),
  timeout: duration().prefault('10s').describe('Time allowed for connecting and writing one batch'),
  tls: tls.optional(),
});
const forwardSink = z.strictObject({
  type: z.literal('forward').describe('Fluentd forward protocol v1 (PackedForward) with chunk acknowledgement'),
  address: z.string().regex(/^.+:\d{1,5}$/, 'expected "host:port"').describe('Fluentd/Fluent Bit forward input as host:port'),
  tag: z.string().min(1).default('sidekick').describe('Fluentd tag for every event'),
  ackTimeout: duration().prefault('30s').describe('Time to wait for the chunk ack before resending'),
  gzip: z.boolean().default(false).describe('CompressedPackedForward (gzip the entries)'),
  tls: tls.optional(),
});
const s3Sink = z.strictObject({
  type: z.literal('s3').describe('gzip NDJSON objects in an S3 bucket'),
  bucket: z.string().min(1).describe('Bucket name'),
  region: z.string().default('us-east-1').describe('AWS region'),
  endpoint: z.url().optional().describe('Custom endpoint (MinIO, s3rver, ...); implies path-style addressing'),
  key: z
    .string()
    .default('logs/{yyyy}/{mm}/{dd}/{hh}/{instance}-{ts}-{seq}.ndjson.gz')
    .describe('Object key template: {yyyy} {mm} {dd} {hh} {instance} {ts} (epoch ms) {seq}'),
  maxObjectSize: size().prefault('8MiB').describe('Roll the object when this much uncompressed NDJSON is buffered'),
  maxObjectAge: duration().prefault('60s').describe('Roll the object after this long even if small'),
  credentials: z
    .strictObject({ accessKeyId: z.string().describe('Access key id'), secretAccessKey: z.string().describe('Secret access key') })
    .optional()
    .describe('Static credentials (default: the SDK credential chain)'),
  timeout: duration().prefault('60s').describe('Time allowed for one upload'),
});

export const sinkSchema = z
  .discriminatedUnion('type', [stdoutSink, fileSink, httpSink, lokiSink, elasticsearchSink, syslogSink, forwardSink, s3Sink])
  .describe('Where events go: http | loki | elasticsearch | s3 | syslog | forward | file | stdout');

export const configSchema = z.strictObject({
  include: z.array(z.string().min(1)).min(1).describe('Glob patterns of files to tail (absolute, or relative to the config file)'),
  exclude: z.array(z.string().min(1)).default([]).describe('Glob patterns of files never to tail (e.g. rotated *.gz)'),
  readFrom: z.enum(['beginning', 'end']).default('beginning').describe('Where a file seen for the first time is read from'),
  multiline: z
    .strictObject({
      start: z.string().min(1).describe('Regex matching the first line of an event; other lines join the previous one'),
      timeout: duration().prefault('1s').describe('Emit a pending multiline event after this long without a new line'),
      maxLines: z.number().int().positive().default(500).describe('Emit the event once it has this many lines'),
    })
    .optional()
    .describe('Join continuation lines (stack traces) into one event'),
  parse: z.enum(['raw', 'json', 'regex']).default('raw').describe('raw: the line is the message; json: fields from a JSON line; regex: named groups of `regex`'),
  regex: z.string().optional().describe('With parse: regex, a regex with named groups that become fields'),
  timestamp: z
    .strictObject({
      field: z.string().min(1).describe('Parsed field holding the event time (a.b for a nested JSON field)'),
      format: z.enum(['iso8601', 'unix', 'unix_ms', 'unix_us', 'unix_ns']).default('iso8601').describe('iso8601 (RFC 3339; no zone means UTC) or epoch seconds / ms / µs / ns, as a number or a string'),
    })
    .optional()
    .describe('With parse: json or regex, take the event time from a parsed field; events without it keep the read time'),
  labels: z.record(z.string(), z.string()).default({}).describe('Constant labels added to every event (${ENV} is expanded); keep them low-cardinality'),
  maxLineSize: size().prefault('256KiB').describe('Longer lines are split into pieces flagged "split", never dropped'),
  partialLineTimeout: duration().prefault('5s').describe('Emit a last line without newline after this long (flagged "partial")'),
  rotateWait: duration().prefault('5s').describe('Keep reading a renamed or deleted file this long after its last growth'),
  pollInterval: duration().prefault('250ms').describe('How often files are checked for growth, rotation and truncation besides watch events'),
  fingerprintSize: size().prefault('1KiB').describe('Bytes at the start of a file hashed (with device and inode) to identify it'),
  readBufferSize: size().prefault('256KiB').describe('Bytes read from a file at once'),
  buffer: size().prefault('2MiB').describe('Memory for encoded events not yet acknowledged; when full, reading pauses (files on disk are the buffer)'),
  batch: z
    .strictObject({
      maxBytes: size().prefault('1MiB').describe('Send a batch once its encoded payload holds this many bytes'),
      maxEvents: z.number().int().positive().default(10_000).describe('Send a batch once it holds this many events'),
      maxWait: duration().prefault('1s').describe('Send a non-empty batch after this long'),
      sendWhenCaughtUp: z.boolean().default(true).describe('Send the open batch as soon as every file is read to its end and no batch is in flight (low latency); false waits for maxBytes/maxEvents/maxWait'),
    })
    .prefault({})
    .describe('Batch bounds'),
  retry: z
    .strictObject({
      initialDelay: duration().prefault('500ms').describe('First retry delay (doubles each attempt, with jitter)'),
      maxDelay: duration().prefault('30s').describe('Longest retry delay'),
    })
    .prefault({})
    .describe('Retries of a failed batch: forever for transient errors (the files are the buffer)'),
  deadLetterFile: z.string().optional().describe('Where permanently rejected batches go (default: <dataDir>/dead-letter.ndjson)'),
  sink: sinkSchema,
}).superRefine((c, ctx) => {
  const check = (pattern: string | undefined, path: string[]) => {
    if (pattern === undefined) return;
    try {
      new RegExp(pattern);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path, message: `invalid regex: ${(err as Error).message}` });
    }
  };
  if (c.parse === 'regex' && !c.regex) ctx.addIssue({ code: 'custom', path: ['regex'], message: 'parse: regex needs a `regex` with named groups' });
  check(c.regex, ['regex']);
  if (c.timestamp && c.parse === 'raw') ctx.addIssue({ code: 'custom', path: ['timestamp'], message: 'needs parse: json or regex (the time comes from a parsed field)' });
  check(c.multiline?.start, ['multiline', 'start']);
  if (c.maxLineSize > c.readBufferSize) ctx.addIssue({ code: 'custom', path: ['maxLineSize'], message: 'must not exceed readBufferSize' });
});

export type LogShipperConfig = z.output<typeof configSchema>;
export type SinkConfig = LogShipperConfig['sink'];
export type TlsConfig = z.output<typeof tls>;
