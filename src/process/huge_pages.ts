/**
 * Transparent huge pages for large buffers that are filled once and kept
 * (a restart's snapshot body, which the store then reads its keys and
 * values from).
 *
 * Why: the first touch of each 4 KiB page of a fresh buffer is a page
 * fault, and on this VM (measured 2026-12-06, Deno 2.9, Linux with THP in
 * `madvise` mode) reading a 256 MB snapshot file from the page cache into
 * a new buffer took 0.9-1.2 s, of which 27 ms was the copy: re-reading
 * into the same, already touched buffer. With `madvise(MADV_HUGEPAGE)` on
 * the buffer first, the kernel maps 2 MiB pages (512 times fewer faults)
 * and the same read took 75-125 ms (600 ms once, the first time, while it
 * compacted memory for them).
 *
 * The advice is best effort: without FFI permission, off glibc Linux, or
 * with THP disabled, nothing happens and the buffer works as before.
 *
 * @module
 */
import { lazyGlibc } from "./glibc.ts";

/** Buffers below this are left alone (a 2 MiB page needs 2 MiB aligned inside the buffer). */
export const HUGE_PAGE_MIN_BYTES = 8 << 20;

const HUGE_PAGE = 2n << 20n;
/** `MADV_HUGEPAGE` from Linux's mman-common.h. */
const MADV_HUGEPAGE = 14;

const LIBC_SYMBOLS = {
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
} as const;

/** Without FFI permission or glibc: 4 KiB pages, as without this module. */
const openLibc = lazyGlibc(LIBC_SYMBOLS);

/**
 * Advises the kernel to back the 2 MiB-aligned part of `buf` with huge
 * pages. Call it on a fresh buffer before the first write into it (pages
 * already touched stay small). Returns whether the advice was taken.
 */
export function adviseHugePages(buf: Uint8Array): boolean {
  if (buf.byteLength < HUGE_PAGE_MIN_BYTES) return false;
  const lib = openLibc();
  if (lib === null) return false;
  const ptr = Deno.UnsafePointer.of(buf);
  if (ptr === null) return false;
  const at = BigInt(Deno.UnsafePointer.value(ptr));
  const start = (at + HUGE_PAGE - 1n) / HUGE_PAGE * HUGE_PAGE;
  const end = (at + BigInt(buf.byteLength)) / HUGE_PAGE * HUGE_PAGE;
  if (end <= start) return false;
  return lib.symbols.madvise(Deno.UnsafePointer.create(start), end - start, MADV_HUGEPAGE) === 0;
}
