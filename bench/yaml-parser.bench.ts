// What each YAML parser costs the process that loads it: js-yaml against yaml (eemeli/yaml),
// each in a fresh Node process that imports it and parses the example agent config and an app
// config, alternating, in one run. Reports the RSS and heap added and the time taken by
// import + parse (medians and ranges). Run: node_modules/.bin/node bench/yaml-parser.bench.ts
// (BENCH_SAMPLES=15).
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 15);
const AGENT_CONFIG = resolve(ROOT, 'examples/local/sidekick.yaml');
const APP_CONFIG = 'server:\n  port: 8080\n  hosts: [a, b]\nfeatures: !include features.yaml\ndb:\n  url: postgres://db/app\n  pool: { min: 1, max: 10 }\n';

// Each child: baseline memory, then import + parse, then memory again. js-yaml's loadAll refuses
// tags it does not know (an app's !include), so an app config is only parsed to events there.
const child = (lib: string) => `
const { readFileSync } = await import('node:fs');
const text = readFileSync(${JSON.stringify(AGENT_CONFIG)}, 'utf8');
const app = ${JSON.stringify(APP_CONFIG)};
const m0 = process.memoryUsage();
const t0 = performance.now();
${
  lib === 'js-yaml'
    ? `const y = await import('js-yaml');
y.loadAll(text); y.parseEvents(app, {});`
    : `const y = await import('yaml');
for (const d of y.parseAllDocuments(text)) d.toJS(); for (const d of y.parseAllDocuments(app)) d.errors.length;`
}
const ms = performance.now() - t0;
const m1 = process.memoryUsage();
console.log(JSON.stringify({ ms, rss: m1.rss - m0.rss, heap: m1.heapUsed - m0.heapUsed }));
`;

type Sample = { ms: number; rss: number; heap: number };
const results: Record<string, Sample[]> = { 'js-yaml': [], yaml: [] };
for (let i = 0; i < SAMPLES; i++) {
  // Alternate which goes first, so drift of the machine's load falls on both.
  for (const lib of i % 2 ? ['yaml', 'js-yaml'] : ['js-yaml', 'yaml']) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child(lib)], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${lib}: ${r.stderr}`);
    results[lib]!.push(JSON.parse(r.stdout));
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const span = (xs: number[], f: (x: number) => string) => `${f(med(xs))} [${f(Math.min(...xs))}-${f(Math.max(...xs))}]`;
const mb = (x: number) => (x / 1048576).toFixed(2);
console.log(`\nYAML parser: import + parse of the agent config and an app config, fresh process each, ${SAMPLES} samples each, alternating (median [range])`);
console.log('| parser | RSS added MB | heap added MB | import + parse ms | ms ratio |');
console.log('| --- | --- | --- | --- | --- |');
const base = med(results['js-yaml']!.map((s) => s.ms));
for (const [lib, xs] of Object.entries(results)) {
  console.log(`| ${lib} | ${span(xs.map((s) => s.rss), mb)} | ${span(xs.map((s) => s.heap), mb)} | ${span(xs.map((s) => s.ms), (x) => x.toFixed(1))} | ${(med(xs.map((s) => s.ms)) / base).toFixed(2)} |`);
}
