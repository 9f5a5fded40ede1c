/**
 * Test helper: a raw HTTP/2 client that writes hand-built frames and reads
 * the server's frames one by one, so tests can check the exact protocol
 * behaviour of {@link H2Connection}. Every wait is bounded.
 *
 * @module
 */
import { HpackDecoder } from "./hpack.ts";

/** One frame as read from the server. */
export interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

/** Frame type numbers, spelled out here so the tests do not lean on frames.ts. */
export const T = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** The client connection preface. */
export const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Rejects after `ms` unless `p` settles first. */
export function within<V>(p: Promise<V>, ms = 2000, what = "operation"): Promise<V> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A promise with its resolver exposed. */
export function deferred<V = void>(): { promise: Promise<V>; resolve: (v: V) => void } {
  let resolve!: (v: V) => void;
  const promise = new Promise<V>((r) => (resolve = r));
  return { promise, resolve };
}

/** Builds one frame. */
export function rawFrame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
  length = payload.length,
): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = length >>> 16;
  out[1] = (length >>> 8) & 0xff;
  out[2] = length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, streamId);
  out.set(payload, 9);
  return out;
}

/** A 4-byte payload holding `value` (RST_STREAM, WINDOW_UPDATE). */
export function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

/** A SETTINGS payload. */
export function settingsPayload(settings: Array<[number, number]>): Uint8Array {
  const out = new Uint8Array(settings.length * 6);
  const view = new DataView(out.buffer);
  settings.forEach(([id, v], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, v);
  });
  return out;
}

/** Parses a SETTINGS payload into a map. */
export function parseSettings(payload: Uint8Array): Map<number, number> {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const out = new Map<number, number>();
  for (let p = 0; p + 6 <= payload.length; p += 6) {
    out.set(view.getUint16(p), view.getUint32(p + 2));
  }
  return out;
}

/** The 32-bit value at the start of a payload (WINDOW_UPDATE increment, RST_STREAM code). */
export function readU32(payload: Uint8Array, at = 0): number {
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(at);
}

/** A raw frame-level HTTP/2 client over TCP. */
export class RawClient {
  /** Every frame received so far, in order. */
  readonly seen: RawFrame[] = [];
  readonly decoder = new HpackDecoder();
  #queue: RawFrame[] = [];
  #eof = false;
  #wake: (() => void) | undefined;
  readonly #reading: Promise<void>;

  private constructor(readonly conn: Deno.Conn) {
    this.#reading = this.#readLoop();
  }

  /** Connects to the server on `port` (without sending anything). */
  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Sends the preface and SETTINGS, ACKs the server's SETTINGS; returns them. */
  async handshake(settings: Array<[number, number]> = []): Promise<Map<number, number>> {
    await this.write(PREFACE, rawFrame(T.SETTINGS, 0, 0, settingsPayload(settings)));
    const first = await this.next();
    if (!first || first.type !== T.SETTINGS || first.flags !== 0) {
      throw new Error(`expected server SETTINGS first, got ${JSON.stringify(first)}`);
    }
    await this.write(rawFrame(T.SETTINGS, 1, 0));
    await this.until((f) => f.type === T.SETTINGS && f.flags === 1);
    return parseSettings(first.payload);
  }

  /** Writes the concatenation of `chunks` in one go. */
  async write(...chunks: Uint8Array[]): Promise<void> {
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      bytes.set(c, off);
      off += c.length;
    }
    for (let w = 0; w < bytes.length;) w += await this.conn.write(bytes.subarray(w));
  }

  /** The next frame, or null once the server closed the connection. */
  async next(ms = 2000): Promise<RawFrame | null> {
    const deadline = Date.now() + ms;
    while (this.#queue.length === 0 && !this.#eof) {
      const woke = new Promise<void>((r) => (this.#wake = r));
      await within(woke, Math.max(1, deadline - Date.now()), "waiting for a frame");
    }
    return this.#queue.shift() ?? null;
  }

  /** Reads frames until one satisfies `pred` (others are dropped but stay in `seen`). */
  async until(pred: (f: RawFrame) => boolean, ms = 2000): Promise<RawFrame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      if (!f) throw new Error("connection closed while waiting for a frame");
      if (pred(f)) return f;
    }
  }

  /** Reads until the server closes the connection; returns the frames read on the way. */
  async untilClosed(ms = 2000): Promise<RawFrame[]> {
    const deadline = Date.now() + ms;
    const frames: RawFrame[] = [];
    for (;;) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      if (!f) return frames;
      frames.push(f);
    }
  }

  /** True when no frame matching `pred` arrives within `ms` (others are dropped). */
  async quiet(ms = 150, pred: (f: RawFrame) => boolean = () => true): Promise<boolean> {
    const deadline = Date.now() + ms;
    try {
      for (;;) {
        const f = await this.next(Math.max(1, deadline - Date.now()));
        if (!f) return false;
        if (pred(f)) {
          this.#queue.unshift(f);
          return false;
        }
      }
    } catch {
      return true;
    }
  }

  /** Decodes a HEADERS payload sent by the server (it never pads or prioritizes). */
  headers(f: RawFrame): Map<string, string> {
    return new Map(this.decoder.decode(f.payload));
  }

  /** Closes the socket and waits for the read loop. */
  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch { /* closed by the server already */ }
    await this.#reading;
  }

  async #readLoop(): Promise<void> {
    let buf = new Uint8Array(0);
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.conn.read(chunk);
        if (n === null) break;
        const joined = new Uint8Array(buf.length + n);
        joined.set(buf);
        joined.set(chunk.subarray(0, n), buf.length);
        buf = joined;
        let off = 0;
        while (buf.length - off >= 9) {
          const len = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
          if (buf.length - off < 9 + len) break;
          const f: RawFrame = {
            type: buf[off + 3],
            flags: buf[off + 4],
            streamId: readU32(buf, off + 5) & 0x7fffffff,
            payload: buf.slice(off + 9, off + 9 + len),
          };
          this.seen.push(f);
          this.#queue.push(f);
          off += 9 + len;
        }
        buf = buf.slice(off);
        this.#notify();
      }
    } catch {
      // Reset by the peer or closed locally: both count as the end.
    }
    this.#eof = true;
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
}
