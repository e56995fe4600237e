import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.ts';
import { loadConfig } from '../../src/config/load-config.ts';

const RECORDER = resolve(import.meta.dirname, '../fixtures/plugins/recorder-plugin.js');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sidekick-config-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, yaml);
  return { file, result: loadConfig(file, env) };
}

async function problemsOf(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const { file, result } = await load(yaml, env);
  const err = await result.then(
    () => { throw new Error('expected the config to be refused'); },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  const e = err as ConfigError;
  expect(e.message).toContain(file);
  return e;
}

describe('a valid config', () => {
  it('gets defaults for every core key', async () => {
    const { result } = await load('plugins: {}\n');
    const config = await result;
    expect(config.core).toEqual({
      admin: { listen: { host: '0.0.0.0', port: 9901 } },
      log: { level: 'info', format: 'json' },
      shutdownTimeout: 25_000,
      dataDir: '/var/lib/sidekick',
      restart: { initialDelay: 1000, maxDelay: 60_000, startTimeout: 60_000 },
      watchConfig: true,
    });
    expect(config.instances).toEqual([]);
  });

  it('treats an empty file as all defaults', async () => {
    const { result } = await load('');
    expect((await result).instances).toEqual([]);
  });

  it('replaces ${VAR} and ${VAR:-default} in every string, and $$ is a literal $', async () => {
    const { result } = await load(
      `dataDir: \${DATA:-/tmp/x}/sub\nshutdownTimeout: \${GRACE}\nplugins:\n  one:\n    type: ${RECORDER}\n    events: /tmp/e\n    password: "p$$\${PASS}"\n`,
      { GRACE: '3s', PASS: 'hunter2' },
    );
    const config = await result;
    expect(config.core.dataDir).toBe('/tmp/x/sub');
    expect(config.core.shutdownTimeout).toBe(3000);
    expect((config.instances[0]!.config as { password: string }).password).toBe('p$hunter2');
  });

  it('resolves a relative dataDir against the config file directory', async () => {
    const { result } = await load('dataDir: ./state\n');
    expect((await result).core.dataDir).toBe(join(dir, 'state'));
  });

  it('keeps instances in config order, with validated plugin config', async () => {
    const { result } = await load(`plugins:\n  b:\n    type: ${RECORDER}\n    events: e\n  a:\n    type: ${RECORDER}\n    events: e\n    drainMs: 5\n`);
    const config = await result;
    expect(config.instances.map((i) => i.name)).toEqual(['b', 'a']);
    expect(config.instances[1]!.config).toMatchObject({ events: 'e', drainMs: 5, failStart: false });
  });
});

describe('a bad config names the file, the key and what was expected', () => {
  const cases: Array<[string, string, string, RegExp, NodeJS.ProcessEnv?]> = [
    ['unknown core key', 'admn:\n  listen: 1\n', 'admn', /unknown key; allowed keys: admin, log, .*\(did you mean "admin"\?\)/],
    ['unknown nested key', 'admin:\n  lisen: 127.0.0.1:1\n', 'admin.lisen', /unknown key; allowed keys: listen \(did you mean "listen"\?\)/],
    ['unknown plugin key', `plugins:\n  rec:\n    type: ${RECORDER}\n    events: e\n    drainMS: 5\n`, 'plugins.rec.drainMS', /unknown key; allowed keys: .*drainMs.*\(did you mean "drainMs"\?\)/],
    ['wrong type', 'watchConfig: "yes"\n', 'watchConfig', /expected boolean, got string/],
    ['wrong plugin type', `plugins:\n  rec:\n    type: ${RECORDER}\n    events: 5\n`, 'plugins.rec.events', /expected string, got number/],
    ['missing plugin key', `plugins:\n  rec:\n    type: ${RECORDER}\n`, 'plugins.rec.events', /required key is missing \(expected string\)/],
    ['missing type', 'plugins:\n  rec:\n    events: e\n', 'plugins.rec.type', /required key is missing/],
    ['not a whole number', `plugins:\n  rec:\n    type: ${RECORDER}\n    events: e\n    startDelayMs: 1.5\n`, 'plugins.rec.startDelayMs', /^\s*plugins\.rec\.startDelayMs: expected a whole number$/],
    ['below the minimum', `plugins:\n  rec:\n    type: ${RECORDER}\n    events: e\n    drainMs: -1\n`, 'plugins.rec.drainMs', /^\s*plugins\.rec\.drainMs: expected at least 0$/],
    ['unset env var', 'dataDir: ${NOPE_NOT_SET}\n', 'dataDir', /environment variable NOPE_NOT_SET is not set \(write \$\{NOPE_NOT_SET:-default\}/],
    ['bad duration', 'shutdownTimeout: 10 seconds\n', 'shutdownTimeout', /expected a duration like "500ms", "10s" or "5m", got "10 seconds"/],
    ['bad log level', 'log:\n  level: loud\n', 'log.level', /expected one of "fatal", "error", "warn", "info"/],
    ['bad listen address', 'admin:\n  listen: nowhere\n', 'admin.listen', /expected "host:port"/],
    ['unknown plugin type', 'plugins:\n  https:\n    type: tls-terminatr\n', 'plugins.https.type', /unknown plugin type "tls-terminatr".*built-in types: /],
    ['missing plugin file', 'plugins:\n  x:\n    type: ./no-such-plugin.js\n', 'plugins.x.type', /cannot load plugin "\.\/no-such-plugin\.js"/],
    ['not a plugin module', `plugins:\n  x:\n    type: ${resolve(import.meta.dirname, 'load-config.test.ts')}\n`, 'plugins.x.type', /(does not export a plugin descriptor|cannot load plugin)/],
    ['bad instance name', `plugins:\n  My_Plugin!:\n    type: ${RECORDER}\n    events: e\n`, 'plugins.My_Plugin!', /instance names are lowercase letters/],
    ['invalid YAML', 'admin: [unclosed\n', '(top level)', /YAML: .*\(2:1\)/],
    ['duplicate key', 'log:\n  level: info\nlog:\n  level: debug\n', '(top level)', /YAML: duplicated mapping key \(3:1\)/],
    ['two documents', 'log:\n  level: info\n---\nlog:\n  level: debug\n', '(top level)', /YAML: expected one document, found 2/],
    ['not a mapping', '- a\n- b\n', '(top level)', /expected a mapping of keys/],
  ];

  it.each(cases)('%s', async (_name, yaml, path, message, env) => {
    const err = await problemsOf(yaml, env);
    const line = err.message.split('\n').find((l) => l.trim().startsWith(`${path}:`));
    expect(line, err.message).toBeDefined();
    expect(line).toMatch(message);
  });

  it('reports every problem at once', async () => {
    const err = await problemsOf('admn: 1\nwatchConfig: 3\nshutdownTimeout: soon\n');
    expect(err.problems.map((p) => p.path).sort()).toEqual(['admn', 'shutdownTimeout', 'watchConfig']);
  });

  it('never echoes the value of a key (it may be a secret)', async () => {
    const err = await problemsOf(`plugins:\n  rec:\n    type: ${RECORDER}\n    events: e\n    password: 12345678901\n`);
    expect(err.message).toMatch(/plugins\.rec\.password: expected string, got number/);
    expect(err.message).not.toContain('12345678901');
  });

  it('an unreadable file', async () => {
    const file = join(dir, 'unreadable.yaml');
    await writeFile(file, 'plugins: {}\n');
    await chmod(file, 0o000);
    const missing = (await loadConfig(join(dir, "missing.yaml")).catch((e: ConfigError) => e)) as ConfigError;
    expect(missing).toBeInstanceOf(ConfigError);
    expect(missing.message).toBe(`invalid config ${join(dir, 'missing.yaml')}:\n  (top level): cannot read config file: no such file`);
    // root can read a 000 file; only check EACCES where it applies
    if (process.getuid?.() !== 0) {
      const denied = (await loadConfig(file).catch((e: ConfigError) => e)) as ConfigError;
      expect(denied.message).toContain('permission denied');
    }
  });
});
