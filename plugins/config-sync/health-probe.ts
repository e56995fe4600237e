// After a reload: does the app come back healthy on the new version? An app that reloads in
// the background still answers on the old config for a while, so a single 2xx right after the
// signal proves little: `delay` waits before the first probe, `successThreshold` asks for N
// healthy answers in a row, and `expectBody` asks the app to say which version it serves.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from '../../src/plugin-api.ts';

export interface HealthCheckConfig {
  url: string;
  timeout: number;
  interval: number;
  delay: number;
  successThreshold: number;
  expectBody?: string;
}

const FILE_REF = /\{file:([^}]+)\}/g;

/**
 * `expectBody` with each "{file:PATH}" replaced by the trimmed content of PATH in the published
 * version (`target`/..data), read before the reload so a later publish cannot change it.
 */
export async function expectedBody(template: string, target: string): Promise<string> {
  let out = '';
  let at = 0;
  for (const m of template.matchAll(FILE_REF)) {
    const path = m[1]!;
    let text: string;
    try {
      text = (await readFile(join(target, '..data', path), 'utf8')).trim();
    } catch (err) {
      throw new Error(`healthCheck.expectBody names {file:${path}}, which the published version does not have (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    out += template.slice(at, m.index) + text;
    at = m.index + m[0].length;
  }
  return out + template.slice(at);
}

export async function waitHealthy(config: HealthCheckConfig, signal: AbortSignal, expected?: string): Promise<{ healthy: boolean; last: string }> {
  const until = Date.now() + config.timeout; // from the reload, delay included
  let last = 'not probed';
  let streak = 0;
  if (config.delay > 0) await sleep(config.delay, signal);
  while (!signal.aborted) {
    let ok = false;
    try {
      const res = await fetch(config.url, { signal: AbortSignal.any([signal, AbortSignal.timeout(Math.max(100, config.interval))]) });
      if (expected === undefined) {
        await res.body?.cancel();
        ok = res.ok;
        last = `HTTP ${res.status}`;
      } else {
        const body = await res.text();
        ok = res.ok && body.includes(expected);
        last = res.ok && !ok ? `HTTP ${res.status} without ${JSON.stringify(expected)} in the body` : `HTTP ${res.status}`;
      }
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      last = e.cause?.code ?? e.message;
    }
    streak = ok ? streak + 1 : 0;
    if (streak >= config.successThreshold) return { healthy: true, last };
    if (Date.now() + config.interval > until) break;
    await sleep(config.interval, signal);
  }
  if (streak > 0) last += ` (${streak} of ${config.successThreshold} healthy answers in a row)`;
  return { healthy: false, last };
}
