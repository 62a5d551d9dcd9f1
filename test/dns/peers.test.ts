/**
 * DNS peers (`dns.peers`, labs sharing a network over VXLAN): names the lab
 * does not know go to the peers before any upstream, and a peer's own
 * question is answered from the lab's names only — REFUSED otherwise, so two
 * labs listing each other never bounce an unknown name between them.
 */
import { describe, expect, it } from 'vitest';
import { DnsServer } from '../../src/dns/server.js';
import { encodeQuery, RCODE, readRcode } from '../../src/dns/message.js';
import { createStack } from '../../src/stack.js';
import { VirtualClock } from '../../src/time/index.js';

describe('DnsServer peers', () => {
  it('asks peers first, and answers a peer from the lab\'s names only', async () => {
    const stack = createStack({ clock: new VirtualClock(), name: 'gw' });
    const dns = new DnsServer(stack, { peers: ['10.42.0.2'], upstreams: ['10.9.0.53'] });
    dns.addHost('client', '10.42.0.11');
    expect(dns.forwarder.upstreams).toEqual(['10.42.0.2:53', '10.9.0.53:53']);
    const known = await dns.handle(encodeQuery(1, { type: 'A', name: 'client' }, false), 'udp', '10.42.0.2');
    expect(readRcode(known!)).toBe(RCODE.NOERROR);
    const unknown = await dns.handle(encodeQuery(2, { type: 'A', name: 'web' }, false), 'udp', '10.42.0.2');
    expect(readRcode(unknown!)).toBe(RCODE.REFUSED);
    expect(dns.stats.refused.peer).toBe(1);
    expect(dns.forwarder.stats.forwarded).toBe(0);
  });
});
