import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultCairnArgv } from "./cairn_cmd.ts";
import { errorText, makeWorkDir, removeWorkDir, serverSpecs } from "./setup.ts";
import { repoRoot } from "./tools.ts";

Deno.test("serverSpecs: ETCD_CMD and CAIRN_CMD are split on white space", () => {
  const env: Record<string, string> = {
    ETCD_CMD: " /opt/etcd  --log-level error ",
    CAIRN_CMD: "/opt/cairn\t--quiet",
  };
  const s = serverSpecs("/repo", (k) => env[k]);
  assert.deepEqual(s.etcd, { name: "etcd", argv: ["/opt/etcd", "--log-level", "error"] });
  assert.deepEqual(s.cairn, { name: "cairn", argv: ["/opt/cairn", "--quiet"] });
});

Deno.test("serverSpecs: without them, etcd from PATH and cairn as users run it", () => {
  const repo = repoRoot();
  const s = serverSpecs(repo, () => undefined);
  assert.deepEqual(s.etcd.argv, ["etcd"]);
  assert.deepEqual(s.cairn.argv, defaultCairnArgv(repo));
  assert.equal(s.cairn.argv.at(-1), join(repo, "main.ts"));
});

Deno.test("makeWorkDir makes a fresh directory that removeWorkDir removes unless kept", async () => {
  const a = await makeWorkDir("setup-test-");
  const b = await makeWorkDir("setup-test-");
  assert.notEqual(a, b);
  assert.ok((await Deno.stat(a)).isDirectory);
  await Deno.writeTextFile(join(a, "f"), "x");
  await removeWorkDir(a, false);
  await assert.rejects(Deno.stat(a), Deno.errors.NotFound);
  await removeWorkDir(b, true);
  assert.ok((await Deno.stat(b)).isDirectory);
  await Deno.remove(b);
});

Deno.test("errorText gives an Error's message and anything else as text", () => {
  assert.equal(errorText(new Error("boom")), "boom");
  assert.equal(errorText(42), "42");
});
