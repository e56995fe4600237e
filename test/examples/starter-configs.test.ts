// Every starter config in examples/starter/ is valid as shipped (the pod's variables set) and, as
// CI would check it, with those variables unset but allowed; the README lists each one.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/agent-process.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const STARTERS = readdirSync(join(ROOT, 'examples/starter')).filter((f) => f.endsWith('.yaml'));
// Values for the variables the starters reference without a default.
const POD_ENV = { CONFIG_BUCKET: 'my-configs' };

function validate(file: string, args: string[], env: NodeJS.ProcessEnv) {
  const clean: NodeJS.ProcessEnv = { ...process.env, SIDEKICK_CONFIG: '' };
  for (const k of Object.keys(POD_ENV)) delete clean[k];
  return spawnSync(process.execPath, [BIN, 'validate', '--config', join(ROOT, 'examples/starter', file), ...args], { env: { ...clean, ...env }, encoding: 'utf8' });
}

describe('starter configs', () => {
  it('there is one per use', () => expect(STARTERS.length).toBeGreaterThanOrEqual(3));

  it.each(STARTERS)('%s is valid with the pod variables set, and without them when allowed', (file) => {
    const withEnv = validate(file, [], POD_ENV);
    expect(withEnv.stderr).toBe('');
    expect(withEnv.status).toBe(0);
    const ci = validate(file, ['--allow-unset-env'], {});
    expect(ci.status, ci.stderr).toBe(0);
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain(`examples/starter/${file}`);
  });
});
