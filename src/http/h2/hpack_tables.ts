/**
 * The two fixed tables of HPACK (RFC 7541): the static header table
 * (Appendix A) and the Huffman code for header strings (Appendix B).
 *
 * The Huffman code of Appendix B is canonical: codes of the same length are
 * consecutive binary numbers in symbol order, and each length continues
 * where the shorter ones stopped. So the code length of each of the 257
 * symbols is all the table needs; the codes themselves are rebuilt from
 * them once, at load (and a test checks them against Appendix B).
 *
 * @module
 */

/** RFC 7541 Appendix A: the static table; entry i has HPACK index i + 1. */
export const STATIC_TABLE: ReadonlyArray<readonly [name: string, value: string]> = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/** The symbol that ends a Huffman string early; it must never appear in one. */
export const HUFFMAN_EOS = 256;

/**
 * RFC 7541 Appendix B: the length in bits of the Huffman code of each
 * symbol, octets 0..255 then EOS (256), sixteen per line.
 */
// deno-fmt-ignore
export const HUFFMAN_CODE_LENGTHS: ReadonlyArray<number> = [
  // 0x00..0x1f: control characters
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  // 0x20..0x3f: ' ' ! " # $ % & ' ( ) * + , - . /  0-9 : ; < = > ?
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  // 0x40..0x5f: @ A-Z [ \ ] ^ _
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  // 0x60..0x7f: ` a-z { | } ~ DEL
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  // 0x80..0xff
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  // EOS
  30,
];

/**
 * The Huffman codes rebuilt from {@link HUFFMAN_CODE_LENGTHS}: symbol s has
 * the `HUFFMAN_CODE_LENGTHS[s]`-bit code `HUFFMAN_CODES[s]`.
 */
export const HUFFMAN_CODES: Uint32Array = (() => {
  const lengths = HUFFMAN_CODE_LENGTHS;
  const order = lengths.map((_, s) => s).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const codes = new Uint32Array(lengths.length);
  let code = 0;
  let prev = lengths[order[0]];
  order.forEach((s, i) => {
    // Canonical: one past the previous code, widened to this length.
    if (i > 0) code = (code + 1) * 2 ** (lengths[s] - prev);
    prev = lengths[s];
    codes[s] = code;
  });
  return codes;
})();
