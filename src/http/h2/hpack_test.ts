import assert from "node:assert/strict";
import { encodeHeaders, type HeaderField, HpackDecoder, HpackError, pushInt } from "./hpack.ts";
import { HUFFMAN_CODE_LENGTHS, HUFFMAN_CODES, HUFFMAN_EOS, STATIC_TABLE } from "./hpack_tables.ts";

/** A field as the test encoder takes it (huffman, incremental and neverIndex are per field). */
interface JsField {
  name: string;
  value: string;
  huffman?: boolean;
  incremental?: boolean;
  neverIndex?: boolean;
}

/** Bytes from an RFC-style hex dump ("8286 8441 ..."). */
function hex(dump: string): Uint8Array {
  const digits = dump.replace(/\s+/g, "");
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Huffman-encodes latin1 `s` (RFC 7541 §5.2), padded with the most significant bits of EOS. */
function huffmanEncode(s: string): number[] {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i);
    const len = HUFFMAN_CODE_LENGTHS[sym];
    const code = HUFFMAN_CODES[sym];
    for (let b = len - 1; b >= 0; b--) {
      acc = (acc << 1) | ((code >>> b) & 1);
      if (++bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) out.push(((acc << (8 - bits)) | (0xff >> bits)) & 0xff);
  return out;
}

/**
 * A small HPACK encoder with a dynamic table, for tests only: it plays the
 * peer whose blocks the decoder must follow (indexed fields, incremental
 * indexing, never-indexed literals, Huffman strings, table size updates).
 */
class TestEncoder {
  readonly #table: HeaderField[] = [];
  #size = 0;
  #pendingUpdates: number[] = [];

  constructor(private limit = 4096) {}

  /** Queues dynamic table size updates that start the next block. */
  resize(...sizes: number[]): void {
    this.#pendingUpdates.push(...sizes);
  }

  encode(fields: JsField[]): Uint8Array {
    const out: number[] = [];
    for (const size of this.#pendingUpdates.splice(0)) {
      pushInt(out, size, 5, 0x20);
      this.limit = size;
      this.#evict(0);
    }
    for (const f of fields) {
      const exact = this.#find(f.name, f.value);
      if (exact > 0 && !f.neverIndex) {
        pushInt(out, exact, 7, 0x80);
        continue;
      }
      const nameIndex = this.#find(f.name);
      const incremental = !f.neverIndex && f.incremental !== false;
      if (incremental) pushInt(out, nameIndex, 6, 0x40);
      else pushInt(out, nameIndex, 4, f.neverIndex ? 0x10 : 0x00);
      if (nameIndex === 0) this.#string(out, f.name, f.huffman);
      this.#string(out, f.value, f.huffman);
      if (incremental) this.#insert([f.name, f.value]);
    }
    return Uint8Array.from(out);
  }

  /** Index of name+value (or of the name alone without `value`), 0 when absent. */
  #find(name: string, value?: string): number {
    const all = [...STATIC_TABLE, ...this.#table];
    const i = all.findIndex(([n, v]) => n === name && (value === undefined || v === value));
    return i + 1;
  }

  #string(out: number[], s: string, huffman = false): void {
    const bytes = huffman ? huffmanEncode(s) : [...s].map((c) => c.charCodeAt(0));
    pushInt(out, bytes.length, 7, huffman ? 0x80 : 0);
    out.push(...bytes);
  }

  #insert(field: HeaderField): void {
    const size = field[0].length + field[1].length + 32;
    this.#evict(size);
    if (size > this.limit) return;
    this.#table.unshift(field);
    this.#size += size;
  }

  #evict(room: number): void {
    while (this.#table.length > 0 && this.#size + room > this.limit) {
      const [n, v] = this.#table.pop()!;
      this.#size -= n.length + v.length + 32;
    }
  }
}

const pairs = (fields: JsField[]): HeaderField[] => fields.map((f) => [f.name, f.value]);

