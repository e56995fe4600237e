// Applies a JSON Patch to the text of one YAML document by splicing: the new nodes are written
// in, everything else stays as it was, byte for byte (comments, quoting, spacing, flow or block
// style). Re-serialising the document instead would re-space every line the user wrote.
// yaml, not the agent's js-yaml: see inject-manifests.ts.
import { Document, isMap, isSeq, type Node, parseDocument } from 'yaml';
import type { PatchOp } from './json-diff.ts';

export function spliceYaml(text: string, ops: PatchOp[]): string {
  for (const op of ops) text = spliceOne(text, op);
  return text;
}

function spliceOne(text: string, op: PatchOp): string {
  const doc = parseDocument(text);
  const path = op.path.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  const last = path.pop()!;
  const parent = (path.length ? doc.getIn(path.map(segment), true) : doc.contents) as Node | undefined;
  if (op.op === 'replace') {
    const node = (isSeq(parent) ? parent.items[Number(last)] : isMap(parent) ? parent.get(last, true) : undefined) as Node | undefined;
    if (!node?.range) throw new Error(`cannot splice ${op.path}: not found`);
    // A flow value fits any context, block or flow, so one rendering does for all.
    const leading = node.range[0] === node.range[1] && text[node.range[0] - 1] === ':' ? ' ' : '';
    return splice(text, node.range[0], node.range[1], leading + flow(op.value));
  }
  if (op.op !== 'add') throw new Error(`cannot splice ${op.op} ${op.path}`);
  if (isSeq(parent)) return addToSeq(text, parent, last === '-' ? parent.items.length : Number(last), op.value);
  if (isMap(parent)) return addToMap(text, parent, last, op.value);
  throw new Error(`cannot splice ${op.path}: the parent is not a map or a list`);
}

function segment(s: string): string | number {
  return /^\d+$/.test(s) ? Number(s) : s;
}

function addToSeq(text: string, seq: Node & { items: unknown[]; flow?: boolean }, index: number, value: unknown): string {
  const items = seq.items as Node[];
  if (seq.flow) {
    if (items.length === 0) return splice(text, seq.range![0] + 1, seq.range![0] + 1, flow(value));
    if (index < items.length) return splice(text, items[index]!.range![0], items[index]!.range![0], `${flow(value)}, `);
    const end = items[items.length - 1]!.range![1];
    return splice(text, end, end, `, ${flow(value)}`);
  }
  const indent = ' '.repeat(column(text, dashBefore(text, items[0]!.range![0])));
  const rendered = asSeqItem(value, indent);
  if (index < items.length) {
    const at = lineStart(text, dashBefore(text, items[index]!.range![0]));
    return splice(text, at, at, `${rendered}\n`);
  }
  const at = lineEnd(text, contentEnd(text, items[items.length - 1]!.range![1]));
  return splice(text, at, at, `\n${rendered}`);
}

function addToMap(text: string, map: Node & { items: Array<{ key: unknown }>; flow?: boolean }, key: string, value: unknown): string {
  const pairs = map.items;
  const keyText = renderScalar(key);
  if (map.flow || pairs.length === 0) {
    if (pairs.length === 0) return splice(text, map.range![0] + 1, map.range![0] + 1, `${keyText}: ${flow(value)}`);
    const end = map.range![1] - 1; // the closing brace
    const close = text.lastIndexOf('}', end);
    const before = contentEnd(text, close);
    return splice(text, before, before, `, ${keyText}: ${flow(value)}`);
  }
  const firstKey = pairs[0]!.key as Node;
  const indent = ' '.repeat(column(text, firstKey.range![0]));
  const lastPair = pairs[pairs.length - 1]! as { key: Node; value: Node | null };
  const at = lineEnd(text, contentEnd(text, (lastPair.value ?? lastPair.key).range![1]));
  return splice(text, at, at, `\n${asMapEntry(keyText, value, indent)}`);
}

function asSeqItem(value: unknown, indent: string): string {
  const lines = block(value);
  return lines.map((l, i) => (i === 0 ? `${indent}- ${l}` : l ? `${indent}  ${l}` : l)).join('\n');
}

function asMapEntry(key: string, value: unknown, indent: string): string {
  if (value === null || typeof value !== 'object' || Object.keys(value).length === 0) return `${indent}${key}: ${flow(value)}`;
  return `${indent}${key}:\n${block(value).map((l) => (l ? `${indent}  ${l}` : l)).join('\n')}`;
}

function block(value: unknown): string[] {
  return new Document(value).toString({ lineWidth: 0 }).replace(/\n$/, '').split('\n');
}

function flow(value: unknown): string {
  return new Document(value).toString({ lineWidth: 0, collectionStyle: 'flow' }).replace(/\n$/, '');
}

function renderScalar(value: unknown): string {
  return new Document(value).toString({ lineWidth: 0 }).replace(/\n$/, '');
}

function splice(text: string, from: number, to: number, insert: string): string {
  return text.slice(0, from) + insert + text.slice(to);
}

function column(text: string, at: number): number {
  return at - lineStart(text, at);
}

function lineStart(text: string, at: number): number {
  return text.lastIndexOf('\n', at - 1) + 1;
}

function lineEnd(text: string, at: number): number {
  const nl = text.indexOf('\n', at);
  return nl === -1 ? text.length : nl;
}

/** The position after the last non-blank character before `at`. */
function contentEnd(text: string, at: number): number {
  let i = at;
  while (i > 0 && /\s/.test(text[i - 1]!)) i--;
  return i;
}

/** The `-` that starts a block sequence item whose value begins at `at`. */
function dashBefore(text: string, at: number): number {
  const dash = text.lastIndexOf('-', at);
  return dash === -1 ? at : dash;
}
