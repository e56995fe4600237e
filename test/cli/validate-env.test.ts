// `sidekick validate` reports every problem in one run, an unset `${VAR}` among them, and takes
// the pod's variables from --env-file or, with --allow-unset-env, reports them as warnings.
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../helpers/agent-process.ts';

let dir: { path: string; cleanup: () => Promise<void> };
// Two unset variables, a bad core key and a bad plugin key.
const BROKEN = `admin:
  listen: 99999999
log:
  level: \${LOG_LEVEL}
plugins:
  https:
    type: tls-terminator
    listen: \${HTTPS_LISTEN}
    upstream: http://127.0.0.1:8080
    hsts: { maxAge: forever }
`;
const GOOD_BUT_UNSET = `log:
  level: \${LOG_LEVEL}
plugins:
  https:
    type: tls-terminator
    listen: \${HTTPS_LISTEN}
    upstream: http://127.0.0.1:8080
`;
beforeAll(async () => {
  dir = await tempDir();
  await writeFile(join(dir.path, 'broken.yaml'), BROKEN);
  await writeFile(join(dir.path, 'unset.yaml'), GOOD_BUT_UNSET);
  await writeFile(join(dir.path, 'pod.env'), '# what the pod sets\nHTTPS_LISTEN=0.0.0.0:8443\nLOG_LEVEL="info"\n');
});
afterAll(() => dir.cleanup());

function validate(args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean: NodeJS.ProcessEnv = { ...process.env, SIDEKICK_CONFIG: '' };
  delete clean.LOG_LEVEL;
  delete clean.HTTPS_LISTEN;
  const r = spawnSync(process.execPath, [BIN, 'validate', ...args], { cwd: dir.path, env: { ...clean, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const problemLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('  '));

describe('sidekick validate', () => {
  it('reports unset variables among every other problem, in one run', () => {
    const r = validate(['-c', 'broken.yaml']);
    expect(r.code).toBe(78);
    const lines = problemLines(r.stderr);
    expect(lines.find((l) => l.startsWith('  admin.listen:'))).toBeDefined();
    expect(lines.find((l) => l.startsWith('  log.level:') && l.includes('LOG_LEVEL is not set'))).toBeDefined();
    expect(lines.find((l) => l.startsWith('  plugins.https.listen:') && l.includes('HTTPS_LISTEN is not set'))).toBeDefined();
    expect(lines.find((l) => l.startsWith('  plugins.https.hsts.maxAge:'))).toBeDefined();
    // The unset keys are reported once, as unset, not also as an empty value.
    expect(lines.filter((l) => l.startsWith('  plugins.https.listen:'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('  log.level:'))).toHaveLength(1);
  });

  it('--env-file supplies the variables; the other problems remain', () => {
    const r = validate(['-c', 'broken.yaml', '--env-file', 'pod.env']);
    expect(r.code).toBe(78);
    const lines = problemLines(r.stderr);
    expect(lines.map((l) => l.split(':')[0]!.trim()).sort()).toEqual(['admin.listen', 'plugins.https.hsts.maxAge']);
    expect(validate(['--env-file=pod.env', '-c', 'unset.yaml'])).toMatchObject({ code: 0, stderr: '' });
  });

  it('the environment wins over --env-file, as with node --env-file', () => {
    const r = validate(['-c', 'unset.yaml', '--env-file', 'pod.env'], { HTTPS_LISTEN: 'not an address' });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('plugins.https.listen');
  });

  it('--allow-unset-env reports unset variables as warnings and judges the rest', () => {
    const ok = validate(['-c', 'unset.yaml', '--allow-unset-env']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('valid (2 warnings); plugins: https (tls-terminator)');
    expect(ok.stderr).toContain('sidekick: warning: log.level: environment variable LOG_LEVEL is not set');
    expect(ok.stderr).toContain('sidekick: warning: plugins.https.listen: environment variable HTTPS_LISTEN is not set');

    const bad = validate(['-c', 'broken.yaml', '--allow-unset-env']);
    expect(bad.code).toBe(78);
    expect(problemLines(bad.stderr).map((l) => l.split(':')[0]!.trim()).sort()).toEqual(['admin.listen', 'plugins.https.hsts.maxAge']);
  });

  it('refuses a missing env file and the options outside validate', () => {
    // Node itself checks that an --env-file target exists, even after the script's name (it
    // does not load it there): its own message and exit code 9, before Sidekick runs.
    const r = validate(['-c', 'unset.yaml', '--env-file', 'missing.env']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('missing.env');
    const dirAsFile = validate(['-c', 'unset.yaml', '--env-file', '.']);
    expect(dirAsFile.code).not.toBe(0);
    const run = spawnSync(process.execPath, [BIN, 'run', '--allow-unset-env'], { cwd: dir.path, encoding: 'utf8' });
    expect(run.status).toBe(2);
  });
});
