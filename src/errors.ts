// One error convention for the agent and its plugins, as undici and fastify keep one: every error
// the agent makes carries a stable `code` ERR_SIDEKICK_<AREA>_<WHAT>, listed here once with what
// it means. Logs, /status, metric labels and tests tell failures apart by it, never by message
// text. docs/errors.md says, for each code, what to do; a test keeps the two and the code in step.

/** ERR_SIDEKICK_ then an area (CONFIG, PLUGIN, HOST, INJECT, CAPTURE, TLS, SYNC, LOGS, APP), then what. */
export const ERROR_CODE_PATTERN = /^ERR_SIDEKICK_(CONFIG|PLUGIN|HOST|INJECT|CAPTURE|TLS|SYNC|LOGS|APP)(_[A-Z0-9]+)+$/;

/** Every code the agent and its built-in plugins use, with what it means. */
export const ERROR_CODES = {
  // The agent
  ERR_SIDEKICK_CONFIG_INVALID: 'the config file cannot be read, is not YAML, or a key is wrong',
  ERR_SIDEKICK_PLUGIN_LOAD: "an instance's `type` names no built-in plugin, file or package, or the module is not a plugin",
  ERR_SIDEKICK_PLUGIN_START: "an instance's start() failed",
  ERR_SIDEKICK_PLUGIN_START_TIMEOUT: "an instance's start() was still pending at restart.startTimeout",
  ERR_SIDEKICK_HOST_SHUTTING_DOWN: 'a reload arrived after shutdown had begun',
  ERR_SIDEKICK_INJECT_INPUT: '`sidekick inject` or the webhook was given input it cannot change (not YAML, no containers, no name for the ConfigMap)',
  ERR_SIDEKICK_INJECT_ANNOTATION: 'a `sidekick.dev/*` annotation of the pod has an invalid value',
  ERR_SIDEKICK_INJECT_CLASH: "the pod already has a container, volume or port Sidekick needs, or a mount names a volume the pod lacks",
  ERR_SIDEKICK_CAPTURE_NO_BACKEND: '`sidekick capture` found neither nft nor iptables',
  ERR_SIDEKICK_CAPTURE_CAPABILITY: '`sidekick capture` lacks CAP_NET_ADMIN in the network namespace',
  ERR_SIDEKICK_CAPTURE_APPLY: '`sidekick capture` could not write or remove its rules',
  // tls-terminator
  ERR_SIDEKICK_TLS_CERT: 'a certificate, key or client CA file is missing, unreadable, not PEM, or does not match',
  ERR_SIDEKICK_TLS_CLIENT_HELLO: 'a client sent a malformed TLS ClientHello',
  ERR_SIDEKICK_TLS_PROXY_PROTOCOL: 'a connection had a missing, slow or malformed PROXY protocol header',
  ERR_SIDEKICK_TLS_UPSTREAM_ADDRESS: '`upstream` is not an http://, https://, tcp://, tls:// or unix socket address',
  ERR_SIDEKICK_TLS_UPSTREAM_RESPONSE: 'the app sent a malformed HTTP response',
  ERR_SIDEKICK_TLS_UPSTREAM_CLOSED: 'a request waited for an app connection while the instance stopped',
  ERR_SIDEKICK_TLS_CLIENT_STALLED: 'a client stopped reading its response for longer than timeouts.idle',
  ERR_SIDEKICK_TLS_OVERLOADED: 'a request found the queue to the app full (concurrency.maxPending) or waited in it past concurrency.pendingTimeout: 503',
  // config-sync
  ERR_SIDEKICK_SYNC_SOURCE: 'the source (S3, HTTP, directory) failed to list or fetch',
  ERR_SIDEKICK_SYNC_SOURCE_CHANGED: 'the source changed while it was read (a ConfigMap swap); polled again at once',
  ERR_SIDEKICK_SYNC_TIMEOUT: 'a poll did not finish within `timeout`',
  ERR_SIDEKICK_SYNC_UNSAFE_PATH: 'a source path is absolute, has `..`, appears twice, or is a link leaving the source',
  ERR_SIDEKICK_SYNC_LIMIT: 'the source exceeds `limits` (files, file size, total size, depth)',
  ERR_SIDEKICK_SYNC_INCOMPLETE: 'a download was shorter than announced or had no body',
  ERR_SIDEKICK_SYNC_VALIDATION: 'a new version failed validation (parse or `validate.command`); the published one stays',
  ERR_SIDEKICK_SYNC_PUBLISH: 'the new version could not be published into the target',
  ERR_SIDEKICK_SYNC_TARGET: 'the target could not be written (full disk, read-only volume, permissions)',
  ERR_SIDEKICK_SYNC_STATE: "the instance's state could not be saved in its dataDir",
  ERR_SIDEKICK_SYNC_COMMAND_TIMEOUT: '`validate.command` or `reload.exec` did not finish in time and was killed',
  ERR_SIDEKICK_SYNC_RELOAD: 'telling the app to reload failed (signal, HTTP call or command)',
  ERR_SIDEKICK_SYNC_APP_NOT_STARTED: 'no pid file yet: the app has not started and will read the version when it does',
  ERR_SIDEKICK_SYNC_UNHEALTHY: 'the app failed its health check after a reload; the previous version was put back',
  // log-shipper
  ERR_SIDEKICK_LOGS_SINK_OPEN: 'the file sink cannot open its path',
  ERR_SIDEKICK_LOGS_SINK_TIMEOUT: 'the sink did not connect, accept or answer in time; retried',
  ERR_SIDEKICK_LOGS_SINK_TRANSIENT: 'the sink refused a batch for now (408, 429, 5xx, throttling, network); retried',
  ERR_SIDEKICK_LOGS_SINK_REJECTED: 'the sink refused a batch for good (4xx other than 408/429); dead-lettered',
  ERR_SIDEKICK_LOGS_FORWARD_CLOSED: 'the Fluentd forward server closed the connection before acknowledging; retried',
  ERR_SIDEKICK_LOGS_FORWARD_ACK_TIMEOUT: 'the Fluentd forward server did not acknowledge a chunk in time; retried',
  ERR_SIDEKICK_LOGS_CHECKPOINTS: 'the checkpoint file was unreadable; it was moved aside and shipping resumed from what was usable',
  // app-monitor (reported in /status, the instance keeps running)
  ERR_SIDEKICK_APP_NOT_FOUND: 'no process of the app by that name, or the pid of the pid file is not running',
  ERR_SIDEKICK_APP_PID_FILE: 'the pid file is missing or does not hold a pid',
  ERR_SIDEKICK_APP_PERMISSION: "another user's /proc/<pid>/fd or limits is not readable",
  ERR_SIDEKICK_APP_CGROUP: 'no readable cgroup v2 files for the app',
} as const satisfies Record<string, string>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * An Error with a stable `code`. Built-in code passes a code from ERROR_CODES (checked at compile
 * time); a third-party plugin subclasses it with its own codes as the type argument.
 * Subclass it for errors that carry more fields; `name` stays `Error`, so messages read as before.
 */
export class SidekickError<Code extends string = ErrorCode> extends Error {
  readonly code: Code;
  constructor(code: NoInfer<Code>, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** `throw sidekickError('ERR_SIDEKICK_TLS_CERT', 'cannot read cert.pem', { cause })`. */
export function sidekickError(code: ErrorCode, message: string, options?: ErrorOptions): SidekickError {
  return new SidekickError(code, message, options);
}
