// "host:port", "[::1]:port", ":port" or "port" in the config, parsed once.
import { z } from 'zod';

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
  return z.union([z.string(), z.number().int()]).transform((value, ctx) => {
    const text = String(value);
    const addr = parseListenAddress(text);
    if (!addr) {
      ctx.addIssue({ code: 'custom', message: `expected "host:port" (port 0 picks a free port), got "${text}"` });
      return z.NEVER;
    }
    return addr;
  });
}
