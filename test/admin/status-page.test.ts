// The status page on the admin port's `/`, opened in a real headless browser (Debian's chromium)
// against a running agent: what a person sees there. And the page's escaping, fed hostile values.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStatusPage } from '../../src/admin/status-page.ts';
import { type AgentProcess, freePort, startAgent, tempDir } from '../helpers/agent-process.ts';
import { RECORDER, eventually } from '../helpers/recorder.ts';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SECRET = 'pa55-that-must-not-show';
let dir: { path: string; cleanup: () => Promise<void> };
let agent: AgentProcess;

beforeAll(async () => {
  dir = await tempDir();
  const deadApp = await freePort();
  agent = await startAgent(
    dir.path,
    `admin:\n  listen: 127.0.0.1:0\ndataDir: ./data\nplugins:\n` +
      `  https:\n    type: tls-terminator\n    listen: 127.0.0.1:0\n    upstream: http://127.0.0.1:${deadApp}\n    tls:\n      selfSignedNames: [localhost]\n` +
      `  healthy:\n    type: ${RECORDER}\n    events: events.log\n    password: \${SECRET_PW}\n` +
      `  broken:\n    type: ${RECORDER}\n    events: events.log\n    failAfterMs: 0\n`,
    { env: { SECRET_PW: SECRET } },
  );
  // The broken instance has failed at least once before the page is read.
  await eventually(async () => expect((await agent.status()).instances.broken.restarts).toBeGreaterThan(0), 400, 50);
});
afterAll(async () => {
  await agent?.stop('SIGKILL');
  await dir.cleanup();
});

/** The page as chromium renders it (the DOM after load), from a throwaway profile. */
async function openInChromium(url: string): Promise<string> {
  const profile = await mkdtemp(join(tmpdir(), 'sidekick-chromium-'));
  try {
    const browser = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${profile}`, '--dump-dom', url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let dom = '';
    browser.stdout.setEncoding('utf8').on('data', (c) => (dom += c));
    const code = await new Promise((r, j) => browser.once('error', j).once('exit', r));
    expect(code, `${CHROMIUM} failed (is Debian's chromium installed?)`).toBe(0);
    return dom;
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}
const row = (dom: string, name: string) => new RegExp(`<tr class="([a-z]+)" data-instance="${name}">([\\s\\S]*?)</tr>`).exec(dom);
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

describe('the status page', () => {
  it('lists every instance in a real browser, and shows a failing one as failing', async () => {
    const dom = await openInChromium(`${agent.adminUrl}/`);
    expect(dom).toContain('<h1>Sidekick');
    const https = row(dom, 'https');
    const healthy = row(dom, 'healthy');
    const broken = row(dom, 'broken');
    expect(https && healthy && broken, dom).toBeTruthy();
    expect(https![1]).toBe('ok');
    expect(text(https![2])).toMatch(/running, ready .*certificate localhost: expires \d{4}-\d\d-\d\d \(\d+ days\)/);
    expect(healthy![1]).toBe('ok');
    expect(broken![1]).toBe('failing');
    expect(text(broken![2])).toMatch(/failing, restarting .*recorder run-time failure \d+ ERR_RECORDER/);
    expect(dom).not.toContain(SECRET);
    // It refreshes itself.
    expect(dom).toMatch(/<meta http-equiv="refresh" content="\d+">/);
  });

  it('is served with a CSP that allows no script and nothing from elsewhere', async () => {
    const res = await fetch(`${agent.adminUrl}/`);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/script-src|unsafe|https?:/);
    const html = await res.text();
    expect(html).not.toMatch(/<script|src=|<link/);
  });

  it('escapes every value and strips credentials from URLs', () => {
    const html = renderStatusPage(
      {
        version: '1',
        state: 'running',
        instances: {
          '<script>alert(1)</script>': {
            type: 'x"><img src=x onerror=alert(2)>',
            state: 'restarting',
            ready: false,
            lastError: { message: '<b>boom</b> fetching https://bob:hunter2@store.example/cfg', at: 'now' },
            details: { url: 'http://alice:s3cret@probe.example/', note: "it's <i>fine</i>" },
          },
        },
      },
      {},
    );
    expect(html).not.toMatch(/<script>|<img|<b>|<i>|hunter2|s3cret/);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('https://[redacted]@store.example/cfg');
  });
});
