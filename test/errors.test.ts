// One error convention: every code the agent and its built-in plugins make is in the catalogue,
// matches ERR_SIDEKICK_<AREA>_<WHAT>, is documented in docs/errors.md, and is made one way.
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODE_PATTERN, ERROR_CODES, SidekickError, sidekickError } from '../src/errors.ts';
import * as kit from '../src/plugin-api.ts';

const ROOT = resolve(import.meta.dirname, '..');
// Node's own codes, which the agent compares against or mirrors so that its own errors take
// the same path as Node's (a 408 from the fast HTTP/1.1 path reads like Node's).
const NODE_CODES = new Set(['ERR_HTTP_REQUEST_TIMEOUT', 'ERR_TLS_HANDSHAKE_TIMEOUT', 'ERR_MODULE_NOT_FOUND', 'ERR_PACKAGE_PATH_NOT_EXPORTED']);
const ERRNO = /^E[A-Z]+$/;
const CODES = new Set(Object.keys(ERROR_CODES));

let sources: { file: string; text: string }[];
beforeAll(async () => {
  sources = [];
  for (const dir of ['src', 'plugins']) {
    const entries = await readdir(join(ROOT, dir), { recursive: true, withFileTypes: true });
    for (const e of entries) {
      if (!e.isFile() || !/\.(ts|js)$/.test(e.name)) continue;
      const file = join(e.parentPath, e.name);
      sources.push({ file: relative(ROOT, file), text: await readFile(file, 'utf8') });
    }
  }
});

/** Every quoted ERR_* literal, and every literal assigned to a `code`. */
function codesIn(text: string): string[] {
  const found = [...text.matchAll(/(['"`])(ERR_[A-Z0-9_]+|[A-Z][A-Z0-9]*_[A-Z0-9_]*ERR[A-Z0-9_]*)\1/g)].map((m) => m[2]!);
  for (const m of text.matchAll(/\bcode\s*[:=]\s*(['"`])([A-Za-z0-9_]+)\1/g)) found.push(m[2]!);
  return found;
}

describe('error codes', () => {
  it('the catalogue follows the pattern', () => {
    expect(CODES.size).toBeGreaterThan(30);
    expect([...CODES].filter((c) => !ERROR_CODE_PATTERN.test(c))).toEqual([]);
    expect(Object.values(ERROR_CODES).filter((meaning) => meaning.length < 20)).toEqual([]);
  });

  it('every code made or compared in src/ and plugins/ is in the catalogue (or is Node\'s)', () => {
    const unknown: string[] = [];
    let seen = 0;
    for (const { file, text } of sources) {
      for (const code of codesIn(text)) {
        seen++;
        if (!CODES.has(code) && !NODE_CODES.has(code) && !ERRNO.test(code)) unknown.push(`${file}: ${code}`);
      }
    }
    expect(seen).toBeGreaterThan(60);
    expect(unknown).toEqual([]);
  });

  it('the scan sees codes however they are written', () => {
    const text = [
      "throw Object.assign(new Error('x'), { code: 'ERR_TLS_TERMINATOR_CERT' });",
      "new ConfigSyncError('CONFIG_SYNC_LIMIT_ERR', 'x');",
      'readonly code = "SINK_DOWN";',
      'if (e.code === `ERR_SINK_TIMEOUT`) {}',
      "const a = { code: 'ECONNRESET' };",
    ].join('\n');
    expect(codesIn(text)).toEqual(['ERR_TLS_TERMINATOR_CERT', 'CONFIG_SYNC_LIMIT_ERR', 'ERR_SINK_TIMEOUT', 'ERR_TLS_TERMINATOR_CERT', 'SINK_DOWN', 'ECONNRESET']);
  });

  it('every catalogued code is used', () => {
    const used = new Set(sources.filter((s) => s.file !== join('src', 'errors.ts')).flatMap((s) => codesIn(s.text)));
    expect([...CODES].filter((c) => !used.has(c))).toEqual([]);
  });

  it('codes are made with the one helper: no Object.assign(new Error(...), { code }) and no Error subclass with its own code', () => {
    const offenders: string[] = [];
    for (const { file, text } of sources) {
      for (const m of text.matchAll(/Object\.assign\(new Error\([^\n]*?code:\s*(['"`])(ERR_[A-Z0-9_]+)\1/g)) offenders.push(`${file}: ${m[2]}`);
      for (const m of text.matchAll(/class (\w+) extends Error \{[^}]*?\breadonly code\b/g)) offenders.push(`${file}: class ${m[1]}`);
    }
    expect(offenders).toEqual([]);
  });

  it('docs/errors.md lists exactly the catalogue, each with a meaning and what to do', async () => {
    const doc = await readFile(join(ROOT, 'docs/errors.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `(ERR_SIDEKICK_[A-Z0-9_]+)` \| ([^|]+) \| ([^|]+) \|$/gm)];
    expect(rows.map((r) => r[1]).sort()).toEqual([...CODES].sort());
    expect(rows.filter((r) => r[2]!.trim().length < 20 || r[3]!.trim().length < 5).map((r) => r[1])).toEqual([]);
  });
});

describe('sidekickError', () => {
  it('makes an Error with the code, the message and the cause', () => {
    const cause = new Error('EACCES');
    const err = sidekickError('ERR_SIDEKICK_TLS_CERT', 'cannot read cert.pem', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(SidekickError);
    expect(err.code).toBe('ERR_SIDEKICK_TLS_CERT');
    expect(err.message).toBe('cannot read cert.pem');
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe('Error: cannot read cert.pem');
  });

  it('is in the plugin kit, with the catalogue', () => {
    expect(kit.sidekickError).toBe(sidekickError);
    expect(kit.SidekickError).toBe(SidekickError);
    expect(kit.ERROR_CODES).toBe(ERROR_CODES);
    expect(kit.ERROR_CODE_PATTERN).toBe(ERROR_CODE_PATTERN);
  });

  it('the pattern refuses the old shapes', () => {
    for (const old of ['ERR_SIDEKICK_CONFIG', 'ERR_TLS_TERMINATOR_CERT', 'CONFIG_SYNC_LIMIT', 'ERR_SINK_TIMEOUT', 'ERR_SIDEKICK_SHUTTING_DOWN']) {
      expect(ERROR_CODE_PATTERN.test(old), old).toBe(false);
    }
  });
});
