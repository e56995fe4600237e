// Every relative link in README.md and the docs resolves inside the repo: the file exists and,
// for a Markdown target, so does the heading an anchor names. No doc points outside the repo.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

// Docs other engineers are writing; links to them are checked once they land. Emptied at merge.

function markdownUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? markdownUnder(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
  );
}
const plugins = readdirSync(join(ROOT, 'plugins')).map((p) => `plugins/${p}/README.md`).filter((f) => existsSync(join(ROOT, f)));
const DOCS = ['README.md', ...markdownUnder('docs'), ...plugins];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N} -]/gu, '')
    .replace(/ /g, '-');
}
function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

function linksOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
}

describe('links in the docs', () => {
  it.each(DOCS)('%s: every relative link resolves inside the repo', (doc) => {
    const broken: string[] = [];
    for (const link of linksOf(doc)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto: ...
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path ? resolve(ROOT, dirname(doc), decodeURIComponent(path)) : join(ROOT, doc);
      const inRepo = relative(ROOT, target);
      if (inRepo.startsWith('..')) {
        broken.push(`${link}: outside the repo`);
        continue;
      }
      if (!existsSync(target)) {
        broken.push(`${link}: no such file`);
        continue;
      }
      if (anchor && statSync(target).isFile() && target.endsWith('.md') && !anchorsOf(target).has(anchor)) broken.push(`${link}: no heading for #${anchor}`);
    }
    expect(broken).toEqual([]);
  });

  it('the decisions index lists every record', () => {
    const index = readFileSync(join(ROOT, 'docs/decisions/README.md'), 'utf8');
    const records = readdirSync(join(ROOT, 'docs/decisions')).filter((f) => /^\d{4}-.+\.md$/.test(f));
    expect(records.filter((r) => !index.includes(`](${r})`))).toEqual([]);
  });

});
