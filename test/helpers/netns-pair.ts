// Two network namespaces, "client" and "pod", joined by a veth pair on a /24 of their own, for the
// traffic-capture test and benchmark. Needs root and iproute2; never touches the host namespace.
// Its own file (no vitest import) so the benchmarks can use it too.
import { execFileSync, spawnSync } from 'node:child_process';

export interface NetnsPair {
  client: string;
  pod: string;
  clientIp: string;
  podIp: string;
  /** Deletes both namespaces (and with them the veth pair); safe to call twice or after a failed create. */
  destroy(): void;
}

/**
 * Names and addresses, known before anything is created (scripts for the namespaces embed them).
 * `tag`: a few letters, and `secondOctet`, unique per user of this helper; the pid keeps
 * parallel runs apart.
 */
export function netnsPair(tag: string, secondOctet: number): NetnsPair {
  const id = `${tag}${process.pid % 100000}`;
  const net = `10.${secondOctet}.${process.pid % 250}`;
  const pair: NetnsPair = {
    client: `${id}c`,
    pod: `${id}p`,
    clientIp: `${net}.1`,
    podIp: `${net}.2`,
    destroy: () => {
      for (const ns of [pair.client, pair.pod]) spawnSync('ip', ['netns', 'del', ns]);
    },
  };
  return pair;
}

/** Creates the namespaces and the veth pair of `pair`; on a failure, removes what was made. */
export function createNetnsPair(pair: NetnsPair): NetnsPair {
  const id = pair.client.slice(0, -1);
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  try {
    ip('netns', 'add', pair.client);
    ip('netns', 'add', pair.pod);
    ip('link', 'add', `${id}vc`, 'netns', pair.client, 'type', 'veth', 'peer', 'name', `${id}vp`, 'netns', pair.pod);
    for (const [ns, dev, addr] of [[pair.client, `${id}vc`, pair.clientIp], [pair.pod, `${id}vp`, pair.podIp]] as const) {
      ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    pair.destroy();
    throw err;
  }
  return pair;
}
