// The plugin kit: the contract between the agent and a plugin, built-in or third-party, and
// everything a plugin may take from the agent. Third-party plugins import it as
// `sidekick/plugin-api`; built-in plugins import this file and nothing else from src/
// (test/plugins/plugin-imports.test.ts). Modelled on Caddy modules (static descriptor, strict
// config) and Vector's component context (plain-data config in, running thing out).
// Every re-export below is light: loading the kit loads no built-in module and no dependency
// the agent has not loaded already (valibot).
import type { Logger } from 'pino';
import type * as v from 'valibot';

export type { Logger };
// Config values: durations ("500ms", "10s") and sizes ("64KiB") as schemas and parsers.
export { duration, parseDuration, parseSize, size } from './config/units.ts';
// Config keys with descriptions, cross-key checks and common value schemas.
export { crossCheck, field, integer, nonEmpty, optionalField } from './config/schema-fields.ts';
// "host:port" listen addresses.
export { type ListenAddress, listenAddress, parseListenAddress } from './config/listen-address.ts';
// Retries: exponential backoff with full jitter, and an abortable sleep.
export { backoffDelay, sleep } from './host/backoff.ts';
// Errors: one helper, one pattern (ERR_SIDEKICK_<AREA>_<WHAT>), one catalogue.
export { ERROR_CODE_PATTERN, ERROR_CODES, type ErrorCode, SidekickError, sidekickError } from './errors.ts';
// node:http, node:tls and node:http2 without the idle memory an ES import of them costs.
export { loadHttp, loadHttp2, loadReadTlsClientHello, loadTls } from './builtin-modules.ts';

// The app's processes by name, for plugins that signal or watch it.
export { processesByName } from './processes-by-name.ts';

/** What a plugin module exports (as `default` or as `plugin`). */
export interface PluginDescriptor<Config = any> {
  /** Built-in type name, e.g. `tls-terminator`. Third-party plugins are addressed by path or package instead. */
  readonly type: string;
  /** One line for `sidekick --help`, the JSON Schema and `/status`. */
  readonly description: string;
  /**
   * The plugin's own config keys (everything under the instance except `type`).
   * A function given the agent's valibot (`(v) => v.strictObject({...})`), so a plugin needs
   * no schema library of its own; or any Standard Schema (valibot, zod >= 3.24, ArkType).
   * Use strict objects: an unknown key must be an error. Describe every field.
   */
  readonly configSchema: ConfigSchema<Config> | ((valibot: typeof v) => ConfigSchema<Config>);
  /**
   * Provision a running thing from validated config. Must not bind ports or start work:
   * that is `start()`'s job, so that a failed start can be rolled back cleanly.
   * Load heavy modules here with `await import(...)`, never at the top of the descriptor file.
   */
  create(config: Config, ctx: PluginContext): PluginInstance | Promise<PluginInstance>;
}

/** A valibot schema, or any schema that implements Standard Schema (https://standardschema.dev). */
export type ConfigSchema<Config = unknown> = v.GenericSchema<unknown, Config> | v.GenericSchemaAsync<unknown, Config> | StandardSchema<Config>;

export interface StandardSchema<Output = unknown> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    validate(value: unknown): StandardResult<Output> | Promise<StandardResult<Output>>;
  };
}

export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly { readonly message: string; readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] }[] };

export interface PluginInstance {
  /** Bind, connect, begin work. Reject if the instance cannot run; the host rolls back. */
  start(): Promise<void>;
  /**
   * Stop taking new work and drain in-flight work until `deadline`; at the deadline
   * `signal` aborts and the plugin must give up at once. The host calls it once per instance,
   * but it should be idempotent anyway (return the same promise).
   */
  stop(opts: StopOptions): Promise<void>;
  /** Cheap, synchronous; polled by /readyz and /status. Omitted means always ready once started. */
  health?(): HealthReport;
}

export interface StopOptions {
  /** Epoch milliseconds by which stop must have finished. */
  readonly deadline: number;
  /** Aborted at the deadline: force-close whatever is left. */
  readonly signal: AbortSignal;
}

export interface HealthReport {
  ready: boolean;
  /** Why not ready; shown by /readyz. */
  reason?: string;
  /** Plugin-reported details for /status. Never put secrets here. */
  details?: Record<string, unknown>;
}

export interface PluginContext {
  /** Instance name from the config (the key under `plugins:`). */
  readonly name: string;
  readonly type: string;
  /** Child logger already bound to `{ instance, plugin }`. */
  readonly logger: Logger;
  /**
   * How the agent's log lines look (`log.format`): a plugin that writes lines of its own to stdout
   * (an access log) follows it, so a terminal does not get JSON among pretty lines.
   */
  readonly logFormat: 'json' | 'pretty';
  /** Metric helpers; every series is labelled with `instance` automatically. */
  readonly metrics: PluginMetrics;
  /** This instance's private, existing, writable directory (`<dataDir>/<instance>`). */
  readonly dataDir: string;
  /** Resolve a path from the config: relative paths are taken from the config file's directory. */
  resolvePath(path: string): string;
  /** Aborted when this instance is being stopped or replaced. */
  readonly signal: AbortSignal;
  /**
   * State that outlives the instance across a reload (as Caddy's UsagePool): the value a
   * previous instance of this name kept under `key`, else `make()`'s, kept for the next one.
   * What the replacing instance does not ask for while it is created or started is dropped. In
   * memory only (a restart of the agent starts afresh); the value must not hold the old
   * instance's sockets or timers. Key it by everything the value depends on (a rate-limit rule's
   * settings), so a changed setting starts afresh.
   */
  keep<T>(key: string, make: () => T): T;
  /**
   * Report a run-time failure the plugin cannot recover from. The host stops this
   * instance and starts a fresh one with exponential backoff; other instances are untouched.
   */
  fail(error: Error): void;
}

export type LabelValues = Record<string, string | number>;

export interface PluginMetrics {
  /** Name must start with `sidekick_`; counters should end in `_total`. */
  counter(opts: MetricOptions): CounterMetric;
  gauge(opts: MetricOptions): GaugeMetric;
  histogram(opts: MetricOptions & { buckets?: number[] }): HistogramMetric;
}

export interface MetricOptions {
  name: string;
  help: string;
  /** Extra label names besides `instance`. */
  labelNames?: readonly string[];
}

// `labels(...)` returns a child bound to those values: call it once and keep the
// child on hot paths, so nothing is allocated per event.
export interface CounterMetric {
  inc(value?: number): void;
  labels(values: LabelValues): { inc(value?: number): void };
}
export interface GaugeMetric {
  set(value: number): void;
  inc(value?: number): void;
  dec(value?: number): void;
  labels(values: LabelValues): { set(value: number): void; inc(value?: number): void; dec(value?: number): void };
}
export interface HistogramMetric {
  observe(value: number): void;
  labels(values: LabelValues): { observe(value: number): void };
}

/** Identity helper that gives a descriptor its types. */
export function definePlugin<Config>(descriptor: PluginDescriptor<Config>): PluginDescriptor<Config> {
  return descriptor;
}

// Power-loss-safe state files (temp file, fsync, rename, fsync of the directory), for plugins.
export { writeFileDurably, renameDurably, syncDir, syncFile, syncTree, type DurableWriteOptions } from './durable-file.ts';
