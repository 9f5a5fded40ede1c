/**
 * The reading half both HTTP/2 ends share: the socket read loop, cutting
 * bytes into frames, reassembling header blocks split over CONTINUATION
 * frames (bounded in size and frame count, decoded lists bounded too), and
 * checking SETTINGS and WINDOW_UPDATE payloads. What a frame means is left
 * to the session (session.ts).
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
  LimitError,
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
   * frame that began it; undefined when the decoded list is larger than
   * the limit (the block was decoded to its end, but nothing of it kept).
   * Every block is decoded, even one for a stream about to be refused or
   * already dropped: the HPACK table must stay in step with the peer's.
   */
  headers(id: number, flags: number, fields: HeaderField[] | undefined): void;
  /** True once the connection closed: frames still buffered are dropped. */
  isClosed(): boolean;
}

/** Bounds on header blocks (see limits.ts). */
export interface HeaderLimits {
  /** Largest encoded block, HEADERS and CONTINUATIONs together (bytes). */
  maxHeaderBlock: number;
  /** Largest decoded header list (RFC 9113 §6.5.2 octets). */
  maxHeaderListSize: number;
  /** Most CONTINUATION frames in one block. */
  maxContinuations: number;
}

/** A header block spread over CONTINUATION frames, gathered in one growing buffer. */
interface PartialBlock {
  streamId: number;
  flags: number;
  buf: Uint8Array;
  size: number;
  frames: number;
}

/** Cuts bytes into frames for a {@link FrameSink}. */
export class FrameReader {
  #continuation: PartialBlock | undefined;
  readonly #decoder = new HpackDecoder();

  constructor(private readonly sink: FrameSink, private readonly limits: HeaderLimits) {}

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
    if (flags & Flag.PADDED) [start, end] = unpad(flags, b, start, end);
    if (flags & Flag.PRIORITY) start += 5;
    if (start > end) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "short HEADERS");
    const size = end - start;
    this.#checkBlockSize(size);
    // A whole block is decoded where it lies: the fields are strings, not views.
    if (flags & Flag.END_HEADERS) return this.#decode(id, flags, b, start, end);
    const buf = new Uint8Array(Math.min(Math.max(2 * size, 1024), this.limits.maxHeaderBlock));
    buf.set(b.subarray(start, end));
    this.#continuation = { streamId: id, flags, buf, size, frames: 0 };
  }

  #continue(flags: number, id: number, b: Uint8Array, start: number, end: number): void {
    const c = this.#continuation;
    if (!c || c.streamId !== id) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "unexpected CONTINUATION");
    }
    if (++c.frames > this.limits.maxContinuations) {
      throw new LimitError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `more than ${this.limits.maxContinuations} CONTINUATION frames in one header block`,
      );
    }
    const size = c.size + end - start;
    this.#checkBlockSize(size);
    if (size > c.buf.length) {
      const bigger = new Uint8Array(Math.min(2 * size, this.limits.maxHeaderBlock));
      bigger.set(c.buf.subarray(0, c.size));
      c.buf = bigger;
    }
    c.buf.set(b.subarray(start, end), c.size);
    c.size = size;
    if (!(flags & Flag.END_HEADERS)) return;
    this.#continuation = undefined;
    this.#decode(id, c.flags, c.buf, 0, c.size);
  }

  #checkBlockSize(size: number): void {
    if (size > this.limits.maxHeaderBlock) {
      throw new LimitError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `header block larger than ${this.limits.maxHeaderBlock} bytes`,
      );
    }
  }

  #decode(id: number, flags: number, b: Uint8Array, start: number, end: number): void {
    let fields: HeaderField[] | undefined;
    try {
      fields = this.#decoder.decodeLimited(b, start, end, this.limits.maxHeaderListSize);
    } catch (err) {
      if (err instanceof HpackError) {
        throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, err.message);
      }
      throw err;
    }
    this.sink.headers(id, flags, fields);
  }
}

/**
 * Read buffer of a new connection. Idle connections are the many ones (up
 * to the listener's cap), so they start small; a read that fills the
 * buffer means a busy peer, whose buffer grows to {@link READ_CHUNK}.
 */
const INITIAL_READ = 4 * 1024;
/** Bytes asked of the socket per read on a busy connection. */
const READ_CHUNK = 64 * 1024;
/** Room below which the buffer grows before the next read (a partial frame fills it). */
const MIN_ROOM = 4 * 1024;

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
  let buf = new Uint8Array(Math.max(INITIAL_READ, initial.length * 2));
  buf.set(initial);
  let len = initial.length;
  const grow = (size: number) => {
    const bigger = new Uint8Array(size);
    bigger.set(buf.subarray(0, len));
    buf = bigger;
  };
  for (;;) {
    const used = consume(buf, len);
    if (used > 0) {
      buf.copyWithin(0, used, len);
      len -= used;
    }
    if (stopped()) return;
    if (buf.length - len < MIN_ROOM) grow(Math.max(buf.length * 2, len + INITIAL_READ));
    const room = buf.length - len;
    const n = await conn.read(buf.subarray(len));
    if (n === null) return;
    len += n;
    if (n === room && buf.length < READ_CHUNK) grow(READ_CHUNK);
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
  if (flags & Flag.ACK) {
    if (end !== start) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK length");
    return undefined;
  }
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
