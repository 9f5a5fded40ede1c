/**
 * How the benchmarks start cairn when CAIRN_CMD does not say: `deno run`
 * with the Deno and V8 flags the shipped executable is compiled with (the
 * Makefile's CAIRN_DENO_FLAGS and CAIRN_V8_FLAGS, also `make run`'s and
 * `deno task start`'s),
 * so a bench row measures cairn as users run it. The young-generation cap
 * among them sets the length of every scavenge pause, which is most of
 * the put tail at 100 clients (bench/NOTES.md, put tail notes).
 *
 * @module
 */
import { join } from "node:path";

/**
 * The value of `CAIRN_V8_FLAGS := ...` in a Makefile's text (comma-separated
 * V8 flags), or undefined when it sets none.
 */
export function makefileV8Flags(makefile: string): string | undefined {
  const m = /^CAIRN_V8_FLAGS\s*:?=\s*(\S+)\s*$/m.exec(makefile);
  return m?.[1];
}

/** The repository's CAIRN_V8_FLAGS (undefined when the Makefile sets none). */
export function cairnV8Flags(repo: string): string | undefined {
  return makefileV8Flags(Deno.readTextFileSync(join(repo, "Makefile")));
}

/**
 * The Deno flags in `CAIRN_DENO_FLAGS := ...` of a Makefile's text
 * (space-separated, e.g. `--no-code-cache`); none when it sets none.
 */
export function makefileDenoFlags(makefile: string): string[] {
  const m = /^CAIRN_DENO_FLAGS\s*:?=[ \t]*(.*)$/m.exec(makefile);
  return m ? m[1].trim().split(/\s+/).filter((f) => f !== "") : [];
}

/** The repository's CAIRN_DENO_FLAGS. */
export function cairnDenoFlags(repo: string): string[] {
  return makefileDenoFlags(Deno.readTextFileSync(join(repo, "Makefile")));
}

/**
 * The default command line of a cairn member, as `make run` starts it:
 * `deno run -A [CAIRN_DENO_FLAGS] [--v8-flags=CAIRN_V8_FLAGS] main.ts`.
 */
export function defaultCairnArgv(repo: string): string[] {
  const flags = cairnV8Flags(repo);
  return [
    Deno.execPath(),
    "run",
    "-A",
    ...cairnDenoFlags(repo),
    ...(flags ? [`--v8-flags=${flags}`] : []),
    join(repo, "main.ts"),
  ];
}
