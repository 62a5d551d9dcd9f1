/**
 * A small seeded pseudo-random generator for impairments (loss, jitter,
 * duplication, reordering): the same seed gives the same sequence on every
 * run and every platform, so a lossy simulation repeats exactly.
 *
 * Hand-written rather than taken from a package: mulberry32 is a dozen lines
 * of 32-bit integer arithmetic, `Math.random()` cannot be seeded, and the
 * seedable packages bring far more than wirelab needs (distributions,
 * BigInt-based 64-bit generators) for a hot path that wants one multiply-xor
 * per frame and no allocation.
 *
 * mulberry32 (Tommy Ettinger): 32 bits of state, period 2^32, passes
 * gjrand/PractRand well past the tens of millions of draws a lab run makes.
 * Not for cryptography.
 */

const TWO_POW_32 = 4294967296;

/** murmur3's 32-bit finalizer: spreads nearby seeds far apart. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

export class SeededRandom {
  private state: number;
  /** Box–Muller yields two normals per draw; the second waits here. */
  private spare = 0;
  private hasSpare = false;

  /** Any number is accepted; it is reduced to 32 bits (fractions and sign included through `| 0`). */
  constructor(seed: number) {
    this.state = seed | 0;
  }

  /**
   * An independent stream for one purpose (`stream` 0, 1, 2, …) derived from
   * one user seed, so turning one impairment on does not shift the random
   * draws of another.
   */
  static derive(seed: number, stream: number): SeededRandom {
    return new SeededRandom(mix32((seed | 0) ^ mix32(Math.imul(stream + 1, 0x9e3779b9))));
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n); `n` must be a positive integer up to 2^32. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > TWO_POW_32) {
      throw new RangeError(`SeededRandom.nextInt: n must be an integer in [1, 2^32], got ${n}`);
    }
    return Math.floor(this.next() * n);
  }

  /** Standard normal (mean 0, standard deviation 1), by the Box–Muller transform. */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    // 1 - next() is in (0, 1], so the logarithm is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.next()));
    const angle = 2 * Math.PI * this.next();
    this.spare = radius * Math.sin(angle);
    this.hasSpare = true;
    return radius * Math.cos(angle);
  }
}
