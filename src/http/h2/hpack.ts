/**
 * HPACK (RFC 7541) for cairn's HTTP/2 server and client: a decoder with the
 * dynamic table the peer's encoder drives, and a stateless encoder (static
 * table references and literals that are never added to the dynamic table,
 * so the server keeps no encoder state at all). The static table and the
 * Huffman code are in `hpack_tables.ts`.
 *
 * @module
 */
import { HUFFMAN_CODE_LENGTHS, HUFFMAN_CODES, HUFFMAN_EOS, STATIC_TABLE } from "./hpack_tables.ts";

/** One header field as it appeared on the wire (names are lowercase in HTTP/2). */
export type HeaderField = [name: string, value: string];

/** A malformed header block: the connection must end with COMPRESSION_ERROR. */
export class HpackError extends Error {}

const STATIC: ReadonlyArray<HeaderField> = STATIC_TABLE.map(([n, v]) => [n, v]);

/** Per-entry overhead counted in the table size and the header list size (RFC 7541 §4.1). */
export const ENTRY_OVERHEAD = 32;

/**
 * The Huffman code as a binary tree in one array: node n has children at
 * tree[2n] (bit 0) and tree[2n+1] (bit 1); a child value >= 0 is the next
 * node, a negative value -(symbol + 1) is a leaf.
 */
const HUFFMAN_TREE: Int32Array = (() => {
  const tree = new Int32Array(2 * 2 * 257).fill(0);
  let nodes = 1;
  HUFFMAN_CODE_LENGTHS.forEach((bits, symbol) => {
    const code = HUFFMAN_CODES[symbol];
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      if (i === 0) {
        tree[slot] = -(symbol + 1);
      } else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot];
      }
    }
  });
  return tree;
})();

const EOS = HUFFMAN_EOS;

/** Strings up to this many characters are made in one piece ({@link latin1}). */
const PIECE = 64;

/**
 * Arrays of exactly n numbers, n = 0..PIECE, reused for every string: a
 * header string built a character at a time (`s += ...`) made a new flat
 * string per character below V8's 13-character cons-string minimum (~140
 * B for the changing 8-character `grpc-timeout` of every gRPC call);
 * `String.fromCharCode.apply` over a packed array of the right length makes
 * only the result.
 */
const PIECES: number[][] = [];
for (let n = 0; n <= PIECE; n++) {
  const a: number[] = [];
  for (let i = 0; i < n; i++) a.push(0);
  PIECES.push(a);
}

/** The latin1 string of the octets `codes[start, end)`. */
function latin1(codes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i += PIECE) {
    const n = Math.min(PIECE, end - i);
    const a = PIECES[n];
    for (let j = 0; j < n; j++) a[j] = codes[i + j];
    const piece = String.fromCharCode.apply(null, a);
    s = s === "" ? piece : s + piece;
  }
  return s;
}

/** Where Huffman-decoded octets are gathered (grown as needed; 8 bits decode to at most 1.6 octets). */
let huffmanOut = new Uint8Array(256);

