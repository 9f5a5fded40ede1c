/**
 * Differential tests: the same etcdctl scripts against etcd 3.4 and cairn,
 * outputs compared after normalisation. One etcd and one cairn are shared by
 * every test in this file; the tests run in order, so revisions stay aligned
 * on both sides and are compared exactly.
 */

import { ctl, Pair, type Step } from "./harness/compare.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("etcdctl_kv_test.ts");

// Small limits so the error paths are reachable with tiny requests.
const MAX_REQUEST_BYTES = 4096;
const MAX_TXN_OPS = 8;

let shared: Promise<Pair> | undefined;

/** The pair shared by this file, started on first use. */
function pair(): Promise<Pair> {
  shared ??= Pair.start([
    `--max-request-bytes=${MAX_REQUEST_BYTES}`,
    `--max-txn-ops=${MAX_TXN_OPS}`,
    "--log-level=warn",
  ]);
  return shared;
}

/** Registers a differential test case running `steps` on the shared pair. */
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

const FORMATS = ["simple", "json", "fields"];

/** The same arguments in each output format. */
function everyFormat(...args: string[]): Step[] {
  return FORMATS.map((w) => ctl(...args, `-w=${w}`));
}

differential("put: plain, --prev-kv, json and fields output", [
  ...everyFormat("put", "k1", "v1"),
  ctl("put", "k1", "v1b", "--prev-kv"),
  ...everyFormat("put", "k1", "v1c", "--prev-kv"),
  ctl("put", "k2", "v2"),
  ctl("put", "k3", "v3"),
  ctl("put", "k4", "v4"),
  ctl("put", "ka", "va"),
  ctl("put", "l1", "x"),
  ctl("put", "m1", "y"),
  ctl("put", "k2", "v2b"),
  ctl("put", "k3", "v3b"),
  ctl("put", "k3", "v3c"),
  ctl("put", "spaced key", "a value with spaces"),
  ctl("put", "k5", "--", "-dash-value"),
]);

differential("get: ranges, limits, sorting and projections", [
  ...everyFormat("get", "k1"),
  ...everyFormat("get", "k1", "k3"),
  ...everyFormat("get", "k", "--prefix"),
  ...everyFormat("get", "k", "--prefix", "--limit=2"),
  ...everyFormat("get", "k2", "--from-key"),
  ctl("get", "k2", "--from-key", "--limit=3", "-w=json"),
  ctl("get", "nosuch"),
  ctl("get", "nosuch", "-w=json"),
  ctl("get", "nosuch", "-w=fields"),
  ctl("get", "spaced key"),
  ...["KEY", "VERSION", "CREATE", "MODIFY", "VALUE"].flatMap((by) => [
    ctl("get", "k", "--prefix", `--sort-by=${by}`),
    ctl("get", "k", "--prefix", `--sort-by=${by}`, "--order=DESCEND"),
    ctl("get", "k", "--prefix", `--sort-by=${by}`, "--order=ASCEND", "-w=json"),
  ]),
  ctl("get", "k", "--prefix", "--order=DESCEND"),
  ctl("get", "k", "--prefix", "--order=DESCEND", "--limit=2", "-w=json"),
  ...everyFormat("get", "k", "--prefix", "--keys-only"),
  ctl("get", "k", "--prefix", "--print-value-only"),
  ctl("get", "k1", "--print-value-only"),
  ctl("get", "k", "--prefix", "--keys-only", "--limit=2"),
  ...everyFormat("get", "k1", "--consistency=s"),
  ctl("get", "k", "--prefix", "--consistency=l", "-w=json"),
  ...everyFormat("get", "k1", "--rev=2"),
  ctl("get", "k3", "--rev=5"),
  ctl("get", "k", "--prefix", "--rev=8", "-w=json"),
  ctl("get", "k", "--prefix", "--rev=12", "--limit=1", "--sort-by=KEY", "--order=DESCEND"),
  ctl("get", "k", "--prefix", "--rev=14", "--limit=2", "--sort-by=MODIFY", "-w=json"),
  ctl("get", "", "--from-key", "--keys-only"),
  ctl("get", "k", "--prefix", "--hex"),
]);

