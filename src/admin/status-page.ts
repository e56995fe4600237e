// The admin port's `/`: what an operator opens first after `kubectl port-forward`. Rendered on
// the server from the same data as /status (plus each instance's counters from the metrics), so
// the page needs no script: a strict CSP allows one hashed stylesheet and nothing else, and it
// refreshes itself with a meta refresh. Every value is escaped; URLs lose their credentials.
import { createHash } from 'node:crypto';
import { redactUrlCredentials } from '../logger.ts';

export const REFRESH_SECONDS = 5;
/** Days before a certificate's expiry from which the page flags it. */
const EXPIRY_WARNING_DAYS = 14;

interface InstanceView {
  type?: string;
  state?: string;
  ready?: boolean;
  reason?: string;
  since?: string;
  restarts?: number;
  lastError?: { message?: string; code?: string; at?: string };
  details?: Record<string, unknown>;
}
interface StatusView {
  version?: string;
  state?: string;
  uptimeSeconds?: number;
  config?: { file?: string; sha256?: string; lastReload?: { at?: string; result?: string; message?: string } };
  instances?: Record<string, InstanceView>;
}
/** Counter totals by instance, then by short name (`requests`, `upstream errors`, ...). */
export type InstanceCounters = Record<string, Record<string, number>>;

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;background:#fafafa}
h1{font-size:1.3rem;margin:0 0 .3rem}
.meta{color:#555;margin:0 0 1rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #ddd;padding:.4rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}
.state{font-weight:600;white-space:nowrap}
.ok{color:#1a7f37}.warn{color:#9a6700}.failing{color:#cf222e}
tr.failing td:first-child{border-left:4px solid #cf222e}
tr.warn td:first-child{border-left:4px solid #9a6700}
dl{margin:0;display:grid;grid-template-columns:max-content auto;gap:0 .6rem}
dt{color:#555}dd{margin:0;overflow-wrap:anywhere}
.counters{color:#555;font-size:.9em;margin-top:.3rem}
code{font-size:.9em}
`;
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${STYLE_HASH}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Text for HTML, with any `user:password@` taken out of URLs. */
export function esc(value: unknown): string {
  return redactUrlCredentials(String(value ?? '')).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const rec = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

type Figure = [label: string, html: string];

/** The figures that matter for each built-in plugin; other plugins show their scalar details. */
function figures(type: string, d: Record<string, unknown>, now: number): { list: Figure[]; warn: boolean } {
  const list: Figure[] = [];
  let warn = false;
  if (type === 'tls-terminator') {
    if (str(d.listen)) list.push(['listen', `${esc(d.listen)} → ${esc(d.upstream)}`]);
    if (num(d.activeConnections) !== undefined) list.push(['connections', esc(d.activeConnections)]);
    const app = rec(d.app);
    if (app && num(app.queued)) list.push(['queued for the app', esc(app.queued)]);
    const breaker = rec(rec(d.protection)?.circuitBreaker);
    if (breaker && breaker.state !== 'closed') {
      warn = true;
      const retry = num(breaker.retryInMs);
      list.push(['circuit breaker', `<span class="failing">${esc(breaker.state)}</span>${retry !== undefined ? `: app ejected, retried in ${esc(Math.ceil(retry / 1000))} s` : ': next request probes the app'}`]);
    }
    for (const cert of Array.isArray(d.certificates) ? d.certificates : []) {
      const c = rec(cert);
      const notAfter = str(c?.notAfter);
      if (!c || !notAfter) continue;
      const days = Math.floor((Date.parse(notAfter) - now) / 86_400_000);
      const soon = days < EXPIRY_WARNING_DAYS;
      warn ||= soon;
      const names = Array.isArray(c.names) ? c.names.join(', ') : (c.subject ?? c.file);
      list.push(['certificate', `${esc(names)}: expires <span class="${soon ? 'failing' : 'ok'}">${esc(notAfter.slice(0, 10))} (${esc(days)} days)</span>`]);
    }
  } else if (type === 'config-sync') {
    if (str(d.source)) list.push(['source', esc(d.source)]);
    const version = rec(d.version);
    list.push(['version', version ? `#${esc(version.generation)} <code>${esc(version.id)}</code>, published ${esc(version.publishedAt)}` : 'none yet']);
    list.push(['last sync', d.lastSuccessAt ? esc(d.lastSuccessAt) : 'never']);
    const failures = num(d.consecutiveFailures) ?? 0;
    if (failures > 0) {
      warn = true;
      list.push(['failing polls', `<span class="failing">${esc(failures)}</span>${rec(d.lastError) ? `: ${esc(rec(d.lastError)!.message)}` : ''}`]);
    }
    const reload = rec(d.lastReload);
    if (reload) list.push(['last reload', `${esc(reload.result)} (${esc(reload.at)})`]);
  } else if (type === 'log-shipper') {
    if (str(d.sink)) list.push(['sink', esc(d.sink)]);
    const files = Array.isArray(d.files) ? d.files.map(rec).filter((f) => f !== undefined) : [];
    const lag = files.reduce((sum, f) => sum + (num(f.lag) ?? 0), 0);
    list.push(['files tailed', esc(files.length)]);
    list.push(['lag (undelivered)', esc(bytes(lag))]);
    const buffer = rec(d.buffer);
    if (buffer && num(buffer.usedBytes) !== undefined) list.push(['buffer', `${esc(bytes(num(buffer.usedBytes)!))} of ${esc(bytes(num(buffer.limitBytes) ?? 0))}`]);
    const progress = rec(d.progress);
    if (progress && num(progress.behindBytes)) {
      const eta = num(progress.etaSeconds);
      list.push(['catching up', `${esc(bytes(num(progress.behindBytes)!))} behind at ${esc(bytes(num(progress.rateBytesPerSecond) ?? 0))}/s${eta !== undefined ? `, about ${esc(duration(eta))} left` : ''}`]);
    }
  } else if (type === 'app-monitor') {
    if (typeof d.up === 'boolean') list.push(['app', `${esc(d.name)}: ${d.up ? `<span class="ok">${esc(d.processCount)} process(es)</span>` : '<span class="failing">not seen</span>'}`]);
    const main = rec(Array.isArray(d.processes) ? d.processes[0] : undefined);
    if (main && num(main.residentBytes) !== undefined) list.push(['memory', esc(bytes(num(main.residentBytes)!))]);
    if (main && num(main.openFds) !== undefined) list.push(['open files', `${esc(main.openFds)}${num(main.maxFds) ? ` of ${esc(main.maxFds)}` : ''}`]);
    if (num(d.restarts)) list.push(['restarts', esc(d.restarts)]);
    const probe = rec(d.probe);
    if (probe) {
      warn ||= probe.up !== true;
      list.push(['probe', `${esc(probe.target)}: <span class="${probe.up ? 'ok' : 'failing'}">${esc(probe.result)}</span>`]);
    }
    for (const problem of Array.isArray(d.problems) ? d.problems.map(rec) : []) {
      if (!problem) continue;
      warn = true;
      list.push(['cannot see', `<span class="failing">${esc(problem.message)}</span>`]);
    }
  } else {
    for (const [k, v] of Object.entries(d)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') list.push([k, esc(v)]);
      else if (rec(v) && Object.values(v as object).every((x) => typeof x !== 'object' || x === null)) list.push([k, esc(JSON.stringify(v))]);
    }
  }
  return { list, warn };
}

function health(i: InstanceView): { label: string; cls: 'ok' | 'warn' | 'failing' } {
  if (i.state === 'running' && i.ready) return { label: 'running, ready', cls: 'ok' };
  if (i.state === 'running') return { label: 'running, not ready', cls: 'warn' };
  if (i.state === 'restarting') return { label: 'failing, restarting', cls: 'failing' };
  if (i.state === 'starting' || i.state === 'new') return { label: String(i.state), cls: 'warn' };
  return { label: String(i.state ?? 'unknown'), cls: 'failing' };
}

function instanceRow(name: string, i: InstanceView, counters: Record<string, number> | undefined, now: number): string {
  const h = health(i);
  const f = figures(i.type ?? '', i.details ?? {}, now);
  const cls = h.cls === 'ok' && f.warn ? 'warn' : h.cls;
  const error = i.lastError
    ? `<span class="failing">${esc(i.lastError.message)}</span>${i.lastError.code ? ` <code>${esc(i.lastError.code)}</code>` : ''}<br><small>${esc(i.lastError.at)}</small>`
    : '';
  const counterLine = counters && Object.keys(counters).length
    ? `<div class="counters">${Object.entries(counters)
        .map(([k, v]) => `<span class="${/error|fail|lost|dead/.test(k) && v > 0 ? 'failing' : ''}">${esc(k)} ${esc(v)}</span>`)
        .join(' · ')}</div>`
    : '';
  return `<tr class="${cls}" data-instance="${esc(name)}">
<td><strong>${esc(name)}</strong><br><small>${esc(i.type)}</small></td>
<td class="state ${h.cls}">${esc(h.label)}${i.reason && !i.ready ? `<br><small>${esc(i.reason)}</small>` : ''}<br><small>since ${esc(i.since)}</small></td>
<td>${esc(i.restarts ?? 0)}</td>
<td>${error}</td>
<td><dl>${f.list.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>${counterLine}</td>
</tr>`;
}

export function renderStatusPage(status: StatusView, counters: InstanceCounters, now = Date.now()): string {
  const instances = Object.entries(status.instances ?? {});
  const failing = instances.filter(([, i]) => health(i).cls === 'failing').length;
  const reload = status.config?.lastReload;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${failing ? `${failing} failing · ` : ''}Sidekick ${esc(status.version)}</title>
<style>${STYLE}</style></head>
<body>
<h1>Sidekick ${esc(status.version)}: <span class="${status.state === 'running' ? 'ok' : 'warn'}">${esc(status.state)}</span></h1>
<p class="meta">up ${esc(duration(status.uptimeSeconds ?? 0))} · config ${esc(status.config?.file)} <code>${esc(status.config?.sha256?.slice(0, 12))}</code>${
    reload ? ` · last reload ${esc(reload.result)} at ${esc(reload.at)}` : ''
  } · ${instances.length} instances, ${failing} failing · refreshes every ${REFRESH_SECONDS} s · JSON: <a href="/status">/status</a>, <a href="/metrics">/metrics</a></p>
<table>
<thead><tr><th>instance</th><th>state</th><th>restarts</th><th>last error</th><th>figures</th></tr></thead>
<tbody>
${instances.map(([name, i]) => instanceRow(name, i, counters[name], now)).join('\n')}
</tbody></table>
</body></html>
`;
}

const INSTANCE_LABEL = /[{,]instance="((?:[^"\\]|\\.)*)"/;

/**
 * Each instance's counters (`sidekick_<plugin>_<what>_total`), summed over their other labels, read
 * from the /metrics text itself so the page shows exactly what a scrape would.
 */
export function countersByInstance(exposition: string): InstanceCounters {
  const out: InstanceCounters = {};
  const counters = new Set<string>();
  for (const line of exposition.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (type === 'counter' && name) counters.add(name);
      continue;
    }
    if (!line.startsWith('sidekick_')) continue;
    const nameEnd = line.search(/[{ ]/);
    const name = line.slice(0, nameEnd);
    if (!counters.has(name) || !name.endsWith('_total')) continue;
    const instance = INSTANCE_LABEL.exec(line)?.[1]?.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (instance === undefined || !Number.isFinite(value)) continue;
    const type = name.slice('sidekick_'.length, -'_total'.length);
    out[instance] ??= {};
    out[instance][type] = (out[instance][type] ?? 0) + value;
  }
  // Short names: drop the plugin's common prefix (`tls_terminator_requests` -> `requests`).
  for (const [instance, counts] of Object.entries(out)) {
    const names = Object.keys(counts);
    const prefix = commonPrefix(names);
    out[instance] = Object.fromEntries(names.map((n) => [(n.slice(prefix.length) || n).replaceAll('_', ' '), counts[n]!]));
  }
  return out;
}

function commonPrefix(names: string[]): string {
  if (names.length < 2) return names[0]?.replace(/[^_]*$/, '') ?? '';
  let p = names[0]!;
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  return p.slice(0, p.lastIndexOf('_') + 1);
}
