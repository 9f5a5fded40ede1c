/**
 * Differential tests of authentication and RBAC: every etcdctl `user`,
 * `role` and `auth` command, and `--user`/`--password` access to keys,
 * txns, watches and leases, run against etcd 3.4 and cairn with outputs
 * compared after normalisation. One pair serves the whole file; the tests
 * run in order (users, then roles, then enabling auth, then access).
 *
 * Left out on purpose: what etcd 3.4.23 allows but etcd 3.5.33 (and cairn)
 * refuse — Status, MemberList and LeaseGrant without credentials, a
 * keep-alive without WRITE on the lease's keys, LeaseLeases and Compact by
 * non-root users. tests/auth_cve_test.ts covers those.
 */

import { ctl, Pair, type Step } from "./harness/compare.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("auth_etcdctl_test.ts");

let shared: Promise<Pair> | undefined;

function pair(): Promise<Pair> {
  shared ??= Pair.start(["--log-level=warn"]);
  return shared;
}

function differential(name: string, steps: Step[]): void {
  Deno.test({
    name,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await (await pair()).compare(steps);
    },
  });
}

const ROOT = "--user=root:rootpw";
const ALICE = "--user=alice:alicepw";
const BOB = ["--user=bob", "--password=bobpw"];

differential("user: add, get, list, passwd, delete and their errors (auth off)", [
  ctl("user", "list"),
  ctl("user", "add", "alice:alicepw"),
  ctl("user", "add", "alice:again"),
  ctl("user", "add", "bob", "--new-user-password=bobpw"),
  ctl("user", "add", "carol", "--no-password"),
  ctl("user", "add", "dave:davepw"),
  ctl("user", "list"),
  ctl("user", "list", "-w=json"),
  ctl("user", "get", "alice"),
  ctl("user", "get", "nobody"),
  { args: ["user", "passwd", "dave", "--interactive=false"], stdin: "davepw2\n" },
  { args: ["user", "passwd", "nobody", "--interactive=false"], stdin: "x\n" },
  ctl("user", "delete", "dave"),
  ctl("user", "delete", "dave"),
  ctl("user", "list"),
]);

differential("role: add, grant and revoke permissions, get, list, delete (auth off)", [
  ctl("role", "list"),
  ctl("role", "add", "reader"),
  ctl("role", "add", "reader"),
  ctl("role", "add", "writer"),
  ctl("role", "add", "tmp"),
  ctl("role", "grant-permission", "reader", "read", "foo", "--prefix=true"),
  ctl("role", "grant-permission", "reader", "read", "single"),
  ctl("role", "grant-permission", "reader", "readwrite", "r1", "r5"),
  ctl("role", "grant-permission", "reader", "read", "z", "--from-key"),
  ctl("role", "grant-permission", "writer", "write", "foo", "--prefix=true"),
  ctl("role", "grant-permission", "writer", "readwrite", "w/", "--prefix=true"),
  ctl("role", "grant-permission", "nosuch", "read", "foo"),
  ctl("role", "grant-permission", "tmp", "readwrite", "t"),
  ctl("role", "grant-permission", "tmp", "write", "t"),
  ctl("role", "get", "reader"),
  ctl("role", "get", "writer"),
  ctl("role", "get", "tmp"),
  ctl("role", "get", "nosuch"),
  ctl("role", "revoke-permission", "tmp", "t"),
  ctl("role", "revoke-permission", "tmp", "t"),
  ctl("role", "revoke-permission", "reader", "r1", "r5"),
  ctl("role", "grant-permission", "reader", "readwrite", "r1", "r5"),
  ctl("role", "list"),
  ctl("role", "list", "-w=json"),
  ctl("role", "delete", "tmp"),
  ctl("role", "delete", "tmp"),
  ctl("user", "grant-role", "alice", "reader"),
  ctl("user", "grant-role", "alice", "reader"),
  ctl("user", "grant-role", "alice", "nosuch"),
  ctl("user", "grant-role", "nobody", "reader"),
  ctl("user", "grant-role", "bob", "writer"),
  ctl("user", "grant-role", "carol", "reader"),
  ctl("user", "revoke-role", "carol", "reader"),
  ctl("user", "revoke-role", "carol", "reader"),
  ctl("user", "get", "alice"),
  ctl("user", "get", "bob", "--detail"),
]);

