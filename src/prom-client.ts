// prom-client, loaded file by file. Its package index loads every default metric, and the
// process CPU one requires @opentelemetry/api (for exemplars the agent never records): about
// 9 MB of idle RSS, an eighth of the whole agent. So the classes and the other default
// metrics come from their own modules, and the three process_cpu_* counters are made here,
// with the same names, help and values as prom-client's.
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const require = createRequire(import.meta.url);
const lib = (name: string) => require(`prom-client/lib/${name}`);

export const Registry = lib('registry') as typeof Prom.Registry;
export const Counter = lib('counter') as typeof Prom.Counter;
export const Gauge = lib('gauge') as typeof Prom.Gauge;
export const Histogram = lib('histogram') as typeof Prom.Histogram;
export type Registry = Prom.Registry;
export type Counter<T extends string = string> = Prom.Counter<T>;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export type Histogram<T extends string = string> = Prom.Histogram<T>;

type DefaultMetric = (registry: Registry, config: object) => void;
const DEFAULT_METRICS = [
  'processStartTime', 'osMemoryHeap', 'processOpenFileDescriptors', 'processMaxFileDescriptors',
  'eventLoopLag', 'processResources', 'processHandles', 'processRequests', 'heapSizeAndUsed',
  'heapSpacesSizeAndUsed', 'version', 'gc',
];

/** prom-client's collectDefaultMetrics() without its OpenTelemetry import. */
export function collectDefaultMetrics(registry: Registry): void {
  const config = { eventLoopMonitoringPrecision: 10 };
  for (const name of DEFAULT_METRICS) (lib(`metrics/${name}`) as DefaultMetric)(registry, config);
  processCpuTotal(registry);
}

function processCpuTotal(registry: Registry): void {
  let last = process.cpuUsage();
  const counter = (name: string, help: string, collect?: () => void) =>
    new Counter({ name, help, registers: [registry], ...(collect ? { collect } : {}) });
  const user = counter('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', () => {
    const now = process.cpuUsage();
    user.inc((now.user - last.user) / 1e6);
    system.inc((now.system - last.system) / 1e6);
    total.inc((now.user - last.user + now.system - last.system) / 1e6);
    last = now;
  });
  const system = counter('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.');
  const total = counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.');
}
