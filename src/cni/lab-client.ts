/**
 * The plugin's client of a lab's control socket (src/lab/control-client.ts,
 * not src/lab/control.ts: that module carries the whole server side, and a
 * CNI plugin is started once per container and command).
 */
import type { AttachRequest } from '../lab/attach-op.js';
import { controlSocketPath, LabUnavailable, requestLab } from '../lab/control-client.js';

export { LabUnavailable };

/** Sends one attachment request to `lab` and returns its result, or throws its error. */
export async function askLab<T>(lab: string, req: AttachRequest, timeoutMs = 20_000): Promise<T> {
  try {
    return await requestLab<T>(lab, req, timeoutMs);
  } catch (e) {
    if (e instanceof LabUnavailable && e.message.startsWith('no running lab')) {
      throw new LabUnavailable(`${e.message} (no control socket at ${controlSocketPath(lab)})`);
    }
    throw e;
  }
}
