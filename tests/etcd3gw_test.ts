/**
 * A real JSON-gateway client against cairn: Debian's `python3-etcd3gw`
 * (the etcd3 client of OpenStack) runs its KV, lease, watch and lock calls
 * on a cairn member, as an OpenStack service would. The package is
 * installed with apt-get when missing (bounded); without it, and without
 * the means to install it, the test is skipped with the reason.
 */

import assert from "node:assert/strict";
import { Member } from "./harness/member.ts";
import { which } from "./harness/tools.ts";

/** Debian's interpreter, where Debian's python3-* packages are importable. */
const PYTHON = "/usr/bin/python3";
const INSTALL_TIMEOUT_MS = 300_000;
const SCRIPT_TIMEOUT_MS = 60_000;

async function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { DEBIAN_FRONTEND: "noninteractive" },
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (err) {
    return { code: -1, stdout: "", stderr: String(err) };
  }
}

async function hasEtcd3gw(): Promise<boolean> {
  if (which(PYTHON) === undefined) return false;
  return (await run(PYTHON, ["-c", "import etcd3gw"], 30_000)).code === 0;
}

/** Why the test cannot run, or undefined once etcd3gw is importable. */
async function ensureEtcd3gw(): Promise<string | undefined> {
  if (await hasEtcd3gw()) return undefined;
  const sudo = Deno.uid() === 0 ? [] : which("sudo") ? ["sudo", "-n"] : undefined;
  if (!sudo) return "python3-etcd3gw is missing and cannot be installed (not root, no sudo)";
  const [cmd, ...pre] = [...sudo, "apt-get"];
  const install = () =>
    run(cmd, [...pre, "install", "-y", "-qq", "python3-etcd3gw"], INSTALL_TIMEOUT_MS);
  if ((await install()).code !== 0) {
    await run(cmd, [...pre, "update", "-qq"], INSTALL_TIMEOUT_MS);
    const second = await install();
    if (second.code !== 0) return `apt-get install python3-etcd3gw failed: ${second.stderr.trim()}`;
  }
  return (await hasEtcd3gw()) ? undefined : "python3-etcd3gw installed but not importable";
}

const missing = await ensureEtcd3gw();
if (missing) console.warn(`etcd3gw_test.ts: skipping: ${missing}`);

/** The client program: every call's outcome, as JSON on stdout. */
const SCRIPT = `
import json, sys, threading
from etcd3gw.client import Etcd3Client
from etcd3gw.utils import _encode

c = Etcd3Client(host="127.0.0.1", port=int(sys.argv[1]), api_path="/v3/", timeout=10)
r = {}
r["status_has_version"] = "version" in c.status()
r["members"] = [m["name"] for m in c.members()]

# KV
r["put"] = c.put("foo", "bar")
r["get"] = [v.decode() for v in c.get("foo")]
c.put("dir/a", "1")
c.put("dir/b", "2")
r["prefix"] = [[v.decode(), m["key"].decode()] for v, m in c.get_prefix("dir/")]
r["create"] = c.create("fresh", "v")
r["create_again"] = c.create("fresh", "w")
r["replace"] = c.replace("foo", "bar", "baz")
r["replace_stale"] = c.replace("foo", "bar", "qux")
r["after_replace"] = [v.decode() for v in c.get("foo")]
r["delete"] = c.delete("foo")
r["delete_missing"] = c.delete("foo")
r["deleted_prefix"] = c.delete_prefix("dir/")
r["prefix_after"] = c.get_prefix("dir/")

# Leases: ids are 63-bit numbers in the JSON etcd3gw sends.
lease = c.lease(30)
r["lease_ttl"] = lease.ttl()
c.put("leased", "x", lease=lease)
r["lease_keys"] = [k.decode() for k in lease.keys()]
r["refresh"] = lease.refresh()
r["create_with_lease"] = c.create("leased2", "y", lease=lease)
r["revoke"] = lease.revoke()
r["leased_after"] = c.get("leased") + c.get("leased2")

# Watch from the next revision, so events made before the stream is up still arrive.
rev = int(c.post(c.get_url("/kv/range"), json={"key": _encode("x")})["header"]["revision"])
events, cancel = c.watch("wkey", start_revision=rev + 1)
got = []
def consume():
    for e in events:
        got.append(e)
        if len(got) == 3:
            return
t = threading.Thread(target=consume, daemon=True)
t.start()
c.put("wkey", "v1")
c.put("wkey", "v2")
c.delete("wkey")
t.join(15)
cancel()
r["watch"] = [[e.get("type", "PUT"), e["kv"]["key"].decode(), e["kv"].get("value", b"").decode()]
              for e in got]
pevents, pcancel = c.watch_prefix("wp/", start_revision=rev + 1)
c.put("wp/1", "a")
first = next(pevents)
pcancel()
r["watch_prefix"] = [first["kv"]["key"].decode(), first["kv"]["value"].decode()]

# Locks: a transaction on a key with a lease.
lk = c.lock("mylock", ttl=30)
r["lock_acquire"] = lk.acquire()
other = c.lock("mylock", ttl=30)
r["lock_other"] = other.acquire()
r["lock_is_acquired"] = lk.is_acquired()
r["lock_refresh"] = lk.refresh()
r["lock_release"] = lk.release()
r["lock_other_after"] = other.acquire()
r["lock_other_release"] = other.release()
with c.lock("ctx", ttl=30) as held:
    r["lock_context"] = held.is_acquired()

print(json.dumps(r))
`;

