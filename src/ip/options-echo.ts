/**
 * The options an echo reply carries back: Linux's ip_options_echo followed
 * by ip_options_build for the reply. `ping -R` and `ping -T tsonly` show
 * the route and the times only if the host answering copies these options
 * into its reply and adds its own entry, so a wirelab host does the same:
 *
 * - Record Route (7): the request's option with our address in the next
 *   free slot twice, while there is room: once as the request arrived (Linux
 *   records the receiving address in ip_options_compile) and once as the
 *   reply leaves, so `ping -R` shows sender, us, us, sender as between two
 *   kernels;
 * - Timestamp (68), the same twice: flag 0 (timestamps only) gets our time,
 *   flag 1 (address and timestamp) our address and time; with no room left,
 *   the overflow counter (high nibble of the flags byte) goes up, as RFC 791
 *   says;
 * - everything else is left out (a source route never gets here: the IP
 *   layer drops source-routed datagrams, accept_source_route = 0).
 *
 * The time is milliseconds since midnight UT, as RFC 791 asks and Linux's
 * inet_current_timestamp gives. Input was already checked by
 * checkIPv4Options, so lengths and pointers are sane; they are still
 * bounded here, and an option that is not gets left out, never thrown on.
 */
import type { IPv4Address } from '../wire/address.js';

const IPOPT_END = 0;
const IPOPT_NOOP = 1;
const IPOPT_RR = 7;
const IPOPT_TS = 68;
const TS_ONLY = 0;
const TS_AND_ADDR = 1;

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/**
 * The reply's options for a request whose header (at `off`, `hl` bytes long)
 * carries options, with `self` as our address and `nowMs` the clock's wall
 * time in ms; an empty array when none is echoed.
 */
export function echoOptions(buf: Uint8Array, off: number, hl: number, self: IPv4Address, nowMs: number): Uint8Array {
  const out = new Uint8Array(40);
  let n = 0;
  let i = 20;
  while (i < hl) {
    const kind = buf[off + i]!;
    if (kind === IPOPT_END) break;
    if (kind === IPOPT_NOOP) {
      i++;
      continue;
    }
    const len = i + 1 < hl ? buf[off + i + 1]! : 0;
    if (len < 2 || i + len > hl) break;
    if ((kind === IPOPT_RR || kind === IPOPT_TS) && len >= 4 && n + len <= 40) {
      out.set(buf.subarray(off + i, off + i + len), n);
      const ptr = out[n + 2]!;
      if (kind === IPOPT_RR) {
        for (let k = 0; k < 2; k++) {
          const p = out[n + 2]!;
          if (p < 4 || p + 3 > len) break;
          writeU32(out, n + p - 1, self);
          out[n + 2] = p + 4;
        }
      } else {
        const flag = out[n + 3]! & 0x0f;
        const need = flag === TS_AND_ADDR ? 8 : 4;
        const ms = Math.floor(nowMs % 86_400_000);
        for (let k = 0; k < 2 && (flag === TS_ONLY || flag === TS_AND_ADDR); k++) {
          const p = out[n + 2]!;
          if (p >= 5 && p + need - 1 <= len) {
            if (flag === TS_AND_ADDR) writeU32(out, n + p - 1, self);
            writeU32(out, n + p - 1 + need - 4, ms);
            out[n + 2] = p + need;
          } else {
            const overflow = out[n + 3]! >>> 4;
            if (overflow < 15) out[n + 3] = ((overflow + 1) << 4) | flag;
          }
        }
      }
      n += len;
    }
    i += len;
  }
  if (n === 0) return out.subarray(0, 0);
  // Padded with End of Option List to a multiple of 4.
  return out.subarray(0, (n + 3) & ~3);
}
