/**
 * A congested router's ECN marking in a Port decorator: instead of dropping,
 * it sets Congestion Experienced (RFC 3168 §5) on chosen ECN-capable IPv4
 * packets, as an AQM with ECN (RED, CoDel, fq_codel `ecn`) does, fixing the
 * header checksum incrementally (RFC 1624). Not-ECT packets are never marked
 * (a real AQM would drop those). Frames leaving through `send` and frames
 * arriving through `onReceive` are judged separately, each by its own rule
 * and counted, so a test knows exactly what it marked.
 *
 * Hand-written: netem has no CE marking, and the kernel here has no sch_netem.
 */
import type { Port, PortStats, RxHandler } from '../../src/link/port.js';
import { checksumAdjust16 } from '../../src/wire/checksum.js';

/** Which ECT packet to mark, given how many ECT packets this direction has carried (1-based). */
export type MarkRule = (ectIndex: number) => boolean;

export interface EcnCounts {
  /** IPv4 packets by the ECN field they arrived with: Not-ECT, ECT(1), ECT(0), CE. */
  byCodepoint: [number, number, number, number];
  /** Packets this port set to CE. */
  marked: number;
}

/** Every `n`th ECT packet, starting with the `first`th. */
export function everyNth(n: number, first = n): MarkRule {
  return (i) => i >= first && (i - first) % n === 0;
}

export class CeMarkPort implements Port {
  readonly out: EcnCounts = { byCodepoint: [0, 0, 0, 0], marked: 0 };
  readonly in: EcnCounts = { byCodepoint: [0, 0, 0, 0], marked: 0 };
  /** Marking rules for frames we send and frames we receive; null marks nothing. */
  markOut: MarkRule | null;
  markIn: MarkRule | null;
  /** Drop what `markOut` picks instead of marking it (what the same AQM does without ECN), counted in out.marked. */
  dropOut = false;
  private ectOut = 0;
  private ectIn = 0;
  private handler: RxHandler | null = null;

  constructor(
    private readonly inner: Port,
    rules: { out?: MarkRule; in?: MarkRule } = {},
  ) {
    this.markOut = rules.out ?? null;
    this.markIn = rules.in ?? null;
  }

  get name(): string {
    return this.inner.name;
  }
  get stats(): PortStats {
    return this.inner.stats;
  }
  get vnetHdr(): boolean {
    return this.inner.vnetHdr;
  }
  get onReceive(): RxHandler | null {
    return this.handler;
  }
  set onReceive(h: RxHandler | null) {
    this.handler = h;
    this.inner.onReceive =
      h === null
        ? null
        : (batch, _port) => {
            for (let i = 0; i < batch.count; i++) {
              if (this.judge(batch.buf, batch.offsets[i]!, this.in, this.markIn, true)) this.in.marked++;
            }
            h(batch, this);
          };
  }

  send(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    if (this.judge(buf, off, this.out, this.markOut, false, this.dropOut)) {
      this.out.marked++;
      if (this.dropOut) return true;
    }
    return this.inner.send(buf, off, len, vnetOff);
  }

  /**
   * Counts the frame at buf[off] by its ECN field; true when the rule picks it,
   * which is then marked CE unless `pickOnly`.
   */
  private judge(buf: Uint8Array, off: number, counts: EcnCounts, rule: MarkRule | null, incoming: boolean, pickOnly = false): boolean {
    if (buf[off + 12] !== 0x08 || buf[off + 13] !== 0x00) return false;
    const ip = off + 14;
    if (buf[ip]! >>> 4 !== 4) return false;
    const ecn = buf[ip + 1]! & 3;
    counts.byCodepoint[ecn]!++;
    if (ecn === 0 || ecn === 3) return false;
    const index = incoming ? ++this.ectIn : ++this.ectOut;
    if (rule === null || !rule(index)) return false;
    if (pickOnly) return true;
    const oldWord = (buf[ip]! << 8) | buf[ip + 1]!;
    buf[ip + 1] = buf[ip + 1]! | 3;
    const newWord = (buf[ip]! << 8) | buf[ip + 1]!;
    const sum = checksumAdjust16((buf[ip + 10]! << 8) | buf[ip + 11]!, oldWord, newWord);
    buf[ip + 10] = sum >>> 8;
    buf[ip + 11] = sum & 0xff;
    return true;
  }

  flush(): void {
    this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