Deno.test({
  name: "etcd3gw (python3-etcd3gw): KV, lease, watch and lock calls against cairn",
  ignore: missing !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const member = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
    const dir = await Deno.makeTempDir({ prefix: "cairn-etcd3gw-" });
    try {
      const script = `${dir}/client.py`;
      await Deno.writeTextFile(script, SCRIPT);
      const out = await run(PYTHON, [script, String(member.clientPort)], SCRIPT_TIMEOUT_MS);
      assert.equal(
        out.code,
        0,
        `etcd3gw client failed:\n${out.stderr}\n${await member.stderrTail()}`,
      );
      const r = JSON.parse(out.stdout);
      assert.equal(r.status_has_version, true);
      assert.deepEqual(r.members, ["m1"]);
      assert.equal(r.put, true);
      assert.deepEqual(r.get, ["bar"]);
      assert.deepEqual(r.prefix, [["1", "dir/a"], ["2", "dir/b"]]);
      assert.equal(r.create, true);
      assert.equal(r.create_again, false);
      assert.equal(r.replace, true);
      assert.equal(r.replace_stale, false);
      assert.deepEqual(r.after_replace, ["baz"]);
      assert.equal(r.delete, true);
      assert.equal(r.delete_missing, false);
      assert.equal(r.deleted_prefix, true);
      assert.deepEqual(r.prefix_after, []);
      assert.ok(r.lease_ttl >= 28 && r.lease_ttl <= 30, `lease ttl ${r.lease_ttl}`);
      assert.deepEqual(r.lease_keys, ["leased"]);
      assert.equal(r.refresh, 30);
      assert.equal(r.create_with_lease, true);
      assert.equal(r.revoke, true);
      assert.deepEqual(r.leased_after, []);
      assert.deepEqual(r.watch, [["PUT", "wkey", "v1"], ["PUT", "wkey", "v2"], [
        "DELETE",
        "wkey",
        "",
      ]]);
      assert.deepEqual(r.watch_prefix, ["wp/1", "a"]);
      assert.equal(r.lock_acquire, true);
      assert.equal(r.lock_other, false);
      assert.equal(r.lock_is_acquired, true);
      assert.equal(r.lock_refresh, 30);
      assert.equal(r.lock_release, true);
      assert.equal(r.lock_other_after, true);
      assert.equal(r.lock_other_release, true);
      assert.equal(r.lock_context, true);
    } finally {
      await member.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
