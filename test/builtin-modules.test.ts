// Modules taken other than by a static ES import live in one place, each with the memory it saves.
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { calculateJa3 } from 'read-tls-client-hello';
import { loadHttp, loadHttp2, loadReadTlsClientHello, loadTls, loadUtil, pino } from '../src/builtin-modules.ts';

const ROOT = resolve(import.meta.dirname, '..');

describe('builtin-modules', () => {
  it('is the only runtime file that loads modules through require() or process.getBuiltinModule()', async () => {
    // resolve-plugin.ts uses createRequire() for Node's resolver (require.resolve) only, to find
    // plugin packages from the config file's directory; it loads them with import().
    const RESOLVER_ONLY = 'src/plugins/resolve-plugin.ts';
    const offenders: string[] = [];
    for (const top of ['src', 'plugins', 'bin']) {
      for (const file of await readdir(join(ROOT, top), { recursive: true })) {
        if (!/\.[jt]s$/.test(file) || `${top}/${file}` === 'src/builtin-modules.ts') continue;
        const text = await readFile(join(ROOT, top, file), 'utf8');
        const loads = `${top}/${file}` === RESOLVER_ONLY ? /\brequire\((?!\))|getBuiltinModule\(/ : /\bcreateRequire\b|\brequire\(|getBuiltinModule\(/;
        if (loads.test(text)) offenders.push(`${top}/${file}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('hands out the real modules', async () => {
    expect(loadHttp()).toBe(await import('node:http').then((m) => m.default));
    expect(loadTls()).toBe(await import('node:tls').then((m) => m.default));
    expect(loadHttp2()).toBe(await import('node:http2').then((m) => m.default));
    expect(loadUtil().format('%s', 1)).toBe('1');
    expect(loadReadTlsClientHello().calculateJa3).toBe(calculateJa3);
    expect(typeof pino).toBe('function');
  });
});
