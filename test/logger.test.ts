import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactUrlCredentials } from '../src/logger.ts';

describe('logger', () => {
  it('redacts credential-named fields at any of the first three levels', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    const log = createLogger('info', sink);
    log.logger.info({ password: 'p1', sink: { token: 't1', headers: { authorization: 'Bearer t2' } }, user: 'kept' }, 'hello');
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ password: '[redacted]', sink: { token: '[redacted]', headers: { authorization: '[redacted]' } }, user: 'kept', level: 'info' });
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
