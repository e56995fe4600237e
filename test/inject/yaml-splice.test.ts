// The splicer on the shapes of YAML the goldens do not show: a null value, an empty flow map, a
// last item with a trailing comment, a document header.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import jsonpatch from 'fast-json-patch';
import { spliceYaml } from '../../src/inject/yaml-splice.ts';
import type { PatchOp } from '../../src/inject/json-diff.ts';

const cases: Array<[string, string, PatchOp[]]> = [
  ['a null value replaced', '---\n# header\nmetadata:\n  annotations:\nspec: {}\n', [{ op: 'replace', path: '/metadata/annotations', value: { 'a/b': 'c' } }]],
  ['a key into an empty flow map', 'spec: {}   # empty\n', [{ op: 'add', path: '/spec/shareProcessNamespace', value: true }]],
  ['items after a commented last item', 'list:\n  - a   # the last\n# a comment after\nother: 1\n', [{ op: 'add', path: '/list/1', value: { name: 'b', ports: [1] } }, { op: 'add', path: '/list/0', value: 'z' }]],
  ['a new nested key in a block map', 'a:\n    b: 1\n', [{ op: 'add', path: '/a/c', value: { d: [{ e: 'f' }] } }]],
];

describe('spliceYaml', () => {
  for (const [name, text, ops] of cases) {
    it(name, () => {
      const out = spliceYaml(text, ops);
      expect(parse(out)).toEqual(jsonpatch.applyPatch(parse(text), structuredClone(ops) as any[], true, false).newDocument);
      for (const line of text.split('\n').filter((l) => !l.includes('{}') && !/:\s*$/.test(l))) expect(out.split('\n')).toContain(line);
    });
  }
});
