import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactUrlCredentials } from '../src/logger.ts';

describe('logger', () => {
  it('hides credential-named fields and secret headers', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    const log = createLogger('info', sink);
    log.child({ instance: 'x' }).info({ password: 'p1', token: 't1', headers: { Authorization: 'Bearer t2', accept: '*/*' }, user: 'kept' }, 'hello');
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ password: '[redacted]', token: '[redacted]', headers: { Authorization: '[redacted]', accept: '*/*' }, user: 'kept', level: 'info', instance: 'x' });
    expect(lines[0]).not.toMatch(/p1|t1|t2/);
  });

  it('a level change reaches children created before it', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    const log = createLogger('info', sink);
    const child = log.child({ instance: 'x' });
    child.debug('hidden');
    log.setLevel('debug');
    child.debug('shown');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['shown']);
  });

  it('strips user:password from URLs in messages', () => {
    expect(redactUrlCredentials('connect https://bob:hunter2@loki.example:3100/push failed; s3://AKIA:SECRET@bucket'))
      .toBe('connect https://[redacted]@loki.example:3100/push failed; s3://[redacted]@bucket');
    expect(redactUrlCredentials('http://example.com/a@b')).toBe('http://example.com/a@b');
  });
});
