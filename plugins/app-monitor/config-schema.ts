// The app-monitor keys. Strict objects: a typo is an error that names the key.
import * as v from 'valibot';
import { crossCheck, duration, field, integer, nonEmpty, optionalField, parseListenAddress } from '../../src/plugin-api.ts';

const tcpAddress = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const parsed = parseListenAddress(dataset.value, '127.0.0.1');
    if (!parsed || parsed.port === 0) {
      addIssue({ message: `expected "host:port" with a port above 0, got "${dataset.value}"` });
      return NEVER;
    }
    return parsed;
  }),
);

const processSchema = v.pipe(
  v.strictObject({
    name: optionalField(nonEmpty, 'Process name matched against /proc/<pid>/comm and the base name of argv[0] (needs shareProcessNamespace: true in Kubernetes); every match counts, workers included'),
    pidFile: optionalField(nonEmpty, 'File holding the pid of the app\'s main process (read at every poll; relative to the config file); its children count too'),
    label: optionalField(v.pipe(v.string(), v.regex(/^[\w.-]{1,64}$/, 'letters, digits, "_", "." or "-", at most 64')), 'Value of the `name` label of the sidekick_app_* series (default: the process name, or the pid file\'s base name without extension)'),
  }),
  v.check((p) => (p.name === undefined) !== (p.pidFile === undefined), 'set exactly one of name or pidFile'),
);

const probeSchema = v.pipe(
  v.strictObject({
    http: optionalField(v.pipe(v.string(), v.url(), v.startsWith('http://', 'expected an http:// URL (the app beside the agent, in the pod)')), 'http:// URL fetched with GET, e.g. http://127.0.0.1:8080/healthz'),
    tcp: optionalField(tcpAddress, '"host:port" to connect to (":port" is 127.0.0.1)'),
    interval: field(duration(), 'Time between probes', '10s'),
    timeout: field(duration(), 'Time allowed for one probe (connect, and for http the status line)', '2s'),
    expectedStatus: optionalField(integer(100, 599), 'HTTP status that means up (default: any 2xx or 3xx)'),
    readiness: field(v.boolean(), 'Tie the agent\'s /readyz to the probe: this instance is not ready while the probe fails', false),
  }),
  v.check((p) => (p.http === undefined) !== (p.tcp === undefined), 'set exactly one of http or tcp'),
  v.check((p) => p.timeout > 0, 'timeout must be above 0'),
  v.check((p) => p.interval > 0, 'interval must be above 0'),
);

const keys = v.strictObject({
  process: optionalField(processSchema, 'Which processes are the app: { name } or { pidFile }'),
  interval: field(duration(), 'Time between reads of /proc and the cgroup files', '10s'),
  cgroup: field(
      v.string(),
      '"app": the cgroup v2 directory of the app\'s main process (from /proc/<pid>/cgroup, under /sys/fs/cgroup), "off", or a cgroup v2 directory to read',
      'app',
    ),
  probe: optionalField(probeSchema, 'Probe the app: exactly one of { http } or { tcp }'),
});

export const configSchema = v.pipe(
  keys,
  crossCheck<v.InferOutput<typeof keys>>((c, problem) => {
    if (c.process === undefined && c.probe === undefined) problem(['process'], 'set process, probe or both: there is nothing to watch');
    if (c.interval <= 0) problem(['interval'], 'interval must be above 0');
  }),
);

export type AppMonitorConfig = v.InferOutput<typeof configSchema>;
export type ProbeConfig = NonNullable<AppMonitorConfig['probe']>;
export type ProcessConfig = NonNullable<AppMonitorConfig['process']>;
