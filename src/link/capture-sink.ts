/**
 * The byte sink under the pcap and pcapng writers: appends records into a
 * growing chunk buffer and hands finished bytes to a file or any Node
 * `Writable` (process.stdout, a socket, a PassThrough), respecting
 * backpressure without ever blocking or throwing into the stack.
 *
 * Hand-written because a capture tap sits on the hot path: each frame is
 * copied once, straight into the chunk the destination will receive (no
 * per-frame Buffer), bytes accepted in one tick reach the destination in one
 * `write`, and when the destination is slow the sink buffers up to a bound and
 * then drops whole frames with a counter instead of growing without limit.
 */

import { openSync, createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

/** LINKTYPE_ETHERNET from the tcpdump.org link-layer header type registry. */
export const LINKTYPE_ETHERNET = 1;
/** The snapshot length tcpdump and Wireshark use by default. */
export const DEFAULT_SNAPLEN = 262_144;

/** Where a capture goes: a file path (created or truncated) or any Node `Writable`. */
export type CaptureDestination = string | Writable;

export type TimestampResolution = 'us' | 'ns';

export interface CaptureStats {
  /** Frames written (accepted into the buffer). */
  frames: number;
  /** Bytes of capture file produced so far, file and block headers included. */
  bytes: number;
  /** Frames dropped: buffer bound reached, unknown interface, writer closed or destination failed. */
  dropped: number;
}

export interface CaptureSinkOptions {
  /**
   * Most bytes held while the destination applies backpressure; a frame that
   * would pass the bound is dropped and counted. Default 16 MiB.
   */
  maxBufferedBytes?: number;
  /**
   * Whether `close()` ends the destination stream. Default true, except for
   * process.stdout and process.stderr.
   */
  end?: boolean;
}

const CHUNK_SIZE = 64 * 1024;

export class CaptureSink {
  readonly stats: CaptureStats = { frames: 0, bytes: 0, dropped: 0 };
  /** The first error the destination reported; afterwards frames are dropped. */
  error: Error | undefined;

  private readonly stream: Writable;
  private readonly owned: boolean;
  private readonly endOnClose: boolean;
  private readonly maxBuffered: number;
  private chunkBuf: Buffer = Buffer.allocUnsafe(CHUNK_SIZE);
  private chunkView = new DataView(this.chunkBuf.buffer, this.chunkBuf.byteOffset, this.chunkBuf.byteLength);
  /** First byte of the chunk not yet handed off, and the append position. */
  private start = 0;
  private pos = 0;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private blocked = false;
  private scheduled = false;
  private outstanding = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private waiters: Array<() => void> = [];

  constructor(destination: CaptureDestination, options: CaptureSinkOptions = {}) {
    this.maxBuffered = options.maxBufferedBytes ?? 16 * 1024 * 1024;
    if (typeof destination === 'string') {
      // Opened synchronously so a bad path fails here, not on some later tick.
      const fd = openSync(destination, 'w');
      this.stream = createWriteStream(destination, { fd });
      this.owned = true;
    } else {
      this.stream = destination;
      this.owned = false;
    }
    const isStdio = destination === process.stdout || destination === process.stderr;
    this.endOnClose = options.end ?? !isStdio;
    this.stream.on('error', this.onError);
    this.stream.on('close', this.onClose);
  }

  /** The chunk that the offset returned by `reserve` points into (valid until the next `reserve`). */
  get buf(): Buffer {
    return this.chunkBuf;
  }

  get view(): DataView {
    return this.chunkView;
  }

  /** True once `close()` was called: nothing more is written. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes accepted but not yet handed to the destination. */
  get pendingBytes(): number {
    return this.queuedBytes + (this.pos - this.start);
  }

  /** Whether a frame record of `size` bytes can be accepted now. */
  canAccept(size: number): boolean {
    return !this.closed && this.error === undefined && this.pendingBytes + size <= this.maxBuffered;
  }

  /**
   * Reserves `size` bytes at the end of the stream and returns their offset
   * in `buf`; the caller must fill every byte (the chunk is not zeroed).
   * Headers go through here unconditionally; frames check `canAccept` first.
   */
  reserve(size: number): number {
    if (this.pos + size > this.chunkBuf.length) this.newChunk(size);
    const off = this.pos;
    this.pos += size;
    this.stats.bytes += size;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.handoff);
    }
    return off;
  }

  /** Resolves once every accepted byte has been written by the destination (or it failed). */
  flush(): Promise<void> {
    this.handoff();
    if (this.isSettled()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Flushes, then ends the destination (see `CaptureSinkOptions.end`). Idempotent. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closing = this.flush().then(() => {
      this.closed = true;
      const stream = this.stream;
      if (!this.endOnClose || stream.destroyed || this.error !== undefined) {
        this.detach();
        return undefined;
      }
      return new Promise<void>((resolve) => {
        const done = (): void => {
          this.detach();
          resolve();
        };
        // A file we opened is finished when its descriptor is closed; a
        // caller's stream when it has accepted everything.
        if (this.owned) {
          stream.once('close', done);
          stream.end();
        } else {
          stream.end(done);
        }
      });
    });
    this.closed = true;
    return this.closing;
  }

  private newChunk(size: number): void {
    this.queueCurrent();
    // The old chunk's handed-off bytes are still referenced by the queue or
    // the stream; a fresh chunk is never written over them.
    this.chunkBuf = Buffer.allocUnsafe(Math.max(CHUNK_SIZE, size));
    this.chunkView = new DataView(this.chunkBuf.buffer, this.chunkBuf.byteOffset, this.chunkBuf.byteLength);
    this.start = 0;
    this.pos = 0;
  }

  private queueCurrent(): void {
    if (this.pos > this.start) {
      const bytes = this.chunkBuf.subarray(this.start, this.pos);
      this.queue.push(bytes);
      this.queuedBytes += bytes.length;
      this.start = this.pos;
    }
  }

  private readonly handoff = (): void => {
    this.scheduled = false;
    // While the destination pushes back, bytes stay in the current chunk, so
    // the queue holds whole chunks rather than one sliver per tick.
    if (this.blocked) return;
    this.queueCurrent();
    this.pump();
  };

  private pump(): void {
    const stream = this.stream;
    while (!this.blocked && this.queue.length > 0 && this.error === undefined) {
      if (stream.destroyed || stream.writableEnded) {
        this.fail(new Error('capture destination is closed'));
        break;
      }
      const bytes = this.queue.shift() as Buffer;
      this.queuedBytes -= bytes.length;
      this.outstanding++;
      if (!stream.write(bytes, this.onWritten)) {
        this.blocked = true;
        stream.once('drain', this.onDrain);
      }
    }
    this.settle();
  }

  private readonly onWritten = (err?: Error | null): void => {
    this.outstanding--;
    if (err) this.fail(err);
    this.settle();
  };

  private readonly onDrain = (): void => {
    this.blocked = false;
    this.queueCurrent();
    this.pump();
  };

  private readonly onError = (err: Error): void => {
    this.fail(err);
  };

  private readonly onClose = (): void => {
    if (this.outstanding > 0 || this.queue.length > 0) this.fail(new Error('capture destination closed early'));
    this.outstanding = 0;
    this.settle();
  };

  private fail(err: Error): void {
    if (this.error === undefined) this.error = err;
    // Buffered bytes can no longer be delivered; they are discarded (the
    // error is the signal) and every later frame is counted as dropped.
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.start = this.pos;
    this.settle();
  }

  private isSettled(): boolean {
    return this.error !== undefined || (this.pendingBytes === 0 && this.outstanding === 0);
  }

  private settle(): void {
    if (this.waiters.length === 0 || !this.isSettled()) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private detach(): void {
    this.stream.off('drain', this.onDrain);
    this.stream.off('close', this.onClose);
    // Our error listener stays on streams we do not own: removing it could
    // turn a late EPIPE on process.stdout into an uncaught exception.
    if (this.owned) this.stream.off('error', this.onError);
  }
}