differential("del: single, range, --prefix, --from-key, --prev-kv", [
  ctl("put", "d/a", "1"),
  ctl("put", "d/b", "2"),
  ctl("put", "d/c", "3"),
  ctl("put", "d/d", "4"),
  ctl("put", "e/a", "5"),
  ctl("put", "e/b", "6"),
  ctl("put", "f/a", "7"),
  ctl("put", "f/b", "8"),
  ctl("del", "nosuch"),
  ctl("del", "nosuch", "-w=json"),
  ctl("del", "d/a"),
  ctl("del", "d/b", "--prev-kv"),
  ctl("del", "d/c", "d/z", "--prev-kv", "-w=json"),
  ctl("del", "e/", "--prefix", "--prev-kv"),
  ctl("get", "d/", "--prefix"),
  ctl("put", "e/c", "9"),
  ctl("del", "e/", "--prefix", "-w=fields"),
  ctl("get", "", "--from-key", "--keys-only"),
  ctl("del", "f/", "--from-key", "--prev-kv", "-w=json"),
  ctl("get", "", "--from-key", "--keys-only"),
]);

/** The three txn phases: lines of each, every phase closed by a blank line. */
function phases(compares: string[], success: string[], failure: string[]): string[] {
  return [compares, success, failure].map((lines) => lines.map((l) => `${l}\n`).join("") + "\n");
}

/** The non-interactive txn format etcdctl reads from stdin, as one text. */
function txnScript(compares: string[], success: string[], failure: string[]): string {
  return phases(compares, success, failure).join("");
}

differential("txn from stdin: compare targets, success and failure branches", [
  ctl("put", "t/a", "alpha"),
  ctl("put", "t/b", "beta"),
  ctl("put", "t/b", "beta2"),
  {
    args: ["txn"],
    stdin: txnScript(['value("t/a") = "alpha"'], ["put t/r yes", "get t/a"], ["put t/r no"]),
  },
  {
    args: ["txn", "-w=json"],
    stdin: txnScript(['value("t/a") = "wrong"'], ["put t/r yes"], ["put t/r no", "get t/r"]),
  },
  {
    args: ["txn"],
    stdin: txnScript(['version("t/b") = "2"', 'value("t/a") != "x"'], ["del t/r"], []),
  },
  { args: ["txn"], stdin: txnScript(['version("t/b") > "5"'], [], ["get t/ --prefix"]) },
  { args: ["txn"], stdin: txnScript(['create("t/a") < "1000"'], ["get t/b"], []) },
  { args: ["txn", "-w=fields"], stdin: txnScript(['mod("t/b") > "1"'], ["put t/c c"], []) },
  { args: ["txn"], stdin: txnScript(['mod("t/b") = "1"'], [], ["del t/ --prefix"]) },
  { args: ["txn"], stdin: txnScript(['create("t/none") = "0"'], ["put t/n n"], ["put t/n o"]) },
  { args: ["txn"], stdin: txnScript(['value("t/n") > "m"'], ["get t/n"], ["get t/none"]) },
  { args: ["txn", "-w=json"], stdin: txnScript([], ["put t/e e", "get t/e"], []) },
  {
    args: ["txn", "-w=json"],
    stdin: txnScript(['version("t/n") = "1"'], ["put t/p1 1", "put t/p2 2"], []),
  },
  { args: ["txn"], stdin: "garbage(\n\n\n" },
  { args: ["txn"], stdin: 'value("t/a") = "alpha"\n\nput t/x 1\n' },
]);

differential("txn -i fed through stdin", [
  {
    args: ["txn", "-i"],
    stdin: phases(['value("t/n") = "n"'], ["put t/i interactive"], ["put t/i failed"]),
  },
  {
    args: ["txn", "-i", "-w=json"],
    stdin: phases(['version("t/i") = "7"'], ["get t/i"], ["get t/i", "del t/i"]),
  },
  {
    args: ["txn", "-i"],
    stdin: phases(['mod("t/i") > "0"', 'create("t/n") != "0"'], ["get t/ --prefix"], []),
  },
  ctl("get", "t/", "--prefix", "-w=json"),
]);

