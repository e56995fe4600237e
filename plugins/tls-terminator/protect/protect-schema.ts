// Config keys of the protection in front of the app (http mode): rate limits (nginx's
// limit_req, Envoy's local rate limit), a concurrency limit with a bounded queue (Envoy's
// max_requests / max_pending_requests), and a circuit breaker (Envoy's outlier detection).
import * as v from 'valibot';
import { duration, field, integer, nonEmpty, optionalField } from '../../../src/plugin-api.ts';

/** "10r/s" or "600r/m", as nginx's limit_req_zone rate; parsed to requests per second. */
const rate = v.pipe(
  v.string(),
  v.regex(/^\d+(\.\d+)?r\/[sm]$/, (i) => `expected a rate like "10r/s" or "600r/m", got "${i.input}"`),
  v.transform((s) => Number(s.slice(0, -3)) / (s.endsWith('m') ? 60 : 1)),
  v.check((n) => n > 0, 'must be more than 0'),
);

/** address | forwarded | ja4 | global | header:<name>. */
const key = v.pipe(
  v.string(),
  v.regex(/^(address|forwarded|ja4|global|header:[!#$%&'*+\-.^_`|~0-9A-Za-z]+)$/, (i) => `expected address, forwarded, ja4, global or header:<name>, got "${i.input}"`),
);

const rule = v.strictObject({
  name: optionalField(v.pipe(nonEmpty, v.regex(/^[a-z0-9_-]+$/i, 'letters, digits, - and _ only')), 'Name in metrics, the log and /status (default: rule-<index>)'),
  key: field(
    key,
    'What a bucket is kept per: address (the client address, from the PROXY protocol when used), forwarded (as address, but for trustedProxies the last X-Forwarded-For address that is not one of them, as nginx real_ip_recursive), ja4 (TLS fingerprint), header:<name> (a request header; requests without it are not limited by this rule), or global (one bucket)',
  ),
  rate: field(rate, 'Sustained rate per key, "10r/s" or "600r/m" (nginx limit_req_zone rate)'),
  burst: optionalField(
    integer(1, 1_000_000),
    'Bucket size: the most requests a key may send at once after a quiet spell (Envoy max_tokens; nginx burst + 1 with nodelay). Default: one second of `rate`, at least 1',
  ),
  methods: field(v.array(v.pipe(v.string(), v.regex(/^[A-Z]+$/, 'an upper-case method name'))), 'Methods this rule applies to (empty: all)', []),
  pathPrefix: field(v.pipe(v.string(), v.startsWith('/', 'must start with /')), 'Request paths this rule applies to (prefix match)', '/'),
  maxKeys: field(
    integer(1, 10_000_000),
    'Most keys remembered (least recently seen dropped first, counted in sidekick_tls_terminator_rate_limit_evictions_total): memory stays bounded however many clients arrive',
    100_000,
  ),
});

export const rateLimits = field(
  v.array(rule),
  'Token-bucket rate limits; a request over any matching rule gets 429 with Retry-After, counted by rule',
  [],
);

export const concurrency = optionalField(
  v.strictObject({
    maxRequests: field(integer(1), 'Most requests at the app at once (Envoy max_requests); the rest wait in the queue', 64),
    maxPending: field(integer(0), 'Most requests waiting for a slot (Envoy max_pending_requests); beyond it 503 with Retry-After at once', 128),
    pendingTimeout: field(v.pipe(duration(), v.minValue(1, 'must be more than 0')), 'Longest wait in the queue; then 503 with Retry-After', '5s'),
  }),
  'Limit the requests in flight to the app, so a slow app is not buried under more than it can take. Absent: limits.upstreamConnections in flight, an unbounded queue',
);

const failureClass = v.picklist(['connect', 'timeout', '5xx', 'gateway']);

export const circuitBreaker = optionalField(
  v.strictObject({
    consecutiveFailures: field(integer(1, 10_000), 'Failed requests in a row that eject the app (Envoy consecutive_5xx)', 5),
    failOn: field(
      v.pipe(v.array(failureClass), v.minLength(1)),
      'What counts as a failure: connect (connection refused or reset, no answer), timeout (timeouts.upstream), 5xx (any 5xx answer), gateway (502, 503, 504 only, as Envoy consecutive_gateway_failure)',
      ['connect', 'timeout', '5xx'],
    ),
    baseEjectionTime: field(v.pipe(duration(), v.minValue(1, 'must be more than 0')), 'How long requests get 503 after an ejection; multiplied by the ejections in a row (Envoy base_ejection_time)', '30s'),
    maxEjectionTime: field(duration(), 'Cap on the ejection time (Envoy max_ejection_time)', '5m'),
    readiness: field(v.boolean(), "/readyz reports not ready while the app is ejected, so Kubernetes takes the pod out of the Service's endpoints", false),
  }),
  'Stop sending to a failing app for a while, then probe it with one request (Envoy outlier detection)',
);
