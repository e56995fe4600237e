// After a reload: does the app come back healthy? Probes until a 2xx or the timeout.
import { sleep } from '../../src/host/backoff.ts';

export async function waitHealthy(
  config: { url: string; timeout: number; interval: number },
  signal: AbortSignal,
): Promise<{ healthy: boolean; last: string }> {
  const until = Date.now() + config.timeout;
  let last = 'not probed';
  while (!signal.aborted) {
    try {
      const res = await fetch(config.url, { signal: AbortSignal.any([signal, AbortSignal.timeout(Math.max(100, config.interval))]) });
      await res.body?.cancel();
      if (res.ok) return { healthy: true, last: `HTTP ${res.status}` };
      last = `HTTP ${res.status}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      last = e.cause?.code ?? e.message;
    }
    if (Date.now() + config.interval > until) break;
    await sleep(config.interval, signal);
  }
  return { healthy: false, last };
}