/** Decodes a Huffman-coded string (RFC 7541 §5.2) to a latin1 string. */
export function huffmanDecode(b: Uint8Array, start: number, end: number): string {
  const most = Math.ceil(((end - start) * 8) / 5);
  if (most > huffmanOut.length) huffmanOut = new Uint8Array(Math.max(most, 2 * huffmanOut.length));
  const out = huffmanOut;
  let n = 0;
  let node = 0;
  let depth = 0;
  let allOnes = true;
  for (let i = start; i < end; i++) {
    const byte = b[i];
    for (let bit = 7; bit >= 0; bit--) {
      const one = (byte >>> bit) & 1;
      const next = HUFFMAN_TREE[2 * node + one];
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === EOS) throw new HpackError("Huffman string contains EOS");
        out[n++] = symbol;
        node = 0;
        depth = 0;
        allOnes = true;
      } else {
        node = next;
        depth++;
        if (!one) allOnes = false;
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (depth > 7 || !allOnes) throw new HpackError("invalid Huffman padding");
  return latin1(out, 0, n);
}

/** Fields a decoder's gathering array may keep room for between blocks. */
const GATHERED_MAX = 64;

/** Header-block decoder for one connection (one per direction, per RFC 7541). */
export class HpackDecoder {
  /** Dynamic table, newest entry first. */
  readonly #table: HeaderField[] = [];
  #size = 0;
  #limit: number;
  #pos = 0;
  #end = 0;
  /** Where a block's fields are gathered (see #decode). */
  #gathered: HeaderField[] = [];

  /** `maxTableSize`: the SETTINGS_HEADER_TABLE_SIZE we announced (default 4096). */
  constructor(private readonly maxTableSize = 4096) {
    this.#limit = maxTableSize;
  }

  /** Decodes the complete header block block[start, end), updating the dynamic table. */
  decode(block: Uint8Array, start = 0, end: number = block.length): HeaderField[] {
    return this.#decode(block, start, end, Infinity)!;
  }

  /**
   * Like {@link decode}, but undefined once the decoded header list would
   * exceed `maxListSize` octets (name + value + 32 per field, RFC 9113
   * §6.5.2). The rest of the block is still decoded without keeping the
   * fields, so the dynamic table stays in step with the peer's encoder and
   * the connection can go on; the cost is bounded by the block's size, never
   * by what it expands to (an "HPACK bomb" of repeated table references).
   */
  decodeLimited(
    block: Uint8Array,
    start: number,
    end: number,
    maxListSize: number,
  ): HeaderField[] | undefined {
    return this.#decode(block, start, end, maxListSize);
  }

  #decode(b: Uint8Array, start: number, end: number, max: number): HeaderField[] | undefined {
    // Gathered in a reused array and copied out at its exact length: a new
    // array grown by pushes had room for 17 fields (a request has ~8).
    const fields = this.#gathered;
    let n = 0;
    let keep = true;
    let listSize = 0;
    let seenField = false;
    this.#pos = start;
    this.#end = end;
    while (this.#pos < end) {
      const first = b[this.#pos];
      let field: HeaderField;
      if (first & 0x80) {
        field = this.#lookup(this.#int(b, 7));
      } else if (first & 0x40) {
        field = this.#literal(b, 6);
        this.#insert(field);
      } else if (first & 0x20) {
        const size = this.#int(b, 5);
        if (size > this.maxTableSize) throw new HpackError("table size update above the limit");
        if (seenField) throw new HpackError("table size update after a header field");
        this.#limit = size;
        this.#evict(0);
        continue;
      } else {
        // Literal without indexing (0000) or never indexed (0001): same layout.
        field = this.#literal(b, 4);
      }
      seenField = true;
      if (!keep) continue;
      listSize += field[0].length + field[1].length + ENTRY_OVERHEAD;
      if (listSize > max) keep = false;
      else fields[n++] = field;
    }
    // A block of many fields (only `decode` has no list limit) is not held on to.
    if (fields.length > GATHERED_MAX) this.#gathered = [];
    return keep ? fields.slice(0, n) : undefined;
  }

  #lookup(index: number): HeaderField {
    if (index === 0) throw new HpackError("header index 0");
    if (index <= STATIC.length) return STATIC[index - 1];
    const entry = this.#table[index - STATIC.length - 1];
    if (!entry) throw new HpackError(`header index ${index} out of range`);
    return entry;
  }

  #literal(b: Uint8Array, prefixBits: number): HeaderField {
    const nameIndex = this.#int(b, prefixBits);
    const name = nameIndex === 0 ? this.#string(b) : this.#lookup(nameIndex)[0];
    return [name, this.#string(b)];
  }

  #insert(field: HeaderField): void {
    const size = field[0].length + field[1].length + ENTRY_OVERHEAD;
    this.#evict(size);
    if (size <= this.#limit) {
      this.#table.unshift(field);
      this.#size += size;
    }
  }

  /** Drops the oldest entries until `room` more octets fit under the limit. */
  #evict(room: number): void {
    while (this.#table.length > 0 && this.#size + room > this.#limit) {
      const old = this.#table.pop()!;
      this.#size -= old[0].length + old[1].length + ENTRY_OVERHEAD;
    }
  }

  #int(b: Uint8Array, prefixBits: number): number {
    if (this.#pos >= this.#end) throw new HpackError("truncated header block");
    const max = (1 << prefixBits) - 1;
    let value = b[this.#pos++] & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (this.#pos >= this.#end) throw new HpackError("truncated integer");
      const byte = b[this.#pos++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) return value;
      if (shift > 28) throw new HpackError("integer too large");
    }
  }

  #string(b: Uint8Array): string {
    if (this.#pos >= this.#end) throw new HpackError("truncated header block");
    const huff = (b[this.#pos] & 0x80) !== 0;
    const len = this.#int(b, 7);
    const start = this.#pos;
    const end = start + len;
    if (end > this.#end) throw new HpackError("truncated string");
    this.#pos = end;
    return huff ? huffmanDecode(b, start, end) : latin1(b, start, end);
  }
}

/** Static-table indexes: exact name+value, and first index per name. */
const STATIC_EXACT = new Map<string, number>();
const STATIC_NAME = new Map<string, number>();
STATIC.forEach(([name, value], i) => {
  const key = `${name}\0${value}`;
  if (!STATIC_EXACT.has(key)) STATIC_EXACT.set(key, i + 1);
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
});

/** Appends an HPACK integer with a `prefixBits`-bit prefix under the `high` bits (RFC 7541 §5.1). */
export function pushInt(out: number[], value: number, prefixBits: number, high: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(high | value);
    return;
  }
  out.push(high | max);
  value -= max;
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

function pushString(out: number[], s: string): void {
  const bytes = latin1OrUtf8(s);
  pushInt(out, bytes.length, 7, 0);
  for (const c of bytes) out.push(c);
}

/** Header values are octets: latin1 when every code unit fits, else UTF-8. */
function latin1OrUtf8(s: string): Uint8Array | number[] {
  let wide = false;
  for (let i = 0; i < s.length && !wide; i++) wide = s.charCodeAt(i) > 0xff;
  if (wide) return new TextEncoder().encode(s);
  const out: number[] = new Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * Encodes header fields without touching any dynamic table: a static
 * entry when name and value match one, otherwise a literal without
 * indexing (name by static index when it has one). Names are lowercased.
 */
export function encodeHeaders(fields: Iterable<readonly [string, string]>): Uint8Array {
  const out: number[] = [];
  for (const [rawName, value] of fields) {
    const name = rawName.toLowerCase();
    const exact = STATIC_EXACT.get(`${name}\0${value}`);
    if (exact !== undefined) {
      pushInt(out, exact, 7, 0x80);
      continue;
    }
    const nameIndex = STATIC_NAME.get(name);
    if (nameIndex !== undefined) {
      pushInt(out, nameIndex, 4, 0x00);
    } else {
      out.push(0x00);
      pushString(out, name);
    }
    pushString(out, value);
  }
  return Uint8Array.from(out);
}
