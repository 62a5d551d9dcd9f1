import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';
import type { CongestionControl, CongestionControlName } from './types.js';

export type { CongestionControl, CongestionControlName } from './types.js';
export { currentSsthresh, initialWindow, INITIAL_SSTHRESH } from './types.js';
export { NewReno } from './newreno.js';
export { Cubic } from './cubic.js';

export function createCongestionControl(name: CongestionControlName, mss: number): CongestionControl {
  switch (name) {
    case 'newreno':
      return new NewReno(mss);
    case 'cubic':
      return new Cubic(mss);
    default:
      throw new Error(`unknown congestion control: ${String(name)}`);
  }
}
