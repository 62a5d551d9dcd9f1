/** wirelab's public API: everything a user of the library imports from 'wirelab'. */
export * from './wire/result.js';
export * from './wire/address.js';
export * from './wire/checksum.js';
export * from './wire/ethernet.js';
export * from './wire/arp.js';
export * from './wire/ipv4.js';
export * from './wire/icmp.js';
export * from './wire/udp.js';
export * from './wire/tcp.js';
export * from './wire/tcp-options.js';
export * from './wire/dissect.js';
export * from './link/pcap.js';
export * from './time/index.js';
