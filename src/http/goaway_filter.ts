/**
 * A guard in front of Deno's `node:http2` server. Deno 2.9's HTTP/2
 * session aborts the whole process (an nghttp2 assertion in
 * find_stream_on_goaway_func, or "free(): invalid pointer") when a client
 * sends GOAWAY after it has used many streams: an ordinary client closing
 * its connection could take the member down. This filter sits between the
 * TCP socket and the session, removes GOAWAY frames sent by the client,
 * and closes the connection itself shortly after, which is what the GOAWAY
 * asked for. It also mends request headers nghttp2 would refuse with a
 * connection error although etcd's Go server accepts them (a URL as
 * `:authority`, sent by etcd's own client: see authority_rewrite.ts).
 * Only the peer port still needs it: the client port runs cairn's own
 * HTTP/2 server (src/http/h2), which is immune to both.
 *
 * @module
 */
import type * as net from "node:net";
import { rewriteAuthority } from "./authority_rewrite.ts";
import { Duplex } from "node:stream";

const PREFACE_LENGTH = 24;
const FRAME_HEADER_LENGTH = 9;
const FRAME_GOAWAY = 0x7;
const FRAME_HEADERS = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** How long a client that said GOAWAY gets to finish its last streams. */
const GOAWAY_GRACE_MS = 2000;

/**
 * Strips GOAWAY frames from an HTTP/2 client-to-server byte stream and
 * mends the `:authority` of HEADERS frames. Stateful across chunks: frames
 * may be split anywhere.
 */
export class GoawayStripper {
  #prefaceLeft = PREFACE_LENGTH;
  #header = new Uint8Array(FRAME_HEADER_LENGTH);
  #headerFill = 0;
  /** Payload bytes of the current frame still to pass, drop or collect. */
  #payloadLeft = 0;
  #dropping = false;
  /** A HEADERS frame being collected whole, so its :authority can be fixed. */
  #collecting: { header: Uint8Array; payload: Uint8Array; filled: number } | undefined;
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
      if (this.#payloadLeft > 0 && this.#collecting) {
        const col = this.#collecting;
        const n = Math.min(this.#payloadLeft, chunk.length - i);
        col.payload.set(chunk.subarray(i, i + n), col.filled);
        col.filled += n;
        this.#payloadLeft -= n;
        i += n;
        passStart = i;
        if (this.#payloadLeft === 0) {
          (out ??= []).push(...completeHeaders(col.header, col.payload));
          this.#collecting = undefined;
        }
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
      if (h[3] === FRAME_HEADERS && (h[4] & FLAG_END_HEADERS) !== 0) {
        // Held back whole (it is small) until its payload is complete.
        keepUpTo(headerStart);
        passStart = i;
        this.#collecting = { header: h.slice(), payload: new Uint8Array(length), filled: 0 };
        if (length === 0) {
          (out ??= []).push(this.#collecting.header);
          this.#collecting = undefined;
        }
      } else if (this.#dropping) {
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

/**
 * A complete HEADERS frame, with an `:authority` that nghttp2 would refuse
 * rewritten (see authority_rewrite.ts); unchanged frames keep their bytes.
 */
function completeHeaders(header: Uint8Array, payload: Uint8Array): Uint8Array[] {
  const flags = header[4];
  const padLength = flags & FLAG_PADDED ? payload[0] : 0;
  const blockStart = (flags & FLAG_PADDED ? 1 : 0) + (flags & FLAG_PRIORITY ? 5 : 0);
  const blockEnd = payload.length - padLength;
  if (blockEnd < blockStart) return [header, payload]; // malformed: let the session refuse it
  let block: Uint8Array | undefined;
  try {
    block = rewriteAuthority(payload.subarray(blockStart, blockEnd));
  } catch {
    block = undefined; // malformed: let the session refuse it
  }
  if (!block) return [header, payload];
  const rewritten = new Uint8Array(blockStart + block.length + padLength);
  rewritten.set(payload.subarray(0, blockStart));
  rewritten.set(block, blockStart);
  rewritten.set(payload.subarray(blockEnd), blockStart + block.length);
  const h = header.slice();
  h[0] = (rewritten.length >> 16) & 0xff;
  h[1] = (rewritten.length >> 8) & 0xff;
  h[2] = rewritten.length & 0xff;
  return [h, rewritten];
}
