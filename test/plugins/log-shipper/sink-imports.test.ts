// The sinks' modules form no import cycle, type-only imports and lazy `import()` included:
// create-sink.ts imports every sink, so a sink must take what it shares from sink.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SINKS = resolve(import.meta.dirname, '../../../plugins/log-shipper/sinks');

/** Each module of sinks/ and the modules of sinks/ it imports (static, type-only or dynamic). */
function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of readdirSync(SINKS).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(SINKS, file), 'utf8');
    const targets = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*)'\.\/([^'/]+\.ts)'/g)].map((m) => m[1]!);
    edges.set(file, targets);
  }
  return edges;
}

function findCycle(edges: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of edges.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of edges.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('log-shipper sink modules', () => {
  it('import each other without a cycle', () => {
    const edges = graph();
    // The graph is read at all: create-sink.ts loads every sink lazily.
    expect(edges.get('create-sink.ts')).toEqual(expect.arrayContaining(['stdout-sink.ts', 's3-sink.ts', 'sink.ts']));
    expect(findCycle(edges)).toBeUndefined();
  });

  it('the check finds a cycle when there is one', () => {
    expect(findCycle(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']]]))).toEqual(['a.ts', 'b.ts', 'c.ts', 'a.ts']);
  });
});
