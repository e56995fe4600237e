// log.format: json (default) or pretty through pino-pretty, which is loaded only when asked for.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, logDestination } from '../src/logger.ts';

function sink() {
  const lines: string[] = [];
  return { lines, stream: new Writable({ write: (c, _e, cb) => (lines.push(...String(c).split('\n').filter(Boolean)), cb()) }) };
}

describe('log.format', () => {
  it('json writes one JSON object per line', async () => {
    const { lines, stream } = sink();
    const log = createLogger('info', await logDestination('json', stream));
    log.child({ instance: 'https' }).info({ port: 8443 }, 'listening');
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', instance: 'https', port: 8443, msg: 'listening' });
  });

  it('pretty writes a readable line with the level, the instance and the fields, secrets still hidden', async () => {
    const { lines, stream } = sink();
    const log = createLogger('info', await logDestination('pretty', stream));
    log.child({ instance: 'https' }).warn({ port: 8443, token: 's3cret' }, 'listening');
    expect(lines).toHaveLength(1);
    expect(() => JSON.parse(lines[0]!)).toThrow();
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: \[https\] listening \{.*"port":8443/);
    expect(lines[0]).not.toContain('s3cret');
  });

  it('loads pino-pretty only for pretty', () => {
    const logger = resolve(import.meta.dirname, '../src/logger.ts');
    const script = `
      import { createRequire } from 'node:module';
      const { logDestination } = await import(${JSON.stringify(logger)});
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/pino-pretty/'));
      await logDestination('json');
      const afterJson = loaded();
      await logDestination('pretty');
      console.log(JSON.stringify({ afterJson, afterPretty: loaded() }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!), r.stderr).toEqual({ afterJson: false, afterPretty: true });
  });
});
