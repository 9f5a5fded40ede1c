import assert from "node:assert/strict";
import HpackCompressor from "hpack.js/lib/hpack/compressor.js";
import HpackDecompressor from "hpack.js/lib/hpack/decompressor.js";
import { rewriteAuthority, sameLengthAuthority } from "./authority_rewrite.ts";

interface Header {
  name: string;
  value: string;
}

function encode(headers: Header[], compressor = HpackCompressor.create({ table: { size: 4096 } })) {
  compressor.write(headers.map((h) => ({ ...h, huffman: true })));
  const chunks: Uint8Array[] = [];
  let chunk;
  while ((chunk = compressor.read())) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function decode(
  block: Uint8Array,
  decompressor = HpackDecompressor.create({ table: { size: 4096 } }),
) {
  decompressor.write(Buffer.from(block));
  decompressor.execute();
  const out: Header[] = [];
  let h;
  while ((h = decompressor.read())) out.push({ name: h.name, value: h.value });
  return out;
}

const request = (authority: string): Header[] => [
  { name: ":method", value: "POST" },
  { name: ":scheme", value: "http" },
  { name: ":path", value: "/etcdserverpb.Maintenance/Status" },
  { name: ":authority", value: authority },
  { name: "content-type", value: "application/grpc" },
  { name: "grpc-timeout", value: "4995636u" },
];

Deno.test("an authority with a scheme is rewritten to a valid one of the same length", () => {
  assert.equal(sameLengthAuthority("http://127.0.0.1:2379"), "http---127.0.0.1:2379");
  assert.equal(sameLengthAuthority("127.0.0.1:2379"), undefined);
  const block = encode(request("http://127.0.0.1:2379"));
  const rewritten = rewriteAuthority(block);
  assert.ok(rewritten);
  const headers = decode(rewritten);
  assert.deepEqual(headers, request("http---127.0.0.1:2379"));
});

Deno.test("blocks without such an authority are left alone", () => {
  assert.equal(rewriteAuthority(encode(request("127.0.0.1:2379"))), undefined);
});

Deno.test("dynamic tables stay in step over many requests with changing headers", () => {
  const compressor = HpackCompressor.create({ table: { size: 256 } });
  const decompressor = HpackDecompressor.create({ table: { size: 256 } });
  for (let i = 0; i < 200; i++) {
    const sent = request("http://127.0.0.1:2379").map((h) =>
      h.name === "grpc-timeout" ? { ...h, value: `${4_000_000 + i * 7919}u` } : h
    );
    const block = encode(sent, compressor);
    const seen = decode(rewriteAuthority(block) ?? block, decompressor);
    assert.deepEqual(
      seen,
      sent.map((h) => h.name === ":authority" ? { ...h, value: "http---127.0.0.1:2379" } : h),
      `request ${i}`,
    );
  }
});
