/**
 * The published client module (deno.json's `./client` export,
 * src/client/mod.ts) bundles for the browser into one file that pulls in
 * no Deno or Node built-ins, and the bundle, imported as a web page would,
 * makes working clients: a Connect-Web client built from the bundle talks
 * to a real member.
 */

import assert from "node:assert/strict";
import { createConnectTransport } from "@connectrpc/connect-web";
import { Member } from "./harness/member.ts";
import { REPO_ROOT } from "./harness/tools.ts";

Deno.test({
  name: "client module: bundles for the browser and its clients work",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cairn-client-bundle-" });
    try {
      const config = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/deno.json`));
      assert.equal(config.exports["./client"], "./src/client/mod.ts");
      const out = `${dir}/cairn-client.js`;
      const bundle = await new Deno.Command(Deno.execPath(), {
        args: ["bundle", "--platform", "browser", "-o", out, `${REPO_ROOT}/src/client/mod.ts`],
        cwd: REPO_ROOT,
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(120_000),
      }).output();
      assert.equal(bundle.code, 0, new TextDecoder().decode(bundle.stderr));
      const code = await Deno.readTextFile(out);
      assert.doesNotMatch(
        code,
        /from\s*["'](node|ext|jsr|npm):/,
        "no runtime built-ins in the bundle",
      );
      const mod = await import(`file://${out}`);
      for (
        const name of [
          "KV",
          "Watch",
          "Lease",
          "Cluster",
          "Maintenance",
          "Auth",
          "Lock",
          "Election",
          "Streams",
        ]
      ) {
        assert.ok(mod[name]?.typeName, `${name} is exported`);
      }
      const member = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
      try {
        const cairn = mod.cairnClients(createConnectTransport({ baseUrl: member.clientUrl }));
        const key = new TextEncoder().encode("bundled");
        await cairn.kv.put({ key, value: new TextEncoder().encode("yes") });
        const got = await cairn.kv.range({ key });
        assert.equal(new TextDecoder().decode(got.kvs[0].value), "yes");
        const status = await cairn.maintenance.status({});
        assert.ok(status.version.length > 0);
      } finally {
        await member.destroy();
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
