import assert from "node:assert/strict";
import {
  binToParam,
  fromBin,
  hexDump,
  idHex,
  leaseHex,
  paramToBin,
  parseHex,
  prefixEnd,
  toBin,
  viewValue,
} from "./bytes.ts";

Deno.test("bytes: binary strings round-trip every byte and sort in byte order", () => {
  const all = new Uint8Array(256).map((_, i) => i);
  assert.deepEqual(fromBin(toBin(all)), all);
  const a = toBin(new Uint8Array([0x61, 0xff]));
  const b = toBin(new Uint8Array([0x62]));
  assert.ok(a < b);
});

Deno.test("bytes: prefixEnd matches clientv3's GetPrefixRangeEnd", () => {
  assert.equal(prefixEnd("a/"), "a0");
  assert.equal(prefixEnd("a\xff"), "b");
  assert.equal(prefixEnd("\xff\xff"), "\0");
  assert.equal(prefixEnd(""), "\0");
});

Deno.test("bytes: values are classified as JSON, text or binary", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(viewValue(new Uint8Array()).kind, "empty");
  const json = viewValue(enc('{"a":[1,2]}'));
  assert.equal(json.kind, "json");
  assert.equal(json.display, '{\n  "a": [\n    1,\n    2\n  ]\n}');
  assert.equal(viewValue(enc("hello\nwörld\t!")).kind, "text");
  assert.equal(viewValue(enc("{not json")).kind, "text");
  assert.equal(viewValue(enc("42")).kind, "text");
  assert.equal(viewValue(new Uint8Array([0xc3, 0x28])).kind, "binary");
  assert.equal(viewValue(enc("a\u0001b")).kind, "binary");
});

Deno.test("bytes: hex dump and hex parsing", () => {
  const dump = hexDump(new Uint8Array([0, 0x41, 0xff]));
  assert.equal(dump, "00000000  00 41 ff" + " ".repeat(39) + "  .A.");
  assert.deepEqual(parseHex("00 41ff"), new Uint8Array([0, 0x41, 0xff]));
  assert.equal(parseHex("0"), undefined);
  assert.equal(parseHex("zz"), undefined);
});

Deno.test("bytes: URL parameters keep non-UTF-8 keys and read like encodeURIComponent", () => {
  const key = toBin(new TextEncoder().encode("dir/ä b"));
  assert.equal(binToParam(key), "dir/%C3%A4%20b");
  assert.equal(paramToBin(binToParam(key)), key);
  const raw = "\xff\x00/x";
  assert.equal(paramToBin(binToParam(raw)), raw);
});

Deno.test("bytes: ids print as etcdctl's unsigned hex", () => {
  assert.equal(idHex(0x694d7f3e1a2b3c4dn), "694d7f3e1a2b3c4d");
  assert.equal(idHex(-1n), "ffffffffffffffff");
  // Member ids are unpadded (`member list`), lease ids 16 digits (`lease grant`).
  assert.equal(idHex(0x0d4ba24caa3e9601n), "d4ba24caa3e9601");
  assert.equal(leaseHex(0x0d4ba24caa3e9601n), "0d4ba24caa3e9601");
  assert.equal(leaseHex(0x694d7f3e1a2b3c4dn), "694d7f3e1a2b3c4d");
  assert.equal(leaseHex(1n), "0000000000000001");
  assert.equal(leaseHex(-1n), "ffffffffffffffff");
});
