/**
 * How full one bounded table is, in one shape for every table an outsider
 * can grow by sending packets (neighbours, reassembly, conntrack, the FDB,
 * TCP's SYN queue and TIME-WAIT, DNS caches, the port map's UDP flows).
 *
 * Each table keeps its own limit and counters; this is the common view
 * `wirelab stats` prints and the soak (bench/soak.ts) samples. It lives in
 * the time layer because every such table shrinks back on the clock, and so
 * that every layer above can return it without importing a sibling.
 */
export interface TableUsage {
  /** The table's name: 'neighbours', 'reassembly', 'conntrack', 'fdb', 'tcp.synQueue', 'tcp.timeWait', 'dns.cache', 'portmap.udpFlows'. */
  readonly table: string;
  /** What is held now, in `unit`s. */
  readonly size: number;
  /** The most it may hold, in `unit`s. */
  readonly limit: number;
  readonly unit: 'entries' | 'bytes';
  /** New entries refused because the table was full. */
  readonly refused: number;
  /** Entries pushed out early to make room for new ones (LRU, early drop, oldest first). */
  readonly evicted: number;
  /** The Linux knob (or program) whose limit this one mirrors. */
  readonly like: string;
}
