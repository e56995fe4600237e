// Reads wrk's `--latency` output: requests/s, p50 and p99 in ms, requests and errors (socket
// errors plus non-2xx/3xx answers).
export interface WrkRun { rps: number; p50: number; p99: number; requests: number; errors: number }

const ms = (s: string) => (s.endsWith('us') ? parseFloat(s) / 1000 : s.endsWith('ms') ? parseFloat(s) : parseFloat(s) * 1000);

export function parseWrk(out: string): WrkRun {
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]),
    // Anchored to wrk's "Latency Distribution" lines: a Thread Stats "+/- Stdev" such as 89.99% would match too.
    p50: ms(/^\s+50%\s+(\S+)$/m.exec(out)![1]!),
    p99: ms(/^\s+99%\s+(\S+)$/m.exec(out)![1]!),
    requests: Number(/(\d+) requests in/.exec(out)![1]),
    errors: (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0),
  };
}
