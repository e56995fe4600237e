// What a corpus case is, how one is run against a front (the agent or nginx) and how what
// happened is checked against what was expected. The expectation is "what nginx 1.22 does, or
// stricter"; run-against-nginx.ts checks that claim against a real nginx.
import { type AppRequest, type AppScript, type ClientResult, type H2Request, PROBE_TARGET, type RawApp, h2Exchange, rawExchange } from './harness.ts';
import { field } from './strict-reader.ts';

export type CaseClass = 'crash' | 'framing' | 'retry' | 'response' | 'host' | 'limits';

/** A status the client reads, or 'closed': the connection closed (h2: the stream was reset) first. */
export type Outcome = number | 'closed';

export interface RequestCheck {
  method?: string;
  target?: string;
  host?: string;
  body?: string;
  bodyLength?: number;
  /** Header names that must not reach the app. */
  absent?: string[];
  /** Header values the app must see (name lowercase). */
  header?: Record<string, string>;
}

export interface Expectation {
  /** Acceptable outcomes for each response, in order (pipelined requests or steps). */
  responses: Outcome[][];
  /** Complete requests the app receives during the case: exactly n, or [min, max]. */
  app: number | [number, number];
  /** Checks on the app's requests, in arrival order. */
  requests?: RequestCheck[];
  /** Bodies the client must read, per response (undefined: not checked). */
  bodies?: Array<string | undefined>;
  /** The probe after the case must reach the app on a connection the case's requests did not use. */
  freshAppConnection?: boolean;
}

export interface Case {
  id: string;
  class: CaseClass;
  /** The rule it checks, e.g. 'RFC 9112 6.1'. */
  rfc: string;
  /** Raw bytes (latin1) over TLS with ALPN http/1.1; each step is sent once the previous one is answered. */
  send?: string | string[];
  /** Instead of `send`: one HTTP/2 request. */
  h2?: H2Request;
  /** The requests are HEAD (their responses have no body). */
  head?: boolean;
  /** Half-close the connection after the last step. */
  endAfterSend?: boolean;
  app?: AppScript;
  /** One expectation, or alternatives of which one must hold. */
  expect: Expectation | Expectation[];
}

export interface Observation {
  client: ClientResult;
  requests: AppRequest[];
  appErrors: string[];
  probe: { status: Outcome; conn?: number; body?: string; answers?: string; seq?: number };
  caseConns: number[];
  /** Of caseConns, those the front had not closed (waited for only when the case wants them closed). */
  caseConnsOpen: number[];
}

export const CASE_TIMEOUT_MS = 3000;
/** How long an app connection that must not be reused may stay open after the case (a FIN on loopback takes well under 1 ms). */
const CLOSE_WAIT_MS = 500;
const PROBE = `GET ${PROBE_TARGET} HTTP/1.1\r\nHost: localhost\r\n\r\n`;

let runs = 0;

/** Runs one case against the front listening on `port` (TLS), with `app` behind it. */
export async function runCase(port: number, app: RawApp, c: Case): Promise<Observation> {
  // A tag per run, so that a case run against two fronts never sees the other run's requests.
  const tag = `${c.id}#${++runs}`;
  app.begin(tag, c.app);
  const steps = typeof c.send === 'string' ? [c.send] : (c.send ?? []);
  const want = Math.max(...(Array.isArray(c.expect) ? c.expect : [c.expect]).map((e) => e.responses.length));
  const client = c.h2
    ? await h2Exchange(port, c.h2, CASE_TIMEOUT_MS)
    : await rawExchange(port, steps, { want, head: c.head, endAfterSend: c.endAfterSend, timeoutMs: CASE_TIMEOUT_MS });
  const requests = app.requests.filter((r) => r.caseId === tag && r.message.start[1] !== PROBE_TARGET);
  const appErrors = app.conns.filter((x) => x.caseOfError === tag).map((x) => `app connection ${x.id}: ${x.error}`);
  const caseConns = [...new Set(requests.map((r) => r.conn))];
  // Wait for the close only when an expectation matching the client's first outcome asks for it.
  const first: Outcome = client.responses[0]?.status ?? 'closed';
  const wantsFresh = (Array.isArray(c.expect) ? c.expect : [c.expect]).some((e) => e.freshAppConnection && e.responses[0]?.includes(first));
  const caseConnsOpen = wantsFresh ? await app.waitClosed(caseConns, CLOSE_WAIT_MS) : [];
  let probe2: Observation['probe'] | undefined;
  const probe = await sendProbe(port, app);
  // A front left out of step (a response queued on a pooled app connection) would fail the cases
  // after this one too: close the app's connections and probe until a request gets its own answer.
  for (let i = 0; i < 3 && !probeClean(probe2 ?? probe); i++) {
    app.dropConnections();
    probe2 = await sendProbe(port, app);
  }
  return { client, requests, appErrors, probe, caseConns, caseConnsOpen };
}

