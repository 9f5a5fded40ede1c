/**
 * etcd's Go client dials a member's Maintenance endpoints (status, hashkv,
 * defragment, snapshot, move-leader) with the endpoint URL as the gRPC
 * target, so its requests carry an `:authority` such as
 * `http://127.0.0.1:2379`. Go's HTTP/2 server accepts that; nghttp2 (under
 * Deno's node:http2) closes the whole connection with PROTOCOL_ERROR. This
 * module rewrites such an `:authority` in a request's HPACK header block to
 * a valid one of the same length (`http---127.0.0.1:2379`), so the HPACK
 * dynamic tables of client and server stay the same size and in step. The
 * server never uses the authority.
 *
 * @module
 */
import { huffmanDecode, pushInt } from "./h2/hpack.ts";

/** Static table index of `:authority` (RFC 7541 appendix A). */
const STATIC_AUTHORITY = 1;

interface Cursor {
  pos: number;
}

/** Reads an HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function readInt(b: Uint8Array, c: Cursor, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  let value = b[c.pos++] & max;
  if (value < max) return value;
  let shift = 0;
  for (;;) {
    if (c.pos >= b.length) throw new RangeError("truncated HPACK integer");
    const byte = b[c.pos++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return value;
    if (shift > 28) throw new RangeError("HPACK integer too large");
  }
}

/** Decodes the string literal at the cursor (Huffman or raw) and advances past it. */
function readString(b: Uint8Array, c: Cursor): string {
  const huffman = (b[c.pos] & 0x80) !== 0;
  const len = readInt(b, c, 7);
  const end = c.pos + len;
  if (end > b.length) throw new RangeError("truncated HPACK string");
  let text: string;
  if (!huffman) {
    text = String.fromCharCode(...b.subarray(c.pos, end));
  } else {
    text = huffmanDecode(b, c.pos, end);
  }
  c.pos = end;
  return text;
}

/** `scheme://host:port` → the same length with `:` and `/` of `://` as `-`. */
export function sameLengthAuthority(value: string): string | undefined {
  const i = value.indexOf("://");
  if (i < 0) return undefined;
  return value.slice(0, i) + "---" +
    value.slice(i + 3).replace(/\/+$/, (m) => "-".repeat(m.length));
}

/**
 * Returns `block` with every literal `:authority` that carries a URL scheme
 * rewritten, or undefined when nothing needed rewriting (the common case:
 * then the original bytes go on untouched).
 */
export function rewriteAuthority(block: Uint8Array): Uint8Array | undefined {
  const c: Cursor = { pos: 0 };
  let out: number[] | undefined;
  let copied = 0;
  while (c.pos < block.length) {
    const fieldStart = c.pos;
    const first = block[c.pos];
    if (first & 0x80) {
      readInt(block, c, 7); // indexed field
      continue;
    }
    if ((first & 0xe0) === 0x20) {
      readInt(block, c, 5); // dynamic table size update
      continue;
    }
    // A literal: with incremental indexing (01), without (0000) or never indexed (0001).
    const prefix = (first & 0xc0) === 0x40 ? 6 : 4;
    const high = first & (prefix === 6 ? 0xc0 : 0xf0);
    const nameIndex = readInt(block, c, prefix);
    const name = nameIndex === 0 ? readString(block, c) : undefined;
    const valueStart = c.pos;
    const isAuthority = nameIndex === STATIC_AUTHORITY || name === ":authority";
    if (!isAuthority) {
      readString(block, c);
      continue;
    }
    const value = readString(block, c);
    const replacement = sameLengthAuthority(value);
    if (replacement === undefined) continue;
    out ??= [];
    for (let i = copied; i < (nameIndex === 0 ? valueStart : fieldStart); i++) out.push(block[i]);
    if (nameIndex !== 0) pushInt(out, nameIndex, prefix, high);
    pushInt(out, replacement.length, 7, 0x00); // raw (not Huffman) string
    for (let i = 0; i < replacement.length; i++) out.push(replacement.charCodeAt(i));
    copied = c.pos;
  }
  if (!out) return undefined;
  for (let i = copied; i < block.length; i++) out.push(block[i]);
  return Uint8Array.from(out);
}
