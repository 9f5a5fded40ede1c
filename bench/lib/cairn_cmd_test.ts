import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  cairnDenoFlags,
  cairnV8Flags,
  defaultCairnArgv,
  makefileDenoFlags,
  makefileV8Flags,
} from "./cairn_cmd.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

Deno.test("makefileV8Flags: reads CAIRN_V8_FLAGS, undefined without it", () => {
  assert.equal(
    makefileV8Flags("X := 1\nCAIRN_V8_FLAGS := --expose-gc,--max-semi-space-size=4\nrun:\n"),
    "--expose-gc,--max-semi-space-size=4",
  );
  assert.equal(makefileV8Flags("run:\n\tdeno run main.ts\n"), undefined);
});

Deno.test("makefileDenoFlags: reads CAIRN_DENO_FLAGS as a list, none without it", () => {
  assert.deepEqual(
    makefileDenoFlags("CAIRN_DENO_FLAGS := --no-code-cache  --cached-only\nrun:\n"),
    ["--no-code-cache", "--cached-only"],
  );
  assert.deepEqual(makefileDenoFlags("CAIRN_DENO_FLAGS :=\nrun:\n"), []);
  assert.deepEqual(makefileDenoFlags("run:\n\tdeno run main.ts\n"), []);
});

Deno.test("the bench, make run and deno task start give cairn the same V8 and Deno flags", () => {
  const flags = cairnV8Flags(repo);
  assert.ok(flags, "the Makefile sets CAIRN_V8_FLAGS");
  assert.ok(flags.includes("--expose-gc"), flags);
  const argv = defaultCairnArgv(repo);
  assert.equal(argv[argv.length - 1], join(repo, "main.ts"));
  assert.ok(argv.includes(`--v8-flags=${flags}`), argv.join(" "));
  // `deno task start` is how deno run users start a member: same flags.
  const tasks = JSON.parse(Deno.readTextFileSync(join(repo, "deno.json"))).tasks;
  assert.ok(
    String(tasks.start).split(/\s+/).includes(`--v8-flags=${flags}`),
    `deno.json start task: ${tasks.start}`,
  );
  const denoFlags = cairnDenoFlags(repo);
  assert.ok(denoFlags.includes("--no-code-cache"), denoFlags.join(" "));
  const makefile = Deno.readTextFileSync(join(repo, "Makefile"));
  for (const f of denoFlags) {
    assert.ok(argv.includes(f), argv.join(" "));
    assert.ok(String(tasks.start).split(/\s+/).includes(f), `deno.json start task: ${tasks.start}`);
  }
  // make run and make build pass them as they pass the V8 flags.
  assert.match(makefile, /run -A \$\(CAIRN_DENO_FLAGS\) --v8-flags=\$\(CAIRN_V8_FLAGS\) main\.ts/);
  assert.match(makefile, /compile -A \$\(CAIRN_DENO_FLAGS\) --v8-flags=\$\(CAIRN_V8_FLAGS\)/);
});
