// "host:port", "[::1]:port", ":port" or "port" in the config, parsed once.
import * as v from 'valibot';

export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListenAddress(text: string, defaultHost = '0.0.0.0'): ListenAddress | undefined {
  // Port alone, or host:port with the host optional; IPv6 hosts in brackets.
  const m = /^(?:(?:\[([^\]]+)\]|([^:\[\]]*)):)?(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || defaultHost), port };
}

export function listenAddress() {
  return v.pipe(
    v.union([v.string(), v.pipe(v.number(), v.integer())]),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const text = String(dataset.value);
      const addr = parseListenAddress(text);
      if (!addr) {
        addIssue({ message: `expected "host:port" (port 0 picks a free port), got "${text}"` });
        return NEVER;
      }
      return addr;
    }),
  );
}
