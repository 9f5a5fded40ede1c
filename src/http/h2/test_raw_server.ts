/**
 * Test helper: a raw HTTP/2 "server" on a loopback port that accepts one
 * connection, checks the client preface, and then writes hand-built frames
 * and reads the client's frames one by one, so tests can check the exact
 * protocol behaviour of the client (client.ts), including its answers to
 * frames no correct server sends. Every wait is bounded.
 *
 * @module
 */
import { encodeHeaders, type HeaderField, HpackDecoder } from "./hpack.ts";
import { type RawFrame, rawFrame, readU32, T, within } from "./test_raw_client.ts";

const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** One accepted client connection, read frame by frame. */
export class RawPeer {
  /** Every frame received so far, in order. */
  readonly seen: RawFrame[] = [];
  /** Set when the client's first bytes were not the HTTP/2 preface. */
  badPreface = false;
  #queue: RawFrame[] = [];
  #eof = false;
  #wake: (() => void) | undefined;
  #pingSeq = 0;
  /** The client's encoder never indexes, but one decoder per connection is how HPACK works. */
  readonly #decoder = new HpackDecoder();
  readonly #reading: Promise<void>;

  constructor(readonly conn: Deno.Conn) {
    this.#reading = this.#readLoop();
  }

  /** Writes the concatenation of `chunks` in one go (errors once the client left are ignored). */
  async write(...chunks: Uint8Array[]): Promise<void> {
    const bytes = Buffer.concat(chunks);
    try {
      for (let w = 0; w < bytes.length;) w += await this.conn.write(bytes.subarray(w));
    } catch { /* the client closed the connection */ }
  }

  /** The next frame, or null once the client closed the connection. */
  async next(ms = 2000): Promise<RawFrame | null> {
    const deadline = Date.now() + ms;
    while (this.#queue.length === 0 && !this.#eof) {
      const woke = new Promise<void>((r) => (this.#wake = r));
      await within(woke, Math.max(1, deadline - Date.now()), "waiting for a client frame");
    }
    return this.#queue.shift() ?? null;
  }

  /** Reads frames until one satisfies `pred` (others are dropped but stay in `seen`). */
  async until(pred: (f: RawFrame) => boolean, ms = 2000): Promise<RawFrame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      if (!f) throw new Error("client closed the connection while waiting for a frame");
      if (pred(f)) return f;
    }
  }

  /** Reads until the client closes the connection; returns the frames read on the way. */
  async untilClosed(ms = 2000): Promise<RawFrame[]> {
    const deadline = Date.now() + ms;
    const frames: RawFrame[] = [];
    for (;;) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      if (!f) return frames;
      frames.push(f);
    }
  }

  /** Waits for the request HEADERS of stream `id`; returns its fields. */
  async requestHeaders(id: number, ms = 2000): Promise<Map<string, string>> {
    const f = await this.until((f) => f.type === T.HEADERS && f.streamId === id, ms);
    return new Map(this.#decoder.decode(f.payload));
  }

  /**
   * Writes `frames` and a PING, then reads until the client ACKs that PING;
   * returns the DATA frames sent before the ACK: all the client sent in
   * answer to `frames` and to whatever it was told before.
   */
  async dataUntilPong(...frames: Uint8Array[]): Promise<RawFrame[]> {
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setUint32(4, ++this.#pingSeq);
    await this.write(...frames, rawFrame(T.PING, 0, 0, payload));
    const data = [];
    for (;;) {
      const f = await this.until((f) => f.type === T.DATA || (f.type === T.PING && f.flags === 1));
      if (f.type === T.DATA) data.push(f);
      else if (Buffer.from(payload).equals(f.payload)) return data;
    }
  }

  /** Closes the socket (if the client has not) and waits for the read loop. */
  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch { /* already closed */ }
    await this.#reading;
  }

  async #readLoop(): Promise<void> {
    let buf = new Uint8Array(0);
    let prefaceSeen = false;
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.conn.read(chunk);
        if (n === null) break;
        buf = Buffer.concat([buf, chunk.subarray(0, n)]);
        let off = 0;
        if (!prefaceSeen) {
          if (buf.length < PREFACE.length) continue;
          if (new TextDecoder().decode(buf.subarray(0, PREFACE.length)) !== PREFACE) {
            this.badPreface = true;
            break;
          }
          prefaceSeen = true;
          off = PREFACE.length;
        }
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
      // Reset by the client or closed locally: both count as the end.
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

/** A listening raw server; `accept` hands over the next client connection. */
export interface RawServer {
  port: number;
  accept(ms?: number): Promise<RawPeer>;
  /** Stops listening and closes every accepted connection. */
  close(): Promise<void>;
}

/** Listens on a free loopback port. */
export function startRawServer(): RawServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peers: RawPeer[] = [];
  let listening = true;
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async accept(ms = 2000) {
      const peer = new RawPeer(await within(listener.accept(), ms, "accept"));
      peers.push(peer);
      return peer;
    },
    async close() {
      if (listening) listener.close();
      listening = false;
      await Promise.all(peers.map((p) => p.close()));
    },
  };
}

/** Whether `f` is a SETTINGS frame without ACK (the client's own settings). */
export const isSettings = (f: RawFrame): boolean => f.type === T.SETTINGS && (f.flags & 1) === 0;

/** A HEADERS frame carrying `fields` (END_HEADERS unless `flags` says otherwise). */
export function headersFrame(id: number, fields: HeaderField[], flags = 0x4): Uint8Array {
  return rawFrame(T.HEADERS, flags, id, encodeHeaders(fields));
}
