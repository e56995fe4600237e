// The status page on the admin port's `/`, opened in a real headless browser (Debian's chromium)
// against a running agent: what a person sees there. And the page's escaping, fed hostile values.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStatusPage } from '../../src/admin/status-page.ts';
import { type AgentProcess, freePort, startAgent, tempDir } from '../helpers/agent-process.ts';
import { visit } from '../helpers/headless-chromium.ts';
import { RECORDER, eventually } from '../helpers/recorder.ts';

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
}, 60_000);
afterAll(async () => {
  await agent?.stop('SIGKILL');
  await dir.cleanup();
});

interface Row {
  name: string;
  rowClass: string;
  text: string;
  stateColor: string;
}
// What a person sees: each row's rendered text and the colour its state is drawn in.
const ROWS = `JSON.stringify({
  title: document.title,
  heading: document.querySelector('h1')?.innerText,
  refresh: document.querySelector('meta[http-equiv=refresh]')?.content,
  body: document.body.innerText,
  rows: [...document.querySelectorAll('tr[data-instance]')].map((r) => ({
    name: r.dataset.instance, rowClass: r.className, text: r.innerText,
    stateColor: getComputedStyle(r.querySelector('td.state')).color,
  })),
})`;
const GREEN = 'rgb(26, 127, 55)';
const RED = 'rgb(207, 34, 46)';

describe('the status page', () => {
  it('lists every instance in a real browser, and shows a failing one as failing', async () => {
    const { value, logs } = await visit<string>(`${agent.adminUrl}/`, ROWS);
    const page = JSON.parse(value) as { title: string; heading: string; refresh: string; body: string; rows: Row[] };
    expect(page.heading).toMatch(/^Sidekick \d+\.\d+\.\d+: running$/);
    expect(page.title).toMatch(/^1 failing · Sidekick/);
    expect(page.rows.map((r) => r.name)).toEqual(['https', 'healthy', 'broken']);
    const [https, healthy, broken] = page.rows as [Row, Row, Row];
    expect(https.text).toMatch(/running, ready[\s\S]*certificate\s+localhost: expires \d{4}-\d\d-\d\d \(\d+ days\)/);
    expect(https.stateColor).toBe(GREEN);
    expect(healthy.stateColor).toBe(GREEN);
    expect(broken.rowClass).toBe('failing');
    expect(broken.text).toMatch(/failing, restarting[\s\S]*recorder run-time failure \d+ ERR_RECORDER/);
    expect(broken.stateColor).toBe(RED);
    expect(page.body).not.toContain(SECRET);
    expect(Number(page.refresh)).toBeGreaterThan(0);
    // The stylesheet was applied under the CSP (the colours above), and nothing was refused.
    expect(logs).toEqual([]);
  }, 120_000);

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

  it("shows app-monitor's app, probe and what it cannot see", () => {
    const html = renderStatusPage(
      {
        version: '1',
        state: 'running',
        instances: {
          app: {
            type: 'app-monitor',
            state: 'running',
            ready: false,
            details: {
              name: 'nginx', up: false, restarts: 2, processCount: 0, processes: [],
              probe: { target: 'http://127.0.0.1:8080/healthz', up: false, result: 'ECONNREFUSED' },
              problems: [{ code: 'ERR_SIDEKICK_APP_NOT_FOUND', message: 'no process named "nginx"; <shareProcessNamespace>' }],
            },
          },
        },
      },
      {},
    );
    expect(html).toContain('nginx: <span class="failing">not seen</span>');
    expect(html).toContain('<span class="failing">ECONNREFUSED</span>');
    expect(html).toContain('no process named &quot;nginx&quot;; &lt;shareProcessNamespace&gt;');
    expect(html).toMatch(/restarts<\/\w+>\s*<\w+>2/);
  });

  it("shows the tls-terminator's ejected app and its queue", () => {
    const page = (details: Record<string, unknown>) => renderStatusPage(
      { version: '1', state: 'running', instances: { https: { type: 'tls-terminator', state: 'running', ready: false, details } } },
      {},
    );
    const open = page({ listen: '0.0.0.0:8443', upstream: 'http://127.0.0.1:8080', app: { connections: 2, idle: 0, queued: 5 }, protection: { circuitBreaker: { state: 'open', retryInMs: 12_400 } } });
    expect(open).toContain('<span class="failing">open</span>: app ejected, retried in 13 s');
    expect(open).toMatch(/queued for the app<\/\w+>\s*<\w+>5/);
    expect(page({ protection: { circuitBreaker: { state: 'closed' } } })).not.toContain('circuit breaker');
  });
});