function show(o: Outcome[]): string {
  return o.join('/');
}

function checkExpectation(e: Expectation, obs: Observation): string[] {
  const problems: string[] = [];
  const got = obs.client.responses;
  for (let i = 0; i < e.responses.length; i++) {
    const alts = e.responses[i]!;
    if (i < got.length) {
      if (!alts.includes(got[i]!.status)) problems.push(`response ${i + 1}: expected ${show(alts)}, got ${got[i]!.status}`);
      const body = e.bodies?.[i];
      if (body !== undefined && got[i]!.body !== body) problems.push(`response ${i + 1}: expected body ${JSON.stringify(body)}, got ${JSON.stringify(got[i]!.body.slice(0, 80))}`);
      continue;
    }
    if (!alts.includes('closed')) problems.push(`response ${i + 1}: expected ${show(alts)}, the connection ${obs.client.timedOut ? 'hung' : 'closed'} instead`);
    break;
  }
  const n = obs.requests.length;
  const [min, max] = typeof e.app === 'number' ? [e.app, e.app] : e.app;
  if (n < min || n > max) problems.push(`the app received ${n} requests, expected ${min === max ? min : `${min}-${max}`}`);
  e.requests?.forEach((check, i) => {
    const r = obs.requests[i];
    if (!r) return;
    const m = r.message;
    const where = `app request ${i + 1} (${m.start[0]} ${m.start[1]})`;
    if (check.method !== undefined && m.start[0] !== check.method) problems.push(`${where}: method ${m.start[0]}, expected ${check.method}`);
    if (check.target !== undefined && m.start[1] !== check.target) problems.push(`${where}: target ${m.start[1]}, expected ${check.target}`);
    if (check.host !== undefined && field(m.headers, 'host')[0] !== check.host) problems.push(`${where}: Host ${field(m.headers, 'host')[0]}, expected ${check.host}`);
    if (check.body !== undefined && m.body !== check.body) problems.push(`${where}: body ${JSON.stringify(m.body)}, expected ${JSON.stringify(check.body)}`);
    if (check.bodyLength !== undefined && m.body.length !== check.bodyLength) problems.push(`${where}: body of ${m.body.length} bytes, expected ${check.bodyLength}`);
    for (const name of check.absent ?? []) if (field(m.headers, name).length) problems.push(`${where}: ${name} reached the app: ${field(m.headers, name).join(', ')}`);
    for (const [name, value] of Object.entries(check.header ?? {})) {
      const v = field(m.headers, name);
      if (v.length !== 1 || v[0] !== value) problems.push(`${where}: ${name} is ${JSON.stringify(v)}, expected ${JSON.stringify(value)}`);
    }
  });
  if (e.freshAppConnection && obs.probe.conn !== undefined && obs.caseConns.includes(obs.probe.conn)) {
    problems.push(`the app connection ${obs.probe.conn} used by this case was reused for the next request`);
  } else if (e.freshAppConnection && obs.caseConnsOpen.length) {
    problems.push(`the app connection ${obs.caseConnsOpen.join(', ')} used by this case was still open ${CLOSE_WAIT_MS} ms after it, ready for reuse`);
  }
  return problems;
}

const FORGED = /6\.6\.6\.6|FORGED/;

