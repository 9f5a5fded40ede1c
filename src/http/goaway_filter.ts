/**
 * A guard in front of Deno's `node:http2` server. Deno 2.9's HTTP/2
 * session aborts the whole process (an nghttp2 assertion in
 * find_stream_on_goaway_func, or "free(): invalid pointer") when a client
 * sends GOAWAY after it has used many streams: an ordinary client closing
 * its connection could take the member down. This filter sits between the
 * TCP socket and the session, removes GOAWAY frames sent by the client,
 * and closes the connection itself shortly after, which is what the GOAWAY
 * asked for.
 *
 * @module
 */
import type * as net from "node:net";
import { Duplex } from "node:stream";

const PREFACE_LENGTH = 24;
const FRAME_HEADER_LENGTH = 9;
const FRAME_GOAWAY = 0x7;
/** How long a client that said GOAWAY gets to finish its last streams. */
const GOAWAY_GRACE_MS = 2000;

/**
 * Strips GOAWAY frames from an HTTP/2 client-to-server byte stream. Stateful
 * across chunks: frames may be split anywhere.
 */
export class GoawayStripper {
  #prefaceLeft = PREFACE_LENGTH;
  #header = new Uint8Array(FRAME_HEADER_LENGTH);
  #headerFill = 0;
  /** Payload bytes of the current frame still to pass (>0) or drop (<0). */
  #payloadLeft = 0;
  #dropping = false;
  /** Called once per GOAWAY frame removed. */
  onGoaway: () => void = () => {};

  /** Returns the bytes of `chunk` to pass on (a view of it when nothing is removed). */
  filter(chunk: Uint8Array): Uint8Array {
    let out: Uint8Array[] | undefined;
    let passStart = 0;
    let i = 0;
    const keepUpTo = (end: number) => {
      if (end > passStart) (out ??= []).push(chunk.subarray(passStart, end));
    };
    while (i < chunk.length) {
      if (this.#prefaceLeft > 0) {
        const n = Math.min(this.#prefaceLeft, chunk.length - i);
        this.#prefaceLeft -= n;
        i += n;
        continue;
      }
      if (this.#payloadLeft > 0) {
        const n = Math.min(this.#payloadLeft, chunk.length - i);
        if (this.#dropping && n > 0) {
          keepUpTo(i);
          passStart = i + n;
        }
        this.#payloadLeft -= n;
        i += n;
        continue;
      }
      // Collect a frame header (possibly across chunks).
      const headerStart = i;
      const n = Math.min(FRAME_HEADER_LENGTH - this.#headerFill, chunk.length - i);
      this.#header.set(chunk.subarray(i, i + n), this.#headerFill);
      this.#headerFill += n;
      i += n;
      if (this.#headerFill < FRAME_HEADER_LENGTH) {
        // Incomplete header at the end of the chunk: hold it back until we know its type.
        keepUpTo(headerStart);
        passStart = chunk.length;
        break;
      }
      this.#headerFill = 0;
      const h = this.#header;
      const length = (h[0] << 16) | (h[1] << 8) | h[2];
      this.#dropping = h[3] === FRAME_GOAWAY;
      this.#payloadLeft = length;
      if (this.#dropping) {
        keepUpTo(headerStart);
        passStart = i;
        this.onGoaway();
      } else if (headerStart + FRAME_HEADER_LENGTH !== i) {
        // The header started in an earlier chunk and was held back: emit it now.
        keepUpTo(headerStart);
        (out ??= []).push(h.slice());
        passStart = i;
      }
    }
    if (out === undefined) {
      return passStart === 0 ? chunk : chunk.subarray(passStart);
    }
    keepUpTo(chunk.length);
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }
}

/**
 * Wraps `socket` in a Duplex that passes everything through except client
 * GOAWAY frames; after one, the socket is ended once GOAWAY_GRACE_MS have
 * passed. Writes are passed straight to the socket.
 */
export function guardAgainstGoaway(socket: net.Socket): Duplex {
  const stripper = new GoawayStripper();
  let closing = false;
  stripper.onGoaway = () => {
    if (closing) return;
    closing = true;
    setTimeout(() => socket.destroy(), GOAWAY_GRACE_MS).unref?.();
  };
  const wrapper = new Duplex({
    read() {
      socket.resume();
    },
    // Backpressure from the socket reaches the session through the callback.
    write(chunk, _enc, cb) {
      if (socket.destroyed) return cb();
      if (socket.write(chunk)) cb();
      else socket.once("drain", () => cb());
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  socket.on("data", (chunk: Buffer) => {
    const data = stripper.filter(chunk);
    if (data.length > 0 && !wrapper.push(data)) socket.pause();
  });
  socket.on("end", () => wrapper.push(null));
  socket.on("close", () => wrapper.destroy());
  socket.on("error", () => wrapper.destroy());
  return wrapper;
}
