/**
 * The native TAP binding (native/tap.cc): its TypeScript types and the one
 * place that loads it. Nothing else in wirelab touches the addon.
 *
 * Loaded lazily, on the first TAP opened, so that importing wirelab on a
 * machine without the built addon (macOS, a failed build) costs nothing until
 * a TAP is actually wanted — and then fails with a message saying how to
 * build it. node-gyp-build finds build/Release (built by `npm ci`) or a
 * prebuild under prebuilds/.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { NativeFrameDevice } from './native-port.js';

export interface NativeTapOptions {
  vnetHdr: boolean;
  offload: boolean;
  multiQueue: boolean;
}

/** The TAP addon's device: the calls every native port device offers (native-port.ts), and its name and fd. */
export interface NativeTap extends NativeFrameDevice {
  /** The name the kernel gave the device. */
  readonly ifname: string;
  /** The TAP's file descriptor, -1 once closed. */
  readonly fd: number;
}

export interface TapBinding {
  Tap: new (name: string, opts: NativeTapOptions) => NativeTap;
  /** Size of the virtio_net_hdr the addon sets with TUNSETVNETHDRSZ. */
  readonly VNET_HDR_LEN: number;
  /** Bytes each read reserves in the slab (plus VNET_HDR_LEN in vnet mode). */
  readonly MAX_FRAME: number;
}

/** The package root: src/link/ and dist/link/ both sit two levels below it. */
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));

let binding: TapBinding | undefined;

export function loadTapBinding(): TapBinding {
  if (binding !== undefined) return binding;
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as (dir: string) => unknown;
  try {
    binding = load(PACKAGE_ROOT) as TapBinding;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(
      `the native TAP addon is not built (${why}); build it with \`npm ci\` or \`npx node-gyp rebuild\` in ${PACKAGE_ROOT} (needs a C++17 compiler, make and python3; Linux only)`,
      { cause: e },
    );
  }
  return binding;
}
