/**
 * Received IPv4 options checked as Linux checks them (ip_rcv_options →
 * __ip_options_compile): where a Parameter Problem points, or that a source
 * route is present. Its own file: ipv4.ts is the IP layer's datapath; this
 * is one parser it calls once per packet that carries options.
 */

/** checkIPv4Options: the options are fine. */
export const OPTIONS_OK = -1;
/** checkIPv4Options: fine, but a source route (LSRR or SSRR) is present. */
export const OPTIONS_SOURCE_ROUTE = -2;

/**
 * The receive side of Linux's __ip_options_compile (net/ipv4/ip_options.c):
 * returns the offset from the start of the IP header of the byte a
 * Parameter Problem points at, or OPTIONS_OK / OPTIONS_SOURCE_ROUTE.
 * Unknown options (and Security, Stream ID, CIPSO — no NetLabel here) are
 * skipped, as Linux does for received packets.
 */
export function checkIPv4Options(buf: Uint8Array, off: number, hl: number): number {
  let i = 20;
  let srr = false;
  let rr = false;
  let ts = false;
  while (i < hl) {
    const kind = buf[off + i]!;
    if (kind === 0) break; // IPOPT_END
    if (kind === 1) {
      i++;
      continue;
    }
    const l = hl - i;
    if (l < 2) return i;
    const optlen = buf[off + i + 1]!;
    if (optlen < 2 || optlen > l) return i;
    const ptr = optlen >= 3 ? buf[off + i + 2]! : 0;
    switch (kind) {
      case 131: // LSRR
      case 137: // SSRR
        if (optlen < 3) return i + 1;
        if (ptr < 4) return i + 2;
        if (srr) return i; // RFC 1812 §5.2.4.1: one source route only
        srr = true;
        break;
      case 7: // Record Route
        if (rr) return i;
        if (optlen < 3) return i + 1;
        if (ptr < 4) return i + 2;
        if (ptr <= optlen && ptr + 3 > optlen) return i + 2;
        rr = true;
        break;
      case 68: {
        // Timestamp
        if (ts) return i;
        if (optlen < 4) return i + 1;
        if (ptr < 5) return i + 2;
        const flag = buf[off + i + 3]! & 0xf;
        if (ptr <= optlen) {
          if (ptr + 3 > optlen) return i + 2;
          if ((flag === 1 || flag === 3) && ptr + 7 > optlen) return i + 2;
        } else if (flag !== 3 && buf[off + i + 3]! >>> 4 === 15) {
          return i + 3; // overflow counter already full
        }
        ts = true;
        break;
      }
      case 148: // Router Alert
        if (optlen < 4) return i + 1;
        break;
      default:
        break;
    }
    i += optlen;
  }
  return srr ? OPTIONS_SOURCE_ROUTE : OPTIONS_OK;
}
