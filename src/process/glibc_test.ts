import assert from "node:assert/strict";
import { lazyGlibc, openGlibc } from "./glibc.ts";

const SYMBOLS = { getpid: { parameters: [], result: "i32" } } as const;

Deno.test("glibc: opened with the caller's symbols, once when lazy", () => {
  const lib = openGlibc(SYMBOLS);
  assert.ok(lib !== null, "glibc Linux with FFI allowed");
  try {
    assert.equal(lib.symbols.getpid(), Deno.pid);
  } finally {
    lib.close();
  }
  const get = lazyGlibc(SYMBOLS);
  const first = get();
  assert.ok(first !== null);
  assert.equal(get(), first, "the same library every time");
  first.close();
});
