// Built-in plugins take from the agent only what a third-party plugin can: the plugin kit.
// Scans every source file under plugins/ for imports that reach into src/.
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const KIT = join(ROOT, 'src/plugin-api.ts');
// Static imports and re-exports, `import type`, dynamic import() and require() with a literal.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(['"])([^'"\n]+)\1/g;

/** The imports in `source` (a file at `file`) that reach into src/ other than the kit. */
export function forbiddenImports(file: string, source: string): string[] {
  const found: string[] = [];
  for (const [, , spec] of source.matchAll(SPECIFIER)) {
    if (spec!.startsWith('sidekick/') || spec === 'sidekick') {
      if (spec !== 'sidekick/plugin-api') found.push(spec!);
      continue;
    }
    if (!spec!.startsWith('.') && !spec!.startsWith('/')) continue;
    const target = resolve(dirname(file), spec!);
    if (relative(join(ROOT, 'src'), target).startsWith('..')) continue;
    if (target !== KIT) found.push(spec!);
  }
  return found;
}

describe('plugins/ imports', () => {
  it('take nothing from src/ but the plugin kit', async () => {
    const entries = await readdir(join(ROOT, 'plugins'), { recursive: true, withFileTypes: true });
    const files = entries.filter((e) => e.isFile() && /\.(ts|js|mjs|cjs)$/.test(e.name)).map((e) => join(e.parentPath, e.name));
    expect(files.length).toBeGreaterThan(50);
    const offenders: string[] = [];
    let kitImports = 0;
    for (const file of files) {
      const source = await readFile(file, 'utf8');
      for (const spec of forbiddenImports(file, source)) offenders.push(`${relative(ROOT, file)}: ${spec}`);
      if (source.includes('src/plugin-api.ts')) kitImports++;
    }
    expect(offenders).toEqual([]);
    expect(kitImports).toBeGreaterThan(10);
  });

  it('the scan catches every way of reaching into src/', () => {
    const file = join(ROOT, 'plugins/some-plugin/sub/file.ts');
    const source = [
      "import { x } from '../../../src/config/units.ts';",
      "import type { Y } from '../../../src/host/backoff.ts';",
      "export { z } from '../../../src/builtin-modules.ts';",
      "const m = await import('../../../src/agent.ts');",
      "const r = require('../../../src/logger.ts');",
      "import '../../../src/metrics.ts';",
      "import { a } from 'sidekick/src/agent.ts';",
      // allowed:
      "import { definePlugin } from '../../../src/plugin-api.ts';",
      "import { b } from '../local.ts';",
      "import { c } from 'sidekick/plugin-api';",
      "import { readFile } from 'node:fs/promises';",
    ].join('\n');
    expect(forbiddenImports(file, source)).toEqual([
      '../../../src/config/units.ts',
      '../../../src/host/backoff.ts',
      '../../../src/builtin-modules.ts',
      '../../../src/agent.ts',
      '../../../src/logger.ts',
      '../../../src/metrics.ts',
      'sidekick/src/agent.ts',
    ]);
  });
});