/** Asserts that decoding `block` fails with an HpackError. */
function assertHpackError(decoder: HpackDecoder, block: Uint8Array, message?: RegExp): void {
  assert.throws(() => decoder.decode(block), (err: unknown) => {
    assert.ok(err instanceof HpackError, `expected HpackError, got ${err}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

// --- RFC 7541 appendix C ---

const C3_FIELDS: HeaderField[][] = [
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]],
  [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
    ["cache-control", "no-cache"],
  ],
  [
    [":method", "GET"],
    [":scheme", "https"],
    [":path", "/index.html"],
    [":authority", "www.example.com"],
    ["custom-key", "custom-value"],
  ],
];

/** Checks the dynamic table through indexed references 62.. and that the next index is out of range. */
function assertTable(decoder: HpackDecoder, expected: HeaderField[]): void {
  expected.forEach((field, i) => {
    assert.deepEqual(decoder.decode(Uint8Array.of(0x80 | (62 + i))), [field], `index ${62 + i}`);
  });
  assertHpackError(decoder, Uint8Array.of(0x80 | (62 + expected.length)), /out of range/);
}

Deno.test("RFC 7541 C.3: request examples without Huffman share one dynamic table", () => {
  const d = new HpackDecoder();
  assert.deepEqual(
    d.decode(hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d")),
    C3_FIELDS[0],
  );
  assert.deepEqual(d.decode(hex("8286 84be 5808 6e6f 2d63 6163 6865")), C3_FIELDS[1]);
  assert.deepEqual(
    d.decode(hex(`8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65`)),
    C3_FIELDS[2],
  );
  assertTable(d, [
    ["custom-key", "custom-value"],
    ["cache-control", "no-cache"],
    [":authority", "www.example.com"],
  ]);
});

Deno.test("RFC 7541 C.4: request examples with Huffman", () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")), C3_FIELDS[0]);
  assert.deepEqual(d.decode(hex("8286 84be 5886 a8eb 1064 9cbf")), C3_FIELDS[1]);
  assert.deepEqual(
    d.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")),
    C3_FIELDS[2],
  );
  assertTable(d, [
    ["custom-key", "custom-value"],
    ["cache-control", "no-cache"],
    [":authority", "www.example.com"],
  ]);
});

Deno.test("RFC 7541 C.5: response examples evict from a 256-octet table", () => {
  const d = new HpackDecoder(256);
  const date21 = "Mon, 21 Oct 2013 20:13:21 GMT";
  const date22 = "Mon, 21 Oct 2013 20:13:22 GMT";
  const location = "https://www.example.com";
  const cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
  assert.deepEqual(
    d.decode(hex(`4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
      2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
      6c65 2e63 6f6d`)),
    [[":status", "302"], ["cache-control", "private"], ["date", date21], ["location", location]],
  );
  // ":status: 307" evicts ":status: 302" (222 + 42 > 256).
  assert.deepEqual(
    d.decode(hex("4803 3330 37c1 c0bf")),
    [[":status", "307"], ["cache-control", "private"], ["date", date21], ["location", location]],
  );
  assert.deepEqual(
    d.decode(hex(`88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
      54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
      5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
      3d31`)),
    [
      [":status", "200"],
      ["cache-control", "private"],
      ["date", date22],
      ["location", location],
      ["content-encoding", "gzip"],
      ["set-cookie", cookie],
    ],
  );
  assertTable(d, [["set-cookie", cookie], ["content-encoding", "gzip"], ["date", date22]]);
});

// --- the tables ---

Deno.test("the static table is RFC 7541 Appendix A (spot checks at both ends and between)", () => {
  assert.equal(STATIC_TABLE.length, 61);
  assert.deepEqual(STATIC_TABLE[0], [":authority", ""]);
  assert.deepEqual(STATIC_TABLE[7], [":status", "200"]);
  assert.deepEqual(STATIC_TABLE[15], ["accept-encoding", "gzip, deflate"]);
  assert.deepEqual(STATIC_TABLE[30], ["content-type", ""]);
  assert.deepEqual(STATIC_TABLE[60], ["www-authenticate", ""]);
});

Deno.test("Huffman codes rebuilt from the lengths match RFC 7541 Appendix B", () => {
  // [symbol, code (hex), bits] as printed in Appendix B.
  const appendixB: Array<[number, number, number]> = [
    [0, 0x1ff8, 13],
    [32, 0x14, 6],
    [48, 0x0, 5],
    [65, 0x21, 6],
    [97, 0x3, 5],
    [126, 0x1ffd, 13],
    [255, 0x3ffffee, 26],
    [HUFFMAN_EOS, 0x3fffffff, 30],
  ];
  for (const [sym, code, bits] of appendixB) {
    assert.equal(HUFFMAN_CODE_LENGTHS[sym], bits, `length of ${sym}`);
    assert.equal(HUFFMAN_CODES[sym], code, `code of ${sym}`);
  }
  // A complete prefix code: the 257 codes fill the code space exactly once.
  let kraft = 0;
  for (const len of HUFFMAN_CODE_LENGTHS) kraft += 2 ** (30 - len);
  assert.equal(kraft, 2 ** 30);
  assert.equal(HUFFMAN_CODE_LENGTHS.length, 257);
});

Deno.test("every octet survives a Huffman round trip", () => {
  const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
  const d = new HpackDecoder();
  const block = new TestEncoder().encode([{ name: "x-all", value: all, huffman: true }]);
  assert.deepEqual(d.decode(block), [["x-all", all]]);
});

Deno.test("strings of every length around the 64-octet pieces decode whole, every octet, both codings", () => {
  for (const huffman of [true, false]) {
    const d = new HpackDecoder();
    for (const n of [0, 1, 12, 13, 63, 64, 65, 127, 128, 129, 256, 300]) {
      const value = String.fromCharCode(...Array.from({ length: n }, (_, i) => (i * 37 + n) % 256));
      const block = new TestEncoder().encode([{ name: `x-${n}`, value, huffman }]);
      assert.deepEqual(d.decode(block), [[`x-${n}`, value]], `${n} octets, huffman ${huffman}`);
    }
  }
});

// --- against a peer's encoder with a dynamic table ---

const requests = (i: number): JsField[] => [
  { name: ":method", value: "POST" },
  { name: ":scheme", value: "http" },
  { name: ":path", value: i % 3 === 0 ? "/etcdserverpb.KV/Put" : `/etcdserverpb.KV/Range${i % 5}` },
  { name: ":authority", value: "127.0.0.1:2379" },
  { name: "content-type", value: "application/grpc" },
  { name: "grpc-timeout", value: `${4_000_000 + i * 7919}u` },
  { name: `x-custom-${i % 7}`, value: "v".repeat(i % 40) },
  { name: "user-agent", value: "grpc-go/1.58.3" },
];

for (const huffman of [true, false]) {
  Deno.test(`indexed blocks decode over many requests (huffman ${huffman}, 4096 table)`, () => {
    const c = new TestEncoder(4096);
    const d = new HpackDecoder();
    let sawIndexedDynamic = false;
    for (let i = 0; i < 60; i++) {
      const fields = requests(i).map((f) => ({ ...f, huffman }));
      const block = c.encode(fields);
      // Indexed references past the static table prove the dynamic table is in use.
      if (block.some((b) => b >= 0x80 + 62)) sawIndexedDynamic = true;
      assert.deepEqual(d.decode(block), pairs(fields), `request ${i}`);
    }
    assert.ok(sawIndexedDynamic);
  });

  Deno.test(`indexed blocks decode with a small table that evicts (huffman ${huffman})`, () => {
    const c = new TestEncoder(150);
    const d = new HpackDecoder(150);
    for (let i = 0; i < 200; i++) {
      const fields = requests(i).map((f) => ({ ...f, huffman }));
      assert.deepEqual(d.decode(c.encode(fields)), pairs(fields), `request ${i}`);
    }
  });
}

Deno.test("literals without indexing and never-indexed literals stay out of the table", () => {
  const c = new TestEncoder(4096);
  const d = new HpackDecoder();
  const first: JsField[] = [
    { name: "authorization", value: "secret-token", neverIndex: true },
    { name: "x-once", value: "one", incremental: false },
    { name: "x-kept", value: "kept" },
  ];
  const block = c.encode(first);
  assert.equal(block[0] & 0xf0, 0x10, "never-indexed representation first");
  assert.deepEqual(d.decode(block), pairs(first));
  // Only x-kept entered the table: index 62 is it, 63 is out of range.
  assertTable(d, [["x-kept", "kept"]]);
  const second: JsField[] = [{ name: "x-kept", value: "kept" }, {
    name: "authorization",
    value: "secret-token",
    neverIndex: true,
  }];
  const block2 = c.encode(second);
  assert.equal(block2[0], 0x80 | 62);
  assert.deepEqual(d.decode(block2), pairs(second));
});

Deno.test("a dynamic table size update evicts and later blocks rebuild the table", () => {
  const d = new HpackDecoder();
  // Two literal-with-indexing fields with new names.
  const add = (name: string, value: string) => {
    const n = new TextEncoder().encode(name);
    const v = new TextEncoder().encode(value);
    return [0x40, n.length, ...n, v.length, ...v];
  };
  assert.deepEqual(d.decode(Uint8Array.from([...add("a", "1"), ...add("bb", "22")])), [
    ["a", "1"],
    ["bb", "22"],
  ]);
  assertTable(d, [["bb", "22"], ["a", "1"]]);
  // Entries are 34 ("a"/"1") and 36 ("bb"/"22") octets: a 30-octet table holds neither.
  assert.deepEqual(d.decode(Uint8Array.of(0x20 | 30)), []);
  assertTable(d, []);
  // An entry larger than the limit is not inserted, but the field is still emitted.
  assert.deepEqual(d.decode(Uint8Array.from(add("ccc", "333"))), [["ccc", "333"]]);
  assertTable(d, []);
  // Two updates in a row (0 then 4096: encoded 0x3f e1 1f), then an entry fits again.
  assert.deepEqual(d.decode(Uint8Array.from([0x20, 0x3f, 0xe1, 0x1f, ...add("dd", "4")])), [[
    "dd",
    "4",
  ]]);
  assertTable(d, [["dd", "4"]]);
  // A smaller table keeps the newest entry that still fits.
  d.decode(Uint8Array.from(add("e", "5")));
  assertTable(d, [["e", "5"], ["dd", "4"]]);
  assert.deepEqual(d.decode(Uint8Array.of(0x3f, 0x05)), []); // 36: "e"/"5" (34) stays
  assertTable(d, [["e", "5"]]);
});

Deno.test("a peer's table size updates (0, then 4096) are honoured", () => {
  const c = new TestEncoder(4096);
  const d = new HpackDecoder();
  const fields: JsField[] = [{ name: "x-a", value: "1" }, { name: "x-b", value: "2" }];
  assert.deepEqual(d.decode(c.encode(fields)), pairs(fields));
  c.resize(0, 4096); // evicts everything on both sides
  const block = c.encode(fields);
  assert.equal(block[0], 0x20);
  assert.deepEqual(d.decode(block), pairs(fields));
  assertTable(d, [["x-b", "2"], ["x-a", "1"]]);
});

// --- the header list limit ---

Deno.test("decodeLimited refuses an HPACK bomb yet keeps the table in step", () => {
  const c = new TestEncoder(4096);
  const d = new HpackDecoder();
  const big = "b".repeat(4000);
  // One 4 KiB entry, then 300 one-byte references to it: 1.2 MB from 4 KB.
  const first = c.encode([{ name: "x-big", value: big }]);
  const bomb = Uint8Array.from([...first, ...new Array(300).fill(0x80 | 62)]);
  assert.equal(d.decodeLimited(bomb, 0, bomb.length, 1 << 20), undefined);
  // The entry was still inserted: the peer's next block refers to it.
  const next = c.encode([{ name: "x-big", value: big }, { name: "x-new", value: "n" }]);
  assert.deepEqual(d.decode(next), [["x-big", big], ["x-new", "n"]]);
  assertTable(d, [["x-new", "n"], ["x-big", big]]);
});

Deno.test("decodeLimited: a list exactly at the limit passes, one octet more does not", () => {
  const block = new TestEncoder(0).encode([{ name: "x", value: "y".repeat(100) }]);
  const size = 1 + 100 + 32;
  assert.deepEqual(new HpackDecoder().decodeLimited(block, 0, block.length, size), [[
    "x",
    "y".repeat(100),
  ]]);
  assert.equal(new HpackDecoder().decodeLimited(block, 0, block.length, size - 1), undefined);
});

Deno.test("decode reads only block[start, end)", () => {
  const inner = encodeHeaders([[":status", "200"], ["x-a", "b"]]);
  const buf = Uint8Array.from([0xff, 0xff, ...inner, 0x80]);
  assert.deepEqual(new HpackDecoder().decode(buf, 2, 2 + inner.length), [
    [":status", "200"],
    ["x-a", "b"],
  ]);
  // A literal whose length runs past `end` is truncated even though bytes follow.
  const lit = Uint8Array.from([0x40, 0x01, 0x61, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65]);
  assert.deepEqual(new HpackDecoder().decode(lit), [["a", "abcde"]]);
  assert.throws(() => new HpackDecoder().decode(lit, 0, 6), /truncated/);
});

// --- errors ---

Deno.test("malformed blocks throw HpackError", () => {
  assertHpackError(new HpackDecoder(), Uint8Array.of(0x80), /index 0/);
  assertHpackError(new HpackDecoder(), Uint8Array.of(0x80 | 62), /out of range/);
  assertHpackError(new HpackDecoder(), Uint8Array.of(0xff, 0x80, 0x80, 0x80, 0x80, 0x01));
  // Literal name index out of range.
  assertHpackError(new HpackDecoder(), Uint8Array.of(0x40 | 63, 0x01, 0x61), /out of range/);
  // Truncated: string shorter than its length, integer missing its continuation, no value.
  assertHpackError(new HpackDecoder(), Uint8Array.of(0x40, 0x0a, 0x61), /truncated/);
  assertHpackError(new HpackDecoder(), Uint8Array.of(0xff), /truncated/);
  assertHpackError(new HpackDecoder(), Uint8Array.of(0xff, 0x80), /truncated/);
  assertHpackError(new HpackDecoder(), Uint8Array.of(0x40, 0x01, 0x61), /truncated/);
  assertHpackError(new HpackDecoder(), Uint8Array.of(0x04), /truncated/);
  assertHpackError(new HpackDecoder(), Uint8Array.of(0x44, 0x85, 0x61), /truncated/);
  // Table size update above the announced maximum, and after a field.
  assertHpackError(new HpackDecoder(), Uint8Array.of(0x3f, 0xe2, 0x1f), /above/);
  assertHpackError(new HpackDecoder(256), Uint8Array.of(0x3f, 0xe2, 0x01), /above/);
  assertHpackError(new HpackDecoder(), Uint8Array.of(0x82, 0x20), /after a header field/);
});

Deno.test("bad Huffman padding and EOS throw HpackError", () => {
  // "a" is 00011 in the Huffman code; its literal with proper padding decodes.
  const lit = (...value: number[]) => Uint8Array.of(0x40 | 4, 0x80 | value.length, ...value);
  assert.deepEqual(new HpackDecoder().decode(lit(0x1f)), [[":path", "a"]]);
  // Padding of zero bits instead of ones.
  assertHpackError(new HpackDecoder(), lit(0x18), /padding/);
  assertHpackError(new HpackDecoder(), lit(0x1e), /padding/);
  // Padding longer than 7 bits (a whole extra byte of ones).
  assertHpackError(new HpackDecoder(), lit(0x1f, 0xff), /padding/);
  // "01 " is 5 + 5 + 6 bits, exactly two bytes; a following 0xff is exactly 8 bits of padding.
  assert.deepEqual(new HpackDecoder().decode(lit(0x00, 0x54)), [[":path", "01 "]]);
  assertHpackError(new HpackDecoder(), lit(0x00, 0x54, 0xff), /padding/);
  // The 30-bit EOS symbol inside a string.
  assertHpackError(new HpackDecoder(), lit(0xff, 0xff, 0xff, 0xff), /EOS/);
  assertHpackError(new HpackDecoder(), lit(0x1f, 0xff, 0xff, 0xff, 0xff), /EOS|padding/);
});

// --- encodeHeaders ---

Deno.test("encodeHeaders output decodes to the fields, as octets, without using the table", () => {
  const long = "x".repeat(300); // length needs a multi-byte integer
  const utf8 = "héllo ☃ wörld";
  const fields: Array<[string, string]> = [
    [":status", "200"],
    ["content-type", "application/grpc"],
    ["grpc-status", "0"],
    ["grpc-message", utf8],
    ["X-Not-Static", "Mixed Case Value"],
    ["latin1", "caf\u00e9"],
    ["empty", ""],
    ["long-value", long],
    [":status", "404"],
  ];
  const block = encodeHeaders(fields);
  assert.equal(block[0], 0x88, ":status 200 is static index 8");
  // Octets as latin1: what a decoder returns for UTF-8 bytes on the wire.
  const asOctets = (s: string) => Buffer.from(s, "utf8").toString("latin1");
  const expected: HeaderField[] = [
    [":status", "200"],
    ["content-type", "application/grpc"],
    ["grpc-status", "0"],
    ["grpc-message", asOctets(utf8)],
    ["x-not-static", "Mixed Case Value"],
    ["latin1", "caf\u00e9"],
    ["empty", ""],
    ["long-value", long],
    [":status", "404"],
  ];
  const ours = new HpackDecoder();
  assert.deepEqual(ours.decode(block), expected);
  assert.equal(new TextDecoder().decode(Buffer.from(expected[3][1], "latin1")), utf8);
  // Stateless: nothing entered the decoder's dynamic table.
  assertTable(ours, []);
  // The same block twice decodes the same (no state on either side).
  assert.deepEqual(ours.decode(block), expected);
});

Deno.test("encodeHeaders uses static exact matches, static names and literal names", () => {
  assert.deepEqual([...encodeHeaders([[":method", "GET"]])], [0x82]);
  // content-type is static index 31 (name only): literal without indexing, 4-bit prefix 15+16.
  assert.deepEqual(
    [...encodeHeaders([["content-type", "a"]])],
    [0x0f, 31 - 15, 0x01, 0x61],
  );
  assert.deepEqual([...encodeHeaders([["x", "y"]])], [0x00, 0x01, 0x78, 0x01, 0x79]);
});
