/**
 * CNI's error object (SPEC.md, "Error"): what a plugin prints on stdout
 * with a non-zero exit instead of a result, `{cniVersion, code, msg,
 * details}`. Every failure of `wirelab-cni` becomes one, so a runtime (and a
 * person reading its log) gets a code it can act on and a sentence naming the
 * problem, never a stack trace.
 */

/** The specification's well-known codes (1–99 are reserved to it), then wirelab's own (100+). */
export const CNI_CODE = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  io: 5,
  decode: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  /** STATUS (1.1.0): the plugin cannot service ADD now. */
  notAvailable: 50,
  /** The lab refused the request (no such network, no free address, a name taken…). */
  labRefused: 100,
  /** Moving or configuring the interface in the container's namespace failed. */
  interfaceSetup: 101,
  /** CHECK found the container's interface not as ADD left it. */
  checkFailed: 102,
  /** A delegated IPAM plugin failed. */
  ipam: 103,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details = '',
  ) {
    super(msg);
  }
}

/** The error object as the specification writes it. */
export function errorObject(cniVersion: string, e: unknown): { cniVersion: string; code: number; msg: string; details: string } {
  if (e instanceof CniError) return { cniVersion, code: e.code, msg: e.message, details: e.details };
  // Anything else is a bug or an unforeseen failure: still a spec error, its message only.
  return { cniVersion, code: 999, msg: 'wirelab-cni failed unexpectedly', details: e instanceof Error ? e.message : String(e) };
}
