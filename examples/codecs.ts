/**
 * The codecs on their own: build a TCP SYN frame with the encoders, decode
 * it back layer by layer (views, not copies), and print tcpdump's one-liner.
 *
 *   node --import tsx examples/codecs.ts
 */
import { decodeEthernet, decodeIPv4, dissect, encodeEthernet, encodeIPv4, encodeTcp, parseIPv4, IP_PROTOCOL, TCP_FLAG } from 'wirelab';

// A SYN from 10.0.0.1:40000 to 10.0.0.2:80, built layer by layer.
const src = parseIPv4('10.0.0.1');
const dst = parseIPv4('10.0.0.2');
const syn = encodeTcp({ srcPort: 40000, dstPort: 80, seq: 1, ack: 0, flags: TCP_FLAG.SYN, window: 64240 }, new Uint8Array(0), { src, dst });
const packet = encodeIPv4(
  { dscp: 0, ecn: 0, identification: 1, dontFragment: true, moreFragments: false, reservedFlag: false, fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL.TCP, src, dst, options: new Uint8Array(0) },
  syn,
);
const frame = encodeEthernet({ dst: 0x020000000002, src: 0x020000000001, tags: [], etherType: 0x0800 }, packet);

const eth = decodeEthernet(frame); // never throws
if (!eth.ok) console.log(eth.code, eth.message); // e.g. 'truncated', named with the numbers
else {
  const ip = decodeIPv4(eth.value.payload); // payload is a view, not a copy
  if (ip.ok) console.log(ip.value.ttl, ip.value.protocol);
  console.log(dissect(frame).summary); // IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], …
}
console.log(decodeEthernet(frame.subarray(0, 9))); // a truncated frame: an error, not an exception
