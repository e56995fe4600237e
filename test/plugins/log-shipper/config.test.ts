// The config contract: defaults, units, and errors that name the key.
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../plugins/log-shipper/config-schema.ts';
import { configProblems, parseConfig } from '../../helpers/plugin-config.ts';

const issues = (input: unknown) => configProblems(configSchema, input);

describe('log-shipper config', () => {
  it('accepts the issue example and fills defaults', () => {
    const c = parseConfig(configSchema, {
      include: ['/shared/logs/*.log'],
      exclude: ['/shared/logs/*.gz'],
      multiline: { start: '^\\d{4}-\\d{2}-\\d{2}' },
      parse: 'json',
      labels: { app: 'legacy', pod: 'p-1' },
      sink: { type: 'loki', url: 'http://loki.monitoring:3100' },
    });
    expect(c.multiline!.timeout).toBe(1000);
    expect(c.buffer).toBe(2 * 1024 * 1024);
    expect(c.batch).toMatchObject({ maxBytes: 1024 * 1024, maxEvents: 10_000, maxWait: 1000 });
    expect(c.readFrom).toBe('beginning');
  });

  it('names the key of every problem', () => {
    expect(issues({ include: [], sink: { type: 'stdout' } })).toEqual([expect.stringMatching(/^include: /)]);
    expect(issues({ include: ['x'], sink: { type: 'kafka' } })[0]).toMatch(/^sink\.type: /);
    expect(issues({ include: ['x'], sink: { type: 'http', url: 'nope' } })[0]).toMatch(/^sink\.url: /);
    expect(issues({ include: ['x'], parse: 'regex', sink: { type: 'stdout' } })[0]).toMatch(/^regex: .*named groups/);
    expect(issues({ include: ['x'], multiline: { start: '(' }, sink: { type: 'stdout' } })[0]).toMatch(/^multiline\.start: invalid regex/);
    expect(issues({ include: ['x'], batch: { maxWait: 'soon' }, sink: { type: 'stdout' } })[0]).toMatch(/^batch\.maxWait: expected a duration/);
    expect(issues({ include: ['x'], typo: 1, sink: { type: 'stdout' } })[0]).toMatch(/typo/);
    expect(issues({ include: ['x'], sink: { type: 'syslog', address: 'nohost' } })[0]).toMatch(/^sink\.address: /);
  });
});