differential("auth enable: refused without root, then on; root cannot be removed", [
  ctl("put", "foo1", "before"),
  ctl("put", "single", "s"),
  ctl("auth", "enable"),
  ctl("user", "add", "root:rootpw"),
  // etcdctl grants the root role itself when the server says root lacks it.
  ctl("auth", "enable"),
  ctl("auth", "enable", ROOT),
  ctl("get", "foo1"),
  ctl("user", "list"),
  ctl("user", "list", ROOT),
  ctl("user", "delete", "root", ROOT),
  ctl("user", "revoke-role", "root", "root", ROOT),
  ctl("role", "delete", "root", ROOT),
  ctl("user", "get", "root", ROOT),
  ctl("get", "foo1", "--user=root:wrong"),
  ctl("get", "foo1", "--user=nobody:x"),
  ctl("get", "foo1", "--user=carol:x"),
]);

differential("access: keys by permission, for each user", [
  ctl("get", "foo1", ALICE),
  ctl("get", "foo", "--prefix", ALICE),
  ctl("get", "fo", "--prefix", ALICE),
  ctl("get", "single", ALICE),
  ctl("get", "single", "--prefix", ALICE),
  ctl("get", "r2", "r4", ALICE),
  ctl("get", "r2", "r6", ALICE),
  ctl("get", "z", "--from-key", ALICE),
  ctl("get", "y", "--from-key", ALICE),
  ctl("put", "foo1", "x", ALICE),
  ctl("put", "r3", "x", ALICE),
  ctl("put", "foo2", "by-bob", ...BOB),
  ctl("put", "foo2", "by-bob2", "--prev-kv", ...BOB),
  ctl("get", "foo2", ...BOB),
  ctl("put", "w/1", "x", "--prev-kv", ...BOB),
  ctl("del", "foo2", ...BOB),
  ctl("del", "foo", "--prefix", ...BOB),
  ctl("del", "foo", "--prefix", "--prev-kv", ...BOB),
  ctl("del", "r3", ALICE),
  ctl("get", "", "--prefix", "--keys-only", ROOT),
  // Refused watches end at once: created and canceled with the reason.
  ctl("watch", "foo", "--prefix", ...BOB),
  ctl("watch", "single", "--prefix", ALICE),
  ctl("watch", "y", "--from-key", ALICE),
  ctl("watch", "foo1", "--user=root:wrong"),
  ctl("user", "get", "alice", ALICE),
  ctl("user", "get", "bob", ALICE),
  ctl("role", "get", "reader", ALICE),
  ctl("role", "get", "writer", ALICE),
  ctl("role", "list", ALICE),
  ctl("user", "add", "eve:evepw", ALICE),
  { args: ["user", "passwd", "alice", "--interactive=false", ALICE], stdin: "x\n" },
]);

differential("access: txns check every compare and every op of both branches", [
  {
    args: ["txn", ROOT],
    stdin: ['value("foo1") = "before"\n\n', "put r2 ok\n\n", "put r4 no\n\n"],
  },
  { args: ["txn", ALICE], stdin: ['value("r2") = "ok"\n\n', "get r2\n\n", "get r4\n\n"] },
  { args: ["txn", ALICE], stdin: ['value("r2") = "ok"\n\n', "put r2 x\n\n", "get foo1\n\n"] },
  { args: ["txn", ALICE], stdin: ['value("r2") = "ok"\n\n', "get r2\n\n", "put x x\n\n"] },
  { args: ["txn", ALICE], stdin: ['value("secret") = "x"\n\n', "get r2\n\n", "get r2\n\n"] },
  { args: ["txn", ...BOB], stdin: ['value("w/1") = "x"\n\n', "put foo9 y\n\n", "\n"] },
  { args: ["txn", ...BOB], stdin: ['value("foo1") = "x"\n\n', "put w/2 y\n\n", "\n"] },
  { args: ["txn", ...BOB], stdin: ["\n", "del w/ --prefix\n\n", "\n"] },
]);

differential("access: leases as an ordinary user", [
  { args: ["lease", "grant", "600", ALICE], capture: { lease: /lease ([0-9a-f]+) granted/ } },
  ctl("put", "r2", "leased", "--lease=${lease}", ALICE),
  ctl("lease", "timetolive", "${lease}", ALICE),
  ctl("lease", "revoke", "${lease}", ...BOB),
  ctl("lease", "keep-alive", "--once", "${lease}", ALICE),
  ctl("lease", "revoke", "${lease}", ALICE),
  ctl("get", "r2", ALICE),
]);

differential("auth disable: only by root; then everything is open again", [
  ctl("auth", "disable", ALICE),
  ctl("auth", "disable"),
  ctl("auth", "disable", ROOT),
  ctl("get", "foo1"),
  ctl("put", "after", "x"),
  ctl("user", "list"),
  ctl("role", "list"),
  ctl("user", "delete", "root"),
  ctl("role", "delete", "root"),
  ctl("user", "list"),
]);

Deno.test({
  name: "auth etcdctl: stop the pair",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    if (shared) await (await shared).destroy();
  },
});
