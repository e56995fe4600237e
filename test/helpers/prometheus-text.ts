// A strict reader of Prometheus' text exposition format 0.0.4, written from its specification
// (prometheus.io/docs/instrumenting/exposition_formats), independent of the agent's writer: it
// throws on anything Prometheus' own parser would refuse (a family's lines apart, a TYPE after
// its samples, bad names, escapes or values) and on histogram buckets out of order, not cumulative
// or without +Inf equal to _count.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a line feed');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  let current: Family | undefined;
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      if (closed.has(name)) throw new Error(`${name}: family interleaved with another`);
      families.set(name, (f = { name, help: '', type: 'untyped', samples: [] }));
    }
    if (current && current !== f) closed.add(current.name);
    current = f;
    return f;
  };
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1} "${line}"`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name!) || NAME.exec(name!)![0] !== name) throw new Error(`${where}: bad metric name`);
      const f = family(name!);
      if (kind === 'HELP') {
        if (f.help) throw new Error(`${where}: second HELP`);
        f.help = unescape(rest!, false, where);
      } else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest!)) throw new Error(`${where}: bad type`);
        if (f.samples.length) throw new Error(`${where}: TYPE after samples`);
        f.type = rest as Family['type'];
      }
      return;
    }
    const name = NAME.exec(line)?.[0];
    if (!name) throw new Error(`${where}: no metric name`);
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const label = LABEL.exec(rest)?.[0];
        if (!label || !rest.slice(label.length).startsWith('="')) throw new Error(`${where}: bad label`);
        if (label in labels) throw new Error(`${where}: label ${label} twice`);
        rest = rest.slice(label.length + 2);
        let value = '';
        for (;;) {
          const c = rest[0];
          if (c === undefined) throw new Error(`${where}: unterminated label value`);
          rest = rest.slice(1);
          if (c === '"') break;
          if (c === '\\') {
            const e = rest[0];
            rest = rest.slice(1);
            if (e === 'n') value += '\n';
            else if (e === '\\' || e === '"') value += e;
            else throw new Error(`${where}: bad escape \\${e}`);
          } else value += c;
        }
        labels[label] = value;
        if (rest.startsWith(',')) rest = rest.slice(1);
        else if (!rest.startsWith('}')) throw new Error(`${where}: expected , or }`);
      }
      rest = rest.slice(1);
    }
    const m = /^ (\S+)( -?\d+)?$/.exec(rest);
    if (!m) throw new Error(`${where}: expected " value [timestamp]"`);
    const value = parseValue(m[1]!, where);
    const base = [...families.keys()].find((f) => (SUFFIXES[families.get(f)!.type] ?? ['']).some((s) => name === f + s)) ?? name;
    const f = family(base);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function parseValue(text: string, where: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value ${text}`);
  return Number(text);
}

function unescape(text: string, quotes: boolean, where: string): string {
  return text.replace(/\\(.?)/g, (_, e: string) => {
    if (e === 'n') return '\n';
    if (e === '\\' || (quotes && e === '"')) return e;
    throw new Error(`${where}: bad escape \\${e}`);
  });
}

/** Per label set: buckets increasing in le, counts cumulative, +Inf last and equal to _count. */
function checkHistogram(f: Family): void {
  const sets = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let set = sets.get(key);
    if (!set) sets.set(key, (set = { buckets: [] }));
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      set.buckets.push([parseValue(le, f.name), s.value]);
    } else if (s.name === `${f.name}_count`) set.count = s.value;
    else if (s.name === `${f.name}_sum`) set.sum = s.value;
  }
  for (const [key, set] of sets) {
    const where = `${f.name}${key}`;
    if (set.count === undefined || set.sum === undefined) throw new Error(`${where}: no _count or _sum`);
    const last = set.buckets.at(-1);
    if (!last || last[0] !== Infinity || last[1] !== set.count) throw new Error(`${where}: +Inf bucket missing or not _count`);
    for (let i = 1; i < set.buckets.length; i++) {
      if (!(set.buckets[i]![0] > set.buckets[i - 1]![0])) throw new Error(`${where}: le not increasing`);
      if (set.buckets[i]![1] < set.buckets[i - 1]![1]) throw new Error(`${where}: buckets not cumulative`);
    }
  }
}

/** The sum of a metric's samples whose labels include `labels` (0 when there is none). */
export function sampleSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const f of parsePrometheusText(text).values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
  }
  return sum;
}
