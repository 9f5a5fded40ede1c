/**
 * glibc's C library through Deno's FFI, for the few process-level calls
 * cairn makes (madvise, memset off-thread, malloc_trim). Each caller
 * declares its own symbols; every one of them treats the library as
 * optional and works without it, only less well.
 *
 * @module
 */

/**
 * Opens glibc with `symbols`, or returns null off glibc Linux or without
 * FFI permission.
 */
export function openGlibc<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S> | null {
  if (Deno.build.os !== "linux" || Deno.build.env === "musl") return null;
  try {
    return Deno.dlopen("libc.so.6", symbols);
  } catch {
    return null;
  }
}

/** {@link openGlibc} on first use, then the same library (or null) every time. */
export function lazyGlibc<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): () => Deno.DynamicLibrary<S> | null {
  let lib: Deno.DynamicLibrary<S> | null | undefined;
  return () => {
    if (lib === undefined) lib = openGlibc(symbols);
    return lib;
  };
}
