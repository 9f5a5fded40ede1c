import assert from "node:assert/strict";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { ProtoWriter } from "./proto_writer.ts";

Deno.test("ProtoWriter writes the fields protobuf-es writes, skipping proto3 defaults", () => {
  const w = new ProtoWriter(4); // small, so every write has to grow it
  w.uint64Field(1, 0n);
  w.uint64Field(2, 0x8e0d1a2b3c4d5e6fn);
  w.uint64Field(3, -1n);
  w.boolField(4, false);
  w.boolField(5, true);
  w.bytesField(6, new Uint8Array(0));
  w.bytesField(7, new Uint8Array(300).fill(7));
  const ref = new BinaryWriter();
  ref.tag(2, 0).uint64(0x8e0d1a2b3c4d5e6fn);
  ref.tag(3, 0).int64(-1n);
  ref.tag(5, 0).bool(true);
  ref.tag(7, 2).bytes(new Uint8Array(300).fill(7));
  assert.deepEqual(w.finish(), ref.finish());
});

Deno.test("ProtoWriter.message moves bodies whose length takes more than one byte", () => {
  for (const size of [0, 1, 127, 128, 16383, 16384, 70000]) {
    const body = new Uint8Array(size).fill(9);
    const w = new ProtoWriter(8);
    w.uint64Field(1, 42n);
    w.message(30, (b) => b.bytes(body));
    w.boolField(2, true);
    const ref = new BinaryWriter();
    ref.tag(1, 0).uint64(42n);
    ref.tag(30, 2).bytes(body);
    ref.tag(2, 0).bool(true);
    assert.deepEqual(w.finish(), ref.finish(), `body of ${size} bytes`);
  }
});
