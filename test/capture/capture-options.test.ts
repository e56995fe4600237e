// `sidekick capture` flags and the rules they produce, without touching any firewall (--dry-run
// and the rule writers): the netns test applies them for real.
import { describe, expect, it } from 'vitest';
import { parseCaptureArgs } from '../../src/capture/capture-options.ts';
import { iptablesCommands, nftScript } from '../../src/capture/capture-rules.ts';
import { spawnAgent } from '../helpers/agent-process.ts';

const parse = (...a: string[]) => parseCaptureArgs(a);

describe('sidekick capture flags', () => {
  it('takes the istio-iptables names, with = or a separate value, and repeatable --outbound', () => {
    expect(parse('--inbound-ports', '8080,9090', '--inbound-capture-port=8443', '--proxy-uid', '1337', '--proxy-gid', '1338',
      '--local-exclude-ports', '9090', '--outbound', '10.0.0.0/8:443=15101', '--outbound', '[fd00::/8]:8443=15102')).toEqual({
      inboundPorts: [8080, 9090], inboundCapturePort: 8443, proxyUid: 1337, proxyGid: 1338, localExcludePorts: [9090],
      outbound: [{ cidr: '10.0.0.0/8', family: 4, port: 443, localPort: 15101 }, { cidr: 'fd00::/8', family: 6, port: 8443, localPort: 15102 }],
      dryRun: false, clean: false, backend: 'auto',
    });
  });

  it.each([
    [['--inbound-ports', '8080'], /needs --inbound-capture-port/],
    [['--outbound', '10.0.0.0/8:443=15101'], /needs --proxy-uid/],
    [['--outbound', '10.0.0.0/33:443=1'], /not an IP address or CIDR/],
    [['--outbound', 'example.com:443=1'], /not an IP address or CIDR/],
    [['--outbound', '10.0.0.1:443'], /CIDR:PORT=LOCALPORT/],
    [['--inbound-ports', '0', '--inbound-capture-port', '8443'], /port 1-65535/],
    [['--inbound-ports', '8443', '--inbound-capture-port', '8443'], /must not include/],
    [['--proxy-uid', 'sidekick'], /numeric id/],
    [['--bogus'], /unknown option --bogus/],
    [[], /nothing to capture/],
  ])('refuses %j', (args, message) => {
    expect(parse(...args)).toMatch(message);
  });
});

describe('capture rules', () => {
  const o = parseCaptureArgs(['--inbound-ports', '*', '--local-exclude-ports', '22', '--inbound-capture-port', '8443', '--proxy-uid', '1337', '--outbound', '10.1.0.0/16:443=15101']);
  if (typeof o === 'string') throw new Error(o);

  it('nft: one table replaced atomically; inbound by PREROUTING, egress by OUTPUT with the proxy uid first', () => {
    const script = nftScript(o);
    expect(script.split('\n').slice(0, 3)).toEqual(['table inet sidekick_capture', 'delete table inet sidekick_capture', 'table inet sidekick_capture {']);
    expect(script).toContain('tcp dport != { 8443, 22 } redirect to :8443');
    expect(script.indexOf('meta skuid 1337 return')).toBeLessThan(script.indexOf('ip daddr 10.1.0.0/16 tcp dport 443 redirect to :15101'));
  });

  it('iptables: removes its chains first (idempotent), excluded ports return before the redirect', () => {
    const cmds = iptablesCommands(o).map((c) => `${c.tool} ${c.args.join(' ')}`);
    const firstAdd = cmds.indexOf('iptables -t nat -N SIDEKICK_INBOUND');
    expect(cmds.slice(0, firstAdd).every((c) => / -[DFX] /.test(c))).toBe(true);
    expect(cmds).toContain('iptables -t nat -A SIDEKICK_INBOUND -p tcp --dport 22 -j RETURN');
    expect(cmds.indexOf('iptables -t nat -A SIDEKICK_OUTPUT -m owner --uid-owner 1337 -j RETURN'))
      .toBeLessThan(cmds.indexOf('iptables -t nat -A SIDEKICK_OUTPUT -d 10.1.0.0/16 -p tcp --dport 443 -j REDIRECT --to-ports 15101'));
    expect(cmds.some((c) => c.startsWith('ip6tables') && c.includes('SIDEKICK_OUTPUT -d'))).toBe(false); // no v6 destination given
  });

  it('--dry-run prints the rules and says which tool it found, changing nothing', async () => {
    const agent = await spawnAgent(['capture', '--inbound-ports', '8080', '--inbound-capture-port', '8443', '--dry-run'], { waitReady: false });
    expect(await agent.exited).toBe(0);
    expect(agent.stderr()).toMatch(/using (nftables|iptables)/);
    expect(agent.logs.map((l) => l.raw).join('\n')).toMatch(/redirect to :8443|--to-ports 8443/);
  });
});