/** Everything wrong with what happened; empty when the case passes. */
async function sendProbe(port: number, app: RawApp): Promise<Observation['probe']> {
  app.begin(undefined);
  const seen = app.requests.length;
  const p = await rawExchange(port, [PROBE], { want: 1, timeoutMs: CASE_TIMEOUT_MS });
  const probeReq = app.requests.slice(seen).find((r) => r.message.start[1] === PROBE_TARGET);
  return {
    status: p.responses[0]?.status ?? 'closed',
    conn: probeReq?.conn,
    body: p.responses[0]?.body,
    answers: field(p.responses[0]?.headers ?? [], 'x-req')[0],
    seq: probeReq?.seq,
  };
}

function probeClean(p: Observation['probe']): boolean {
  return p.status === 200 && p.body === 'ok' && p.answers === String(p.seq);
}

export function check(c: Case, obs: Observation): string[] {
  const problems: string[] = [];
  if (obs.client.timedOut) problems.push(`hung: no complete answer within ${CASE_TIMEOUT_MS} ms (read ${obs.client.responses.length} responses)`);
  if (obs.client.malformed) problems.push(`the client got a malformed response: ${obs.client.malformed}`);
  problems.push(...obs.appErrors.map((e) => `the app got bytes a strict reader refuses: ${e}`));
  for (const r of obs.requests) {
    const m = r.message;
    if (m.start[1].includes('SMUGGLED')) problems.push(`a smuggled request reached the app: ${m.start[0]} ${m.start[1]}`);
    for (const [n, v] of [...m.headers, ...m.trailers]) if (FORGED.test(v) || FORGED.test(n)) problems.push(`a forged field reached the app: ${n}: ${v}`);
  }
  // The app's default answer names the request it answers: one from outside this case means the
  // client got a response left over from an earlier exchange (a desynchronised app connection).
  const mine = new Set(obs.requests.map((r) => String(r.seq)));
  obs.client.responses.forEach((r, i) => {
    const answers = field(r.headers, 'x-req')[0];
    if (answers !== undefined && !mine.has(answers)) problems.push(`response ${i + 1} is the app's answer to request ${answers}, not one of this case's: the app connection was out of step`);
  });
  const drop = c.app?.drop;
  if (drop && !obs.requests.some((r) => r.message.start[1] === drop.target && r.before > 0)) {
    problems.push(`setup not met: ${drop.target} never reached the app on a reused connection, so the app did not close one under it`);
  }
  const alternatives = Array.isArray(c.expect) ? c.expect : [c.expect];
  const results = alternatives.map((e) => checkExpectation(e, obs));
  if (!results.some((p) => p.length === 0)) problems.push(results.map((p) => p.join('; ')).join('  || or: '));
  if (obs.probe.status !== 200) problems.push(`the next request was not served (probe: ${obs.probe.status}): the front is down or stuck`);
  else if (obs.probe.body !== 'ok' || obs.probe.answers !== String(obs.probe.seq)) {
    problems.push(`the next request got another response: ${JSON.stringify(obs.probe.body)} answering app request ${obs.probe.answers}, not ${obs.probe.seq}`);
  }
  return problems;
}

/** One line saying what the front did (for the nginx comparison and failure messages). */
export function describe(obs: Observation): string {
  const r = obs.client.responses.map((x) => (x.interim.length ? `${x.interim.join('+')}+${x.status}` : String(x.status)));
  if (obs.client.closed) r.push('closed');
  if (obs.client.timedOut) r.push('hung');
  const reqs = obs.requests.map((q) => `${q.message.start[0]} ${q.message.start[1]}${q.message.body ? ` [${q.message.body.length} B]` : ''}`);
  return `client ${r.join(',') || 'nothing'}; app ${obs.requests.length} req${reqs.length ? ` (${reqs.join(', ')})` : ''}${obs.appErrors.length ? `; app refused: ${obs.appErrors.join(', ')}` : ''}`;
}

/** Builds a request: head lines joined by CRLF, the blank line, then the body. */
export function req(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A chunked body carrying `data` in one chunk. */
export function chunked(data: string): string {
  return `${data.length.toString(16)}\r\n${data}\r\n0\r\n\r\n`;
}

/** The client is refused with one of `codes` (or a close when listed) and nothing reaches the app. */
export function refused(...codes: Outcome[]): Expectation {
  return { responses: [codes], app: 0 };
}

/** One request reaches the app and the client gets 200. */
export function served(...requests: RequestCheck[]): Expectation {
  return { responses: [[200]], app: 1, requests };
}