differential("request errors match etcd's messages", [
  ctl("put", "", "v"),
  ctl("get", ""),
  ctl("del", ""),
  ctl("put", "big", "x".repeat(MAX_REQUEST_BYTES + 1000)),
  ctl("put", "nearly", "y".repeat(MAX_REQUEST_BYTES - 200)),
  { args: ["txn"], stdin: txnScript([], ["put dup 1", "put dup 2"], []) },
  { args: ["txn"], stdin: txnScript([], ["put dup 1"], ["put dup 1", "del dup"]) },
  { args: ["txn"], stdin: txnScript([], ["put dup/a 1", "del dup/ --prefix"], []) },
  {
    args: ["txn"],
    stdin: txnScript([], Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => `put ops/${i} v`), []),
  },
  {
    args: ["txn"],
    stdin: txnScript([], Array.from({ length: MAX_TXN_OPS }, (_, i) => `put ops/${i} v`), []),
  },
  ctl("get", "k1", "--rev=100000"),
  ctl("get", "k1", "--rev=100000", "-w=json"),
  ctl("get", "k1", "--rev=-1"),
  ctl("compaction", "100000"),
]);

differential("cluster views: endpoint status, endpoint health, member list", [
  ctl("endpoint", "status", "-w=json"),
  ctl("endpoint", "status"),
  ctl("endpoint", "status", "-w=table"),
  ctl("endpoint", "health"),
  ctl("member", "list", "-w=json"),
  ctl("member", "list"),
  ctl("member", "list", "-w=table"),
]);

// Compaction is global and irreversible, so it runs after everything else.
differential("compaction, --physical, and reads of compacted revisions", [
  ctl("put", "c/k", "c1"),
  ctl("put", "c/k", "c2"),
  ctl("put", "c/k", "c3"),
  ctl("get", "c/k", "-w=json"),
  ctl("compaction", "5"),
  ctl("get", "k1", "--rev=4"),
  ctl("get", "k1", "--rev=5", "-w=json"),
  ctl("get", "k1", "--rev=6"),
  ctl("compaction", "5"),
  ctl("compaction", "3"),
  ctl("compaction", "20", "--physical"),
  ctl("get", "k", "--prefix", "--rev=19"),
  ctl("get", "k", "--prefix", "--rev=20", "-w=json"),
  ctl("get", "k", "--prefix", "--rev=20", "--keys-only"),
  ctl("endpoint", "status", "-w=json"),
  ctl("get", "c/k"),
  ctl("compaction", "100000"),
]);

// Leases run last: lease ids and TTLs are per cluster, and a cairn without leases
// would otherwise shift every later revision.
differential("put with leases: --lease, --ignore-lease, --ignore-value", [
  { args: ["lease", "grant", "600"], capture: { lease: /lease ([0-9a-f]+) granted/ } },
  ctl("put", "lk", "lv", "--lease=${lease}"),
  ...everyFormat("get", "lk"),
  ctl("put", "lk", "lv2", "--ignore-lease"),
  ctl("get", "lk", "-w=json"),
  ctl("put", "lk", "--ignore-value"),
  ctl("get", "lk", "-w=fields"),
  ctl("put", "lk", "--ignore-value", "--prev-kv", "-w=json"),
  ctl("put", "nolease", "v", "--ignore-lease"),
  ctl("put", "novalue", "--ignore-value"),
  ctl("put", "lk", "v3", "--lease=1234abcd"),
  ctl("lease", "revoke", "${lease}"),
  ctl("get", "lk"),
  ctl("get", "lk", "-w=json"),
]);

Deno.test({
  name: "teardown: stop the shared etcd and cairn",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    if (shared) await (await shared.catch(() => undefined))?.destroy();
  },
});
