// TLS defaults as nginx with Mozilla's "intermediate" settings, checked with a real peer
// (openssl s_client): client-initiated renegotiation refused, CBC and RSA-key-exchange suites
// refused, groups outside X25519/P-256/P-384 refused; and the tls.groups key.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, type Terminator, startApp, startTerminator, tempDir } from '../helpers.ts';

let app: App;
let dir: string;
let cleanupDir: () => Promise<void>;
let term: Terminator;

beforeAll(async () => {
  app = await startApp();
  const t = await tempDir();
  dir = t.path;
  cleanupDir = t.cleanup;
  // RSA, so that RSA key exchange and DHE-RSA suites could be chosen at all.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa.key', '-out', 'rsa.crt', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { cwd: dir, stdio: 'pipe' });
  term = await startTerminator(dir, `    upstream: ${app.url}\n    tls: { cert: ${join(dir, 'rsa.crt')}, key: ${join(dir, 'rsa.key')} }\n`);
});
afterAll(async () => {
  await term?.agent.stop();
  await app.close();
  await cleanupDir();
});

interface Run {
  out: string;
  /** Called with everything printed so far, each time more arrives; may write to stdin. */
  onOutput?: (out: string, stdin: NodeJS.WritableStream) => void;
}

/** openssl s_client against the agent; resolves with stdout + stderr once it exits. */
function sClient(args: string[], onOutput?: Run['onOutput']): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${term.port}`, '-servername', 'localhost', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const more = (c: Buffer) => {
      out += c.toString();
      onOutput?.(out, p.stdin);
    };
    p.stdout.on('data', more);
    p.stderr.on('data', more);
    p.stdin.on('error', () => {}); // s_client may exit before we write
    if (!onOutput) p.stdin.end();
    p.on('error', reject);
    p.on('close', () => resolve(out));
  });
}

/** The suite a handshake agreed on, or undefined when the server refused it. */
async function negotiated(args: string[]): Promise<string | undefined> {
  const out = await sClient(args);
  const m = /Cipher is (\S+)/.exec(out);
  return m && m[1] !== '(NONE)' ? m[1] : undefined;
}

describe('TLS hardening (Mozilla intermediate, as nginx)', () => {
  it('accepts the intermediate suites and groups', async () => {
    expect(await negotiated(['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'])).toBe('ECDHE-RSA-AES128-GCM-SHA256');
    expect(await negotiated(['-tls1_2', '-cipher', 'DHE-RSA-AES256-GCM-SHA384'])).toBe('DHE-RSA-AES256-GCM-SHA384');
    for (const group of ['X25519', 'prime256v1', 'secp384r1']) expect(await negotiated(['-tls1_3', '-groups', group])).toBe('TLS_AES_128_GCM_SHA256');
  });

  it('refuses CBC-only and RSA-key-exchange-only clients', async () => {
    expect(await negotiated(['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:DHE-RSA-AES128-SHA256'])).toBeUndefined();
    expect(await negotiated(['-tls1_2', '-cipher', 'AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA'])).toBeUndefined();
  });

  it('refuses a client whose only group is outside the list', async () => {
    expect(await negotiated(['-tls1_3', '-groups', 'secp521r1'])).toBeUndefined();
    expect(await negotiated(['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256', '-groups', 'secp521r1'])).toBeUndefined();
  });

  it('refuses client-initiated renegotiation (TLS 1.2, s_client R)', async () => {
    let step = 0;
    const out = await sClient(['-tls1_2', '-crlf'], (text, stdin) => {
      if (step === 0 && /Verify return code/.test(text) && /\n---\n/.test(text.slice(text.indexOf('Verify return code')))) {
        step = 1;
        stdin.write('R\n');
      } else if (step === 1 && text.includes('RENEGOTIATING')) {
        step = 2;
        // Served only if the renegotiation went through; refused, s_client exits on the alert.
        stdin.write('GET /echo HTTP/1.1\nHost: localhost\nConnection: close\n\n');
      }
    });
    expect(out).toContain('RENEGOTIATING');
    expect(out).toMatch(/no renegotiation/i);
    expect(out).not.toContain('HTTP/1.1 200');
  });
});
