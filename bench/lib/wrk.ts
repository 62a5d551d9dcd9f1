/**
 * Reading what `wrk --latency` prints: requests/s, the 50th and 99th
 * percentile from its "Latency Distribution", and the errors it counted.
 *
 *   Running 1s test @ http://127.0.0.1:18431/
 *     ...
 *     Latency Distribution
 *        50%  346.00us
 *        75%    1.41ms
 *        90%    4.84ms
 *        99%   21.82ms
 *     14392 requests in 1.02s, 9.94MB read
 *     Socket errors: connect 0, read 3, write 0, timeout 0     (only when one is non-zero)
 *     Non-2xx or 3xx responses: 2                              (only when non-zero)
 *   Requests/sec:  14129.77
 *
 * wrk prints times with the units of its format_time: us, ms, s, m, h.
 * Hand-written: a dozen lines of regular expressions over a fixed format.
 */

export interface WrkResult {
  requestsPerSec: number;
  /** Requests completed in the run. */
  requests: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors (connect + read + write + timeout) and non-2xx/3xx answers; 0 when wrk printed neither line. */
  errors: number;
}

const UNIT_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

/** Parses wrk's `--latency` output; throws naming what is missing. */
export function parseWrk(text: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)\s*$/m.exec(text);
  const requests = /^\s*(\d+) requests in /m.exec(text);
  const pct = (p: number): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
    if (m === null) throw new Error(`wrk output has no ${p}% latency (was --latency given?):\n${text}`);
    return Number(m[1]) * UNIT_MS[m[2]!]!;
  };
  if (rps === null || requests === null) throw new Error(`wrk printed no result:\n${text}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const errors = (sock === null ? 0 : sock.slice(1, 5).reduce((s, x) => s + Number(x), 0)) + (non2xx === null ? 0 : Number(non2xx[1]));
  return { requestsPerSec: Number(rps[1]), requests: Number(requests[1]), p50Ms: pct(50), p99Ms: pct(99), errors };
}
