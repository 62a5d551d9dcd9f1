/**
 * The result type every decoder in `src/wire/` returns.
 *
 * Decoders never throw on input they are handed: hostile bytes are the normal
 * case for a network stack. A failure names the layer and the fault, so a
 * caller can count it (`stats.drops[code]`) and a person can read it.
 */

/** The faults a decoder can name. Each one becomes a drop counter upstream. */
export type WireErrorCode =
  | 'truncated' // fewer bytes than the header (or a length field) needs
  | 'bad-version' // IPv4 version field is not 4
  | 'bad-ihl' // IPv4 header length < 5 words or past the buffer
  | 'bad-total-length' // IPv4 total length < header length or past the buffer
  | 'bad-length' // a length field (UDP, ARP hlen/plen, …) disagrees with the bytes
  | 'bad-data-offset' // TCP data offset < 5 words or past the buffer
  | 'bad-option' // an option whose length overruns its area or is too small
  | 'bad-checksum' // a checksum that does not verify
  | 'unsupported'; // well-formed, but a kind this decoder does not handle

export interface WireError {
  readonly ok: false;
  /** Protocol layer that refused the bytes: 'ethernet', 'ipv4', 'tcp', … */
  readonly layer: string;
  readonly code: WireErrorCode;
  /** One sentence naming the fault, with the numbers involved. */
  readonly message: string;
}

export interface WireOk<T> {
  readonly ok: true;
  readonly value: T;
}

export type Decoded<T> = WireOk<T> | WireError;

export function ok<T>(value: T): WireOk<T> {
  return { ok: true, value };
}

export function fail(layer: string, code: WireErrorCode, message: string): WireError {
  return { ok: false, layer, code, message };
}

/** Formats an error the way it appears in logs and CLI output. */
export function formatWireError(e: WireError): string {
  return `${e.layer}: ${e.code}: ${e.message}`;
}
