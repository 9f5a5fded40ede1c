/**
 * etcdctl's `lock` and `elect` (clientv3's concurrency package: sessions
 * on leases, ordered keys by create revision, watches for the predecessor's
 * deletion) behave on cairn as on etcd.
 */
import assert from "node:assert/strict";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("concurrency_test.ts");

/** Runs etcdctl in the background (it holds a lock or campaigns until killed or done). */
function background(endpoint: string, args: string[]): { done: Promise<string>; kill(): void } {
  const child = new Deno.Command("etcdctl", {
    args: [`--endpoints=${endpoint}`, ...args],
    env: { ETCDCTL_API: "3" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return {
    done: child.output().then((o) => new TextDecoder().decode(o.stdout)),
    kill: () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
    },
  };
}

async function lockAndElect(kind: "cairn" | "etcd"): Promise<void> {
  const m = await Member.start({ kind });
  try {
    // A second locker waits until the first releases.
    const first = background(m.endpoint, ["lock", "the-lock", "--", "sleep", "1.5"]);
    await sleep(500);
    const t0 = Date.now();
    const second = await etcdctlOk(m.endpoint, ["lock", "the-lock", "--", "echo", "second"], {
      timeoutMs: 15_000,
    });
    const waited = Date.now() - t0;
    await first.done;
    assert.equal(second.trim(), "second", kind);
    assert.ok(waited >= 700, `${kind}: the second locker waited ${waited} ms for the first`);

    // A campaigner becomes leader; `elect -l` observes its proposal.
    const campaign = background(m.endpoint, ["elect", "the-election", "p1"]);
    let observed = "";
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !observed.includes("p1")) {
      await sleep(250);
      observed = await etcdctlOk(m.endpoint, [
        "get",
        "the-election",
        "--prefix",
        "--print-value-only",
      ]);
    }
    campaign.kill();
    await campaign.done;
    assert.match(observed, /p1/, `${kind}: the campaign's proposal is visible`);
  } finally {
    await m.destroy();
  }
}

Deno.test({
  name: "concurrency: etcdctl lock excludes and elect campaigns, on etcd and on cairn",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await lockAndElect("etcd");
    await lockAndElect("cairn");
  },
});
