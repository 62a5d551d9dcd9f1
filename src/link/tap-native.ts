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

export interface NativeTapOptions {
  vnetHdr: boolean;
  offload: boolean;
  multiQueue: boolean;
}

/** Called once per batch of received frames; `errno` is non-zero when reading stopped on an error. */
export type NativeBatchCallback = (count: number, errno: number) => void;

export interface NativeTap {
  /** The name the kernel gave the device. */
  readonly ifname: string;
  /** The TAP's file descriptor, -1 once closed. */
  readonly fd: number;
  /**
   * Starts reading: each batch is read into `slab`, frame i at
   * `offsets[i]` with `lengths[i]` bytes (a virtio_net_hdr before it in vnet
   * mode), at most `maxFrames` per batch; then `onBatch(count, 0)`.
   */
  startReading(
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    maxFrames: number,
    onBatch: NativeBatchCallback,
  ): void;
  /**
   * Writes frames `start .. start+count-1` (frame i is
   * `sources[i][offsets[i], offsets[i]+lengths[i])`, preceded by a zero
   * virtio_net_hdr when `prefixVnet[i]` is 1). `errnos[i]` becomes 0 or the
   * frame's errno. Stops at EAGAIN; returns how many frames were handled.
   */
  writeBatch(
    sources: ReadonlyArray<Uint8Array | undefined>,
    offsets: Uint32Array,
    lengths: Uint32Array,
    prefixVnet: Uint8Array,
    start: number,
    count: number,
    errnos: Int32Array,
  ): number;
  /** Calls `cb` once, when the device can take writes again. */
  waitWritable(cb: () => void): void;
  /** Whether an open TAP keeps the event loop alive (default: it does). */
  ref(): void;
  unref(): void;
  /** Stops polling and closes the fd. Idempotent. */
  close(): void;
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
