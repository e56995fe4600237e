// The CLI's commands and exit codes, run as a user would run them.
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../helpers/agent-process.ts';
import { RECORDER } from '../helpers/recorder.ts';

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir();
  await writeFile(join(dir.path, 'good.yaml'), `plugins:\n  rec:\n    type: ${RECORDER}\n    events: e.log\n`);
  await writeFile(join(dir.path, 'bad.yaml'), 'admin:\n  listen: 99999999\n');
  await writeFile(join(dir.path, 'sidekick.yaml'), 'plugins: {}\n');
});
afterAll(() => dir.cleanup());

function sidekick(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir.path, env: { ...process.env, SIDEKICK_CONFIG: '', ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sidekick CLI', () => {
  it('--help lists the commands', () => {
    const r = sidekick(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['run', 'validate', 'schema', 'version']) expect(r.stdout).toContain(`sidekick ${cmd}`);
  });

  it('version prints the package version', () => {
    const r = sidekick(['version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('validate exits 0 for a good file and names its plugins', () => {
    const r = sidekick(['validate', '--config', 'good.yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`good.yaml: valid; plugins: rec (${RECORDER})`);
  });

  it('validate exits 78 with the file, key and problem for a bad file', () => {
    const r = sidekick(['validate', '-c', 'bad.yaml']);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`invalid config ${join(dir.path, 'bad.yaml')}:\n  admin.listen: expected "host:port"`);
  });

  it('finds the config in $SIDEKICK_CONFIG, then ./sidekick.yaml', () => {
    expect(sidekick(['validate'], { SIDEKICK_CONFIG: 'bad.yaml' }).code).toBe(78);
    const r = sidekick(['validate']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(join(dir.path, 'sidekick.yaml'));
  });

  it('run exits 78 for an invalid config and 78 for a missing one', () => {
    expect(sidekick(['run', '--config', 'bad.yaml']).code).toBe(78);
    const r = sidekick(['run', '--config', 'nope.yaml']);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('cannot read config file: no such file');
  });

  it('bad usage exits 2', () => {
    expect(sidekick(['frobnicate']).code).toBe(2);
    expect(sidekick(['run', '--verbose']).code).toBe(2);
    expect(sidekick(['validate', '--config']).code).toBe(2);
  });

  it('schema prints a JSON Schema that describes every core key', () => {
    const r = sidekick(['schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout);
    expect(schema.$schema).toMatch(/json-schema\.org/);
    expect(schema.additionalProperties).toBe(false);
    for (const key of ['admin', 'log', 'shutdownTimeout', 'dataDir', 'plugins']) {
      expect(schema.properties[key].description, key).toBeTruthy();
    }
    expect(schema.properties.shutdownTimeout.default).toBe('25s');
    expect(schema.properties.plugins.additionalProperties.anyOf.length).toBeGreaterThanOrEqual(1);
  });

  it('schema describes every key, core and built-in plugins alike', () => {
    const schema = JSON.parse(sidekick(['schema']).stdout);
    const undescribed: string[] = [];
    const walk = (node: any, path: string) => {
      if (!node || typeof node !== 'object') return;
      for (const [key, child] of Object.entries<any>(node.properties ?? {})) {
        if (!child.description && !child.$ref) undescribed.push(`${path}${key}`);
        walk(child, `${path}${key}.`);
      }
      for (const k of ['anyOf', 'oneOf', 'allOf']) (node[k] ?? []).forEach((v: any) => walk(v, path));
      if (node.additionalProperties && typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}*.`);
      if (node.items) walk(node.items, `${path}[].`);
    };
    walk(schema, '');
    expect(undescribed).toEqual([]);
  });
});
