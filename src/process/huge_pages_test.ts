import assert from "node:assert/strict";
import { adviseHugePages, HUGE_PAGE_MIN_BYTES } from "./huge_pages.ts";

/** Kilobytes of anonymous huge pages this process maps now. */
function anonHugeKiB(): number {
  const m = /AnonHugePages:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/smaps_rollup"));
  return m ? Number(m[1]) : 0;
}

function thpMode(): string {
  try {
    return /\[(\w+)\]/.exec(Deno.readTextFileSync("/sys/kernel/mm/transparent_hugepage/enabled"))
      ?.[1] ?? "never";
  } catch {
    return "never";
  }
}

Deno.test("a small buffer is left alone", () => {
  assert.equal(adviseHugePages(new Uint8Array(HUGE_PAGE_MIN_BYTES - 1)), false);
});

Deno.test({
  name: "a large buffer advised before it is filled is backed by huge pages",
  ignore: Deno.build.os !== "linux" || thpMode() === "never",
  fn() {
    const before = anonHugeKiB();
    const buf = new Uint8Array(64 << 20);
    assert.equal(adviseHugePages(buf), true);
    buf.fill(7);
    // At least half of the 62 MiB aligned inside it (the kernel may not
    // find a free 2 MiB page for every one).
    assert.ok(anonHugeKiB() - before >= 31 * 1024, `${anonHugeKiB() - before} KiB of huge pages`);
    assert.equal(buf[buf.length - 1], 7);
  },
});
