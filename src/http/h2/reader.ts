/**
 * The reading half both HTTP/2 ends share: the socket read loop, cutting
 * bytes into frames, reassembling header blocks split over CONTINUATION
 * frames, and checking SETTINGS and WINDOW_UPDATE payloads. What a frame
 * means is left to the connection (server: connection.ts, client:
 * client.ts).
 *
 * @module
 */
import {
  ConnectionError,
  DEFAULT_MAX_FRAME,
  ErrorCode,
  Flag,
  FRAME_HEADER_SIZE,
  FrameType,
  MAX_WINDOW,
  Setting,
  unpad,
} from "./frames.ts";
import { type HeaderField, HpackDecoder, HpackError } from "./hpack.ts";

/** Where a {@link FrameReader} delivers what it read. */
export interface FrameSink {
  /** A frame other than HEADERS and CONTINUATION; its payload is b[start, end). */
  frame(type: number, flags: number, id: number, b: Uint8Array, start: number, end: number): void;
  /**
   * The fields of a complete header block, with the flags of the HEADERS
   * frame that began it. Every block is decoded, even one for a stream
   * about to be refused or already dropped: the HPACK table must stay in
   * step with the peer's.
   */
  headers(id: number, flags: number, fields: HeaderField[]): void;
  /** True once the connection closed: frames still buffered are dropped. */
  isClosed(): boolean;
}

/** Cuts bytes into frames for a {@link FrameSink}. */
export class FrameReader {
  /** A header block spread over CONTINUATION frames. */
  #continuation: { streamId: number; flags: number; parts: Uint8Array[]; size: number } | undefined;

  readonly #decoder = new HpackDecoder();

  /** `maxHeaderBlock` bounds a reassembled header block (bytes, before decoding). */
  constructor(private readonly sink: FrameSink, private readonly maxHeaderBlock = 1 << 20) {}

  /**
   * Handles every complete frame in buf[off, len); returns the offset after
   * the last one. Throws ConnectionError on a framing violation. We never
   * announce a larger SETTINGS_MAX_FRAME_SIZE, so longer frames are errors.
   */
  parse(buf: Uint8Array, off: number, len: number): number {
    const sink = this.sink;
    while (len - off >= FRAME_HEADER_SIZE && !sink.isClosed()) {
      const length = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
      if (length > DEFAULT_MAX_FRAME) {
        throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes`);
      }
      if (len - off < FRAME_HEADER_SIZE + length) break;
      const type = buf[off + 3];
      const flags = buf[off + 4];
      const id = ((buf[off + 5] & 0x7f) << 24) | (buf[off + 6] << 16) | (buf[off + 7] << 8) |
        buf[off + 8];
      const start = off + FRAME_HEADER_SIZE;
      const end = start + length;
      off = end;
      if (this.#continuation && type !== FrameType.CONTINUATION) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "expected CONTINUATION");
      }
      if (type === FrameType.HEADERS) this.#headers(flags, id, buf, start, end);
      else if (type === FrameType.CONTINUATION) this.#continue(flags, id, buf, start, end);
      // Payloads are copied out only where they outlive this buffer.
      else sink.frame(type, flags, id, buf, start, end);
    }
    return off;
  }

  #headers(flags: number, id: number, b: Uint8Array, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
    [start, end] = unpad(flags, b, start, end);
    if (flags & Flag.PRIORITY) start += 5;
    if (start > end) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "short HEADERS");
    const block = b.slice(start, end);
    if (flags & Flag.END_HEADERS) return this.#decode(id, flags, block);
    this.#continuation = { streamId: id, flags, parts: [block], size: block.length };
  }

  #continue(flags: number, id: number, b: Uint8Array, start: number, end: number): void {
    const c = this.#continuation;
    if (!c || c.streamId !== id) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "unexpected CONTINUATION");
    }
    c.parts.push(b.slice(start, end));
    c.size += end - start;
    if (c.size > this.maxHeaderBlock) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    }
    if (!(flags & Flag.END_HEADERS)) return;
    this.#continuation = undefined;
    const block = new Uint8Array(c.size);
    let off = 0;
    for (const p of c.parts) {
      block.set(p, off);
      off += p.length;
    }
    this.#decode(id, c.flags, block);
  }

  #decode(id: number, flags: number, block: Uint8Array): void {
    let fields: HeaderField[];
    try {
      fields = this.#decoder.decode(block);
    } catch (err) {
      if (err instanceof HpackError) {
        throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, err.message);
      }
      throw err;
    }
    this.sink.headers(id, flags, fields);
  }
}

/** Bytes asked of the socket per read. */
const READ_CHUNK = 64 * 1024;

/**
 * Reads `conn` until it ends, handing what has arrived to `consume`, which
 * returns how many leading bytes it used (the rest waits for more).
 * `initial` holds bytes read before. Stops early once `stopped()` is true.
 */
export async function readLoop(
  conn: { read(p: Uint8Array): Promise<number | null> },
  initial: Uint8Array,
  consume: (buf: Uint8Array, len: number) => number,
  stopped: () => boolean,
): Promise<void> {
  let buf = new Uint8Array(Math.max(READ_CHUNK, initial.length * 2));
  buf.set(initial);
  let len = initial.length;
  for (;;) {
    const used = consume(buf, len);
    if (used > 0) {
      buf.copyWithin(0, used, len);
      len -= used;
    }
    if (stopped()) return;
    if (buf.length - len < READ_CHUNK / 4) {
      const bigger = new Uint8Array(Math.max(buf.length * 2, len + READ_CHUNK));
      bigger.set(buf.subarray(0, len));
      buf = bigger;
    }
    const n = await conn.read(buf.subarray(len));
    if (n === null) return;
    len += n;
  }
}

/** A big-endian uint32 at `at`. */
export function readU32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

/** The settings of a SETTINGS frame a connection acts on (absent: unchanged). */
export interface PeerSettings {
  initialWindow?: number;
  maxFrame?: number;
}

/**
 * Checks a SETTINGS frame and returns the values that govern what we send;
 * undefined for an ACK. HEADER_TABLE_SIZE needs nothing (our encoder never
 * uses the dynamic table); unknown settings are ignored.
 */
export function readSettings(
  flags: number,
  id: number,
  b: Uint8Array,
  start: number,
  end: number,
): PeerSettings | undefined {
  if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
  if (flags & Flag.ACK) return undefined;
  if ((end - start) % 6 !== 0) {
    throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS length");
  }
  const out: PeerSettings = {};
  for (let p = start; p < end; p += 6) {
    const key = (b[p] << 8) | b[p + 1];
    const value = readU32(b, p + 2);
    if (key === Setting.INITIAL_WINDOW_SIZE) {
      if (value > MAX_WINDOW) {
        throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE too large");
      }
      out.initialWindow = value;
    } else if (key === Setting.MAX_FRAME_SIZE) {
      if (value < DEFAULT_MAX_FRAME || value > 16_777_215) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "MAX_FRAME_SIZE out of range");
      }
      out.maxFrame = value;
    } else if (key === Setting.ENABLE_PUSH && value > 1) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "ENABLE_PUSH not 0 or 1");
    }
  }
  return out;
}

/** The increment of a WINDOW_UPDATE payload (0 is for the caller to refuse). */
export function readWindowIncrement(b: Uint8Array, start: number, end: number): number {
  if (end - start !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE");
  return readU32(b, start) & 0x7fffffff;
}
